"""An integrator's numbers source (a call job's ``phone_numbers_url``), read a page at a time.

``GET <url>?page=N&limit=L`` (our ``page`` and ``limit`` replace any the URL had) answers
``{"phone_numbers": [...]}`` or a bare JSON array; an empty page means there are no more.
Each request is held to the rules of everything we fetch for integrators: public addresses
only (:mod:`realtime.destinations`), redirects refused (a redirect could lead anywhere),
a timeout, and a size limit. Whatever goes wrong is a :class:`SourceFailed` with a short
reason, never anything else: the caller pauses the job's intake and tries again later.
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from realtime.destinations import RefusedDestination, refused_url

logger = logging.getLogger(__name__)

MAX_BYTES = 1024 * 1024  # a page of 500 numbers is ~10 kB: a megabyte is someone else's file
TIMEOUT = 10.0
MAX_PAGE = 500


class SourceFailed(Exception):
    """The source gave no usable page; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_url(url: str, *, allow_private: bool = False) -> str | None:
    """Why ``url`` may not be a numbers source (https only, public addresses), or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if not host or parts.scheme not in ("https", "http"):
        return "must be an https:// URL"
    if allow_private:
        return None
    if parts.scheme != "https":
        return "must be an https:// URL"
    if reason := refused_url(url):
        return f"{reason}: numbers come from public addresses only"
    return None


def page_url(url: str, page: int, limit: int) -> str:
    """``url`` asking for one page: our ``page`` and ``limit`` replace any it had."""
    parsed = URL(url, encoded=True)
    query = [(k, v) for k, v in parsed.query.items() if k not in ("page", "limit")]
    return str(parsed.with_query([*query, ("page", str(page)), ("limit", str(limit))]))


async def fetch_page(http: aiohttp.ClientSession, url: str, page: int, limit: int, *,
                     allow_private: bool = False, timeout: float = TIMEOUT, max_bytes: int = MAX_BYTES) -> list[Any]:
    """The numbers on one page, as the source wrote them (checked one by one by the caller).

    ``http`` must be made with :func:`realtime.destinations.connector` so that names are
    resolved to public addresses only."""
    if reason := check_url(url, allow_private=allow_private):
        raise SourceFailed(f"the numbers URL {reason}")
    target = page_url(url, page, limit)
    try:
        async with http.get(target, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout),
                            headers={"Accept": "application/json"}) as response:
            if 300 <= response.status < 400:
                where = _printable(response.headers.get("Location", "")[:200])
                raise SourceFailed(f"answered a redirect (HTTP {response.status}) to {where!r}; redirects are "
                                   "not followed")
            if response.status != 200:
                raise SourceFailed(f"answered HTTP {response.status}")
            if response.content_length is not None and response.content_length > max_bytes:
                raise SourceFailed(f"the page is larger than {max_bytes} bytes")
            body = bytearray()
            async for chunk in response.content.iter_chunked(1 << 16):
                body += chunk
                if len(body) > max_bytes:
                    raise SourceFailed(f"the page is larger than {max_bytes} bytes")
    except RefusedDestination as exc:
        raise SourceFailed(f"refused: {exc}; numbers come from public addresses only") from None
    except TimeoutError:
        raise SourceFailed(f"no answer within {timeout:g} seconds") from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        raise SourceFailed(_printable(f"cannot fetch the page: {type(exc).__name__}: {exc}"[:300])) from None
    return parse_page(bytes(body), limit)


def _printable(text: str) -> str:
    """Text from the far side, safe to store and show (no control characters, no lone surrogates)."""
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else "?" for c in text)


def parse_page(body: bytes, limit: int = MAX_PAGE) -> list[Any]:
    """The numbers of a page's body; SourceFailed when it is not what the source must answer."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SourceFailed("the page is not JSON") from None
    if isinstance(data, dict):
        data = data.get("phone_numbers")
    if not isinstance(data, list):
        raise SourceFailed('the page is neither {"phone_numbers": [...]} nor a JSON array')
    if len(data) > limit:
        raise SourceFailed(f"the page has {len(data)} numbers; at most {limit} were asked for")
    return data
