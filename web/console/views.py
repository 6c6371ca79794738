"""Turning the console's dataclasses into JSON-ready values."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from enum import Enum
from typing import Any

from crm_models.store.schema import Resolution

RESOLUTION_LABELS = {
    Resolution.RESOLVED: "Resolved",
    Resolution.INFORMATION_GIVEN: "Information given",
    Resolution.ORDER_CHANGED: "Order changed or cancelled",
    Resolution.REFUND_APPROVED: "Refund approved",
    Resolution.REFUND_REJECTED: "Refund rejected",
    Resolution.CUSTOMER_LEFT: "Customer left",
    Resolution.DUPLICATE: "Duplicate",
    Resolution.ESCALATED: "Escalated",
}


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses, datetimes and enums made JSON-friendly."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def resolutions() -> list[dict[str, str]]:
    """The resolution codes an agent picks from when closing."""
    return [{"code": r.value, "label": RESOLUTION_LABELS[r]} for r in Resolution]
