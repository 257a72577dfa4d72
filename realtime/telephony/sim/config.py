"""Settings of the PBX simulator: credentials, far-end behaviour, time compression."""
from __future__ import annotations

from dataclasses import dataclass, field

OUTCOME_MODES = ("deterministic", "mix")


@dataclass
class OutcomeMix:
    """Shares of far-end outcomes in ``mix`` mode (normalised, need not sum to 1)
    and the ranges, in simulated seconds, of the random durations."""

    answer: float = 0.55
    machine: float = 0.15
    busy: float = 0.1
    no_answer: float = 0.15
    failed: float = 0.05
    ring_seconds: tuple[float, float] = (2.0, 8.0)
    talk_seconds: tuple[float, float] = (20.0, 120.0)


def parse_mix(text: str) -> OutcomeMix:
    """``answer=0.6,machine=0.2,busy=0.1,no_answer=0.05,failed=0.05`` (omitted keys keep
    their defaults)."""
    shares = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        if key not in ("answer", "machine", "busy", "no_answer", "failed"):
            raise ValueError(f"unknown outcome share {key!r} in mix {text!r}")
        shares[key] = float(value)
        if shares[key] < 0:
            raise ValueError(f"outcome share {key!r} must not be negative")
    return OutcomeMix(**shares)


@dataclass
class SimConfig:
    user: str = "ari"
    password: str = "ari"
    outcomes: str = "deterministic"
    speed: float = 1.0
    amd_context: str = "impactdialing-amd"
    control: bool = False
    seed: int | None = None
    mix: OutcomeMix = field(default_factory=OutcomeMix)

    def __post_init__(self) -> None:
        if self.outcomes not in OUTCOME_MODES:
            raise ValueError(f"outcomes must be one of {', '.join(OUTCOME_MODES)}, not {self.outcomes!r}")
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, not {self.speed!r}")
