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
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crm_models.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
# An event log URL with one of these schemes is a RabbitMQ broker, not a database.
AMQP_SCHEMES = frozenset({"amqp", "amqps"})


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
    # With an amqp:// event log URL: the queue the consumer reads (one of the event
    # broker's ``queues:`` in endpoints.production.yml) and the exchange it is bound to.
    event_queue: str = "shop_events"
    event_exchange: str = "rasa-exchange"
    # The trainer inbox (crm_models.training.inbox): Rasa's training data and domain,
    # and when a customer message is worth a trainer's time.
    nlu_dir: Path = ROOT / "data" / "nlu"
    data_dir: Path = ROOT / "data"
    domain_dir: Path = ROOT / "bot" / "domain"
    rasa_config: Path = ROOT / "bot" / "config.yml"
    inbox_min_confidence: float = 0.5
    inbox_min_margin: float = 0.1
    inbox_group_similarity: float = 0.8
    # Model and index versions kept on disk per kind: the current one, this many it
    # can roll back to, and this many newest (candidates a retrain refused).
    keep_versions: int = 5
    # Mark the web session cookie Secure: on wherever the page is served over TLS.
    https_only: bool = False

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
            ("KEEP_VERSIONS", "5"),
        ):
            raw = get(name, default)
            try:
                ints[name] = int(raw)
            except ValueError as exc:
                raise ConfigError(f"SHOP_{name}={raw!r} is not a whole number") from exc
        if ints["KEEP_VERSIONS"] < 1:
            raise ConfigError(
                f"SHOP_KEEP_VERSIONS={ints['KEEP_VERSIONS']} keeps no version to roll "
                "back to; use 1 or more"
            )

        floats = {}
        for name, default in (
            ("INBOX_MIN_CONFIDENCE", "0.5"),
            ("INBOX_MIN_MARGIN", "0.1"),
            ("INBOX_GROUP_SIMILARITY", "0.8"),
        ):
            raw = get(name, default)
            try:
                floats[name] = float(raw)
            except ValueError as exc:
                raise ConfigError(f"SHOP_{name}={raw!r} is not a number") from exc
            if not 0.0 <= floats[name] <= 1.0:
                raise ConfigError(f"SHOP_{name}={raw!r} is not between 0 and 1")

        https_raw = get("HTTPS_ONLY", "0").strip().lower()
        if https_raw not in _BOOLEANS:
            raise ConfigError(
                f"SHOP_HTTPS_ONLY={https_raw!r} is not on or off: use 1 or 0 "
                "(true/false, yes/no and on/off work too)"
            )

        urls = {}
        for name, default in (
            ("DATABASE_URL", f"sqlite:///{var_dir / 'crm.db'}"),
            ("EVENT_LOG_URL", f"sqlite:///{var_dir / 'events.db'}"),
        ):
            urls[name] = get(name, default)
            if name == "EVENT_LOG_URL" and _is_amqp_url(urls[name]):
                _check_amqp_url(name, urls[name])
                continue
            try:
                make_url(urls[name])
            except ArgumentError as exc:
                message = (
                    f"SHOP_{name} is not a database URL such as sqlite:///var/x.db"
                )
                if name == "EVENT_LOG_URL":
                    message += " (nor a RabbitMQ URL such as amqp://host:5672/%2F)"
                raise ConfigError(message) from exc

        return cls(
            database_url=urls["DATABASE_URL"],
            event_log_url=urls["EVENT_LOG_URL"],
            var_dir=var_dir,
            models_dir=_path(get("MODELS_DIR", "models")),
            policy_file=_path(get("POLICY_FILE", "bot/shop_policy.yml")),
            seed_dir=_path(get("SEED_DIR", "data/crm")),
            today=today,
            # make run starts Rasa on SHOP_RASA_PORT: tools in another shell (make
            # retrain, make rollback) find it there too.
            rasa_url=get(
                "RASA_URL", f"http://127.0.0.1:{get('RASA_PORT', '5005')}"
            ).rstrip("/"),
            rasa_token=get("RASA_TOKEN", "") or _local_secret(var_dir, "rasa_token"),
            identity_secret=get("IDENTITY_SECRET", "")
            or _local_secret(var_dir, "identity_secret"),
            session_secret=get("SESSION_SECRET", "")
            or _local_secret(var_dir, "session_secret"),
            web_host=get("WEB_HOST", "127.0.0.1"),
            web_port=ints["WEB_PORT"],
            random_seed=ints["RANDOM_SEED"],
            abandon_after_minutes=ints["ABANDON_AFTER_MINUTES"],
            event_queue=_amqp_name("EVENT_QUEUE", get("EVENT_QUEUE", "shop_events")),
            event_exchange=_amqp_name(
                "EVENT_EXCHANGE", get("EVENT_EXCHANGE", "rasa-exchange")
            ),
            nlu_dir=_path(get("NLU_DIR", "data/nlu")),
            data_dir=_path(get("DATA_DIR", "data")),
            domain_dir=_path(get("DOMAIN_DIR", "bot/domain")),
            rasa_config=_path(get("RASA_CONFIG", "bot/config.yml")),
            inbox_min_confidence=floats["INBOX_MIN_CONFIDENCE"],
            inbox_min_margin=floats["INBOX_MIN_MARGIN"],
            inbox_group_similarity=floats["INBOX_GROUP_SIMILARITY"],
            keep_versions=ints["KEEP_VERSIONS"],
            https_only=_BOOLEANS[https_raw],
        )

    def now(self) -> datetime:
        """The current time, or noon of ``SHOP_TODAY`` when that is set (for demos)."""
        if self.today is not None:
            return datetime.combine(self.today, time(12, 0), tzinfo=timezone.utc)
        return datetime.now(timezone.utc)


_BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
    "": False,
}


def _is_amqp_url(url: str) -> bool:
    return url.split(":", 1)[0].lower() in AMQP_SCHEMES


def _check_amqp_url(name: str, url: str) -> None:
    """Refuse a RabbitMQ URL without host or with a bad port; never echo it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"SHOP_{name} has a port that is not a number") from exc
    if not parts.hostname:
        raise ConfigError(
            f"SHOP_{name} names no host; expected amqp://user:password@host:5672/%2F"
        )
    if port == 0:
        raise ConfigError(f"SHOP_{name} has port 0")


def _amqp_name(name: str, value: str) -> str:
    """A queue or exchange name: 1 to 255 bytes (AMQP's short string)."""
    if not value.strip() or len(value.encode()) > 255:
        raise ConfigError(f"SHOP_{name}={value!r} is not a name of 1 to 255 bytes")
    return value


def _local_secret(var_dir: Path, name: str) -> str:
    """An embedded-default secret: made once, kept in ``var/<name>`` (mode 600).

    A new secret never starts with "-", so that no command line takes it for an
    option; one already kept in the file is used as it is.
    """
    path = var_dir / name
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    while token.startswith("-"):
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
