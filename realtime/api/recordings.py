"""/v1/recordings: audio for voicemail drops and safe-harbor messages.

Uploaded as multipart/form-data (``file``, and optionally ``name``), streamed to
``<data_dir>/recordings/<account_id>/<id>.<ext>``; the PBX plays it as
``recording:acct<account_id>-<id>``.
"""
from __future__ import annotations

import logging
import mimetypes
import os
import re
import uuid
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from sqlalchemy import exists, or_, select

from realtime.api.bodies import chunks, form_parts, read_field
from realtime.api.errors import Conflict, Invalid, NotFound, PayloadTooLarge, UnsupportedMediaType
from realtime.api.routing import Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema
from realtime.app_keys import SETTINGS
from realtime.store.models import Campaign, Recording
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
CHUNK = 64 * 1024
_AUDIO = re.compile(r"^audio/[A-Za-z0-9.+*-]{1,90}$")  # the column holds 100 characters
EXTENSIONS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/mpeg": "mp3",
              "audio/mp3": "mp3", "audio/ogg": "ogg", "audio/basic": "ulaw", "audio/gsm": "gsm"}

NAME = Field("name", "string", "Defaults to the uploaded file's name", min_length=1, max_length=200)
SCHEMA = Schema("recording", (
    ID,
    NAME,
    Field("content_type", "string", "audio/*, as uploaded", read_only=True),
    Field("size", "integer", "Bytes", read_only=True, minimum=0),
    Field("media_uri", "string", "What the PBX plays, e.g. recording:acct1-42", read_only=True),
    CREATED_AT,
))
UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "name": NAME.json_schema("create"),
        "file": {"type": "string", "format": "binary", "description": f"audio/*, at most {MAX_BYTES} bytes"},
    },
    "additionalProperties": False,
}

resource = Resource("recordings", SCHEMA, "Recordings: voicemail-drop and safe-harbor audio")


def present(ctx: Context, recording: Recording) -> dict[str, Any]:
    return ctx.item(recording.id, SCHEMA.dump(recording))


def folder(ctx: Context) -> Path:
    return Path(ctx.request.app[SETTINGS].data_dir) / "recordings" / str(ctx.account_id)


def extension(content_type: str, filename: str | None) -> str:
    if content_type in EXTENSIONS:
        return EXTENSIONS[content_type]
    suffix = Path(filename or "").suffix.lstrip(".").lower()
    if re.fullmatch(r"[a-z0-9]{1,8}", suffix):
        return suffix
    guessed = mimetypes.guess_extension(content_type)
    return guessed.lstrip(".") if guessed else "audio"


def default_name(filename: str | None) -> str:
    """The name of a recording uploaded without one: its file's, without the control
    characters (NUL among them) a part header may smuggle in."""
    stem = "".join(c for c in Path(filename or "").stem if c.isprintable())
    return " ".join(stem.split())[:200] or "recording"


async def receive(ctx: Context, target: Path) -> dict[str, Any]:
    """Stream the form's file into ``target``; the form's fields, checked."""
    if ctx.request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("upload the audio as multipart/form-data with a 'file' part")
    form: dict[str, Any] = {}
    errors: dict[str, str] = {}
    async for part in form_parts(ctx.request):
        if not isinstance(part, BodyPartReader) or part.name not in ("file", "name") or part.name in form:
            errors[getattr(part, "name", None) or "form"] = "unknown or repeated field"
            continue
        if part.name == "name":
            try:
                form["name"] = NAME.convert((await read_field(part)).decode("utf-8"))
            except UnicodeDecodeError:
                errors["name"] = "must be UTF-8 text"
            except ValueError as exc:
                errors["name"] = str(exc)
            continue
        content_type = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not _AUDIO.match(content_type):
            errors["file"] = f"must be audio (audio/*), not {content_type or 'untyped data'}"
            continue
        form["file"] = (content_type, part.filename, await _save(part, target))
    if "file" not in form and "file" not in errors:
        errors["file"] = "required"
    if errors:
        raise Invalid.fields(errors)
    return form


async def _save(part: BodyPartReader, target: Path) -> int:
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        async for chunk in chunks(part, CHUNK):
            size += len(chunk)
            if size > MAX_BYTES:
                raise PayloadTooLarge(f"recordings are at most {MAX_BYTES} bytes", details={"max_bytes": MAX_BYTES})
            out.write(chunk)
    return size


@resource.list(filters=(Field("name", "string", max_length=200),))
async def list_recordings(ctx: Context) -> dict[str, Any]:
    query = scoped(Recording, ctx.account_id).order_by(Recording.id)
    if "name" in ctx.params:
        query = query.where(Recording.name == ctx.params["name"])
    return await ctx.page(query, lambda r: present(ctx, r))


@resource.create(summary="Upload a recording (multipart/form-data: file, name)", body=None, upload=UPLOAD,
                 errors=(413, 415, 422))
async def upload_recording(ctx: Context) -> dict[str, Any]:
    upload = folder(ctx) / f".upload-{uuid.uuid4().hex}"
    try:
        form = await receive(ctx, upload)
        content_type, filename, size = form["file"]
        recording = Recording(account_id=ctx.account_id, content_type=content_type, size=size, media_uri="",
                              name=form.get("name") or default_name(filename))
        ctx.session.add(recording)
        await ctx.session.flush()
        path = folder(ctx) / f"{recording.id}.{extension(content_type, filename)}"
        recording.media_uri = f"recording:acct{ctx.account_id}-{recording.id}"
        recording.storage_path = str(path)
        await ctx.session.flush()
        os.replace(upload, path)
    finally:
        upload.unlink(missing_ok=True)
    logger.info("recording %s uploaded: %s, %d bytes", recording.id, content_type, size)
    return present(ctx, recording)


@resource.read(summary="A recording's description (the audio is at .../audio)")
async def read_recording(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(Recording))


@resource.operation("GET", "/{id}/audio", name="audio", summary="The recording's audio", response="audio/*",
                    errors=(404,))
async def recording_audio(ctx: Context) -> web.FileResponse:
    recording = await ctx.find(Recording)
    path = Path(recording.storage_path or "")
    if not recording.storage_path or not path.is_file():
        raise NotFound(f"recording {recording.id} has no audio file", error_id="audio-missing")
    return web.FileResponse(path, headers={"Content-Type": recording.content_type})


@resource.update(summary="Rename a recording")
async def update_recording(ctx: Context) -> dict[str, Any]:
    recording = await ctx.find(Recording)
    for name, value in ctx.body.items():
        setattr(recording, name, value)
    await ctx.session.flush()
    return present(ctx, recording)


@resource.delete(summary="Delete a recording; refused (409) while a campaign plays it")
async def delete_recording(ctx: Context) -> None:
    recording = await ctx.find(Recording)
    in_use = await ctx.session.scalar(select(exists().where(
        Campaign.account_id == ctx.account_id,
        or_(Campaign.voicemail_recording_id == recording.id, Campaign.safe_harbor_recording_id == recording.id),
    )))
    if in_use:
        raise Conflict(f"recording {recording.id} is used by a campaign; change the campaign first",
                       error_id="recording-in-use")
    await ctx.session.delete(recording)
    await ctx.session.flush()
    if recording.storage_path:
        Path(recording.storage_path).unlink(missing_ok=True)
