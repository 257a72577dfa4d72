"""List-import benchmark: our importer against PostgreSQL's own COPY of the same rows, in one run.

Writes a CSV of N leads (default 1,000,000; a realistic mix: common phone spellings, about
5 % repeated numbers, 0.1 % bad ones) into a temporary directory, creates a fresh database
on the PostgreSQL at 127.0.0.1:5432 (user postgres), and

- imports the file with ``realtime.dialer.lists.import_csv_file`` in a child process, which
  reports the time taken and its peak resident memory above what it held before the import;
- takes the rows that import stored (the list, its households, leads and rejected rows), and
  loads them with ``COPY ... FROM STDIN`` into a second fresh database migrated the same way:
  the product's own tables with all their constraints, indexes and foreign keys. That is the
  fastest those rows can get into those tables, with nothing to read, normalise or group;
- for information, loads the CSV as it is with COPY into a table of text columns, nothing checked
  (what PostgreSQL's raw load speed is on this machine).

The ratio in the summary is our rows/s divided by the same-schema COPY's rows/s (both count the
CSV's rows): 1.00 would mean the import costs no more than loading its result. The databases are
dropped at the end. The last line is:

    summary: rows=N rows_per_s=N peak_mb=N ratio_to_copy=x.xx

    python bench/import.py [--rows 1000000]
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
COLUMNS = ("phone", "first_name", "last_name", "email", "address", "city", "state", "zip_code")
AREA_CODES = ("212", "312", "415", "512", "617", "702", "808", "901", "213", "305", "404", "206", "303", "602")
FIRST = ("Ann", "Bob", "Cid", "Dee", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon", "Kay", "Lou", "Max", "Ned")
# Parents first: the list row, then households, then their leads and the rejected rows.
RESULT_TABLES = ("lead_lists", "households", "leads", "list_rejections")
LAST = ("Smith", "Jones", "Brown", "Garcia", "Miller", "Davis", "Lopez", "Wilson", "Moore", "Clark")


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    """Stream ``rows`` leads to ``path``: constant memory, whatever the size."""
    rng = random.Random(seed)
    spellings = ("({a}) {b}-{c}", "{a}-{b}-{c}", "{a}.{b}.{c}", "1{a}{b}{c}", "+1 {a} {b} {c}")
    with open(path, "w", newline="") as file:
        out = csv.writer(file)
        out.writerow(COLUMNS)
        for n in range(rows):
            if n % 1000 == 999:
                phone = "not a number"
            else:
                serial = rng.randrange(n) if n and rng.random() < 0.05 else n  # a household's second lead
                a = AREA_CODES[serial % len(AREA_CODES)]
                b, c = 200 + (serial // 10_000) % 800, serial % 10_000
                phone = rng.choice(spellings).format(a=a, b=f"{b:03d}", c=f"{c:04d}")
            first, last = FIRST[n % len(FIRST)], LAST[n % len(LAST)]
            out.writerow((phone, first, last, f"{first.lower()}.{n}@example.com", f"{n} Main St",
                          "Springfield", "IL", f"{60000 + n % 1000:05d}"))


async def admin(sql: str) -> None:
    conn = await asyncpg.connect(database="postgres", **PG)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare(database: str) -> int:
    """Migrate the fresh database and add an account and a campaign; the campaign's id."""
    from realtime.store.database import Store
    from realtime.store.migrate import upgrade
    from realtime.store.models import Account, Campaign, DialerMode

    url = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{database}"
    await upgrade(url)
    store = Store(url)
    try:
        async with store.transaction() as session:
            account = Account(name="Bench", api_key=f"ak_{uuid.uuid4().hex}", api_secret="bench")
            session.add(account)
            await session.flush()
            campaign = Campaign(account_id=account.id, name="Bench", dialer_mode=DialerMode.PREDICTIVE)
            session.add(campaign)
    finally:
        await store.close()
    return campaign.id


async def copy_unconstrained(database: str, path: Path) -> float:
    """Seconds for COPY to load the CSV as it is into a table of text columns, nothing checked."""
    conn = await asyncpg.connect(database=database, **PG)
    try:
        await conn.execute("CREATE TABLE copy_baseline (" + ", ".join(f"{c} text" for c in COLUMNS) + ")")
        start = time.perf_counter()
        await conn.copy_to_table("copy_baseline", source=str(path), format="csv", header=True)
        return time.perf_counter() - start
    finally:
        await conn.close()


async def dump_result(database: str, folder: Path) -> None:
    """What our import stored, table by table, as COPY files (streamed: constant memory)."""
    conn = await asyncpg.connect(database=database, **PG)
    try:
        for table in RESULT_TABLES:
            await conn.copy_from_query(f"SELECT * FROM {table} ORDER BY id", output=str(folder / f"{table}.copy"))
    finally:
        await conn.close()


async def copy_same_schema(database: str, folder: Path) -> float:
    """Seconds for COPY to load the rows our import stored into a fresh copy of the same schema."""
    conn = await asyncpg.connect(database=database, **PG)
    try:
        start = time.perf_counter()
        for table in RESULT_TABLES:
            await conn.copy_to_table(table, source=str(folder / f"{table}.copy"))
        return time.perf_counter() - start
    finally:
        await conn.close()


def run_import(database: str, path: Path, campaign_id: int) -> dict:
    """Our import, in a child process so its memory is its own."""
    child = subprocess.run(
        [sys.executable, __file__, "--child", database, str(path), str(campaign_id)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


async def child(database: str, path: str, campaign_id: int) -> None:
    from realtime.dialer.lists import import_csv_file
    from realtime.store.database import Store

    store = Store(f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{database}")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        result = await import_csv_file(store, path, campaign_id=campaign_id)
    finally:
        await store.close()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "seconds": seconds, "peak_kib": peak - before, "status": result.status.value,
        "rows_imported": result.rows_imported, "rows_rejected": result.rows_rejected,
        "households": result.households_created,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=3, metavar=("DATABASE", "CSV", "CAMPAIGN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.child[0], args.child[1], int(args.child[2])))
        return

    database = f"bench_import_{uuid.uuid4().hex[:8]}"
    copy_database = f"{database}_copy"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "leads.csv"
        start = time.perf_counter()
        write_csv(path, args.rows)
        print(f"wrote {args.rows} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s",
              flush=True)
        asyncio.run(admin(f'CREATE DATABASE "{database}"'))
        asyncio.run(admin(f'CREATE DATABASE "{copy_database}"'))
        try:
            campaign_id = asyncio.run(prepare(database))
            ours = run_import(database, path, campaign_id)
            asyncio.run(dump_result(database, folder))
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            asyncio.run(prepare(copy_database))  # the same account and campaign ids: both databases are fresh
            copy_seconds = asyncio.run(copy_same_schema(copy_database, folder))
            raw_seconds = asyncio.run(copy_unconstrained(copy_database, path))
        finally:
            for name in (database, copy_database):
                asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    if ours["status"] != "ready" or ours["rows_imported"] + ours["rows_rejected"] != args.rows:
        sys.exit(f"import did not complete: {ours}")
    ours_rate = args.rows / ours["seconds"]
    copy_rate = args.rows / copy_seconds
    raw_rate = args.rows / raw_seconds
    peak_mb = ours["peak_kib"] / 1024
    print()
    print(f"{'loader':<52}{'seconds':>9}{'rows/s':>10}{'peak MB':>9}{'ratio':>7}")
    print(f"{'realtime import (CSV -> households + leads)':<52}{ours['seconds']:>9.1f}{ours_rate:>10,.0f}"
          f"{peak_mb:>9.0f}{'-':>7}")
    for name, seconds, rate in (
        ("COPY of the same rows into the same schema", copy_seconds, copy_rate),
        ("COPY of the CSV into an unconstrained table (info)", raw_seconds, raw_rate),
    ):
        print(f"{name:<52}{seconds:>9.1f}{rate:>10,.0f}{'-':>9}{ours_rate / rate:>7.2f}")
    print("ratio = realtime import rows/s / that loader's rows/s; ratio_to_copy uses the same-schema COPY")
    print(f"imported {ours['rows_imported']}, rejected {ours['rows_rejected']}, households {ours['households']}")
    print(f"summary: rows={args.rows} rows_per_s={ours_rate:.0f} peak_mb={peak_mb:.0f} "
          f"ratio_to_copy={ours_rate / copy_rate:.2f}")

if __name__ == "__main__":
    main()
