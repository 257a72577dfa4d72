"""Predictive pacing: how many new lines a campaign dials on this tick.

Pure and clock-injected (no I/O, no wall clock), so ``bench/pacing.py`` runs this very class
in simulated time. The model, every tick:

* for checkpoints t ahead (2 s ... a line's lifetime), each ringing line needs a caller by t
  with a probability from the live estimates and how long it has rung already, and each
  busy caller is free by t with a probability from the talk and wrap-up durations (finished
  and still going on, Kaplan-Meier) and how long they have talked or wrapped up already;
* calls needing a caller by t (A_t) and callers free by t (F_t) are Poisson-binomial. An
  answer finding nobody is lost, so abandons over the horizon are sup_t (A_t - F_t)+, which
  is estimated as max_t E[(A_t - F_t)+] (exact on small floors, a normal approximation on
  large ones, where the sums have many small terms);
* it dials the most new lines for which expected abandons ÷ expected human answers stays
  under the target: the campaign's limit less a safety margin, tightened while history is
  short, steered by the measured 30-day rate, and cut to almost nothing (a hard brake)
  when that rate nears the limit. Expected abandons are scaled by how many more really
  happened than the model expected (its calibration, learnt as the campaign runs).

Every decision keeps its inputs, so the supervisor dashboard can show why.
"""
from __future__ import annotations

import bisect
import collections
import dataclasses
import enum
import functools
import heapq
import math
from collections.abc import Iterable, Sequence


class LineOutcome(str, enum.Enum):
    HUMAN = "human"  # needed a caller (a person answered; or any answer without AMD)
    MACHINE = "machine"  # answered by a machine: never needs a caller
    UNANSWERED = "unanswered"  # busy, no answer, failed


@dataclasses.dataclass(frozen=True)
class PacingLimits:
    abandon_limit: float = 0.03
    max_lines: int = 100
    margin: float = 0.3  # aim at limit × (1 - margin)
    brake_at: float = 0.85  # brake hard once the 30-day rate reaches limit × brake_at
    warm_up_answers: int = 100  # human answers before the campaign's own rate is trusted
    line_lifetime: float = 40.0  # the longest a line rings (ring timeout + answering-machine detection)

    @property
    def aim(self) -> float:
        return self.abandon_limit * (1 - self.margin)


@dataclasses.dataclass(frozen=True)
class BusyCaller:
    """A caller on a call (``talking``) or finishing its results (``wrap-up``)."""

    wrapping_up: bool
    elapsed: float  # seconds in that state


@dataclasses.dataclass(frozen=True)
class FloorSnapshot:
    waiting_callers: int  # free now, waiting for a call
    busy_callers: Sequence[BusyCaller]
    lines: Sequence[float]  # seconds since each in-flight, not yet routed line was dialled
    abandoned_30d: int = 0
    human_30d: int = 0
    abandoned_24h: int = 0
    human_24h: int = 0


@dataclasses.dataclass(frozen=True)
class PacingDecision:
    at: float
    lines_to_dial: int
    reason: str
    inputs: dict[str, object]

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class Samples:
    """The last ``size`` observations of a duration, kept sorted for quantiles and CDFs."""

    def __init__(self, prior: Iterable[float], size: int = 300) -> None:
        self._prior = sorted(prior)
        self._recent: collections.deque[float] = collections.deque(maxlen=size)
        self._sorted: list[float] = []
        self._mean: float | None = None

    def add(self, value: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            del self._sorted[bisect.bisect_left(self._sorted, self._recent[0])]
        self._recent.append(value)
        bisect.insort(self._sorted, value)
        self._mean = None

    @property
    def values(self) -> list[float]:
        # Priors only until real observations arrive: a new campaign starts from them.
        return self._sorted if len(self._sorted) >= 5 else self._prior

    def cdf(self, x: float) -> float:
        values = self.values
        return bisect.bisect_right(values, x) / len(values)

    def mean(self) -> float:
        if self._mean is None:
            values = self.values
            self._mean = sum(values) / len(values)
        return self._mean

    def quantile(self, q: float) -> float:
        values = self.values
        return values[min(len(values) - 1, int(q * len(values)))]


class Rate:
    """A proportion over the trials of the last ``window`` seconds, shrunk towards a prior
    while data is thin. A window of time, not of count, never cuts a dialling cohort."""

    def __init__(self, prior: float, weight: float = 10.0, window: float = 600.0) -> None:
        self._prior, self._weight, self._window = prior, weight, window
        self._recent: collections.deque[tuple[float, bool]] = collections.deque()
        self._hits = 0

    def add(self, at: float, hit: bool) -> None:
        recent = self._recent
        recent.append((at, hit))
        self._hits += hit
        while recent[0][0] < at - self._window:
            self._hits -= recent.popleft()[1]

    @property
    def value(self) -> float:
        return (self._hits + self._prior * self._weight) / (len(self._recent) + self._weight)


class FloorEstimates:
    """Live estimates fed by call outcomes. The priors are pessimistic on purpose (many
    humans, quick answers, long calls), so a campaign with no history starts cautiously.

    A line's outcome is learnt only once every line dialled at the same time has ended
    (``line_lifetime`` after dialling): busy lines end in seconds and unanswered ones at the
    ring timeout, so counting outcomes as they arrive would over-count the quick ones.
    """

    def __init__(self, line_lifetime: float = 40.0) -> None:
        self.line_lifetime = line_lifetime
        self.human = Rate(prior=0.5)  # P(a line needs a caller)
        self.human_ring = Samples([3.0, 6.0, 9.0, 12.0, 16.0, 20.0, 25.0], size=500)  # dial -> needs a caller
        self.other_end = Samples([5.0, 15.0, 20.0, 25.0, 30.0], size=500)  # dial -> ends unrouted
        self.talk = Samples([90.0, 120.0, 150.0, 180.0, 240.0])
        self.wrap_up = Samples([20.0, 30.0, 40.0, 50.0, 60.0])
        self._pending: list[tuple[float, int, LineOutcome, float]] = []
        self._seq = 0

    def observe_line(self, outcome: LineOutcome, dialled_at: float, resolved_at: float) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (dialled_at, self._seq, outcome, resolved_at - dialled_at))

    def settle(self, now: float) -> None:
        """Learn from the lines whose whole dialling cohort has ended, in dialling order."""
        pending = self._pending
        while pending and pending[0][0] <= now - self.line_lifetime:
            dialled_at, _, outcome, seconds = heapq.heappop(pending)
            self.human.add(dialled_at, outcome is LineOutcome.HUMAN)
            (self.human_ring if outcome is LineOutcome.HUMAN else self.other_end).add(seconds)

    def line_profile(self, elapsed: float, checkpoints: Sequence[float]) -> tuple[float, ...]:
        """For a line that has rung ``elapsed`` s: P(it needs a caller within each checkpoint),
        then P(it ever does)."""
        h = self.human.value
        ring, other = self.human_ring, self.other_end
        start = ring.cdf(elapsed)
        alive = h * (1 - start) + (1 - h) * (1 - other.cdf(elapsed))
        if alive <= 1e-9:
            return (0.0,) * (len(checkpoints) + 1)
        by = [min(1.0, h * (ring.cdf(elapsed + t) - start) / alive) for t in checkpoints]
        return (*by, min(1.0, h * (1 - start) / alive))

    def caller_profile(self, caller: BusyCaller, checkpoints: Sequence[float], talk: Survival,
                       wrap_up: Survival) -> tuple[float, ...]:
        """For a busy caller: P(free to take a call within each checkpoint)."""
        if caller.wrapping_up:
            return tuple(wrap_up.residual(caller.elapsed, t) for t in checkpoints)
        wrap = self.wrap_up.mean()
        return tuple(talk.residual(caller.elapsed, t - wrap) for t in checkpoints)

    def as_json(self) -> dict[str, float]:
        return {
            "human_rate": round(self.human.value, 4),
            "ring_median": self.human_ring.quantile(0.5),
            "talk_mean": round(self.talk.mean(), 1),
            "wrap_up_mean": round(self.wrap_up.mean(), 1),
        }


class Survival:
    """How long a talk (or wrap-up) lasts, Kaplan-Meier style: from the finished ones and
    the ones still going on (each lasted at least its elapsed time). Finished ones alone
    would be biased short: when a shift starts, the short calls are the first to end."""

    def __init__(self, samples: Samples, ongoing: Iterable[float]) -> None:
        self._mean = samples.mean()
        observed = sorted([(t, 1) for t in samples.values] + [(t, 0) for t in ongoing],
                          key=lambda item: (item[0], -item[1]))
        at_risk = len(observed)
        survival = 1.0
        self._times: list[float] = []
        self._survival: list[float] = []
        for t, ended in observed:
            if ended:
                survival *= 1 - 1 / at_risk
                self._times.append(t)
                self._survival.append(survival)
            at_risk -= 1
        self._last = self._times[-1] if self._times else 0.0

    def _at(self, t: float) -> float:
        i = bisect.bisect_right(self._times, t)
        return self._survival[i - 1] if i else 1.0

    def residual(self, elapsed: float, within: float) -> float:
        """P(T <= elapsed + within | T > elapsed)."""
        if within <= 0:
            return 0.0
        left = self._at(elapsed)
        if elapsed >= self._last or left <= 1e-9:
            # Longer than anything seen end: assume it lasts about as long again.
            return 1 - math.exp(-within / max(self._mean, elapsed, 1.0))
        return (left - self._at(elapsed + within)) / left


class PacingController:
    """One per campaign. ``decide`` each tick; ``observe_*`` as calls happen.

    Times are seconds on any monotonic clock, the same for ``decide`` and ``observe_line``.
    """

    gain = 3.0  # how hard the target leans against the measured rate's distance from the aim
    forget = 0.9995  # per tick: the model's calibration follows the last half hour or so

    def __init__(self, limits: PacingLimits, *, keep: int = 100) -> None:
        self.limits = limits
        self.estimates = FloorEstimates(limits.line_lifetime)
        self.decisions: collections.deque[PacingDecision] = collections.deque(maxlen=keep)
        # Calibration: abandons that happened against abandons the model expected when it
        # dialled. The model takes the worst checkpoint, not the worst moment, so it sees
        # too few; it starts by assuming twice as many.
        self._expected_abandons = 2.0
        self._abandons = 4.0
        self._abandoned_seen: int | None = None
        lifetime = limits.line_lifetime
        self.checkpoints = tuple(t for t in (2, 5, 8, 12, 17, 24) if t < lifetime) + (lifetime,)

    def observe_line(self, outcome: LineOutcome, dialled_at: float, resolved_at: float) -> None:
        """A line needed a caller (``human``) or ended without one, ``resolved_at``."""
        self.estimates.observe_line(outcome, dialled_at, resolved_at)

    def observe_talk(self, seconds: float) -> None:
        self.estimates.talk.add(seconds)

    def observe_wrap_up(self, seconds: float) -> None:
        self.estimates.wrap_up.add(seconds)

    def target(self, snapshot: FloorSnapshot) -> tuple[float, str]:
        """The abandonment ratio this tick may spend, and why."""
        limits = self.limits
        aim = limits.aim
        human = snapshot.human_30d
        rate = snapshot.abandoned_30d / human if human else 0.0
        if human and rate >= limits.abandon_limit * limits.brake_at:
            return aim * 0.05, f"brake: 30-day abandonment {rate:.1%} near the {limits.abandon_limit:.1%} limit"
        # Steer the measured rate towards the aim: the model sees fewer abandons than happen
        # (it takes the worst checkpoint, not the worst moment), and a strong gain on the
        # measured rate makes up for that. Spending more than the aim (to catch up after a
        # quiet spell) is allowed only as history builds up.
        target = max(aim * 0.1, aim + self.gain * (aim - rate))
        if human < limits.warm_up_answers:
            # While history is thin a few abandons would dominate the rate: start low.
            return min(target, aim * (0.5 + 0.5 * human / limits.warm_up_answers)), "cautious start"
        return min(target, aim * (1 + 0.5 * min(1.0, human / (10 * limits.warm_up_answers)))), f"aim {aim:.2%}"

    def decide(self, snapshot: FloorSnapshot, now: float) -> PacingDecision:
        estimates = self.estimates
        estimates.settle(now)
        checkpoints = self.checkpoints
        in_flight = len(snapshot.lines)
        callers = snapshot.waiting_callers + len(snapshot.busy_callers)
        room = self.limits.max_lines - in_flight
        target, why = self.target(snapshot)
        # Half-second buckets: a tick costs about the same with 5 or 5,000 lines in flight.
        line = functools.lru_cache(maxsize=None)(lambda e: estimates.line_profile(e / 2, checkpoints))
        talk = Survival(estimates.talk, (c.elapsed for c in snapshot.busy_callers if not c.wrapping_up))
        wrap_up = Survival(estimates.wrap_up, (c.elapsed for c in snapshot.busy_callers if c.wrapping_up))
        caller = functools.lru_cache(maxsize=None)(
            lambda wrapping_up, e: estimates.caller_profile(BusyCaller(wrapping_up, e / 2), checkpoints,
                                                            talk, wrap_up)
        )
        lines = [line(round(e * 2)) for e in snapshot.lines]
        busy = [caller(c.wrapping_up, round(c.elapsed * 2)) for c in snapshot.busy_callers]
        horizon = Horizon(len(checkpoints), lines, snapshot.waiting_callers, busy)
        inputs: dict[str, object] = {
            "waiting_callers": snapshot.waiting_callers, "busy_callers": len(snapshot.busy_callers),
            "lines_in_flight": in_flight, "max_lines": self.limits.max_lines,
            "abandonment_30d": _ratio(snapshot.abandoned_30d, snapshot.human_30d),
            "abandonment_24h": _ratio(snapshot.abandoned_24h, snapshot.human_24h),
            "target": round(target, 4), **estimates.as_json(),
            "expected_answers": round(horizon.humans, 2),
            "expected_free_callers": round(horizon.free[-1], 2),
        }
        if callers == 0:
            return self._keep(now, 0, "no callers logged in", inputs)
        if room <= 0:
            return self._keep(now, 0, "line cap reached", inputs)
        correction = self._calibrate(snapshot)
        new = line(0)
        n, ratio = horizon.most_lines(new, target / correction, room)
        # A waiting caller with nothing ringing for it is always worth one line.
        n = max(n, min(room, snapshot.waiting_callers - in_flight))
        self._expected_abandons += ratio * n * new[-1]
        inputs["model_correction"] = round(correction, 2)
        inputs["expected_abandon_ratio"] = round(ratio * correction, 4)
        reason = why if n < room else f"{why}; line cap {self.limits.max_lines}"
        return self._keep(now, n, reason, inputs)

    def _calibrate(self, snapshot: FloorSnapshot) -> float:
        """How many times more abandons happen than the model expects (1-5)."""
        if self._abandoned_seen is not None:
            self._abandons += max(0, snapshot.abandoned_30d - self._abandoned_seen)
        self._abandoned_seen = snapshot.abandoned_30d
        self._abandons *= self.forget
        self._expected_abandons *= self.forget
        return min(5.0, max(1.0, self._abandons / max(self._expected_abandons, 1e-9)))

    def _keep(self, now: float, n: int, reason: str, inputs: dict[str, object]) -> PacingDecision:
        decision = PacingDecision(at=now, lines_to_dial=max(0, n), reason=reason, inputs=inputs)
        self.decisions.append(decision)
        return decision


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


class Horizon:
    """Expected abandons and human answers over the horizon for n more lines.

    ``lines``: per ringing line, P(needs a caller by each checkpoint) and P(ever);
    ``busy``: per busy caller, P(free by each checkpoint); plus the callers waiting now.
    Poisson-binomial counts are approximated by the binomial of the same mean and variance
    (close for sums of many probabilities), or on large floors by the normal.
    """

    EXACT_UP_TO = 60.0  # callers + expected answers: beyond, the normal approximation

    def __init__(
        self, points: int, lines: Sequence[Sequence[float]], waiting: int, busy: Sequence[Sequence[float]],
    ) -> None:
        self.points = points
        line_groups = collections.Counter(lines)  # lines of the same age share one profile
        caller_groups = collections.Counter(busy)
        self.humans = sum(p[-1] * m for p, m in line_groups.items())
        self.answers = [sum(p[k] * m for p, m in line_groups.items()) for k in range(points)]
        self.answers_var = [sum(p[k] * (1 - p[k]) * m for p, m in line_groups.items()) for k in range(points)]
        free = [sum(f[k] * m for f, m in caller_groups.items()) for k in range(points)]
        self.free_var = [sum(f[k] * (1 - f[k]) * m for f, m in caller_groups.items()) for k in range(points)]
        self.free = [waiting + f for f in free]
        self.exact = waiting + len(busy) + self.humans <= self.EXACT_UP_TO
        if self.exact:
            self._shortfall = [Shortfall([0.0] * waiting + _binomial_like(free[k], self.free_var[k]))
                               for k in range(points)]

    def ratio(self, new: Sequence[float], n: int) -> float:
        """Expected abandons ÷ expected human answers with ``n`` more lines of profile ``new``."""
        humans = self.humans + n * new[-1]
        if humans <= 1e-9:
            return 0.0
        worst = 0.0
        for k in range(self.points):
            p = new[k]
            mean_a = self.answers[k] + n * p
            var_a = self.answers_var[k] + n * p * (1 - p)
            if self.exact:
                abandons = self._shortfall[k].expected(_binomial_like(mean_a, var_a))
            else:
                mu = mean_a - self.free[k]
                sigma = math.sqrt(var_a + self.free_var[k]) or 1e-9
                abandons = sigma * _phi(mu / sigma) + mu * _big_phi(mu / sigma)
            worst = max(worst, abandons)
        return worst / humans

    def most_lines(self, new: Sequence[float], target: float, room: int) -> tuple[int, float]:
        """The most new lines (≤ room) whose expected abandon ratio stays ≤ target, and that ratio."""
        if room <= 0 or new[-1] <= 0 or self.ratio(new, 1) > target:
            return 0, self.ratio(new, 0)
        low, high = 1, 2  # the ratio grows with n: gallop, then bisect for the last n within target
        while high < room and self.ratio(new, high) <= target:
            low, high = high, high * 2
        high = min(high, room)
        if self.ratio(new, high) <= target:
            return high, self.ratio(new, high)
        while high - low > 1:
            mid = (low + high) // 2
            if self.ratio(new, mid) <= target:
                low = mid
            else:
                high = mid
        return low, self.ratio(new, low)


class Shortfall:
    """E[max(0, a - F)] for a known distribution of F, and E over a distribution of a."""

    def __init__(self, pmf_f: list[float]) -> None:
        self._pmf_f = pmf_f
        self._g = [0.0]  # g[a] = E[max(0, a - F)], built with g[a+1] = g[a] + P(F <= a)
        self._below = 0.0

    def expected(self, pmf_a: list[float]) -> float:
        g, pmf_f = self._g, self._pmf_f
        while len(g) < len(pmf_a):
            a = len(g) - 1
            self._below += pmf_f[a] if a < len(pmf_f) else 0.0
            g.append(g[a] + self._below)
        return sum(q * g[a] for a, q in enumerate(pmf_a))


def _binomial_like(mean: float, var: float) -> list[float]:
    """The pmf of a count with this mean and variance (a sum of independent Bernoullis):
    the binomial that matches both, or the Poisson when the variance is the mean."""
    if mean <= 1e-12:
        return [1.0]
    top = int(mean + 10 * math.sqrt(var) + 10)
    p = 1 - var / mean
    if p < 1e-6:  # many small probabilities: Poisson
        pmf = [math.exp(-mean)]
        for k in range(top):
            pmf.append(pmf[-1] * mean / (k + 1))
        return pmf
    n = max(1, round(mean / p))
    p = min(1.0, mean / n)
    if p >= 1.0:
        return [0.0] * n + [1.0]
    odds = p / (1 - p)
    pmf = [(1 - p) ** n]
    for k in range(min(n, top)):
        pmf.append(pmf[-1] * (n - k) / (k + 1) * odds)
    return pmf


def _phi(z: float) -> float:
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _big_phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))
