"""Typed keys for what the application factory puts on the aiohttp application."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import socketio

    from realtime.bus import Bus
    from realtime.callflow.actions import SupervisorActions
    from realtime.callflow.client import CallFlowClient
    from realtime.callflow.engine import CallFlowEngine
    from realtime.callflow.event_log import EventLog
    from realtime.channels.caller import CallerNamespace
    from realtime.channels.floor import FloorBoard
    from realtime.channels.monitor import MonitorNamespace
    from realtime.config import Settings
    from realtime.metrics import Metrics
    from realtime.sessions import SessionSigner
    from realtime.store.database import Store
    from realtime.telephony.service import Telephony
    from realtime.webhooks import WebhookDispatcher

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
STORE: web.AppKey["Store"] = web.AppKey("store")
BUS: web.AppKey["Bus"] = web.AppKey("bus")
TELEPHONY: web.AppKey["Telephony"] = web.AppKey("telephony")
WEBHOOKS: web.AppKey["WebhookDispatcher"] = web.AppKey("webhooks")
EVENT_LOG: web.AppKey["EventLog"] = web.AppKey("event_log")
CALLFLOW: web.AppKey["CallFlowEngine"] = web.AppKey("callflow")
CALLFLOW_CLIENT: web.AppKey["CallFlowClient"] = web.AppKey("callflow_client")
SOCKETS: web.AppKey["socketio.AsyncServer"] = web.AppKey("sockets")
# Signs and reads session cookies; set where the web side runs (``sign_in.setup_sign_in``).
SESSION_SIGNER: web.AppKey["SessionSigner"] = web.AppKey("session_signer")
# Web processes: the namespaces, the floor as supervisors see it, and what they (and the
# REST API) do to it.
CALLER_CHANNEL: web.AppKey["CallerNamespace"] = web.AppKey("caller_channel")
MONITOR_CHANNEL: web.AppKey["MonitorNamespace"] = web.AppKey("monitor_channel")
FLOOR_BOARD: web.AppKey["FloorBoard"] = web.AppKey("floor_board")
SUPERVISOR_ACTIONS: web.AppKey["SupervisorActions"] = web.AppKey("supervisor_actions")
METRICS: web.AppKey["Metrics"] = web.AppKey("metrics")
