"""Who may call /v1: API key and secret, as query parameters or HTTP Basic."""
from __future__ import annotations

from tests.api.conftest import basic


async def test_basic_credentials_and_query_parameters_both_work(any_api):
    await any_api.post("/v1/campaigns", {"name": "Mine", "dialer_mode": "preview"})
    by_basic = await any_api.get("/v1/campaigns")
    by_query = await any_api.get("/v1/campaigns", headers={},
                                 params={"api_key": any_api.alice.api_key, "api_auth": any_api.alice.api_auth})
    assert [c["name"] for c in by_basic["resources"]] == ["Mine"]
    assert by_query["resources"] == by_basic["resources"]


async def test_missing_wrong_secret_and_unknown_key_are_refused(any_api):
    key, secret = any_api.alice.api_key, any_api.alice.api_auth
    attempts = [
        {"headers": {}},
        {"headers": {"Authorization": basic(key, "not-the-secret")}},
        {"headers": {"Authorization": basic("ak_nobody", secret)}},
        {"headers": {"Authorization": basic(key, any_api.bob.api_auth)}},
        {"headers": {"Authorization": "Basic !!!not-base64"}},
        {"headers": {"Authorization": "Bearer " + secret}},
        {"headers": {}, "params": {"api_key": key}},
        {"headers": {}, "params": {"api_key": key, "api_auth": "not-the-secret"}},
        {"headers": {}, "params": {"api_key": "ak_nobody", "api_auth": secret}},
    ]
    for attempt in attempts:
        status, body, _ = await any_api.call("GET", "/v1/campaigns", **attempt)
        assert status == 401, attempt
        assert body["error"]["id"] == "unauthorized"
        assert body["error"]["message"]


async def test_refused_credentials_change_nothing(api):
    status, _, _ = await api.call("POST", "/v1/campaigns", json={"name": "X", "dialer_mode": "power"},
                                  headers={"Authorization": basic(api.alice.api_key, "wrong")})
    assert status == 401
    assert (await api.get("/v1/campaigns"))["total"] == 0


async def test_links_never_carry_the_secret(api):
    for i in range(3):
        await api.post("/v1/campaigns", {"name": f"C{i}", "dialer_mode": "power"})
    body = await api.get("/v1/campaigns", headers={},
                         params={"api_key": api.alice.api_key, "api_auth": api.alice.api_auth, "limit": "1"})
    links = [body["uri"], body["next_page"], body["first_page"], body["last_page"],
             *(r["uri"] for r in body["resources"]), *(a["uri"] for r in body["resources"] for a in r["actions"])]
    assert all(link and "api_auth" not in link and api.alice.api_auth not in link for link in links), links


async def test_the_root_and_the_document_need_no_credentials(api):
    root = await api.get("/v1", headers={})
    names = {r["name"] for r in root["resources"]}
    assert {"campaigns", "callers", "caller_groups", "scripts", "lead_fields", "leads", "households",
            "recordings", "users"} <= names
    assert all(r["uri"].endswith(f"/v1/{r['name']}") for r in root["resources"])
    assert root["openapi"].endswith("/v1/openapi.json")
    document = await api.get("/v1/openapi.json", headers={})
    assert document["openapi"].startswith("3.1")
