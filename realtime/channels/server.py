"""The Socket.IO server: websocket transport, each web process emitting to its own sockets.

Events cross processes on our bus, not through python-socketio's AsyncRedisManager:
each session's events are numbered once, by the engine, and every web process hands
them to the sockets it holds, in order, with resync and its buffer per socket (see
``caller.py``). A Redis client manager would publish every emit again through Redis and
deliver it outside that order.
"""
from __future__ import annotations

import logging

import socketio

from realtime.config import Settings

logger = logging.getLogger(__name__)


MAX_MESSAGE_BYTES = 1_000_000  # a larger websocket message closes the connection


def create_socket_server(settings: Settings) -> socketio.AsyncServer:
    return socketio.AsyncServer(
        async_mode="aiohttp",
        transports=["websocket"],
        max_http_buffer_size=MAX_MESSAGE_BYTES,
        cors_allowed_origins=[],  # same origin only: the pages are served by this process
        logger=False,
        engineio_logger=False,
    )
