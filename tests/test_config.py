import pytest

from realtime.config import ConfigError, load_settings


def settings(env=None, **flags):
    return load_settings(flags, environ=env or {})


def test_defaults_need_nothing_installed(tmp_path):
    s = settings(data_dir=str(tmp_path))
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'realtime.sqlite3'}"
    assert s.redis_url is None and s.uses_simulator
    assert (s.host, s.port, s.role) == ("127.0.0.1", 8080, "all")
    assert not s.allow_private_urls  # list downloads and webhooks reach public addresses only


def test_private_urls_are_allowed_by_one_setting(tmp_path):
    assert settings({"REALTIME_DATA_DIR": str(tmp_path), "REALTIME_ALLOW_PRIVATE_URLS": "yes"}).allow_private_urls


def test_the_trunk_capacity_is_unset_until_the_operator_sets_it(tmp_path):
    assert settings(data_dir=str(tmp_path)).trunk_lines is None  # each floor sets its own cap
    assert settings({"REALTIME_DATA_DIR": str(tmp_path), "REALTIME_TRUNK_LINES": "240"}).trunk_lines == 240
    assert settings({"REALTIME_DATA_DIR": str(tmp_path), "REALTIME_TRUNK_LINES": "240"}, trunk_lines="96").trunk_lines == 96


def test_serve_takes_the_trunk_capacity_as_a_flag(tmp_path):
    from realtime.cli import build_parser

    args = build_parser().parse_args(["serve", "--trunk-lines", "120", "--data-dir", str(tmp_path)])
    assert load_settings(vars(args), environ={}).trunk_lines == 120


def test_generated_secret_key_survives_a_restart(tmp_path):
    first = settings(data_dir=str(tmp_path)).secret_key
    assert len(first) >= 32
    assert settings(data_dir=str(tmp_path)).secret_key == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_flags_win_over_environment(tmp_path):
    env = {"REALTIME_PORT": "9000", "REALTIME_DATA_DIR": str(tmp_path), "REALTIME_ROLE": "web"}
    s = settings(env, port=9100, role=None)
    assert s.port == 9100 and s.role == "web"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"REALTIME_PORT": "eighty"}, "REALTIME_PORT: 'eighty' is not a port number"),
        ({"REALTIME_PORT": "70000"}, "REALTIME_PORT: 70000 is not a port number"),
        ({"REALTIME_REDIS_URL": "localhost:6379"}, "REALTIME_REDIS_URL: 'localhost:6379' must start with"),
        ({"REALTIME_REDIS_URL": "redis://:6379"}, "has no host"),
        ({"REALTIME_DATABASE_URL": "mysql://db/x"}, "REALTIME_DATABASE_URL: 'mysql://db/x' must start with"),
        ({"REALTIME_DATABASE_URL": "postgresql://h:99999/x"}, "is not a valid URL"),
        ({"REALTIME_ARI_URL": "ftp://pbx/ari"}, "REALTIME_ARI_URL"),
        ({"REALTIME_ROLE": "both"}, "REALTIME_ROLE: 'both' is not one of all, web, engine"),
        ({"REALTIME_DIAL_TEMPLATE": "PJSIP/trunk"}, "{number}"),
        ({"REALTIME_SIM_SPEED": "0"}, "REALTIME_SIM_SPEED: must be greater than 0"),
        ({"REALTIME_API_RATE_LIMIT": "lots"}, "REALTIME_API_RATE_LIMIT: 'lots' is not a rate"),
        ({"REALTIME_API_AUTH_FAILURE_LIMIT": "5"}, "REALTIME_API_AUTH_FAILURE_LIMIT: '5' is not a rate"),
        ({"REALTIME_DATABASE_POOL_SIZE": "0"}, "REALTIME_DATABASE_POOL_SIZE: must be at least 1"),
        ({"REALTIME_DATABASE_POOL_SIZE": "ten"}, "REALTIME_DATABASE_POOL_SIZE: 'ten' is not a whole number"),
        ({"REALTIME_DATABASE_POOL_TIMEOUT": "0"}, "REALTIME_DATABASE_POOL_TIMEOUT: must be greater than 0"),
        ({"REALTIME_HTTP_IDLE_TIMEOUT": "nan"}, "REALTIME_HTTP_IDLE_TIMEOUT: must be greater than 0"),
        ({"REALTIME_ALLOW_PRIVATE_URLS": "maybe"}, "is not true or false"),
        ({"REALTIME_TRUNK_LINES": "lots"}, "REALTIME_TRUNK_LINES: 'lots' is not a whole number"),
        ({"REALTIME_TRUNK_LINES": "0"}, "REALTIME_TRUNK_LINES: must be at least 1"),
        ({"REALTIME_SECRET_KEY": "short"}, "REALTIME_SECRET_KEY: must be at least 16 characters"),
    ],
)
def test_bad_values_are_named_with_their_setting(tmp_path, env, message):
    with pytest.raises(ConfigError) as err:
        settings({"REALTIME_DATA_DIR": str(tmp_path), **env})
    assert message in str(err.value)
