"""The simulator answers HTTP the way Asterisk 22's res_ari does: auth, paths, errors."""
from __future__ import annotations

import aiohttp
import pytest

from realtime.telephony.sim import SimConfig, create_sim_app


async def test_requests_without_valid_credentials_get_401_with_a_basic_challenge(ari):
    for kwargs in ({"auth": False}, {"auth": False, "api_key": "ari:wrong"}):
        status, body = await ari.request("GET", "/asterisk/info", **kwargs)
        assert (status, body) == (401, {"message": "Authentication required"})
    async with ari.session.get(ari.base + "/channels", headers={"Authorization": aiohttp.encode_basic_auth("ari", "nope")}) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Asterisk REST Interface"'


async def test_api_key_query_parameter_authenticates(ari):
    status, body = await ari.request("GET", "/asterisk/info", auth=False, api_key="ari:ari")
    assert status == 200
    assert body["system"] == {"version": "22.10.1", "entity_id": "02:fc:00:00:00:01"}


async def test_path_errors_match_asterisk(ari):
    assert await ari.request("GET", "/channels/") == (
        404, {"message": "ARI URLs do not end with a slash. Try /ari/channels"})
    assert await ari.request("GET", "/nothing/here") == (404, {"message": "Resource not found"})
    assert await ari.request("PUT", "/channels") == (405, {"message": "Invalid method"})
    assert await ari.request("GET", "/channels/does-not-exist") == (404, {"message": "Channel not found"})
    assert await ari.request("DELETE", "/bridges/does-not-exist") == (404, {"message": "Bridge not found"})
    assert await ari.request("POST", "/channels/does-not-exist/snoop", spy="both", app="x") == (
        404, {"message": "Provided channel was not found"})


async def test_originate_parameter_errors(ari):
    assert await ari.request("POST", "/channels", app="x") == (400, {"message": "Endpoint must be specified"})
    assert await ari.request("POST", "/channels", endpoint="PJSIP/agent1") == (
        400, {"message": "Application or extension must be specified"})
    assert await ari.request("POST", "/channels", endpoint="Bogus/123", app="x") == (
        500, {"error": "Allocation failed"})


async def test_swagger_is_served_with_the_request_host_as_base_path(ari):
    status, resources = await ari.request("GET", "/api-docs/resources.json")
    assert status == 200 and resources["apiVersion"] == "10.0.0"
    status, channels = await ari.request("GET", "/api-docs/channels.json")
    assert status == 200
    assert channels["basePath"] == ari.base
    assert any(api["path"] == "/channels/{channelId}/snoop" for api in channels["apis"])


async def test_events_websocket_refuses_missing_app_and_bad_credentials(ari):
    async with ari.session.get(ari.base + "/events", params={"api_key": "ari:ari"}) as response:
        assert response.status == 400
        assert "HTTP request is missing param: [app]" in await response.text()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await ari.session.ws_connect(ari.base + "/events", params={"app": "x", "api_key": "ari:bad"})
    assert refused.value.status == 401


async def test_control_api_exists_only_when_enabled(aiohttp_client, ari):
    client = await aiohttp_client(create_sim_app(SimConfig()))
    response = await client.get("/_sim/journal", headers=ari.auth)
    assert response.status == 404


async def test_body_keys_are_read_as_query_parameters_and_variables_come_from_the_body(ari, events):
    status, channel = await ari.request(
        "POST", "/channels", json_body={"endpoint": "PJSIP/agent7", "app": "dialer", "channelId": "body-1",
                                        "variables": {"CAMPAIGN": "c1", "ROLE": {"value": "lead", "report_events": True}}})
    assert status == 200 and channel["id"] == "body-1"
    assert channel["channelvars"] == {"ROLE": "lead"}
    assert await ari.request("GET", "/channels/body-1/variable", variable="CAMPAIGN") == (200, {"value": "c1"})
    assert await ari.request("GET", "/channels/body-1/variable") == (400, {"message": "Variable name is required"})


async def test_repeated_query_keys_keep_only_the_last_value(ari, events):
    for cid in ("rep-a", "rep-b"):
        await ari.request("POST", "/channels", endpoint="PJSIP/agent1", app="dialer", channelId=cid)
        await events.wait_for("StasisStart", cid)
    await ari.request("POST", "/bridges", bridgeId="rep-br")
    url = f"{ari.base}/bridges/rep-br/addChannel?channel=rep-a&channel=rep-b"
    async with ari.session.post(url, headers=ari.auth) as response:
        assert response.status == 204
    status, bridge = await ari.request("GET", "/bridges/rep-br")
    assert bridge["channels"] == ["rep-b"]
