"""Whole caller sessions through /caller: real Socket.IO clients, the simulator's far ends,
the results checked in the store."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from realtime.store.models import (
    Answer,
    CallAttempt,
    CallerSession,
    CallStatus,
    DialerMode,
    Household,
    HouseholdStatus,
    Lead,
    LeadStatus,
    NoteResponse,
    TransferAttempt,
)

from .floor import BUSY, CONGESTION, MACHINE, NO_ANSWER, PERSON, SHORT_TALK, add_caller, add_campaign, add_recording, phone


async def one_caller(product, floor, callers, mode: DialerMode, phones: list[str], **settings):
    campaign = await add_campaign(product.store, floor, mode, phones, **settings)
    caller_id, username = await add_caller(product.store, floor, campaign)
    client = await callers(username).open()
    return campaign, caller_id, client


async def row(product, model, **where):
    async with product.store.sessions() as session:
        return await session.scalar(select(model).filter_by(**where))


async def count(product, model, **where) -> int:
    async with product.store.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).filter_by(**where))


async def settled(product, number: str, campaign: int) -> Household:
    """The household once its call is settled (the store is polled: it is a state, not an event)."""
    async def poll() -> Household:
        while (household := await row(product, Household, phone=number, campaign_id=campaign)).status \
                is HouseholdStatus.DIALING:
            await asyncio.sleep(0.02)
        return household

    return await asyncio.wait_for(poll(), 10)


def answers_for(floor, first: int = 0, second: int = 0) -> dict[str, int]:
    q1, q2 = floor.script.questions
    return {str(q1): floor.script.responses[q1][first], str(q2): floor.script.responses[q2][second]}


async def talk_and_hang_up(caller) -> dict:
    """From previewing: dial, get the lead, hang up; answers the connected call."""
    dial = await caller.ok("dial")
    connected = await caller.next("call_connected", call_id=dial["call_id"])
    await caller.state("on_call")
    await caller.ok("hangup")
    await caller.next("call_ended", call_id=dial["call_id"], status="completed", by="caller")
    await caller.state("wrap_up")
    return connected


async def test_preview_caller_dials_talks_saves_results_and_gets_the_next_lead(product, floor, callers):
    first, second = phone(PERSON), phone(PERSON)
    campaign, caller_id, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, [first, second])
    started = caller.events[0][1]
    assert started["campaign"] == {"id": campaign, "name": "preview campaign", "dialer_mode": "preview",
                                   "can_drop_voicemail": False}
    assert [q["text"] for q in started["script"]["questions"]] == ["Will you vote?", "Need a ride?"]
    assert started["dial_in"]["number"] == "+12025550123" and len(started["dial_in"]["pin"]) == 7
    assert "phone" not in started["script"]["transfers"][0]  # callers see labels, not numbers

    await caller.ok("start")
    await caller.state("connecting")
    presented = await caller.next("lead_presented")
    assert presented["household"]["phone"] == first
    await caller.state("previewing")
    connected = await talk_and_hang_up(caller)
    lead_id = connected["household"]["leads"][0]["id"]

    note = floor.script.notes[0]
    ack = await caller.ok("submit", {"call_id": connected["call_id"], "lead_id": lead_id,
                                     "answers": answers_for(floor), "notes": {str(note): "Wants a sign"},
                                     "then": "continue", "key": "k-1"})
    assert ack["retry"] is False
    # Stored before the ack: the answers, the note, the lead done, the household completed.
    attempt = await row(product, CallAttempt, channel_id=f"lead-{connected['call_id']}")
    assert attempt.status is CallStatus.COMPLETED and attempt.wrapped_up_at is not None
    assert attempt.caller_session_id is not None and attempt.lead_id == lead_id
    assert await count(product, Answer, call_attempt_id=attempt.id) == 2
    assert (await row(product, NoteResponse, call_attempt_id=attempt.id)).value == "Wants a sign"
    assert (await row(product, Lead, id=lead_id)).status is LeadStatus.COMPLETED
    assert (await row(product, Household, phone=first, campaign_id=campaign)).status is HouseholdStatus.COMPLETED
    saved = await caller.next("results_saved")
    assert saved["call_id"] == connected["call_id"]
    assert (await caller.next("lead_presented"))["household"]["phone"] == second


async def test_preview_skip_presents_the_next_household_and_recycles_the_skipped(product, floor, callers):
    first, second = phone(PERSON), phone(PERSON)
    campaign, _, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, [first, second])
    await caller.ok("start")
    assert (await caller.next("lead_presented"))["household"]["phone"] == first
    await caller.ok("skip")
    assert (await caller.next("lead_presented"))["household"]["phone"] == second
    skipped = await row(product, Household, phone=first, campaign_id=campaign)
    assert skipped.status is HouseholdStatus.RETRY and skipped.dialable_at is not None
    assert (await row(product, CallAttempt, household_id=skipped.id)).status is CallStatus.SKIPPED


async def test_power_presents_and_dials_at_once(product, floor, callers):
    number = phone(PERSON)
    _, _, caller = await one_caller(product, floor, callers, DialerMode.POWER, [number])
    await caller.ok("start")
    assert (await caller.next("lead_presented"))["household"]["phone"] == number
    dialing = await caller.next("call_dialing")
    assert dialing["household"]["phone"] == number
    await caller.next("call_ringing", call_id=dialing["call_id"])
    await caller.next("call_connected", call_id=dialing["call_id"])
    await caller.state("on_call")
    # The dial command is for preview only.
    ack = await caller.call("dial", {})
    assert ack["error"]["id"] == "not-previewing"


async def test_predictive_hands_answered_calls_to_waiting_callers(product, floor, callers):
    numbers = [phone(PERSON) for _ in range(4)]
    campaign = await add_campaign(product.store, floor, DialerMode.PREDICTIVE, numbers, max_lines=2)
    clients = []
    for _ in range(2):
        _, username = await add_caller(product.store, floor, campaign)
        clients.append(await callers(username).open())
    for client in clients:
        await client.ok("start")
        await client.state("on_hold")
    connected = [await client.next("call_connected") for client in clients]
    # Each caller got their own household, pushed with the call.
    assert connected[0]["household"]["id"] != connected[1]["household"]["id"]
    assert {c["household"]["phone"] for c in connected} <= set(numbers)
    for client, call in zip(clients, connected):
        await client.state("on_call")
        await client.ok("hangup")
        await client.state("wrap_up")
        await client.ok("submit", {"call_id": call["call_id"], "lead_id": call["household"]["leads"][0]["id"],
                                   "answers": answers_for(floor), "then": "continue"})
        await client.state("on_hold", reason="results_saved")
    # Calls a caller never heard of were never theirs: no dialing/ringing events in predictive.
    assert "call_dialing" not in clients[0].names()


async def test_unanswered_lines_end_with_their_reason_and_move_on(product, floor, callers):
    numbers = [phone(BUSY), phone(NO_ANSWER), phone(CONGESTION), phone(PERSON)]
    campaign, _, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, numbers)
    await caller.ok("start")
    for expected in ("busy", "no_answer", "failed"):
        await caller.next("lead_presented")
        dial = await caller.ok("dial")
        ended = await caller.next("call_ended", call_id=dial["call_id"])
        assert (ended["status"], ended["by"]) == (expected, "system")
    assert (await caller.next("lead_presented"))["household"]["phone"] == numbers[3]
    busy = await row(product, Household, phone=numbers[0], campaign_id=campaign)
    assert busy.status is HouseholdStatus.RETRY
    assert (await row(product, Household, phone=numbers[2], campaign_id=campaign)).status is HouseholdStatus.FAILED


async def test_hanging_up_while_it_rings_cancels_the_line(product, floor, callers):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, [phone(NO_ANSWER), phone(PERSON)])
    await caller.ok("start")
    await caller.next("lead_presented")
    dial = await caller.ok("dial")
    await caller.next("call_ringing", call_id=dial["call_id"])
    await caller.ok("hangup")
    ended = await caller.next("call_ended", call_id=dial["call_id"])
    assert (ended["status"], ended["by"]) == ("cancelled", "caller")
    await caller.next("lead_presented")


async def test_an_answering_machine_ends_the_call_as_machine(product, floor, callers):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, [phone(MACHINE), phone(PERSON)],
                                    use_amd=True)
    await caller.ok("start")
    await caller.next("lead_presented")
    dial = await caller.ok("dial")
    ended = await caller.next("call_ended", call_id=dial["call_id"])
    assert ended["status"] == "machine"
    await caller.next("lead_presented")


async def test_a_caller_leaves_the_campaigns_voicemail_and_moves_on(product, floor, callers):
    recording = await add_recording(product.store, floor)
    numbers = [phone(PERSON), phone(PERSON)]
    campaign, _, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, numbers,
                                           caller_can_drop_voicemail=True, voicemail_recording_id=recording)
    await caller.ok("start")
    await caller.next("lead_presented")
    dial = await caller.ok("dial")
    await caller.state("on_call")
    await caller.ok("drop_message")
    ended = await caller.next("call_ended", call_id=dial["call_id"])
    assert (ended["status"], ended["by"]) == ("voicemail_left", "caller")
    assert (await caller.next("lead_presented"))["household"]["phone"] == numbers[1]
    household = await settled(product, numbers[0], campaign)  # after the message has played out
    assert household.status is HouseholdStatus.VOICEMAIL_LEFT and household.voicemail_count == 1
    assert (await row(product, CallAttempt, household_id=household.id)).status is CallStatus.VOICEMAIL_LEFT


async def test_voicemail_drop_is_refused_where_the_campaign_does_not_allow_it(product, floor, callers):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.POWER, [phone(PERSON)])
    await caller.ok("start")
    await caller.state("on_call")
    ack = await caller.call("drop_message", {})
    assert ack["error"]["id"] == "voicemail-not-allowed"
    await caller.ok("hangup")
    await caller.state("wrap_up")


async def test_the_lead_hanging_up_puts_the_caller_in_wrap_up(product, floor, callers):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.POWER, [phone(SHORT_TALK)])
    await caller.ok("start")
    connected = await caller.next("call_connected")
    ended = await caller.next("call_ended", call_id=connected["call_id"])
    assert (ended["status"], ended["by"]) == ("completed", "lead")
    await caller.state("wrap_up", reason="lead_hung_up")


async def test_a_retry_response_keeps_the_lead_open_and_a_repeated_submit_stores_nothing_twice(
        product, floor, callers):
    number = phone(PERSON)
    campaign, _, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, [number])
    await caller.ok("start")
    await caller.next("lead_presented")
    connected = await talk_and_hang_up(caller)
    lead_id = connected["household"]["leads"][0]["id"]
    submit = {"call_id": connected["call_id"], "lead_id": lead_id, "answers": answers_for(floor, first=2),
              "then": "stop", "key": "same-key"}
    first = await caller.ok("submit", submit)
    second = await caller.ok("submit", submit)
    assert first == second and first["retry"] is True
    attempt = await row(product, CallAttempt, channel_id=f"lead-{connected['call_id']}")
    assert await count(product, Answer, call_attempt_id=attempt.id) == 2
    assert (await row(product, Lead, id=lead_id)).status is LeadStatus.OPEN
    household = await row(product, Household, phone=number, campaign_id=campaign)
    assert household.status is HouseholdStatus.RETRY and household.dialable_at is not None
    assert (await caller.next("session_ended"))["reason"] == "stopped"
    # Other results for the same call are refused, and nothing changes.
    other = await caller.call("submit", {**submit, "key": "other", "answers": answers_for(floor)})
    assert other["error"]["id"] == "no-such-call"
    assert await count(product, Answer, call_attempt_id=attempt.id) == 2


async def test_results_are_checked_against_the_script(product, floor, callers):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, [phone(PERSON)])
    await caller.ok("start")
    await caller.next("lead_presented")
    connected = await talk_and_hang_up(caller)
    base = {"call_id": connected["call_id"], "lead_id": connected["household"]["leads"][0]["id"]}
    q1, q2 = floor.script.questions
    wrong = [
        ({**base, "answers": {str(q1): floor.script.responses[q2][0]}}, "invalid-answers"),
        ({**base, "answers": {"999999999": 1}}, "invalid-answers"),
        ({**base, "answers": ["not", "a", "map"]}, "invalid-answers"),
        ({**base, "notes": {"999999": "x"}}, "invalid-notes"),
        ({**base, "notes": {str(floor.script.notes[0]): "bad \ud800 text"}}, "invalid-notes"),
        ({**base, "lead_id": 999999999}, "no-such-lead"),
        ({**base, "call_id": "nope"}, "no-such-call"),
        ({**base, "then": "later"}, "invalid-payload"),
    ]
    for payload, error_id in wrong:
        ack = await caller.call("submit", payload)
        assert ack["ok"] is False and ack["error"]["id"] == error_id, (payload, ack)
    attempt = await row(product, CallAttempt, channel_id=f"lead-{connected['call_id']}")
    assert attempt.wrapped_up_at is None and await count(product, Answer, call_attempt_id=attempt.id) == 0
    await caller.ok("submit", {**base, "answers": answers_for(floor)})


async def test_stop_ends_the_session_and_returns_the_presented_household(product, floor, callers):
    number = phone(PERSON)
    campaign, caller_id, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, [number])
    await caller.ok("start")
    await caller.next("lead_presented")
    await caller.ok("stop")
    await caller.state("ended", reason="stopped")
    assert (await caller.next("session_ended"))["reason"] == "stopped"
    household = await row(product, Household, phone=number, campaign_id=campaign)
    assert household.status is HouseholdStatus.NOT_CALLED and household.reserved_by is None

    async def ended_on_record() -> CallerSession:
        while (session := await row(product, CallerSession, caller_id=caller_id)).ended_at is None:
            await asyncio.sleep(0.02)
        return session

    session = await asyncio.wait_for(ended_on_record(), 10)
    assert session.end_reason == "stopped"


async def test_stop_is_refused_on_a_call(product, floor, callers):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.POWER, [phone(PERSON)])
    await caller.ok("start")
    await caller.state("on_call")
    ack = await caller.call("stop", {})
    assert ack["error"]["id"] == "wrong-state"
    await caller.ok("hangup")


async def test_the_callers_phone_hanging_up_mid_call_hangs_up_the_lead_and_keeps_the_results(
        product, floor, callers, far_end):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.POWER, [phone(PERSON)])
    await caller.ok("start")
    connected = await caller.next("call_connected")
    [phone_channel] = await far_end.channel_ids(f"caller-{connected['session_id']}-")
    await far_end.hang_up(phone_channel)
    assert (await caller.next("session_ended"))["reason"] == "phone_hung_up"
    # Nobody is left talking to nobody.
    assert await far_end.channel_ids(f"lead-{connected['call_id']}") == []
    # The results of that call can still be given.
    ack = await caller.ok("submit", {"call_id": connected["call_id"],
                                     "lead_id": connected["household"]["leads"][0]["id"],
                                     "answers": answers_for(floor)})
    assert ack["retry"] is False
    attempt = await row(product, CallAttempt, channel_id=f"lead-{connected['call_id']}")
    assert attempt.wrapped_up_at is not None


async def test_warm_transfer_then_the_transfer_party_is_dropped(product, floor, callers, far_end):
    campaign, _, caller = await one_caller(product, floor, callers, DialerMode.POWER, [phone(PERSON)])
    await caller.ok("start")
    connected = await caller.next("call_connected")
    ack = await caller.ok("transfer", {"transfer_id": floor.script.warm_transfer})
    await caller.state("transfer")
    dialing = await caller.next("transfer_dialing")
    assert dialing == {**dialing, "transfer_id": ack["transfer_id"], "kind": "warm", "label": "Field office"}
    await caller.next("transfer_connected", transfer_id=ack["transfer_id"])
    bridge = next(b for b in await far_end.bridges() if b["id"] == f"xfer-{ack['transfer_id']}")
    assert len(bridge["channels"]) == 3  # caller, lead and the transfer party

    await caller.ok("kick", {"party": "transfer"})
    ended = await caller.next("transfer_ended", transfer_id=ack["transfer_id"])
    assert ended["status"] == "completed"
    await caller.state("on_call")
    # The lead is back with the caller in their conference.
    conference = next(b for b in await far_end.bridges() if b["id"] == f"conf-{connected['session_id']}")
    assert f"lead-{connected['call_id']}" in conference["channels"]
    await caller.ok("hangup")
    await caller.state("wrap_up")
    transfer = await row(product, TransferAttempt, caller_session_id=connected["session_id"])
    assert (transfer.transfer_type, transfer.status) == ("warm", "completed") and transfer.answered_at


async def test_warm_transfer_the_caller_leaves_and_the_lead_talks_on(product, floor, callers, far_end):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.POWER, [phone(PERSON), phone(PERSON)])
    await caller.ok("start")
    connected = await caller.next("call_connected")
    ack = await caller.ok("transfer", {"transfer_id": floor.script.warm_transfer})
    await caller.next("transfer_connected")
    await caller.ok("kick", {"party": "caller"})
    await caller.state("wrap_up", reason="left_transfer")
    bridge = next(b for b in await far_end.bridges() if b["id"] == f"xfer-{ack['transfer_id']}")
    assert set(bridge["channels"]) == {f"lead-{connected['call_id']}", f"transfer-{ack['transfer_id']}"}
    await caller.ok("submit", {"call_id": connected["call_id"], "lead_id": connected["household"]["leads"][0]["id"],
                               "answers": answers_for(floor), "then": "continue"})
    await far_end.hang_up(f"lead-{connected['call_id']}")
    assert (await caller.next("transfer_ended"))["status"] == "completed"


async def test_cold_transfer_leaves_the_caller_in_wrap_up(product, floor, callers, far_end):
    numbers = [phone(PERSON), phone(PERSON)]
    campaign, _, caller = await one_caller(product, floor, callers, DialerMode.POWER, numbers)
    await caller.ok("start")
    connected = await caller.next("call_connected")
    ack = await caller.ok("transfer", {"transfer_id": floor.script.cold_transfer})
    await caller.next("transfer_connected", transfer_id=ack["transfer_id"], kind="cold")
    await caller.state("wrap_up", reason="cold_transfer")
    # Results now, while the lead still talks; the household is settled when they hang up.
    await caller.ok("submit", {"call_id": connected["call_id"], "lead_id": connected["household"]["leads"][0]["id"],
                               "answers": answers_for(floor), "then": "continue"})
    await caller.next("call_connected")  # the next lead, while the first talks to the hotline
    await far_end.hang_up(f"lead-{connected['call_id']}")
    await caller.next("transfer_ended", transfer_id=ack["transfer_id"])
    assert (await settled(product, numbers[0], campaign)).status is HouseholdStatus.COMPLETED


async def test_a_transfer_must_be_one_of_the_scripts(product, floor, callers):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.POWER, [phone(PERSON)])
    await caller.ok("start")
    await caller.state("on_call")
    for payload, error_id in (({"transfer_id": 999999}, "no-such-transfer"), ({"transfer_id": "1"}, "invalid-payload"),
                              ({}, "invalid-payload")):
        ack = await caller.call("transfer", payload)
        assert ack["error"]["id"] == error_id
    ack = await caller.call("kick", {"party": "caller"})
    assert ack["error"]["id"] == "no-transfer"
    await caller.ok("hangup")


async def test_an_empty_queue_ends_the_session(product, floor, callers):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.PREVIEW, [])
    await caller.ok("start")
    assert (await caller.next("session_ended"))["reason"] == "out_of_leads"


async def test_predictive_callers_are_sent_home_when_nothing_is_left(product, floor, callers):
    _, _, caller = await one_caller(product, floor, callers, DialerMode.PREDICTIVE, [])
    await caller.ok("start")
    await caller.state("on_hold")
    assert (await caller.next("session_ended"))["reason"] == "out_of_leads"
