"""Fixtures shared by the trainer inbox's tests (its API and its command line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from crm_models.settings import Settings
from crm_models.store.db import session_factory
from crm_models.training.inbox import TrainerInbox
from tests.crm_models.training.inbox_support import (
    T0,
    FakeValidate,
    Messages,
    Project,
    bag_of_words,
    make_project,
    project_settings,
)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "project")


@pytest.fixture
def settings(tmp_path: Path, project: Project) -> Settings:
    return project_settings(tmp_path, project)


@pytest.fixture
def sessions(settings: Settings) -> sessionmaker[Session]:
    return session_factory(settings.database_url)


@pytest.fixture
def messages(sessions: sessionmaker[Session]) -> Messages:
    return Messages(sessions)


@pytest.fixture
def validate(project: Project) -> FakeValidate:
    return FakeValidate(project.inbox_file)


@pytest.fixture
def inbox(
    settings: Settings, sessions: sessionmaker[Session], validate: FakeValidate
) -> TrainerInbox:
    return TrainerInbox(
        settings,
        sessions=sessions,
        encoder=bag_of_words,
        runner=validate,
        clock=lambda: T0,
    )
