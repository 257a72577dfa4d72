"""/v1/scripts: written and read whole, nested lists replaced by PATCH, answers protected."""
from __future__ import annotations

import datetime as dt

from realtime.store.models import Answer, CallAttempt, Household
from tests.api import samples


async def test_a_script_is_created_and_read_with_every_part_nested(any_api):
    script = await samples.script(any_api)
    assert [t["content"] for t in script["texts"]] == ["Hello, my name is..."]
    question = script["questions"][0]
    assert question["text"] == "Will you vote?"
    assert [(r["value"], r["keypad"], r["retry"]) for r in question["responses"]] == [
        ("Yes", "1", False), ("No", "2", False), ("Call back later", "3", True)]
    assert script["notes"][0]["text"] == "Issues raised"
    assert script["transfers"][0] == {**script["transfers"][0], "phone": "+12125550123", "transfer_type": "warm"}
    assert all(isinstance(part["id"], int) for part in [*script["texts"], question, *question["responses"]])
    assert await any_api.get(f"/v1/scripts/{script['id']}") == script


async def test_patch_replaces_only_the_lists_it_is_given_keeping_ids(api):
    script = await samples.script(api)
    question = script["questions"][0]
    yes, no, later = question["responses"]
    changed = await api.patch(f"/v1/scripts/{script['id']}", {
        "name": "Canvass v2",
        "questions": [
            {"text": "Who will you vote for?", "responses": [{"value": "Undecided"}]},
            {"id": question["id"], "text": "Will you vote?", "responses": [
                {"id": no["id"], "value": "No", "keypad": "2"}, {"id": yes["id"], "value": "Yes!", "keypad": "1"}]},
        ],
    })
    assert changed["name"] == "Canvass v2"
    assert changed["texts"] == script["texts"] and changed["transfers"] == script["transfers"]
    new, kept = changed["questions"]
    assert kept["id"] == question["id"] and new["id"] != question["id"]
    assert [(r["id"], r["value"]) for r in kept["responses"]] == [(no["id"], "No"), (yes["id"], "Yes!")]
    assert later["id"] not in [r["id"] for r in kept["responses"]]
    assert await api.get(f"/v1/scripts/{script['id']}") == changed


async def test_every_bad_nested_field_is_named(api):
    script = await samples.script(api)
    status, body, _ = await api.call("PATCH", f"/v1/scripts/{script['id']}", json={
        "questions": [
            {"text": "", "responses": [{"value": "A", "keypad": "1"}, {"value": "B", "keypad": "1"}, {"keypad": "x"}]},
            {"id": 999999, "text": "Q"},
        ],
        "transfers": [{"label": "T", "phone": "not a phone", "transfer_type": "lukewarm", "extension": "12"}],
    })
    assert status == 422
    assert body["error"]["details"]["fields"] == {
        "questions[0].text": "required",
        "questions[0].responses[2].value": "required",
        "questions[0].responses[2].keypad": "must be one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, *, #",
        "transfers[0].phone": "not a phone number",
        "transfers[0].transfer_type": "must be one of warm, cold",
        "transfers[0].extension": "unknown field",
    }
    status, body, _ = await api.call("PATCH", f"/v1/scripts/{script['id']}", json={
        "questions": [{"text": "Q", "responses": [{"value": "A", "keypad": "1"}, {"value": "B", "keypad": "1"}]},
                      {"id": 999999, "text": "Q"}]})
    assert status == 422
    assert body["error"]["details"]["fields"] == {
        "questions[0].responses[0].keypad": "another response of this question has this digit",
        "questions[0].responses[1].keypad": "another response of this question has this digit",
        "questions[1].id": "no such part 999999 in this script",
    }
    assert await api.get(f"/v1/scripts/{script['id']}") == script


async def answer(api, script: dict) -> None:
    """Record a survey answer on a call, as a caller would."""
    campaign = await samples.campaign(api, script_id=script["id"])
    now = dt.datetime.now(dt.timezone.utc)
    question = script["questions"][0]
    async with api.store.transaction() as session:
        household = Household(account_id=api.alice.account_id, campaign_id=campaign["id"], phone="+12125550009",
                              position=1)
        session.add(household)
        await session.flush()
        call = CallAttempt(account_id=api.alice.account_id, campaign_id=campaign["id"], household_id=household.id,
                           dialer_mode="power", dialed_at=now)
        session.add(call)
        await session.flush()
        session.add(Answer(account_id=api.alice.account_id, call_attempt_id=call.id, campaign_id=campaign["id"],
                           question_id=question["id"], possible_response_id=question["responses"][0]["id"],
                           created_at=now))


async def test_answered_parts_cannot_be_deleted(any_api):
    script = await samples.script(any_api)
    await answer(any_api, script)
    status, body, _ = await any_api.call("PATCH", f"/v1/scripts/{script['id']}", json={"questions": []})
    assert (status, body["error"]["id"]) == (409, "question-has-answers")
    question = script["questions"][0]
    status, body, _ = await any_api.call("PATCH", f"/v1/scripts/{script['id']}", json={"questions": [
        {"id": question["id"], "text": question["text"], "responses": question["responses"][1:]}]})
    assert (status, body["error"]["id"]) == (409, "response-has-answers")
    status, body, _ = await any_api.call("DELETE", f"/v1/scripts/{script['id']}")
    assert (status, body["error"]["id"]) == (409, "question-has-answers")
    assert await any_api.get(f"/v1/scripts/{script['id']}") == script
    assert (await any_api.patch(f"/v1/scripts/{script['id']}", {"active": False}))["active"] is False


async def test_list_filters_and_delete(api):
    kept = await samples.script(api, name="Survey")
    gone = await samples.script(api, name="Old survey", active=False)
    listed = await api.get("/v1/scripts", params={"active": "true"})
    assert [s["id"] for s in listed["resources"]] == [kept["id"]]
    assert listed["resources"][0]["questions"] == kept["questions"]
    await api.delete(f"/v1/scripts/{gone['id']}")
    assert [s["id"] for s in (await api.get("/v1/scripts", params={"name": "SURVEY"}))["resources"]] == [kept["id"]]
