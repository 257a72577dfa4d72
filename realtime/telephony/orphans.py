"""What Asterisk holds of ours, and reaping what no live session owns.

A real Asterisk never hangs up the channels of a Stasis application whose process died:
callers and leads of a killed engine would talk to nobody, ring for ever, or sit in
silence. :func:`take_census` finds every channel and bridge of ours alive in Asterisk
now; :func:`reap` hangs up / destroys those that neither this engine tracks nor a
claimer keeps (the caller flow adopting a session, or knowing it belongs to another live
engine), with one log line each.

What makes a channel ours, using only what a real Asterisk 22 does:

* its role variables (``GET /channels/{id}/variable``; Asterisk answers it for any
  channel, ringing or not - only *setting* one needs Stasis, 409 otherwise);
* its id (``lead-``, ``caller-``, ``transfer-``, ``supervisor-``, ``snoop-``, see
  :mod:`.roles`): a ringing channel has not run ``Stasis()`` yet, so nothing else tells
  which application it was originated for;
* being in ``Stasis()`` of our application (``dialplan.app_name == "Stasis"`` and
  ``app_data`` starting with our app: a snoop channel reads ``"<app>,snoop"``, a caller
  typing a PIN ``"<app>,dial-in"``);
* being in one of our bridges (``conf-``, ``xfer-``, ``sup-``).

A channel with our role or id is ours in whatever Stasis application it sits: another
engine's, alive, or dead and taken over (``survey()`` lists them for adoption). A channel
with neither is ours only in our application or our bridges; Asterisk's own
``Announcer/`` and ``Recorder/`` channels (bridge music) never are: they go with the
bridge. A Local channel's ``;2`` half follows its ``;1`` half (hanging up one ends both).

So on an Asterisk shared by several engines, only a claimer can tell another live
engine's calls from orphans (a ringing channel or a bridge names no application): an
engine's claimers must return the ids of the calls of engines still alive. With no claimer
registered at all, a channel in another application's Stasis (and the bridge it is in) is
left to that application.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Literal

from .ari import AriConflict, AriError, Bridge, Channel, NoSuchBridge, NoSuchChannel
from .roles import VARIABLES, ChannelRole, Role, is_our_bridge, role_from_channel_id

if TYPE_CHECKING:
    from .service import Telephony

logger = logging.getLogger(__name__)

_ASTERISK_OWN = ("Announcer/", "Recorder/")
SNOOP_ARG = "snoop"


@dataclasses.dataclass(frozen=True)
class LiveChannel:
    """One of our channels found alive in Asterisk, with the role it carries (from its
    variables; for a snoop channel, or one whose variables cannot be read, from its id)."""

    channel: Channel
    role: ChannelRole
    bridge_id: str | None


Claimer = Callable[[list[LiveChannel], list[Bridge]], Awaitable[set[str]]]
"""``await claimer(channels, bridges)``: given our channels and bridges that this engine
does not track, the ids (channel ids, bridge ids) it keeps - adopted just now, or owned by
another live engine. Everything else of ours is reaped."""


@dataclasses.dataclass(frozen=True)
class Orphan:
    """A channel hung up, or a bridge destroyed, because no live session owned it."""

    kind: Literal["channel", "bridge"]
    id: str
    what: str                        # "lead (session s1, call c1)", "conference bridge", ...
    why: str                         # why it counted as ours and as nobody's
    role: ChannelRole | None = None  # for channels with a role


@dataclasses.dataclass(frozen=True)
class Reaped:
    """What one reaping ended (channels first, then bridges)."""

    channels: tuple[Orphan, ...] = ()
    bridges: tuple[Orphan, ...] = ()

    @property
    def ids(self) -> set[str]:
        return {orphan.id for orphan in (*self.channels, *self.bridges)}


@dataclasses.dataclass
class Census:
    """Our channels and bridges alive in Asterisk at one moment."""

    live: list[LiveChannel]                    # ours, with a role
    roleless: list[tuple[Channel, str]]        # ours without a role: (channel, why ours)
    bridges: list[Bridge]                      # ours, by id
    bridge_of: dict[str, str]                  # channel id -> id of our bridge it is in


def base_id(channel_id: str) -> str:
    """A Local channel's ``;2`` half answers to its ``;1`` half's id."""
    return channel_id.split(";", 1)[0]


def _stasis_args(channel: Channel, app: str) -> list[str] | None:
    """The ``Stasis()`` arguments when the channel is in our application, else None."""
    if channel.dialplan.app_name != "Stasis":
        return None
    name, *args = channel.dialplan.app_data.split(",")
    return args if name == app else None


def _in_other_app(channel: Channel, app: str) -> bool:
    return channel.dialplan.app_name == "Stasis" and channel.dialplan.app_data.split(",")[0] != app


async def _variables(telephony: Telephony, channel_id: str) -> dict[str, str | None] | None:
    """The role variables, ``{}`` when Asterisk will not say, ``None`` when it is gone."""
    client = telephony.client
    try:
        values = await asyncio.gather(*(client.get_variable(channel_id, name) for name in VARIABLES))
    except NoSuchChannel:
        return None
    except AriConflict:
        return {}  # not what Asterisk 22 answers a read, but then the id still tells
    return dict(zip(VARIABLES, values))


async def take_census(telephony: Telephony) -> Census:
    """Every channel and bridge of ours alive in Asterisk now (see the module's rules)."""
    client, app = telephony.client, telephony.app
    channels = await client.list_channels()
    bridges = [bridge for bridge in await client.list_bridges() if is_our_bridge(bridge.id)]
    bridge_of = {channel_id: bridge.id for bridge in bridges for channel_id in bridge.channels}
    listed = {channel.id for channel in channels}
    candidates = []
    for channel in channels:
        if channel.name.startswith(_ASTERISK_OWN):
            continue
        if ";" in channel.id and base_id(channel.id) in listed:
            continue  # goes with its ;1 half
        if (role_from_channel_id(channel.id) is not None or _stasis_args(channel, app) is not None
                or channel.id in bridge_of):
            candidates.append(channel)
    read = await asyncio.gather(*(_variables(telephony, channel.id) for channel in candidates))
    roles: dict[str, ChannelRole] = {}
    roleless: list[tuple[Channel, str]] = []
    kept: list[Channel] = []
    for channel, values in zip(candidates, read):
        if values is None:
            continue  # hung up meanwhile
        kept.append(channel)
        role = ChannelRole.from_variables(values) or role_from_channel_id(channel.id)
        args = _stasis_args(channel, app)
        if role is None and args is not None and args[:1] == [SNOOP_ARG]:
            role = ChannelRole(Role.SNOOP)
        if role is not None:
            roles[channel.id] = role
        elif args is not None:
            roleless.append((channel, f"in our Stasis application ({channel.dialplan.app_data})"))
        elif not _in_other_app(channel, app):
            roleless.append((channel, f"in our bridge {bridge_of[channel.id]}"))
    live = [LiveChannel(channel, _with_target(channel, roles), bridge_of.get(channel.id))
            for channel in kept if channel.id in roles]
    return Census(live, roleless, bridges, bridge_of)


def _with_target(channel: Channel, roles: dict[str, ChannelRole]) -> ChannelRole:
    """A snoop channel (``Snoop/<target>-<n>``) belongs to the session of the leg it hears."""
    role = roles[channel.id]
    if role.role is Role.SNOOP and not role.session_id and channel.name.startswith("Snoop/"):
        target = roles.get(channel.name[len("Snoop/"):].rpartition("-")[0])
        if target is not None:
            role = dataclasses.replace(role, session_id=target.session_id, campaign_id=target.campaign_id)
    return role


def describe(role: ChannelRole) -> str:
    parts = [f"session {role.session_id or '?'}"]
    if role.campaign_id:
        parts.append(f"campaign {role.campaign_id}")
    if role.call_id:
        parts.append(f"call {role.call_id}")
    return f"{role.role.value} ({', '.join(parts)})"


_BRIDGE_KINDS = {"conf-": "conference bridge", "xfer-": "transfer bridge", "sup-": "supervision bridge"}


def _bridge_kind(bridge_id: str) -> str:
    return next(kind for prefix, kind in _BRIDGE_KINDS.items() if bridge_id.startswith(prefix))


async def reap(telephony: Telephony, claimers: Iterable[Claimer]) -> Reaped:
    """Hang up our channels and destroy our bridges that no live session owns.

    Owned means tracked by ``telephony`` or kept by a claimer; keeping a bridge keeps
    whoever is in it, and keeping a channel keeps its bridge (destroying either would
    cut a live call). A claimer that fails stops the reaping: nothing is reaped when it
    is not known what is kept. Raises :class:`~.ari.AriError` when Asterisk cannot be
    read (nothing reaped).
    """
    census = await take_census(telephony)
    # Events already received (a StasisStart a dial-in is about to take, a leg ending)
    # must reach their owners before we judge what nobody owns.
    await telephony.client.settle()
    untracked = [live for live in census.live if not telephony.owns_channel(base_id(live.channel.id))]
    loose_bridges = [bridge for bridge in census.bridges if not telephony.owns_bridge(bridge.id)]
    kept: set[str] = set()
    claimers = list(claimers)
    if not claimers:
        kept = {live.channel.id for live in untracked if _in_other_app(live.channel, telephony.app)}
    elif untracked or loose_bridges:
        for claimer in claimers:
            try:
                kept |= set(await claimer(list(untracked), list(loose_bridges)))
            except Exception:
                logger.exception("orphan reaping stopped: claimer %r failed", claimer)
                return Reaped()

    def owned(channel_id: str) -> bool:
        return telephony.owns_channel(base_id(channel_id)) or channel_id in kept or base_id(channel_id) in kept

    kept_bridges = {bridge.id for bridge in census.bridges
                    if telephony.owns_bridge(bridge.id) or bridge.id in kept
                    or any(owned(member) for member in bridge.channels)}
    nobody = "no live session owns it: not tracked by this engine, kept by no claimer"
    channel_orphans = []
    for live in census.live:
        channel_id = live.channel.id
        if owned(channel_id) or census.bridge_of.get(channel_id) in kept_bridges:
            continue
        channel_orphans.append(Orphan("channel", channel_id, describe(live.role), nobody, live.role))
    for channel, why in census.roleless:
        if owned(channel.id) or census.bridge_of.get(channel.id) in kept_bridges:
            continue
        channel_orphans.append(Orphan("channel", channel.id, f"channel {channel.name} with no role",
                                      f"{why}; {nobody}"))
    bridge_orphans = [Orphan("bridge", bridge.id, _bridge_kind(bridge.id),
                             f"our bridge id; {nobody}, nor anyone in it")
                      for bridge in census.bridges if bridge.id not in kept_bridges]

    # Snoops first: hanging up the leg a snoop hears takes the snoop down with it.
    channel_orphans.sort(key=lambda orphan: orphan.role is None or orphan.role.role is not Role.SNOOP)
    reaped_channels = [orphan for orphan in channel_orphans if await _end(telephony, orphan)]
    reaped_bridges = [orphan for orphan in bridge_orphans if await _end(telephony, orphan)]
    if reaped_channels or reaped_bridges:
        logger.warning("orphans reaped: %d channel(s), %d bridge(s)", len(reaped_channels), len(reaped_bridges))
    return Reaped(tuple(reaped_channels), tuple(reaped_bridges))


async def _end(telephony: Telephony, orphan: Orphan) -> bool:
    client = telephony.client
    try:
        if orphan.kind == "channel":
            await client.hangup(orphan.id)
        else:
            await client.destroy_bridge(orphan.id)
    except (NoSuchChannel, NoSuchBridge):
        return False  # gone meanwhile: nothing left to reap
    except AriError as exc:
        logger.warning("orphan %s %s (%s) not reaped: %s", orphan.kind, orphan.id, orphan.what, exc)
        return False
    action = "hung up" if orphan.kind == "channel" else "destroyed"
    logger.warning("orphan %s %s %s: %s; %s", orphan.kind, orphan.id, action, orphan.what, orphan.why)
    return True
