"""The application factory: builds and wires every component, nothing else.

Each component starts and stops through ``cleanup_ctx``, in dependency order, so a
failure while starting one stops the ones already started and nothing leaks.
"""
from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

from aiohttp import web

from realtime import app_keys, healthz, security_headers
from realtime.api import setup_api
from realtime.api.lists import setup_list_imports
from realtime.bus import create_bus
from realtime.callflow.actions import SupervisorActions
from realtime.callflow.client import CallFlowClient
from realtime.callflow.engine import CallFlowEngine, EngineOptions
from realtime.callflow.event_log import create_event_log
from realtime.channels.caller import CallerNamespace
from realtime.channels.floor import FloorBoard
from realtime.channels.monitor import MonitorNamespace
from realtime.channels.server import create_socket_server, setup_socket_server
from realtime.config import Settings
from realtime.health import ComponentHealth, Status
from realtime.http_server import handler_args
from realtime.metrics import setup_metrics
from realtime.pages import STATIC_DIR, setup_pages
from realtime.sign_in import setup_sign_in
from realtime.store.database import Store
from realtime.telephony.service import start_telephony
from realtime.webhooks import WebhookDispatcher

logger = logging.getLogger(__name__)

CALLS_POOL_TIMEOUT = 60.0  # seconds call work waits for a database connection

def create_app(settings: Settings) -> web.Application:
    app = web.Application(handler_args=handler_args(settings))
    app[app_keys.SETTINGS] = settings
    security_headers.setup_security_headers(app)
    healthz.setup_healthz(app)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_bus_ctx)
    app.cleanup_ctx.append(_event_log_ctx)
    app.cleanup_ctx.append(_webhooks_ctx)
    if settings.runs_engine:
        app.cleanup_ctx.append(_telephony_ctx)
        app.cleanup_ctx.append(_callflow_ctx)
    else:
        healthz.register(app, "telephony", _not_this_process)

    socket_server = create_socket_server(settings)
    setup_socket_server(app, socket_server)
    app[app_keys.SOCKETS] = socket_server
    if settings.runs_web:
        setup_sign_in(app)
        setup_api(app)
        setup_list_imports(app)
        setup_pages(app)
        app.cleanup_ctx.append(_caller_channel_ctx)
        app.cleanup_ctx.append(_monitor_channel_ctx)

    setup_metrics(app)
    app.router.add_get("/", _index)
    if STATIC_DIR.is_dir():
        app.router.add_static("/static/", STATIC_DIR, append_version=True)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[app_keys.SETTINGS]
    store = Store(settings.database_url, pool_size=settings.database_pool_size,
                  pool_timeout=settings.database_pool_timeout)
    await store.check()
    app[app_keys.STORE] = store

    async def check() -> ComponentHealth:
        try:
            await store.check(timeout=2.0)
        except Exception:  # the reason is in the health detail
            pass
        return store.health()

    healthz.register(app, "store", check)  # a round trip: the database may go away
    yield
    await store.close()


async def _bus_ctx(app: web.Application) -> AsyncIterator[None]:
    bus = create_bus(app[app_keys.SETTINGS].redis_url)
    await bus.start()
    app[app_keys.BUS] = bus
    healthz.register(app, "bus", bus.health)
    yield
    await bus.close()


async def _event_log_ctx(app: web.Application) -> AsyncIterator[None]:
    # Written by the engines, read by the web processes: shared through Redis when configured.
    event_log = create_event_log(app[app_keys.SETTINGS].redis_url)
    app[app_keys.EVENT_LOG] = event_log
    yield
    await event_log.close()


async def _webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
    # Every process delivers: deliveries are claimed row by row, so several never send one twice.
    dispatcher = WebhookDispatcher(app[app_keys.STORE], allow_private=app[app_keys.SETTINGS].allow_private_urls)
    await dispatcher.start()
    app[app_keys.WEBHOOKS] = dispatcher
    yield
    await dispatcher.close()


async def _telephony_ctx(app: web.Application) -> AsyncIterator[None]:
    # Without REALTIME_ARI_URL this starts the built-in PBX simulator on a loopback port.
    telephony = await start_telephony(app[app_keys.SETTINGS])
    app[app_keys.TELEPHONY] = telephony
    healthz.register(app, "telephony", telephony.health)
    yield
    await telephony.close()


async def _callflow_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[app_keys.SETTINGS]
    # Calls get a pool of their own that waits for a connection: a web request may be told
    # "busy, retry", a lead who answered may not. It also keeps a web rush off the calls' pool.
    store = Store(settings.database_url, pool_size=settings.database_pool_size, pool_timeout=CALLS_POOL_TIMEOUT)
    engine = CallFlowEngine(
        store=store, bus=app[app_keys.BUS], telephony=app[app_keys.TELEPHONY],
        event_log=app[app_keys.EVENT_LOG], engine_id=f"{socket.gethostname()}:{settings.port}",
        options=EngineOptions(dial_in_number=settings.dial_in_number, trunk_lines=settings.trunk_lines,
                              allow_private_urls=settings.allow_private_urls, public_url=settings.public_url),
        webhooks=app[app_keys.WEBHOOKS])
    engine.outcome_listeners.append(app[app_keys.METRICS].call_finished)
    try:
        await engine.start()
    except BaseException:
        await store.close()
        raise
    app[app_keys.CALLFLOW] = engine
    yield
    await engine.close()
    await store.close()


async def _caller_channel_ctx(app: web.Application) -> AsyncIterator[None]:
    client = CallFlowClient(app[app_keys.BUS])
    await client.start()
    app[app_keys.CALLFLOW_CLIENT] = client
    namespace = CallerNamespace(store=app[app_keys.STORE], bus=app[app_keys.BUS], client=client,
                                event_log=app[app_keys.EVENT_LOG], signer=app[app_keys.SESSION_SIGNER])
    app[app_keys.SOCKETS].register_namespace(namespace)
    app[app_keys.CALLER_CHANNEL] = namespace
    await namespace.start()
    yield
    await namespace.close()
    await client.close()


async def _monitor_channel_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[app_keys.SETTINGS]
    board = FloorBoard(app[app_keys.BUS])
    actions = SupervisorActions(app[app_keys.STORE], app[app_keys.BUS], app[app_keys.CALLFLOW_CLIENT],
                                dial_in_number=settings.dial_in_number, monitoring=board.monitoring_of)
    board.monitoring_news = actions.floor_changed
    app[app_keys.FLOOR_BOARD] = board
    app[app_keys.SUPERVISOR_ACTIONS] = actions
    namespace = MonitorNamespace(store=app[app_keys.STORE], bus=app[app_keys.BUS], board=board, actions=actions,
                                 signer=app[app_keys.SESSION_SIGNER], dial_in_number=settings.dial_in_number)
    app[app_keys.SOCKETS].register_namespace(namespace)
    app[app_keys.MONITOR_CHANNEL] = namespace
    await namespace.start()
    await board.start()
    yield
    await board.close()
    await namespace.close()


async def _not_this_process() -> ComponentHealth:
    return ComponentHealth(Status.NOT_CONFIGURED, "telephony runs in the engine processes")


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html")
