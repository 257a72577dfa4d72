"""``/metrics``: the live figures for operators, in the Prometheus text format.

Each process reports what it holds: an engine its callers by state and campaign, its lines
in flight, its dials and their outcomes, its campaigns' abandonment rates, the
human-answer -> caller-bridged latency and its ARI connection; a web process its Socket.IO
connections; every process its bus connection and the store's webhook outbox and list
imports (the same figures on every process: they are read from the store).

Off the public port by default: ``REALTIME_METRICS_PORT`` unset serves no metrics; a port
serves ``/metrics`` on a listener of its own on that port (on ``REALTIME_HOST``'s address),
and ``REALTIME_METRICS_PORT`` equal to ``REALTIME_PORT`` serves it on the public port beside
the rest of the site. See docs/operations.md.
"""
from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from realtime import app_keys
from realtime.callflow.floor import LIVE_STATES
from realtime.health import Status
from realtime.store.models import DeliveryStatus, LeadList, ListStatus, WebhookDelivery

if TYPE_CHECKING:
    from realtime.dialer.campaign_dialer import LiveCall

logger = logging.getLogger(__name__)

# Seconds from a person answering (the verdict, with AMD) to their being in a caller's
# conference; the law allows 2.
BRIDGE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)


class Metrics:
    """The process's metrics: counters fed as calls end, gauges read at each scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.dials = Counter("realtime_dials", "Lines dialled, by campaign and how they ended",
                             ["campaign_id", "outcome"], registry=self.registry)
        self.answer_to_bridge = Histogram(
            "realtime_answer_to_bridge_seconds", "A person answering (the AMD verdict, with AMD on) to their "
            "being bridged with a caller", buckets=BRIDGE_BUCKETS, registry=self.registry)
        self._live = _LiveFigures()
        self.registry.register(self._live)

    def call_finished(self, call: LiveCall) -> None:
        """A call's outcome is known (the engine's outcome listener)."""
        outcome = call.outcome.value if call.outcome is not None else "unknown"
        self.dials.labels(campaign_id=str(call.household.campaign_id), outcome=outcome).inc()
        leg = call.leg
        if leg is not None and leg.connected_at is not None:
            answered = getattr(leg, "verdict_at", None) or leg.answered_at
            if answered is not None:
                self.answer_to_bridge.observe(max(0.0, (leg.connected_at - answered).total_seconds()))

    async def render(self, app: web.Application) -> bytes:
        self._live.figures = await _read_figures(app)
        return generate_latest(self.registry)


class _LiveFigures(Collector):
    """Gauges of what is live now, read (by :meth:`Metrics.render`) just before each scrape."""

    def __init__(self) -> None:
        self.figures: dict[str, Any] = {}

    def collect(self) -> Iterator[Metric]:
        figures = self.figures
        callers = GaugeMetricFamily("realtime_callers", "Caller sessions on this engine, by campaign and state",
                                    labels=["campaign_id", "state"])
        for (campaign_id, state), count in sorted(figures.get("callers", {}).items()):
            callers.add_metric([str(campaign_id), state], count)
        yield callers
        lines = GaugeMetricFamily("realtime_lines_in_flight", "Lines dialled and not yet answered or given up, "
                                  "by campaign", labels=["campaign_id"])
        calls = GaugeMetricFamily("realtime_calls_in_progress", "Calls of this engine not yet ended (ringing or "
                                  "talking), by campaign", labels=["campaign_id"])
        for campaign_id, (ringing, live) in sorted(figures.get("lines", {}).items()):
            lines.add_metric([str(campaign_id)], ringing)
            calls.add_metric([str(campaign_id)], live)
        yield lines
        yield calls
        rates = GaugeMetricFamily("realtime_abandonment_rate", "Abandoned / human-answered calls, by campaign, "
                                  "over the last 24 hours and 30 days", labels=["campaign_id", "window"])
        limits = GaugeMetricFamily("realtime_abandonment_limit", "The campaign's abandonment limit (30 days)",
                                   labels=["campaign_id"])
        for campaign_id, report in sorted(figures.get("abandonment", {}).items()):
            rates.add_metric([str(campaign_id), "24h"], report["last_24_hours"]["rate"])
            rates.add_metric([str(campaign_id), "30d"], report["last_30_days"]["rate"])
            limits.add_metric([str(campaign_id)], report["limit"])
        yield rates
        yield limits
        connections = GaugeMetricFamily("realtime_socketio_connections", "Socket.IO connections on this process",
                                        labels=["namespace"])
        for namespace, count in sorted(figures.get("connections", {}).items()):
            connections.add_metric([namespace], count)
        yield connections
        up = GaugeMetricFamily("realtime_up", "1 when the connection is up: bus, store, ari (engines)",
                               labels=["component"])
        for component, value in sorted(figures.get("up", {}).items()):
            up.add_metric([component], value)
        yield up
        webhooks = GaugeMetricFamily("realtime_webhook_deliveries", "Webhook deliveries waiting (pending), being "
                                     "retried after a failure (retrying), or given up (failed)", labels=["status"])
        for status, count in sorted(figures.get("webhooks", {}).items()):
            webhooks.add_metric([status], count)
        yield webhooks
        if "imports" in figures:
            yield GaugeMetricFamily("realtime_list_imports_in_progress", "Lead lists queued or importing",
                                    value=figures["imports"])


async def _read_figures(app: web.Application) -> dict[str, Any]:
    figures: dict[str, Any] = {"up": {}}
    bus = app.get(app_keys.BUS)
    if bus is not None:
        figures["up"]["bus"] = int(bus.health().status is Status.UP)
    store = app.get(app_keys.STORE)
    if store is not None:
        figures["up"]["store"] = int(store.health().status is Status.UP)
    telephony = app.get(app_keys.TELEPHONY)
    if telephony is not None:
        figures["up"]["ari"] = int(telephony.health().status is Status.UP)
    engine = app.get(app_keys.CALLFLOW)
    if engine is not None:
        callers: collections.Counter[tuple[int, str]] = collections.Counter()
        for session in engine.sessions.values():
            if not session.ended:
                callers[(session.campaign.id, session.state.value)] += 1
        for campaign_id in {s.campaign.id for s in engine.sessions.values() if not s.ended} | set(engine.dialers):
            for state in LIVE_STATES:
                callers.setdefault((campaign_id, state), 0)
        figures["callers"] = callers
        figures["lines"] = {campaign_id: (status["lines"], status["calls"]) for campaign_id, status in (
            (c, d.status()) for c, d in list(engine.dialers.items()) if d.campaign is not None)}
        figures["abandonment"] = {c: report for c in engine.dialers
                                  if (report := engine.floor.abandonment_of(c)) is not None}
    connections = {}
    for key in (app_keys.CALLER_CHANNEL, app_keys.MONITOR_CHANNEL):
        namespace = app.get(key)
        if namespace is not None:
            connections[namespace.namespace] = namespace.connections
    figures["connections"] = connections
    if store is not None:
        try:
            async with store.sessions() as db:
                pending = WebhookDelivery.status == DeliveryStatus.PENDING
                figures["webhooks"] = {
                    "pending": await db.scalar(select(func.count()).where(pending)) or 0,
                    "retrying": await db.scalar(select(func.count()).where(pending, WebhookDelivery.attempts > 0)) or 0,
                    "failed": await db.scalar(select(func.count()).where(
                        WebhookDelivery.status == DeliveryStatus.FAILED)) or 0,
                }
                figures["imports"] = await db.scalar(select(func.count()).select_from(LeadList).where(
                    LeadList.status.in_([ListStatus.QUEUED, ListStatus.IMPORTING]))) or 0
        except Exception as exc:  # the store away: its figures are left out, the rest is served
            logger.warning("metrics: the store's figures not read: %s", exc)
            figures["up"]["store"] = 0
    return figures


async def metrics_page(request: web.Request) -> web.Response:
    app = request.app.get(PUBLIC_APP) or request.app
    body = await app[app_keys.METRICS].render(app)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


PUBLIC_APP: web.AppKey[web.Application] = web.AppKey("metrics_public_app")


def setup_metrics(app: web.Application) -> None:
    """Metrics for the process; served as the settings say (see the module's docstring)."""
    settings = app[app_keys.SETTINGS]
    app[app_keys.METRICS] = Metrics()
    if settings.metrics_port is None:
        return
    if settings.metrics_port == settings.port:
        app.router.add_get("/metrics", metrics_page)
        return

    async def listener(app: web.Application) -> AsyncIterator[None]:
        side = web.Application()
        side[PUBLIC_APP] = app
        side.router.add_get("/metrics", metrics_page)
        runner = web.AppRunner(side, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.metrics_port).start()
        logger.info("metrics on http://%s:%s/metrics", settings.host, settings.metrics_port)
        yield
        await runner.cleanup()

    app.cleanup_ctx.append(listener)
