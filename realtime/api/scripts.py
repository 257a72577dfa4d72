"""/v1/scripts: what callers read (texts), ask (questions with their possible responses),
note, and whom they transfer to, all in one document.

A script is written and read whole: POST takes every part nested, GET answers them
nested. PATCH changes the fields it is given; a nested list given in a PATCH replaces
that list, in its order: an entry with the ``id`` of an existing part keeps (and
updates) it, an entry without ``id`` is new, and parts left out are deleted. A
question, response or note that already has answers on calls cannot be deleted (409):
deactivate the script instead.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import exists, select

from realtime.api.errors import Conflict, Invalid
from realtime.api.routing import Context, Resource, name_contains
from realtime.api.validation import CREATED_AT, ID, Field, Schema, check_phone
from realtime.dialer.phones import to_e164
from realtime.store.models import (
    Answer,
    Note,
    NoteResponse,
    PossibleResponse,
    Question,
    Script,
    ScriptText,
    Transfer,
    TransferType,
)
from realtime.store.scoping import scoped

logger = logging.getLogger(__name__)

KEYPAD = tuple("0123456789*#")
PART_ID = Field("id", "id", "Give it to keep (and update) an existing part; leave it out for a new one")


TEXT = Schema("script text", (PART_ID, Field("content", "string", "Markdown", required=True, max_length=100_000)))
RESPONSE = Schema("possible response", (
    PART_ID,
    Field("value", "string", required=True, min_length=1, max_length=500),
    Field("keypad", "string", "Digit phones-only callers press for it", nullable=True, choices=KEYPAD),
    Field("retry", "boolean", "Choosing it puts the lead back in the queue"),
))
QUESTION = Schema("question", (
    PART_ID,
    Field("text", "string", required=True, min_length=1, max_length=10_000),
    Field("responses", "array", "In order", items=RESPONSE, max_length=12),
))
NOTE = Schema("note", (PART_ID, Field("text", "string", required=True, min_length=1, max_length=10_000)))
TRANSFER = Schema("transfer", (
    PART_ID,
    Field("label", "string", required=True, min_length=1, max_length=200),
    Field("phone", "string", "Stored in E.164 form", required=True, max_length=32, check=check_phone),
    Field("transfer_type", "string", "warm: the caller stays on; cold: the caller leaves", required=True,
          enum=TransferType),
))

SCHEMA = Schema("script", (
    ID,
    Field("name", "string", required=True, min_length=1, max_length=200),
    Field("active", "boolean"),
    Field("texts", "array", "What callers read, in order", items=TEXT, max_length=200),
    Field("questions", "array", "What callers ask, in order", items=QUESTION, max_length=200),
    Field("notes", "array", "Free-text notes callers fill in, in order", items=NOTE, max_length=200),
    Field("transfers", "array", "Where callers can transfer a call", items=TRANSFER, max_length=200),
    CREATED_AT,
))

resource = Resource("scripts", SCHEMA, "Scripts with their texts, questions, notes and transfers, nested")


def dump_part(schema: Schema, row: Any) -> dict[str, Any]:
    if isinstance(row, Question):
        return schema.dump(row, responses=[RESPONSE.dump(r) for r in row.responses])
    return schema.dump(row)


def present(ctx: Context, script: Script) -> dict[str, Any]:
    return ctx.item(script.id, SCHEMA.dump(
        script,
        texts=[TEXT.dump(t) for t in script.texts],
        questions=[dump_part(QUESTION, q) for q in script.questions],
        notes=[NOTE.dump(n) for n in script.notes],
        transfers=[TRANSFER.dump(t) for t in script.transfers],
    ))


class Merge:
    """Turns nested lists into rows, collecting every error before raising."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}
        self.removed: dict[type, list[int]] = {}

    def rows(self, path: str, model: type, existing: list[Any], wanted: list[dict[str, Any]],
             fill: Callable[[Any, dict[str, Any], str], None]) -> list[Any]:
        """``wanted`` as rows, in order: existing ones by id, new ones made; the rest is removed."""
        by_id = {row.id: row for row in existing}
        rows = []
        for i, values in enumerate(wanted):
            values = dict(values)
            part_id = values.pop("id", None)
            if part_id is None:
                row = model()
            elif part_id in by_id:
                row = by_id.pop(part_id)
            else:
                self.errors[f"{path}[{i}].id"] = f"no such part {part_id} in this script"
                continue
            fill(row, values, f"{path}[{i}]")
            if hasattr(row, "position"):
                row.position = i
            rows.append(row)
        for row in by_id.values():
            self.removed.setdefault(model, []).append(row.id)
        return rows


def _set(row: Any, values: dict[str, Any], _path: str = "") -> None:
    for name, value in values.items():
        setattr(row, name, value)


def _set_transfer(transfer: Transfer, values: dict[str, Any], _path: str) -> None:
    if "phone" in values:
        values["phone"] = to_e164(values["phone"])
    _set(transfer, values)


async def apply(ctx: Context, script: Script, values: dict[str, Any]) -> None:
    merge = Merge()

    def fill_question(question: Question, values: dict[str, Any], path: str) -> None:
        responses = values.pop("responses", None)
        _set(question, values)
        if responses is None:
            return
        digits = [r.get("keypad") for r in responses if r.get("keypad") is not None]
        for i, response in enumerate(responses):
            if response.get("keypad") is not None and digits.count(response["keypad"]) > 1:
                merge.errors[f"{path}.responses[{i}].keypad"] = "another response of this question has this digit"
        question.responses = merge.rows(f"{path}.responses", PossibleResponse, list(question.responses),
                                        responses, _set)

    nested = {"texts": (ScriptText, _set), "questions": (Question, fill_question), "notes": (Note, _set),
              "transfers": (Transfer, _set_transfer)}
    rows = {
        name: merge.rows(name, model, list(getattr(script, name)), values.pop(name), fill)
        for name, (model, fill) in nested.items() if name in values
    }
    if merge.errors:
        raise Invalid.fields(merge.errors)
    await refuse_answered(ctx, merge.removed)
    _set(script, values)
    _set(script, rows)


async def refuse_answered(ctx: Context, removed: dict[type, list[int]]) -> None:
    """Deleting a part that calls have answers for would delete those answers: refuse."""
    checks = (
        (Question, Answer.question_id, "question-has-answers", "questions"),
        (PossibleResponse, Answer.possible_response_id, "response-has-answers", "possible responses"),
        (Note, NoteResponse.note_id, "note-has-responses", "notes"),
    )
    for model, column, error_id, what in checks:
        ids = removed.get(model)
        # No autoflush: flushing the replaced lists first would cascade-delete the very answers looked for.
        with ctx.session.no_autoflush:
            answered = bool(ids) and await ctx.session.scalar(select(exists().where(column.in_(ids))))
        if answered:
            raise Conflict(f"{what} {sorted(ids)} already have answers on calls; they cannot be deleted "
                           "(deactivate the script instead)", error_id=error_id, details={"ids": sorted(ids)})


@resource.list(filters=(Field("active", "boolean"),
                         Field("name", "string", "Names containing this text, in any case", max_length=200)))
async def list_scripts(ctx: Context) -> dict[str, Any]:
    query = scoped(Script, ctx.account_id).order_by(Script.id)
    if "active" in ctx.params:
        query = query.where(Script.active == ctx.params["active"])
    if "name" in ctx.params:
        query = query.where(name_contains(Script.name, ctx.params["name"]))
    return await ctx.page(query, lambda s: present(ctx, s))


@resource.create(summary="Create a script with all its parts nested")
async def create_script(ctx: Context) -> dict[str, Any]:
    script = Script(account_id=ctx.account_id, texts=[], questions=[], notes=[], transfers=[])
    await apply(ctx, script, dict(ctx.body))
    ctx.session.add(script)
    await ctx.session.flush()
    return present(ctx, script)


@resource.read(summary="Read a script with all its parts nested")
async def read_script(ctx: Context) -> dict[str, Any]:
    return present(ctx, await ctx.find(Script))


@resource.update(summary="Change a script; a nested list given replaces that list (parts keep their id)")
async def update_script(ctx: Context) -> dict[str, Any]:
    script = await ctx.find(Script)
    await apply(ctx, script, dict(ctx.body))
    await ctx.session.flush()
    ctx.announce_campaign_change(script_id=script.id)
    return present(ctx, script)


@resource.delete(summary="Delete a script; refused (409) once calls have answers for it")
async def delete_script(ctx: Context) -> None:
    script = await ctx.find(Script)
    await refuse_answered(ctx, {
        Question: [q.id for q in script.questions],
        Note: [n.id for n in script.notes],
    })
    await ctx.session.delete(script)
