"""Session cookie and cross-site request forgery protection for the web app.

One signed session cookie (Starlette's ``SessionMiddleware``, key from
``settings.session_secret``) carries the visitor's chat id, the logged-in agent and a
random CSRF token. Every state-changing request must echo that token, in the
``X-CSRF-Token`` header (scripts) or the ``csrf_token`` form field (forms); a page
from another site can read neither.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from crm_models.settings import Settings

logger = logging.getLogger(__name__)

COOKIE = "shop_session"
CSRF_KEY = "csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
COOKIE_DAYS = 14


def session_middleware(settings: Settings) -> Middleware:
    """The signed-cookie session middleware for ``settings``.

    The cookie is marked ``Secure`` (sent over HTTPS only) when ``SHOP_HTTPS_ONLY``
    is on, as it should be wherever the page is served over TLS.
    """
    return Middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie=COOKIE,
        max_age=COOKIE_DAYS * 24 * 3600,
        same_site="lax",
        https_only=settings.https_only,
    )


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


def new_csrf_token(request: Request) -> str:
    """Replace the session's CSRF token (after logging in or out)."""
    request.session[CSRF_KEY] = secrets.token_urlsafe(32)
    return str(request.session[CSRF_KEY])


def check_csrf(request: Request, supplied: str | None = None) -> None:
    """Refuse the request unless it carries the session's CSRF token.

    Args:
        supplied: the token from a form field; the header is used when absent.

    Raises:
        HTTPException: 403 when the token is missing or wrong.
    """
    expected = request.session.get(CSRF_KEY)
    given = supplied if supplied is not None else request.headers.get(CSRF_HEADER)
    if (
        not isinstance(expected, str)
        or not expected
        or not given
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        logger.warning("security.csrf_refused path=%s", request.url.path)
        raise HTTPException(403, "missing or wrong CSRF token")
