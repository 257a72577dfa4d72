"""Pacing benchmark: the product's predictive pacing controller against three baselines on the
same simulated calling floors, in one run, with fixed seeds.

A discrete-event simulation of a floor: callers (longest-waiting first), lines that are busy,
unanswered, answered by a machine (AMD drops it) or by a person (who needs a caller at once,
or is abandoned), talk and wrap-up times. Every policy decides once per simulated second.

Policies:
  product   realtime.dialer.pacing.PacingController, the very class the dialer runs
  power     one line per waiting caller
  original  Impact Dialing's rule: lines = factor × waiting callers − ringing lines; every 60 s
            the factor is picked by simulating (dials/answer) × k/6, k = 1..6, for 4 minutes on
            the last 100 calls and keeping the best utilisation under the limit; × 0.75 while
            the campaign is over its limit
  vicidial  an adaptive dial level (× active callers − live calls), moved every 15 s by the
            ready-caller minus waiting-call differential, clamped 1.0–3.0, halved when over
            the drop target

Prints utilisation (talk ÷ logged-in time), abandonment (abandoned ÷ human-answered), calls per
caller-hour and the product's utilisation ratio to each baseline; the last line is the summary.

    python bench/pacing.py [--hours 1.0] [--jobs 2]
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import heapq
import math
import multiprocessing
import random
import sys
import time
from collections.abc import Callable

from realtime.dialer.pacing import BusyCaller, FloorSnapshot, LineOutcome, PacingController, PacingLimits

LIMIT = 0.03
RING_TIMEOUT = 20.0
AMD_SECONDS = 2.5  # answer -> machine detected (the human verdict comes after ~1 s)


@dataclasses.dataclass(frozen=True)
class FloorSpec:
    callers: int
    answer_rate: float  # answered ÷ dialled
    talk: str  # "short" | "long"
    seed: int
    machine_share: float = 0.25  # of answers
    busy_rate: float = 0.10  # of dials

    @property
    def name(self) -> str:
        return f"{self.callers:>3} callers, answer {self.answer_rate:.0%}, {self.talk} talk"


class Sampler:
    """Draws what happens on a line and how long a caller talks and wraps up."""

    def __init__(self, spec: FloorSpec) -> None:
        # One stream per kind of draw: every policy meets the same k-th line and the same
        # k-th conversation, so differences come from the policies, not from luck.
        self.spec = spec
        self.rng, self.talks, self.wraps = (random.Random(spec.seed * 10 + i) for i in range(3))
        self.talk_mean = 45.0 if spec.talk == "short" else 180.0
        self.wrap_mean = 10.0 if spec.talk == "short" else 25.0

    def line(self) -> tuple[LineOutcome, float]:
        """(outcome, seconds from dial until it needs a caller or ends)."""
        rng, spec = self.rng, self.spec
        u = rng.random()
        if u < spec.answer_rate:
            ring = min(RING_TIMEOUT - 1, 3.0 + rng.gammavariate(2.0, 3.0))
            if rng.random() < spec.machine_share:
                return LineOutcome.MACHINE, ring + AMD_SECONDS
            return LineOutcome.HUMAN, ring + 1.0
        if u < spec.answer_rate + spec.busy_rate:
            return LineOutcome.UNANSWERED, rng.uniform(2.0, 5.0)
        return LineOutcome.UNANSWERED, RING_TIMEOUT

    def talk(self) -> float:
        return self.talk_mean * self.talks.lognormvariate(-0.125, 0.5)  # mean talk_mean

    def wrap_up(self) -> float:
        return 3.0 + self.wraps.expovariate(1 / (self.wrap_mean - 3.0))


class Replay(Sampler):
    """Resamples recorded calls: what the original rule's own simulation runs on."""

    def __init__(self, lines: list, talks: list, wraps: list, rng: random.Random) -> None:
        self.rng, self._lines, self._talks, self._wraps = rng, lines, talks, wraps

    def line(self) -> tuple[LineOutcome, float]:
        return self.rng.choice(self._lines)

    def talk(self) -> float:
        return self.rng.choice(self._talks)

    def wrap_up(self) -> float:
        return self.rng.choice(self._wraps)


@dataclasses.dataclass
class Result:
    talk_seconds: float = 0.0
    human: int = 0
    abandoned: int = 0
    connected: int = 0
    dials: int = 0

    def utilisation(self, callers: int, seconds: float) -> float:
        return self.talk_seconds / (callers * seconds)

    @property
    def abandonment(self) -> float:
        return self.abandoned / self.human if self.human else 0.0


WAITING, TALKING, WRAP_UP = 0, 1, 2


class Floor:
    """The simulated floor; ``policy(floor, now) -> lines to dial`` runs every second."""

    def __init__(self, callers: int, sampler: Sampler, observer=None) -> None:
        self.sampler = sampler
        self.state = [WAITING] * callers
        self.since = [0.0] * callers
        self.waiting: collections.deque[int] = collections.deque(range(callers))
        self.lines: dict[int, float] = {}  # in flight, not yet routed: id -> dial time
        self.live_calls = 0
        self.events: list = []
        self.seq = 0
        self.result = Result()
        self.observer = observer  # the controller learning from outcomes, if any
        self.recent_lines: collections.deque = collections.deque(maxlen=100)
        self.recent_talks: collections.deque = collections.deque(maxlen=100)
        self.recent_wraps: collections.deque = collections.deque(maxlen=100)
        self.ready_seconds = 0.0  # Σ waiting callers per tick (for the VICIdial differential)
        self.dropped_since = 0

    def _at(self, t: float, kind: int, who: int, value: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, who, value))

    def dial(self, now: float, n: int) -> None:
        for _ in range(n):
            self.seq += 1
            line = self.seq
            outcome, seconds = self.sampler.line()
            self.lines[line] = now
            self.result.dials += 1
            self._at(now + seconds, 0, line, outcome)

    def run(self, seconds: float, policy: Callable[[Floor, float], int]) -> Result:
        now = 0.0
        tick = 0.0
        while tick < seconds:
            while self.events and self.events[0][0] <= tick:
                now, _, kind, who, value = heapq.heappop(self.events)
                self._handle(now, kind, who, value)
            self.ready_seconds += len(self.waiting)
            self.dial(tick, max(0, policy(self, tick)))
            tick += 1.0
        # Count the talk still going on at the end.
        for caller, state in enumerate(self.state):
            if state == TALKING:
                self.result.talk_seconds += seconds - self.since[caller]
        return self.result

    def _handle(self, now: float, kind: int, who: int, value) -> None:
        if kind == 0:  # a line needs a caller, or ends
            dialled = self.lines.pop(who)
            self.recent_lines.append((value, now - dialled))
            if self.observer:
                self.observer.observe_line(value, dialled, now)
            if value is not LineOutcome.HUMAN:
                return
            self.result.human += 1
            if not self.waiting:
                self.result.abandoned += 1
                self.dropped_since += 1
                return
            caller = self.waiting.popleft()
            self.result.connected += 1
            self.live_calls += 1
            self.state[caller], self.since[caller] = TALKING, now
            talk = self.sampler.talk()
            self._at(now + talk, 1, caller, talk)
        elif kind == 1:  # talk ends
            self.result.talk_seconds += value
            self.live_calls -= 1
            self.recent_talks.append(value)
            if self.observer:
                self.observer.observe_talk(value)
            self.state[who], self.since[who] = WRAP_UP, now
            wrap = self.sampler.wrap_up()
            self._at(now + wrap, 2, who, wrap)
        else:  # wrap-up ends
            self.recent_wraps.append(value)
            if self.observer:
                self.observer.observe_wrap_up(value)
            self.state[who], self.since[who] = WAITING, now
            self.waiting.append(who)


# -- policies ----------------------------------------------------------------------------
def product(floor: Floor, callers: int):
    controller = PacingController(PacingLimits(abandon_limit=LIMIT, max_lines=callers * 20))
    floor.observer = controller

    def decide(floor: Floor, now: float) -> int:
        busy = [
            BusyCaller(wrapping_up=state == WRAP_UP, elapsed=now - floor.since[c])
            for c, state in enumerate(floor.state) if state != WAITING
        ]
        result = floor.result
        snapshot = FloorSnapshot(
            waiting_callers=len(floor.waiting), busy_callers=busy,
            lines=[now - t for t in floor.lines.values()],
            abandoned_30d=result.abandoned, human_30d=result.human,
            abandoned_24h=result.abandoned, human_24h=result.human,
        )
        return controller.decide(snapshot, now).lines_to_dial

    return decide


def power(floor: Floor, callers: int):
    return lambda floor, now: len(floor.waiting) - len(floor.lines)


def original(floor: Floor, callers: int, seed: int):
    rng = random.Random(seed ^ 0x5EED)
    factor = [1.0]

    def fixed(f: float):
        return lambda fl, now: int(f * len(fl.waiting) - len(fl.lines))

    def choose(floor: Floor) -> float:
        lines = list(floor.recent_lines)
        if callers < 5 or len(lines) < 50 or not floor.recent_talks or not floor.recent_wraps:
            return 1.0
        answered = sum(1 for outcome, _ in lines if outcome is not LineOutcome.UNANSWERED)
        dials_per_answer = len(lines) / max(answered, 1)
        best, best_utilisation = 1.0, 0.0
        for k in range(1, 7):
            f = max(1.0, dials_per_answer * k / 6)
            sim = Floor(callers, Replay(lines, list(floor.recent_talks), list(floor.recent_wraps), rng))
            r = sim.run(240, fixed(f))
            if r.abandonment < LIMIT and r.utilisation(callers, 240) > best_utilisation:
                best, best_utilisation = f, r.utilisation(callers, 240)
        return best

    def decide(floor: Floor, now: float) -> int:
        if now % 60 == 0:
            factor[0] = choose(floor)
        f = factor[0] * (0.75 if floor.result.abandonment > LIMIT else 1.0)
        return int(f * len(floor.waiting) - len(floor.lines))

    return decide


def vicidial(floor: Floor, callers: int):
    level = [1.0]
    last = {"ready": 0.0, "dropped": 0, "at": 0.0}

    def decide(floor: Floor, now: float) -> int:
        if now - last["at"] >= 15:
            span = now - last["at"]
            ready = (floor.ready_seconds - last["ready"]) / span  # mean ready callers
            waiting_calls = (floor.dropped_since - last["dropped"]) / span * 15  # calls that found nobody
            active = max(1, callers)
            level[0] += (ready - waiting_calls) / active
            if floor.result.abandonment > LIMIT:
                level[0] /= 2
            level[0] = min(3.0, max(1.0, level[0]))
            last.update(ready=floor.ready_seconds, dropped=floor.dropped_since, at=now)
        active = callers - sum(1 for s in floor.state if s == WRAP_UP)
        return math.ceil(level[0] * active) - len(floor.lines) - floor.live_calls

    return decide


POLICIES = ("product", "power", "original", "vicidial")


def run_one(args: tuple[FloorSpec, str, float]) -> tuple[FloorSpec, str, Result, float]:
    spec, name, hours = args
    floor = Floor(spec.callers, Sampler(spec))
    policy = {
        "product": lambda: product(floor, spec.callers),
        "power": lambda: power(floor, spec.callers),
        "original": lambda: original(floor, spec.callers, spec.seed),
        "vicidial": lambda: vicidial(floor, spec.callers),
    }[name]()
    started = time.perf_counter()
    result = floor.run(hours * 3600, policy)
    return spec, name, result, time.perf_counter() - started


def floors() -> list[FloorSpec]:
    specs = []
    seed = 1000
    for callers in (10, 50, 200):
        for answer in (0.10, 0.25, 0.50):
            for talk in ("short", "long"):
                seed += 1
                specs.append(FloorSpec(callers, answer, talk, seed))
    return specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=0.5,
                        help="simulated hours on a 200-caller floor; smaller floors run longer for as many calls")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--callers", type=int, nargs="*", help="only floors with these caller counts")
    args = parser.parse_args(argv)
    specs = [s for s in floors() if not args.callers or s.callers in args.callers]
    hours = {spec: args.hours * min(4.0, 200 / spec.callers) for spec in specs}
    work = [(spec, name, hours[spec]) for spec in specs for name in POLICIES]
    work.sort(key=lambda w: -w[0].callers)  # the big floors first, so the pool ends together
    with multiprocessing.Pool(args.jobs) as pool:
        done = pool.map(run_one, work, chunksize=1)
    results = {(spec, name): result for spec, name, result, _ in done}

    header = f"{'floor':<36} {'policy':<9} {'util':>6} {'aband':>7} {'calls/h':>8} {'product/x':>9}"
    print(header)
    print("-" * len(header))
    worst = 0.0
    ratios: dict[str, list[float]] = {name: [] for name in POLICIES[1:]}
    for spec in specs:
        seconds = hours[spec] * 3600
        mine = results[spec, "product"]
        mine_util = mine.utilisation(spec.callers, seconds)
        worst = max(worst, mine.abandonment)
        for name in POLICIES:
            r = results[spec, name]
            util = r.utilisation(spec.callers, seconds)
            ratio = mine_util / util if util else float("inf")
            legal = r.abandonment <= LIMIT
            if name != "product" and legal:
                ratios[name].append(ratio)
            shown = "" if name == "product" else f"{ratio:.2f}" + ("" if legal else " (illegal)")
            print(f"{spec.name:<36} {name:<9} {util:>6.1%} {r.abandonment:>7.2%} "
                  f"{r.connected / (spec.callers * hours[spec]):>8.1f} {shown:>9}")
    print(
        f"summary: worst_abandonment={worst:.3f} "
        + " ".join(f"min_ratio_{name}={min(ratios[name], default=float('nan')):.2f}" for name in POLICIES[1:])
    )
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
