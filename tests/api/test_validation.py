"""Text that cannot be stored (a NUL character, a lone UTF-16 surrogate) is refused in every text
field of every resource, nested ones included, and in every filter: a 4xx naming the field, on
SQLite and PostgreSQL, and nothing changes.

The fields come from the resources' own declarations, so a field added later is covered too.
"""
from __future__ import annotations

import asyncio
import copy
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from realtime.api.app import RESOURCES_IN_ORDER
from realtime.api.call_callers import NEW_CALLER
from realtime.api.calls import CREATE as CALL_CREATE
from realtime.api.lists import CREATE as LIST_CREATE
from realtime.api.lists import setup_list_imports
from realtime.api.routing import COLLECTION
from realtime.api.validation import Schema
from realtime.store.models import LeadList, ListStatus
from tests.api import samples
from tests.api.conftest import Api, api_app, api_settings, prepare_store

NUL = "must not contain NUL characters"
SURROGATE = "must be Unicode text: it holds a lone surrogate"
BAD_CHARACTERS = ["\x00", "\ud800", "\udbff", "\udc00", "\udfff"]


def bad_text() -> st.SearchStrategy[str]:
    """Short text with one NUL or lone surrogate somewhere in it."""
    bad = st.sampled_from(["\x00"]) | st.integers(0xD800, 0xDFFF).map(chr)
    return st.tuples(st.text(max_size=8), bad, st.text(max_size=8)).map("".join)


def text_paths(schema: Schema, prefix: str = "") -> list[str]:
    """Every writable field holding text, by its path in a body: ``name``, ``texts[0].content``,
    ``custom_fields{}`` (an object: text in its keys and values), ``phones[]`` (an array of text)."""
    paths = []
    for field in schema.fields:
        if field.read_only:
            continue
        path = prefix + field.name
        if field.kind in ("string", "time"):
            paths.append(path)
        elif field.kind == "object":
            paths.append(path + "{}")
        elif field.kind == "array" and field.items is not None:
            paths += text_paths(field.items, f"{path}[0].")
        elif field.kind == "array":
            paths.append(path + "[]")
    return paths


def with_text(body: dict[str, Any], path: str, text: str, in_key: bool = False) -> tuple[dict[str, Any], str]:
    """``body`` with ``text`` at ``path``; and the name the error should give."""
    body = copy.deepcopy(body)
    steps = re.findall(r"(\w+)(?:\[(\d+)\])?", path)
    target = body
    for name, index in steps[:-1]:
        target = target.setdefault(name, [{}])[int(index)] if index else target.setdefault(name, {})
    name = steps[-1][0]
    named = re.sub(r"[{}\[\]]+$", "", path)
    if path.endswith("{}"):
        target[name] = {text: "x"} if in_key else {"ward": text}
    elif path.endswith("[]"):
        target[name] = ["(212) 555-0199", text]
    else:
        target[name] = text
    return body, named


class Bodies:
    """A valid body (and item to send it to) for each operation taking one, made in the account."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.by_operation: dict[str, tuple[str, str, dict[str, Any]]] = {}

    async def make(self) -> None:
        api = self.api
        script_body = {
            "name": "Canvass", "texts": [{"content": "Hello"}],
            "questions": [{"text": "Will you vote?", "responses": [{"value": "Yes", "keypad": "1"}]}],
            "notes": [{"text": "Issues"}], "transfers": [{"label": "Office", "phone": "(212) 555-0123",
                                                           "transfer_type": "warm"}],
        }
        campaign = await samples.campaign(api)
        script = await samples.script(api)
        caller = await samples.caller(api)
        group = await samples.caller_group(api)
        field = await samples.lead_field(api)
        lead = await samples.lead(api)
        recording = await samples.recording(api)
        user = await samples.user(api)
        async with api.store.transaction() as session:
            lead_list = LeadList(account_id=api.alice.account_id, campaign_id=campaign["id"], name="November",
                                 column_mapping={}, status=ListStatus.READY)
            session.add(lead_list)
            await session.flush()
        unique = uuid.uuid4().hex[:8]
        self.by_operation = {
            "campaigns.create": ("POST", "/v1/campaigns", {"name": "C", "dialer_mode": "power"}),
            "campaigns.update": ("PATCH", f"/v1/campaigns/{campaign['id']}", {}),
            "scripts.create": ("POST", "/v1/scripts", script_body),
            "scripts.update": ("PATCH", f"/v1/scripts/{script['id']}", script_body),
            "callers.create": ("POST", "/v1/callers", {"username": f"c-{unique}", "password": "correct horse"}),
            "callers.update": ("PATCH", f"/v1/callers/{caller['id']}", {}),
            "caller_groups.create": ("POST", "/v1/caller_groups", {"name": "Evening"}),
            "caller_groups.update": ("PATCH", f"/v1/caller_groups/{group['id']}", {}),
            "lead_fields.create": ("POST", "/v1/lead_fields", {"name": f"f-{unique}"}),
            "lead_fields.update": ("PATCH", f"/v1/lead_fields/{field['id']}", {}),
            "leads.update": ("PATCH", f"/v1/leads/{lead['id']}", {}),
            # Lists are created by upload, or by JSON naming a source_url: checked like a body.
            "lists.create": ("POST", "/v1/lists", {"name": "L", "campaign_id": campaign["id"],
                                                   "source_url": "https://lists.example.com/l.csv"}),
            "lists.update": ("PATCH", f"/v1/lists/{lead_list.id}", {}),
            "blocked_numbers.create": ("POST", "/v1/blocked_numbers", {"phone": "(212) 555-0199"}),
            "blocked_numbers.bulk": ("POST", "/v1/blocked_numbers/bulk", {"phones": ["(212) 555-0199"]}),
            "blocked_numbers.unblock": ("POST", "/v1/blocked_numbers/unblock", {"phones": ["(212) 555-0199"]}),
            "recordings.update": ("PATCH", f"/v1/recordings/{recording['id']}", {}),
            "users.create": ("POST", "/v1/users", {"email": f"u-{unique}@example.org", "password": "s3cret-enough",
                                                   "role": "supervisor"}),
            "users.update": ("PATCH", f"/v1/users/{user['id']}", {}),
        }
        # The call API: a job to change, and commands checked before any caller or engine is needed.
        job = await api.post("/v1/call", {"dialer_type": "power", "from": "+12025550100",
                                          "call_state_url": "https://crm.example/calls/:id",
                                          "phone_number": ["+12025550142"]})
        caller = f"/v1/call/{job['id']}/callers"
        self.by_operation.update({
            "call.create": ("POST", "/v1/call", {"dialer_type": "power", "from": "+12025550100",
                                                 "call_state_url": "https://crm.example/calls/:id",
                                                 "phone_number": ["+12025550142"]}),
            "call.update": ("PATCH", f"/v1/call/{job['id']}", {}),
            "call.add_caller": ("POST", caller, {"caller_id": "ann"}),
            "call.transfer": ("POST", f"{caller}/ann/transfer", {"phone": "+12025550143"}),
            "call.ready": ("POST", f"{caller}/ann/ready", {}),
            **{f"call.{name}": ("POST", f"{caller}/ann/{name}", {}) for name in ("dial", "skip", "hangup")},
        })

    def cases(self) -> list[tuple[str, str]]:
        """(operation id, text path) for every text field of every operation with a JSON body."""
        cases = []
        for resource in RESOURCES_IN_ORDER:
            for operation in resource.operations:
                # Bodies a handler reads itself are checked like the others.
                schema = {"lists.create": LIST_CREATE, "call.create": CALL_CREATE,
                          "call.add_caller": NEW_CALLER}.get(operation.operation_id, operation.body)
                if schema is None:
                    continue
                assert operation.operation_id in self.by_operation, (
                    f"{operation.operation_id} takes a body: give it a valid one in Bodies.make")
                cases += [(operation.operation_id, path) for path in text_paths(schema)]
        return cases

    async def refused(self, operation_id: str, path: str, text: str, in_key: bool = False) -> None:
        method, url, base = self.by_operation[operation_id]
        body, named = with_text(base, path, text, in_key)
        status, answer, _ = await self.api.call(method, url, json=body)
        expected = NUL if "\x00" in text else SURROGATE
        assert status == 422, (operation_id, path, text, status, answer)
        fields = answer["error"]["details"]["fields"]
        assert fields.get(named) == expected, (operation_id, path, text, fields)


async def listed_everything(api: Api) -> dict[str, int]:
    return {r.name: (await api.get(r.path))["total"] for r in RESOURCES_IN_ORDER
            if any(op.response == COLLECTION and op.path == r.path for op in r.operations)}


@pytest.fixture
async def any_api(aiohttp_client, tmp_path, migrated_database_url) -> AsyncIterator[Api]:
    """The API on SQLite and on PostgreSQL, with list imports as the server has them."""
    store, alice, bob = await prepare_store(migrated_database_url)
    app = api_app(store, api_settings(migrated_database_url, tmp_path))
    setup_list_imports(app)
    yield Api(await aiohttp_client(app), store, alice, bob)
    await store.close()


async def test_every_text_field_refuses_nul_and_lone_surrogates(any_api):
    bodies = Bodies(any_api)
    await bodies.make()
    before = await listed_everything(any_api)
    cases = bodies.cases()
    assert len(cases) > 40, cases
    for operation_id, path in cases:
        for character in ("\x00", "\ud800"):
            await bodies.refused(operation_id, path, f"a{character}b")
            if path.endswith("{}"):
                await bodies.refused(operation_id, path, f"a{character}b", in_key=True)
    assert await listed_everything(any_api) == before


def in_thread(loop: asyncio.AbstractEventLoop) -> Callable[[Any], Any]:
    """Run a coroutine on the test's loop from hypothesis's thread."""
    return lambda coroutine: asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)


async def test_any_unstorable_text_in_any_field_is_refused(any_api):
    bodies = Bodies(any_api)
    await bodies.make()
    run = in_thread(asyncio.get_running_loop())

    @hypothesis.settings(max_examples=60, deadline=None, database=None, derandomize=True)
    @hypothesis.given(case=st.sampled_from(bodies.cases()), text=bad_text(), in_key=st.booleans())
    def refused(case: tuple[str, str], text: str, in_key: bool) -> None:
        run(bodies.refused(*case, text, in_key))

    await asyncio.to_thread(refused)


async def test_filters_refuse_unstorable_text_as_bad_parameters(any_api):
    for resource in RESOURCES_IN_ORDER:
        for operation in resource.operations:
            if operation.method != "GET" or operation.path_params:
                continue
            for field in operation.query:
                if field.kind != "string":
                    continue
                status, answer, _ = await any_api.call("GET", operation.path, params={field.name: "a\x00b"})
                assert status == 400, (operation.path, field.name, answer)
                assert answer["error"]["id"] == "invalid-parameters"
                assert field.name in answer["error"]["details"]["parameters"], answer


async def test_deeply_nested_values_are_looked_through(any_api):
    lead = await samples.lead(any_api)
    depth = 500  # deep, yet well within what the JSON parser reads from a handler, whatever the middlewares
    body = '{"custom_fields": {"ward": ' + "[" * depth + '"a\\ud800"' + "]" * depth + "}}"
    status, answer, _ = await any_api.call("PATCH", f"/v1/leads/{lead['id']}", data=body.encode(),
                                           headers={**any_api.alice.headers, "Content-Type": "application/json"})
    assert status == 422 and answer["error"]["details"]["fields"]["custom_fields"] == SURROGATE, answer
