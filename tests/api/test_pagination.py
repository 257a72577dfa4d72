"""Collections come a page at a time, with links that keep the filters."""
from __future__ import annotations

from yarl import URL


async def test_pages_link_to_each_other_and_keep_filters(any_api):
    for i in range(7):
        await any_api.post("/v1/campaigns", {"name": f"C{i}", "dialer_mode": "power" if i % 2 else "preview"})
    first = await any_api.get("/v1/campaigns", params={"dialer_mode": "preview", "limit": "2"})
    assert first["total"] == 4
    assert [c["name"] for c in first["resources"]] == ["C0", "C2"]
    assert first["prev_page"] is None
    assert URL(first["last_page"]).query["page"] == "2"
    assert first["name"] == "campaigns"
    assert [a["name"] for a in first["actions"]] == ["create"]

    following = URL(first["next_page"])
    assert following.query["dialer_mode"] == "preview" and following.query["limit"] == "2"
    second = await any_api.get(following.path_qs)
    assert [c["name"] for c in second["resources"]] == ["C4", "C6"]
    assert second["next_page"] is None
    assert URL(second["prev_page"]).query["page"] == "1"


async def test_default_and_largest_page_sizes(api):
    body = await api.get("/v1/campaigns")
    assert (body["limit"], body["page"], body["total"], body["resources"]) == (50, 1, 0, [])
    assert body["next_page"] is None and body["prev_page"] is None
    assert (await api.get("/v1/campaigns", params={"limit": "500"}))["limit"] == 500
    status, _, _ = await api.call("GET", "/v1/campaigns", params={"limit": "501"})
    assert status == 400


async def test_a_page_past_the_end_is_empty_and_links_back(api):
    await api.post("/v1/campaigns", {"name": "Only", "dialer_mode": "power"})
    body = await api.get("/v1/campaigns", params={"page": "5"})
    assert body["resources"] == []
    assert URL(body["prev_page"]).query["page"] == "1"
