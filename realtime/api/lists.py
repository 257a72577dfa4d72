"""/v1/lists: lead lists, uploaded as CSV (or fetched from an https URL) and imported in the background.

``POST /v1/lists`` takes multipart/form-data (``file``, ``name``, ``campaign_id``, and
optionally ``column_mapping`` as JSON text and ``webhook_url``) or a JSON body with
``source_url`` instead of the file. It answers 202 at once with the queued list; ``GET``
on the list shows the import's progress, ``/rejections`` the rows refused with their
row number (the header is row 1) and reason, and the ``webhook_url`` receives the
summary (event ``list.imported`` or ``list.import_failed``) when it is done.

The import runs in the process that took the upload: the server wires it with
:func:`setup_list_imports`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import BodyPartReader, web
from sqlalchemy import select

from realtime.api.bodies import chunks, form_parts, read_body, read_field
from realtime.api.errors import ApiError, Conflict, Invalid, PayloadTooLarge, UnsupportedMediaType
from realtime.api.pagination import KEYSET_PAGE_PARAMS
from realtime.api.routing import COLLECTION, Context, Resource
from realtime.api.validation import CREATED_AT, ID, Field, Schema, parse_json
from realtime.app_keys import SETTINGS, STORE, WEBHOOKS
from realtime.destinations import refused_url
from realtime.dialer.lists import (
    ImportProgress,
    ImportRunner,
    ListImportError,
    account_mapping,
    check_source_url,
    create_list,
    mapping_errors,
    read_headers,
)
from realtime.store.models import Campaign, LeadList, ListRejection, ListStatus
from realtime.store.scoping import scoped
from realtime.webhooks import WebhookDispatcher

logger = logging.getLogger(__name__)

MAX_BYTES = 2 * 1024**3
CHUNK = 256 * 1024
IMPORTS: web.AppKey[ImportRunner] = web.AppKey("list_imports", ImportRunner)


def setup_list_imports(app: web.Application, *, webhooks: WebhookDispatcher | None = None) -> None:
    """Run uploaded lists' imports in this application's process (call before it starts).

    The runner is made at start-up, once the store is there; without ``webhooks`` it
    uses the application's dispatcher (``app_keys.WEBHOOKS``) when it has one. Every web
    process's runner also fails the imports of processes that died (see ImportRunner).
    """

    async def imports(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        app[IMPORTS] = ImportRunner(
            app[STORE],
            work_dir=Path(settings.data_dir) / "imports",
            webhooks=webhooks or app.get(WEBHOOKS),
            allow_private=settings.allow_private_urls,
        )
        await app[IMPORTS].open()  # fails the imports a dead process left behind, from now on
        yield
        await app[IMPORTS].close()

    app.cleanup_ctx.append(imports)


class ImportsUnavailable(ApiError):
    status = 503
    error_id = "imports-unavailable"


def check_webhook_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
    return None if host and parts.scheme in ("https", "http") else "must be an http(s) URL"


def check_webhook_destination(url: str | None, *, allow_private: bool) -> None:
    """Refuse (422) a webhook URL naming an address outside the public internet; a name is
    checked when each delivery resolves it."""
    if url and not allow_private and (reason := refused_url(url)):
        message = f"{reason}: webhooks go to public addresses only"
        raise Invalid(message, error_id="webhook-url-refused", details={"fields": {"webhook_url": message}})


def check_mapping(value: dict) -> str | None:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return "must map CSV headers (text) to lead fields (text)"
    problems = {header: why for header, why in mapping_errors(value).items() if header}
    return "; ".join(f"{header}: {why}" for header, why in problems.items()) or None


def counter(name: str, description: str = "") -> Field:
    return Field(name, "integer", description, read_only=True, minimum=0)


NAME = Field("name", "string", "What the list is called", required=True, min_length=1, max_length=200)
CAMPAIGN = Field("campaign_id", "id", "The campaign its leads are called for", required=True)
MAPPING = Field("column_mapping", "object", "CSV header -> phone, a lead field (first_name, last_name, email, "
                "address, city, state, zip_code, ...) or custom:<field name>. Default: headers named like "
                "lead fields or the account's custom fields", check=check_mapping)
WEBHOOK = Field("webhook_url", "string", "An http(s) URL that receives the import summary when it is done; "
                "it must reach a public address", nullable=True,
                max_length=2000, check=check_webhook_url)
SOURCE = Field("source_url", "string", "An https URL to fetch the CSV from, instead of uploading it",
               nullable=True, max_length=2000)
ENABLED = Field("enabled", "boolean", "Whether its leads are dialled")
SCHEMA = Schema("list", (
    ID, NAME, CAMPAIGN, MAPPING, WEBHOOK, SOURCE, ENABLED,
    Field("status", "string", "queued, importing, ready or failed", enum=ListStatus, read_only=True),
    counter("rows_total", "Data rows in the file"),
    counter("rows_imported"), counter("rows_rejected", "See /rejections for which and why"),
    counter("rows_blocked", "Imported rows whose number is blocked: never dialled"),
    counter("households_created", "New phone numbers in the campaign"),
    counter("duplicates", "Rows whose phone was already in the campaign or earlier in the file"),
    Field("error", "string", "Why the import failed", read_only=True, nullable=True),
    Field("completed_at", "datetime", read_only=True, nullable=True),
    Field("rejections_uri", "string", read_only=True),
    CREATED_AT,
))
CREATE = Schema("new list", (NAME, CAMPAIGN, MAPPING, WEBHOOK, SOURCE))
UPDATE = Schema("list change", (Field("name", "string", min_length=1, max_length=200), ENABLED))
UPLOAD = {
    "type": "object",
    "required": ["name", "campaign_id", "file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "CSV, UTF-8, a header row first"},
        "name": NAME.json_schema("create"),
        "campaign_id": {"type": "integer", "minimum": 1},
        "column_mapping": {"type": "string", "description": "JSON object: " + MAPPING.description},
        "webhook_url": WEBHOOK.json_schema("create"),
    },
    "additionalProperties": False,
}
REJECTION = {
    "type": "object", "required": ["row_number", "reason"],
    "properties": {"row_number": {"type": "integer"}, "reason": {"type": "string"}},
}
FILTERS = (Field("campaign_id", "id"), Field("status", "string", enum=ListStatus))

resource = Resource("lists", SCHEMA, "Lead lists: CSV imports into a campaign, with progress and rejections")


def present(ctx: Context, lead_list: LeadList) -> dict[str, Any]:
    path = f"{resource.path}/{lead_list.id}"
    return ctx.item(lead_list.id, SCHEMA.dump(
        lead_list, duplicates=ImportProgress.of(lead_list).duplicates,
        rejections_uri=ctx.uri(path + "/rejections"),
    ))


@resource.list(filters=FILTERS)
async def list_lists(ctx: Context) -> dict[str, Any]:
    query = scoped(LeadList, ctx.account_id).order_by(LeadList.id)
    if "campaign_id" in ctx.params:
        query = query.where(LeadList.campaign_id == ctx.params["campaign_id"])
    if "status" in ctx.params:
        query = query.where(LeadList.status == ctx.params["status"])
    return await ctx.page(query, lambda lead_list: present(ctx, lead_list))


@resource.operation("POST", "", name="create", status=202, upload=UPLOAD, errors=(413, 415, 422),
                    summary="Upload a CSV list (multipart/form-data), or name its https source_url (JSON); "
                            "imported in the background")
async def create_list_resource(ctx: Context) -> dict[str, Any]:
    runner = ctx.request.app.get(IMPORTS)
    if runner is None:
        raise ImportsUnavailable("list imports are not set up on this server")
    upload = runner.work_dir / f"upload-{uuid.uuid4().hex}.csv"
    try:
        if ctx.request.content_type == "multipart/form-data":
            values = await _receive(ctx, upload)
            if values.get("source_url"):
                raise Invalid.fields({"source_url": "upload a file or name a source_url, not both"})
        elif ctx.request.content_type == "application/json":
            values = CREATE.validate(parse_json(await read_body(ctx.request)))
            if not values.get("source_url"):
                raise Invalid.fields({"source_url": "required without an uploaded file"})
            try:
                check_source_url(values["source_url"], allow_private=runner.allow_private)
            except ListImportError as exc:
                raise Invalid(exc.message, error_id=exc.error_id,
                              details={"fields": {"source_url": exc.message}}) from None
        else:
            raise UnsupportedMediaType("upload the CSV as multipart/form-data, or send JSON with a source_url")
        check_webhook_destination(values.get("webhook_url"), allow_private=runner.allow_private)
        await ctx.check_owned({"campaign_id": (Campaign, values["campaign_id"])})
        url = values.get("source_url") or None
        mapping = values.get("column_mapping")
        if url is None:
            mapping = await _file_mapping(ctx, upload, mapping)
        # Committed before the import starts, which runs in transactions of its own.
        async with ctx.request.app[STORE].transaction() as session:
            lead_list = await create_list(
                session, account_id=ctx.account_id, campaign_id=values["campaign_id"], name=values["name"],
                column_mapping=mapping or {}, webhook_url=values.get("webhook_url"),
                source_url=url,
            )
    except BaseException:
        upload.unlink(missing_ok=True)
        raise
    if url is not None:
        runner.start(lead_list.id, url=url)
    else:
        runner.start(lead_list.id, path=upload)
    logger.info("list %s queued for campaign %s", lead_list.id, lead_list.campaign_id)
    return present(ctx, lead_list)


async def _receive(ctx: Context, target: Path) -> dict[str, Any]:
    """Stream the form's file to ``target``; its other fields, validated."""
    fields: dict[str, Any] = {}
    errors: dict[str, str] = {}
    has_file = False
    async for part in form_parts(ctx.request):
        name = getattr(part, "name", None)
        if not isinstance(part, BodyPartReader) or name in fields or (name == "file" and has_file):
            errors[name or "form"] = "unknown or repeated field"
            continue
        if name == "file":
            has_file = True
            await _save(part, target)
            continue
        try:
            text = (await read_field(part)).decode("utf-8")
        except UnicodeDecodeError:
            errors[name or "form"] = "must be UTF-8 text"
            continue
        if name == "campaign_id":
            fields[name] = int(text) if text.isascii() and text.strip().isdigit() else text
        elif name == "column_mapping":
            try:
                fields[name] = json.loads(text)
            except ValueError:
                errors[name] = "must be a JSON object"
        else:
            fields[name or "form"] = text
    try:
        values = CREATE.validate(fields)
    except Invalid as exc:
        errors = {**exc.details["fields"], **errors}
        values = {}
    if not has_file:
        errors["file"] = "required"
    if errors:
        raise Invalid.fields(errors)
    return values


async def _save(part: BodyPartReader, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with target.open("wb") as out:
        async for chunk in chunks(part, CHUNK):
            size += len(chunk)
            if size > MAX_BYTES:
                raise PayloadTooLarge(f"lists are at most {MAX_BYTES} bytes", details={"max_bytes": MAX_BYTES})
            await asyncio.to_thread(out.write, chunk)


async def _file_mapping(ctx: Context, path: Path, mapping: dict[str, str] | None) -> dict[str, str]:
    """The mapping given (checked against the file's headers) or the default one."""
    try:
        headers = await asyncio.to_thread(read_headers, path)
    except ListImportError as exc:
        raise Invalid.fields({"file": exc.message}) from None
    if mapping is None:
        mapping = await account_mapping(ctx.session, ctx.account_id, headers)
    problems = mapping_errors(mapping, headers)
    if problems:
        if "" in problems:
            problems["column_mapping"] = problems.pop("") + f" (the file's columns: {', '.join(headers)})"
        raise Invalid.fields({(k if k == "column_mapping" else f"column_mapping.{k}"): v
                              for k, v in problems.items()})
    return mapping


@resource.read(summary="A list and its import's progress")
async def read_list(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(LeadList))


@resource.update(body=UPDATE, summary="Rename a list, or stop or resume dialling its leads")
async def update_list(ctx: Context) -> dict[str, Any]:
    lead_list = await ctx.find(LeadList)
    for name, value in ctx.body.items():
        setattr(lead_list, name, value)
    await ctx.session.flush()
    return present(ctx, lead_list)


@resource.delete(summary="Delete a list and its leads; refused (409) while it imports")
async def delete_list(ctx: Context) -> None:
    lead_list = await ctx.find(LeadList)
    if lead_list.status in (ListStatus.QUEUED, ListStatus.IMPORTING):
        raise Conflict(f"list {lead_list.id} is still importing", error_id="list-importing")
    await ctx.session.delete(lead_list)


@resource.operation("GET", "/{id}/rejections", name="rejections", query=KEYSET_PAGE_PARAMS, response=COLLECTION,
                    items=REJECTION, errors=(404,),
                    summary="Rows not imported: row number (the header is row 1) and reason")
async def list_rejections(ctx: Context) -> dict[str, Any]:
    lead_list = await ctx.find(LeadList)
    query = (select(ListRejection).where(ListRejection.lead_list_id == lead_list.id)
             .order_by(ListRejection.row_number))
    return await ctx.page(query, lambda r: {"row_number": r.row_number, "reason": r.reason},
                          key=ListRejection.row_number)
