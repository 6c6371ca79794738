from __future__ import annotations

from datetime import datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crm_models.errors import ConfigError
from crm_models.handoff.hours import ALWAYS, StaffedHours, staffed_hours
from crm_models.settings import ROOT

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = StaffedHours(
    zone=LONDON,
    days=frozenset(range(5)),
    opens=time(9),
    closes=time(17),
    label="UK time",
)


def at(text: str) -> datetime:
    """A London wall-clock time (summer: UTC+1)."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


@pytest.mark.parametrize(
    ("when", "open_"),
    [
        ("2025-06-13 09:00", True),  # Friday, the first minute
        ("2025-06-13 16:59", True),
        ("2025-06-13 17:00", False),  # closing time is closed
        ("2025-06-13 08:59", False),
        ("2025-06-14 12:00", False),  # Saturday
    ],
)
def test_open_on_weekdays_in_the_shops_time_zone(when: str, open_: bool) -> None:
    assert WEEKDAYS.is_open(at(when)) is open_


def test_the_time_zone_decides_not_utc() -> None:
    # 08:30 UTC is 09:30 in London in June.
    assert WEEKDAYS.is_open(datetime(2025, 6, 13, 8, 30, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    ("when", "opening", "words"),
    [
        ("2025-06-13 12:00", "2025-06-13 12:00", "today at 12:00 (UK time)"),
        ("2025-06-13 07:00", "2025-06-13 09:00", "today at 09:00 (UK time)"),
        ("2025-06-12 18:00", "2025-06-13 09:00", "tomorrow at 09:00 (UK time)"),
        ("2025-06-13 18:00", "2025-06-16 09:00", "Monday at 09:00 (UK time)"),
    ],
)
def test_next_opening(when: str, opening: str, words: str) -> None:
    assert WEEKDAYS.next_opening(at(when)) == at(opening)
    assert WEEKDAYS.describe_opening(at(when)) == words


def test_never_staffed_has_no_opening() -> None:
    never = StaffedHours(zone=LONDON, days=frozenset(), opens=time(9), closes=None)

    assert never.next_opening(at("2025-06-13 12:00")) is None
    assert "as soon as" in never.describe_opening(at("2025-06-13 12:00"))


def test_always_is_open_at_midnight() -> None:
    assert ALWAYS.is_open(at("2025-06-15 00:00"))
    assert ALWAYS.is_open(at("2025-06-15 23:59"))


def test_the_shops_policy_file_has_weekday_hours() -> None:
    hours = staffed_hours(ROOT / "bot" / "shop_policy.yml")

    assert hours.days == frozenset(range(5))
    assert (hours.opens, hours.closes) == (time(9), time(17))
    assert hours.label == "UK time"


def write(tmp_path: Path, staffed: str) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(f"contact:\n  email: x@y.z\n{staffed}", encoding="utf-8")
    return path


def test_a_file_without_hours_is_always_staffed(tmp_path: Path) -> None:
    assert staffed_hours(write(tmp_path, "")) is ALWAYS


def test_the_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = write(tmp_path, "  staffed: {days: [sat], from: '10:00', to: '24:00'}\n")
    first = staffed_hours(path)
    path.write_text(
        "contact:\n  staffed: {days: [sun, mon], from: '08:00', to: '12:00'}\n",
        encoding="utf-8",
    )

    second = staffed_hours(path)

    assert (first.days, first.closes) == (frozenset({5}), None)
    assert (second.days, second.opens) == (frozenset({6, 0}), time(8))


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("  staffed: {days: [mon], timezone: Mars/Olympus}\n", "timezone"),
        ("  staffed: {days: []}\n", "days"),
        ("  staffed: {days: [someday]}\n", "days"),
        ("  staffed: {days: [mon], from: '9 am'}\n", "from"),
        ("  staffed: {days: [mon], from: '17:00', to: '09:00'}\n", "to"),
        ("  staffed: weekdays\n", "contact.staffed"),
    ],
)
def test_a_wrong_block_names_the_field(tmp_path: Path, block: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        staffed_hours(write(tmp_path, block))


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        staffed_hours(tmp_path / "nowhere.yml")
