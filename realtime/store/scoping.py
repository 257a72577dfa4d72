"""Account scoping: a request for one account never sees another account's rows.

Every query that serves a request goes through ``scoped`` or ``get_owned``. Rows that
carry no ``account_id`` (script parts, possible responses, list rejections) are scoped
through the parent that does.
"""
from __future__ import annotations

import logging
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from realtime.store.models import (
    Account,
    LeadList,
    ListRejection,
    Note,
    PossibleResponse,
    Question,
    Script,
    ScriptText,
    Transfer,
)
from realtime.store.models.base import AccountScoped

logger = logging.getLogger(__name__)

M = TypeVar("M")

# Model without account_id -> (its foreign key to the parent, the parent model).
_PARENTS: dict[type, tuple[Any, type]] = {
    ScriptText: (ScriptText.script_id, Script),
    Question: (Question.script_id, Script),
    Note: (Note.script_id, Script),
    Transfer: (Transfer.script_id, Script),
    PossibleResponse: (PossibleResponse.question_id, Question),
    ListRejection: (ListRejection.lead_list_id, LeadList),
}


def owned_by(model: type, account_id: int) -> ColumnElement[bool]:
    """The condition that a row of ``model`` belongs to the account."""
    if model is Account:
        return Account.id == account_id
    if issubclass(model, AccountScoped):
        return model.account_id == account_id
    if model in _PARENTS:
        foreign_key, parent = _PARENTS[model]
        return foreign_key.in_(select(parent.id).where(owned_by(parent, account_id)))
    raise TypeError(f"{model.__name__} rows have no owning account")


def scoped(target: type | Select, account_id: int) -> Select:
    """``select(Model)`` limited to the account, or a select whose entities all get limited.

    ``scoped(Campaign, 7).where(Campaign.active)``; ``scoped(select(Caller.id, Caller.name), 7)``.
    Every entity the statement selects from is filtered; rows reached by joining from
    them are the caller's concern (join only along foreign keys checked with get_owned).
    """
    stmt = select(target) if isinstance(target, type) else target
    # In statement order (not a set), so one query shape compiles to one cached SQL string.
    entities = dict.fromkeys(d["entity"] for d in stmt.column_descriptions if d.get("entity") is not None)
    if not entities:
        raise TypeError("scoped() needs a statement that selects from a model")
    for entity in entities:
        stmt = stmt.where(owned_by(entity, account_id))
    return stmt


async def get_owned(session: AsyncSession, model: type[M], row_id: int, account_id: int) -> M | None:
    """The row with this id if it belongs to the account; None otherwise (even if it exists)."""
    return await session.scalar(scoped(model, account_id).where(model.id == row_id))
