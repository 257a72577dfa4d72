"""Reading request bodies: whole JSON bodies and multipart uploads, as they arrive.

A client that stops sending in the middle of a body is not waited for: a JSON body must
arrive within ``BODY_TIMEOUT`` seconds, and an upload may pause at most ``IDLE_TIMEOUT``
seconds between two chunks (a 2 GiB list takes as long as it takes, but never stalls).
Either answers 408 ``request-timeout``. A multipart body cut off before its closing
boundary, or with a broken part, answers 400 ``malformed-body``: aiohttp's reader raises
a bare ValueError ("Reading after EOF") for it, which must not pass for a server error.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web

from realtime.api.errors import BadRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType

logger = logging.getLogger(__name__)

BODY_TIMEOUT = 30.0  # seconds for a whole JSON body (at most 1 MiB)
IDLE_TIMEOUT = 30.0  # seconds an upload may go without sending a byte
MAX_FIELD_BYTES = 64 * 1024  # a form field that is not a file (a name, a JSON mapping)

T = TypeVar("T")


async def read_body(request: web.Request) -> bytes:
    """The whole body; RequestTimeout when it does not arrive in time."""
    return await _read(request.read(), BODY_TIMEOUT)


async def form_parts(request: web.Request) -> AsyncIterator[Any]:
    """The parts of a multipart/form-data body, in order (a part may be a nested multipart)."""
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise UnsupportedMediaType(f"not a multipart form: {exc}") from None
    while (part := await _read(reader.next(), IDLE_TIMEOUT)) is not None:
        yield part


async def read_field(part: BodyPartReader, max_bytes: int = MAX_FIELD_BYTES) -> bytes:
    """A form field's value; PayloadTooLarge past ``max_bytes``."""
    value = bytearray()
    async for chunk in chunks(part, max_bytes + 1):
        value += chunk
        if len(value) > max_bytes:
            raise PayloadTooLarge(f"the form field {part.name!r} is larger than {max_bytes} bytes",
                                  details={"field": part.name, "max_bytes": max_bytes})
    return bytes(value)


async def chunks(part: BodyPartReader, size: int) -> AsyncIterator[bytes]:
    """A file part's content, chunk by chunk as it arrives."""
    while chunk := await _read(part.read_chunk(size), IDLE_TIMEOUT):
        yield chunk


async def _read(reading: Awaitable[T], timeout: float) -> T:
    try:
        async with asyncio.timeout(timeout):
            return await reading
    except TimeoutError:
        raise RequestTimeout(f"the request body stopped arriving for {timeout:g} seconds") from None
    except ValueError as exc:  # aiohttp's multipart reader past the end of a cut-off body
        raise BadRequest(f"malformed request body: {exc}", error_id="malformed-body") from None
