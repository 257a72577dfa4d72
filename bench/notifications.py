"""Call-state notifications benchmark: the engine's writer (``CallStateNotifier``: each call's
notifications into the webhook outbox with their per-call sequence) against the outbox's own
``enqueue`` of the same rows, in one run, on the same database.

Creates a fresh database on the PostgreSQL at 127.0.0.1:5432 (user postgres), a job, and
writes ``--calls`` calls' worth of notifications (six each: dialing ... caller_ready), twice
per round and in alternating order: through the notifier, as the engine queues them (its one
writer takes up to 200 a transaction, numbers each call's in memory after the first look at
the outbox), and through bare ``enqueue`` in transactions of 200 (the insert alone: the least
any notification costs). The figures are medians of ``--rounds``. The database is dropped at
the end. The last line is:

    summary: notifications_per_s=N ratio_to_enqueue=x.xx

    python bench/notifications.py [--calls 2000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import asyncpg

from realtime.callflow.notifications import CallStateNotifier, Notice
from realtime.store import migrate
from realtime.store.database import Store
from realtime.store.models import Account, CallJob, Campaign, DialerMode
from realtime.webhooks import enqueue

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
URL = "https://crm.example/calls/:id/callers/:caller_id/state_change"
BATCH = 200


def notices(job_id: int, calls: int) -> list[Notice]:
    made = []
    for n in range(calls):
        call = uuid.uuid4().hex[:16]
        made += [Notice(job_id, "dialing", call, fields={"phone": "+12025550142"}), Notice(job_id, "ringing", call),
                 Notice(job_id, "answered", call, fields={"by": "human"}), Notice(job_id, "connected", call),
                 Notice(job_id, "hung_up", call, fields={"status": "completed", "by": "lead", "duration_s": 31.5}),
                 Notice(job_id, "caller_ready", call, fields={"outcome": None})]
    return made


async def run_notifier(store: Store, account_id: int, batch: list[Notice]) -> float:
    notifier = CallStateNotifier(store)
    await notifier.start()
    started = time.perf_counter()
    for notice in batch:
        notifier._put(notice)  # noqa: SLF001 - as the engine's hooks do
    await notifier.close(timeout=600)
    if not notifier.idle:
        raise RuntimeError("the notifier did not finish")
    return len(batch) / (time.perf_counter() - started)


async def run_enqueue(store: Store, account_id: int, batch: list[Notice]) -> float:
    started = time.perf_counter()
    for at in range(0, len(batch), BATCH):
        async with store.transaction() as session:
            for notice in batch[at:at + BATCH]:
                await enqueue(session, account_id=account_id, subject=notice.subject, event="call." + notice.event,
                              url=URL, payload={"event": notice.event, **notice.fields})
    return len(batch) / (time.perf_counter() - started)


async def main(calls: int, rounds: int) -> None:
    name = f"realtime_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"{PG}/{name}"
        await migrate.upgrade(url)
        store = Store(url)
        async with store.transaction() as session:
            account = Account(name="Bench", api_key=f"ak_{uuid.uuid4().hex}", api_secret="secret")
            session.add(account)
            await session.flush()
            campaign = Campaign(account_id=account.id, name="Job", dialer_mode=DialerMode.PREDICTIVE)
            session.add(campaign)
            await session.flush()
            session.add(CallJob(id=campaign.id, account_id=account.id, call_state_url=URL))
        ours, bare = [], []
        for round_ in range(rounds):
            pair = [("ours", run_notifier), ("bare", run_enqueue)]
            for label, run in (pair if round_ % 2 == 0 else pair[::-1]):
                rate = await run(store, account.id, notices(campaign.id, calls))
                (ours if label == "ours" else bare).append(rate)
                print(f"round {round_ + 1} {label}: {rate:,.0f} notifications/s")
        await store.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    rate, baseline = statistics.median(ours), statistics.median(bare)
    print(f"summary: notifications_per_s={rate:.0f} ratio_to_enqueue={rate / baseline:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
