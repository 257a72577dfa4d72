"""/v1/call_recordings/{call_attempt_id}: the audio of a recorded call.

The file stays where Asterisk wrote it (``/var/spool/asterisk/recording``); this streams it
from the PBX (``GET /recordings/stored/<name>/file``) with a cap on its size and on the
time the transfer may take. Each process reads through an ARI client of its own (REST
only: no events websocket, no call control), made from the same settings as the engine's
(``REALTIME_ARI_URL``, or the engine's built-in simulator in a one-process server), so
downloads never take the connections call control needs; a few at a time, more answer 503.
A ``--role web`` process with the built-in simulator (which lives in the engine process)
cannot reach the recordings: 503.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from realtime.api.errors import BadGateway, EngineUnavailable, NotFound, ServerBusy
from realtime.api.routing import Context, Resource
from realtime.app_keys import SETTINGS, TELEPHONY
from realtime.callflow.recording import PATH
from realtime.store.models import CallAttempt
from realtime.telephony.ari import AriClient, AriError, NoSuchRecording, RecordingFile
from realtime.telephony.recording import call_recording_name
from realtime.telephony.roles import LEAD_PREFIX

logger = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024 * 1024  # an hour of 8 kHz 16-bit mono WAV is 58 MB
TRANSFER_SECONDS = 120.0  # the whole file, from the PBX to the client
DOWNLOADS_AT_ONCE = 4  # per process
RETRY_AFTER = 5

resource = Resource("call_recordings", None, "Call recordings: the audio of recorded calls, by call attempt id",
                    path=PATH)


@dataclasses.dataclass
class _Reader:
    client: AriClient | None = None


READER: web.AppKey[_Reader] = web.AppKey("call_recordings_reader", _Reader)


def setup(app: web.Application) -> None:
    app[READER] = _Reader()

    async def close(app: web.Application) -> None:
        if app[READER].client is not None:
            await app[READER].client.close()

    app.on_cleanup.append(close)


def _pbx(app: web.Application) -> AriClient | None:
    """This process's client for reading recordings, made on first use (the engine's
    simulator, if any, has its address only once the application runs)."""
    reader = app[READER]
    if reader.client is None:
        settings = app[SETTINGS]
        telephony = app.get(TELEPHONY)
        url = telephony.client.base_url if telephony is not None else settings.ari_url
        if not url:
            return None
        reader.client = AriClient(url, settings.ari_user, settings.ari_password, settings.ari_app,
                                  max_concurrency=DOWNLOADS_AT_ONCE)
    return reader.client


def recording_name(attempt: CallAttempt) -> str | None:
    """The call's recording in Asterisk, when the attempt was recorded."""
    if not attempt.recording_url or not (attempt.channel_id or "").startswith(LEAD_PREFIX):
        return None
    return call_recording_name(attempt.channel_id.removeprefix(LEAD_PREFIX))


@resource.operation("GET", "/{id}", name="read", summary="A recorded call's audio (audio/wav), by call attempt id",
                    response="audio/*", errors=(404, 502))
async def read_call_recording(ctx: Context) -> web.StreamResponse:
    attempt = await ctx.find(CallAttempt)
    name = recording_name(attempt)
    if name is None:
        raise NotFound(f"call attempt {attempt.id} was not recorded", error_id="not-recorded",
                       details={"id": attempt.id})
    pbx = _pbx(ctx.request.app)
    if pbx is None:
        raise EngineUnavailable("this process cannot reach the PBX that keeps the recordings: set REALTIME_ARI_URL")
    if pbx.busy:
        raise ServerBusy(f"{DOWNLOADS_AT_ONCE} recordings are being downloaded from this server; retry in "
                         f"{RETRY_AFTER} seconds", details={"retry_after": RETRY_AFTER})
    try:
        audio = await pbx.open_stored_recording(name, timeout=TRANSFER_SECONDS)
    except NoSuchRecording:
        raise NotFound(f"the recording of call attempt {attempt.id} is not on the PBX (deleted?)",
                       error_id="recording-missing", details={"id": attempt.id}) from None
    except AriError as exc:
        logger.warning("recording %s of call attempt %s not read: %s", name, attempt.id, exc)
        raise BadGateway(f"the PBX did not give the recording: {exc.message}") from None
    if audio.size is not None and audio.size > MAX_BYTES:
        await audio.close()
        raise BadGateway(f"the recording is larger than {MAX_BYTES} bytes", details={"max_bytes": MAX_BYTES})
    content_type = audio.content_type if audio.content_type.startswith("audio/") else "audio/wav"
    headers = {"Content-Type": content_type, "Content-Disposition": f'inline; filename="call-{attempt.id}.wav"'}
    if audio.size is not None:
        headers["Content-Length"] = str(audio.size)
    if ctx.request.method == "HEAD":
        await audio.close()
        return web.Response(headers=headers)
    # Streamed after the handler's transaction is over: no database connection waits on the client.
    return web.Response(body=_stream(audio, name), headers=headers)


async def _stream(audio: RecordingFile, name: str) -> AsyncIterator[bytes]:
    sent = 0
    async with audio:
        async for chunk in audio.chunks():
            sent += len(chunk)
            if sent > MAX_BYTES:
                # Cut short rather than fill the client (and us) without end.
                logger.warning("recording %s: more than %d bytes; the transfer is cut", name, MAX_BYTES)
                raise ConnectionAbortedError(f"recording {name} exceeds {MAX_BYTES} bytes")
            yield chunk
