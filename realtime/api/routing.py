"""Resources and their operations, declared once: the same declaration registers the
aiohttp route, validates the request, builds links and actions, and writes the OpenAPI
document.

A handler receives a :class:`Context` (account, transaction, validated query and body,
path ids) and returns a dict (the JSON answer), ``None`` (204) or an aiohttp response
(files). It raises :mod:`realtime.api.errors` for anything that goes wrong.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import Select, func
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from realtime.api.errors import Invalid, NotFound
from realtime.api.pagination import CURSORS, KEYSET_PAGE_PARAMS, PAGE_PARAMS, paginate, paginate_by_key, public_url
from realtime.api.validation import MAX_ID, Field, Schema
from realtime.app_keys import BUS
from realtime.bus import BusError
from realtime.callflow.protocol import CAMPAIGNS_CHANGED
from realtime.store.models import Account
from realtime.store.scoping import get_owned

logger = logging.getLogger(__name__)

Handler = Callable[["Context"], Awaitable[Any]]
Model = TypeVar("Model")

# What an operation answers, for the OpenAPI document.
ITEM, COLLECTION, NO_CONTENT = "item", "collection", "no-content"


@dataclasses.dataclass
class Operation:
    resource: Resource
    method: str
    path: str  # OpenAPI form: "/v1/campaigns/{id}"
    handler: Handler
    name: str  # the action name: list, create, read, update, delete, audio, ...
    summary: str
    query: tuple[Field, ...] = ()
    body: Schema | None = None
    partial: bool = False  # body is an update: every field optional
    upload: dict[str, Any] | None = None  # multipart/form-data JSON Schema, read by the handler
    request: dict[str, Any] | None = None  # media type -> JSON Schema of a body the handler reads itself
    response: str | dict[str, Any] = ITEM  # ITEM, COLLECTION, NO_CONTENT, a JSON Schema, or "audio/*"
    items: dict[str, Any] | None = None  # a collection's item JSON Schema, when not the resource's own
    status: int = 200
    errors: tuple[int, ...] = ()
    public: bool = False  # no credentials needed
    text_params: tuple[str, ...] = ()  # path parameters that are text (a reference), not ids

    @property
    def operation_id(self) -> str:
        return f"{self.resource.name}.{self.name}"

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)

    @property
    def route_path(self) -> str:
        """The aiohttp path: path parameters are ids, so only ASCII digits match (a regular
        expression's \\d would also take "١", which int() reads as 1); text ones take one segment."""
        return re.sub(r"{(\w+)}", lambda m: "{%s:%s}" % (m[1], "[^/]+" if m[1] in self.text_params else "[0-9]+"),
                      self.path)


class Resource:
    """A named collection under /v1 with its item schema and operations.

    Declare operations with the decorators; ``path`` is relative to the collection
    ("" for the collection, "/{id}" for an item, "/{id}/audio" for a sub-resource)."""

    def __init__(self, name: str, schema: Schema | None, description: str, *, path: str | None = None) -> None:
        self.name = name
        self.schema = schema
        self.description = description
        self.path = path or f"/v1/{name}"
        self.operations: list[Operation] = []

    def operation(self, method: str, path: str, *, name: str, summary: str,
                  **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(Operation(self, method, self.path + path, handler, name, summary, **options))
            return handler
        return register

    @property
    def singular(self) -> str:
        return self.schema.name if self.schema is not None else self.name

    # The usual five, with the usual answers and errors.
    def list(self, *, filters: tuple[Field, ...] = (), summary: str | None = None, by_key: bool = False,
             **options: Any):
        """``by_key``: a large collection, paged by key (its handler gives ``ctx.page`` the key)."""
        return self.operation("GET", "", name="list", summary=summary or f"List {self.name}",
                              query=filters + (KEYSET_PAGE_PARAMS if by_key else PAGE_PARAMS),
                              response=COLLECTION, **options)

    def create(self, *, summary: str | None = None, **options: Any):
        options.setdefault("body", self.schema)
        options.setdefault("errors", (409, 422))
        return self.operation("POST", "", name="create", summary=summary or f"Create a {self.singular}",
                              status=201, **options)

    def read(self, *, summary: str | None = None, **options: Any):
        return self.operation("GET", "/{id}", name="read", summary=summary or f"Read a {self.singular}",
                              errors=(404,), **options)

    def update(self, *, summary: str | None = None, **options: Any):
        options.setdefault("body", self.schema)
        options.setdefault("errors", (404, 409, 422))
        return self.operation("PATCH", "/{id}", name="update", partial=True,
                              summary=summary or f"Change some fields of a {self.singular}", **options)

    def delete(self, *, summary: str | None = None, **options: Any):
        options.setdefault("errors", (404, 409))
        return self.operation("DELETE", "/{id}", name="delete", response=NO_CONTENT, status=204,
                              summary=summary or f"Delete a {self.singular}", **options)

    def item_path(self) -> str:
        return self.path + "/{id}"

    def actions(self, base: URL, item_id: int | None) -> list[dict[str, str]]:
        """What can be done next: every operation on the item (or the collection) but reading it."""
        actions = []
        for op in self.operations:
            if item_id is None:
                if op.path != self.path or op.method == "GET":
                    continue
                path = op.path
            else:
                if not op.path.startswith(self.item_path()) or (op.method == "GET" and op.path == self.item_path()):
                    continue
                path = op.path.replace("{id}", str(item_id))
            actions.append({"name": op.name, "method": op.method, "uri": str(base.with_path(path))})
        return actions


def name_contains(column: Any, text: str) -> Any:
    """Case-insensitive substring match, the same on SQLite and PostgreSQL."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def describe(model: type) -> str:
    """How messages name a kind of row: CallerGroup -> "caller group"."""
    return re.sub(r"(?<!^)([A-Z])", r" \1", model.__name__).lower()


@dataclasses.dataclass
class Context:
    """One API request, authenticated, inside its transaction."""

    request: web.Request
    session: AsyncSession
    account: Account | None
    operation: Operation
    params: dict[str, Any]
    body: dict[str, Any]
    ids: dict[str, int]
    # Run once the request's transaction has committed (never if it rolls back): news for
    # other processes about what this request changed, e.g. sessions it ended.
    committed: list[Callable[[], Awaitable[None]]] = dataclasses.field(default_factory=list)

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self.committed.append(callback)

    def announce_campaign_change(self, *, campaign_id: int | None = None, script_id: int | None = None) -> None:
        """Live callers of the campaign (or of the campaigns using the script) see the change."""
        bus = self.request.app[BUS]

        async def announce() -> None:
            try:
                await bus.publish(CAMPAIGNS_CHANGED, {"campaign_id": campaign_id, "script_id": script_id})
            except BusError as exc:  # committed all the same; sessions read it at their next refresh
                logger.warning("campaign change not announced: %s", exc)

        self.after_commit(announce)

    @property
    def account_id(self) -> int:
        assert self.account is not None
        return self.account.id

    @property
    def id(self) -> int:
        return self.ids["id"]

    @property
    def base(self) -> URL:
        return self.request.url.origin()

    def uri(self, path: str) -> str:
        return str(self.base.with_path(path))

    async def find(self, model: type[Model], item_id: int | None = None) -> Model:
        """The account's row by id (the path id by default); NotFound otherwise, also
        when the row belongs to another account."""
        item_id = self.id if item_id is None else item_id
        row = None
        if 0 < item_id <= MAX_ID:
            row = await get_owned(self.session, model, item_id, self.account_id)
        if row is None:
            raise NotFound(f"no {describe(model)} {item_id} in this account", details={"id": item_id})
        return row

    async def check_owned(self, references: dict[str, tuple[type, int | None]]) -> None:
        """Every referenced id (field -> (model, id)) exists in the account; Invalid names
        every field that points elsewhere."""
        bad = {}
        for field, (model, item_id) in references.items():
            if item_id is not None and await get_owned(self.session, model, item_id, self.account_id) is None:
                bad[field] = f"no {describe(model)} {item_id} in this account"
        if bad:
            raise Invalid.fields(bad)

    def item(self, item_id: int, values: dict[str, Any]) -> dict[str, Any]:
        """An item answer: its fields, its URI and its actions."""
        resource = self.operation.resource
        path = resource.item_path().replace("{id}", str(item_id))
        return {**values, "uri": self.uri(path), "actions": resource.actions(self.base, item_id)}

    async def page(self, statement: Select, present: Callable[[Any], Any], *, key: Any = None) -> dict[str, Any]:
        """A collection answer: one page of ``statement`` with links and actions; by ``key``
        (a unique column ``statement`` is ordered by) for a collection declared ``by_key``."""
        resource = self.operation.resource
        if key is not None:
            body = await paginate_by_key(self.session, statement, key, self.params, self.request.url, present)
        else:
            body = await paginate(self.session, statement, self.params, self.request.url, present)
        return {
            "uri": str(public_url(self.request.url.with_query(
                [(k, v) for k, v in self.request.url.query.items() if k not in (*CURSORS, "limit")]))),
            "name": resource.name,
            "actions": resource.actions(self.base, None),
            **body,
        }
