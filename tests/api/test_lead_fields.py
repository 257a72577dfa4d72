"""/v1/lead_fields: custom lead fields; renames and deletions reach every lead."""
from __future__ import annotations

from tests.api import samples


async def test_create_rename_and_delete_follow_the_leads(any_api):
    field = await samples.lead_field(any_api, name="ward")
    lead = await samples.lead(any_api, custom_fields={"ward": "7", "other": "kept"})
    assert lead["custom_fields"] == {"ward": "7", "other": "kept"}

    renamed = await any_api.patch(f"/v1/lead_fields/{field['id']}", {"name": "precinct"})
    assert renamed["name"] == "precinct"
    assert (await any_api.get(f"/v1/leads/{lead['id']}"))["custom_fields"] == {"precinct": "7", "other": "kept"}

    await any_api.delete(f"/v1/lead_fields/{field['id']}")
    assert (await any_api.get(f"/v1/leads/{lead['id']}"))["custom_fields"] == {"other": "kept"}
    assert (await any_api.get("/v1/lead_fields"))["total"] == 0


async def test_names_are_unique_per_account(api):
    first = await samples.lead_field(api, name="ward")
    second = await samples.lead_field(api, name="county")
    status, body, _ = await api.call("POST", "/v1/lead_fields", json={"name": "ward"})
    assert (status, body["error"]["id"]) == (409, "field-name-taken")
    status, body, _ = await api.call("PATCH", f"/v1/lead_fields/{second['id']}", json={"name": "ward"})
    assert (status, body["error"]["id"]) == (409, "field-name-taken")
    assert (await samples.lead_field(api, as_=api.bob, name="ward"))["name"] == "ward"
    listed = await api.get("/v1/lead_fields", params={"name": "ward"})
    assert [f["id"] for f in listed["resources"]] == [first["id"]]


async def test_validation(api):
    status, body, _ = await api.call("POST", "/v1/lead_fields", json={"name": "x" * 101, "label": "X"})
    assert status == 422
    assert body["error"]["details"]["fields"] == {"name": "must be at most 100 characters", "label": "unknown field"}
