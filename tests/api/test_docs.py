"""docs/api.md stays true: its sections, error ids, headers and signature example match the code."""
from __future__ import annotations

import ast
import inspect
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from realtime import webhooks
from realtime.api.errors import ApiError
from realtime.api.ratelimit import Verdict
from realtime.dialer.lists import summary
from realtime.store.models import LeadList, ListStatus, WebhookDelivery
from realtime.store.types import utcnow

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
SOURCES = {path: path.read_text(encoding="utf-8") for path in (ROOT / "realtime").rglob("*.py")}


def section(title: str) -> str:
    """The text under the heading ``title``, up to the next heading of the same or a higher level."""
    found = re.search(rf"^(#+) {re.escape(title)}\s*$", DOC, re.MULTILINE)
    assert found, f"docs/api.md has no heading {title!r}"
    level = len(found.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(DOC, found.end())
    return DOC[found.end():end.start() if end else len(DOC)]


def table_column(text: str, header: str) -> list[str]:
    """The cells of the column ``header`` in the first Markdown table of ``text`` that has it."""
    for table in re.findall(r"(?:^\|.*\n?)+", text, re.MULTILINE):
        rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in table.splitlines()]
        if header in rows[0]:
            at = rows[0].index(header)
            return [row[at] for row in rows[2:] if len(row) > at]  # after the |---| line
    raise AssertionError(f"no table with a {header!r} column")


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


async def test_every_resource_listed_by_the_api_has_a_section_in_its_order(api):
    index = await api.get("/v1")
    names = [resource["name"] for resource in index["resources"]]
    headings = [h.strip().strip("`") for h in re.findall(r"^#+ (.+)$", section("Resources"), re.MULTILINE)]
    missing = [name for name in names if name not in headings]
    assert not missing, f"docs/api.md has no section for {missing}"
    assert [h for h in headings if h in names] == names, "sections are not in the order GET /v1 lists them"


def test_every_documented_error_id_is_raised_by_the_code_and_every_raised_one_is_documented():
    documented = [token for cell in table_column(section("Errors"), "id") for token in backticked(cell)]
    assert documented, "the errors table lists no ids"
    unknown = [i for i in documented if not any(f'"{i}"' in text for text in SOURCES.values())]
    assert not unknown, f"docs/api.md documents error ids the code never uses: {unknown}"

    api_sources = "\n".join(text for path, text in SOURCES.items() if path.parent.name == "api")
    raised = set(re.findall(r'(?:error_id\s*=\s*|error_body\()"([a-z][a-z0-9-]*)"', api_sources))
    raised.discard(ApiError.error_id)  # the base class's default; every error raised names its own
    undocumented = sorted(raised - set(documented))
    assert not undocumented, f"error ids missing from the errors table of docs/api.md: {undocumented}"


def test_webhook_headers_and_envelope_are_the_ones_sent():
    sent = {value for name, value in vars(webhooks).items() if name.endswith("_HEADER")}
    assert sent, "realtime.webhooks defines no *_HEADER constants"
    named = set(re.findall(r"`(X-Realtime-[A-Za-z-]+)`", DOC))
    assert named - sent == set(), f"docs/api.md names headers the server never sends: {named - sent}"
    assert sent - named == set(), f"headers the server sends missing from docs/api.md: {sent - named}"
    assert f"`{webhooks.USER_AGENT}`" in DOC

    delivery = WebhookDelivery(id=7, event="list.imported", subject="list:3", payload={}, created_at=utcnow())
    fields = [token for cell in table_column(section("Webhooks"), "field") for token in backticked(cell)]
    sent_fields = sorted(json.loads(webhooks.envelope(delivery)))
    assert sorted(fields) == sent_fields, f"the envelope table lists {sorted(fields)}; the server sends {sent_fields}"


def test_the_list_summary_and_rate_limit_headers_are_the_ones_sent():
    example = re.search(r"```json\n(.*?)```", section("The summary webhook"), re.DOTALL)
    assert example, "no JSON example under 'The summary webhook'"
    lead_list = LeadList(id=3, campaign_id=3, name="x", status=ListStatus.READY, rows_total=0, rows_imported=0,
                         rows_rejected=0, rows_blocked=0, households_created=0)
    documented, sent_keys = sorted(json.loads(example.group(1))), sorted(summary(lead_list))
    assert documented == sent_keys, f"the summary example has {documented}; the server sends {sent_keys}"

    sent = set(Verdict(allowed=False, limit=1, remaining=0, reset_at=time.time()).headers())
    named = set(backticked(" ".join(table_column(section("Rate limits"), "header"))))
    assert named == sent, f"the rate-limit table names {sorted(named)}; the server sends {sorted(sent)}"


def verify_example() -> Callable[..., bool]:
    """The doc's ``verify`` function, run from the Python block of its Webhooks section."""
    blocks = re.findall(r"```python\n(.*?)```", section("Webhooks"), re.DOTALL)
    assert len(blocks) == 1, "the Webhooks section should hold one Python example"
    imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(blocks[0]))
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert imported <= set(sys.stdlib_module_names), f"the example needs more than the standard library: {imported}"
    namespace: dict = {}
    exec(compile(blocks[0], "docs/api.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify"]


@pytest.fixture(scope="module")
def verify() -> Callable[..., bool]:
    return verify_example()


SECRET = "an-accounts-api-auth"
BODY = b'{"id":1,"event":"list.imported","subject":"list:3","created_at":"2026-11-26T18:25:24+00:00","data":{}}'


def test_the_documented_verification_accepts_what_the_server_signs(verify):
    assert verify(SECRET, webhooks.sign(SECRET, BODY), BODY)


def test_the_documented_verification_refuses_a_tampered_body_or_another_secret(verify):
    header = webhooks.sign(SECRET, BODY)
    assert not verify(SECRET, header, BODY.replace(b"list:3", b"list:4"))
    assert not verify("another secret", header, BODY)
    for broken in ("", "garbage", "t=abc,v1=00", "v1=" + header.split("v1=")[1]):
        assert not verify(SECRET, broken, BODY)
        assert not webhooks.verify_signature(SECRET, broken, BODY)


def test_the_documented_verification_keeps_the_servers_timestamp_tolerance(verify):
    tolerance = inspect.signature(webhooks.verify_signature).parameters["tolerance"].default
    now = int(time.time())
    for sent_at, accepted in ((now - tolerance - 60, False), (now + tolerance + 60, False),
                              (now - tolerance + 60, True)):
        header = webhooks.sign(SECRET, BODY, sent_at)
        assert webhooks.verify_signature(SECRET, header, BODY) is accepted
        assert verify(SECRET, header, BODY) is accepted, f"signed {now - sent_at} s ago"


# -- the call API -------------------------------------------------------------------------------
def test_the_call_api_parameters_are_the_ones_taken():
    from realtime.api.calls import CREATE

    documented = [token for cell in table_column(section("Starting a job"), "name") for token in backticked(cell)]
    taken = [field.name for field in CREATE.fields] + ["phone_number"]
    assert sorted(documented) == sorted(taken), f"the table lists {sorted(documented)}; POST takes {sorted(taken)}"


def test_the_caller_commands_are_the_routes_served():
    from realtime.api.call_callers import COMMANDS

    documented = [token for cell in table_column(section("A job's callers"), "command") for token in backticked(cell)]
    assert documented == list(COMMANDS)


def test_every_call_state_notification_is_documented_with_its_fields():
    from realtime.callflow.notifications import CATALOGUE, COMMON, OPTIONAL

    text = section("Call-state notifications")
    events = table_column(text, "event")
    fields = table_column(text, "fields")
    documented = {backticked(event)[0]: backticked(cell) for event, cell in zip(events, fields)}
    assert documented == {name: [*names, *OPTIONAL.get(name, ())] for name, names in CATALOGUE.items()}
    assert [token for cell in table_column(text, "field") for token in backticked(cell)] == list(COMMON)
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]
    assert examples, "no example notification"
    for example in examples:
        data = example.get("data", example)
        required = {*COMMON, *CATALOGUE[data["event"]]}
        assert required <= set(data) <= required | set(OPTIONAL.get(data["event"], ())), data
        if "data" in example:
            assert example["event"] == "call." + data["event"] and example["subject"] == f"call:{data['call_id']}"
