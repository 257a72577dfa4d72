"""Collections: one page of a query, with links to the other pages.

Small collections (campaigns, callers, ...) page by ``page`` and ``limit`` (default 50,
at most 500) and count exactly. Large ones (leads, households, webhook deliveries, a
list's rejections) page by key: ``after=<id>`` gives the items after that one, ``before=<id>``
those before it, so a page deep in a collection of millions costs what the first one does
(an index range, not an OFFSET skipping every row before it), and a row added or removed
meanwhile shifts nothing. Their links carry the cursor; ``page`` still works there, by
offset, for clients written before. Their ``total`` is exact up to ``EXACT_COUNT_UP_TO``;
beyond it PostgreSQL gives the planner's estimate and the answer says so
(``total_estimated: true``), as counting millions of rows on every page would cost more
than the page.

Page links are full URIs carrying the same filters, and never the credentials that came
with the request.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ClauseElement, Executable, Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from yarl import URL

from realtime.api.validation import Field

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
EXACT_COUNT_UP_TO = 10_000
CREDENTIALS = ("api_key", "api_auth")
CURSORS = ("page", "after", "before")

LIMIT = Field("limit", "integer", f"Items per page (at most {MAX_LIMIT})", minimum=1, maximum=MAX_LIMIT,
              default=DEFAULT_LIMIT)
PAGE_PARAMS = (
    Field("page", "integer", "Page number, from 1", minimum=1, maximum=10**9, default=1),
    LIMIT,
)
KEYSET_PAGE_PARAMS = (
    Field("after", "integer", "The items after this key (an id; a row number for rejections): "
          "next_page links carry it", minimum=0, maximum=2**63 - 1),
    Field("before", "integer", "The items before this key: prev_page and last_page links carry it",
          minimum=1, maximum=2**63 - 1),
    Field("page", "integer", "Page number, from 1, by offset: slow deep in a large collection; "
          "follow the links instead", minimum=1, maximum=10**9),
    LIMIT,
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


def cursor_link(url: URL, **cursor: int) -> str:
    """``url`` with its paging replaced by ``cursor`` (after=... or before=...; none: the first page)."""
    query = [(k, v) for k, v in url.query.items() if k not in CURSORS] + [(k, str(v)) for k, v in cursor.items()]
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
    page, limit = params.get("page") or 1, params["limit"]
    total = await session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
    rows = _rows(await session.execute(statement.offset((page - 1) * limit).limit(limit)), statement)
    resources = [present(row) for row in rows]
    last = max(1, math.ceil((total or 0) / limit))
    url = public_url(url)
    return {
        "total": total or 0,
        "total_estimated": False,
        "page": page,
        "limit": limit,
        "resources": resources,
        "first_page": page_link(url, 1),
        "last_page": page_link(url, last),
        "next_page": page_link(url, page + 1 if page < last else None),
        "prev_page": page_link(url, min(page - 1, last) if page > 1 else None),
    }


async def paginate_by_key(
    session: AsyncSession,
    statement: Select,
    key: Any,
    params: dict[str, Any],
    url: URL,
    present: Callable[[Any], Any],
) -> dict[str, Any]:
    """Like :func:`paginate`, by ``key`` (a unique column ``statement`` is ordered by).

    A page is the ``limit`` rows after ``after`` (or the first ones), or the ``limit`` rows
    before ``before``; one row more is read to know whether the collection goes on that
    way, and an EXISTS on the key's index tells whether it goes on the other way.
    """
    limit, after, before, page = params["limit"], params.get("after"), params.get("before"), params.get("page")
    unordered = statement.order_by(None)
    if before is not None:
        found = _rows(await session.execute(unordered.where(key < before).order_by(key.desc()).limit(limit + 1)),
                      statement)
        has_prev, rows = len(found) > limit, list(reversed(found[:limit]))
        has_next = await _any(session, unordered.where(key >= before))
    else:
        query = statement.where(key > after) if after is not None else statement
        if after is None and page is not None:
            query = query.offset((page - 1) * limit)
        found = _rows(await session.execute(query.limit(limit + 1)), statement)
        has_next, rows = len(found) > limit, found[:limit]
        if after is not None:
            has_prev = await _any(session, unordered.where(key <= after))
        else:
            has_prev = page is not None and page > 1 and await _any(session, unordered)
    keys = [_key_of(row, key) for row in rows]
    total, estimated = await count(session, unordered)
    last_key = await session.scalar(unordered.with_only_columns(key).order_by(key.desc()).limit(1))
    url = public_url(url)
    last_page = cursor_link(url, before=last_key + 1) if last_key is not None else cursor_link(url)
    if has_prev:
        prev_page = cursor_link(url, before=keys[0]) if keys else last_page
    else:
        prev_page = None
    return {
        "total": total,
        "total_estimated": estimated,
        "page": page or (1 if after is None and before is None else None),
        "limit": limit,
        "resources": [present(row) for row in rows],
        "first_page": cursor_link(url),
        "last_page": last_page,
        "next_page": cursor_link(url, after=keys[-1]) if has_next and keys else None,
        "prev_page": prev_page,
    }


async def count(session: AsyncSession, statement: Select) -> tuple[int, bool]:
    """How many rows ``statement`` selects, and whether that is an estimate.

    Exact up to EXACT_COUNT_UP_TO (counting stops there); beyond it, PostgreSQL's planner
    estimate (at least the rows counted), SQLite's exact count.
    """
    counted = await session.scalar(select(func.count()).select_from(
        statement.limit(EXACT_COUNT_UP_TO + 1).subquery()))
    if counted <= EXACT_COUNT_UP_TO:
        return counted, False
    if session.bind.dialect.name != "postgresql":
        return await session.scalar(select(func.count()).select_from(statement.subquery())), False
    plan = await session.scalar(_Explain(statement))
    planned = json.loads(plan) if isinstance(plan, str) else plan
    return max(int(planned[0]["Plan"]["Plan Rows"]), counted), True


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>``: the plan PostgreSQL would follow, with its row estimate."""

    inherit_cache = False

    def __init__(self, statement: Select) -> None:
        self.statement = statement


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


async def _any(session: AsyncSession, statement: Select) -> bool:
    return bool(await session.scalar(select(exists(statement))))


def _rows(result: Any, statement: Select) -> Sequence[Any]:
    # One entity: the rows themselves; several (a lead and its phone): tuples.
    return result.scalars().all() if len(statement.column_descriptions) == 1 else result.all()


def _key_of(row: Any, key: Any) -> int:
    entity = row[0] if isinstance(row, tuple) or hasattr(row, "_fields") else row
    return getattr(entity, key.key)


PAGE_SCHEMA_PROPERTIES: dict[str, Any] = {
    "total": {"type": "integer", "minimum": 0},
    "total_estimated": {"type": "boolean",
                        "description": "true: total is PostgreSQL's estimate (a large collection), not a count"},
    "page": {"type": ["integer", "null"], "minimum": 1,
             "description": "The page number; null on a page reached by a cursor (after or before)"},
    "limit": {"type": "integer", "minimum": 1},
    "first_page": {"type": "string", "format": "uri"},
    "last_page": {"type": "string", "format": "uri"},
    "next_page": {"type": ["string", "null"], "format": "uri"},
    "prev_page": {"type": ["string", "null"], "format": "uri"},
}
