"""/v1/leads and /v1/households: read, search by phone in any form, correct lead fields."""
from __future__ import annotations

from tests.api import samples


async def test_a_household_shows_its_status_and_leads(any_api):
    household = await samples.household(any_api, phone="+12125550001", leads=(
        {"first_name": "Ada", "last_name": "Lovelace"}, {"first_name": "Charles", "last_name": "Babbage"}))
    assert household["phone"] == "+12125550001"
    assert household["status"] == "not-called"
    assert household["attempts"] == 0
    assert [lead["first_name"] for lead in household["leads"]] == ["Ada", "Charles"]
    lead = await any_api.get(f"/v1/leads/{household['leads'][0]['id']}")
    assert household["leads"][0]["uri"] == lead["uri"]
    assert lead["household_id"] == household["id"] and lead["phone"] == "+12125550001"


async def test_search_by_phone_in_any_common_form(any_api):
    wanted = await samples.household(any_api, phone="+12125550123")
    await samples.household(any_api, phone="+12125553000", campaign_id=wanted["campaign_id"])
    for query in ("(212) 555-0123", "212.555.0123", "+1 212 555 0123", "12125550123"):
        leads = await any_api.get("/v1/leads", params={"phone": query})
        assert [lead["household_id"] for lead in leads["resources"]] == [wanted["id"]], query
        households = await any_api.get("/v1/households", params={"phone": query})
        assert [h["id"] for h in households["resources"]] == [wanted["id"]], query
    status, body, _ = await any_api.call("GET", "/v1/leads", params={"phone": "call me maybe"})
    assert status == 400
    assert body["error"]["details"]["parameters"] == {"phone": "not a phone number"}


async def test_lead_fields_are_corrected_and_custom_values_checked(any_api):
    await samples.lead_field(any_api, name="ward")
    lead = await samples.lead(any_api, custom_fields={"ward": "7"})
    changed = await any_api.patch(f"/v1/leads/{lead['id']}", {
        "last_name": "King", "email": "ada@example.org", "status": "completed", "custom_fields": {"ward": None}})
    assert (changed["last_name"], changed["status"], changed["custom_fields"]) == ("King", "completed", {})
    status, body, _ = await any_api.call("PATCH", f"/v1/leads/{lead['id']}", json={
        "custom_fields": {"ward": {"nested": True}}, "phone": "+12125550000", "status": "gone"})
    assert status == 422
    assert body["error"]["details"]["fields"] == {
        "custom_fields": "ward: must be text up to 2000 characters, a number, true/false or null",
        "phone": "read-only field",
        "status": "must be one of open, completed",
    }
    status, body, _ = await any_api.call("PATCH", f"/v1/leads/{lead['id']}", json={
        "custom_fields": {"shoe_size": "9", "ward": "8"}, "first_name": "Ann"})
    assert status == 422
    assert body["error"]["details"]["fields"] == {
        "custom_fields.shoe_size": "no such custom lead field in this account"}
    assert await any_api.get(f"/v1/leads/{lead['id']}") == changed


async def test_filters(api):
    first = await samples.household(api, phone="+12125550001", leads=({"first_name": "A", "external_id": "x-1"},))
    second = await samples.household(api, phone="+12125550002", leads=({"first_name": "B", "status": "completed"},))

    async def firsts(path, **params):
        return [r.get("first_name", r.get("phone")) for r in (await api.get(path, params=params))["resources"]]

    assert await firsts("/v1/leads", campaign_id=str(first["campaign_id"])) == ["A"]
    assert await firsts("/v1/leads", external_id="x-1") == ["A"]
    assert await firsts("/v1/leads", status="completed") == ["B"]
    assert await firsts("/v1/leads", household_id=str(second["id"])) == ["B"]
    assert await firsts("/v1/households", campaign_id=str(second["campaign_id"])) == ["+12125550002"]
    assert await firsts("/v1/households", status="not-called") == ["+12125550001", "+12125550002"]


async def test_listed_households_show_their_own_leads(any_api):
    first = await samples.household(any_api, phone="+12125550001", leads=({"first_name": "Ada"}, {"first_name": "Bea"}))
    second = await samples.household(any_api, phone="+12125550002", leads=({"first_name": "Cy"},),
                                      campaign_id=first["campaign_id"])
    listed = await any_api.get("/v1/households")
    assert {h["id"]: [lead["first_name"] for lead in h["leads"]] for h in listed["resources"]} == {
        first["id"]: ["Ada", "Bea"], second["id"]: ["Cy"]}
    assert listed["resources"] == [first, second]
