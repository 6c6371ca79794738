"""Helpers of the trainer inbox tests: a small Rasa project, messages, fakes.

The project is written under the test's temporary folder, so no test ever reads or
changes the repository's ``data/`` or ``bot/``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from crm_models.settings import Settings
from crm_models.store.schema import (
    ChatFeedback,
    ChatFeedbackKind,
    MessageLog,
    Ticket,
    TicketStatus,
)
from crm_models.training.nlu_data import ValidateResult

T0 = datetime(2025, 6, 13, 9, 0, tzinfo=timezone.utc)

DOMAIN = """\
version: "3.1"
intents:
  - track_order
  - cancel_order
  - contact_human_agent
  - complaint
  - greet
  - out_of_scope
  - nlu_fallback
entities:
  - order_number
"""
DOMAIN_MORE = """\
version: "3.1"
intents:
  - product_recommendation:
      use_entities: [product]
entities:
  - product
responses:
  utter_greet:
    - text: Hello!
"""
ORDERS = """\
version: "3.1"

# Hand-written: the inbox must never change this file.
nlu:
- intent: track_order
  examples: |
    - where is my order
    - track order [541812](order_number)
- intent: cancel_order
  examples: |
    - cancel my order
    - stop my parcel
"""
SMALLTALK = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
- regex: order_number
  examples: |
    - \\b5[3-8]\\d{4}\\b
"""


@dataclass(frozen=True)
class Project:
    """A small Rasa project: domain, config and NLU data under one folder."""

    root: Path

    @property
    def nlu_dir(self) -> Path:
        return self.root / "data" / "nlu"

    @property
    def inbox_file(self) -> Path:
        return self.nlu_dir / "inbox.yml"

    @property
    def hand_written(self) -> list[Path]:
        return sorted(p for p in self.nlu_dir.glob("*.yml") if p.name != "inbox.yml")

    def snapshot(self) -> dict[str, bytes]:
        """The bytes of every hand-written file, to check nothing changed."""
        return {p.name: p.read_bytes() for p in self.hand_written}


def make_project(root: Path) -> Project:
    """Write the small project under ``root``."""
    (root / "bot" / "domain").mkdir(parents=True)
    (root / "data" / "nlu").mkdir(parents=True)
    (root / "bot" / "domain" / "intents.yml").write_text(DOMAIN, encoding="utf-8")
    (root / "bot" / "domain" / "more.yml").write_text(DOMAIN_MORE, encoding="utf-8")
    (root / "bot" / "config.yml").write_text("language: en\n", encoding="utf-8")
    (root / "data" / "nlu" / "orders.yml").write_text(ORDERS, encoding="utf-8")
    (root / "data" / "nlu" / "smalltalk.yml").write_text(SMALLTALK, encoding="utf-8")
    return Project(root)


def project_settings(tmp_path: Path, project: Project, **env: str) -> Settings:
    """Settings whose store, var folder and training data are all under tmp_path."""
    return Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path / "var"),
            "SHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
            "SHOP_IDENTITY_SECRET": "s",
            "SHOP_RASA_TOKEN": "t",
            "SHOP_NLU_DIR": str(project.nlu_dir),
            "SHOP_DATA_DIR": str(project.root / "data"),
            "SHOP_DOMAIN_DIR": str(project.root / "bot" / "domain"),
            "SHOP_RASA_CONFIG": str(project.root / "bot" / "config.yml"),
            **{f"SHOP_{name.upper()}": value for name, value in env.items()},
        }
    )


def bag_of_words(texts: Sequence[str]) -> np.ndarray:
    """A stand-in encoder: L2-normalised hashed word counts (no model)."""
    rows = np.zeros((len(texts), 4096), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z]+", text.lower()):
            rows[row, zlib.crc32(word.encode()) % 4096] += 1.0
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


class CountingEncoder:
    """``bag_of_words`` that remembers what it was asked to encode."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return bag_of_words(texts)


@dataclass
class FakeValidate:
    """``rasa data validate`` stand-in: records each call and the inbox file then."""

    inbox_file: Path
    ok: bool = True
    calls: list[tuple[list[str], Path, dict[str, str]]] = field(default_factory=list)
    seen: list[str | None] = field(default_factory=list)

    def __call__(
        self, command: Sequence[str], cwd: Path, env: Mapping[str, str]
    ) -> ValidateResult:
        self.calls.append((list(command), cwd, dict(env)))
        exists = self.inbox_file.exists()
        self.seen.append(
            self.inbox_file.read_text(encoding="utf-8") if exists else None
        )
        if self.ok:
            return ValidateResult(True, 0, ["No story structure conflicts found."])
        return ValidateResult(
            False, 1, ["YamlSyntaxException: Failed to read 'inbox.yml'.", "line 3"]
        )


class Messages:
    """Adds message log rows, tickets and ratings to a store."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self.count = 0

    def add(
        self,
        text: str,
        *,
        intent: str | None = "track_order",
        confidence: float | None = 0.95,
        runner_up: str | None = "cancel_order",
        runner_up_confidence: float | None = 0.02,
        conversation: str = "c1",
        minute: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> int:
        """One customer message; ``minute`` after T0 (by default, the next one)."""
        self.count += 1
        at = T0 + timedelta(minutes=self.count if minute is None else minute)
        with self.sessions() as session, session.begin():
            row = MessageLog(
                event_key=f"key-{self.count}-{text}"[:64],
                conversation_id=conversation,
                sent_at=at,
                text_masked=text,
                intent=intent,
                confidence=confidence,
                runner_up=runner_up,
                runner_up_confidence=runner_up_confidence,
                entities=entities or [],
            )
            session.add(row)
            session.flush()
            return row.id

    def fallback(self, text: str, *, guess: str = "track_order", **kwargs: Any) -> int:
        """A message NLU fell back on, ``guess`` being the classifier's runner-up."""
        return self.add(
            text,
            intent="nlu_fallback",
            confidence=0.3,
            runner_up=guess,
            runner_up_confidence=0.25,
            **kwargs,
        )

    def ticket(self, conversation: str, minute: int) -> None:
        """A hand-off of ``conversation`` at ``minute`` after T0."""
        at = T0 + timedelta(minutes=minute)
        with self.sessions() as session, session.begin():
            session.add(
                Ticket(
                    conversation_id=conversation,
                    reason="customer_request",
                    priority=3,
                    status=TicketStatus.OPEN,
                    summary="",
                    created_at=at,
                    updated_at=at,
                )
            )

    def thumbs(self, conversation: str, minute: int, rating: int = -1) -> None:
        """A thumbs up or down on a bot message at ``minute`` after T0."""
        at = T0 + timedelta(minutes=minute)
        with self.sessions() as session, session.begin():
            session.add(
                ChatFeedback(
                    conversation_id=conversation,
                    kind=ChatFeedbackKind.MESSAGE,
                    message_seq=minute,
                    response="utter_default",
                    rating=rating,
                    created_at=at,
                    updated_at=at,
                )
            )
