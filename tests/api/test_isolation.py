"""Another account's ids are never found: every resource answers 404, and changes nothing."""
from __future__ import annotations

import pytest

from tests.api import samples

RESOURCES = {
    "campaigns": samples.campaign,
    "callers": samples.caller,
    "caller_groups": samples.caller_group,
    "scripts": samples.script,
    "lead_fields": samples.lead_field,
    "recordings": samples.recording,
    "users": samples.user,
    "leads": samples.lead,
    "households": samples.household,
}


@pytest.mark.parametrize("name", list(RESOURCES))
async def test_another_accounts_item_is_not_found(api, name):
    item = await RESOURCES[name](api, as_=api.alice)
    path = f"/v1/{name}/{item['id']}"
    document = api.document.document if api.document else (await api.get("/v1/openapi.json", headers={}))
    operations = document["paths"][f"/v1/{name}/{{id}}"]
    for method in operations:
        status, body, _ = await api.call(method.upper(), path, as_=api.bob, json={} if method == "patch" else None)
        assert (status, body["error"]["id"]) == (404, "not-found"), (method, body)
    listed = await api.get(f"/v1/{name}", as_=api.bob)
    assert item["id"] not in [r["id"] for r in listed["resources"]]
    assert await api.get(path) == item  # unchanged for its owner


async def test_isolation_holds_on_postgresql_too(any_api):
    item = await samples.campaign(any_api, as_=any_api.alice)
    for method in ("GET", "PATCH", "DELETE"):
        status, _, _ = await any_api.call(method, f"/v1/campaigns/{item['id']}", as_=any_api.bob, json={})
        assert status == 404
    assert (await any_api.get(f"/v1/campaigns/{item['id']}"))["name"] == item["name"]


async def test_references_to_another_accounts_rows_are_refused(api):
    theirs = await samples.campaign(api, as_=api.bob)
    their_script = await samples.script(api, as_=api.bob)
    their_group = await samples.caller_group(api, as_=api.bob)
    their_recording = await samples.recording(api, as_=api.bob)

    status, body, _ = await api.call("POST", "/v1/campaigns", json={
        "name": "Mine", "dialer_mode": "power", "script_id": their_script["id"],
        "voicemail_recording_id": their_recording["id"]})
    assert status == 422
    assert set(body["error"]["details"]["fields"]) == {"script_id", "voicemail_recording_id"}

    status, body, _ = await api.call("POST", "/v1/callers", json={
        "username": "ann", "password": "long enough", "campaign_id": theirs["id"], "caller_group_id": their_group["id"]})
    assert status == 422
    assert set(body["error"]["details"]["fields"]) == {"campaign_id", "caller_group_id"}

    status, body, _ = await api.call("POST", "/v1/caller_groups", json={"name": "G", "campaign_id": theirs["id"]})
    assert status == 422
    assert set(body["error"]["details"]["fields"]) == {"campaign_id"}
