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
