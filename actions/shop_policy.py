"""The shop's policy file (``bot/shop_policy.yml``): its model and a cached reader.

The file is the shop's to edit. :class:`PolicyFile` reads it lazily, keeps the parsed
:class:`ShopPolicy` and reads it again when the file's modification time or size
changes. Anything wrong with the file raises :class:`~crm_models.errors.ConfigError`
with a message naming the file and the field, for the operator's log.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from crm_models.errors import ConfigError

logger = logging.getLogger(__name__)

ACCOUNT_HELP_TOPICS = (
    "create_account",
    "delete_account",
    "edit_account",
    "recover_password",
    "registration_problems",
    "switch_account",
    "set_up_shipping_address",
    "change_shipping_address",
    "place_order",
)


@dataclass(frozen=True)
class DeliveryOption:
    """One way of delivering an order."""

    name: str
    price_pence: int
    days: str


@dataclass(frozen=True)
class Contact:
    """How customers reach people at the shop."""

    email: str
    phone: str
    staffed_hours: str
    response_time: str


@dataclass(frozen=True)
class ShopPolicy:
    """Everything the assistant says about the shop's rules, as the shop wrote it."""

    shop_name: str
    currency: str
    order_number_digits: int
    recent_order_days: int
    max_lookup_failures: int
    refund_window_days: int
    refund_processing_days: int
    high_risk_review: bool
    cancellation_fee_pence: int
    free_delivery_over_pence: int
    delivery_options: tuple[DeliveryOption, ...]
    payment_methods: tuple[str, ...]
    contact: Contact
    review_url: str
    account_help: Mapping[str, str]


class _Reader:
    """Typed access to the parsed YAML; every error names the file and field."""

    def __init__(self, path: Path, data: Any, prefix: str = "") -> None:
        self.path = path
        self.prefix = prefix
        if not isinstance(data, dict):
            where = f"field '{prefix.rstrip('.')}'" if prefix else "the file"
            raise ConfigError(f"{path}: {where} must hold a mapping")
        self.data = data

    def fail(self, field: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: field '{self.prefix}{field}' {problem}")

    def raw(self, field: str, data: Any = None) -> Any:
        node = self.data if data is None else data
        for part in field.split("."):
            if not isinstance(node, dict) or part not in node:
                raise self.fail(field, "is missing")
            node = node[part]
        return node

    def text(self, field: str) -> str:
        value = self.raw(field)
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(field, "must be text")
        value = str(value).strip()
        if not value:
            raise self.fail(field, "must not be empty")
        return value

    def whole(self, field: str, *, minimum: int = 0) -> int:
        value = self.raw(field)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"must be a whole number, got {value!r}")
        if value < minimum:
            raise self.fail(field, f"must be at least {minimum}, got {value}")
        return value

    def flag(self, field: str) -> bool:
        value = self.raw(field)
        if not isinstance(value, bool):
            raise self.fail(field, f"must be true or false, got {value!r}")
        return value

    def text_list(self, field: str) -> tuple[str, ...]:
        values = self.raw(field)
        if not isinstance(values, list) or not values:
            raise self.fail(field, "must be a non-empty list")
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise self.fail(field, "must list non-empty texts")
        return tuple(v.strip() for v in values)

    def delivery_options(self, field: str) -> tuple[DeliveryOption, ...]:
        values = self.raw(field)
        if not isinstance(values, list) or not values:
            raise self.fail(field, "must be a non-empty list")
        options = []
        for i, item in enumerate(values):
            sub = _Reader(self.path, item, prefix=f"{self.prefix}{field}[{i}].")
            options.append(
                DeliveryOption(
                    name=sub.text("name"),
                    price_pence=sub.whole("price_pence"),
                    days=sub.text("days"),
                )
            )
        return tuple(options)


def parse_policy(path: Path, text: str) -> ShopPolicy:
    """Parse and check the policy file's ``text``.

    Raises:
        ConfigError: the text is not YAML or a field is missing or invalid; the
            message names ``path`` and the field.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from exc
    r = _Reader(path, data)
    return ShopPolicy(
        shop_name=r.text("shop.name"),
        currency=r.text("shop.currency").upper(),
        order_number_digits=r.whole("orders.number_digits", minimum=1),
        recent_order_days=r.whole("orders.recent_days"),
        max_lookup_failures=r.whole("orders.max_lookup_failures", minimum=1),
        refund_window_days=r.whole("refunds.window_days"),
        refund_processing_days=r.whole("refunds.processing_days"),
        high_risk_review=r.flag("refunds.high_risk_review"),
        cancellation_fee_pence=r.whole("cancellation.fee_pence"),
        free_delivery_over_pence=r.whole("delivery.free_over_pence"),
        delivery_options=r.delivery_options("delivery.options"),
        payment_methods=r.text_list("payment_methods"),
        contact=Contact(
            email=r.text("contact.email"),
            phone=r.text("contact.phone"),
            staffed_hours=r.text("contact.staffed_hours"),
            response_time=r.text("contact.response_time"),
        ),
        review_url=r.text("reviews.url"),
        account_help={t: r.text(f"account_help.{t}") for t in ACCOUNT_HELP_TOPICS},
    )


class PolicyFile:
    """The policy file at ``path``, parsed on first use and again after each change.

    Thread-safe: actions run in worker threads. A broken file raises ``ConfigError``
    on every use until it is fixed (and is parsed once per version of the file).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._policy: ShopPolicy | None = None
        self._error: ConfigError | None = None

    def get(self) -> ShopPolicy:
        """The current policy.

        Raises:
            ConfigError: the file is missing, unreadable or invalid.
        """
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise ConfigError(f"{self.path}: policy file not found") from exc
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._load(stamp)
            if self._error is not None:
                raise self._error
            assert self._policy is not None
            return self._policy

    def _load(self, stamp: tuple[int, int]) -> None:
        self._stamp = stamp
        try:
            text = self.path.read_text(encoding="utf-8")
            self._policy, self._error = parse_policy(self.path, text), None
            logger.info("policy.loaded path=%s", self.path)
        except OSError as exc:
            # The action that asked logs the error (the error boundary).
            self._policy = None
            self._error = ConfigError(f"{self.path}: cannot be read ({exc.strerror})")
        except ConfigError as exc:
            self._policy, self._error = None, exc
