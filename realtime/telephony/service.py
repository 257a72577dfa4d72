"""The telephony facade: one ARI connection, the settings call control needs, what
this engine owns in Asterisk, and rebuilding call state after a reconnect or a restart.

``start_telephony(settings)`` is what the server runs: with no ``ari_url`` it starts the
built-in PBX simulator on a loopback port and connects to it, otherwise it connects to the
configured Asterisk.

Channels and bridges left in Asterisk by a dead engine are reaped (:mod:`.orphans`):
once the engine has registered its claimers (``add_claimer``) it calls
:meth:`Telephony.reap_orphans_at_start`; from then on every reconnect of the events
websocket reaps again, after the resync.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from realtime.health import ComponentHealth

from .ari import AriClient, AriError, Bridge, Channel
from .endpoints import DialTemplate
from .errors import TelephonyError
from .orphans import Claimer, LiveChannel, Reaped, reap, take_census

if TYPE_CHECKING:
    from realtime.config import Settings

    from .conference import Conference
    from .leg import Leg
    from .sim.server import RunningSimulator

logger = logging.getLogger(__name__)


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
        self._channels: set[str] = set()   # ours but not legs: snoops, callers typing a PIN
        self._bridges: set[str] = set()    # ours but not conferences: transfer, supervision
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resync_callbacks: list[ResyncCallback] = []
        self._claimers: list[Claimer] = []
        self._reaping = False              # after reconnects: only once the engine asked for it
        self._reap_lock = asyncio.Lock()
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

    def track_channel(self, channel_id: str) -> None:
        """A channel of ours that is not a :class:`Leg` (a snoop, a caller typing a PIN):
        tracked from before the request that creates it, so reaping never takes it."""
        self._channels.add(channel_id)

    def untrack_channel(self, channel_id: str) -> None:
        self._channels.discard(channel_id)

    def track_bridge(self, bridge_id: str) -> None:
        """A bridge of ours that is not a :class:`Conference` (transfer, supervision)."""
        self._bridges.add(bridge_id)

    def untrack_bridge(self, bridge_id: str) -> None:
        self._bridges.discard(bridge_id)

    def owns_channel(self, channel_id: str) -> bool:
        """Whether a live leg or other tracked channel of this engine has this id."""
        return channel_id in self._legs or channel_id in self._channels

    def owns_bridge(self, bridge_id: str) -> bool:
        return bridge_id in self._conferences or bridge_id in self._bridges

    async def wait_ready(self, timeout: float | None) -> None:
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

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str = "") -> asyncio.Task[Any]:
        """Run a request off the event-delivery task (handlers must not hold it up).

        ``what`` says what the task does. Each task handles the errors it expects and logs
        them; anything it lets through is logged here with ``what``, never lost."""
        task = asyncio.get_running_loop().create_task(coro, name=what or None)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        if isinstance(exc, (AriError, TelephonyError)):
            logger.warning("telephony task %r failed: %s", task.get_name(), exc)
        else:
            logger.error("telephony task %r failed", task.get_name(), exc_info=exc)

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
        if self._reaping:
            # Off the delivery task: reaping waits for the events queued behind this job.
            self.spawn(self._reap_in_background("after a reconnect"), "orphan reaping after a reconnect")

    async def live_channel_ids(self) -> set[str]:
        """Every channel alive in Asterisk now, ours or not."""
        return {channel.id for channel in await self.client.list_channels()}

    async def survey(self) -> list[LiveChannel]:
        """Our channels alive in Asterisk now, tracked or not, with their roles read back
        from channel variables (from the id for snoop channels, and for a channel whose
        variables cannot be read): what a restarted engine rebuilds its calls from (see
        :meth:`Conference.recover` and :meth:`Leg.adopt`). A Local channel's ``;2`` half
        is not listed apart from its ``;1`` half."""
        return (await take_census(self)).live

    # -- orphans ---------------------------------------------------------------------
    def add_claimer(self, claimer: Claimer) -> None:
        """``await claimer(channels, bridges)`` at each reaping, with our live channels
        (:class:`LiveChannel`, with roles) and our bridges that this engine does not
        track; it returns the ids it keeps (adopted, or another live engine's). Register
        claimers before the first reaping (:meth:`reap_orphans_at_start`)."""
        self._claimers.append(claimer)

    def remove_claimer(self, claimer: Claimer) -> None:
        if claimer in self._claimers:
            self._claimers.remove(claimer)

    async def reap_orphans(self) -> Reaped:
        """Hang up our channels and destroy our bridges that neither this engine tracks
        nor a claimer keeps, with a log line each (see :mod:`.orphans`); returns them.
        From the first call on, every reconnect of the events websocket reaps again.
        Raises :class:`~.ari.AriError` when Asterisk cannot be read."""
        self._reaping = True
        async with self._reap_lock:  # a reconnect's reaping and the start-up one do not overlap
            return await reap(self, self._claimers)

    def reap_orphans_at_start(self) -> asyncio.Task[Reaped | None]:
        """The engine's start-up reaping, once its claimers are registered: as soon as the
        events websocket is up (now, or when Asterisk becomes reachable). Errors are
        logged; the task's result is what was reaped (``None`` on an error)."""
        self._reaping = True
        return self.spawn(self._reap_in_background("at start-up", wait_ready=True), "orphan reaping at start-up")

    async def _reap_in_background(self, when: str, *, wait_ready: bool = False) -> Reaped | None:
        try:
            if wait_ready:
                await self.wait_ready(None)
            return await self.reap_orphans()
        except (AriError, TelephonyError) as exc:
            logger.warning("orphan reaping %s failed: %s", when, exc)
            return None


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
