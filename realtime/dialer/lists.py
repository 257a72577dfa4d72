"""List import: a CSV of leads becomes households (one per phone) and leads, in constant memory.

The file is read as a stream in batches of a few thousand rows; each batch is one
transaction that inserts the new households (``ON CONFLICT (campaign_id, phone) DO
NOTHING``: a phone already in the campaign, from this file or an earlier list, keeps its
household and the lead joins it), flags the blocked ones, inserts the leads (with
PostgreSQL's COPY) and the rejected rows, and moves the list's counters on. Rows are
read and their phones normalised in a worker thread while earlier batches are written
(two at a time on PostgreSQL), so the event loop stays free for calls.

The last transaction marks the list ``ready`` (or ``failed``) and puts the summary
webhook in the outbox, so the webhook exists exactly when the status does.

While a list is queued or importing, the process working on it refreshes the list's
``import_heartbeat_at``. A process killed mid-import (SIGKILL, power loss) leaves the list
behind with a heartbeat that no longer moves: every :class:`ImportRunner` looks for such
lists and fails them, so their webhook still goes out, while a list another process is
importing right now keeps a fresh heartbeat and is left alone.

Row numbers in rejections count the header as row 1, as a spreadsheet shows them.
Households take positions after the campaign's last one, in upload order (two lists
imported into one campaign at the same moment interleave); lead ids follow the file
within a batch, but batches written side by side may commit in either order.
"""
from __future__ import annotations

import asyncio
import codecs
import csv
import dataclasses
import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from realtime.destinations import RefusedDestination, connector, refused_url
from realtime.dialer.blocking import lock_block_list, phone_chunks
from realtime.dialer.phones import DEFAULT_REGION, InvalidPhoneNumber, to_e164
from realtime.store.database import Store
from realtime.store.models import (
    BlockedNumber,
    Campaign,
    CustomLeadField,
    Household,
    HouseholdStatus,
    Lead,
    LeadList,
    LeadStatus,
    ListRejection,
    ListStatus,
)
from realtime.store.types import utcnow
from realtime.webhooks import WebhookDispatcher, enqueue

logger = logging.getLogger(__name__)

PHONE = "phone"
CUSTOM = "custom:"
LEAD_FIELDS = ("external_id", "first_name", "middle_name", "last_name", "suffix", "email", "address",
               "city", "state", "zip_code", "country")
_LENGTHS = {name: Lead.__table__.c[name].type.length for name in LEAD_FIELDS}
# Headers people use for lead fields, after lower-casing and turning spaces and dashes into "_".
_SYNONYMS = {
    "phone_number": PHONE, "telephone": PHONE, "number": PHONE, "mobile": PHONE, "cell": PHONE,
    "firstname": "first_name", "first": "first_name", "lastname": "last_name", "last": "last_name",
    "middlename": "middle_name", "zip": "zip_code", "zipcode": "zip_code", "postal_code": "zip_code",
    "postcode": "zip_code", "email_address": "email", "street": "address", "id": "external_id",
}
BATCH_ROWS = 5000
WRITERS = 2
DEADLOCK_ATTEMPTS = 3
DEADLOCK_DETECTED = "40P01"
EVENT_IMPORTED = "list.imported"
EVENT_FAILED = "list.import_failed"
UNDER_WAY = (ListStatus.QUEUED, ListStatus.IMPORTING)
ANALYZE_AFTER_ROWS = 10_000  # rows imported (or rejected) after which PostgreSQL's statistics are refreshed
HEARTBEAT_INTERVAL = 20.0  # seconds between two refreshes of a list's import_heartbeat_at
SWEEP_INTERVAL = 60.0  # seconds between two looks for imports whose process died
STALE_AFTER = 120.0  # seconds without a heartbeat after which an import's process is taken for dead
INTERRUPTED = "the import was interrupted: the server running it stopped; upload the list again"


class ListImportError(Exception):
    """An import that cannot start or go on; ``error_id`` says why, the message says what to do."""

    def __init__(self, error_id: str, message: str) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message


@dataclasses.dataclass(frozen=True)
class ImportProgress:
    list_id: int
    status: ListStatus
    rows_total: int
    rows_imported: int
    rows_rejected: int
    rows_blocked: int
    households_created: int
    error: str | None = None

    @property
    def rows_done(self) -> int:
        return self.rows_imported + self.rows_rejected

    @property
    def duplicates(self) -> int:
        """Leads that joined a household already there: same phone earlier in the file or in the campaign."""
        return self.rows_imported - self.households_created

    @classmethod
    def of(cls, lead_list: LeadList) -> ImportProgress:
        return cls(lead_list.id, lead_list.status, lead_list.rows_total, lead_list.rows_imported,
                   lead_list.rows_rejected, lead_list.rows_blocked, lead_list.households_created,
                   lead_list.error)


def summary(lead_list: LeadList) -> dict[str, Any]:
    """What the webhook (and the API) tell about an import."""
    progress = ImportProgress.of(lead_list)
    return {
        "list_id": lead_list.id,
        "campaign_id": lead_list.campaign_id,
        "name": lead_list.name,
        "status": lead_list.status.value,
        "rows_total": progress.rows_total,
        "rows_imported": progress.rows_imported,
        "rows_rejected": progress.rows_rejected,
        "rows_blocked": progress.rows_blocked,
        "households_created": progress.households_created,
        "duplicates": progress.duplicates,
        "error": lead_list.error,
        "completed_at": lead_list.completed_at.isoformat() if lead_list.completed_at else None,
    }


# -- column mapping ---------------------------------------------------------------------------

def header_key(header: str) -> str:
    return "_".join(header.strip().lower().replace("-", " ").split())


def default_mapping(headers: Sequence[str], custom_fields: Sequence[str] = ()) -> dict[str, str]:
    """Headers named like a lead field (or a usual variant) or a custom field, mapped to it."""
    custom = {header_key(name): name for name in custom_fields}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        key = header_key(header)
        target = key if key in LEAD_FIELDS or key == PHONE else _SYNONYMS.get(key)
        if target is None and key in custom:
            target = CUSTOM + custom[key]
        if target is not None and target not in taken:
            mapping[header] = target
            taken.add(target)
    return mapping


async def account_mapping(session: AsyncSession, account_id: int, headers: Sequence[str]) -> dict[str, str]:
    """The default mapping for a file of this account: lead fields and the account's custom fields."""
    custom = (await session.scalars(select(CustomLeadField.name).where(CustomLeadField.account_id == account_id))).all()
    return default_mapping(headers, custom)


def mapping_errors(mapping: dict[str, str], headers: Sequence[str] | None = None) -> dict[str, str]:
    """What is wrong with a column mapping, by CSV header ("" for the mapping as a whole)."""
    errors: dict[str, str] = {}
    targets: dict[str, str] = {}
    for header, target in mapping.items():
        if target != PHONE and target not in LEAD_FIELDS and not (
            target.startswith(CUSTOM) and 0 < len(target) - len(CUSTOM) <= 100
        ):
            errors[header] = (f"maps to {target!r}: not phone, a lead field ({', '.join(LEAD_FIELDS)}) "
                              "or custom:<name>")
        elif target in targets:
            errors[header] = f"maps to {target!r}, like {targets[target]!r}"
        elif headers is not None and header not in headers:
            errors[header] = "no such column in the file"
        targets.setdefault(target, header)
    if PHONE not in targets:
        errors[""] = "no column maps to phone"
    return errors


def check_mapping(mapping: dict[str, str], headers: Sequence[str]) -> None:
    """ListImportError naming every problem of the mapping for a file with these headers."""
    problems = mapping_errors(mapping, headers)
    if problems:
        raise ListImportError("invalid-column-mapping", "; ".join(
            f"{header or 'mapping'}: {why}" for header, why in problems.items()))


# -- reading the file (in a worker thread) ------------------------------------------------------

@dataclasses.dataclass
class _Batch:
    rows: list[tuple[str, tuple[str, ...], dict[str, str] | None]]  # (E.164 phone, lead fields, custom)
    rejections: list[tuple[int, str]]

    @property
    def phones(self) -> list[str]:
        """Distinct phones in order of first appearance."""
        return list(dict.fromkeys(phone for phone, _, _ in self.rows))


def read_headers(path: Path, encoding: str | None = None) -> list[str]:
    with _open(path, encoding) as file:
        try:
            return next(csv.reader(file), [])
        except csv.Error as exc:
            raise ListImportError("unreadable-file", f"the file is not CSV: {exc}") from None


def count_rows(path: Path, encoding: str | None = None) -> int:
    """Data rows in the file (blank lines aside), a row too broken to read included."""
    with _open(path, encoding) as file:
        reader = csv.reader(file)
        next(reader, None)
        return sum(1 for record in _records(reader) if record)


def detect_encoding(path: Path) -> str:
    """utf-8-sig for a file that is valid UTF-8 (with or without a byte-order mark), else cp1252.

    Spreadsheets still save "CSV" in the Windows code page, whose letters are Latin-1's
    (plus curly quotes, dashes and the euro sign): read as UTF-8, "José" would become
    "Jos\ufffd". A file that is not valid UTF-8 as a whole is read as cp1252.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as file:
        try:
            while chunk := file.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def _open(path: Path, encoding: str | None = None):
    # utf-8-sig drops the byte-order mark spreadsheets write; the five bytes cp1252 leaves
    # undefined become U+FFFD rather than fail the file.
    return open(path, encoding=encoding or detect_encoding(path), errors="replace", newline="")


FIELD_TOO_LONG = f"a field is longer than {csv.field_size_limit()} characters"


def _records(reader: Any) -> Iterator[list[str] | str]:
    """The reader's records; for one it cannot read, why (the reader goes on at the next line).

    csv refuses a field over its limit (128 KiB) with an error, not a value: that row alone
    is rejected, and memory stays bounded by the limit."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield FIELD_TOO_LONG if "field limit" in str(exc) else f"not readable as CSV: {exc}"


def _batches(path: Path, mapping: dict[str, str], region: str, size: int,
             encoding: str | None = None) -> Iterator[_Batch]:
    with _open(path, encoding) as file:
        reader = csv.reader(file)
        try:
            headers = next(reader, [])
        except csv.Error as exc:
            raise ListImportError("unreadable-file", f"the file is not CSV: {exc}") from None
        check_mapping(mapping, headers)
        columns = {target: headers.index(header) for header, target in mapping.items()}
        phone_at = columns[PHONE]
        fields = [(LEAD_FIELDS.index(name), columns[name], _LENGTHS[name]) for name in LEAD_FIELDS
                  if name in columns]
        custom = [(target[len(CUSTOM):], at) for target, at in columns.items() if target.startswith(CUSTOM)]
        width = len(headers)
        empty = ("",) * len(LEAD_FIELDS)
        batch = _Batch([], [])
        row_number = 1
        for record in _records(reader):
            row_number += 1
            if not record:
                continue
            row = record if isinstance(record, str) else _row(record, width, phone_at, fields, custom, empty, region)
            if isinstance(row, str):
                batch.rejections.append((row_number, row))
            else:
                batch.rows.append(row)
            if len(batch.rows) + len(batch.rejections) >= size:
                yield batch
                batch = _Batch([], [])
        if batch.rows or batch.rejections:
            yield batch


def _row(record, width, phone_at, fields, custom, empty, region):
    """(phone, lead fields, custom fields) for a CSV record, or why it is rejected."""
    count = len(record)
    if count > width:
        return f"has {count} columns; the header has {width}"
    raw = record[phone_at] if phone_at < count else ""
    try:
        phone = to_e164(raw, region)
    except InvalidPhoneNumber as exc:
        return "missing phone number" if exc.reason == "missing" else f"invalid phone number {raw!r}: {exc.reason}"
    values = list(empty)
    for position, at, length in fields:
        if at < count:
            value = record[at].strip()
            if len(value) > length:
                return f"{LEAD_FIELDS[position]} is longer than {length} characters"
            if "\x00" in value:
                return f"{LEAD_FIELDS[position]} contains a NUL character"
            values[position] = value
    extra = None
    if custom:
        extra = {name: record[at].strip().replace("\x00", "") for name, at in custom if at < count}
    return phone, tuple(values), extra


# -- writing batches -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Target:
    account_id: int
    campaign_id: int
    list_id: int


class _InFlight:
    """Phones of the batches being written side by side (a few batches' worth, not the file's),
    with the position the first of them gave each."""

    def __init__(self) -> None:
        self._phones: dict[str, list[int]] = {}  # phone -> [batches, position]

    def claim(self, phones: list[str], position: int) -> dict[str, int]:
        """Count in a batch numbering its phones from ``position``; those another batch in flight
        has too, with that batch's position (whichever inserts the phone, it keeps upload order)."""
        shared = {}
        for n, phone in enumerate(phones):
            entry = self._phones.setdefault(phone, [0, position + n])
            entry[0] += 1
            if entry[0] > 1:
                shared[phone] = entry[1]
        return shared

    def release(self, phones: list[str]) -> None:
        for phone in phones:
            entry = self._phones[phone]
            entry[0] -= 1
            if not entry[0]:
                del self._phones[phone]


async def _write(session: AsyncSession, target: _Target, batch: _Batch, phones: list[str],
                 position: int, shared: dict[str, int]) -> tuple[int, int]:
    """One batch, in the caller's transaction, counters included; new households numbered from
    ``position``, ``shared`` phones (also in a batch written beside it) last, at their positions.
    Returns (rows blocked, households created)."""
    await lock_block_list(session, target.account_id, exclusive=False)
    # PostgreSQL gets set-based statements on the driver itself: ORM bulk inserts cost more
    # Python time per row than the database spends on it.
    pg = await _asyncpg(session) if session.bind.dialect.name == "postgresql" else None
    created = await (_pg_insert_households(pg, target, phones, position, shared) if pg
                     else _insert_households(session, target, phones, position))
    blocked_new = await _flag_blocked(session, pg, target, list(created)) if created else set()
    households = {phone: (household_id, phone in blocked_new) for phone, household_id in created.items()}
    existing = [phone for phone in phones if phone not in created]
    if existing:
        households.update(await (_pg_households(pg, target, existing) if pg else _households(session, target, existing)))
    if pg:
        await _pg_insert_leads(pg, target, batch.rows, households)
    else:
        await _insert_leads(session, target, batch.rows, households)
    if batch.rejections:
        await session.execute(insert(ListRejection.__table__), [
            {"lead_list_id": target.list_id, "row_number": n, "reason": reason[:500]}
            for n, reason in batch.rejections
        ])
    blocked = sum(1 for phone, _, _ in batch.rows if households[phone][1])
    await session.execute(
        update(LeadList).where(LeadList.id == target.list_id).values(
            rows_imported=LeadList.rows_imported + len(batch.rows),
            rows_rejected=LeadList.rows_rejected + len(batch.rejections),
            rows_blocked=LeadList.rows_blocked + blocked,
            households_created=LeadList.households_created + len(created),
        )
    )
    return blocked, len(created)


async def _asyncpg(session: AsyncSession) -> Any:
    """The asyncpg connection under the session, inside the session's transaction."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


async def _insert_households(session: AsyncSession, target: _Target, phones: list[str],
                             position: int) -> dict[str, int]:
    """Insert households for phones new to the campaign; their ids by phone."""
    if not phones:
        return {}
    now = utcnow()
    table = Household.__table__
    statement = (
        sqlite.insert(table)
        .on_conflict_do_nothing(index_elements=["campaign_id", "phone"])
        .returning(table.c.phone, table.c.id)
    )
    result = await session.execute(statement, [
        {"account_id": target.account_id, "campaign_id": target.campaign_id, "phone": phone,
         "position": position + n, "status": HouseholdStatus.NOT_CALLED,
         "blocked_account": False, "blocked_campaign": False, "voicemail_count": 0, "attempts": 0,
         "created_at": now}
        for n, phone in enumerate(phones)
    ])
    return dict(result.all())


async def _households(session: AsyncSession, target: _Target, phones: list[str]) -> dict[str, tuple[int, bool]]:
    """Existing households by phone: (id, blocked)."""
    found = {}
    for chunk in phone_chunks(phones):
        rows = await session.execute(
            select(Household.phone, Household.id, Household.blocked_account | Household.blocked_campaign)
            .where(Household.campaign_id == target.campaign_id, Household.phone.in_(chunk))
        )
        found.update((phone, (household_id, bool(blocked))) for phone, household_id, blocked in rows)
    return found


_PG_INSERT_HOUSEHOLDS = f"""
INSERT INTO households (account_id, campaign_id, phone, position, status, blocked_account, blocked_campaign,
                        voicemail_count, attempts, created_at)
SELECT $1, $2, new.phone, new.position, '{HouseholdStatus.NOT_CALLED.value}', false, false, 0, 0, $3
FROM unnest($4::varchar[], $5::bigint[]) AS new(phone, position)
ON CONFLICT (campaign_id, phone) DO NOTHING
RETURNING phone, id
"""
_PG_HOUSEHOLDS = """
SELECT phone, id, blocked_account OR blocked_campaign FROM households
WHERE campaign_id = $1 AND phone = ANY($2::varchar[])
"""


async def _pg_insert_households(pg: Any, target: _Target, phones: list[str], position: int,
                                shared: dict[str, int]) -> dict[str, int]:
    # A phone the batch beside this one inserted makes this insert wait for that batch to commit;
    # inserting those phones last lets the rest go in meanwhile. Each part goes in phone order, so
    # the batches of other lists wait for these rather than deadlock, or nearly always (see _commit).
    by_phone = sorted((phone, shared.get(phone, position + n)) for n, phone in enumerate(phones))
    created = {}
    for part in ([new for new in by_phone if new[0] not in shared], [new for new in by_phone if new[0] in shared]):
        if part:
            rows = await pg.fetch(_PG_INSERT_HOUSEHOLDS, target.account_id, target.campaign_id, utcnow(),
                                  [phone for phone, _ in part], [n for _, n in part])
            created.update(rows)
    return created


async def _pg_households(pg: Any, target: _Target, phones: list[str]) -> dict[str, tuple[int, bool]]:
    rows = await pg.fetch(_PG_HOUSEHOLDS, target.campaign_id, phones)
    return {phone: (household_id, blocked) for phone, household_id, blocked in rows}


async def _flag_blocked(session: AsyncSession, pg: Any, target: _Target, phones: list[str]) -> set[str]:
    """Mark new households whose phone is blocked (account-wide or for the campaign); those phones."""
    entries: list[tuple[str, int | None]] = []
    if pg is not None:
        entries = [tuple(row) for row in await pg.fetch(_PG_BLOCKED, target.account_id, target.campaign_id, phones)]
    else:
        for chunk in phone_chunks(phones):
            entries += (await session.execute(
                select(BlockedNumber.phone, BlockedNumber.campaign_id).where(
                    BlockedNumber.account_id == target.account_id,
                    BlockedNumber.phone.in_(chunk),
                    BlockedNumber.campaign_id.is_(None) | (BlockedNumber.campaign_id == target.campaign_id),
                )
            )).all()
    for flag, scope in (("blocked_account", None), ("blocked_campaign", target.campaign_id)):
        matching = [phone for phone, campaign_id in entries if campaign_id == scope]
        for chunk in phone_chunks(matching):
            await session.execute(
                update(Household)
                .where(Household.campaign_id == target.campaign_id, Household.phone.in_(chunk))
                .values({flag: True})
                .execution_options(synchronize_session=False)
            )
    return {phone for phone, _ in entries}


_PG_BLOCKED = """
SELECT phone, campaign_id FROM blocked_numbers
WHERE account_id = $1 AND (campaign_id IS NULL OR campaign_id = $2) AND phone = ANY($3::varchar[])
"""


_LEAD_COLUMNS = ("account_id", "household_id", "lead_list_id", "campaign_id", *LEAD_FIELDS, "custom_fields",
                 "status", "call_back", "created_at")


async def _pg_insert_leads(pg: Any, target: _Target, rows, households) -> None:
    if not rows:
        return
    head = (target.account_id,)
    tail = (LeadStatus.OPEN.value, False, utcnow())
    records = [
        (*head, households[phone][0], target.list_id, target.campaign_id, *values,
         json.dumps(custom) if custom else "{}", *tail)
        for phone, values, custom in rows
    ]
    await pg.copy_records_to_table("leads", records=records, columns=_LEAD_COLUMNS)


async def _insert_leads(session: AsyncSession, target: _Target, rows, households) -> None:
    if not rows:
        return
    now = utcnow()
    await session.execute(insert(Lead.__table__), [
        {"account_id": target.account_id, "household_id": households[phone][0], "lead_list_id": target.list_id,
         "campaign_id": target.campaign_id, **dict(zip(LEAD_FIELDS, values)), "custom_fields": custom or {},
         "status": LeadStatus.OPEN, "call_back": False, "created_at": now}
        for phone, values, custom in rows
    ])


# -- the import as a whole -----------------------------------------------------------------

async def create_list(
    session: AsyncSession,
    *,
    account_id: int,
    campaign_id: int,
    name: str,
    column_mapping: dict[str, str],
    webhook_url: str | None = None,
    source_url: str | None = None,
) -> LeadList:
    """A queued list, in the caller's transaction; :func:`import_list` fills it.

    Custom fields named in the mapping are added to the account if it has none by that name.
    """
    for target in column_mapping.values():
        if target.startswith(CUSTOM):
            await _ensure_custom_field(session, account_id, target[len(CUSTOM):])
    lead_list = LeadList(account_id=account_id, campaign_id=campaign_id, name=name, column_mapping=column_mapping,
                         webhook_url=webhook_url, source_url=source_url, status=ListStatus.QUEUED)
    session.add(lead_list)
    await session.flush()
    return lead_list


async def _ensure_custom_field(session: AsyncSession, account_id: int, name: str) -> None:
    exists = await session.scalar(select(CustomLeadField.id).where(
        CustomLeadField.account_id == account_id, CustomLeadField.name == name))
    if exists is None:
        session.add(CustomLeadField(account_id=account_id, name=name))
        await session.flush()


async def import_list(
    store: Store,
    list_id: int,
    path: Path,
    *,
    region: str = DEFAULT_REGION,
    batch_rows: int = BATCH_ROWS,
    webhooks: WebhookDispatcher | None = None,
    progress: Callable[[ImportProgress], None] | None = None,
    heartbeat_interval: float = HEARTBEAT_INTERVAL,
) -> ImportProgress:
    """Import the CSV at ``path`` into the queued list; the final progress (ready or failed).

    Never raises for a bad file: the list ends ``failed`` with the reason in ``error``.
    On PostgreSQL two batches are written at once (its time goes into per-row foreign-key
    checks and index updates, which a second connection runs on another core); a batch
    inserts the phones it shares with the batch beside it last, as those wait for that one to
    commit. SQLite has one writer.

    The list's heartbeat is refreshed every ``heartbeat_interval`` seconds meanwhile. A list
    that is no longer queued (a runner failed it, taking its import for dead) is left as it is.
    """
    writers = WRITERS if store.dialect == "postgresql" else 1
    async with store.transaction() as session:
        lead_list = await session.get(LeadList, list_id)
        if lead_list is None:
            raise LookupError(f"no list {list_id}")
        mapping = dict(lead_list.column_mapping)
        last = await session.scalar(select(func.max(Household.position)).where(
            Household.campaign_id == lead_list.campaign_id))
        target = _Target(lead_list.account_id, lead_list.campaign_id, list_id)
        position = (last or 0) + 1
        started = await session.execute(
            update(LeadList).where(LeadList.id == list_id, LeadList.status == ListStatus.QUEUED)
            .values(status=ListStatus.IMPORTING, import_heartbeat_at=utcnow())
        )
    if not started.rowcount:
        logger.warning("list %s is %s, not queued: not importing it", list_id, lead_list.status.value)
        return ImportProgress.of(lead_list)
    error = None
    async with _Heartbeat(store, list_id, heartbeat_interval) as heartbeat:
        try:
            await _import_rows(store, target, path, mapping, position, region=region, batch_rows=batch_rows,
                               writers=writers, heartbeat=heartbeat, progress=progress)
        except ListImportError as exc:
            error = exc.message
        except Exception:
            logger.exception("import of list %s failed", list_id)
            error = "the import failed unexpectedly; it has been logged"
    result = await _finish(store, list_id, webhooks, error=error)
    if store.dialect == "postgresql" and result.rows_done >= ANALYZE_AFTER_ROWS:
        await _analyze(store, list_id)
    return result


async def _analyze(store: Store, list_id: int) -> None:
    """Refresh PostgreSQL's statistics of the tables a big import grew.

    Autovacuum gets to it in its own time; until then the planner keeps the row counts of
    before (65 rows for a table that now holds 440,000) and plans the API's and the dial
    queue's queries for a table that small.
    """
    try:
        async with store.engine.begin() as connection:
            await connection.execute(text("ANALYZE households, leads, list_rejections"))
    except Exception:  # the import is done; stale statistics only slow queries down
        logger.exception("list %s: cannot refresh the planner's statistics after the import", list_id)


async def _import_rows(store: Store, target: _Target, path: Path, mapping: dict[str, str], position: int, *,
                       region: str, batch_rows: int, writers: int, heartbeat: _Heartbeat,
                       progress: Callable[[ImportProgress], None] | None) -> None:
    """Count the file's rows, then write them batch by batch, ``writers`` batches at once."""
    list_id = target.list_id
    encoding = await asyncio.to_thread(detect_encoding, path)
    total = await asyncio.to_thread(count_rows, path, encoding)
    async with store.transaction() as session:
        await session.execute(update(LeadList).where(LeadList.id == list_id).values(rows_total=total))
    counts = [0, 0, 0, 0]  # imported, rejected, blocked, households created

    def report(batch_counts: tuple[int, int, int, int]) -> None:
        for n, value in enumerate(batch_counts):
            counts[n] += value
        if progress is not None:
            progress(ImportProgress(list_id, ListStatus.IMPORTING, total, *counts))

    batches = _batches(path, mapping, region, batch_rows, encoding)
    following = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
    writing: set[asyncio.Task] = set()
    in_flight = _InFlight()
    try:
        while (batch := await following) is not None:
            if heartbeat.lost:
                raise ListImportError("import-taken-over", INTERRUPTED)
            following = asyncio.ensure_future(asyncio.to_thread(next, batches, None))  # read while writing
            phones = batch.phones
            shared = in_flight.claim(phones, position)
            writing.add(asyncio.create_task(_commit(store, target, batch, phones, position, shared, in_flight)))
            position += len(phones)
            if len(writing) >= writers:
                finished, writing = await asyncio.wait(writing, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    report(task.result())
        for task in asyncio.as_completed(list(writing)):
            report(await task)
    finally:
        for task in writing:
            task.cancel()
        await asyncio.gather(following, *writing, return_exceptions=True)
        batches.close()


class _Heartbeat:
    """Refreshes a list's ``import_heartbeat_at`` every ``interval`` seconds, from entering to leaving.

    ``lost`` turns true when the list is no longer queued or importing: a runner took this
    import for dead (its heartbeats could not reach the database for too long) and failed it,
    so the import stops rather than writes on into a failed list.
    """

    def __init__(self, store: Store, list_id: int, interval: float) -> None:
        self.store = store
        self.list_id = list_id
        self.interval = interval
        self.lost = False
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> _Heartbeat:
        self._task = asyncio.create_task(self._run(), name=f"list-heartbeat-{self.list_id}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # Stopped, not cancelled: cancelling mid-query could leave a connection half-used.
        self._stop.set()
        await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                async with self.store.transaction() as session:
                    beat = await session.execute(
                        update(LeadList).where(LeadList.id == self.list_id, LeadList.status.in_(UNDER_WAY))
                        .values(import_heartbeat_at=utcnow())
                    )
                if not beat.rowcount:
                    self.lost = True
                    logger.warning("list %s was failed by another process while this one imported it", self.list_id)
                    return
            except Exception:
                # The database may be briefly unreachable: the next beat tries again.
                logger.exception("list %s: cannot refresh the import heartbeat", self.list_id)
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass


async def _commit(store: Store, target: _Target, batch: _Batch, phones: list[str], position: int,
                  shared: dict[str, int], in_flight: _InFlight) -> tuple[int, int, int, int]:
    """Write one batch in its own transaction; (imported, rejected, blocked, households created).

    A deadlock is retried: the shared phones going last breaks the phone order that otherwise
    rules deadlocks out, so another list imported into the campaign at the same moment, with
    the same phones, can very rarely close a cycle (PostgreSQL then rolls one transaction back).
    """
    try:
        for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
            try:
                async with store.transaction() as session:
                    blocked, created = await _write(session, target, batch, phones, position, shared)
                break
            except Exception as exc:
                if attempt == DEADLOCK_ATTEMPTS or _sqlstate(exc) != DEADLOCK_DETECTED:
                    raise
                logger.warning("list %s: batch deadlocked with another import; writing it again", target.list_id)
    finally:
        in_flight.release(phones)
    return len(batch.rows), len(batch.rejections), blocked, created


def _sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL error code, raised by asyncpg itself or wrapped by SQLAlchemy."""
    return getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)


async def _finish(store: Store, list_id: int, webhooks: WebhookDispatcher | None,
                  *, error: str | None = None) -> ImportProgress:
    async with store.transaction() as session:
        ended = await _end_imports(session, LeadList.id == list_id, error=error)
        lead_list = ended[0] if ended else await session.get(LeadList, list_id)
    if lead_list is None:
        raise LookupError(f"no list {list_id}")
    if not ended:  # a runner failed it meanwhile, and sent its webhook
        logger.warning("list %s was already %s when its import ended", list_id, lead_list.status.value)
        return ImportProgress.of(lead_list)
    if webhooks is not None and lead_list.webhook_url:
        webhooks.notify()
    logger.info("list %s %s: %s", list_id, lead_list.status.value, summary(lead_list))
    return ImportProgress.of(lead_list)


async def _end_imports(session: AsyncSession, *where: Any, error: str | None) -> list[LeadList]:
    """End the imports under way that match ``where``: ready, or failed with ``error``; each
    summary goes into the outbox. One UPDATE claims them, so of processes ending a list at
    the same moment one ends it and sends its webhook, the others find it ended."""
    ended = (await session.scalars(
        update(LeadList).where(LeadList.status.in_(UNDER_WAY), *where)
        .values(status=ListStatus.FAILED if error else ListStatus.READY, error=error, completed_at=utcnow())
        .returning(LeadList)
    )).all()
    for lead_list in ended:
        if lead_list.webhook_url:
            await enqueue(session, account_id=lead_list.account_id, subject=f"list:{lead_list.id}",
                          event=EVENT_FAILED if error else EVENT_IMPORTED, url=lead_list.webhook_url,
                          payload=summary(lead_list))
    return list(ended)


async def import_csv_file(
    store: Store,
    path: str | os.PathLike[str],
    *,
    campaign_id: int,
    name: str | None = None,
    column_mapping: dict[str, str] | None = None,
    region: str = DEFAULT_REGION,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportProgress:
    """Import a local CSV into a new list of the campaign (the ``realtime import`` command).

    Without a mapping, headers named like lead fields or the account's custom fields are used.
    Raises ListImportError when the campaign does not exist or no column holds phones.
    """
    path = Path(path)
    headers = await asyncio.to_thread(read_headers, path)
    async with store.transaction() as session:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise ListImportError("no-such-campaign", f"there is no campaign {campaign_id}")
        if column_mapping is None:
            column_mapping = await account_mapping(session, campaign.account_id, headers)
        check_mapping(column_mapping, headers)
        lead_list = await create_list(session, account_id=campaign.account_id, campaign_id=campaign_id,
                                      name=name or path.name, column_mapping=column_mapping)
    return await import_list(store, lead_list.id, path, region=region, progress=progress)


# -- fetching a list from a URL ---------------------------------------------------------------

def check_source_url(url: str, *, allow_private: bool = False) -> None:
    """Refuse a list URL that is not https or names a private address (unless allowed)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if not host or parts.scheme not in ("https", "http"):
        raise ListImportError("source-url-refused", "the list URL must be an https:// URL")
    if allow_private:
        return
    if parts.scheme != "https":
        raise ListImportError("source-url-refused", "the list URL must be an https:// URL")
    if reason := refused_url(url):
        raise ListImportError("source-url-refused", reason)


async def download(url: str, dest: Path, *, allow_private: bool = False, max_bytes: int | None = None,
                   timeout: float = 600) -> None:
    """Stream the list at ``url`` into ``dest``; ListImportError on a refused URL or a failed download.

    Redirects are followed by hand (at most five) so every hop is checked like the first.
    """
    client_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=30)
    try:
        async with aiohttp.ClientSession(connector=connector(allow_private=allow_private),
                                         timeout=client_timeout) as http:
            for _ in range(6):
                check_source_url(url, allow_private=allow_private)
                async with http.get(url, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = str(response.url.join(URL(response.headers["Location"])))
                        continue
                    if response.status != 200:
                        raise ListImportError("source-download-failed",
                                              f"fetching the list answered HTTP {response.status}")
                    size = 0
                    with open(dest, "wb") as file:
                        async for chunk in response.content.iter_chunked(1 << 16):
                            size += len(chunk)
                            if max_bytes is not None and size > max_bytes:
                                raise ListImportError("source-too-large",
                                                      f"the list is larger than {max_bytes} bytes")
                            await asyncio.to_thread(file.write, chunk)
                    return
            raise ListImportError("source-download-failed", "too many redirects")
    except RefusedDestination as exc:
        raise ListImportError("source-url-refused", str(exc)) from None
    except aiohttp.ClientError as exc:
        raise ListImportError("source-download-failed", f"cannot fetch the list: {exc}") from None
    except TimeoutError:
        raise ListImportError("source-download-failed", "fetching the list timed out") from None


# -- background imports ------------------------------------------------------------------------

class ImportRunner:
    """Runs this process's list imports in the background, one task per list.

    A list fetched from a URL is downloaded first (streamed to ``work_dir``), its heartbeat
    refreshed meanwhile as during the import. Stopping the runner fails the imports under
    way, with a message saying to upload the list again.

    From :meth:`open` on, the runner also fails the imports of every process that died
    with them: lists still queued or importing whose heartbeat (or creation, before the
    first one) is older than ``stale_after`` seconds. Their households and leads already
    written stay, as when the runner is stopped mid-import.
    """

    def __init__(
        self,
        store: Store,
        *,
        work_dir: Path,
        webhooks: WebhookDispatcher | None = None,
        allow_private: bool = False,
        region: str = DEFAULT_REGION,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        sweep_interval: float = SWEEP_INTERVAL,
        stale_after: float = STALE_AFTER,
    ) -> None:
        if stale_after <= heartbeat_interval:
            raise ValueError("stale_after must be longer than heartbeat_interval, or live imports look dead")
        self.store = store
        self.work_dir = work_dir
        self.webhooks = webhooks
        self.allow_private = allow_private
        self.region = region
        self.heartbeat_interval = heartbeat_interval
        self.sweep_interval = sweep_interval
        self.stale_after = dt.timedelta(seconds=stale_after)
        self._tasks: dict[int, asyncio.Task] = {}
        self._closing = asyncio.Event()
        self._sweeper: asyncio.Task | None = None

    async def open(self) -> None:
        """Fail the imports whose process died, now and then every ``sweep_interval`` seconds."""
        await self._sweep_logged()
        self._sweeper = asyncio.create_task(self._sweep_regularly(), name="list-import-sweeper")

    async def sweep(self) -> list[int]:
        """Fail the lists a dead process left queued or importing; their ids.

        The lists are claimed by one UPDATE: runners of several processes sweeping at the
        same moment fail each list once, and its webhook goes out once.
        """
        cutoff = utcnow() - self.stale_after
        async with self.store.transaction() as session:
            failed = await _end_imports(
                session, func.coalesce(LeadList.import_heartbeat_at, LeadList.created_at) < cutoff, error=INTERRUPTED)
        for lead_list in failed:
            logger.warning("list %s: its import stopped with the process running it; failed it", lead_list.id)
        if self.webhooks is not None and any(lead_list.webhook_url for lead_list in failed):
            self.webhooks.notify()
        return [lead_list.id for lead_list in failed]

    async def _sweep_regularly(self) -> None:
        # Stopped, not cancelled: cancelling mid-query could leave a connection half-used.
        while not self._closing.is_set():
            try:
                await asyncio.wait_for(self._closing.wait(), self.sweep_interval)
            except TimeoutError:
                await self._sweep_logged()

    async def _sweep_logged(self) -> None:
        try:
            await self.sweep()
        except Exception:
            # The database may be briefly unreachable: the next sweep tries again.
            logger.exception("cannot look for list imports whose process died")

    def start(self, list_id: int, *, path: Path | None = None, url: str | None = None) -> asyncio.Task:
        """Import a committed, queued list from a file this runner now owns (deleted after) or a URL."""
        task = asyncio.create_task(self._run(list_id, path, url), name=f"list-import-{list_id}")
        self._tasks[list_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(list_id, None))
        return task

    async def close(self) -> None:
        self._closing.set()
        if self._sweeper is not None:
            await self._sweeper
            self._sweeper = None
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, list_id: int, path: Path | None, url: str | None) -> ImportProgress | None:
        try:
            return await self._import(list_id, path, url)
        except Exception:
            # Nobody awaits this task: an exception left in it would only surface at exit as
            # "Task exception was never retrieved". The list (or its campaign) may be gone.
            logger.exception("list %s: the import stopped", list_id)
            return None

    async def _import(self, list_id: int, path: Path | None, url: str | None) -> ImportProgress:
        if path is None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            path = self.work_dir / f"list-{list_id}.csv"
        try:
            if url is not None:
                async with _Heartbeat(self.store, list_id, self.heartbeat_interval):
                    await download(url, path, allow_private=self.allow_private)
                    await self._default_mapping(list_id, path)
            return await import_list(self.store, list_id, path, region=self.region, webhooks=self.webhooks,
                                     heartbeat_interval=self.heartbeat_interval)
        except ListImportError as exc:
            return await _finish(self.store, list_id, self.webhooks, error=exc.message)
        except asyncio.CancelledError:
            await _finish(self.store, list_id, self.webhooks,
                          error="the server stopped during the import; upload the list again")
            raise
        finally:
            path.unlink(missing_ok=True)

    async def _default_mapping(self, list_id: int, path: Path) -> None:
        """A list fetched without a mapping gets the default one, now that its headers are known."""
        headers = await asyncio.to_thread(read_headers, path)
        async with self.store.transaction() as session:
            lead_list = await session.get(LeadList, list_id)
            if not lead_list.column_mapping:
                lead_list.column_mapping = await account_mapping(session, lead_list.account_id, headers)
