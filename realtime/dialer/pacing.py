"""Predictive pacing: how many new lines a campaign dials on this tick.

Pure and clock-injected (no I/O, no wall clock), so ``bench/pacing.py`` runs this very class
in simulated time. Every decision:

* **The horizon.** Over the next ``line_lifetime`` seconds, cut into short bins, each ringing
  line needs a caller in each bin with a probability from the live estimates and how long it
  has rung already; each busy caller frees in each bin with a probability from the talk and
  wrap-up durations (Kaplan-Meier, finished and still going on), the whole wrap-up
  distribution, not its mean: skewed wrap-ups free callers later than their mean says.
* **Abandons are a queue, not a checkpoint.** An answer finding no free caller is lost at
  once and a caller freed later cannot take it back, so the abandons over the horizon are the
  reflected walk of (answers − callers freed) - the sum over bins of the shortfall against the
  free callers carried from the bin before (Lindley's recursion). The walk is carried exactly
  (over free callers and answers still to come, so a line never answers twice) when few
  answers and frees are ahead - small floors, long talks - where it is cheap and where the
  normal approximation sees two to four times the abandons that happen; as a clipped
  normal when many are, where the normal is close. Taking the worst checkpoint
  of E[(answers − freed)+] instead, as the first model did, misses most abandons on small
  floors, where the walk is noisiest.
* **Expected abandons are charged as marginals.** The new lines are charged the abandons they
  add to the horizon (with them minus without them), not the floor's average: a line dialled
  later that answers first takes the caller an older line was counted on, and the charge of
  the later decision is where that shows. Summed over decisions, the charges are what the
  model expects the campaign to abandon, so calibration (abandons that happened ÷ abandons
  charged, with elapsed-time memory) stays near 1 when the model is right.
* **The aim follows a confidence bound.** It dials the most lines whose charge ÷ their
  expected human answers stays under a target: the limit less a margin that is the
  one-sided confidence bound of the campaign's 30-day rate around the aim, given how many
  answers that rate is over and how noisy the campaign's abandons have been - wide while
  history is short or noisy, narrow when it is long and steady. The measured 30-day rate
  steers the target around the aim, and a brake cuts dialling to almost nothing when the
  rate nears the limit.
* **Line caps.** The campaign's own cap, the trunk's capacity the operator set, and a cap
  derived from the floor (its callers, and twice the lines that would give each of them a
  call at once at the estimated answer rate: a guard against a runaway estimate, which a
  floor never needs to pass); the decision says which one binds.

Every decision keeps its inputs, its reason and the cap that binds, so the supervisor
dashboard can show why.
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
    max_lines: int | None = None  # the campaign's cap on lines at once (ringing and in conversation)
    trunk_lines: int | None = None  # the trunk's capacity, when the operator sets it
    line_lifetime: float = 40.0  # the longest a line rings (ring timeout + answering-machine detection)
    confidence: float = 2.33  # z of the one-sided bound on the 30-day rate (99 %)
    min_margin: float = 0.05  # of the limit, always kept back: the model drifts between its updates

    @property
    def hard_cap(self) -> int | None:
        """The fewest lines the campaign or the trunk allows (None: neither caps)."""
        caps = [cap for cap in (self.max_lines, self.trunk_lines) if cap is not None]
        return min(caps) if caps else None


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
    line_cap: int | None = None  # the lowest cap on lines at once this tick
    cap_binding: str | None = None  # "campaign", "trunk" or "floor" when that cap cut the lines dialled

    def as_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class Samples:
    """The last ``size`` observations of a duration, kept sorted for quantiles and CDFs."""

    def __init__(self, prior: Iterable[float], size: int = 300) -> None:
        self._prior = sorted(prior)
        self._recent: collections.deque[float] = collections.deque(maxlen=size)
        self._sorted: list[float] = []
        self._mean: float | None = None
        self.version = 0  # bumps on every change: cached views of the samples check it

    def add(self, value: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            del self._sorted[bisect.bisect_left(self._sorted, self._recent[0])]
        self._recent.append(value)
        bisect.insort(self._sorted, value)
        self._mean = None
        self.version += 1

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

    def line_profile(self, elapsed: float, edges: Sequence[float]) -> tuple[float, ...]:
        """For a line that has rung ``elapsed`` s: P(it has needed a caller by each edge),
        then P(it ever does)."""
        h = self.human.value
        ring, other = self.human_ring, self.other_end
        start = ring.cdf(elapsed)
        alive = h * (1 - start) + (1 - h) * (1 - other.cdf(elapsed))
        if alive <= 1e-9:
            return (0.0,) * (len(edges) + 1)
        by = [min(1.0, h * (ring.cdf(elapsed + t) - start) / alive) for t in edges]
        return (*by, min(1.0, h * (1 - start) / alive))

    def lines_per_answer(self) -> float:
        """Lines dialled per caller needed, at the estimated answer rate (at most 100)."""
        return 1 / max(self.human.value, 0.01)

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

    def ends_by(self, elapsed: float, edges: Sequence[float]) -> tuple[float, ...]:
        """P(it has ended by each edge | it has lasted ``elapsed``)."""
        left = self._at(elapsed)
        if elapsed >= self._last or left <= 1e-9:
            scale = max(self._mean, elapsed, 1.0)
            return tuple(1 - math.exp(-t / scale) for t in edges)
        at = self._at
        return tuple((left - at(elapsed + t)) / left for t in edges)


def horizon_edges(lifetime: float) -> tuple[float, ...]:
    """Bin edges over a line's lifetime: 1 s for the first seconds, where the lines already
    ringing answer and the callers about to free free, then 2 s to 20 s and 4 s after. Finer
    bins order answers and frees better; they cost time."""
    edges = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
    t = 24.0
    while t < lifetime:
        edges.append(t)
        t += 4.0
    return tuple(e for e in edges if e < lifetime) + (float(lifetime),)


class PacingController:
    """One per campaign. ``decide`` each tick (or whenever a caller frees or a line ends);
    ``observe_*`` as calls happen.

    Times are seconds on any monotonic clock, the same for ``decide`` and ``observe_line``.
    Everything the controller remembers fades with elapsed time, never with the number of
    decisions: the dialer decides more often on a busy floor.
    """

    gain = 3.0  # how hard the target leans against the measured rate's distance from the aim
    memory = 1800.0  # seconds: calibration and noise follow the last half hour or so
    noise_slice = 300.0  # seconds of abandons compared with the model's charge, for the noise
    floor_headroom = 2.0  # the floor's line cap: this many times the lines its callers need at once
    trust_answers = 200  # answers at which the measured rate steers the target half as hard as it can

    def __init__(self, limits: PacingLimits, *, keep: int = 100) -> None:
        self.limits = limits
        self.estimates = FloorEstimates(limits.line_lifetime)
        self.decisions: collections.deque[PacingDecision] = collections.deque(maxlen=keep)
        # Calibration: abandons that happened against abandons charged when dialling, both
        # fading with elapsed time; the prior is a few abandons' worth of "the model is right".
        self._charged = 3.0
        self._abandons = 3.0
        self.charged_total = 0.0  # every charge, unfaded: for reports and the benchmark
        self._abandoned_seen: int | None = None
        self._last_at: float | None = None
        # Noise: how far abandons stray from their charge, slice by slice (Pearson's
        # dispersion; 1 when abandons come as a Poisson count, more when they bunch). Until
        # measured, assume they bunch: one empty moment abandons several answers together.
        self._slice_started: float | None = None
        self._slice_abandons = 0
        self._slice_charged = 0.0
        self._dispersion_sum = 2.0 * 4  # prior: dispersion 2, as if seen over 4 slices
        self._dispersion_weight = 4.0
        self._edges_for: float | None = None
        self.edges: tuple[float, ...] = ()

    # -- learning ----------------------------------------------------------------------
    def observe_line(self, outcome: LineOutcome, dialled_at: float, resolved_at: float) -> None:
        """A line needed a caller (``human``) or ended without one, ``resolved_at``."""
        self.estimates.observe_line(outcome, dialled_at, resolved_at)

    def observe_talk(self, seconds: float) -> None:
        self.estimates.talk.add(seconds)

    def observe_wrap_up(self, seconds: float) -> None:
        self.estimates.wrap_up.add(seconds)

    @property
    def calibration(self) -> float:
        """Abandons that happened ÷ abandons the model charged, over the recent past."""
        return self._abandons / max(self._charged, 1e-9)

    @property
    def dispersion(self) -> float:
        return min(5.0, max(1.0, self._dispersion_sum / self._dispersion_weight))

    def _age(self, snapshot: FloorSnapshot, now: float) -> None:
        """Fade memory by the time elapsed since the last decision and count new abandons."""
        abandoned = 0
        if self._abandoned_seen is not None:
            abandoned = max(0, snapshot.abandoned_30d - self._abandoned_seen)
        self._abandoned_seen = snapshot.abandoned_30d
        if self._last_at is not None and now > self._last_at:
            fade = math.exp(-(now - self._last_at) / self.memory)
            self._abandons *= fade
            self._charged *= fade
        self._last_at = now if self._last_at is None else max(now, self._last_at)
        self._abandons += abandoned
        self._slice_abandons += abandoned
        if self._slice_started is None:
            self._slice_started = now
        elif now - self._slice_started >= self.noise_slice:
            # A slice's charge, scaled by the calibration, is what the model expected in it.
            expected = self._slice_charged * min(4.0, max(0.5, self.calibration))
            if expected >= 0.5:
                fade = math.exp(-(now - self._slice_started) / self.memory)
                self._dispersion_sum = self._dispersion_sum * fade + (self._slice_abandons - expected) ** 2 / expected
                self._dispersion_weight = self._dispersion_weight * fade + 1
                self._slice_started, self._slice_abandons, self._slice_charged = now, 0, 0.0

    # -- the target --------------------------------------------------------------------
    def margin(self, human_30d: int) -> float:
        """How far under the limit to aim: the one-sided confidence bound of the 30-day rate
        around the aim. Held at the aim by the feedback (gain g on the rate's distance from
        it), the rate over H answers strays from it with variance ≈ dispersion × p(1 − p) /
        (H (1 + 2g)); with few answers the margin is most of the limit."""
        limits = self.limits
        p = limits.abandon_limit
        spread = math.sqrt(self.dispersion * p * (1 - p) / (max(human_30d, 1) * (1 + 2 * self.gain)))
        return min(0.8 * p, max(limits.min_margin * p, limits.confidence * spread))

    def target(self, snapshot: FloorSnapshot) -> tuple[float, str]:
        """The abandonment ratio this tick's new lines may spend, and why."""
        limit = self.limits.abandon_limit
        human = snapshot.human_30d
        margin = self.margin(human)
        aim = limit - margin
        rate = snapshot.abandoned_30d / human if human else 0.0
        if human and rate >= limit - margin / 2:
            return aim * 0.05, f"brake: 30-day abandonment {rate:.2%} near the {limit:.1%} limit"
        # Steer the measured rate towards the aim, trusting it as answers build up (a new
        # campaign's "0 %" says nothing yet); catching up after a quiet spell may spend up to
        # halfway to the limit, never more.
        trust = human / (human + self.trust_answers)
        target = min(limit - margin / 2, max(aim * 0.1, aim + self.gain * trust * (aim - rate)))
        return target, f"aim {aim:.2%}: the {limit:.1%} limit less {margin:.2%} for {human} answers"

    # -- the decision ------------------------------------------------------------------
    def line_caps(self, callers: int) -> dict[str, int]:
        """The caps on lines at once (ringing and in conversation) that apply, by name."""
        limits = self.limits
        # The floor's: the lines that would give every caller a call at once, twice over.
        caps = {"floor": callers + math.ceil(self.floor_headroom * callers * self.estimates.lines_per_answer())}
        if limits.max_lines is not None:
            caps["campaign"] = limits.max_lines
        if limits.trunk_lines is not None:
            caps["trunk"] = limits.trunk_lines
        return caps

    def horizon(self, snapshot: FloorSnapshot, now: float) -> Horizon:
        """What the coming line lifetime holds for the floor, by the live estimates. (The
        benchmark overrides it to tell the controller what only a perfect-information dialer
        knows, and so measure how much of the gap to that bound is information.)"""
        return Horizon.of(snapshot, self.estimates, self.edges)

    def decide(self, snapshot: FloorSnapshot, now: float) -> PacingDecision:
        estimates = self.estimates
        estimates.settle(now)
        self._age(snapshot, now)
        if self._edges_for != self.limits.line_lifetime:
            self.edges, self._edges_for = horizon_edges(self.limits.line_lifetime), self.limits.line_lifetime
        in_flight = len(snapshot.lines)
        talking = sum(1 for c in snapshot.busy_callers if not c.wrapping_up)
        callers = snapshot.waiting_callers + len(snapshot.busy_callers)
        caps = self.line_caps(callers)
        cap_name = min(caps, key=lambda name: (caps[name], name))
        cap = caps[cap_name]
        room = cap - in_flight - talking
        target, why = self.target(snapshot)
        correction = min(4.0, max(0.5, self.calibration))
        inputs: dict[str, object] = {
            "waiting_callers": snapshot.waiting_callers, "busy_callers": len(snapshot.busy_callers),
            "lines_in_flight": in_flight, "line_caps": caps,
            "abandonment_30d": _ratio(snapshot.abandoned_30d, snapshot.human_30d),
            "abandonment_24h": _ratio(snapshot.abandoned_24h, snapshot.human_24h),
            "target": round(target, 4), "margin": round(self.margin(snapshot.human_30d), 4),
            "noise": round(self.dispersion, 2), **estimates.as_json(),
            "model_correction": round(correction, 2),
        }
        if callers == 0:
            return self._keep(now, 0, "no callers logged in", inputs, cap)
        if room <= 0:
            return self._keep(now, 0, f"line cap reached: {cap} lines ({cap_name})", inputs, cap, cap_name)
        horizon = self.horizon(snapshot, now)
        inputs["expected_answers"] = round(horizon.humans, 2)
        inputs["expected_free_callers"] = round(horizon.free_by_end, 2)
        budget = target / correction
        n = horizon.most_lines(budget, room)
        # A waiting caller with nothing ringing for it is always worth one line.
        n = max(n, min(room, snapshot.waiting_callers - in_flight))
        charge = horizon.added_abandons(n)
        self._charged += charge
        self._slice_charged += charge
        self.charged_total += charge
        new_humans = n * horizon.new_human
        inputs["expected_abandon_ratio"] = round(charge * correction / new_humans, 4) if new_humans else 0.0
        binding = None
        if n >= room and horizon.added_abandons(room + 1) <= budget * (room + 1) * horizon.new_human:
            binding = cap_name  # the model wanted more than the cap let it dial
            why = f"{why}; line cap {cap} ({cap_name}) binds"
        return self._keep(now, n, why, inputs, cap, binding)

    def _keep(self, now: float, n: int, reason: str, inputs: dict[str, object], cap: int | None = None,
              binding: str | None = None) -> PacingDecision:
        decision = PacingDecision(at=now, lines_to_dial=max(0, n), reason=reason, inputs=inputs, line_cap=cap,
                                  cap_binding=binding)
        self.decisions.append(decision)
        return decision


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


class Horizon:
    """Expected abandons over a line's lifetime ahead, with and without n more lines.

    Per bin: expected answers (mean and variance) from the ringing lines, expected frees from
    the busy callers; the callers free now start the walk. A bin's variance is the growth of
    the cumulative count's variance, so the walk's variance at every edge is the cumulative
    count's (answers by t are a Poisson-binomial, not a Poisson).

    When few answers are to come and few callers will be free (small floors, long talks),
    the walk is carried exactly over (free callers, answers still to come):
    the answers to come are a Poisson-binomial count, spread over the bins by their pooled
    hazard, so a line never answers twice - counting each bin's answers on their own would,
    and on a floor of ten that doubles the abandons the model sees where few happen.
    """

    EXACT_UP_TO = 25.0  # answers to come + callers free now or soon: beyond, the clipped-normal walk

    def __init__(self, edges: Sequence[float], waiting: int,
                 answers: tuple[list[float], list[float]], frees: tuple[list[float], list[float]],
                 new: tuple[list[float], list[float], float], humans: tuple[float, float],
                 groups: Sequence[tuple[int, float]] = ()) -> None:
        self.edges = edges
        self.waiting = waiting
        self.answers_mean, self.answers_var = answers
        self.frees_mean, self.frees_var = frees
        self.new_mean, self.new_var, self.new_human = new
        self.humans, self.humans_var = humans
        self.groups = tuple(groups)  # (lines, P(a person)) of the ringing lines, by age
        self.free_by_end = waiting + sum(self.frees_mean)
        # The exact walk's states grow with the answers to come and the callers that may
        # take them; where they are many, the clipped normal is close and far cheaper.
        self.exact = self.humans + self.free_by_end <= self.EXACT_UP_TO
        if self.exact:
            self._free_pmfs = [_count_pmf(m, v) for m, v in zip(self.frees_mean, self.frees_var)]
            # The answers to come, exactly: the Poisson-binomial of the ringing lines. Its
            # upper tail - every line a person - is where the abandons are, and a binomial
            # of the same mean and variance can cut it off.
            pending = [1.0]
            for count, p in groups:
                pending = _convolve(pending, _binomial_rows(count, p)[count] if count else (1.0,))
            self._pending = pending
        self._cache: dict[int, float] = {}

    @classmethod
    def of(cls, snapshot: FloorSnapshot, estimates: FloorEstimates, edges: Sequence[float]) -> Horizon:
        points = len(edges)
        # Lines of the same half-second age share one profile.
        ages = collections.Counter(round(e * 2) for e in snapshot.lines)
        profile = functools.lru_cache(maxsize=None)(lambda age: estimates.line_profile(age / 2, edges))
        cum_mean = [0.0] * points
        cum_var = [0.0] * points
        humans = humans_var = 0.0
        groups = []
        for age, count in ages.items():
            p = profile(age)
            groups.append((count, p[-1]))
            humans += count * p[-1]
            humans_var += count * p[-1] * (1 - p[-1])
            for k in range(points):
                cum_mean[k] += count * p[k]
                cum_var[k] += count * p[k] * (1 - p[k])
        answers = _increments(cum_mean, cum_var)
        new_profile = profile(0)
        new_mean, new_var = _increments(list(new_profile[:-1]), [p * (1 - p) for p in new_profile[:-1]])

        talkers = [c.elapsed for c in snapshot.busy_callers if not c.wrapping_up]
        wrappers = [c.elapsed for c in snapshot.busy_callers if c.wrapping_up]
        talk = Survival(estimates.talk, talkers)
        wrap = Survival(estimates.wrap_up, wrappers)
        # Talkers: talk ends per bin, summed over the talkers, then each end is followed by a
        # wrap-up drawn from its whole distribution (wrap-ups are skewed: their mean says
        # little about who is free in ten seconds).
        talk_ends = [0.0] * points
        for elapsed, count in collections.Counter(round(e) for e in talkers).items():
            ends = talk.ends_by(float(elapsed), edges)
            for k in range(points):
                talk_ends[k] += count * ends[k]
        ends_in = [talk_ends[0]] + [talk_ends[k] - talk_ends[k - 1] for k in range(1, points)]
        mids = [edges[0] / 2] + [(edges[k - 1] + edges[k]) / 2 for k in range(1, points)]
        wrap_values = estimates.wrap_up.values
        wrap_cdf = functools.lru_cache(maxsize=None)(
            lambda gap: bisect.bisect_right(wrap_values, gap / 2) / len(wrap_values))
        free_cum = [0.0] * points
        for k in range(points):
            free_cum[k] = sum(ends_in[j] * wrap_cdf(round((edges[k] - mids[j]) * 2))
                              for j in range(k + 1) if edges[k] > mids[j])
        n_talkers = len(talkers)
        free_var = [m * (1 - m / n_talkers) if n_talkers else 0.0 for m in free_cum]
        for elapsed, count in collections.Counter(round(e) for e in wrappers).items():
            ends = wrap.ends_by(float(elapsed), edges)
            for k in range(points):
                free_cum[k] += count * ends[k]
                free_var[k] += count * ends[k] * (1 - ends[k])
        frees = _increments(free_cum, free_var)
        return cls(edges, snapshot.waiting_callers, answers, frees, (new_mean, new_var, new_profile[-1]),
                   (humans, humans_var), groups)

    def abandons(self, n: int) -> float:
        """Expected abandons over the horizon with ``n`` more lines."""
        cached = self._cache.get(n)
        if cached is None:
            am = [a + n * p for a, p in zip(self.answers_mean, self.new_mean)]
            if self.exact:
                p = self.new_human
                pending = _convolve(self._pending, _binomial_rows(n, p)[n]) if n else self._pending
                cached = self._exact(am, pending, self.humans + n * p)
            else:
                av = [a + n * p for a, p in zip(self.answers_var, self.new_var)]
                cached = self._normal(am, av)
            self._cache[n] = cached
        return cached

    def added_abandons(self, n: int) -> float:
        """The abandons ``n`` new lines add to the horizon: their charge."""
        return max(0.0, self.abandons(n) - self.abandons(0)) if n > 0 else 0.0

    def most_lines(self, budget: float, room: int) -> int:
        """The most new lines (≤ room) whose added abandons ÷ their expected human answers
        stay within ``budget``. That share grows with n: step, then gallop and bisect."""
        per_line = self.new_human
        if room <= 0 or per_line <= 0:
            return 0

        def fits(n: int) -> bool:
            return self.added_abandons(n) <= budget * n * per_line

        if not fits(1):
            return 0
        low, high = 1, 2
        while high <= room and fits(high):
            low, high = high, high * 2
        if high > room:
            if fits(room):
                return room
            high = room
        while high - low > 1:
            mid = (low + high) // 2
            if fits(mid):
                low = mid
            else:
                high = mid
        return low

    def _exact(self, answers_mean: list[float], pending: Sequence[float], pending_mean: float) -> float:
        """Lindley's recursion over (free callers f, answers still to come r). Answers within
        the free callers leave f − r as it was, frees and abandons raise it: once f ≥ r no
        answer can be lost any more, so those states leave the walk."""
        state: dict[tuple[int, int], float] = {}
        for r, p in enumerate(pending):
            if p > 1e-12 and r > self.waiting:
                state[(self.waiting, r)] = p
        lost = 0.0
        left = pending_mean
        for freed, expected in zip(self._free_pmfs, answers_mean):
            if not state:
                break
            hazard = min(1.0, expected / left) if left > 1e-9 else 0.0
            left -= expected
            if len(freed) > 1:
                merged: dict[tuple[int, int], float] = {}
                for (f, r), p in state.items():
                    for j, q in enumerate(freed):
                        if f + j >= r:
                            break
                        pq = p * q
                        if pq >= 1e-8:
                            key = (f + j, r)
                            merged[key] = merged.get(key, 0.0) + pq
                state = merged
            if hazard <= 0.0:
                continue
            rows: dict[int, list[float]] = {}
            odds = hazard / (1 - hazard) if hazard < 1.0 else 0.0
            after: dict[tuple[int, int], float] = {}
            for (f, r), p in state.items():
                row = rows.get(r)
                if row is None:  # Binomial(r, hazard), cut where it falls under 1e-8 past its mode
                    if hazard >= 1.0:
                        row = [0.0] * r + [1.0]
                    else:
                        row = [(1 - hazard) ** r]
                        for a in range(r):
                            row.append(row[-1] * (r - a) / (a + 1) * odds)
                            if row[-1] < 1e-8 and a + 1 > r * hazard:
                                break
                    rows[r] = row
                for a, q in enumerate(row):
                    pq = p * q
                    if pq < 1e-8:
                        continue
                    if a > f:
                        lost += pq * (a - f)
                        key = (0, r - a)
                    else:
                        key = (f - a, r - a)
                    if key[0] < key[1]:
                        after[key] = after.get(key, 0.0) + pq
            state = after
        return lost

    def _normal(self, answers_mean: list[float], answers_var: list[float]) -> float:
        """Lindley's recursion with the free callers as a clipped normal (its first two moments)."""
        m, v = float(self.waiting), 0.0
        lost = 0.0
        for fm, fv, am, av in zip(self.frees_mean, self.frees_var, answers_mean, answers_var):
            mu = m + fm - am
            var = v + fv + av
            if var <= 1e-12:
                lost += max(0.0, -mu)
                m, v = max(0.0, mu), 0.0
                continue
            s = math.sqrt(var)
            z = mu / s
            cdf, pdf = _big_phi(z), _phi(z)
            lost += s * pdf - mu * (1 - cdf)
            first = mu * cdf + s * pdf
            second = (mu * mu + var) * cdf + mu * s * pdf
            m, v = first, max(0.0, second - first * first)
        return lost


@functools.lru_cache(maxsize=4096)
def _binomial_rows_cached(top: int, hazard: float) -> tuple[tuple[float, ...], ...]:
    rows = []
    odds = hazard / (1 - hazard) if hazard < 1.0 else 0.0
    for r in range(top + 1):
        if hazard >= 1.0:
            rows.append((0.0,) * r + (1.0,))
            continue
        row = [(1 - hazard) ** r]
        for a in range(r):
            row.append(row[-1] * (r - a) / (a + 1) * odds)
            if row[-1] < 1e-8 and a + 1 > r * hazard:  # past the mode: the rest is smaller still
                break
        rows.append(tuple(row))
    return tuple(rows)


def _binomial_rows(top: int, hazard: float) -> tuple[tuple[float, ...], ...]:
    """Binomial(r, hazard) pmfs for r = 0..top, the far tail cut."""
    return _binomial_rows_cached(top, round(hazard, 4))


def _convolve(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """The pmf of the sum of two independent counts, its far tail cut."""
    out = [0.0] * (len(a) + len(b) - 1)
    for i, p in enumerate(a):
        if p > 1e-12:
            for j, q in enumerate(b):
                out[i + j] += p * q
    while len(out) > 1 and out[-1] < 1e-12:
        out.pop()
    return out


def _increments(cum_mean: list[float], cum_var: list[float]) -> tuple[list[float], list[float]]:
    """Per-bin means and variances from cumulative ones; a bin's variance is kept between 0
    and its mean (a count of independent yes/no events)."""
    means, variances = [], []
    previous_m = previous_v = 0.0
    for m, v in zip(cum_mean, cum_var):
        dm = max(0.0, m - previous_m)
        means.append(dm)
        variances.append(min(dm, max(0.0, v - previous_v)))
        previous_m, previous_v = m, v
    return means, variances


@functools.lru_cache(maxsize=4096)
def _count_pmf_cached(mean: float, var: float) -> tuple[float, ...]:
    return tuple(_binomial_like(mean, var))


def _count_pmf(mean: float, var: float) -> tuple[float, ...]:
    """The pmf of a count with this mean and variance, rounded so that repeats are cached."""
    if mean <= 1e-9:
        return (1.0,)
    return _count_pmf_cached(round(mean, 3), round(min(var, mean), 3))


def _binomial_like(mean: float, var: float) -> list[float]:
    """The pmf of a count with this mean and variance (a sum of independent Bernoullis):
    the binomial that matches both, or the Poisson when the variance is the mean; the far
    tail (below 1e-10) is cut."""
    if mean <= 1e-12:
        return [1.0]
    top = int(mean + 8 * math.sqrt(max(var, mean * 0.01)) + 3)
    p = 1 - var / mean
    if p < 1e-6:  # many small probabilities: Poisson
        pmf = [math.exp(-mean)]
        for k in range(top):
            pmf.append(pmf[-1] * mean / (k + 1))
    else:
        n = max(1, round(mean / p))
        p = min(1.0, mean / n)
        if p >= 1.0:
            return [0.0] * n + [1.0]
        odds = p / (1 - p)
        pmf = [(1 - p) ** n]
        for k in range(min(n, top)):
            pmf.append(pmf[-1] * (n - k) / (k + 1) * odds)
    while len(pmf) > 1 and pmf[-1] < 1e-8:
        pmf.pop()
    return pmf


def _phi(z: float) -> float:
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def _big_phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))
