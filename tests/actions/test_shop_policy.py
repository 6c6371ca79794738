"""The policy file: parsing, errors that name file and field, reloading on change."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest

from actions.policy import ActionAnswerPolicy
from actions.services import use_services
from actions.shop_policy import PolicyFile, parse_policy
from crm_models.errors import ConfigError
from tests.actions.builders import user
from tests.actions.conftest import POLICY_PATH


def test_shipped_policy_file_parses() -> None:
    policy = parse_policy(POLICY_PATH, POLICY_PATH.read_text())

    assert policy.order_number_digits == 6
    assert policy.refund_window_days > 0
    assert policy.delivery_options[0].price_pence > 0
    assert set(policy.account_help) >= {"recover_password", "place_order"}


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        # a number that is not one
        ("window_days: 30", "window_days: thirty", "refunds.window_days"),
        # a flag that is not one
        (
            "high_risk_review: true",
            "high_risk_review: maybe",
            "refunds.high_risk_review",
        ),
        # a field inside a list item
        ("price_pence: 799", "price_pence: -1", "delivery.options[1].price_pence"),
        # a missing help text
        (
            "  recover_password: >-",
            "  recover_pass: >-",
            "account_help.recover_password",
        ),
    ],
)
def test_errors_name_the_file_and_the_field(
    tmp_path: Path, old: str, new: str, field: str
) -> None:
    path = tmp_path / "shop_policy.yml"
    text = POLICY_PATH.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))

    with pytest.raises(ConfigError) as caught:
        PolicyFile(path).get()

    assert str(path) in str(caught.value)
    assert f"'{field}'" in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yml"

    with pytest.raises(ConfigError, match=r"nowhere\.yml"):
        PolicyFile(path).get()


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = tmp_path / "shop_policy.yml"
    path.write_text("shop:\n  name: [unclosed\n")

    with pytest.raises(ConfigError, match=r"shop_policy.yml: not valid YAML \(line"):
        PolicyFile(path).get()


def test_changed_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "shop_policy.yml"
    path.write_text(POLICY_PATH.read_text())
    policy_file = PolicyFile(path)
    assert policy_file.get().refund_window_days == 30

    path.write_text(
        POLICY_PATH.read_text().replace("window_days: 30", "window_days: 45")
    )
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    assert policy_file.get().refund_window_days == 45


def test_unchanged_file_is_not_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "shop_policy.yml"
    path.write_text(POLICY_PATH.read_text())
    policy_file = PolicyFile(path)

    assert policy_file.get() is policy_file.get()


@pytest.fixture
def broken_policy(tmp_path: Path) -> Path:
    path = tmp_path / "shop_policy.yml"
    path.write_text(
        POLICY_PATH.read_text().replace("processing_days: 5", "processing_days: soon")
    )
    return path


async def test_broken_policy_gives_a_polite_reply_and_an_operator_error(
    run, services, broken_policy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    use_services(replace(services, policy=PolicyFile(broken_policy).get))
    caplog.set_level(logging.ERROR)

    result = await run(
        ActionAnswerPolicy(), [user("refund policy?", "check_refund_policy")]
    )

    assert result.responses == ["utter_technical_problem"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(
        str(broken_policy) in e and "'refunds.processing_days'" in e for e in errors
    )
