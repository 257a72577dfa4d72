"""The Socket.IO server: websocket transport, one client manager per deployment.

With Redis configured, python-socketio's AsyncRedisManager carries emits between web
processes (DESIGN.md §2); otherwise the default in-process manager does.
"""
from __future__ import annotations

import logging

import socketio

from realtime.config import Settings

logger = logging.getLogger(__name__)


def create_socket_server(settings: Settings) -> socketio.AsyncServer:
    manager = None
    if settings.redis_url:
        manager = socketio.AsyncRedisManager(settings.redis_url, channel="realtime:socketio")
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        transports=["websocket"],
        cors_allowed_origins=[],  # same origin only: the pages are served by this process
        logger=False,
        engineio_logger=False,
    )
