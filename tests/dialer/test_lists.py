"""List import: households by phone, rejections with row and reason, blocked numbers flagged,
the summary webhook written with the final status; from a file or from a URL; an import whose
process died is failed by another process's runner."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import random
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from realtime.dialer.blocking import block_numbers
from realtime.dialer.lists import (
    INTERRUPTED,
    ImportRunner,
    ListImportError,
    check_source_url,
    create_list,
    default_mapping,
    download,
    import_csv_file,
    import_list,
)
from realtime.store.models import (
    CustomLeadField,
    Household,
    Lead,
    LeadList,
    ListRejection,
    ListStatus,
    WebhookDelivery,
)
from realtime.store.database import Store
from realtime.store.types import utcnow

CSV = """Phone,First Name,Last Name,Email,Party
(212) 555-0100,Ann,Arbor,ann@example.com,D
212-555-0101,Bob,Baker,,R
+1 212 555 0100,Cid,Arbor,,D
(123) 456-7890,Dan,Dee,,
,Eve,Empty,,

212.555.0102,Fay,Blocked,,I
212 555 0103,Gus,Earlier,,D
212 555 0104,Hal,Campaign-blocked,,D
212-555-0105,Ivy,Extra,,D,surplus
212-555-0106,{long},Long,,D
"""


def write(tmp_path, text: str, name: str = "list.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def test_import_groups_households_flags_blocked_and_explains_rejections(floor, tmp_path):
    campaign = await floor.campaign()
    [earlier] = await floor.households(campaign, ["+12125550103"])  # from an earlier list
    async with floor.store.transaction() as session:
        await block_numbers(session, account_id=floor.account_id, phones=["+12125550102"])
        await block_numbers(session, account_id=floor.account_id, phones=["+12125550104"], campaign_id=campaign.id)
        lead_list = await create_list(
            session, account_id=floor.account_id, campaign_id=campaign.id, name="November",
            column_mapping={"Phone": "phone", "First Name": "first_name", "Last Name": "last_name",
                            "Email": "email", "Party": "custom:party"},
            webhook_url="https://example.com/hooks",
        )
    path = write(tmp_path, CSV.format(long="x" * 201))
    seen = []
    result = await import_list(floor.store, lead_list.id, path, batch_rows=3, progress=seen.append)

    assert result.status is ListStatus.READY
    assert (result.rows_total, result.rows_imported, result.rows_rejected) == (10, 6, 4)  # the blank line aside
    assert result.rows_blocked == 2  # Fay (account-wide) and Hal (this campaign)
    assert result.households_created == 4  # 0100, 0101, 0102 and 0104; 0103 was there
    assert result.duplicates == 2  # Cid joins Ann; Gus joins the earlier household
    done = [p.rows_done for p in seen]  # once per batch; batches may finish in any order
    assert len(done) == 4 and done == sorted(done) and done[-1] == 10

    async with floor.store.sessions() as session:
        rejections = (await session.execute(
            select(ListRejection.row_number, ListRejection.reason)
            .where(ListRejection.lead_list_id == lead_list.id).order_by(ListRejection.row_number)
        )).all()
        households = {h.phone: h for h in await session.scalars(
            select(Household).where(Household.campaign_id == campaign.id))}
        leads = (await session.execute(
            select(Lead.first_name, Household.phone, Lead.custom_fields, Lead.email)
            .join(Household, Household.id == Lead.household_id)
            .where(Lead.lead_list_id == lead_list.id).order_by(Lead.id)
        )).all()
        stored = await session.get(LeadList, lead_list.id)
        [delivery] = (await session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.account_id == floor.account_id,
                                          WebhookDelivery.subject == f"list:{lead_list.id}"))).all()
        custom = (await session.scalars(select(CustomLeadField.name).where(
            CustomLeadField.account_id == floor.account_id))).all()

    assert rejections == [
        (5, "invalid phone number '(123) 456-7890': not a valid number"),
        (6, "missing phone number"),
        (11, "has 6 columns; the header has 5"),
        (12, "first_name is longer than 200 characters"),
    ]
    assert sorted((name, phone) for name, phone, _, _ in leads) == [
        ("Ann", "+12125550100"), ("Bob", "+12125550101"), ("Cid", "+12125550100"), ("Fay", "+12125550102"),
        ("Gus", "+12125550103"), ("Hal", "+12125550104")]
    assert {name: (custom_fields, email) for name, _, custom_fields, email in leads}["Ann"] == (
        {"party": "D"}, "ann@example.com")
    assert custom == ["party"]
    assert households["+12125550102"].blocked_account and not households["+12125550102"].blocked_campaign
    assert households["+12125550104"].blocked_campaign and not households["+12125550104"].blocked_account
    assert households["+12125550103"].id == earlier.id
    # New households follow the campaign's last one, in upload order.
    new = sorted((h for h in households.values() if h.id != earlier.id), key=lambda h: h.position)
    assert [h.phone for h in new] == ["+12125550100", "+12125550101", "+12125550102", "+12125550104"]
    assert new[0].position > households["+12125550103"].position

    assert stored.status is ListStatus.READY and stored.completed_at is not None
    assert delivery.event == "list.imported" and delivery.url == "https://example.com/hooks"
    assert delivery.payload["rows_imported"] == 6 and delivery.payload["rows_rejected"] == 4
    assert delivery.payload["status"] == "ready" and delivery.payload["duplicates"] == 2


async def test_a_mapping_without_phone_fails_the_list_and_says_so(floor, tmp_path):
    campaign = await floor.campaign()
    async with floor.store.transaction() as session:
        lead_list = await create_list(session, account_id=floor.account_id, campaign_id=campaign.id, name="x",
                                      column_mapping={"Name": "first_name"}, webhook_url="https://example.com/h")
    result = await import_list(floor.store, lead_list.id, write(tmp_path, "Name,Tel\nAnn,2125550100\n"))
    assert result.status is ListStatus.FAILED
    assert result.error == "mapping: no column maps to phone"
    async with floor.store.sessions() as session:
        delivery = await session.scalar(select(WebhookDelivery).where(
            WebhookDelivery.account_id == floor.account_id, WebhookDelivery.subject == f"list:{lead_list.id}"))
    assert delivery.event == "list.import_failed" and delivery.payload["error"] == result.error


def test_default_mapping_recognises_usual_headers():
    headers = ["Phone Number", "FirstName", "last_name", "ZIP", "E-mail", "Ward", "Notes"]
    assert default_mapping(headers, ["ward"]) == {
        "Phone Number": "phone", "FirstName": "first_name", "last_name": "last_name", "ZIP": "zip_code",
        "Ward": "custom:ward",
    }


async def test_command_line_import_maps_headers_itself(floor, tmp_path):
    campaign = await floor.campaign()
    path = write(tmp_path, "phone,first_name,zip\n2125550100,Ann,10001\n2125550100,Bob,10001\n")
    result = await import_csv_file(floor.store, path, campaign_id=campaign.id)
    assert (result.rows_imported, result.households_created, result.status) == (2, 1, ListStatus.READY)
    with pytest.raises(ListImportError) as refused:
        await import_csv_file(floor.store, write(tmp_path, "name\nAnn\n", "b.csv"), campaign_id=campaign.id)
    assert refused.value.error_id == "invalid-column-mapping"


@pytest.mark.parametrize("migrated_database_url", ["postgresql"], indirect=True)  # the large file: PostgreSQL
async def test_a_hundred_thousand_rows(floor, tmp_path):
    campaign = await floor.campaign()
    rng = random.Random(3)
    path = tmp_path / "big.csv"
    with open(path, "w", newline="") as file:
        out = csv.writer(file)
        out.writerow(["phone", "first_name", "last_name", "city"])
        for n in range(100_000):
            # Every tenth row repeats an earlier phone; every thousandth is not a number.
            number = f"(212) {200 + (n // 10_000):03d}-{n % 10_000:04d}" if n % 10 else f"(212) 200-{rng.randint(0, 9):04d}"
            out.writerow([number if n % 1000 != 999 else "nope", f"First{n}", f"Last{n}", "New York"])
    result = await import_csv_file(floor.store, path, campaign_id=campaign.id)
    async with floor.store.sessions() as session:
        leads = await session.scalar(select(func.count()).select_from(Lead).where(Lead.campaign_id == campaign.id))
        households = await session.scalar(
            select(func.count()).select_from(Household).where(Household.campaign_id == campaign.id))
    assert result.rows_rejected == 100
    assert result.rows_imported == leads == 99_900
    assert result.households_created == households
    assert result.duplicates == 99_900 - households > 9_000



async def test_phones_repeated_in_batches_written_side_by_side_share_one_household_in_upload_order(floor, tmp_path):
    campaign = await floor.campaign()
    # Rows cycle through seven phones with a stride, so every batch repeats phones of the one or two before.
    order = [(n * 5) % 7 for n in range(60)]
    text = "phone,first_name\n" + "".join(f"212-555-01{k:02d},Row{n}\n" for n, k in enumerate(order))
    async with floor.store.transaction() as session:
        lead_list = await create_list(session, account_id=floor.account_id, campaign_id=campaign.id, name="x",
                                      column_mapping={"phone": "phone", "first_name": "first_name"})
    result = await import_list(floor.store, lead_list.id, write(tmp_path, text), batch_rows=4)
    async with floor.store.sessions() as session:
        leads = dict((await session.execute(
            select(Lead.first_name, Household.phone).join(Household, Household.id == Lead.household_id)
            .where(Lead.lead_list_id == lead_list.id))).all())
        by_position = (await session.scalars(
            select(Household.phone).where(Household.campaign_id == campaign.id).order_by(Household.position))).all()
    assert (result.rows_imported, result.households_created, result.duplicates) == (60, 7, 53)
    assert leads == {f"Row{n}": f"+121255501{k:02d}" for n, k in enumerate(order)}
    assert by_position == [f"+121255501{k:02d}" for k in dict.fromkeys(order)]


async def test_a_batch_that_deadlocks_is_written_again_and_counted_once(floor, tmp_path, monkeypatch):
    from asyncpg.exceptions import DeadlockDetectedError

    from realtime.dialer import lists

    write_batch = lists._write
    deadlocks = []

    async def deadlocking_once(session, target, batch, *args):
        if not deadlocks and any("Bob" in fields for _, fields, _ in batch.rows):
            deadlocks.append(batch)
            raise DeadlockDetectedError("deadlock detected")
        return await write_batch(session, target, batch, *args)

    monkeypatch.setattr(lists, "_write", deadlocking_once)
    campaign = await floor.campaign()
    async with floor.store.transaction() as session:
        lead_list = await create_list(session, account_id=floor.account_id, campaign_id=campaign.id, name="x",
                                      column_mapping={"phone": "phone", "first_name": "first_name"})
    text = "phone,first_name\n212-555-0100,Ann\n212-555-0101,Bob\nnope,Cid\n212-555-0100,Dee\n"
    result = await import_list(floor.store, lead_list.id, write(tmp_path, text), batch_rows=2)
    async with floor.store.sessions() as session:
        names = (await session.scalars(select(Lead.first_name).where(Lead.lead_list_id == lead_list.id))).all()
        rejected = (await session.scalars(select(ListRejection.row_number).where(
            ListRejection.lead_list_id == lead_list.id))).all()
    assert deadlocks and result.status is ListStatus.READY
    assert (result.rows_imported, result.rows_rejected, result.households_created) == (3, 1, 2)
    assert sorted(names) == ["Ann", "Bob", "Dee"] and rejected == [4]

async def test_url_lists_are_streamed_from_allowed_addresses_only(floor, tmp_path, aiohttp_server):
    app = web.Application()
    app.router.add_get("/list.csv", lambda request: web.Response(text="phone\n2125550100\n"))
    app.router.add_get("/moved", lambda request: web.HTTPFound("/list.csv"))
    app.router.add_get("/gone", lambda request: web.Response(status=404))
    server = await aiohttp_server(app, host="127.0.0.1")

    dest = tmp_path / "fetched.csv"
    await download(str(server.make_url("/moved")), dest, allow_private=True)
    assert dest.read_text() == "phone\n2125550100\n"
    with pytest.raises(ListImportError) as failed:
        await download(str(server.make_url("/gone")), dest, allow_private=True)
    assert failed.value.error_id == "source-download-failed"

    for url in (str(server.make_url("/list.csv")),  # plain http
                f"https://127.0.0.1:{server.port}/list.csv", "https://10.1.2.3/list.csv",
                "https://[::1]/list.csv", "https://[::ffff:127.0.0.1]/x", "https://169.254.169.254/latest",
                f"https://localhost:{server.port}/x",
                "ftp://example.com/list.csv", "not a url"):
        with pytest.raises(ListImportError) as refused:
            await download(url, dest)
        assert refused.value.error_id == "source-url-refused", url
    check_source_url("https://lists.example.com/november.csv")


# -- imports whose process died --------------------------------------------------------------

async def left_importing(floor, *, heartbeat: dt.datetime | None, status: ListStatus = ListStatus.IMPORTING,
                         webhook_url: str | None = "https://example.com/hooks") -> LeadList:
    """A list as a process importing it leaves it, one lead already written."""
    campaign = await floor.campaign()
    async with floor.store.transaction() as session:
        lead_list = await create_list(session, account_id=floor.account_id, campaign_id=campaign.id, name="x",
                                      column_mapping={"phone": "phone"}, webhook_url=webhook_url)
        lead_list.status = status
        lead_list.import_heartbeat_at = heartbeat
        lead_list.rows_total, lead_list.rows_imported, lead_list.households_created = 10, 1, 1
    await floor.households(campaign, ["+12125550100"], lead_list=lead_list)
    return lead_list


async def stored(store: Store, list_id: int) -> tuple[LeadList, list[WebhookDelivery], list[str]]:
    """The list, its webhooks and the phones of its leads."""
    async with store.sessions() as session:
        lead_list = await session.get(LeadList, list_id)
        deliveries = (await session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.account_id == lead_list.account_id, WebhookDelivery.subject == f"list:{list_id}"))).all()
        phones = (await session.scalars(select(Household.phone).join(Lead, Lead.household_id == Household.id)
                                        .where(Lead.lead_list_id == list_id))).all()
    return lead_list, list(deliveries), list(phones)


def runner_for(store: Store, tmp_path, **options) -> ImportRunner:
    return ImportRunner(store, work_dir=tmp_path / "imports", **options)


async def test_a_runner_starting_fails_the_imports_of_a_dead_process_and_sends_their_webhook(floor, tmp_path):
    an_hour_ago = utcnow() - dt.timedelta(hours=1)
    importing = await left_importing(floor, heartbeat=an_hour_ago)
    queued = await left_importing(floor, heartbeat=None, status=ListStatus.QUEUED, webhook_url=None)
    async with floor.store.transaction() as session:  # queued long ago, never started
        (await session.get(LeadList, queued.id)).created_at = an_hour_ago

    runner = runner_for(floor.store, tmp_path)
    await runner.open()
    await runner.close()

    lead_list, [delivery], phones = await stored(floor.store, importing.id)
    assert (lead_list.status, lead_list.error) == (ListStatus.FAILED, INTERRUPTED)
    assert "upload the list again" in lead_list.error and lead_list.completed_at is not None
    assert delivery.event == "list.import_failed"
    assert (delivery.payload["status"], delivery.payload["error"], delivery.payload["rows_imported"]) == (
        "failed", INTERRUPTED, 1)
    assert phones == ["+12125550100"]  # what was written stays, as when an import is stopped
    assert (await stored(floor.store, queued.id))[0].status is ListStatus.FAILED

    assert importing.id not in await runner.sweep()  # failed once: no second webhook
    assert len((await stored(floor.store, importing.id))[1]) == 1


async def test_an_import_with_a_fresh_heartbeat_is_left_alone(floor, tmp_path):
    live = await left_importing(floor, heartbeat=utcnow())
    just_queued = await left_importing(floor, heartbeat=None, status=ListStatus.QUEUED)

    runner = runner_for(floor.store, tmp_path)
    await runner.open()
    await runner.close()

    for lead_list in (live, just_queued):
        now, deliveries, _ = await stored(floor.store, lead_list.id)
        assert (now.status, now.error, deliveries) == (lead_list.status, None, [])


async def test_two_runners_sweeping_at_once_fail_a_dead_import_once(floor, migrated_database_url, tmp_path):
    dead = await left_importing(floor, heartbeat=utcnow() - dt.timedelta(hours=1))
    other_process = Store(migrated_database_url)
    try:
        runners = [runner_for(floor.store, tmp_path), runner_for(other_process, tmp_path)]
        swept = await asyncio.gather(*(runner.sweep() for runner in runners))
    finally:
        await other_process.close()
    assert [ids.count(dead.id) for ids in swept] in ([1, 0], [0, 1])
    lead_list, deliveries, _ = await stored(floor.store, dead.id)
    assert lead_list.status is ListStatus.FAILED and len(deliveries) == 1


async def heartbeat(store: Store, list_id: int) -> dt.datetime | None:
    async with store.sessions() as session:
        return await session.scalar(select(LeadList.import_heartbeat_at).where(LeadList.id == list_id))


async def heartbeat_moves(store: Store, list_id: int, timeout: float = 10) -> None:
    """Wait until the list's heartbeat has been refreshed twice."""
    async with asyncio.timeout(timeout):
        for _ in range(2):
            last = await heartbeat(store, list_id)
            while await heartbeat(store, list_id) == last:
                await asyncio.sleep(0.01)


async def test_the_heartbeat_keeps_moving_while_a_list_downloads(floor, tmp_path, aiohttp_server):
    release = asyncio.Event()

    async def slow_list(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"phone\n")
        await release.wait()
        await response.write(b"2125550100\n")
        return response

    source = web.Application()
    source.router.add_get("/list.csv", slow_list)
    server = await aiohttp_server(source, host="127.0.0.1")
    campaign = await floor.campaign()
    async with floor.store.transaction() as session:
        lead_list = await create_list(session, account_id=floor.account_id, campaign_id=campaign.id, name="x",
                                      column_mapping={"phone": "phone"})

    runner = runner_for(floor.store, tmp_path, allow_private=True, heartbeat_interval=0.05)
    task = runner.start(lead_list.id, url=str(server.make_url("/list.csv")))
    try:
        await heartbeat_moves(floor.store, lead_list.id)
        release.set()
        result = await asyncio.wait_for(task, 10)
    finally:
        release.set()
        await runner.close()
    assert (result.status, result.rows_imported) == (ListStatus.READY, 1)


def hold_batches(monkeypatch) -> tuple[asyncio.Event, asyncio.Event]:
    """Batches wait for the first event before they are written; the second is set once one waits."""
    from realtime.dialer import lists

    commit = lists._commit
    release, writing = asyncio.Event(), asyncio.Event()

    async def held_commit(*args):
        writing.set()
        await release.wait()
        return await commit(*args)

    monkeypatch.setattr(lists, "_commit", held_commit)
    return release, writing


async def test_the_heartbeat_keeps_moving_between_batches(floor, tmp_path, monkeypatch):
    release, _ = hold_batches(monkeypatch)
    campaign = await floor.campaign()
    async with floor.store.transaction() as session:
        lead_list = await create_list(session, account_id=floor.account_id, campaign_id=campaign.id, name="x",
                                      column_mapping={"phone": "phone"})
    path = write(tmp_path, "phone\n2125550100\n2125550101\n")
    importing = asyncio.create_task(import_list(floor.store, lead_list.id, path, heartbeat_interval=0.05))
    try:
        await heartbeat_moves(floor.store, lead_list.id)
        assert (await stored(floor.store, lead_list.id))[0].status is ListStatus.IMPORTING
        release.set()
        result = await asyncio.wait_for(importing, 10)
    finally:
        release.set()
        await asyncio.gather(importing, return_exceptions=True)
    assert (result.status, result.rows_imported) == (ListStatus.READY, 2)


async def test_an_import_failed_by_another_runner_is_not_finished_again(floor, tmp_path, monkeypatch):
    # This process could not refresh its heartbeat for too long: a runner elsewhere failed the list.
    release, writing = hold_batches(monkeypatch)
    campaign = await floor.campaign()
    async with floor.store.transaction() as session:
        lead_list = await create_list(session, account_id=floor.account_id, campaign_id=campaign.id, name="x",
                                      column_mapping={"phone": "phone"}, webhook_url="https://example.com/hooks")
    importing = asyncio.create_task(import_list(floor.store, lead_list.id, write(tmp_path, "phone\n2125550100\n")))
    try:
        await asyncio.wait_for(writing.wait(), 10)
        async with floor.store.transaction() as session:
            (await session.get(LeadList, lead_list.id)).import_heartbeat_at = utcnow() - dt.timedelta(hours=1)
        assert lead_list.id in await runner_for(floor.store, tmp_path).sweep()
        release.set()
        result = await asyncio.wait_for(importing, 10)
    finally:
        release.set()
        await asyncio.gather(importing, return_exceptions=True)
    assert (result.status, result.error) == (ListStatus.FAILED, INTERRUPTED)
    now, [delivery], _ = await stored(floor.store, lead_list.id)
    assert now.status is ListStatus.FAILED and delivery.event == "list.import_failed"


async def test_an_import_whose_list_is_gone_ends_with_a_log_line_not_a_task_exception(floor, tmp_path, caplog):
    runner = runner_for(floor.store, tmp_path)
    path = write(tmp_path, "Phone\n(212) 555-0100\n")
    task = runner.start(2**62, path=path)
    await asyncio.wait([task], timeout=30)
    assert task.done() and task.exception() is None
    assert [r for r in caplog.records if r.levelname == "ERROR" and f"list {2**62}" in r.getMessage()]
    assert not path.exists()
    await runner.close()


async def imported(floor, tmp_path, content: bytes) -> tuple:
    """Import a CSV file of these bytes: (result, leads' first names by row order, rejections)."""
    campaign = await floor.campaign()
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    result = await import_csv_file(floor.store, path, campaign_id=campaign.id,
                                   column_mapping={"Phone": "phone", "Name": "first_name", "Notes": "custom:notes"})
    async with floor.store.sessions() as session:
        names = (await session.scalars(select(Lead.first_name).where(Lead.lead_list_id == result.list_id)
                                       .order_by(Lead.id))).all()
        rejections = (await session.execute(
            select(ListRejection.row_number, ListRejection.reason)
            .where(ListRejection.lead_list_id == result.list_id).order_by(ListRejection.row_number))).all()
    return result, list(names), [tuple(r) for r in rejections]


async def test_a_field_over_the_csv_limit_rejects_its_row_only(floor, tmp_path):
    huge = "x" * (200 * 1024)
    content = (f"Phone,Name,Notes\n2125550100,Ann,ok\n2125550101,Bob,{huge}\n2125550102,Cid,\"{huge}\"\n"
               f"2125550103,Dan,ok\n").encode()
    result, names, rejections = await imported(floor, tmp_path, content)
    assert result.status is ListStatus.READY, result.error
    assert names == ["Ann", "Dan"]
    assert (result.rows_total, result.rows_imported, result.rows_rejected) == (4, 2, 2)
    assert rejections == [(3, "a field is longer than 131072 characters"),
                          (4, "a field is longer than 131072 characters")]


async def test_a_latin_1_file_imports_as_written(floor, tmp_path):
    content = "Phone,Name,Notes\n2125550100,José,Café crème\n2125550101,Zoë,“quoted” – €5\n".encode("cp1252")
    result, names, _ = await imported(floor, tmp_path, content)
    assert result.status is ListStatus.READY, result.error
    assert names == ["José", "Zoë"]
    async with floor.store.sessions() as session:
        notes = (await session.scalars(select(Lead.custom_fields).where(Lead.lead_list_id == result.list_id)
                                       .order_by(Lead.id))).all()
    assert [n["notes"] for n in notes] == ["Café crème", "“quoted” – €5"]


async def test_a_utf_8_file_stays_utf_8(floor, tmp_path):
    content = "\ufeffPhone,Name,Notes\n2125550100,José,日本\n".encode()
    result, names, _ = await imported(floor, tmp_path, content)
    assert (result.status, names) == (ListStatus.READY, ["José"])


@pytest.mark.parametrize("migrated_database_url", ["postgresql"], indirect=True)
async def test_a_big_import_refreshes_the_planners_statistics(floor, tmp_path, monkeypatch):
    from sqlalchemy import text

    from realtime.dialer import lists

    async def last_analyzed() -> dict[str, Any]:
        async with floor.store.sessions() as session:
            rows = await session.execute(text(
                "SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname IN ('leads', 'households')"))
            return dict(rows.all())

    monkeypatch.setattr(lists, "ANALYZE_AFTER_ROWS", 3)  # a big import, in a test's size
    campaign = await floor.campaign()
    before = await last_analyzed()
    small = await import_csv_file(floor.store, write(tmp_path, "phone\n2125550100\n2125550101\n", "small.csv"),
                                  campaign_id=campaign.id)
    assert small.rows_imported == 2 and await last_analyzed() == before
    big = await import_csv_file(floor.store, write(tmp_path, "phone\n2125550102\n2125550103\n2125550104\n"),
                                campaign_id=campaign.id)
    assert big.rows_imported == 3
    after = await last_analyzed()
    assert all(after[table] is not None and after[table] != before.get(table) for table in ("leads", "households"))
