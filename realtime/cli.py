"""The ``realtime`` command: serve, pbx-sim, db, account, import, demo.

Start-up problems (a bad setting, an unreachable database or Redis, a database
behind the code) end the command with one clear line on stderr and a non-zero
exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from realtime.config import ROLES, SIM_OUTCOMES, ConfigError, Settings, load_settings

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """A problem the user must fix before the command can run; printed as one line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=getattr(args, "log_level", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines are noise to a user
    try:
        return args.handler(args) or 0
    except (ConfigError, StartupError) as exc:
        print(f"realtime: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime", description="Impact Dialing real-time caller server")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server (web, sockets, engine)")
    _add_settings_flags(serve)
    serve.add_argument("--host", help="address to listen on (REALTIME_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (REALTIME_PORT, default 8080)")
    serve.add_argument("--role", choices=ROLES, help="which parts to run (REALTIME_ROLE, default all)")
    serve.add_argument("--no-demo", action="store_true", help="do not create the demo account")
    serve.set_defaults(handler=_serve)

    sim = commands.add_parser("pbx-sim", help="run the ARI PBX simulator alone")
    _add_sim_arguments(sim)

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(title="db commands", metavar="ACTION", required=True)
    for name, help_text in (
        ("upgrade", "upgrade the database to the newest schema (or --revision)"),
        ("downgrade", "downgrade the database (to --revision, default: one step)"),
        ("current", "print the database's schema revision"),
    ):
        sub = db_commands.add_parser(name, help=help_text)
        _add_settings_flags(sub)
        if name != "current":
            sub.add_argument("--revision", default="head" if name == "upgrade" else "-1")
        sub.set_defaults(handler=_db, action=name)

    account = commands.add_parser("account", help="accounts")
    account_commands = account.add_subparsers(title="account commands", metavar="ACTION", required=True)
    create = account_commands.add_parser("create", help="create an account and its first admin")
    _add_settings_flags(create)
    create.add_argument("name")
    create.add_argument("--admin-email")
    create.add_argument("--admin-password", help="default: a generated password, printed once")
    create.set_defaults(handler=_account_create)

    importer = commands.add_parser("import", help="import a CSV lead list into a campaign")
    _add_settings_flags(importer)
    importer.add_argument("file", type=Path, help="CSV file with a header row")
    importer.add_argument("--campaign", type=int, required=True, help="campaign id")
    importer.add_argument("--name", help="list name (default: the file name)")
    importer.add_argument("--mapping", help='JSON object, CSV header -> lead field or "custom:<name>" '
                          "(default: headers named like lead fields)")
    importer.add_argument("--region", default="US", help="country for numbers without +country code")
    importer.set_defaults(handler=_import)

    demo = commands.add_parser("demo", help="create the demo account on an empty database")
    _add_settings_flags(demo)
    demo.set_defaults(handler=_demo)
    return parser


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="REALTIME_DATABASE_URL (default: SQLite file in ./data)")
    parser.add_argument("--redis-url", help="REALTIME_REDIS_URL (default: in-memory bus)")
    parser.add_argument("--ari-url", help="REALTIME_ARI_URL (default: built-in PBX simulator)")
    parser.add_argument("--ari-user", help="REALTIME_ARI_USER")
    parser.add_argument("--ari-password", help="REALTIME_ARI_PASSWORD")
    parser.add_argument("--ari-app", help="REALTIME_ARI_APP")
    parser.add_argument("--dial-template", help="REALTIME_DIAL_TEMPLATE, e.g. PJSIP/{number}@trunk")
    parser.add_argument("--amd-context", help="REALTIME_AMD_CONTEXT")
    parser.add_argument("--secret-key", help="REALTIME_SECRET_KEY")
    parser.add_argument("--data-dir", help="REALTIME_DATA_DIR (default ./data)")
    parser.add_argument("--sim-outcomes", choices=SIM_OUTCOMES, help="REALTIME_SIM_OUTCOMES")
    parser.add_argument("--sim-speed", type=float, help="REALTIME_SIM_SPEED")
    parser.add_argument("--api-rate-limit", help='REALTIME_API_RATE_LIMIT per API key, e.g. "600/minute"')
    parser.add_argument("--api-auth-failure-limit",
                        help='REALTIME_API_AUTH_FAILURE_LIMIT: failed API authentications per client address, '
                             'e.g. "60/minute"')
    parser.add_argument("--database-pool-size", type=int,
                        help="REALTIME_DATABASE_POOL_SIZE: database connections per process, at most (default 20)")
    parser.add_argument("--database-pool-timeout", type=float,
                        help="REALTIME_DATABASE_POOL_TIMEOUT: seconds a request waits for a free connection "
                             "before answering 503 (default 3)")
    parser.add_argument("--http-idle-timeout", type=float,
                        help="REALTIME_HTTP_IDLE_TIMEOUT: seconds a connection may wait for, or take to send, "
                             "a request's headers (default 30)")
    parser.add_argument("--trunk-lines", help="REALTIME_TRUNK_LINES: the trunk's capacity in lines at once "
                                              "(default: each campaign's floor sets its own cap)")
    parser.add_argument("--allow-private-urls", action="store_true", default=None,
                        help="REALTIME_ALLOW_PRIVATE_URLS: let list downloads, numbers sources and webhooks reach "
                             "private addresses")
    parser.add_argument("--dial-in-number", help="REALTIME_DIAL_IN_NUMBER: the number callers phone to join by PIN")
    parser.add_argument("--public-url", help="REALTIME_PUBLIC_URL: how clients reach this server, e.g. "
                        "https://dialer.example.com (call recording URLs are absolute with it)")
    parser.add_argument("--metrics-port", type=int,
                        help="REALTIME_METRICS_PORT: serve /metrics on this port (default: none; the public port "
                             "itself puts it there)")


def _add_sim_arguments(parser: argparse.ArgumentParser) -> None:
    try:
        from realtime.telephony.sim import cli as sim_cli
    except ImportError:  # the simulator ships with the telephony layer
        parser.set_defaults(handler=lambda _args: _fail("the PBX simulator is not installed"))
        return
    sim_cli.add_arguments(parser)
    parser.set_defaults(handler=sim_cli.run)


def _fail(message: str) -> int:
    raise StartupError(message)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(vars(args))


# -- serve -----------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from realtime.http_server import serve
    from realtime.server import create_app

    settings = _settings(args)
    credentials = asyncio.run(_prepare(settings, seed_demo=not args.no_demo))
    if credentials is not None:
        print(format_demo_credentials(credentials, settings), flush=True)
    app = create_app(settings)
    print(f"Impact Dialing realtime listening on http://{settings.host}:{settings.port}/", flush=True)
    try:
        serve(app, settings.host, settings.port)
    except OSError as exc:
        raise StartupError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    return 0


async def _prepare(settings: Settings, *, seed_demo: bool, check_redis: bool = True):
    """Everything that must be right before the server starts, checked with clear messages."""
    await ready_database(settings, check_redis=check_redis)
    if seed_demo and settings.runs_engine:
        from realtime.store.database import Store
        from realtime.store.demo import seed_demo as seed

        store = Store(settings.database_url)
        try:
            return await seed(store)
        finally:
            await store.close()
    return None


async def check_services(settings: Settings, *, check_redis: bool) -> None:
    """Reach the database (and Redis) once, so an unreachable one is one clear line."""
    from realtime.store.database import Store, StoreUnavailable

    store = Store(settings.database_url)
    try:
        await store.check()
    except StoreUnavailable as exc:
        raise StartupError(str(exc)) from None
    finally:
        await store.close()

    if check_redis and settings.redis_url:
        from realtime.bus import BusError, create_bus

        bus = create_bus(settings.redis_url)
        try:
            await bus.start()
        except BusError as exc:
            raise StartupError(str(exc)) from None
        finally:
            await bus.close()


async def ready_database(settings: Settings, *, check_redis: bool = False) -> None:
    """Reach the database (and Redis), and bring a schema this command owns up to date."""
    created = create_sqlite_file(settings)
    await check_services(settings, check_redis=check_redis)
    await ensure_schema(settings, owned=created)


async def ensure_schema(settings: Settings, *, owned: bool = False) -> None:
    """Upgrade databases ``serve`` owns; refuse to run on any other that is behind."""
    from realtime.store import migrate

    if await migrate.is_behind(settings.database_url):
        if owned or _serve_owns(settings):
            logger.info("upgrading the database schema")
            await migrate.upgrade(settings.database_url)
            return
        raise StartupError(
            "the database schema is behind this version; run `realtime db upgrade` "
            "(with the same REALTIME_DATABASE_URL) and start again"
        )


def create_sqlite_file(settings: Settings) -> bool:
    """Make the SQLite file's folder; True when the file is new, i.e. created by us."""
    if not settings.is_sqlite:
        return False
    path = Path(_sqlite_path(settings.database_url))
    path.parent.mkdir(parents=True, exist_ok=True)
    return not path.exists()


def _serve_owns(settings: Settings) -> bool:
    # The default SQLite file under the data directory is created and managed by serve itself.
    default = Path(settings.data_dir) / "realtime.sqlite3"
    return settings.is_sqlite and Path(_sqlite_path(settings.database_url)).resolve() == default.resolve()


def _sqlite_path(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database or ""


def format_demo_credentials(creds, settings: Settings) -> str:
    base = f"http://{settings.host}:{settings.port}"
    callers = "\n".join(f"    {username} / {password}" for username, password in creds.callers)
    if settings.runs_web:
        where = (f"  Open:       {base}/\n"
                 f"  Sign in:    {base}/login (admin, supervisor and callers below)\n"
                 f"  API:        {base}/v1?api_key={creds.api_key}&api_auth={creds.api_auth}\n")
    else:  # an engine serves no pages: they are on the web processes
        where = "  Pages and API: on the web processes (/, /login, /v1)\n"
    return (
        "\nDemo account created (shown once, keep it):\n"
        f"{where}"
        f"  api_key:    {creds.api_key}\n"
        f"  api_auth:   {creds.api_auth}\n"
        f"  Admin:      {creds.admin_email} / {creds.admin_password}\n"
        f"  Supervisor: {creds.supervisor_email} / {creds.supervisor_password}\n"
        f"  Callers (username / password):\n{callers}\n"
        f"  Phones-only caller PIN: {creds.phones_only_pin}\n"
    )


# -- db, account, demo -----------------------------------------------------------------------------


def _db(args: argparse.Namespace) -> int:
    from realtime.store import migrate
    from realtime.store.database import StoreUnavailable

    settings = _settings(args)

    async def run() -> None:
        create_sqlite_file(settings)
        await check_services(settings, check_redis=False)
        if args.action == "upgrade":
            await migrate.upgrade(settings.database_url, args.revision)
        elif args.action == "downgrade":
            await migrate.downgrade(settings.database_url, args.revision)
        print(f"database revision: {await migrate.current(settings.database_url) or '(empty)'}")

    try:
        asyncio.run(run())
    except StoreUnavailable as exc:
        raise StartupError(str(exc)) from None
    return 0


def _account_create(args: argparse.Namespace) -> int:
    from realtime.store.accounts import AccountError, create_account
    from realtime.store.database import Store

    settings = _settings(args)

    async def run():
        await ready_database(settings)
        store = Store(settings.database_url)
        try:
            async with store.transaction() as session:
                return await create_account(
                    session, args.name, admin_email=args.admin_email, admin_password=args.admin_password
                )
        finally:
            await store.close()

    try:
        created = asyncio.run(run())
    except AccountError as exc:
        raise StartupError(str(exc)) from None
    print(f"account:  {created.account.name} (id {created.account.id})")
    print(f"api_key:  {created.api_key}")
    print(f"api_auth: {created.api_auth}")
    if created.admin is not None:
        print(f"admin:    {created.admin.email}")
        if created.admin_password:
            print(f"password: {created.admin_password}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from realtime.dialer.lists import ImportProgress, ListImportError, import_csv_file
    from realtime.store.database import Store

    settings = _settings(args)
    if not args.file.is_file():
        raise StartupError(f"{args.file}: no such file")
    try:
        mapping = json.loads(args.mapping) if args.mapping else None
    except json.JSONDecodeError as exc:
        raise StartupError(f"--mapping is not JSON: {exc}") from None
    bar = ProgressBar(sys.stderr)

    def progress(done: ImportProgress) -> None:
        bar.show(done.rows_done, done.rows_total)

    async def run() -> ImportProgress:
        await ready_database(settings)
        store = Store(settings.database_url)
        try:
            return await import_csv_file(store, args.file, campaign_id=args.campaign, name=args.name,
                                         column_mapping=mapping, region=args.region, progress=progress)
        finally:
            await store.close()

    try:
        result = asyncio.run(run())
    except ListImportError as exc:
        raise StartupError(str(exc)) from None
    bar.done()
    print(f"list {result.list_id}: {result.status.value}; {result.rows_imported} leads imported "
          f"into {result.households_created} new households ({result.duplicates} sharing a phone), "
          f"{result.rows_rejected} rows rejected, {result.rows_blocked} blocked")
    if result.error:
        print(f"error: {result.error}")
    return 0 if result.error is None else 1


class ProgressBar:
    """A one-line bar on a terminal; plain percentage lines when the output is a file."""

    def __init__(self, stream, width: int = 40) -> None:
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self._last = -1

    def show(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 0
        if self.tty:
            filled = self.width * percent // 100
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% {done}/{total}")
            self.stream.flush()
        elif percent // 10 != self._last // 10:
            self.stream.write(f"{percent}% ({done}/{total} rows)\n")
        self._last = percent

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    credentials = asyncio.run(_prepare(settings, seed_demo=True, check_redis=False))
    if credentials is None:
        print("the database already holds an account; no demo account created")
        return 1
    print(format_demo_credentials(credentials, settings))
    return 0
