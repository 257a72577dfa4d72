"""The simulator's own control API under ``/_sim`` (tests, benchmarks, demos).

Lets a test play the far end (DTMF, hang up), choose outcomes, break the events
websockets, restart the "Asterisk", and read what happened with the simulator's own
timestamps. Same credentials as ARI. JSON bodies or query parameters.

    GET    /_sim/journal                  {"speed", "channels": [...], "playbacks": [...], "recordings": [...]}
    DELETE /_sim/journal
    POST   /_sim/inbound                  app, args?, from?, name?, to?, endpoint=trunk, context=from-trunk
                                          (a phone calls in; answers the new channel's JSON)
    POST   /_sim/channels/{id}/dtmf       digits, duration_ms=100
    POST   /_sim/channels/{id}/hangup     cause=16 (far end hangs up, or refuses if ringing)
    POST   /_sim/outcomes                 outcome (farend.KINDS), number?, ring_seconds?, talk_seconds?
    DELETE /_sim/outcomes
    POST   /_sim/websockets/drop          the server closes every events websocket
    POST   /_sim/restart                  forget channels, bridges, apps; close websockets
"""
from __future__ import annotations

import logging

from aiohttp import web

from .pbx import AriError
from .rest import PBX_KEY, STREAMS_KEY, authorized, error_reply, json_reply, no_content, unauthorized
from .stasis import close_streams

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()


async def _params(request: web.Request) -> dict:
    params: dict = dict(request.query)
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            raise AriError(400, "request body must be JSON") from None
        if isinstance(body, dict):
            params.update(body)
    return params


def _seconds(value) -> float | None:
    return None if value in (None, "") else float(value)


@web.middleware
async def control_errors(request: web.Request, handler):
    if not request.path.startswith("/_sim"):
        return await handler(request)
    config = request.app[PBX_KEY].config
    if not authorized(request, config.user, config.password):
        return unauthorized()
    try:
        return await handler(request)
    except AriError as error:
        return error_reply(error.status, error.message, error.key)
    except (TypeError, ValueError) as error:
        return error_reply(400, str(error))


@routes.get("/_sim/journal")
async def journal(request: web.Request) -> web.Response:
    pbx = request.app[PBX_KEY]
    return json_reply(200, pbx.journal.json(pbx.config.speed))


@routes.delete("/_sim/journal")
async def clear_journal(request: web.Request) -> web.Response:
    request.app[PBX_KEY].journal.clear()
    return no_content()


@routes.post("/_sim/inbound")
async def inbound_call(request: web.Request) -> web.Response:
    params = {key: str(value) for key, value in (await _params(request)).items()}
    return json_reply(200, request.app[PBX_KEY].inbound(params))


@routes.post("/_sim/channels/{channel_id}/dtmf")
async def inject_dtmf(request: web.Request) -> web.Response:
    params = await _params(request)
    request.app[PBX_KEY].inject_dtmf(request.match_info["channel_id"], str(params.get("digits", "")),
                                     int(params.get("duration_ms", 100)))
    return no_content()


@routes.post("/_sim/channels/{channel_id}/hangup")
async def far_hangup(request: web.Request) -> web.Response:
    params = await _params(request)
    pbx = request.app[PBX_KEY]
    pbx.far_hangup(pbx.channel(request.match_info["channel_id"]), int(params.get("cause", 16)))
    return no_content()


@routes.post("/_sim/outcomes")
async def force_outcome(request: web.Request) -> web.Response:
    params = await _params(request)
    number = params.get("number")
    request.app[PBX_KEY].force_outcome(
        str(params.get("outcome", "")), None if number in (None, "") else str(number),
        _seconds(params.get("ring_seconds")), _seconds(params.get("talk_seconds")))
    return no_content()


@routes.delete("/_sim/outcomes")
async def clear_outcomes(request: web.Request) -> web.Response:
    request.app[PBX_KEY].outcomes.clear()
    return no_content()


@routes.post("/_sim/websockets/drop")
async def drop_websockets(request: web.Request) -> web.Response:
    streams = set(request.app[STREAMS_KEY])
    await close_streams(streams)
    return json_reply(200, {"dropped": len(streams)})


@routes.post("/_sim/restart")
async def restart(request: web.Request) -> web.Response:
    request.app[PBX_KEY].restart()
    await close_streams(request.app[STREAMS_KEY])
    logger.info("simulated Asterisk restarted")
    return no_content()
