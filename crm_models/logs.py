"""Logging set-up shared by the project's processes (web, consumer, training tools)."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(name)s %(message)s"
# httpx logs every request URL at INFO, and a Rasa HTTP API URL carries the API token
# (``?token=...``); httpcore is quiet at INFO but joins it for DEBUG runs.
HTTP_LOGGERS = ("httpx", "httpcore")


def quiet_http_logs() -> None:
    """Keep the HTTP client libraries to warnings, so no request URL is logged."""
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: int = logging.INFO) -> None:
    """Log to stderr at ``level`` in the project's format, without request URLs."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    quiet_http_logs()
