"""The trainer inbox page: groups, a form per group, decisions and their warnings."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_models.settings import Settings
from crm_models.store.schema import InboxDecision, InboxDecisionKind
from crm_models.training.inbox import TrainerInbox
from crm_models.training.nlu_data import ValidateResult
from tests.crm_models.training.inbox_support import (
    FakeValidate,
    Messages,
    Project,
    bag_of_words,
    make_project,
)
from tests.web.conftest import RASA_URL, TOKEN, Clock, FakeRasa, FakeScorer
from tests.web.console.conftest import Agent
from web.app import create_app
from web.rasa_api import RasaClient


class ThreadCheckingValidate(FakeValidate):
    """Also notes whether it ran off the event loop's thread."""

    off_loop: list[bool]

    def __call__(
        self, command: Sequence[str], cwd: Path, env: Mapping[str, str]
    ) -> ValidateResult:
        try:
            asyncio.get_running_loop()
            self.off_loop.append(False)
        except RuntimeError:
            self.off_loop.append(True)
        return super().__call__(command, cwd, env)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "project")


@pytest.fixture
def validate(project: Project) -> ThreadCheckingValidate:
    runner = ThreadCheckingValidate(project.inbox_file)
    runner.off_loop = []
    return runner


@pytest.fixture
def app(
    settings: Settings,
    sessions: sessionmaker[Session],
    rasa: FakeRasa,
    clock: Clock,
    project: Project,
    validate: ThreadCheckingValidate,
) -> Any:
    inbox_settings = dataclasses.replace(
        settings,
        nlu_dir=project.nlu_dir,
        data_dir=project.root / "data",
        domain_dir=project.root / "bot" / "domain",
        rasa_config=project.root / "bot" / "config.yml",
    )
    return create_app(
        settings,
        sessions=sessions,
        rasa=RasaClient(RASA_URL, TOKEN, transport=rasa.transport),
        scorer=FakeScorer,
        recommender=lambda: None,
        clock=clock,
        trainer_inbox=TrainerInbox(
            inbox_settings, sessions=sessions, encoder=bag_of_words, runner=validate
        ),
    )


@pytest.fixture
def messages(sessions: sessionmaker[Session]) -> Messages:
    return Messages(sessions)


def post(agent: Agent, fields: dict[str, Any]) -> Any:
    return agent.client.post(
        "/console/inbox", data={"csrf_token": agent.csrf, **fields}
    )


def recorded(sessions: sessionmaker[Session]) -> list[InboxDecision]:
    with sessions() as session:
        return list(session.scalars(select(InboxDecision)))


def test_the_page_needs_a_logged_in_agent(client) -> None:
    response = client.get("/console/inbox", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"


def test_the_console_links_to_the_inbox(sam: Agent) -> None:
    assert 'href="/console/inbox"' in sam.get("/console").text


def test_only_trainers_see_and_use_the_inbox(
    kim: Agent, messages, sessions, sam: Agent
) -> None:
    group = messages.fallback("where is my parcel")

    page = kim.get("/console/inbox")
    posted = post(kim, {"action": "skip", "group": str(group), "ids": str(group)})

    assert 'href="/console/inbox"' not in kim.get("/console").text
    assert (page.status_code, posted.status_code) == (403, 403)
    assert "web.console.agents trainer" in page.text
    assert "where is my parcel" not in page.text
    assert recorded(sessions) == []


def test_groups_are_listed_with_everything_escaped(sam: Agent, messages) -> None:
    for _ in range(2):
        messages.fallback("<script>alert(1)</script> where is my parcel")
    messages.fallback("is it going to rain", guess="greet")

    page = sam.get("/console/inbox")

    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; where is my parcel" in page.text
    assert page.text.index("where is my parcel") < page.text.index("going to rain")
    assert "fallback 2" in page.text
    assert '<option value="track_order" selected>' in page.text  # the guess
    assert 'value="nlu_fallback"' not in page.text  # not a label
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert page.headers["Cache-Control"] == "no-store"


def test_labelling_a_group_records_and_writes(
    sam: Agent, messages, sessions, project, validate
) -> None:
    ids = [messages.fallback("wheres my parcel gone") for _ in range(2)]

    response = post(
        sam,
        {
            "group": str(ids[0]),
            "message_ids": ",".join(map(str, ids)),
            "intent": "track_order",
            "text": "where has parcel [553107](order_number) gone",
            "action": "label",
        },
    )

    assert response.status_code == 200
    assert "labelled 2 message(s) as track_order (corrected)." in response.text
    assert "rasa data validate passed" in response.text
    [decision] = recorded(sessions)
    assert (decision.trainer, decision.message_ids) == ("sam", ids)
    assert "- where has parcel [553107](order_number) gone" in (
        project.inbox_file.read_text(encoding="utf-8")
    )
    assert validate.off_loop == [True]  # validated in a worker thread
    assert "wheres my parcel gone" not in response.text  # left the inbox
    assert f"Undo decision {decision.id}</button>" in response.text


def test_a_decision_is_undone_from_the_page(
    sam: Agent, kim: Agent, messages, sessions, project
) -> None:
    group = messages.fallback("wheres my parcel gone")
    post(
        sam,
        {
            "group": str(group),
            "message_ids": str(group),
            "intent": "track_order",
            "text": "where has parcel [553107](order_number) gone",
            "action": "label",
        },
    )
    [decision] = recorded(sessions)
    undo = {"decision": str(decision.id)}

    def press(agent: Agent) -> Any:
        return agent.client.post(
            "/console/inbox/undo", data={"csrf_token": agent.csrf, **undo}
        )

    refused = press(kim)  # not a trainer
    done = press(sam)
    again = press(sam)
    forged = sam.client.post(
        "/console/inbox/undo", data={"csrf_token": "wrong", **undo}
    )

    assert refused.status_code == 403
    assert done.status_code == 200
    assert f"Decision {decision.id} taken back: 1 message(s) back" in done.text
    assert "Removed 1 example(s) from inbox.yml" in done.text
    assert "wheres my parcel gone" in done.text  # back in the inbox
    assert "553107" not in project.inbox_file.read_text(encoding="utf-8")
    assert (again.status_code, forged.status_code) == (404, 403)


def test_a_conflict_is_shown_and_the_typed_text_kept(
    sam: Agent, messages, sessions, project
) -> None:
    message_id = messages.fallback("cancel my order")

    response = post(
        sam,
        {
            "group": str(message_id),
            "message_ids": str(message_id),
            "intent": "greet",
            "text": "Cancel my order!",
            "action": "label",
        },
    )

    assert response.status_code == 409
    assert "Nothing saved" in response.text
    assert "Warning: &#39;Cancel my order!&#39; is already an example of" in (
        response.text
    )
    # what the trainer chose and typed is still in the form, to force or change
    assert '<option value="greet" selected>' in response.text
    assert ">Cancel my order!</textarea>" in response.text
    assert recorded(sessions) == []
    assert not project.inbox_file.exists()


def test_only_ticked_messages_are_skipped(sam: Agent, messages, sessions) -> None:
    keep = messages.fallback("where is my parcel")
    drop = messages.fallback("where is my parcel please")

    response = post(
        sam, {"group": str(keep), "message_ids": str(drop), "action": "skip"}
    )

    assert response.status_code == 200
    assert "skipped 1 message(s)." in response.text
    [decision] = recorded(sessions)
    assert decision.kind is InboxDecisionKind.SKIPPED
    assert decision.message_ids == [drop]


def test_out_of_scope_writes_the_example(sam: Agent, messages, project) -> None:
    message_id = messages.add("will it rain", intent="out_of_scope")

    response = post(
        sam,
        {
            "message_ids": str(message_id),
            "text": "will it rain",
            "action": "out_of_scope",
        },
    )

    assert response.status_code == 200
    assert "as out_of_scope (out_of_scope)" in response.text
    assert "- will it rain" in project.inbox_file.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        # masked personal data is refused
        ({"text": "where is [ORDER]"}, 400, "placeholder(s) [ORDER]"),
        # a cleared example box is not the suggestion
        ({"text": "  \n "}, 400, "the example is empty"),
        # the fallback is no label
        ({"intent": "nlu_fallback"}, 400, "not a label"),
        # nothing ticked
        ({"message_ids": ""}, 400, "tick at least one message"),
    ],
)
def test_bad_decisions_are_explained(
    sam: Agent, messages, sessions, fields, status, says
) -> None:
    message_id = messages.fallback("where is it")
    form = {
        "message_ids": str(message_id),
        "intent": "track_order",
        "text": "where is it",
        "action": "label",
        **fields,
    }

    response = post(sam, form)

    assert response.status_code == status
    assert says in response.text
    assert recorded(sessions) == []


def test_a_decision_needs_the_csrf_token(sam: Agent, messages, sessions) -> None:
    message_id = messages.fallback("where is it")

    response = sam.client.post(
        "/console/inbox",
        data={"message_ids": str(message_id), "action": "skip", "csrf_token": "x"},
    )

    assert response.status_code == 403
    assert recorded(sessions) == []


def test_deciding_twice_says_so(sam: Agent, messages, sessions) -> None:
    message_id = messages.fallback("where is it")
    post(sam, {"message_ids": str(message_id), "action": "skip"})

    again = post(sam, {"message_ids": str(message_id), "action": "skip"})

    assert again.status_code == 409
    assert "were decided already" in again.text
    assert len(recorded(sessions)) == 1
