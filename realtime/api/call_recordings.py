"""/v1/call_recordings/{call_attempt_id}: the audio of a recorded call.

The file stays where Asterisk wrote it (``/var/spool/asterisk/recording``); this streams it
from the PBX (``GET /recordings/stored/<name>/file``) with a cap on its size and on the
time the transfer may take. A process running the engine reads through its telephony; a
``--role web`` process opens a REST-only ARI client of its own from the same settings
(``REALTIME_ARI_URL``): it reads stored files and never controls a call. With the built-in
simulator the recordings live inside the engine process, so a web-only process answers 503.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from realtime.api.errors import BadGateway, EngineUnavailable, NotFound
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
READER: web.AppKey[AriClient] = web.AppKey("call_recordings_ari", AriClient)

resource = Resource("call_recordings", None, "Call recordings: the audio of recorded calls, by call attempt id",
                    path=PATH)


async def reader_ctx(app: web.Application) -> AsyncIterator[None]:
    """A web-only process: an ARI client for reading stored recordings (no events websocket)."""
    settings = app[SETTINGS]
    client = AriClient(settings.ari_url or "", settings.ari_user, settings.ari_password, settings.ari_app)
    app[READER] = client
    yield
    await client.close()


def _pbx(app: web.Application) -> AriClient | None:
    telephony = app.get(TELEPHONY)
    return telephony.client if telephony is not None else app.get(READER)


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
