"""Signed customer identity carried in message metadata.

The shop's web server knows who is logged in; it puts ``{"customer_id": "12347",
"customer_sig": "<hex>"}`` into the chat message metadata. Actions trust the id only
when the signature verifies, so a visitor cannot read another customer's orders by
typing a different id into the widget.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

ID_KEY = "customer_id"
SIG_KEY = "customer_sig"


def sign(customer_id: int | str, secret: str) -> str:
    """The hex HMAC-SHA256 signature of ``customer_id`` under ``secret``."""
    message = f"customer:{customer_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def identity_metadata(customer_id: int | str, secret: str) -> dict[str, str]:
    """The metadata a trusted front end sends with each message for a customer."""
    return {ID_KEY: str(customer_id), SIG_KEY: sign(customer_id, secret)}


def verified_customer_id(metadata: Mapping[str, Any] | None, secret: str) -> int | None:
    """The customer id in ``metadata`` if its signature verifies, else ``None``."""
    if not metadata:
        return None
    raw_id, sig = metadata.get(ID_KEY), metadata.get(SIG_KEY)
    if raw_id is None or not isinstance(sig, str):
        return None
    try:
        customer_id = int(str(raw_id))
    except ValueError:
        return None
    if not hmac.compare_digest(sign(customer_id, secret), sig):
        return None
    return customer_id
