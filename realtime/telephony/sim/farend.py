"""Who picks up at the far end of a dialed number, and how.

A phone-number endpoint (``PJSIP/15555550170@trunk``, ``Local/+15555550170@ctx``) gets an
outcome from the deterministic table (by the number's last two digits) or from a random
mix; anything else (``PJSIP/agent101``) is one of our own people's phones, which
answers at once and stays until we hang up. The control API can force outcomes.
"""
from __future__ import annotations

import logging
import random
import re
from collections import deque
from dataclasses import dataclass

from .config import OutcomeMix, SimConfig

logger = logging.getLogger(__name__)

# Outcome kinds; the control API accepts these names.
AGENT = "agent"            # answers at once, stays until hung up
HUMAN = "human"            # rings, answers; hangs up `talk` s after being bridged (None: stays)
MACHINE = "machine"        # rings, an answering machine answers (AMD says MACHINE)
BUSY = "busy"
NO_ANSWER = "no-answer"    # rings until the originate timeout
CONGESTION = "congestion"
REFUSED = "refused"        # originate refused like an unknown endpoint (500 Allocation failed)
KINDS = (AGENT, HUMAN, MACHINE, BUSY, NO_ANSWER, CONGESTION, REFUSED)

RING_SECONDS = 2.0
REJECT_SECONDS = 0.5
TALK_SECONDS = 5.0

_NUMBER = re.compile(r"^\+?(\d+)$")


@dataclass(frozen=True)
class FarEnd:
    kind: str
    ring: float = 0.0            # simulated seconds before answering / rejecting
    talk: float | None = None    # seconds in a bridge with someone before hanging up

    @property
    def answers(self) -> bool:
        return self.kind in (AGENT, HUMAN, MACHINE)


def phone_number(resource: str) -> str | None:
    """Digits of the dialed resource (``15555550170@trunk`` -> ``15555550170``), if a number."""
    match = _NUMBER.match(resource.split("@", 1)[0])
    return match.group(1) if match else None


def deterministic(number: str) -> FarEnd:
    last = int(number[-2:])
    if last < 40:
        return FarEnd(HUMAN, RING_SECONDS)
    if last < 60:
        return FarEnd(HUMAN, RING_SECONDS, TALK_SECONDS)
    if last < 70:
        return FarEnd(MACHINE, RING_SECONDS)
    if last < 80:
        return FarEnd(BUSY, REJECT_SECONDS)
    if last < 90:
        return FarEnd(NO_ANSWER)
    if last < 95:
        return FarEnd(CONGESTION, REJECT_SECONDS)
    return FarEnd(REFUSED)


def from_mix(mix: OutcomeMix, rng: random.Random) -> FarEnd:
    kinds = (HUMAN, MACHINE, BUSY, NO_ANSWER, CONGESTION)
    weights = (mix.answer, mix.machine, mix.busy, mix.no_answer, mix.failed)
    kind = rng.choices(kinds, weights)[0]
    ring = rng.uniform(*mix.ring_seconds)
    if kind == HUMAN:
        return FarEnd(HUMAN, ring, rng.uniform(*mix.talk_seconds))
    if kind in (BUSY, CONGESTION):
        return FarEnd(kind, REJECT_SECONDS)
    return FarEnd(kind, ring)


class Outcomes:
    """Decides the far end of each dial; forced outcomes win over the configured mode."""

    def __init__(self, config: SimConfig) -> None:
        self._config = config
        self._rng = random.Random(config.seed)
        self._next: deque[FarEnd] = deque()
        self._by_number: dict[str, FarEnd] = {}

    def force(self, far_end: FarEnd, number: str | None = None) -> None:
        """Force the next phone-number dial, or every dial to `number`."""
        if number is None:
            self._next.append(far_end)
        else:
            self._by_number[number.lstrip("+")] = far_end

    def clear(self) -> None:
        self._next.clear()
        self._by_number.clear()

    def decide(self, resource: str) -> FarEnd:
        number = phone_number(resource)
        if number is None:
            return FarEnd(AGENT)
        if number in self._by_number:
            return self._by_number[number]
        if self._next:
            return self._next.popleft()
        if self._config.outcomes == "mix":
            return from_mix(self._config.mix, self._rng)
        return deterministic(number.zfill(2))
