"""/metrics: off the public port unless told, and the live figures in the Prometheus text
format, read back with prometheus_client's own parser while a caller works."""
from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from realtime.store.models import DialerMode
from tests.channels.conftest import callers, simulator, start_product  # noqa: F401
from tests.channels.floor import PERSON, add_caller, add_campaign, phone, seed_account


@pytest.fixture
async def product(tmp_path, simulator, unused_port):  # noqa: F811
    """The product with its metrics on a port of their own (``product.metrics_url``)."""
    port = unused_port()
    product = await start_product(tmp_path, simulator, metrics_port=port)
    product.metrics_url = f"http://127.0.0.1:{port}/metrics"
    yield product
    await product.close()


async def scrape(url: str) -> dict[str, list]:
    """Every sample by metric name: [(labels, value), ...]."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status == 200 and resp.content_type == "text/plain"
            text = await resp.text()
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, list], name: str, **labels: str) -> float:
    matching = [v for found, v in samples.get(name, []) if all(found.get(k) == w for k, w in labels.items())]
    assert len(matching) == 1, (name, labels, samples.get(name))
    return matching[0]


async def test_metrics_are_served_on_their_own_port_and_not_on_the_public_one(product):
    url = product.metrics_url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{product.url}/metrics") as resp:
            assert resp.status == 404
    samples = await scrape(url)
    assert value(samples, "realtime_up", component="bus") == 1
    assert value(samples, "realtime_up", component="ari") == 1
    assert value(samples, "realtime_list_imports_in_progress") == 0


async def test_the_figures_follow_a_caller_at_work(product, callers):  # noqa: F811
    url = product.metrics_url
    floor = await seed_account(product.store)
    campaign = await add_campaign(product.store, floor, DialerMode.POWER, [phone(PERSON), phone(PERSON)])
    _, username = await add_caller(product.store, floor, campaign)
    caller = callers(username, product.url)
    await caller.open()
    await caller.ok("start")
    connected = await caller.next("call_connected")
    await caller.state("on_call")
    samples = await scrape(url)
    assert value(samples, "realtime_callers", campaign_id=str(campaign), state="on_call") == 1
    assert value(samples, "realtime_callers", campaign_id=str(campaign), state="on_hold") == 0
    assert value(samples, "realtime_calls_in_progress", campaign_id=str(campaign)) == 1
    assert value(samples, "realtime_lines_in_flight", campaign_id=str(campaign)) == 0
    assert value(samples, "realtime_socketio_connections", namespace="/caller") == 1
    assert value(samples, "realtime_socketio_connections", namespace="/monitor") == 0
    assert value(samples, "realtime_webhook_deliveries", status="pending") == 0

    await caller.ok("hangup")
    await caller.state("wrap_up")
    samples = await scrape(url)
    assert value(samples, "realtime_dials_total", campaign_id=str(campaign), outcome="completed") == 1
    assert value(samples, "realtime_answer_to_bridge_seconds_count") == 1
    assert 0 <= value(samples, "realtime_answer_to_bridge_seconds_sum") < 2  # the law allows 2 s
    assert value(samples, "realtime_callers", campaign_id=str(campaign), state="wrap_up") == 1
    assert connected["call_id"]


async def test_the_public_port_serves_metrics_when_told_to(tmp_path, simulator):  # noqa: F811
    product = await start_product(tmp_path, simulator, metrics_port=8080)  # REALTIME_PORT's default
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{product.url}/metrics") as resp:
                assert resp.status == 200
                names = {f.name for f in text_string_to_metric_families(await resp.text())}
        assert {"realtime_callers", "realtime_dials", "realtime_up"} <= names
    finally:
        await product.close()
