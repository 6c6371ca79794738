"""``python -m web``: serve the storefront with uvicorn on the configured address."""

from __future__ import annotations

import logging

import uvicorn

from crm_models.logs import configure_logging
from crm_models.settings import get_settings
from web.app import create_app


def main() -> None:
    """Run the web app until interrupted."""
    configure_logging(logging.INFO)
    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.web_host, port=settings.web_port)


if __name__ == "__main__":
    main()
