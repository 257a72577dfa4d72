"""/v1/openapi.json stays true: every route is in it, it is valid OpenAPI 3.1, and a
fuzzer finds no server error and no answer it does not describe."""
from __future__ import annotations

import asyncio
import logging

import aiohttp
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from realtime.api.app import PREFIX
from realtime.server import create_app
from realtime.store.database import Store
from realtime.store.demo import seed_demo
from realtime.store.migrate import upgrade
from realtime.store.models import CallJob, Campaign
from tests.api.conftest import api_settings

logger = logging.getLogger(__name__)

CALL_STATE_URL = "https://crm.example/calls/:id/callers/:caller_id/state_change"  # never reached: .example


async def test_the_document_is_valid_openapi_3_1(api):
    document = await api.get("/v1/openapi.json", headers={})
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert {"basic", "apiKey", "apiAuth"} <= set(document["components"]["securitySchemes"])


async def test_every_route_is_documented_and_every_operation_served(api):
    document = await api.get("/v1/openapi.json", headers={})
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = {
        (route.method, route.resource.canonical)
        for route in api.client.app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith(PREFIX)
    }
    # HEAD is served wherever GET is, and answers as GET without a body: not documented apart.
    heads = {(method, path) for method, path in served if method == "HEAD"}
    assert heads == {("HEAD", path) for method, path in served if method == "GET"}
    assert served - heads == documented
    for (method, path) in documented:
        operation = document["paths"][path][method.lower()]
        assert operation["operationId"] and operation["summary"], (method, path)
        assert {"400", "429"} <= set(operation["responses"]), (method, path)
        if operation["security"]:
            assert "401" in operation["responses"], (method, path)


async def test_every_operation_documents_its_bodies(api):
    document = await api.get("/v1/openapi.json", headers={})
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("post", "patch"):
                assert "requestBody" in operation, (method, path)
            success = [s for s in operation["responses"] if s.startswith("2")]
            assert len(success) == 1, (method, path)


def is_call_api(path: str) -> bool:
    return path == "/v1/call" or path.startswith("/v1/call/")


def fuzz(base_url: str, auth: tuple[str, str], examples: int) -> list[str]:
    """Run schemathesis against the live server; a description of each failure."""
    schema = schemathesis.openapi.from_url(f"{base_url}/v1/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # The call API first, while the demo's first campaign (which other routes delete) runs as a
    # job with a live caller; its DELETEs (stopping the job, removing the caller) after the rest.
    operations.sort(key=lambda op: (not is_call_api(op.path), is_call_api(op.path) and op.method.upper() == "DELETE"))
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.settings(max_examples=examples, deadline=None, database=None,
                                 derandomize=True, phases=[Phase.explicit, Phase.generate],
                                 suppress_health_check=list(HealthCheck))
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def check(case: schemathesis.Case) -> None:
                # 422 for schema-valid data is documented (an id of another account, a phone
                # number that is no number): the document does not promise acceptance.
                case.call_and_validate(base_url=base_url, auth=auth, timeout=10,
                                       excluded_checks=[positive_data_acceptance])

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no parameters, no body
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every operation's failures at once
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures


# Examples per operation and mode: the full run on SQLite, a shorter one for what only
# PostgreSQL refuses (lengths, ranges, NUL), so the two stay well under two minutes.
@pytest.mark.timeout(180)
@pytest.mark.parametrize(("database", "examples"), [("sqlite", 5), ("postgres", 2)])
async def test_schemathesis_finds_nothing(aiohttp_server, request, tmp_path, database, examples):
    if database == "sqlite":
        url = request.getfixturevalue("migrated_sqlite_url")
    else:
        url = request.getfixturevalue("postgres_url")
        await upgrade(url)
    # The demo account has a bit of everything, so answers with real rows get checked too; its
    # first campaign is run as a call job too, so the call API's routes (whose examples name
    # job 1 and caller "a-17") meet a job with a live caller.
    store = Store(url)
    demo = await seed_demo(store)
    async with store.transaction() as session:
        campaign = await session.get(Campaign, 1)
        session.add(CallJob(id=1, account_id=campaign.account_id, call_state_url=CALL_STATE_URL))
    await store.close()
    # The whole server as `realtime serve` builds it (its engine on the built-in simulator), so
    # the call API's commands reach a live engine.
    server = await aiohttp_server(create_app(api_settings(url, tmp_path)))
    base = str(server.make_url("")).rstrip("/")
    auth = {"Authorization": aiohttp.encode_basic_auth(demo.api_key, demo.api_auth)}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.post(f"{base}/v1/call/1/callers", json={"caller_id": "a-17", "phone": "PJSIP/a17"}) as added:
            assert added.status == 201, await added.text()
    try:
        failures = await asyncio.to_thread(fuzz, base, (demo.api_key, demo.api_auth), examples)
    finally:
        await server.close()  # before its database goes with the test's fixtures
    assert not failures, "\n\n".join(failures)
