"""The storefront web app (Starlette): the page, the demo identity API, health.

Routes:
    GET /                               the storefront page with the chat widget
    GET /api/identity?customer_id=N     signed identity metadata of a demo customer
    GET /healthz                        liveness
    GET /static/...                     widget script and styles
    GET /static/vendor/socket.io.min.js the socket.io client from web/node_modules
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from crm_models.identity import identity_metadata
from crm_models.settings import Settings, get_settings
from crm_models.store.db import session_factory
from web.storefront import Storefront, shop_name

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
SOCKET_IO_CLIENT = (
    WEB_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
)


def content_security_policy(rasa_url: str) -> str:
    """Scripts, styles and images from this site only; sockets to Rasa."""
    rasa = urlsplit(rasa_url)
    ws_scheme = "wss" if rasa.scheme == "https" else "ws"
    return "; ".join(
        [
            "default-src 'self'",
            f"connect-src 'self' {rasa.scheme}://{rasa.netloc} "
            f"{ws_scheme}://{rasa.netloc}",
            "img-src 'self' https: data:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def create_app(
    settings: Settings | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    socket_io_client: Path = SOCKET_IO_CLIENT,
) -> Starlette:
    """The web app for ``settings`` (the process settings by default).

    Args:
        settings: where the store, Rasa and the identity secret are.
        sessions: session factory of the CRM store; made from ``settings`` if absent.
        socket_io_client: the socket.io browser bundle served to the widget.
    """
    settings = settings or get_settings()
    storefront = Storefront(sessions or session_factory(settings.database_url))
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    csp = content_security_policy(settings.rasa_url)
    name = shop_name(settings.policy_file)

    async def index(request: Request) -> Response:
        response = templates.TemplateResponse(
            request,
            "index.html",
            {
                "shop_name": name,
                "products": storefront.products(),
                "customers": storefront.demo_customers(),
                "rasa_url": settings.rasa_url,
            },
        )
        response.headers["Content-Security-Policy"] = csp
        return response

    async def identity(request: Request) -> Response:
        raw = request.query_params.get("customer_id", "")
        try:
            customer_id = int(raw)
        except ValueError:
            return JSONResponse({"error": "customer_id must be a number"}, 400)
        # Only the demo customers: this endpoint stands in for a real login.
        if not storefront.is_demo_customer(customer_id):
            return JSONResponse({"error": "not a demo customer"}, 404)
        return JSONResponse(
            identity_metadata(customer_id, settings.identity_secret),
            headers={"Cache-Control": "no-store"},
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def socket_io(request: Request) -> Response:
        if not socket_io_client.exists():
            logger.warning("web.app.no_socket_io_client path=%s", socket_io_client)
            return PlainTextResponse(
                "socket.io client missing: run `npm ci` in web/", 404
            )
        return FileResponse(socket_io_client, media_type="text/javascript")

    routes = [
        Route("/", index),
        Route("/api/identity", identity),
        Route("/healthz", healthz),
        Route("/static/vendor/socket.io.min.js", socket_io),
        Mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static"),
    ]
    logger.info("web.app.created rasa=%s", settings.rasa_url)
    return Starlette(routes=routes)
