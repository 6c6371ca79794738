from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from crm_models.logs import HTTP_LOGGERS, configure_logging


@pytest.fixture(autouse=True)
def _restore_http_log_levels() -> Iterator[None]:
    levels = {name: logging.getLogger(name).level for name in HTTP_LOGGERS}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _get_tracker() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    with httpx.Client(transport=transport) as client:
        client.get("http://127.0.0.1:5005/conversations/c1/tracker?token=s3cret")


def test_configure_logging_keeps_request_urls_and_tokens_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    with caplog.at_level(logging.INFO):
        _get_tracker()
    assert "token=s3cret" in caplog.text  # httpx logs the URL at INFO by itself
    caplog.clear()

    configure_logging(logging.INFO)
    with caplog.at_level(logging.INFO):
        _get_tracker()
        logging.getLogger("httpx").warning("still shown")

    assert "s3cret" not in caplog.text
    assert [r.name for r in caplog.records] == ["httpx"]
    assert caplog.records[0].getMessage() == "still shown"
    assert all(
        logging.getLogger(name).level == logging.WARNING for name in HTTP_LOGGERS
    )
