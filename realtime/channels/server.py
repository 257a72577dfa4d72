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
from aiohttp import web

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


def setup_socket_server(app: web.Application, server: socketio.AsyncServer) -> None:
    """Serve Socket.IO at ``/socket.io``, its websockets closed when the application stops."""
    server.attach(app, socketio_path="socket.io")

    async def close_websockets(app: web.Application) -> None:
        # aiohttp waits for open connections before cleaning up, and a websocket otherwise
        # closes only at its next ping (up to 25 s). A None in the socket's queue is
        # engine.io's own "close": what is queued goes out first, then the websocket closes
        # as a dropped connection would, so pages reconnect (to the next process) instead
        # of taking it as a sign-out.
        sockets = list(server.eio.sockets.values())
        for eio_socket in sockets:
            eio_socket.queue.put_nowait(None)
        if sockets:
            logger.info("closing %d websockets for shutdown", len(sockets))

    app.on_shutdown.append(close_websockets)
