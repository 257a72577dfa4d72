"""The ``realtime`` command as a user runs it: real processes, real ports."""
from __future__ import annotations

import asyncio
import re
import sys

import aiohttp
import pytest
import socketio

from realtime.store import migrate
from tests.processes import Serving, clean_env


async def run(*args: str, env: dict | None = None, timeout: float = 60) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "realtime", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**clean_env(), **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


async def test_serve_on_an_empty_machine_prints_working_logins_once(tmp_path, unused_port):
    env = {"REALTIME_DATA_DIR": str(tmp_path)}
    server = await Serving.start(unused_port(), env=env)
    try:
        assert "Demo account created" in server.output
        api_key = re.search(r"api_key:\s+(\S+)", server.output).group(1)
        api_auth = re.search(r"api_auth:\s+(\S+)", server.output).group(1)
        assert re.search(r"caller1 / \S+", server.output)
        assert re.search(r"Phones-only caller PIN: \d{6}", server.output)
        status, body = await server.get("/healthz")
        assert status == 200 and body["components"]["store"]["status"] == "up"
    finally:
        await server.stop()

    from realtime.store.accounts import authenticate
    from realtime.store.database import Store

    store = Store(f"sqlite:///{tmp_path / 'realtime.sqlite3'}")
    async with store.transaction() as session:
        assert await authenticate(session, api_key, api_auth) is not None
    await store.close()

    again = await Serving.start(unused_port(), env=env)
    await again.stop()
    assert "Demo account created" not in again.output


async def test_no_demo_flag_leaves_the_database_empty(tmp_path, unused_port):
    server = await Serving.start(unused_port(), "--no-demo", env={"REALTIME_DATA_DIR": str(tmp_path)})
    await server.stop()
    assert "Demo account" not in server.output


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"REALTIME_PORT": "http"}, "REALTIME_PORT: 'http' is not a port number"),
        ({"REALTIME_REDIS_URL": "redis://127.0.0.1:1/0"}, "127.0.0.1:1"),
        ({"REALTIME_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/realtime"}, "PostgreSQL at 127.0.0.1:1/realtime"),
        ({"REALTIME_DATABASE_URL": "oracle://x"}, "REALTIME_DATABASE_URL"),
    ],
)
async def test_bad_setting_stops_start_up_with_one_clear_line(tmp_path, env, expected):
    code, out, err = await run("serve", env={"REALTIME_DATA_DIR": str(tmp_path), **env})
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("realtime: error: ") and expected in lines[0]
    assert "Traceback" not in err


async def test_serve_refuses_a_database_that_is_behind(empty_database_url, tmp_path):
    await migrate.upgrade(empty_database_url)
    await migrate.downgrade(empty_database_url, "base")
    env = {"REALTIME_DATA_DIR": str(tmp_path / "data")}
    code, _, err = await run("serve", "--database-url", empty_database_url, env=env)
    assert code == 2
    assert "realtime db upgrade" in err and "Traceback" not in err


async def test_db_commands_move_the_schema_both_ways(empty_database_url, tmp_path):
    env = {"REALTIME_DATABASE_URL": empty_database_url, "REALTIME_DATA_DIR": str(tmp_path)}
    code, out, err = await run("db", "current", env=env)
    assert code == 0 and "(empty)" in out, err
    code, out, err = await run("db", "upgrade", env=env)
    assert code == 0, err
    assert out.strip() == f"database revision: {await migrate.head()}"
    code, out, err = await run("db", "downgrade", "--revision", "base", env=env)
    assert code == 0 and "(empty)" in out, err
    assert await migrate.is_behind(empty_database_url)


async def test_account_create_prints_working_credentials(sqlite_url, tmp_path):
    env = {"REALTIME_DATABASE_URL": sqlite_url, "REALTIME_DATA_DIR": str(tmp_path)}
    assert (await run("db", "upgrade", env=env))[0] == 0
    code, out, err = await run("account", "create", "Acme Calls", "--admin-email", "boss@acme.example", env=env)
    assert code == 0, err
    api_key = re.search(r"api_key:\s+(\S+)", out).group(1)
    api_auth = re.search(r"api_auth:\s+(\S+)", out).group(1)
    password = re.search(r"password:\s+(\S+)", out).group(1)

    from sqlalchemy import select

    from realtime.store.accounts import authenticate
    from realtime.store.database import Store
    from realtime.store.models import User
    from realtime.store.passwords import verify_password

    store = Store(sqlite_url)
    async with store.transaction() as session:
        account = await authenticate(session, api_key, api_auth)
        assert account.name == "Acme Calls"
        admin = (await session.execute(select(User).where(User.account_id == account.id))).scalar_one()
        assert admin.email == "boss@acme.example" and verify_password(admin.password_hash, password)
    await store.close()

    code, _, err = await run("account", "create", "Again", "--admin-email", "boss@acme.example", env=env)
    assert code == 2 and "realtime: error:" in err and "Traceback" not in err


async def test_import_command_loads_a_csv_with_progress_and_a_summary(tmp_path):
    from sqlalchemy import select

    from realtime.store.database import Store
    from realtime.store.demo import seed_demo
    from realtime.store.models import Campaign, Lead, LeadList

    url = f"sqlite:///{tmp_path / 'calls.sqlite3'}"
    await migrate.upgrade(url)
    store = Store(url)
    await seed_demo(store)
    async with store.transaction() as session:
        campaign_id = (await session.scalars(select(Campaign.id).order_by(Campaign.id))).first()
    csv_path = tmp_path / "voters.csv"
    rows = "".join(f"(212) 555-{i:04d},Voter{i}\n" for i in range(1000, 1200))
    csv_path.write_text("phone,first_name\n" + rows + "12,Nobody\n")

    env = {"REALTIME_DATABASE_URL": url, "REALTIME_DATA_DIR": str(tmp_path)}
    code, out, err = await run("import", str(csv_path), "--campaign", str(campaign_id), env=env)
    assert code == 0, err
    assert "200 leads imported into 200 new households" in out and "1 rows rejected" in out
    assert "100% (201/201 rows)" in err
    async with store.transaction() as session:
        lead_list = (await session.scalars(select(LeadList).where(LeadList.name == "voters.csv"))).one()
        names = (await session.scalars(select(Lead.first_name).where(Lead.lead_list_id == lead_list.id))).all()
    await store.close()
    assert sorted(names) == sorted(f"Voter{i}" for i in range(1000, 1200))

    code, _, err = await run("import", str(csv_path), "--campaign", "999", env=env)
    assert code == 2 and "999" in err and "Traceback" not in err


def test_every_setting_is_also_a_flag_of_serve(tmp_path):
    import dataclasses

    from realtime.cli import _settings, build_parser
    from realtime.config import Settings

    flags = {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(Settings)}
    args = build_parser().parse_args(["serve", "--data-dir", str(tmp_path), flags["allow_private_urls"],
                                      flags["api_rate_limit"], "5/second"])
    settings = _settings(args)
    assert settings.allow_private_urls is True and settings.api_rate_limit == "5/second"
    serve_help = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
    assert [flag for flag in flags.values() if flag not in serve_help] == []


def test_an_engine_seeding_the_demo_does_not_send_people_to_its_own_port(tmp_path):
    from realtime.cli import format_demo_credentials
    from realtime.config import load_settings
    from realtime.store.demo import DemoCredentials

    creds = DemoCredentials("Demo", "ak_x", "secret", "admin@demo.example", "pw", "sup@demo.example", "pw2",
                            [("caller1", "pw3")], "123456")
    engine = load_settings({"data_dir": str(tmp_path), "role": "engine", "port": "8112"}, environ={})
    printed = format_demo_credentials(creds, engine)
    assert ":8112" not in printed and "on the web processes" in printed
    assert "admin@demo.example / pw" in printed and "caller1 / pw3" in printed
    everything = load_settings({"data_dir": str(tmp_path), "port": "8111"}, environ={})
    assert "http://127.0.0.1:8111/login" in format_demo_credentials(creds, everything)


async def test_stopping_serve_closes_open_pages_at_once_so_they_reconnect(tmp_path, unused_port):
    """A graceful stop (a deploy) hangs up the pages' websockets as a dropped connection
    would, after what was queued for them: they reconnect to the next process, and the
    stop does not wait for their next ping."""
    server = await Serving.start(unused_port(), env={"REALTIME_DATA_DIR": str(tmp_path)})
    try:
        password = re.search(r"caller1 / (\S+)", server.output).group(1)
        await server.get("/healthz")  # the port is open
        url = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/login", json={"login": "caller1", "password": password}) as resp:
                assert resp.status == 200, await resp.text()
                cookie = f"realtime_session={resp.cookies['realtime_session'].value}"
        page = socketio.AsyncClient(reconnection=False)
        started: asyncio.Future = asyncio.get_running_loop().create_future()
        closed: asyncio.Future = asyncio.get_running_loop().create_future()
        page.on("session_started", lambda data: started.done() or started.set_result(data), namespace="/caller")
        page.on("disconnect", lambda reason=None: closed.done() or closed.set_result(reason), namespace="/caller")
        await page.connect(url, namespaces=["/caller"], transports=["websocket"], headers={"Cookie": cookie},
                           wait_timeout=10)
        await asyncio.wait_for(started, 10)
        server.proc.terminate()
        # Well inside the 25 s ping interval, after which the websocket would close anyway.
        assert await asyncio.wait_for(closed, 10) == page.reason.TRANSPORT_ERROR
        assert await asyncio.wait_for(server.proc.wait(), 10) == 0
    finally:
        await server.stop()
