from __future__ import annotations

from datetime import date, timezone

import pytest

from crm_models.errors import ConfigError
from crm_models.settings import ROOT, Settings


def test_embedded_default_needs_no_settings(tmp_path) -> None:
    settings = Settings.from_env({"SHOP_VAR_DIR": str(tmp_path)})

    assert settings.database_url == f"sqlite:///{tmp_path / 'crm.db'}"
    assert settings.event_log_url == f"sqlite:///{tmp_path / 'events.db'}"
    assert settings.today is None
    assert settings.now().tzinfo is timezone.utc


def test_local_secrets_are_made_once_and_kept(tmp_path) -> None:
    first = Settings.from_env({"SHOP_VAR_DIR": str(tmp_path)})
    second = Settings.from_env({"SHOP_VAR_DIR": str(tmp_path)})

    assert first.rasa_token == second.rasa_token
    assert first.identity_secret == second.identity_secret
    assert first.rasa_token != first.identity_secret
    assert (tmp_path / "rasa_token").stat().st_mode & 0o777 == 0o600


def test_a_new_local_secret_never_starts_with_a_dash(tmp_path, monkeypatch) -> None:
    made = iter(["-abc", "-def", "xyz"])
    monkeypatch.setattr(
        "crm_models.settings.secrets.token_urlsafe", lambda nbytes: next(made)
    )

    settings = Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path),
            "SHOP_IDENTITY_SECRET": "i",
            "SHOP_SESSION_SECRET": "s",
        }
    )

    assert settings.rasa_token == "xyz"
    assert (tmp_path / "rasa_token").read_text(encoding="utf-8") == "xyz\n"


def test_a_kept_local_secret_starting_with_a_dash_is_used(tmp_path) -> None:
    (tmp_path / "rasa_token").write_text("-kept\n", encoding="utf-8")

    settings = Settings.from_env({"SHOP_VAR_DIR": str(tmp_path)})

    assert settings.rasa_token == "-kept"


def test_environment_overrides_defaults(tmp_path) -> None:
    settings = Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path),
            "SHOP_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1/shop",
            "SHOP_TODAY": "2026-01-31",
            "SHOP_RASA_TOKEN": "abc",
            "SHOP_WEB_PORT": "9000",
            "SHOP_KEEP_VERSIONS": "2",
            "SHOP_HTTPS_ONLY": "Yes",
        }
    )

    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.today == date(2026, 1, 31)
    assert settings.now().date() == date(2026, 1, 31)
    assert settings.rasa_token == "abc"
    assert settings.web_port == 9000
    assert settings.keep_versions == 2
    assert settings.https_only is True
    assert not (tmp_path / "rasa_token").exists()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHOP_TODAY", "31/01/2026"),  # not ISO
        ("SHOP_WEB_PORT", "eighty"),  # not a number
        ("SHOP_ABANDON_AFTER_MINUTES", "1.5"),  # not a whole number
        ("SHOP_DATABASE_URL", "notaurl"),  # not a database URL
        ("SHOP_EVENT_LOG_URL", "events.db"),  # a file name, not a URL
        ("SHOP_KEEP_VERSIONS", "0"),  # nothing left to roll back to
        ("SHOP_KEEP_VERSIONS", "two"),
        ("SHOP_HTTPS_ONLY", "maybe"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, name, value) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"SHOP_VAR_DIR": str(tmp_path), name: value})


def test_trainer_inbox_defaults_point_into_the_repo(tmp_path) -> None:
    settings = Settings.from_env({"SHOP_VAR_DIR": str(tmp_path)})

    assert settings.nlu_dir == ROOT / "data" / "nlu"
    assert settings.data_dir == ROOT / "data"
    assert settings.domain_dir == ROOT / "bot" / "domain"
    assert settings.rasa_config == ROOT / "bot" / "config.yml"
    assert (settings.inbox_min_confidence, settings.inbox_min_margin) == (0.5, 0.1)
    assert settings.inbox_group_similarity == 0.8


def test_trainer_inbox_settings_are_read(tmp_path) -> None:
    settings = Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path),
            "SHOP_NLU_DIR": str(tmp_path / "nlu"),
            "SHOP_INBOX_MIN_CONFIDENCE": "0.6",
            "SHOP_INBOX_GROUP_SIMILARITY": "0.75",
        }
    )

    assert settings.nlu_dir == tmp_path / "nlu"
    assert settings.inbox_min_confidence == 0.6
    assert settings.inbox_group_similarity == 0.75


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHOP_INBOX_MIN_CONFIDENCE", "high"),  # not a number
        ("SHOP_INBOX_MIN_MARGIN", "-0.1"),  # below 0
        ("SHOP_INBOX_GROUP_SIMILARITY", "1.5"),  # above 1
    ],
)
def test_bad_inbox_thresholds_name_the_variable(tmp_path, name, value) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"SHOP_VAR_DIR": str(tmp_path), name: value})


def test_amqp_event_log_url_selects_rabbitmq_with_queue_and_exchange(tmp_path) -> None:
    settings = Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path),
            "SHOP_EVENT_LOG_URL": "amqp://shop:pw@127.0.0.1:5672/%2F",
            "SHOP_EVENT_QUEUE": "feedback",
        }
    )

    assert settings.event_log_url == "amqp://shop:pw@127.0.0.1:5672/%2F"
    assert settings.event_queue == "feedback"
    assert settings.event_exchange == "rasa-exchange"  # Rasa's default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SHOP_EVENT_LOG_URL", "amqp://u:s3cret@/%2F"),  # no host
        ("SHOP_EVENT_LOG_URL", "amqp://u:s3cret@mq:5x/%2F"),  # port not a number
        ("SHOP_EVENT_QUEUE", " "),  # blank
        ("SHOP_EVENT_EXCHANGE", "x" * 256),  # longer than AMQP allows
    ],
)
def test_bad_rabbitmq_settings_name_the_variable(tmp_path, name, value) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        Settings.from_env({"SHOP_VAR_DIR": str(tmp_path), name: value})

    assert "s3cret" not in str(caught.value)  # a URL is never echoed


def test_the_rasa_url_follows_the_rasa_port(tmp_path) -> None:
    base = {"SHOP_VAR_DIR": str(tmp_path)}
    assert Settings.from_env(base).rasa_url == "http://127.0.0.1:5005"
    moved = Settings.from_env({**base, "SHOP_RASA_PORT": "15005"})
    assert moved.rasa_url == "http://127.0.0.1:15005"
    explicit = {**base, "SHOP_RASA_PORT": "1", "SHOP_RASA_URL": "http://h:9/"}
    assert Settings.from_env(explicit).rasa_url == "http://h:9"
