"""The action server's services: settings, store sessions, scorer, recommender, policy.

Built on first use, never at import (rasa-sdk imports this package twice). Tests swap
in their own with :func:`use_services`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actions.shop_policy import PolicyFile, ShopPolicy

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crm_models.recommend.recommender import Recommender
    from crm_models.scoring.scorer import CustomerScorer
    from crm_models.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What actions need from the outside world, each behind a zero-argument call."""

    settings: Settings
    session_scope: Callable[[], AbstractContextManager[Session]]
    scorer: Callable[[], CustomerScorer]
    recommender: Callable[[], Recommender]
    policy: Callable[[], ShopPolicy]


def default_services(settings: Settings | None = None) -> Services:
    """Services backed by the configured CRM store, models and policy file."""
    from crm_models.settings import get_settings
    from crm_models.store.db import session_scope

    settings = settings or get_settings()
    policy_file = PolicyFile(settings.policy_file)

    def scorer() -> CustomerScorer:
        from crm_models.scoring.scorer import get_scorer

        return get_scorer()

    def recommender() -> Recommender:
        from crm_models.recommend.recommender import get_recommender

        return get_recommender()

    return Services(
        settings=settings,
        session_scope=lambda: session_scope(settings.database_url),
        scorer=scorer,
        recommender=recommender,
        policy=policy_file.get,
    )


_lock = threading.Lock()
_current: Services | None = None


def get_services() -> Services:
    """The process's services, built on first use."""
    global _current
    with _lock:
        if _current is None:
            _current = default_services()
            logger.info("services.ready")
        return _current


def use_services(services: Services | None) -> None:
    """Replace the process's services (``None``: build the defaults on next use)."""
    global _current
    with _lock:
        _current = services
