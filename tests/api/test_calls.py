"""/v1/call without a calling engine: starting, reading, changing and stopping jobs, every bad
field named, forms, another account's jobs, and the notifications written with the change.
(The jobs' calls, callers and notifications on a live engine: tests/callflow/test_call_jobs.py.)"""
from __future__ import annotations

from sqlalchemy import func, select

from realtime.store.models import BlockedNumber, Campaign, WebhookDelivery
from tests.api import samples

URL = "https://crm.example/calls/:id/callers/:caller_id/state_change"
JOB = {"dialer_type": "power", "from": "+12025550100", "call_state_url": URL, "phone_number": ["+12025550142"]}


async def count(api, model, **where) -> int:
    async with api.store.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).filter_by(**where))


async def test_a_job_is_started_read_changed_and_listed(any_api):
    job = await any_api.post("/v1/call", {**JOB, "dialer_type": "Predictive", "phone_number": [
        12025550142, "(202) 555-0143", "+12025550142"], "name": "Evening", "wrap_up_seconds": 5})
    assert (job["state"], job["dialer_type"], job["from"], job["name"]) == ("running", "predictive", "+12025550100",
                                                                            "Evening")
    assert job["counts"] == {"numbers": 2, "remaining": 2, "dialled": 0, "answered": 0, "connected": 0,
                             "abandoned": 0, "callers": 0}
    assert job["numbers"]["added"] == 2 and job["numbers"]["duplicates"] == 1
    assert job["report_uri"].endswith(f"/v1/reports/{job['id']}")
    assert {a["name"] for a in job["actions"]} == {"update", "stop", "callers", "add_caller"}
    # The job is a campaign of the same id, with the campaigns' defaults.
    campaign = await any_api.get(f"/v1/campaigns/{job['id']}")
    assert (campaign["name"], campaign["dialer_mode"], campaign["caller_id"]) == ("Evening", "predictive",
                                                                                  "+12025550100")
    assert campaign["calling_hours_start"] == job["calling_hours_start"] == "09:00"

    changed = await any_api.patch(f"/v1/call/{job['id']}", {"ring_timeout": 30, "from": "(202) 555-0199",
                                                             "wrap_up_seconds": None, "amd": True})
    assert (changed["ring_timeout"], changed["from"], changed["wrap_up_seconds"], changed["amd"]) == (
        30, "+12025550199", None, True)
    assert await any_api.get(f"/v1/call/{job['id']}") == changed
    listed = await any_api.get("/v1/call", params={"state": "running"})
    assert [j["id"] for j in listed["resources"]] == [job["id"]]
    assert (await any_api.get("/v1/call", params={"state": "ended"}))["total"] == 0


async def test_a_form_starts_a_job_as_json_does(api):
    form = [("dialer_type", "Preview"), ("from", "2025550100"), ("call_state_url", URL), ("ring_timeout", "15"),
            ("amd", "true"), ("phone_number[]", "12025550142"), ("phone_number[]", "+12025550143")]
    job = await api.post("/v1/call", None, data=form)
    assert (job["dialer_type"], job["ring_timeout"], job["amd"], job["counts"]["numbers"]) == ("preview", 15, True, 2)
    status, body, _ = await api.call("POST", "/v1/call", data=[*form[:3], ("amd", "perhaps"), ("amd", "no")])
    assert status == 422 and body["error"]["details"]["fields"]["amd"] == "given more than once"
    status, body, _ = await api.call("POST", "/v1/call", data=b"dialer_type", headers={
        **api.alice.headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert (status, body["error"]["id"]) == (400, "malformed-body")


async def test_bad_input_names_every_bad_field_and_starts_nothing(any_api):
    status, body, _ = await any_api.call("POST", "/v1/call", json={
        "dialer_type": "turbo", "from": "not a number", "call_state_url": "http://10.0.0.7/hooks",
        "phone_number": ["+12025550142", "12", {"phone": 1}], "ring_timeout": 1, "colour": "red"})
    assert status == 422 and body["error"]["id"] == "invalid"
    assert body["error"]["details"]["fields"] == {
        "dialer_type": "must be one of preview, power, predictive",
        "from": "not a phone number",
        "call_state_url": "10.0.0.7 is a private address: notifications go to public addresses only",
        "phone_number[1]": "not a valid number",
        "phone_number[2]": "must be a phone number (text or digits)",
        "ring_timeout": "must be between 5 and 300",
        "colour": "unknown field",
    }
    status, body, _ = await any_api.call("POST", "/v1/call", json={"dialer_type": "power"})
    assert set(body["error"]["details"]["fields"]) == {"from", "call_state_url", "phone_numbers_url", "phone_number",
                                                      "list_id"}
    assert body["error"]["details"]["fields"]["list_id"].startswith("a job needs numbers")
    status, body, _ = await any_api.call("POST", "/v1/call", json={
        **JOB, "call_state_url": "ftp://crm.example/x", "phone_numbers_url": "http://crm.example/numbers"})
    assert body["error"]["details"]["fields"] == {"call_state_url": "must be an http(s) URL",
                                                  "phone_numbers_url": "must be an https:// URL"}
    status, body, _ = await any_api.call("POST", "/v1/call", json={
        **JOB, "phone_numbers_url": "https://127.0.0.1/numbers"})
    assert "loopback" in body["error"]["details"]["fields"]["phone_numbers_url"]
    for broken in (b"[1, 2]", b"{", '{"dialer_type": "power\x00"}'.encode()):
        status, body, _ = await any_api.call("POST", "/v1/call", data=broken,
                                             headers={**any_api.alice.headers, "Content-Type": "application/json"})
        assert status in (400, 422), (broken, status, body)
    status, body, _ = await any_api.call("POST", "/v1/call", data=b"<job/>",
                                         headers={**any_api.alice.headers, "Content-Type": "application/xml"})
    assert (status, body["error"]["id"]) == (415, "unsupported-media-type")
    assert await count(any_api, Campaign, account_id=any_api.alice.account_id) == 0


async def test_references_must_be_the_accounts_and_a_list_must_be_imported(api):
    theirs = await samples.recording(api, as_=api.bob)
    status, body, _ = await api.call("POST", "/v1/call", json={
        **JOB, "voicemail_recording_id": theirs["id"], "list_id": 987654})
    assert body["error"]["details"]["fields"] == {
        "voicemail_recording_id": f"no recording {theirs['id']} in this account",
        "list_id": "no list 987654 in this account"}


async def test_another_accounts_job_is_not_found(any_api):
    job = await any_api.post("/v1/call", JOB)
    for method, path, body in (("GET", "", None), ("PATCH", "", {"name": "x"}), ("DELETE", "", None),
                               ("GET", "/callers", None), ("POST", "/callers", {"caller_id": "a"}),
                               ("GET", "/callers/a", None), ("POST", "/callers/a/dial", {}),
                               ("POST", "/callers/a/ready", {}), ("DELETE", "/callers/a", None)):
        status, answer, _ = await any_api.call(method, f"/v1/call/{job['id']}{path}", json=body, as_=any_api.bob)
        assert (status, answer["error"]["id"]) == (404, "not-found"), (method, path)
    assert (await any_api.get("/v1/call", as_=any_api.bob))["total"] == 0
    assert (await any_api.get(f"/v1/call/{job['id']}"))["state"] == "running"


async def test_stopping_a_job_without_callers_ends_it_with_its_notification(any_api):
    job = await any_api.post("/v1/call", JOB)
    await any_api.delete(f"/v1/call/{job['id']}")
    ended = await any_api.get(f"/v1/call/{job['id']}")
    assert (ended["state"], ended["end_reason"]) == ("ended", "stopped") and ended["ended_at"]
    assert (await any_api.get(f"/v1/campaigns/{job['id']}"))["active"] is False
    async with any_api.store.sessions() as session:
        [delivery] = await session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.subject == f"call-job:{job['id']}"))
    assert delivery.event == "call.job_ended"
    assert delivery.url == f"https://crm.example/calls/{job['id']}/callers/-/state_change"
    assert delivery.payload == {"event": "job_ended", "job_id": job["id"], "call_id": None, "caller_id": None,
                                "sequence": 1, "at": delivery.payload["at"], "reason": "stopped"}
    await any_api.delete(f"/v1/call/{job['id']}")  # again: nothing more happens
    status, body, _ = await any_api.call("PATCH", f"/v1/call/{job['id']}", json={"name": "Again"})
    assert (status, body["error"]["id"]) == (409, "job-ended")
    status, body, _ = await any_api.call("POST", f"/v1/call/{job['id']}/callers", json={"caller_id": "a"})
    assert (status, body["error"]["id"]) == (409, "job-not-running")
    assert await count(any_api, WebhookDelivery, subject=f"call-job:{job['id']}") == 1


async def test_blocked_numbers_are_queued_never_dialled_and_reported(any_api):
    async with any_api.store.transaction() as session:
        session.add(BlockedNumber(account_id=any_api.alice.account_id, phone="+12025550143"))
    job = await any_api.post("/v1/call", {**JOB, "phone_number": ["+12025550142", "+12025550143"]})
    assert job["counts"]["numbers"] == 2 and job["counts"]["remaining"] == 1
    assert job["numbers"]["rejected_numbers"] == [{"phone": "+12025550143", "reason": "blocked"}]
    async with any_api.store.sessions() as session:
        [delivery] = await session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.subject == f"call-job:{job['id']}"))
    assert delivery.event == "call.number_rejected"
    assert (delivery.payload["phone"], delivery.payload["reason"]) == ("+12025550143", "blocked")


async def test_callers_need_the_engine_but_bad_input_is_refused_first(api):
    job = await api.post("/v1/call", JOB)
    status, body, _ = await api.call("POST", f"/v1/call/{job['id']}/callers", json={
        "caller_id": "has space", "phone": "not a phone", "extra": 1})
    assert status == 422 and set(body["error"]["details"]["fields"]) == {"caller_id", "phone", "extra"}
    status, body, _ = await api.call("POST", f"/v1/call/{job['id']}/callers", json={"caller_id": "ann"})
    assert (status, body["error"]["id"]) == (503, "engine-unavailable")
    assert (await api.get(f"/v1/call/{job['id']}/callers"))["total"] == 0  # nothing changed
    status, body, _ = await api.call("GET", f"/v1/call/{job['id']}/callers/ann")
    assert (status, body["error"]["id"]) == (404, "not-found")
    status, body, _ = await api.call("POST", f"/v1/call/{job['id']}/callers/ann/transfer", json={"phone": "12"})
    assert status == 422 and body["error"]["details"]["fields"] == {"phone": "not a valid number"}
