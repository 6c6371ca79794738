"""One settings object for every Python 3.11 process (actions, web, jobs).

Read from the environment once; the embedded default (SQLite files under ``var/``,
artefacts under ``models/``) needs no setting at all. Tests build a ``Settings`` from a
plain dict with ``Settings.from_env({...})``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from functools import lru_cache
from os import environ as _os_environ
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crm_models.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else ROOT / path


@dataclass(frozen=True)
class Settings:
    """Process settings; field names match ``SHOP_<NAME>`` environment variables."""

    database_url: str
    event_log_url: str
    var_dir: Path
    models_dir: Path
    policy_file: Path
    seed_dir: Path
    today: date | None
    rasa_url: str
    rasa_token: str
    identity_secret: str
    session_secret: str
    web_host: str
    web_port: int
    random_seed: int
    abandon_after_minutes: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from a mapping (the process environment by default).

        Raises:
            ConfigError: a value cannot be parsed; the message names the variable.
        """
        env = _os_environ if env is None else env

        def get(name: str, default: str) -> str:
            return env.get(f"SHOP_{name}", default)

        var_dir = _path(get("VAR_DIR", "var"))
        try:
            today_raw = get("TODAY", "")
            today = date.fromisoformat(today_raw) if today_raw else None
        except ValueError as exc:
            raise ConfigError(
                f"SHOP_TODAY={today_raw!r} is not a YYYY-MM-DD date"
            ) from exc
        ints = {}
        for name, default in (
            ("WEB_PORT", "8000"),
            ("RANDOM_SEED", "7"),
            ("ABANDON_AFTER_MINUTES", "30"),
        ):
            raw = get(name, default)
            try:
                ints[name] = int(raw)
            except ValueError as exc:
                raise ConfigError(f"SHOP_{name}={raw!r} is not a whole number") from exc

        urls = {}
        for name, default in (
            ("DATABASE_URL", f"sqlite:///{var_dir / 'crm.db'}"),
            ("EVENT_LOG_URL", f"sqlite:///{var_dir / 'events.db'}"),
        ):
            urls[name] = get(name, default)
            try:
                make_url(urls[name])
            except ArgumentError as exc:
                message = (
                    f"SHOP_{name} is not a database URL such as sqlite:///var/x.db"
                )
                raise ConfigError(message) from exc

        return cls(
            database_url=urls["DATABASE_URL"],
            event_log_url=urls["EVENT_LOG_URL"],
            var_dir=var_dir,
            models_dir=_path(get("MODELS_DIR", "models")),
            policy_file=_path(get("POLICY_FILE", "bot/shop_policy.yml")),
            seed_dir=_path(get("SEED_DIR", "data/crm")),
            today=today,
            rasa_url=get("RASA_URL", "http://127.0.0.1:5005").rstrip("/"),
            rasa_token=get("RASA_TOKEN", "") or _local_secret(var_dir, "rasa_token"),
            identity_secret=get("IDENTITY_SECRET", "")
            or _local_secret(var_dir, "identity_secret"),
            session_secret=get("SESSION_SECRET", "")
            or _local_secret(var_dir, "session_secret"),
            web_host=get("WEB_HOST", "127.0.0.1"),
            web_port=ints["WEB_PORT"],
            random_seed=ints["RANDOM_SEED"],
            abandon_after_minutes=ints["ABANDON_AFTER_MINUTES"],
        )

    def now(self) -> datetime:
        """The current time, or noon of ``SHOP_TODAY`` when that is set (for demos)."""
        if self.today is not None:
            return datetime.combine(self.today, time(12, 0), tzinfo=timezone.utc)
        return datetime.now(timezone.utc)


def _local_secret(var_dir: Path, name: str) -> str:
    """An embedded-default secret: made once, kept in ``var/<name>`` (mode 600)."""
    path = var_dir / name
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return token


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings.from_env()


def main() -> int:
    """``python -m crm_models.settings``: check the settings, print the API token."""
    import sys

    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"settings: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(settings.rasa_token)  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
