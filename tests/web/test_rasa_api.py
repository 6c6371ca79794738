from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.web.conftest import RASA_URL, TOKEN, FakeRasa
from web.rasa_api import (
    RasaClient,
    RasaUnavailable,
    agent_message,
    handoff_notice,
    one_paragraph,
)


def client(rasa: FakeRasa, token: str = TOKEN) -> RasaClient:
    return RasaClient(RASA_URL, token, transport=rasa.transport)


def test_a_persons_reply_is_marked_and_one_paragraph() -> None:
    event = agent_message("Hello!\n\n\nI can help.", agent_id=3, agent_name="Sam")

    assert event["event"] == "bot"
    assert event["text"] == "Hello!\nI can help."  # socket.io would split it
    assert event["metadata"] == {
        "from_person": True,
        "agent_id": 3,
        "agent_name": "Sam",
    }
    assert event["data"]["custom"]["data"] == {
        "type": "agent_message",
        "agent": "Sam",
        "text": "Hello!\nI can help.",
    }


def test_a_notice_carries_its_state() -> None:
    event = handoff_notice("Sam joined.", state="joined", agent_name="Sam")

    assert event["metadata"]["handoff_notice"] == "joined"
    assert event["data"]["custom"]["data"]["state"] == "joined"
    assert one_paragraph("  a\n \nb ") == "a\nb"


def test_take_over_pauses_and_delivers_to_the_latest_channel() -> None:
    rasa = FakeRasa()
    notice = handoff_notice("Sam joined.", state="joined")

    asyncio.run(client(rasa).take_over("conv/1 ?x", notice))

    [(conversation, params, events)] = rasa.posted
    assert conversation == "conv/1 ?x"  # the id is quoted in the URL
    assert params == {"execute_side_effects": "true", "output_channel": "latest"}
    assert [e["event"] for e in events] == ["pause", "bot"]
    assert rasa.trackers["conv/1 ?x"]["paused"] is True


def test_hand_back_resumes_and_listens() -> None:
    rasa = FakeRasa()
    notice = handoff_notice("Back to the bot.", state="ended")

    asyncio.run(client(rasa).hand_back("c1", notice))

    [(_, _, events)] = rasa.posted
    assert [e["event"] for e in events] == ["bot", "resume", "action"]
    assert events[2]["name"] == "action_listen"


def test_tracker_is_read_with_the_token() -> None:
    rasa = FakeRasa()
    rasa.tracker("c1")["events"].append({"event": "user", "text": "hi"})

    tracker = asyncio.run(client(rasa).tracker("c1"))

    assert tracker["events"] == [{"event": "user", "text": "hi"}]


@pytest.mark.parametrize("problem", ["down", "bad token"])
def test_failures_are_rasa_unavailable(problem: str) -> None:
    rasa = FakeRasa()
    rasa.down = problem == "down"
    token = "wrong" if problem == "bad token" else TOKEN

    with pytest.raises(RasaUnavailable):
        asyncio.run(client(rasa, token).tracker("c1"))


def test_a_slow_rasa_times_out() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    rasa = RasaClient(RASA_URL, TOKEN, transport=httpx.MockTransport(slow))

    with pytest.raises(RasaUnavailable):
        asyncio.run(rasa.send("c1", {"event": "bot", "text": "x"}))
