"""When people answer in the chat: the policy file's ``contact.staffed`` block.

    contact:
      staffed_hours: "Monday to Friday, 09:00-17:00 UK time"  # what customers read
      staffed:                                                # the same for machines
        timezone: "Europe/London"
        label: "UK time"
        days: [mon, tue, wed, thu, fri]
        from: "09:00"
        to: "17:00"

A policy file without the block counts as always staffed (and says so in the log).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from crm_models.errors import ConfigError

logger = logging.getLogger(__name__)

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_WORDS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)


@dataclass(frozen=True)
class StaffedHours:
    """Opening hours of the support team in one time zone.

    ``closes`` is ``None`` for midnight at the end of the day ("24:00").
    """

    zone: ZoneInfo
    days: frozenset[int]  # 0 = Monday
    opens: time
    closes: time | None
    label: str = ""

    def _window(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, self.opens, tzinfo=self.zone)
        if self.closes is None:
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
        else:
            end = datetime.combine(day, self.closes, tzinfo=self.zone)
        return start, end

    def is_open(self, now: datetime) -> bool:
        """Whether someone is there at ``now`` (an aware datetime)."""
        local = now.astimezone(self.zone)
        if local.weekday() not in self.days:
            return False
        start, end = self._window(local.date())
        return start <= local < end

    def next_opening(self, now: datetime) -> datetime | None:
        """``now`` while staffed, else when people are next in; ``None`` if never."""
        if self.is_open(now):
            return now
        local = now.astimezone(self.zone)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            start, _ = self._window(day)
            if start > local:
                return start
        return None

    def describe_opening(self, now: datetime) -> str:
        """The next opening in words: "today at 09:00", "Monday at 09:00 (UK time)"."""
        opening = self.next_opening(now)
        if opening is None:
            return "as soon as someone is available"
        local_now = now.astimezone(self.zone)
        local = opening.astimezone(self.zone)
        days = (local.date() - local_now.date()).days
        if days == 0:
            when = "today"
        elif days == 1:
            when = "tomorrow"
        else:
            when = _WEEKDAY_WORDS[local.weekday()]
        text = f"{when} at {local:%H:%M}"
        return f"{text} ({self.label})" if self.label else text


ALWAYS = StaffedHours(
    zone=ZoneInfo("UTC"), days=frozenset(range(7)), opens=time(0), closes=None
)


def _clock(value: Any, field: str, path: Path) -> time | None:
    text = str(value).strip()
    if text == "24:00":
        return None
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(
            f"{path}: field 'contact.staffed.{field}' must be HH:MM, got {text!r}"
        ) from exc


def parse_staffed_hours(data: Mapping[str, Any], path: Path) -> StaffedHours:
    """The ``contact.staffed`` mapping as :class:`StaffedHours`.

    Raises:
        ConfigError: a field is missing or wrong; the message names it.
    """
    try:
        zone = ZoneInfo(str(data.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{path}: field 'contact.staffed.timezone' is not a known time zone"
        ) from exc
    raw_days = data.get("days")
    if not isinstance(raw_days, list) or not raw_days:
        raise ConfigError(f"{path}: field 'contact.staffed.days' must list days")
    days = set()
    for day in raw_days:
        key = str(day).strip().lower()[:3]
        if key not in DAY_NAMES:
            raise ConfigError(
                f"{path}: field 'contact.staffed.days' has an unknown day {day!r}"
            )
        days.add(DAY_NAMES.index(key))
    opens = _clock(data.get("from", "00:00"), "from", path) or time(0)
    closes = _clock(data.get("to", "24:00"), "to", path)
    if closes is not None and closes <= opens:
        raise ConfigError(f"{path}: field 'contact.staffed.to' must be after 'from'")
    return StaffedHours(
        zone=zone,
        days=frozenset(days),
        opens=opens,
        closes=closes,
        label=str(data.get("label") or ""),
    )


_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int], StaffedHours]] = {}


def staffed_hours(policy_file: Path) -> StaffedHours:
    """The staffed hours in ``policy_file``, read again when the file changes.

    Raises:
        ConfigError: the file cannot be read or the block is invalid.
    """
    try:
        stat = policy_file.stat()
    except OSError as exc:
        raise ConfigError(f"{policy_file}: policy file not found") from exc
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _cache.get(policy_file)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    try:
        data = yaml.safe_load(policy_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{policy_file}: cannot be read as YAML") from exc
    block = (
        (data.get("contact") or {}).get("staffed") if isinstance(data, dict) else None
    )
    if block is None:
        logger.warning("hours.not_configured file=%s (always staffed)", policy_file)
        hours = ALWAYS
    elif not isinstance(block, dict):
        raise ConfigError(f"{policy_file}: field 'contact.staffed' must be a mapping")
    else:
        hours = parse_staffed_hours(block, policy_file)
    with _lock:
        _cache[policy_file] = (stamp, hours)
    return hours
