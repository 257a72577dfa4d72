"""The telephony facade: one ARI connection, the settings call control needs, and
rebuilding call state after a reconnect or a restart.

``start_telephony(settings)`` is what the server runs: with no ``ari_url`` it starts the
built-in PBX simulator on a loopback port and connects to it, otherwise it connects to the
configured Asterisk.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from realtime.health import ComponentHealth

from .ari import AriClient, Bridge, Channel, NoSuchChannel
from .endpoints import DialTemplate
from .roles import VARIABLES, ChannelRole

if TYPE_CHECKING:
    from realtime.config import Settings

    from .conference import Conference
    from .leg import Leg
    from .sim.server import RunningSimulator

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LiveChannel:
    """One of our channels found alive in Asterisk, with the role it carries."""

    channel: Channel
    role: ChannelRole
    bridge_id: str | None


@dataclasses.dataclass(frozen=True)
class Resync:
    """What a reconnect changed: legs still alive and legs that are gone."""

    kept: tuple[Leg, ...]
    lost: tuple[Leg, ...]


ResyncCallback = Callable[[Resync], None]


class Telephony:
    """Call control over one :class:`AriClient` (our Stasis application)."""

    def __init__(
        self,
        client: AriClient,
        *,
        dial_template: str = "PJSIP/{number}@trunk",
        amd_context: str = "impactdialing-amd",
        simulator: RunningSimulator | None = None,
    ) -> None:
        self.client = client
        self.dial_template = DialTemplate(dial_template)
        self.amd_context = amd_context
        self.simulator = simulator
        self._legs: dict[str, Leg] = {}
        self._conferences: dict[str, Conference] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resync_callbacks: list[ResyncCallback] = []
        client.on_reconnect(self._on_reconnect)

    @property
    def app(self) -> str:
        return self.client.app

    def health(self) -> ComponentHealth:
        health = self.client.health()
        if health.detail:
            return health
        # Say which PBX: a user reading /healthz should see whether calls are real.
        where = "built-in PBX simulator" if self.simulator is not None else "Asterisk"
        return dataclasses.replace(health, detail=f"{where} at {self.client.base_url}")

    async def close(self) -> None:
        """Disconnect. Calls stay up in Asterisk: a new engine can take them back."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.close()
        if self.simulator is not None:
            await self.simulator.close()

    # -- bookkeeping of live legs ----------------------------------------------------
    def track(self, leg: Leg) -> None:
        self._legs[leg.id] = leg

    def untrack(self, leg: Leg) -> None:
        if self._legs.get(leg.id) is leg:
            del self._legs[leg.id]

    def leg(self, channel_id: str) -> Leg | None:
        return self._legs.get(channel_id)

    def track_conference(self, conference: Conference) -> None:
        self._conferences[conference.bridge_id] = conference

    def untrack_conference(self, conference: Conference) -> None:
        if self._conferences.get(conference.bridge_id) is conference:
            del self._conferences[conference.bridge_id]

    async def wait_ready(self, timeout: float) -> None:
        """Until the events websocket is connected (raises ``TimeoutError``)."""
        ready = asyncio.get_running_loop().create_future()

        def check(health: ComponentHealth) -> None:
            if health.usable and not ready.done():
                ready.set_result(None)

        registration = self.client.on_health_change(check)
        try:
            check(self.health())
            await asyncio.wait_for(ready, timeout)
        finally:
            registration.remove()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a request off the event-delivery task (handlers must not hold it up)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("telephony task failed", exc_info=task.exception())

    # -- rebuild ---------------------------------------------------------------------
    def on_resync(self, callback: ResyncCallback) -> None:
        """``callback(Resync)`` after each reconnect: which tracked legs survived it.

        The lost ones have also ended (their ``ended`` future says ``by=lost``)."""
        self._resync_callbacks.append(callback)

    def _on_reconnect(self, channels: dict[str, Channel], bridges: dict[str, Bridge]) -> None:
        kept, lost = [], []
        for leg in list(self._legs.values()):
            channel = channels.get(leg.id)
            (kept if channel is not None else lost).append(leg)
            leg.resync(channel)
        for conference in list(self._conferences.values()):
            bridge = bridges.get(conference.bridge_id)
            if bridge is not None:  # a vanished one gets BridgeGone from the client
                conference.resync(bridge, channels)
        logger.info("telephony resync: %d calls kept, %d lost", len(kept), len(lost))
        # The client sends ChannelGone to the lost legs right after this callback.
        report = Resync(tuple(kept), tuple(lost))
        for callback in list(self._resync_callbacks):
            try:
                callback(report)
            except Exception:
                logger.exception("telephony resync callback %r failed", callback)

    async def live_channel_ids(self) -> set[str]:
        """Every channel alive in Asterisk now, ours or not."""
        return {channel.id for channel in await self.client.list_channels()}

    async def survey(self) -> list[LiveChannel]:
        """Our channels alive in Asterisk now, with their roles read back from channel
        variables: what a restarted engine rebuilds its calls from (see
        :meth:`Conference.recover` and :meth:`Leg.adopt`)."""
        channels = await self.client.list_channels()
        bridges = await self.client.list_bridges()
        bridge_of = {channel_id: bridge.id for bridge in bridges for channel_id in bridge.channels}
        roles = await asyncio.gather(*(self._role_of(channel.id) for channel in channels))
        return [LiveChannel(channel, role, bridge_of.get(channel.id))
                for channel, role in zip(channels, roles) if role is not None]

    async def _role_of(self, channel_id: str) -> ChannelRole | None:
        values: dict[str, str | None] = {}
        try:
            for name in VARIABLES:
                values[name] = await self.client.get_variable(channel_id, name)
        except NoSuchChannel:
            return None
        return ChannelRole.from_variables(values)


async def start_telephony(settings: Settings, *, sim_control: bool = False) -> Telephony:
    """Connect call control to ``settings.ari_url``, or to a built-in simulator on a
    loopback port when it is unset (``sim_control`` mounts the simulator's ``/_sim`` API)."""
    simulator = None
    url = settings.ari_url
    if url is None:
        from .sim.config import SimConfig
        from .sim.server import start_simulator

        simulator = await start_simulator(SimConfig(
            user=settings.ari_user, password=settings.ari_password, outcomes=settings.sim_outcomes,
            speed=settings.sim_speed, amd_context=settings.amd_context, control=sim_control,
        ))
        url = simulator.url
    client = AriClient(url, settings.ari_user, settings.ari_password, settings.ari_app)
    try:
        await client.connect(wait=simulator is not None)
    except BaseException:
        await client.close()
        if simulator is not None:
            await simulator.close()
        raise
    return Telephony(client, dial_template=settings.dial_template, amd_context=settings.amd_context,
                     simulator=simulator)
