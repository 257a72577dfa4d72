"""The simulator as an aiohttp application: ARI under ``/ari``, control under ``/_sim``."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from . import control
from .config import SimConfig
from .pbx import Pbx
from .rest import PBX_KEY, STREAMS_KEY, handle
from .stasis import close_streams

logger = logging.getLogger(__name__)


def create_sim_app(config: SimConfig) -> web.Application:
    """An ARI server backed by a fresh simulated PBX; mounts ``/_sim`` if `config.control`."""
    middlewares = [control.control_errors] if config.control else []
    app = web.Application(middlewares=middlewares)
    app[PBX_KEY] = Pbx(config)
    app[STREAMS_KEY] = set()
    if config.control:
        app.add_routes(control.routes)
    app.router.add_route("*", "/ari/{tail:.*}", handle)
    app.on_shutdown.append(_close_streams)
    app.on_cleanup.append(_stop_timers)
    return app


async def _close_streams(app: web.Application) -> None:
    await close_streams(app[STREAMS_KEY])


async def _stop_timers(app: web.Application) -> None:
    app[PBX_KEY].restart()


@dataclass
class RunningSimulator:
    app: web.Application
    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        """Base ARI URL, e.g. ``http://127.0.0.1:8088/ari``."""
        return f"http://{self.host}:{self.port}/ari"

    @property
    def pbx(self) -> Pbx:
        return self.app[PBX_KEY]

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_simulator(config: SimConfig, host: str = "127.0.0.1", port: int = 0) -> RunningSimulator:
    """Start serving in the running event loop; ``port=0`` picks a free port."""
    app = create_sim_app(config)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if port == 0 else port
    logger.info("ARI simulator listening on http://%s:%s/ari", host, bound)
    return RunningSimulator(app, runner, host, bound)
