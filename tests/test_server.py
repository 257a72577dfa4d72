"""The assembled application: /healthz over each store and bus the product supports."""
from __future__ import annotations

import asyncio

import pytest

from realtime.config import load_settings
from realtime.server import create_app
from realtime.store import migrate


async def start(aiohttp_client, tmp_path, **overrides):
    settings = load_settings({"data_dir": str(tmp_path), **overrides}, environ={})
    await migrate.upgrade(settings.database_url)
    return await aiohttp_client(create_app(settings))


async def test_healthz_on_the_embedded_default(aiohttp_client, tmp_path):
    client = await start(aiohttp_client, tmp_path)
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 200, body
    assert body["status"] == "ok"
    assert body["components"]["store"]["status"] == "up"
    assert "SQLite" in body["components"]["store"]["detail"]
    assert body["components"]["bus"]["status"] == "up"
    assert body["components"]["telephony"]["status"] == "up"
    assert body["components"]["telephony"]["detail"].startswith("built-in PBX simulator at http://127.0.0.1:")
    assert set(body["components"]) == {"store", "bus", "telephony"}


async def test_healthz_is_503_while_asterisk_is_unreachable(aiohttp_client, tmp_path, unused_port):
    client = await start(aiohttp_client, tmp_path, ari_url=f"http://127.0.0.1:{unused_port()}/ari")
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 503
    assert body["status"] == "unavailable"
    assert body["components"]["telephony"]["status"] in ("down", "starting")
    assert body["components"]["store"]["status"] == "up"


async def test_a_web_process_leaves_telephony_to_the_engines(aiohttp_client, tmp_path):
    client = await start(aiohttp_client, tmp_path, role="web")
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 200
    assert body["components"]["telephony"]["status"] == "not-configured"


@pytest.mark.postgres
@pytest.mark.redis
async def test_healthz_on_postgresql_and_redis(aiohttp_client, tmp_path, postgres_url, redis_url):
    client = await start(aiohttp_client, tmp_path, database_url=postgres_url, redis_url=redis_url)
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 200, body
    assert "PostgreSQL" in body["components"]["store"]["detail"]
    assert body["components"]["bus"]["status"] == "up"


async def test_index_page_points_to_the_api_and_status(aiohttp_client, tmp_path):
    client = await start(aiohttp_client, tmp_path)
    response = await client.get("/")
    text = await response.text()
    assert response.status == 200
    assert 'href="/v1"' in text and "/healthz" in text


async def test_the_api_is_served_and_refuses_strangers(aiohttp_client, tmp_path):
    client = await start(aiohttp_client, tmp_path)
    index = await (await client.get("/v1")).json()
    assert any(r["name"] == "campaigns" for r in index["resources"])
    response = await client.get("/v1/campaigns")
    assert response.status == 401
    assert (await response.json())["error"]["id"] == "unauthorized"


async def wait_for_health(client, expected_status: int, timeout: float = 20.0) -> dict:
    """Poll /healthz until it answers ``expected_status``: health is a state, not an event."""
    async with asyncio.timeout(timeout):
        while True:
            response = await client.get("/healthz")
            body = await response.json()
            if response.status == expected_status:
                return body
            await asyncio.sleep(0.05)


async def test_redis_restart_shows_bus_down_then_up_without_restarting(aiohttp_client, tmp_path, redis_server):
    client = await start(aiohttp_client, tmp_path, redis_url=redis_server.url)
    body = await wait_for_health(client, 200)
    assert body["components"]["bus"]["status"] == "up"

    await redis_server.kill()
    body = await wait_for_health(client, 503)
    assert body["components"]["bus"]["status"] == "down"
    assert str(redis_server.port) in body["components"]["bus"]["detail"]

    await redis_server.start()
    body = await wait_for_health(client, 200)
    assert body["components"]["bus"]["status"] == "up"


async def test_an_uploaded_list_is_imported_and_its_webhook_delivered(aiohttp_client, aiohttp_server, tmp_path):
    import aiohttp
    from aiohttp import web

    from realtime.store.accounts import create_account
    from realtime.store.database import Store
    from realtime.webhooks import verify_signature

    received: asyncio.Queue = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put((request.headers["X-Realtime-Signature"], await request.read()))
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    hooks = await aiohttp_server(receiver)

    client = await start(aiohttp_client, tmp_path, allow_private_urls=True)  # the receiver is on 127.0.0.1
    store = Store(f"sqlite:///{tmp_path / 'realtime.sqlite3'}")
    async with store.transaction() as session:
        made = await create_account(session, "Wiring check")
    await store.close()
    auth = {"Authorization": aiohttp.encode_basic_auth(made.api_key, made.api_auth)}

    campaign = await (await client.post("/v1/campaigns", json={"name": "Calls", "dialer_mode": "power"},
                                        headers=auth)).json()
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("name", "Wiring list")
    form.add_field("campaign_id", str(campaign["id"]))
    form.add_field("webhook_url", str(hooks.make_url("/hook")))
    form.add_field("file", "phone,first_name\n(212) 555-0101,Ann\nnot a phone,Bob\n",
                   filename="list.csv", content_type="text/csv")
    response = await client.post("/v1/lists", data=form, headers=auth)
    assert response.status == 202, await response.text()

    signature, body = await asyncio.wait_for(received.get(), 30)
    assert verify_signature(made.api_auth, signature, body)
    assert b'"list.imported"' in body
    lead_list = await (await client.get(f"/v1/lists/{(await response.json())['id']}", headers=auth)).json()
    assert (lead_list["status"], lead_list["rows_imported"], lead_list["rows_rejected"]) == ("ready", 1, 1)
