"""The web app (Starlette): the storefront with the chat widget, and the agent console.

Routes:
    GET /                               the storefront page with the chat widget
    GET /products/{stock_code}          one product (the widget's cards link here)
    GET /api/identity?customer_id=N     signed identity metadata of a demo customer
    /api/chat/...                       the widget's endpoints (web.chat_api)
    /console/...                        the agent console (web.console.app)
    /console/inbox                      the trainer inbox (web.console.inbox)
    GET /healthz                        liveness
    GET /static/...                     widget and console scripts and styles
    GET /static/vendor/socket.io.min.js the socket.io client from web/node_modules
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from crm_models.errors import ArtifactMissing
from crm_models.identity import identity_metadata
from crm_models.settings import Settings, get_settings
from crm_models.store.db import session_factory
from crm_models.training.inbox import TrainerInbox
from web.chat_api import ChatApi
from web.console.app import Console
from web.console.auth import Auth, LoginThrottle
from web.console.inbox import InboxPages
from web.rasa_api import RasaClient
from web.security import session_middleware
from web.storefront import Storefront, shop_name

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
SOCKET_IO_CLIENT = (
    WEB_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
)
IDLE_TIMEOUT = timedelta(minutes=60)
MAX_SESSION_AGE = timedelta(hours=12)


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


def _default_scorer() -> Any:
    from crm_models.scoring.scorer import get_scorer

    return get_scorer()


def _default_recommender() -> Any:
    from crm_models.recommend.recommender import get_recommender

    try:
        return get_recommender()
    except ArtifactMissing:
        logger.warning("web.app.no_recommender (run make models)")
        return None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    headers = dict(exc.headers or {})
    if path.startswith(("/api/", "/console/api/")):
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=headers)
    return PlainTextResponse(str(exc.detail), exc.status_code, headers=headers)


def create_app(
    settings: Settings | None = None,
    *,
    sessions: sessionmaker[Session] | None = None,
    socket_io_client: Path = SOCKET_IO_CLIENT,
    rasa: RasaClient | None = None,
    scorer: Callable[[], Any] = _default_scorer,
    recommender: Callable[[], Any] = _default_recommender,
    clock: Callable[[], float] = time.time,
    idle_timeout: timedelta = IDLE_TIMEOUT,
    trainer_inbox: TrainerInbox | None = None,
) -> Starlette:
    """The web app for ``settings`` (the process settings by default).

    Args:
        settings: where the store, Rasa and the secrets are.
        sessions: session factory of the CRM store; made from ``settings`` if absent.
        socket_io_client: the socket.io browser bundle served to the widget.
        rasa: the Rasa HTTP API client; made from ``settings`` if absent.
        scorer: returns the customer scorer (the console's profile).
        recommender: returns the recommender, or ``None`` without an index.
        clock: wall-clock seconds, for agent session ages.
        idle_timeout: an agent session unused this long is over.
        trainer_inbox: the trainer inbox; made from ``settings`` if absent.
    """
    settings = settings or get_settings()
    sessions = sessions or session_factory(settings.database_url)
    rasa = rasa or RasaClient(settings.rasa_url, settings.rasa_token)
    storefront = Storefront(sessions, now=settings.now)
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    csp = content_security_policy(settings.rasa_url)
    name = shop_name(settings.policy_file)

    def page(request: Request, template: str, values: dict[str, Any]) -> Response:
        response = templates.TemplateResponse(
            request, template, {"shop_name": name, **values}
        )
        response.headers["Content-Security-Policy"] = csp
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    # The widget's settings object (see web/static/widget.js).
    chat_settings = {
        "rasaUrl": settings.rasa_url,
        "apiBase": "/api/chat",
        "identityUrl": "/api/identity",
        "identitySelect": "demo-identity",
        "productUrl": "/products/{stock_code}",
        "title": f"{name} assistant",
    }

    async def index(request: Request) -> Response:
        return page(
            request,
            "index.html",
            {
                "products": storefront.products(),
                "customers": storefront.demo_customers(),
                "chat_settings": chat_settings,
            },
        )

    async def product(request: Request) -> Response:
        card = storefront.product(request.path_params["stock_code"])
        if card is None:
            return PlainTextResponse("no such product", 404)
        return page(
            request, "product.html", {"product": card, "chat_settings": chat_settings}
        )

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

    auth = Auth(
        sessions,
        clock=clock,
        now=settings.now,
        idle_timeout=idle_timeout,
        max_age=MAX_SESSION_AGE,
        throttle=LoginThrottle(attempts=5, window=300.0, clock=clock),
    )
    console = Console(
        sessions=sessions,
        rasa=rasa,
        auth=auth,
        now=settings.now,
        scorer=scorer,
        recommender=recommender,
        templates=templates,
    )
    chat = ChatApi(sessions=sessions, rasa=rasa, now=settings.now)
    inbox = InboxPages(
        inbox=trainer_inbox or TrainerInbox(settings, sessions=sessions),
        auth=auth,
        templates=templates,
    )
    routes: list[BaseRoute] = [
        Route("/", index),
        Route("/products/{stock_code}", product),
        Route("/api/identity", identity),
        *chat.routes(),
        *console.routes(),
        *inbox.routes(),
        Route("/healthz", healthz),
        Route("/static/vendor/socket.io.min.js", socket_io),
        Mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static"),
    ]
    logger.info("web.app.created rasa=%s", settings.rasa_url)
    return Starlette(
        routes=routes,
        middleware=[session_middleware(settings)],
        exception_handlers={HTTPException: _http_error},
    )
