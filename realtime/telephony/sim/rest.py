"""ARI over HTTP: authentication, routing by the shipped swagger, parameters, and the
events websocket, answering exactly the way Asterisk's res_ari does."""
from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from aiohttp import WSMsgType, web

from .model import ASTERISK_ID, ASTERISK_VERSION, ari_time
from .pbx import AriError, Pbx
from .stasis import EventStream

logger = logging.getLogger(__name__)

API_DOCS = Path(__file__).with_name("api-docs")
REALM = 'Basic realm="Asterisk REST Interface"'
PBX_KEY = web.AppKey("pbx", Pbx)
STREAMS_KEY = web.AppKey("event_streams", set)


@dataclass
class Call:
    """One ARI request: merged query/body parameters, body variables, path arguments."""

    params: dict[str, str]
    variables: dict
    args: dict[str, str]
    body: dict = field(default_factory=dict)
    request: web.Request | None = None


def json_reply(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, separators=(",", ":")),
                        content_type="application/json", headers=headers)


def error_reply(status: int, message: str, key: str = "message") -> web.Response:
    return json_reply(status, {key: message})


def no_content() -> web.Response:
    return web.Response(status=204)


# ---------------------------------------------------------------------- routing table


def _swagger_routes() -> dict[str, list[tuple[re.Pattern, str, set[str]]]]:
    """(regex, template, methods) for every path the shipped swagger declares, by first
    path segment; paths with fewer variables first, so ``/channels/create`` beats
    ``/channels/{channelId}``."""
    routes = []
    for doc in API_DOCS.glob("*.json"):
        if doc.name == "resources.json":
            continue
        for api in json.loads(doc.read_text())["apis"]:
            template = api["path"]
            pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
            methods = {operation["httpMethod"] for operation in api["operations"]}
            routes.append((re.compile(f"^{pattern}$"), template, methods))
    routes.sort(key=lambda route: route[1].count("{"))
    by_resource: dict[str, list] = {}
    for route in routes:
        by_resource.setdefault(_resource(route[1]), []).append(route)
    return by_resource


def _resource(path: str) -> str:
    return path.split("/", 2)[1]


ROUTES = _swagger_routes()
OPERATIONS: dict[tuple[str, str], Callable[[Pbx, Call], tuple[int, object]]] = {}


def operation(method: str, template: str):
    def register(handler):
        OPERATIONS[(method, template)] = handler
        return handler
    return register


# ---------------------------------------------------------------------- operations


@operation("GET", "/asterisk/info")
def asterisk_info(pbx: Pbx, call: Call):
    info = {
        "build": {"os": "Linux", "kernel": "", "options": "", "machine": "x86_64",
                  "date": "", "user": "realtime-sim"},
        "system": {"version": ASTERISK_VERSION, "entity_id": ASTERISK_ID},
        "config": {"name": "", "default_language": "en", "setid": {"user": "", "group": ""}},
        "status": {"startup_time": ari_time(pbx.started_at), "last_reload_time": ari_time(pbx.started_at)},
    }
    only = [part for part in call.params.get("only", "").split(",") if part]
    return 200, {key: value for key, value in info.items() if not only or key in only}


@operation("GET", "/asterisk/ping")
def asterisk_ping(pbx: Pbx, call: Call):
    return 200, {"asterisk_id": ASTERISK_ID, "ping": "pong", "timestamp": ari_time()}


@operation("GET", "/endpoints")
def endpoints(pbx: Pbx, call: Call):
    return 200, []


@operation("GET", "/channels")
def list_channels(pbx: Pbx, call: Call):
    return 200, [channel.json() for channel in pbx.channels.values()]


@operation("POST", "/channels")
def originate(pbx: Pbx, call: Call):
    return 200, pbx.originate(call.params, call.variables)


@operation("POST", "/channels/{channelId}")
def originate_with_id(pbx: Pbx, call: Call):
    return 200, pbx.originate(call.params, call.variables, call.args["channelId"])


@operation("POST", "/channels/create")
def create_channel(pbx: Pbx, call: Call):
    return 200, pbx.create(call.params, call.variables)


@operation("GET", "/channels/{channelId}")
def get_channel(pbx: Pbx, call: Call):
    return 200, pbx.channel(call.args["channelId"]).json()


@operation("DELETE", "/channels/{channelId}")
def hangup(pbx: Pbx, call: Call):
    pbx.hangup(call.args["channelId"], call.params)
    return 204, None


def _channel_action(method: str, path: str, action: Callable[[Pbx, str, dict], object]) -> None:
    def handler(pbx: Pbx, call: Call):
        action(pbx, call.args["channelId"], call.params)
        return 204, None
    OPERATIONS[(method, f"/channels/{{channelId}}/{path}")] = handler


_channel_action("POST", "continue", lambda pbx, cid, p: pbx.continue_in_dialplan(cid, p))
_channel_action("POST", "move", lambda pbx, cid, p: pbx.move(cid, p))
_channel_action("POST", "answer", lambda pbx, cid, p: pbx.answer(cid))
_channel_action("POST", "ring", lambda pbx, cid, p: pbx.no_op(cid))
_channel_action("DELETE", "ring", lambda pbx, cid, p: pbx.no_op(cid))
_channel_action("POST", "progress", lambda pbx, cid, p: pbx.no_op(cid))
_channel_action("POST", "dtmf", lambda pbx, cid, p: pbx.send_dtmf(cid, p))
_channel_action("POST", "mute", lambda pbx, cid, p: pbx.mute(cid, p))
_channel_action("DELETE", "mute", lambda pbx, cid, p: pbx.mute(cid, p))
_channel_action("POST", "hold", lambda pbx, cid, p: pbx.hold(cid, True))
_channel_action("DELETE", "hold", lambda pbx, cid, p: pbx.hold(cid, False))
_channel_action("POST", "moh", lambda pbx, cid, p: pbx.no_op(cid))
_channel_action("DELETE", "moh", lambda pbx, cid, p: pbx.no_op(cid))
_channel_action("POST", "silence", lambda pbx, cid, p: pbx.no_op(cid))
_channel_action("DELETE", "silence", lambda pbx, cid, p: pbx.no_op(cid))
_channel_action("POST", "variable", lambda pbx, cid, p: pbx.set_variable(cid, p))
_channel_action("POST", "dial", lambda pbx, cid, p: pbx.dial(cid, p))


@operation("GET", "/channels/{channelId}/variable")
def get_variable(pbx: Pbx, call: Call):
    return 200, pbx.get_variable(call.args["channelId"], call.params)


@operation("POST", "/channels/{channelId}/play")
@operation("POST", "/channels/{channelId}/play/{playbackId}")
def play_on_channel(pbx: Pbx, call: Call):
    return 201, pbx.play_on_channel(call.args["channelId"], call.params, call.args.get("playbackId"))


@operation("POST", "/channels/{channelId}/snoop")
@operation("POST", "/channels/{channelId}/snoop/{snoopId}")
def snoop(pbx: Pbx, call: Call):
    return 200, pbx.snoop(call.args["channelId"], call.params, call.args.get("snoopId"))


@operation("GET", "/bridges")
def list_bridges(pbx: Pbx, call: Call):
    return 200, [bridge.json() for bridge in pbx.bridges.values()]


@operation("POST", "/bridges")
def create_bridge(pbx: Pbx, call: Call):
    return 200, pbx.create_bridge(call.params)


@operation("POST", "/bridges/{bridgeId}")
def create_bridge_with_id(pbx: Pbx, call: Call):
    return 200, pbx.create_bridge(call.params, call.args["bridgeId"])


@operation("GET", "/bridges/{bridgeId}")
def get_bridge(pbx: Pbx, call: Call):
    return 200, pbx.bridge(call.args["bridgeId"]).json()


@operation("DELETE", "/bridges/{bridgeId}")
def destroy_bridge(pbx: Pbx, call: Call):
    pbx.destroy_bridge(call.args["bridgeId"])
    return 204, None


@operation("POST", "/bridges/{bridgeId}/addChannel")
def add_channel(pbx: Pbx, call: Call):
    pbx.add_to_bridge(call.args["bridgeId"], call.params)
    return 204, None


@operation("POST", "/bridges/{bridgeId}/removeChannel")
def remove_channel(pbx: Pbx, call: Call):
    pbx.remove_from_bridge(call.args["bridgeId"], call.params)
    return 204, None


@operation("POST", "/bridges/{bridgeId}/moh")
@operation("DELETE", "/bridges/{bridgeId}/moh")
def bridge_moh(pbx: Pbx, call: Call):
    pbx.bridge_moh(call.args["bridgeId"], call.request.method == "POST")
    return 204, None


@operation("POST", "/bridges/{bridgeId}/play")
@operation("POST", "/bridges/{bridgeId}/play/{playbackId}")
def play_on_bridge(pbx: Pbx, call: Call):
    return 201, pbx.play_on_bridge(call.args["bridgeId"], call.params, call.args.get("playbackId"))


@operation("POST", "/bridges/{bridgeId}/record")
def record_bridge(pbx: Pbx, call: Call):
    recording = pbx.record_bridge(call.args["bridgeId"], call.params)
    # ast_ari_response_created(): 201 with the live recording's URL in Location.
    headers = {"Location": f"/recordings/live/{quote(recording['name'], safe='')}"}
    return 201, json_reply(201, recording, headers)


@operation("GET", "/recordings/live/{recordingName}")
def get_live_recording(pbx: Pbx, call: Call):
    return 200, pbx.live_recording(call.args["recordingName"]).json()


@operation("POST", "/recordings/live/{recordingName}/stop")
def stop_recording(pbx: Pbx, call: Call):
    pbx.stop_recording(call.args["recordingName"])
    return 204, None


@operation("GET", "/recordings/stored")
def list_stored_recordings(pbx: Pbx, call: Call):
    return 200, [recording.json() for recording in pbx.stored.values()]


@operation("GET", "/recordings/stored/{recordingName}")
def get_stored_recording(pbx: Pbx, call: Call):
    return 200, pbx.stored_recording(call.args["recordingName"]).json()


@operation("DELETE", "/recordings/stored/{recordingName}")
def delete_stored_recording(pbx: Pbx, call: Call):
    pbx.delete_stored_recording(call.args["recordingName"])
    return 204, None


@operation("GET", "/recordings/stored/{recordingName}/file")
def stored_recording_file(pbx: Pbx, call: Call):
    recording = pbx.stored_recording(call.args["recordingName"])
    # resource_recordings.c: "Content-Type: <media type>/<file extension>", so wav is audio/wav.
    return 200, web.Response(body=recording.audio(), content_type=f"audio/{recording.format}")


@operation("GET", "/playbacks/{playbackId}")
def get_playback(pbx: Pbx, call: Call):
    return 200, pbx.playback(call.args["playbackId"]).json()


@operation("DELETE", "/playbacks/{playbackId}")
def stop_playback(pbx: Pbx, call: Call):
    pbx.stop_playback(call.args["playbackId"])
    return 204, None


@operation("POST", "/playbacks/{playbackId}/control")
def control_playback(pbx: Pbx, call: Call):
    pbx.control_playback(call.args["playbackId"], call.params)
    return 204, None


@operation("GET", "/applications")
def list_applications(pbx: Pbx, call: Call):
    return 200, [pbx.application_json(name) for name in pbx.apps.apps]


@operation("GET", "/applications/{applicationName}")
def get_application(pbx: Pbx, call: Call):
    return 200, pbx.application_json(call.args["applicationName"])


@operation("POST", "/applications/{applicationName}/subscription")
@operation("DELETE", "/applications/{applicationName}/subscription")
def subscription(pbx: Pbx, call: Call):
    on = call.request.method == "POST"
    return 200, pbx.subscribe(call.args["applicationName"], call.params, on)


@operation("PUT", "/applications/{applicationName}/eventFilter")
def event_filter(pbx: Pbx, call: Call):
    return 200, pbx.set_event_filter(call.args["applicationName"], call.body)


# ---------------------------------------------------------------------- HTTP plumbing


def authorized(request: web.Request, user: str, password: str) -> bool:
    """Basic auth if an Authorization header is present, else ``api_key=user:password``."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded.strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
    else:
        given = request.query.get("api_key")
        if given is None:
            return False
    given_user, _, given_password = given.partition(":")
    return given_user == user and given_password == password


def unauthorized() -> web.Response:
    response = error_reply(401, "Authentication required")
    response.headers["WWW-Authenticate"] = REALM
    return response


async def _read_call(request: web.Request, args: dict[str, str]) -> Call:
    params = {key: value for key, value in request.query.items() if key != "api_key"}
    body: dict = {}
    if request.can_read_body and request.content_type == "application/json":
        raw = await request.read()
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                raise AriError(400, "Error parsing request body") from None
            if not isinstance(body, dict):
                raise AriError(400, "Request body must be a JSON object")
    variables = body.get("variables") if isinstance(body.get("variables"), dict) else {}
    for key, value in body.items():
        if key == "variables":
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, list):
            value = ",".join(str(item) for item in value)
        params[key] = value if isinstance(value, str) else json.dumps(value)
    return Call(params, variables, args, body, request)


def _api_doc(request: web.Request, name: str) -> web.Response:
    path = API_DOCS / name
    if not re.fullmatch(r"\w+\.json", name) or not path.is_file():
        return error_reply(404, "Resource not found")
    doc = json.loads(path.read_text())
    doc["basePath"] = f"{request.scheme}://{request.host}/ari"
    return json_reply(200, doc)


async def handle(request: web.Request) -> web.StreamResponse:
    pbx = request.app[PBX_KEY]
    config = pbx.config
    if not authorized(request, config.user, config.password):
        return unauthorized()
    path = "/" + request.match_info["tail"]
    if path.endswith("/") and path != "/":
        return error_reply(404, f"ARI URLs do not end with a slash. Try /ari{path.rstrip('/')}")
    if path.startswith("/api-docs/"):
        if request.method != "GET":
            return error_reply(405, "Invalid method")
        return _api_doc(request, path[len("/api-docs/"):])
    if path == "/events" and request.method == "GET":
        return await events_socket(request, pbx)
    for pattern, template, methods in ROUTES.get(_resource(path), ()):
        match = pattern.match(path)
        if match is None:
            continue
        if request.method not in methods:
            return error_reply(405, "Invalid method")
        handler = OPERATIONS.get((request.method, template))
        if handler is None:
            return error_reply(501, f"{request.method} {template} is not implemented by the simulator")
        try:
            status, body = handler(pbx, await _read_call(request, match.groupdict()))
        except AriError as error:
            return error_reply(error.status, error.message, error.key)
        if isinstance(body, web.StreamResponse):  # audio, or a reply with headers of its own
            return body
        return no_content() if status == 204 else json_reply(status, body)
    return error_reply(404, "Resource not found")


async def events_socket(request: web.Request, pbx: Pbx) -> web.StreamResponse:
    apps = [name for name in request.query.get("app", "").split(",") if name]
    if not apps:
        return web.Response(
            status=400, content_type="text/html",
            text="<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n"
                 "<title>400 Bad Request</title>\r\n</head><body>\r\n<h1>Bad Request</h1>\r\n"
                 "<p>HTTP request is missing param: [app]</p>\r\n<hr />\r\n"
                 "<address>Asterisk Server</address>\r\n</body></html>\r\n")
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    stream = EventStream(ws, apps)
    subscribe_all = request.query.get("subscribeAll", "").lower() in ("true", "yes", "1")
    streams = request.app[STREAMS_KEY]
    streams.add(stream)
    pbx.apps.connect(stream, subscribe_all)
    logger.debug("events websocket for %s connected", ",".join(apps))
    try:
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
    finally:
        streams.discard(stream)
        request.app[PBX_KEY].apps.disconnect(stream)
        await stream.close()
    return ws
