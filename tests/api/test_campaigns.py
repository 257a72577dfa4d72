"""/v1/campaigns: CRUD, filters, paging, validation and account isolation."""
from __future__ import annotations

from realtime.store.models import LeadList, ListStatus
from tests.api import samples

NEW = {"name": "Get out the vote", "dialer_mode": "power"}


async def test_create_read_update_delete(any_api):
    created = await any_api.post("/v1/campaigns", NEW)
    assert created["name"] == "Get out the vote"
    assert created["dialer_mode"] == "power"
    assert created["calling_hours_start"] == "09:00"
    assert created["max_lines"] is None  # no cap of its own: a large floor is not throttled
    assert created["uri"].endswith(f"/v1/campaigns/{created['id']}")
    assert {a["name"] for a in created["actions"]} == {"update", "delete"}

    read = await any_api.get(f"/v1/campaigns/{created['id']}")
    assert read == created

    changed = await any_api.patch(f"/v1/campaigns/{created['id']}", {
        "dialer_mode": "predictive", "calling_hours_end": "20:30", "time_zone": "America/Chicago",
        "acceptable_abandon_rate": 0.025, "max_lines": 40,
    })
    assert changed["dialer_mode"] == "predictive"
    assert changed["calling_hours_end"] == "20:30"
    assert changed["acceptable_abandon_rate"] == 0.025
    assert changed["name"] == "Get out the vote"
    assert (await any_api.get(f"/v1/campaigns/{created['id']}")) == changed

    uncapped = await any_api.patch(f"/v1/campaigns/{created['id']}", {"max_lines": None})
    assert uncapped["max_lines"] is None and uncapped["dialer_mode"] == "predictive"

    await any_api.delete(f"/v1/campaigns/{created['id']}")
    status, body, _ = await any_api.call("GET", f"/v1/campaigns/{created['id']}")
    assert status == 404 and body["error"]["id"] == "not-found"


async def test_filters(api):
    await api.post("/v1/campaigns", {"name": "Spring drive", "dialer_mode": "preview"})
    await api.post("/v1/campaigns", {"name": "Spring 100% push", "dialer_mode": "power", "active": False})
    await api.post("/v1/campaigns", {"name": "Autumn", "dialer_mode": "predictive"})

    async def names(**params):
        return [c["name"] for c in (await api.get("/v1/campaigns", params=params))["resources"]]

    assert await names(name="Spring") == ["Spring drive", "Spring 100% push"]
    assert await names(name="100%") == ["Spring 100% push"]
    assert await names(dialer_mode="predictive") == ["Autumn"]
    assert await names(active="false") == ["Spring 100% push"]
    assert await names(active="true", name="Spring") == ["Spring drive"]


async def test_script_and_recordings_of_the_account_can_be_attached(api):
    script = await samples.script(api)
    recording = await samples.recording(api)
    campaign = await api.post("/v1/campaigns", {
        **NEW, "script_id": script["id"], "voicemail_recording_id": recording["id"],
        "safe_harbor_recording_id": recording["id"], "leave_voicemail": True,
    })
    assert (campaign["script_id"], campaign["voicemail_recording_id"]) == (script["id"], recording["id"])
    detached = await api.patch(f"/v1/campaigns/{campaign['id']}", {"script_id": None})
    assert detached["script_id"] is None
    status, body, _ = await api.call("PATCH", f"/v1/campaigns/{campaign['id']}", json={"script_id": 987654})
    assert status == 422
    assert body["error"]["details"]["fields"] == {"script_id": "no script 987654 in this account"}


async def test_overnight_calling_hours_and_time_zones(api):
    campaign = await api.post("/v1/campaigns", {**NEW, "calling_hours_start": "18:00", "calling_hours_end": "02:30",
                                                "time_zone": "Europe/Paris"})
    assert (campaign["calling_hours_start"], campaign["calling_hours_end"], campaign["time_zone"]) == (
        "18:00", "02:30", "Europe/Paris")
    status, body, _ = await api.call("PATCH", f"/v1/campaigns/{campaign['id']}",
                                     json={"calling_hours_end": "2:30", "time_zone": "../../etc/passwd"})
    assert status == 422
    assert set(body["error"]["details"]["fields"]) == {"calling_hours_end", "time_zone"}
    assert (await api.get(f"/v1/campaigns/{campaign['id']}")) == campaign


async def test_a_campaign_whose_list_imports_is_not_deleted(any_api):
    campaign = await any_api.post("/v1/campaigns", NEW)
    async with any_api.store.transaction() as session:
        lead_list = LeadList(account_id=any_api.alice.account_id, campaign_id=campaign["id"], name="November",
                             column_mapping={}, status=ListStatus.QUEUED)
        session.add(lead_list)
    for status in (ListStatus.QUEUED, ListStatus.IMPORTING):
        async with any_api.store.transaction() as session:
            (await session.get(LeadList, lead_list.id)).status = status
        code, body, _ = await any_api.call("DELETE", f"/v1/campaigns/{campaign['id']}")
        assert (code, body["error"]["id"]) == (409, "list-importing"), body
        assert body["error"]["details"]["list_id"] == lead_list.id
        assert await any_api.get(f"/v1/campaigns/{campaign['id']}") == campaign

    async with any_api.store.transaction() as session:
        (await session.get(LeadList, lead_list.id)).status = ListStatus.READY
    await any_api.delete(f"/v1/campaigns/{campaign['id']}")
