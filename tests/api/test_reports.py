"""/v1/reports/{campaign_id}: dials, answers with percentages, callers, abandonment, and the CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io

from yarl import URL

from realtime.store.models import (
    Answer,
    CallAttempt,
    Caller,
    CallStatus,
    Campaign,
    DialerMode,
    Household,
    Lead,
    Note,
    NoteResponse,
    PossibleResponse,
    Question,
    Script,
)
from realtime.store.types import utcnow


async def seed(api) -> int:
    """A campaign with a one-question script, two callers and six call attempts."""
    account_id = api.alice.account_id
    now = utcnow()
    async with api.store.transaction() as session:
        script = Script(account_id=account_id, name="Survey")
        question = Question(text="Will you vote?", position=0, responses=[
            PossibleResponse(value="Yes", position=0), PossibleResponse(value="No", position=1),
            PossibleResponse(value="Maybe", position=2)])
        script.questions.append(question)
        script.notes.append(Note(text="Comments", position=0))
        session.add(script)
        await session.flush()
        campaign = Campaign(account_id=account_id, name="Vote", dialer_mode=DialerMode.PREDICTIVE,
                            script_id=script.id)
        # Usernames are unique across the accounts sharing the test database.
        ann = Caller(account_id=account_id, name="Ann", username=f"ann-{account_id}", pin="1111")
        bob = Caller(account_id=account_id, name="", username=f"bob-{account_id}", pin="2222")
        session.add_all([campaign, ann, bob])
        await session.flush()
        yes, no, _maybe = question.responses
        households = [Household(account_id=account_id, campaign_id=campaign.id, phone=f"+1212555010{n}", position=n)
                      for n in range(6)]
        session.add_all(households)
        await session.flush()
        leads = [Lead(account_id=account_id, campaign_id=campaign.id, household_id=h.id, first_name=f"Lead{n}",
                      last_name="Smith", custom_fields={}) for n, h in enumerate(households)]
        session.add_all(leads)
        await session.flush()

        def attempt(n: int, status: CallStatus, caller: Caller | None, talk: int = 0, wrap: int = 0,
                    hours_ago: float = 1) -> CallAttempt:
            dialed = now - dt.timedelta(hours=hours_ago)
            answered = dialed + dt.timedelta(seconds=5)
            ended = answered + dt.timedelta(seconds=talk)
            return CallAttempt(
                account_id=account_id, campaign_id=campaign.id, household_id=households[n].id, lead_id=leads[n].id,
                caller_id=caller.id if caller else None, dialer_mode="predictive", status=status,
                dialed_at=dialed, answered_at=answered if status in (
                    CallStatus.COMPLETED, CallStatus.ABANDONED, CallStatus.MACHINE) else None,
                connected_at=answered if caller else None, ended_at=ended,
                wrapped_up_at=ended + dt.timedelta(seconds=wrap) if caller else None,
                recording_url=f"https://recordings.example.com/{n}.wav" if caller else None)

        attempts = [
            attempt(0, CallStatus.COMPLETED, ann, talk=60, wrap=10),
            attempt(1, CallStatus.COMPLETED, ann, talk=30, wrap=5),
            attempt(2, CallStatus.COMPLETED, bob, talk=90, wrap=20),
            attempt(3, CallStatus.ABANDONED, None),
            attempt(4, CallStatus.NO_ANSWER, None),
            attempt(5, CallStatus.ABANDONED, None, hours_ago=48),  # counts for 30 days, not 24 hours
        ]
        session.add_all(attempts)
        await session.flush()
        for call, response, caller in ((attempts[0], yes, ann), (attempts[1], no, ann), (attempts[2], yes, bob)):
            session.add(Answer(account_id=account_id, call_attempt_id=call.id, lead_id=call.lead_id,
                               campaign_id=campaign.id, caller_id=caller.id, question_id=question.id,
                               possible_response_id=response.id, created_at=now))
        session.add(NoteResponse(account_id=account_id, call_attempt_id=attempts[0].id, lead_id=leads[0].id,
                                 note_id=script.notes[0].id, value="call back, after 6", created_at=now))
    return campaign.id, ann.id, bob.id


async def test_report_counts_and_percentages(any_api):
    campaign_id, ann, bob = await seed(any_api)
    report = await any_api.get(f"/v1/reports/{campaign_id}")

    assert report["dials"]["total"] == 6
    assert {k: v for k, v in report["dials"]["by_status"].items() if v} == {
        "completed": 3, "abandoned": 2, "no-answer": 1}
    [question] = report["answers"]
    assert question["question"] == "Will you vote?" and question["total"] == 3
    assert [(r["value"], r["count"], r["percent"]) for r in question["responses"]] == [
        ("Yes", 2, 66.7), ("No", 1, 33.3), ("Maybe", 0, 0.0)]
    assert report["callers"] == [
        {"caller_id": ann, "name": "Ann", "calls": 2, "conversations": 2, "talk_seconds": 90.0,
         "wrap_up_seconds": 15.0, "answers": 2},
        {"caller_id": bob, "name": f"bob-{any_api.alice.account_id}", "calls": 1, "conversations": 1, "talk_seconds": 90.0,
         "wrap_up_seconds": 20.0, "answers": 1},
    ]
    # Human-answered: 3 completed + abandoned ones; the two-day-old abandon is outside 24 hours.
    assert report["abandonment"]["last_24_hours"] == {"abandoned": 1, "human_answered": 4, "rate": 0.25}
    assert report["abandonment"]["last_30_days"] == {"abandoned": 2, "human_answered": 5, "rate": 0.4}
    assert report["abandonment"]["over_limit"] is True


async def test_call_attempts_csv(any_api):
    campaign_id, ann, _ = await seed(any_api)
    status, body, response = await any_api.call("GET", f"/v1/reports/{campaign_id}/call_attempts.csv")
    assert status == 200 and response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert len(rows) == 6
    first = rows[0]
    assert (first["status"], first["caller"], first["phone"], first["first_name"]) == (
        "completed", "Ann", "+12125550100", "Lead0")
    assert first["Will you vote?"] == "Yes" and first["note: Comments"] == "call back, after 6"
    assert first["recording_url"] == "https://recordings.example.com/0.wav"
    assert [r["Will you vote?"] for r in rows] == ["Yes", "No", "Yes", "", "", ""]
    assert [r["status"] for r in rows[3:]] == ["abandoned", "no-answer", "abandoned"]


async def test_reports_of_other_accounts_are_not_found(any_api):
    campaign_id, _, _ = await seed(any_api)
    for path in (f"/v1/reports/{campaign_id}", f"/v1/reports/{campaign_id}/call_attempts.csv"):
        status, body, _ = await any_api.call("GET", path, as_=any_api.bob)
        assert status == 404 and body["error"]["id"] == "not-found"


async def test_the_reports_collection_leads_to_each_campaign_report(any_api):
    campaign_id, _, _ = await seed(any_api)
    index = await any_api.get("/v1/reports")
    [entry] = [r for r in index["resources"] if r["campaign_id"] == campaign_id]
    report = await any_api.get(URL(entry["uri"]).path)
    assert report["dials"]["total"] == 6
    assert entry["downloads"] == report["downloads"]
    # Another account sees none of this account's campaigns.
    status, theirs, _ = await any_api.call("GET", "/v1/reports", as_=any_api.bob)
    assert status == 200 and campaign_id not in [r["campaign_id"] for r in theirs["resources"]]
