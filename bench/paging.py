"""Paging benchmark: a page deep in a large collection, by key (what the links use now)
against by page number (OFFSET, what they used before), through the running API, in one run.

Creates a fresh database on the PostgreSQL at 127.0.0.1:5432 (user postgres), imports N
leads (default 200,000) into one campaign with the product's importer (which runs ANALYZE
after it, as a server does), serves the API as ``realtime serve`` does, and asks
``GET /v1/leads?campaign_id=...&limit=50`` for a page 90 % of the way through the
collection, ``--rounds`` times each way, alternating:

- by page number (``page=N``): the database skips every row before the page;
- by key (``after=<id>``): the database starts at the page, by index.

Both answers hold the same leads. The first page (``total`` counted up to 10,000, then
estimated) is timed too, for information. The database is dropped at the end. The last
line is:

    summary: rows=N by_page_ms=N by_key_ms=N first_page_ms=N speedup=x.xx

``speedup`` is the median time by page number over the median time by key.

    python bench/paging.py [--rows 200000] [--rounds 20]
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

from realtime.config import load_settings
from realtime.dialer.lists import import_csv_file
from realtime.http_server import Runner
from realtime.server import create_app
from realtime.store import migrate
from realtime.store.accounts import create_account
from realtime.store.database import Store
from realtime.store.models import Campaign, DialerMode

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
LIMIT = 50


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", newline="") as file:
        out = csv.writer(file)
        out.writerow(["phone", "first_name", "last_name"])
        for n in range(rows):
            out.writerow([f"+1212{200 + n // 10_000:03d}{n % 10_000:04d}", f"First{n}", f"Last{n}"])


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def timed(http: aiohttp.ClientSession, path: str, params: dict[str, str]) -> tuple[float, list[int]]:
    started = time.perf_counter()
    async with http.get(path, params=params) as response:
        body = await response.json()
    assert response.status == 200, body
    return (time.perf_counter() - started) * 1000, [lead["id"] for lead in body["resources"]]


async def run(rows: int, rounds: int, work: Path) -> None:
    name = f"realtime_bench_{uuid.uuid4().hex[:10]}"
    url = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    await admin(f'CREATE DATABASE "{name}"')
    runner = None
    try:
        await migrate.upgrade(url)
        store = Store(url)
        async with store.transaction() as session:
            made = await create_account(session, "Bench")
            campaign = Campaign(account_id=made.account.id, name="Bench", dialer_mode=DialerMode.POWER)
            session.add(campaign)
        csv_path = work / "leads.csv"
        write_csv(csv_path, rows)
        started = time.perf_counter()
        result = await import_csv_file(store, csv_path, campaign_id=campaign.id)
        print(f"imported {result.rows_imported} leads in {time.perf_counter() - started:.1f} s")
        await store.close()

        settings = load_settings({"data_dir": str(work), "role": "web", "database_url": url,
                                  "api_rate_limit": "1000000/minute"}, environ={})
        runner = Runner(create_app(settings))
        await runner.setup()
        port = 18000 + (uuid.uuid4().int % 2000)
        await runner.site("127.0.0.1", port).start()
        auth = {"Authorization": aiohttp.encode_basic_auth(made.api_key, made.api_auth)}
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=auth) as http:
            base = {"campaign_id": str(campaign.id), "limit": str(LIMIT)}
            page = int(rows * 0.9) // LIMIT
            _, before_page = await timed(http, "/v1/leads", {**base, "page": str(page)})
            # The page before by number gives the key the deep page starts after.
            _, previous = await timed(http, "/v1/leads", {**base, "page": str(page - 1)})
            by_key_params = {**base, "after": str(previous[-1])}
            _, by_key_page = await timed(http, "/v1/leads", by_key_params)
            assert by_key_page == before_page, "the two ways answer different leads"
            by_page, by_key, first = [], [], []
            for _ in range(rounds):
                by_page.append((await timed(http, "/v1/leads", {**base, "page": str(page)}))[0])
                by_key.append((await timed(http, "/v1/leads", by_key_params))[0])
                first.append((await timed(http, "/v1/leads", base))[0])
        page_ms, key_ms, first_ms = (statistics.median(x) for x in (by_page, by_key, first))
        print(f"page {page} of {rows // LIMIT}: by page number {page_ms:.1f} ms, by key {key_ms:.1f} ms; "
              f"first page {first_ms:.1f} ms (medians of {rounds})")
        print(f"summary: rows={rows} by_page_ms={page_ms:.1f} by_key_ms={key_ms:.1f} first_page_ms={first_ms:.1f} "
              f"speedup={page_ms / key_ms:.2f}")
    finally:
        if runner is not None:
            await runner.cleanup()
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        asyncio.run(run(args.rows, args.rounds, Path(work)))


if __name__ == "__main__":
    main()
