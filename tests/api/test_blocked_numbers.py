"""/v1/blocked_numbers: single and bulk, account-wide or per campaign; households follow at once."""
from __future__ import annotations

from realtime.store.models import Household

PHONES = ["+12125550100", "+12125550101", "+12125550102"]


async def campaign_with_households(api, name: str = "Vote") -> int:
    campaign_id = (await api.post("/v1/campaigns", {"name": name, "dialer_mode": "power"}))["id"]
    async with api.store.transaction() as session:
        session.add_all([Household(account_id=api.alice.account_id, campaign_id=campaign_id, phone=phone,
                                   position=n) for n, phone in enumerate(PHONES)])
    return campaign_id


async def flags(api, campaign_id: int) -> dict[str, tuple[bool, bool]]:
    body = await api.get(f"/v1/households?campaign_id={campaign_id}")
    return {h["phone"]: (h["blocked_account"], h["blocked_campaign"]) for h in body["resources"]}


async def test_block_one_number_account_wide_and_unblock_it(any_api):
    first, second = await campaign_with_households(any_api), await campaign_with_households(any_api, "Other")
    entry = await any_api.post("/v1/blocked_numbers", {"phone": "(212) 555-0101"})
    assert entry["phone"] == "+12125550101" and entry["campaign_id"] is None
    for campaign_id in (first, second):
        assert (await flags(any_api, campaign_id))["+12125550101"] == (True, False)

    status, body, _ = await any_api.call("POST", "/v1/blocked_numbers", json={"phone": "212-555-0101"})
    assert status == 409 and body["error"]["id"] == "already-blocked" and body["error"]["details"]["id"] == entry["id"]

    listed = await any_api.get("/v1/blocked_numbers?phone=212.555.0101")
    assert [e["id"] for e in listed["resources"]] == [entry["id"]]
    status, body, _ = await any_api.call("GET", "/v1/blocked_numbers?phone=call-me")
    assert status == 400 and "phone" in str(body["error"]["details"])

    await any_api.delete(f"/v1/blocked_numbers/{entry['id']}")
    assert (await flags(any_api, first))["+12125550101"] == (False, False)
    assert (await any_api.get("/v1/blocked_numbers"))["resources"] == []


async def test_bulk_blocks_per_campaign_all_or_nothing(any_api):
    first, second = await campaign_with_households(any_api), await campaign_with_households(any_api, "Other")
    status, body, _ = await any_api.call("POST", "/v1/blocked_numbers/bulk", json={
        "phones": ["212 555 0100", "call me", "(123) 456-7890"], "campaign_id": first})
    assert status == 422
    assert body["error"]["details"]["fields"] == {
        "phones[1]": "invalid phone number 'call me': not a phone number",
        "phones[2]": "invalid phone number '(123) 456-7890': not a valid number",
    }
    assert (await any_api.get("/v1/blocked_numbers"))["resources"] == []

    result = await any_api.ok("POST", "/v1/blocked_numbers/bulk", json={
        "phones": ["212 555 0100", "212.555.0102", "+1 212 555 0100"], "campaign_id": first})
    assert result == {"blocked": 2, "already_blocked": 0}
    assert await flags(any_api, first) == {
        "+12125550100": (False, True), "+12125550101": (False, False), "+12125550102": (False, True)}
    assert not any(blocked for pair in (await flags(any_api, second)).values() for blocked in pair)
    listed = await any_api.get(f"/v1/blocked_numbers?campaign_id={first}")
    assert sorted(e["phone"] for e in listed["resources"]) == ["+12125550100", "+12125550102"]
    assert (await any_api.get("/v1/blocked_numbers?account_wide=true"))["resources"] == []

    again = await any_api.ok("POST", "/v1/blocked_numbers/bulk", json={"phones": ["2125550100"], "campaign_id": first})
    assert again == {"blocked": 0, "already_blocked": 1}
    undone = await any_api.ok("POST", "/v1/blocked_numbers/unblock", json={
        "phones": ["2125550100", "2125550102"], "campaign_id": first})
    assert undone == {"unblocked": 2}
    assert await flags(any_api, first) == {phone: (False, False) for phone in PHONES}


async def test_entries_and_campaigns_of_other_accounts_are_out_of_reach(any_api):
    campaign_id = await campaign_with_households(any_api)
    entry = await any_api.post("/v1/blocked_numbers", {"phone": "2125550100", "campaign_id": campaign_id})
    status, body, _ = await any_api.call("DELETE", f"/v1/blocked_numbers/{entry['id']}", as_=any_api.bob)
    assert status == 404
    assert (await any_api.get("/v1/blocked_numbers", as_=any_api.bob))["resources"] == []
    status, body, _ = await any_api.call("POST", "/v1/blocked_numbers/bulk", as_=any_api.bob,
                                         json={"phones": ["2125550101"], "campaign_id": campaign_id})
    assert status == 422 and body["error"]["details"]["fields"] == {
        "campaign_id": f"no campaign {campaign_id} in this account"}
    assert (await flags(any_api, campaign_id))["+12125550100"] == (False, True)
