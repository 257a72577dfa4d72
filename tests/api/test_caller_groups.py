"""/v1/caller_groups: moving a group moves its callers, in one transaction."""
from __future__ import annotations

from tests.api import samples


async def test_changing_the_groups_campaign_moves_its_callers(any_api):
    first, second = await samples.campaign(any_api), await samples.campaign(any_api, name="Second")
    group = await samples.caller_group(any_api, campaign_id=first["id"])
    members = [await samples.caller(any_api, caller_group_id=group["id"]) for _ in range(2)]
    outsider = await samples.caller(any_api, campaign_id=first["id"])
    assert (await any_api.get(f"/v1/caller_groups/{group['id']}"))["caller_count"] == 2

    moved = await any_api.patch(f"/v1/caller_groups/{group['id']}", {"campaign_id": second["id"]})
    assert moved["campaign_id"] == second["id"]
    for member in members:
        assert (await any_api.get(f"/v1/callers/{member['id']}"))["campaign_id"] == second["id"]
    assert (await any_api.get(f"/v1/callers/{outsider['id']}"))["campaign_id"] == first["id"]


async def test_a_refused_move_moves_nobody(api):
    campaign = await samples.campaign(api)
    group = await samples.caller_group(api, campaign_id=campaign["id"])
    member = await samples.caller(api, caller_group_id=group["id"])
    status, body, _ = await api.call("PATCH", f"/v1/caller_groups/{group['id']}",
                                     json={"campaign_id": 424242, "name": ""})
    assert status == 422
    assert set(body["error"]["details"]["fields"]) == {"name"}  # shape errors come before lookups
    status, body, _ = await api.call("PATCH", f"/v1/caller_groups/{group['id']}", json={"campaign_id": 424242})
    assert status == 422 and set(body["error"]["details"]["fields"]) == {"campaign_id"}
    assert (await api.get(f"/v1/callers/{member['id']}"))["campaign_id"] == campaign["id"]


async def test_crud_and_filters(api):
    campaign = await samples.campaign(api)
    day = await samples.caller_group(api, name="Day", campaign_id=campaign["id"])
    night = await samples.caller_group(api, name="Night")
    listed = await api.get("/v1/caller_groups", params={"campaign_id": str(campaign["id"])})
    assert [g["id"] for g in listed["resources"]] == [day["id"]]
    assert (await api.patch(f"/v1/caller_groups/{night['id']}", {"name": "Late"}))["name"] == "Late"

    member = await samples.caller(api, caller_group_id=day["id"])
    await api.delete(f"/v1/caller_groups/{day['id']}")
    assert (await api.get(f"/v1/callers/{member['id']}"))["caller_group_id"] is None
    assert [g["name"] for g in (await api.get("/v1/caller_groups"))["resources"]] == ["Late"]


async def test_a_listed_group_counts_its_callers(any_api):
    busy, empty = await samples.caller_group(any_api, name="Busy"), await samples.caller_group(any_api, name="Empty")
    for _ in range(3):
        await samples.caller(any_api, caller_group_id=busy["id"])
    listed = await any_api.get("/v1/caller_groups")
    assert {g["id"]: g["caller_count"] for g in listed["resources"]} == {busy["id"]: 3, empty["id"]: 0}
    assert (await any_api.get("/v1/caller_groups", params={"name": "Busy"}))["total"] == 1
