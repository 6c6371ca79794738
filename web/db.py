"""Running store work from async handlers: one transaction in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


async def in_transaction(
    sessions: sessionmaker[Session], work: Callable[[Session], T]
) -> T:
    """Run ``work(session)`` in a thread; commit on return, roll back on error."""

    def run() -> T:
        with sessions() as session, session.begin():
            return work(session)

    return await run_in_threadpool(run)
