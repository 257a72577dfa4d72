"""The pacing controller alone: pure, clock-injected, explainable."""
from __future__ import annotations

from realtime.dialer.pacing import BusyCaller, FloorSnapshot, LineOutcome, PacingController, PacingLimits


def trained(answer_rate: float, *, limits: PacingLimits | None = None, lines: int = 1000) -> PacingController:
    """A controller that has seen ``lines`` settled lines, ``answer_rate`` of them needing a caller."""
    controller = PacingController(limits or PacingLimits(max_lines=500))
    step = round(1 / answer_rate)
    for n in range(lines):
        human = n % step == 0
        controller.observe_line(LineOutcome.HUMAN if human else LineOutcome.UNANSWERED,
                                dialled_at=float(n) / 10, resolved_at=float(n) / 10 + (8.0 if human else 20.0))
    for n in range(100):
        controller.observe_talk(60.0 + n)
        controller.observe_wrap_up(10.0 + n % 10)
    return controller


def floor(waiting: int = 5, busy: int = 5, lines: tuple[float, ...] = (), **rates: int) -> FloorSnapshot:
    history = {"abandoned_30d": 20, "human_30d": 1000, **rates}
    return FloorSnapshot(waiting_callers=waiting, lines=list(lines),
                         busy_callers=[BusyCaller(wrapping_up=n % 2 == 0, elapsed=5.0 * n) for n in range(busy)],
                         **history)


NOW = 1000.0


def test_a_low_answer_rate_means_more_lines_per_free_caller():
    rare, common = trained(0.1).decide(floor(), NOW), trained(0.5).decide(floor(), NOW)
    assert rare.lines_to_dial > common.lines_to_dial > 5  # more than one line per waiting caller
    assert rare.inputs["human_rate"] < common.inputs["human_rate"]


def test_it_brakes_hard_near_the_limit():
    controller = trained(0.2)
    calm = controller.decide(floor(abandoned_30d=10, human_30d=1000), NOW)
    near = controller.decide(floor(abandoned_30d=28, human_30d=1000), NOW)
    assert near.reason.startswith("brake") and near.lines_to_dial < calm.lines_to_dial
    assert near.inputs["abandonment_30d"] == 0.028 and near.inputs["target"] < calm.inputs["target"]


def test_a_new_campaign_starts_cautiously():
    seasoned = trained(0.2).decide(floor(abandoned_30d=21, human_30d=1000), NOW)
    new = trained(0.2).decide(floor(abandoned_30d=0, human_30d=0), NOW)
    assert new.reason == "cautious start" and new.lines_to_dial < seasoned.lines_to_dial
    # And with nothing learnt at all it assumes many quick answers: few lines.
    assert PacingController(PacingLimits()).decide(floor(abandoned_30d=0, human_30d=0), NOW).lines_to_dial <= 10


def test_the_line_cap_is_never_exceeded():
    controller = trained(0.05, limits=PacingLimits(max_lines=40))
    ringing = tuple(float(n % 15) for n in range(30))
    decision = controller.decide(floor(waiting=20, lines=ringing), NOW)
    assert decision.lines_to_dial == 10 and "line cap" in decision.reason
    full = controller.decide(floor(waiting=20, lines=ringing + (1.0,) * 10), NOW)
    assert (full.lines_to_dial, full.reason) == (0, "line cap reached")


def test_no_callers_no_lines():
    decision = trained(0.2).decide(floor(waiting=0, busy=0), NOW)
    assert (decision.lines_to_dial, decision.reason) == (0, "no callers logged in")


def test_lines_already_ringing_count_against_new_ones():
    controller = trained(0.2)
    idle = controller.decide(floor(), NOW)
    ringing = controller.decide(floor(lines=tuple(float(n % 10) for n in range(idle.lines_to_dial))), NOW)
    assert ringing.lines_to_dial < idle.lines_to_dial / 3


def test_outcomes_are_learnt_when_their_whole_cohort_has_ended():
    controller = PacingController(PacingLimits(line_lifetime=40.0))
    # Busy lines end first; the people among the same dials answer later.
    for n in range(50):
        controller.observe_line(LineOutcome.UNANSWERED, dialled_at=0.0, resolved_at=3.0)
    prior = controller.decide(floor(), 20.0).inputs["human_rate"]
    assert prior == 0.5  # nothing settled yet: the prior
    for n in range(20):
        controller.observe_line(LineOutcome.HUMAN, dialled_at=0.0, resolved_at=9.0)
    assert controller.decide(floor(), 39.0).inputs["human_rate"] == 0.5
    assert controller.decide(floor(), 40.0).inputs["human_rate"] == 0.3125  # (20 + 5) / (70 + 10)


def test_decisions_are_kept_with_their_inputs_and_are_deterministic():
    first, second = trained(0.25), trained(0.25)
    for n in range(150):
        snapshot = floor(waiting=n % 4, busy=6 - n % 4, lines=tuple(float(k) for k in range(n % 7)))
        assert first.decide(snapshot, NOW + n) == second.decide(snapshot, NOW + n)
    assert len(first.decisions) == 100 and first.decisions[-1].at == NOW + 149
    inputs = first.decisions[-1].as_json()["inputs"]
    for key in ("waiting_callers", "busy_callers", "lines_in_flight", "abandonment_30d", "abandonment_24h",
                "target", "human_rate", "expected_answers", "expected_free_callers", "expected_abandon_ratio"):
        assert key in inputs
