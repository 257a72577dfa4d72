"""/v1/campaigns: CRUD, filters, paging, validation and account isolation."""
from __future__ import annotations

import pytest

NEW = {"name": "Get out the vote", "dialer_mode": "power"}


async def test_create_read_update_delete(any_api):
    created = await any_api.post("/v1/campaigns", NEW)
    assert created["name"] == "Get out the vote"
    assert created["dialer_mode"] == "power"
    assert created["calling_hours_start"] == "09:00"
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

    await any_api.delete(f"/v1/campaigns/{created['id']}")
    status, body, _ = await any_api.call("GET", f"/v1/campaigns/{created['id']}")
    assert status == 404 and body["error"]["id"] == "not-found"
