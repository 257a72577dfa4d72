"""/v1/lists: upload, background import with progress and rejections, summary webhook; and
/v1/webhook_deliveries showing what was sent."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from realtime.api import bodies
from realtime.api.lists import setup_list_imports
from realtime.app_keys import SETTINGS
from realtime.webhooks import SIGNATURE_HEADER, WebhookDispatcher, verify_signature
from tests.api.conftest import Api, api_app, api_settings, prepare_store

CSV = "Phone,First Name,Last Name,Ward\n(212) 555-0100,Ann,Arbor,3\nnot a phone,Bob,Baker,4\n212.555.0100,Cid,Arbor,3\n"


@dataclasses.dataclass
class Hooks:
    """An integrator's webhook receiver on 127.0.0.1."""

    url: str
    received: asyncio.Queue

    async def next(self) -> tuple[dict[str, Any], bytes, Any]:
        return await asyncio.wait_for(self.received.get(), 30)


@pytest.fixture
async def hooks(aiohttp_server) -> Hooks:
    received: asyncio.Queue = asyncio.Queue()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        received.put_nowait((json.loads(body), body, request.headers))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hooks", receive)
    server = await aiohttp_server(app, host="127.0.0.1")
    return Hooks(str(server.make_url("/hooks")), received)


@pytest.fixture
async def make_list_api(aiohttp_client, tmp_path):
    opened: list[Any] = []

    async def make(database_url: str, *, allow_private_urls: bool = False) -> Api:
        store, alice, bob = await prepare_store(database_url)
        settings = api_settings(database_url, tmp_path, allow_private_urls=allow_private_urls)
        dispatcher = WebhookDispatcher(store, timeout=5, backoff_base=0.1, poll_interval=0.5,
                                       allow_private=allow_private_urls)
        await dispatcher.start()
        app = api_app(store, settings)
        setup_list_imports(app, webhooks=dispatcher)
        opened.append((store, dispatcher))
        return Api(await aiohttp_client(app), store, alice, bob)

    yield make
    for store, dispatcher in opened:
        await dispatcher.close()
        await store.close()


@pytest.fixture
async def list_api(make_list_api, migrated_database_url) -> Api:
    return await make_list_api(migrated_database_url, allow_private_urls=True)  # the receiver is on 127.0.0.1


def form(fields: dict[str, str], csv_text: str | None = CSV) -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        data.add_field(name, value)
    if csv_text is not None:
        data.add_field("file", csv_text.encode(), filename="november.csv", content_type="text/csv")
    return data


async def campaign(api: Api, **kwargs) -> int:
    return (await api.post("/v1/campaigns", {"name": "Vote", "dialer_mode": "power"}, **kwargs))["id"]


async def test_upload_imports_in_the_background_and_reports_by_webhook(list_api, hooks):
    campaign_id = await campaign(list_api)
    queued = await list_api.ok("POST", "/v1/lists", 202, data=form({
        "name": "November", "campaign_id": str(campaign_id), "webhook_url": hooks.url,
        "column_mapping": json.dumps({"Phone": "phone", "First Name": "first_name", "Ward": "custom:ward"}),
    }))
    assert queued["status"] == "queued" and queued["name"] == "November"

    summary, body, headers = await hooks.next()
    assert summary["event"] == "list.imported" and summary["subject"] == f"list:{queued['id']}"
    assert verify_signature(list_api.alice.api_auth, headers[SIGNATURE_HEADER], body)
    assert summary["data"] | {"completed_at": None} == {
        "list_id": queued["id"], "campaign_id": campaign_id, "name": "November", "status": "ready",
        "rows_total": 3, "rows_imported": 2, "rows_rejected": 1, "rows_blocked": 0, "households_created": 1,
        "duplicates": 1, "error": None, "completed_at": None,
    }

    done = await list_api.get(f"/v1/lists/{queued['id']}")
    assert (done["status"], done["rows_imported"], done["rows_rejected"], done["households_created"]) == (
        "ready", 2, 1, 1)
    rejections = await list_api.get(URL(done["rejections_uri"]).path)
    assert [(r["row_number"], r["reason"]) for r in rejections["resources"]] == [
        (3, "invalid phone number 'not a phone': not a phone number")]
    households = await list_api.get(f"/v1/households?campaign_id={campaign_id}")
    assert [h["phone"] for h in households["resources"]] == ["+12125550100"]
    assert [lead["first_name"] for lead in households["resources"][0]["leads"]] == ["Ann", "Cid"]

    deliveries = await list_api.get(f"/v1/webhook_deliveries?subject=list:{queued['id']}")
    [delivery] = deliveries["resources"]
    assert delivery["event"] == "list.imported" and delivery["url"] == hooks.url
    assert delivery["payload"]["rows_imported"] == 2
    assert (await list_api.get("/v1/webhook_deliveries?status=failed"))["resources"] == []


async def test_lists_from_a_url_are_fetched_when_allowed(make_list_api, migrated_sqlite_url, hooks, aiohttp_server):
    source = web.Application()
    source.router.add_get("/november.csv", lambda request: web.Response(text=CSV))
    server = await aiohttp_server(source, host="127.0.0.1")
    api = await make_list_api(migrated_sqlite_url, allow_private_urls=True)
    campaign_id = await campaign(api)
    queued = await api.ok("POST", "/v1/lists", 202, json={
        "name": "From the CRM", "campaign_id": campaign_id, "webhook_url": hooks.url,
        "source_url": str(server.make_url("/november.csv")),
    })
    summary, _, _ = await hooks.next()
    assert summary["data"]["status"] == "ready" and summary["data"]["rows_imported"] == 2
    assert (await api.get(f"/v1/lists/{queued['id']}"))["column_mapping"] == {
        "Phone": "phone", "First Name": "first_name", "Last Name": "last_name"}


async def test_private_and_plain_http_urls_are_refused(make_list_api, migrated_sqlite_url):
    api = await make_list_api(migrated_sqlite_url)
    campaign_id = await campaign(api)
    for url in ("http://127.0.0.1:8080/list.csv", "https://127.0.0.1/list.csv", "https://192.168.1.10/a.csv",
                "https://[64:ff9b::127.0.0.1]/a.csv", "https://[::127.0.0.1]/a.csv", "https://[::ffff:10.0.0.7]/a.csv",
                "https://[2002:7f00:1::]/a.csv"):
        status, body, _ = await api.call("POST", "/v1/lists", json={
            "name": "x", "campaign_id": campaign_id, "source_url": url})
        assert status == 422 and body["error"]["id"] == "source-url-refused", url
    assert (await api.get("/v1/lists"))["resources"] == []


async def test_webhooks_to_private_addresses_are_refused(make_list_api, migrated_sqlite_url):
    api = await make_list_api(migrated_sqlite_url)
    campaign_id = await campaign(api)
    for url, why in (("http://127.0.0.1:8080/hooks", "127.0.0.1 is a loopback address"),
                     ("https://10.0.0.7/hooks", "10.0.0.7 is a private address"),
                     ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
                     ("https://[::1]/hooks", "::1 is a loopback address"),
                     ("https://[64:ff9b::127.0.0.1]/hooks", "64:ff9b::127.0.0.1 is a loopback address"),
                     ("https://[::127.0.0.1]/hooks", "::127.0.0.1 is a loopback address")):
        for upload in ({"data": form({"name": "x", "campaign_id": str(campaign_id), "webhook_url": url})},
                       {"json": {"name": "x", "campaign_id": campaign_id, "webhook_url": url,
                                 "source_url": "https://lists.example.com/november.csv"}}):
            status, body, _ = await api.call("POST", "/v1/lists", **upload)
            assert status == 422 and body["error"]["id"] == "webhook-url-refused", (url, body)
            assert body["error"]["details"]["fields"] == {
                "webhook_url": f"{why}: webhooks go to public addresses only"}
    status, body, _ = await api.call("POST", "/v1/lists", data=form({
        "name": "x", "campaign_id": str(campaign_id), "webhook_url": "ftp://hooks.example.com/x"}))
    assert status == 422 and body["error"]["details"]["fields"] == {"webhook_url": "must be an http(s) URL"}
    assert (await api.get("/v1/lists"))["resources"] == []


async def test_bad_uploads_are_refused_with_every_reason(make_list_api, migrated_sqlite_url):
    api = await make_list_api(migrated_sqlite_url)
    campaign_id = await campaign(api)
    bobs = await campaign(api, as_=api.bob)
    cases = [
        (form({"name": "x", "campaign_id": str(campaign_id)}, None), {"file": "required"}),
        (form({"campaign_id": str(campaign_id)}), {"name": "required"}),
        (form({"name": "x", "campaign_id": str(bobs)}), {"campaign_id": f"no campaign {bobs} in this account"}),
        (form({"name": "x", "campaign_id": str(campaign_id)}, "Name,Ward\nAnn,3\n"),
         {"column_mapping": "no column maps to phone (the file's columns: Name, Ward)"}),
        (form({"name": "x", "campaign_id": str(campaign_id), "column_mapping": json.dumps({"Phone": "age"})}),
         {"column_mapping": "Phone: maps to 'age': not phone, a lead field (external_id, first_name, "
          "middle_name, last_name, suffix, email, address, city, state, zip_code, country) or custom:<name>"}),
    ]
    for data, fields in cases:
        status, body, _ = await api.call("POST", "/v1/lists", data=data)
        assert status == 422 and body["error"]["details"]["fields"] == fields, body
    assert (await api.get("/v1/lists"))["resources"] == []


async def test_a_malformed_json_body_is_400_like_every_other_resource(make_list_api, migrated_sqlite_url):
    api = await make_list_api(migrated_sqlite_url)
    for body in (b"{not json", b"\xff\xfe", b'{"name": "x", "campaign_id": NaN}', b"[" * 100_000 + b"]" * 100_000):
        status, answer, _ = await api.call("POST", "/v1/lists", data=body,
                                           headers={**api.alice.headers, "Content-Type": "application/json"})
        assert (status, answer["error"]["id"]) == (400, "malformed-json"), body[:20]
    assert (await api.get("/v1/lists"))["resources"] == []


async def test_an_upload_cut_off_before_its_closing_boundary_is_400(make_list_api, migrated_sqlite_url):
    api = await make_list_api(migrated_sqlite_url)
    campaign_id = await campaign(api)
    whole = (f'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nNovember\r\n'
             f'--b\r\nContent-Disposition: form-data; name="campaign_id"\r\n\r\n{campaign_id}\r\n'
             f'--b\r\nContent-Disposition: form-data; name="file"; filename="n.csv"\r\n'
             f'Content-Type: text/csv\r\n\r\n{CSV}\r\n--b--\r\n').encode()
    for cut in (whole[:-len("--b--\r\n")], whole[:-40], whole[:60]):
        status, body, _ = await api.call("POST", "/v1/lists", data=cut, headers={
            **api.alice.headers, "Content-Type": "multipart/form-data; boundary=b"})
        assert (status, body["error"]["id"]) == (400, "malformed-body"), (cut[-20:], body)
    assert (await api.get("/v1/lists"))["resources"] == []
    assert not list((Path(api.client.app[SETTINGS].data_dir) / "imports").glob("*"))


async def test_an_upload_that_stops_arriving_is_408_and_leaves_nothing(make_list_api, migrated_sqlite_url,
                                                                       monkeypatch):
    monkeypatch.setattr(bodies, "IDLE_TIMEOUT", 0.5)
    api = await make_list_api(migrated_sqlite_url)
    campaign_id = await campaign(api)
    start = (f'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nNovember\r\n'
             f'--b\r\nContent-Disposition: form-data; name="campaign_id"\r\n\r\n{campaign_id}\r\n'
             f'--b\r\nContent-Disposition: form-data; name="file"; filename="n.csv"\r\n\r\n{CSV}').encode()
    reader, writer = await asyncio.open_connection(api.client.host, api.client.port)
    try:
        writer.write(b"POST /v1/lists HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Authorization: " + api.alice.headers["Authorization"].encode() + b"\r\n"
                     b"Content-Length: 100000\r\n\r\n" + start)
        await writer.drain()
        async with asyncio.timeout(10):
            status_line = await reader.readline()
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 408"), status_line
    assert (await api.get("/v1/lists"))["resources"] == []
    assert not list((Path(api.client.app[SETTINGS].data_dir) / "imports").glob("*"))


async def test_lists_belong_to_their_account_and_can_be_renamed_and_deleted(list_api, hooks):
    campaign_id = await campaign(list_api)
    queued = await list_api.ok("POST", "/v1/lists", 202, data=form({
        "name": "November", "campaign_id": str(campaign_id), "webhook_url": hooks.url}))
    await hooks.next()
    for path in (f"/v1/lists/{queued['id']}", f"/v1/lists/{queued['id']}/rejections"):
        status, body, _ = await list_api.call("GET", path, as_=list_api.bob)
        assert status == 404 and body["error"]["id"] == "not-found"
    assert (await list_api.get("/v1/lists", as_=list_api.bob))["resources"] == []
    assert (await list_api.get("/v1/webhook_deliveries", as_=list_api.bob))["resources"] == []

    changed = await list_api.patch(f"/v1/lists/{queued['id']}", {"name": "Nov.", "enabled": False})
    assert (changed["name"], changed["enabled"]) == ("Nov.", False)
    await list_api.delete(f"/v1/lists/{queued['id']}")
    assert (await list_api.get(f"/v1/leads?campaign_id={campaign_id}"))["resources"] == []
