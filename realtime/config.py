"""Settings from environment variables (``REALTIME_*``) and command-line flags.

Every setting has one name: the environment variable is ``REALTIME_<NAME>`` and the
flag is ``--<name-with-dashes>``; a flag wins over the environment. Values are
validated once, at start-up, so a bad value stops the process with one clear line
instead of a traceback deep in some component.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

ROLES = ("all", "web", "engine")
SIM_OUTCOMES = ("deterministic", "mix")


class ConfigError(ValueError):
    """A setting has a value the product cannot use; the message names it."""


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str | None = None
    ari_url: str | None = None
    ari_user: str = "ari"
    ari_password: str = "ari"
    ari_app: str = "impactdialing"
    dial_template: str = "PJSIP/{number}@trunk"
    amd_context: str = "impactdialing-amd"
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    role: str = "all"
    data_dir: str = ""
    sim_outcomes: str = "mix"
    sim_speed: float = 1.0
    api_rate_limit: str = "600/minute"  # per API key, shared through Redis when configured
    api_auth_failure_limit: str = "60/minute"  # failed API authentications per client address
    allow_private_urls: bool = False  # let list downloads, numbers sources and webhooks reach private addresses
    dial_in_number: str = ""  # the number callers phone to join with their session's PIN (shown to them)
    database_pool_size: int = 20  # connections per process, at most; a request finding none free waits...
    database_pool_timeout: float = 3.0  # ...this long (seconds), then answers 503
    http_idle_timeout: float = 30.0  # seconds a connection may wait for (or send) a request's headers
    trunk_lines: int | None = None  # the trunk's capacity in lines at once; unset: the floor's own cap
    metrics_port: int | None = None  # /metrics on a listener of its own; unset: none; = port: the public port
    public_url: str | None = None  # how clients reach this server (https://dialer.example.com): absolute links

    @property
    def uses_simulator(self) -> bool:
        """No ARI URL configured: the built-in PBX simulator is the telephony."""
        return not self.ari_url

    @property
    def runs_engine(self) -> bool:
        return self.role in ("all", "engine")

    @property
    def runs_web(self) -> bool:
        return self.role in ("all", "web")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# Every setting's name, in declaration order.
_FIELDS = tuple(f.name for f in dataclasses.fields(Settings))


def env_name(field: str) -> str:
    return "REALTIME_" + field.upper()


def default_data_dir() -> Path:
    return Path(os.environ.get("REALTIME_DATA_DIR") or Path.cwd() / "data")


def load_settings(
    overrides: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build validated settings: defaults < environment < overrides (flags).

    Overrides whose value is ``None`` are ignored, so argparse namespaces can be
    passed as they are.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for name in _FIELDS:
        value = environ.get(env_name(name))
        if value not in (None, ""):
            raw[name] = value
    for name, value in (overrides or {}).items():
        if name in _FIELDS and value is not None:
            raw[name] = value

    data_dir = Path(str(raw.get("data_dir") or default_data_dir()))
    raw["data_dir"] = str(data_dir)
    if not raw.get("database_url"):
        raw["database_url"] = f"sqlite+aiosqlite:///{data_dir / 'realtime.sqlite3'}"
    if not raw.get("secret_key"):
        raw["secret_key"] = _load_or_create_secret(data_dir)

    values: dict[str, object] = {}
    for name, value in raw.items():
        values[name] = _coerce(name, value)
    settings = Settings(**values)  # type: ignore[arg-type]
    _validate(settings)
    return settings


def _coerce(name: str, value: object) -> object:
    if name in ("port", "metrics_port"):
        try:
            port = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{env_name(name)}: {value!r} is not a port number") from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"{env_name(name)}: {port} is not a port number (0-65535)")
        return port
    if name == "allow_private_urls":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigError(f"{env_name(name)}: {value!r} is not true or false")
        return text in ("1", "true", "yes", "on")
    if name in ("sim_speed", "database_pool_timeout", "http_idle_timeout"):
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{env_name(name)}: {value!r} is not a number") from None
        if not number > 0:
            raise ConfigError(f"{env_name(name)}: must be greater than 0, got {number}")
        return number
    if name in ("database_pool_size", "trunk_lines"):
        try:
            size = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"{env_name(name)}: {value!r} is not a whole number") from None
        if size < 1:
            raise ConfigError(f"{env_name(name)}: must be at least 1, got {size}")
        return size
    return str(value)


def _validate(s: Settings) -> None:
    _check_url("database_url", s.database_url, ("sqlite", "sqlite+aiosqlite", "postgresql",
                                                 "postgresql+asyncpg", "postgres"))
    if s.redis_url is not None:
        _check_url("redis_url", s.redis_url, ("redis", "rediss", "unix"))
    if s.ari_url is not None:
        _check_url("ari_url", s.ari_url, ("http", "https"))
    if s.public_url is not None:
        _check_url("public_url", s.public_url, ("http", "https"))
    if s.role not in ROLES:
        raise ConfigError(f"{env_name('role')}: {s.role!r} is not one of {', '.join(ROLES)}")
    if s.sim_outcomes not in SIM_OUTCOMES:
        raise ConfigError(
            f"{env_name('sim_outcomes')}: {s.sim_outcomes!r} is not one of {', '.join(SIM_OUTCOMES)}"
        )
    if "{number}" not in s.dial_template or "/" not in s.dial_template:
        raise ConfigError(
            f"{env_name('dial_template')}: {s.dial_template!r} must look like "
            "'TECH/{number}@trunk' (a '/' and a '{number}' placeholder)"
        )
    if not s.ari_app or any(c in s.ari_app for c in ",/ "):
        raise ConfigError(f"{env_name('ari_app')}: {s.ari_app!r} is not a valid Stasis application name")
    from limits import parse

    for name in ("api_rate_limit", "api_auth_failure_limit"):
        try:
            parse(getattr(s, name))
        except ValueError:
            raise ConfigError(
                f"{env_name(name)}: {getattr(s, name)!r} is not a rate such as '600/minute'"
            ) from None
    if len(s.secret_key) < 16:
        raise ConfigError(f"{env_name('secret_key')}: must be at least 16 characters")
    if s.metrics_port == 0:
        raise ConfigError(f"{env_name('metrics_port')}: 0 is not a port to serve metrics on")


def _check_url(name: str, url: str, schemes: tuple[str, ...]) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{env_name(name)}: {url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in schemes:
        raise ConfigError(
            f"{env_name(name)}: {url!r} must start with one of "
            + ", ".join(f"{s}://" for s in schemes)
        )
    if parts.scheme.startswith(("http", "redis", "postgres")) and not parts.hostname:
        raise ConfigError(f"{env_name(name)}: {url!r} has no host")


def _load_or_create_secret(data_dir: Path) -> str:
    """A generated key kept beside the default database, so cookies survive restarts."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
