"""Collections: one page of a query, with links to the other pages.

Paging is by ``page`` and ``limit`` (default 50, at most 500). Page links are full
URIs carrying the same filters, and never the credentials that came with the request.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from realtime.api.validation import Field

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
CREDENTIALS = ("api_key", "api_auth")

PAGE_PARAMS = (
    Field("page", "integer", "Page number, from 1", minimum=1, maximum=10**9, default=1),
    Field("limit", "integer", f"Items per page (at most {MAX_LIMIT})", minimum=1, maximum=MAX_LIMIT,
          default=DEFAULT_LIMIT),
)


def public_url(url: URL) -> URL:
    """The URL without credentials, for links in answers."""
    query = [(k, v) for k, v in url.query.items() if k not in CREDENTIALS]
    return url.with_query(query)


def page_link(url: URL, page: int | None) -> str | None:
    if page is None:
        return None
    query = [(k, v) for k, v in url.query.items() if k != "page"] + [("page", str(page))]
    return str(url.with_query(query))


async def paginate(
    session: AsyncSession,
    statement: Select,
    params: dict[str, Any],
    url: URL,
    present: Callable[[Any], Any],
) -> dict[str, Any]:
    """The collection body for ``statement`` (already filtered and ordered); ``present``
    turns each row into its answer, without queries of its own (load what a page needs
    in the statement, or for the whole page at once)."""
    page, limit = params["page"], params["limit"]
    total = await session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    result = await session.execute(statement.offset((page - 1) * limit).limit(limit))
    # One entity: the rows themselves; several (a lead and its phone): tuples.
    rows: Sequence[Any] = result.scalars().all() if len(statement.column_descriptions) == 1 else result.all()
    resources = [present(row) for row in rows]
    last = max(1, math.ceil((total or 0) / limit))
    url = public_url(url)
    return {
        "total": total or 0,
        "page": page,
        "limit": limit,
        "resources": resources,
        "first_page": page_link(url, 1),
        "last_page": page_link(url, last),
        "next_page": page_link(url, page + 1 if page < last else None),
        "prev_page": page_link(url, min(page - 1, last) if page > 1 else None),
    }


PAGE_SCHEMA_PROPERTIES: dict[str, Any] = {
    "total": {"type": "integer", "minimum": 0},
    "page": {"type": "integer", "minimum": 1},
    "limit": {"type": "integer", "minimum": 1},
    "first_page": {"type": "string", "format": "uri"},
    "last_page": {"type": "string", "format": "uri"},
    "next_page": {"type": ["string", "null"], "format": "uri"},
    "prev_page": {"type": ["string", "null"], "format": "uri"},
}
