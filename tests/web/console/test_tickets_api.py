"""The console's ticket API: claim, reply, notes, close, with Rasa faked."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_models.store.schema import AgentEvent, AgentEventKind, Ticket, TicketStatus
from tests.web.conftest import FakeRasa
from tests.web.console.conftest import Agent


def test_the_queue_lists_the_waiting_customer(sam: Agent, ticket_id: int) -> None:
    body = sam.get("/console/api/queue").json()

    [entry] = body["tickets"]
    assert entry["ticket_id"] == ticket_id
    assert entry["customer_name"] == "Ada <Lovelace>"  # the page writes it as text
    assert (entry["status"], entry["mine"]) == ("open", False)
    assert body["me"]["name"] == "Sam Jones"


def test_claim_pauses_the_bot_and_tells_the_customer(
    sam: Agent, ticket_id: int, rasa: FakeRasa
) -> None:
    claimed = sam.post(f"/console/api/tickets/{ticket_id}/claim")
    again = sam.post(f"/console/api/tickets/{ticket_id}/claim")

    assert claimed.json() == {"ok": True, "claimed": True}
    assert again.json() == {"ok": True, "claimed": False}  # no second notice
    [(conversation, params, events)] = rasa.posted
    assert conversation == "conv-1"
    assert params == {"execute_side_effects": "true", "output_channel": "latest"}
    assert [e["event"] for e in events] == ["pause", "bot"]
    assert events[1]["text"] == (
        "Sam Jones from our customer service team has joined the chat."
    )
    view = sam.get(f"/console/api/tickets/{ticket_id}").json()
    assert view["mine"] is True
    assert view["transcript"]["handoff"] == "agent"


def test_a_ticket_claimed_by_another_agent_is_read_only(
    sam: Agent, kim: Agent, ticket_id: int, rasa: FakeRasa
) -> None:
    sam.post(f"/console/api/tickets/{ticket_id}/claim")

    view = kim.get(f"/console/api/tickets/{ticket_id}")
    claim = kim.post(f"/console/api/tickets/{ticket_id}/claim")
    reply = kim.post(f"/console/api/tickets/{ticket_id}/reply", {"text": "Hi!"})
    release = kim.post(f"/console/api/tickets/{ticket_id}/release")
    close = kim.post(
        f"/console/api/tickets/{ticket_id}/close", {"resolution": "resolved"}
    )

    assert view.status_code == 200
    body = view.json()
    assert (body["mine"], body["claimed_by_other"]) == (False, True)
    assert body["ticket"]["assigned_name"] == "Sam Jones"
    assert body["transcript"]["entries"][0]["text"] == "a person please"
    for refused in (claim, reply, release, close):
        assert refused.status_code == 409
        assert refused.json() == {"error": "claimed by sam"}
    assert len(rasa.posted) == 1  # only Sam's claim reached Rasa


def test_a_reply_reaches_the_customer_marked_as_a_person(
    sam: Agent, ticket_id: int, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    sam.post(f"/console/api/tickets/{ticket_id}/claim")

    response = sam.post(
        f"/console/api/tickets/{ticket_id}/reply", {"text": "Hello Ada,\n\nI'm Sam."}
    )

    assert response.json() == {"ok": True}
    _, params, [event] = rasa.posted[-1]
    assert params["output_channel"] == "latest"
    assert event["text"] == "Hello Ada,\nI'm Sam."
    assert event["metadata"]["from_person"] is True
    assert event["data"]["custom"]["data"]["type"] == "agent_message"
    with sessions() as db:
        kinds = db.scalars(select(AgentEvent.kind).order_by(AgentEvent.id)).all()
        first_reply = db.scalars(
            select(AgentEvent.seconds).where(AgentEvent.kind == AgentEventKind.REPLIED)
        ).one()
    assert kinds == [AgentEventKind.CLAIMED, AgentEventKind.REPLIED]
    assert first_reply == 0.0  # the demo clock stands still


def test_replying_needs_a_claim_text_and_token(sam: Agent, ticket_id: int) -> None:
    unclaimed = sam.post(f"/console/api/tickets/{ticket_id}/reply", {"text": "Hi"})
    sam.post(f"/console/api/tickets/{ticket_id}/claim")
    empty = sam.post(f"/console/api/tickets/{ticket_id}/reply", {"text": "  "})
    too_long = sam.post(f"/console/api/tickets/{ticket_id}/reply", {"text": "x" * 2001})
    no_token = sam.client.post(
        f"/console/api/tickets/{ticket_id}/reply", json={"text": "Hi"}
    )
    missing = sam.post("/console/api/tickets/999/reply", {"text": "Hi"})

    assert unclaimed.status_code == 403
    assert (empty.status_code, too_long.status_code) == (400, 400)
    assert no_token.status_code == 403
    assert missing.status_code == 404


def test_notes_are_private_and_listed(sam: Agent, kim: Agent, ticket_id: int) -> None:
    sam.post(f"/console/api/tickets/{ticket_id}/claim")

    kim.post(f"/console/api/tickets/{ticket_id}/notes", {"text": "VIP, be quick"})

    notes = sam.get(f"/console/api/tickets/{ticket_id}").json()["ticket"]["notes"]
    assert [(n["author"], n["text"]) for n in notes] == [("Kim Lee", "VIP, be quick")]


def test_close_hands_back_to_the_bot_with_a_resolution(
    sam: Agent, ticket_id: int, rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    sam.post(f"/console/api/tickets/{ticket_id}/claim")
    bad = sam.post(f"/console/api/tickets/{ticket_id}/close", {"resolution": "meh"})

    closed = sam.post(
        f"/console/api/tickets/{ticket_id}/close", {"resolution": "information_given"}
    )

    assert bad.status_code == 400
    assert closed.json() == {"ok": True}
    _, _, events = rasa.posted[-1]
    assert [e["event"] for e in events] == ["bot", "resume", "action"]
    assert "handed you back to the shop assistant" in events[0]["text"]
    assert rasa.trackers["conv-1"]["paused"] is False
    with sessions() as db:
        ticket = db.get(Ticket, ticket_id)
        close = db.scalars(
            select(AgentEvent).where(AgentEvent.kind == AgentEventKind.CLOSED)
        ).one()
    assert ticket.status is TicketStatus.CLOSED
    assert close.resolution.value == "information_given"
    view = sam.get(f"/console/api/tickets/{ticket_id}").json()
    assert view["ticket"]["timings"]["resolution"] == "information_given"
    assert view["transcript"]["handoff"] == "bot"


def test_release_puts_the_customer_back_in_the_queue(
    sam: Agent, kim: Agent, ticket_id: int, rasa: FakeRasa
) -> None:
    sam.post(f"/console/api/tickets/{ticket_id}/claim")

    released = sam.post(f"/console/api/tickets/{ticket_id}/release")
    taken = kim.post(f"/console/api/tickets/{ticket_id}/claim")

    assert released.json() == {"ok": True}
    assert taken.json()["claimed"] is True
    notices = [
        events[-1]["metadata"].get("handoff_notice") for _, _, events in rasa.posted
    ]
    assert notices == ["joined", "waiting", "joined"]
    assert rasa.trackers["conv-1"]["paused"] is True  # still with people


def test_when_rasa_is_down_nothing_is_half_done(
    sam: Agent, ticket_id: int, rasa: FakeRasa
) -> None:
    rasa.down = True

    claim = sam.post(f"/console/api/tickets/{ticket_id}/claim")
    view = sam.get(f"/console/api/tickets/{ticket_id}")

    assert claim.status_code == 502
    assert view.json()["ticket"]["status"] == "open"  # the claim was undone
    assert view.json()["transcript"] is None
    assert "not reachable" in view.json()["rasa_error"]


def test_the_profile_shows_crm_data_and_scores(sam: Agent, ticket_id: int) -> None:
    profile = sam.get(f"/console/api/tickets/{ticket_id}/profile").json()

    assert profile["customer"]["name"] == "Ada <Lovelace>"
    assert profile["scores"]["segment"] == "loyal"
    assert profile["scores"]["reasons"]["propensity"] == ["bought 3 times this year"]
    assert profile["recommendations"] == []
    assert profile["next_step"].startswith("Greet the customer")


def test_pages_of_a_ticket(sam: Agent, ticket_id: int) -> None:
    page = sam.client.get(f"/console/tickets/{ticket_id}")

    assert page.status_code == 200
    assert f'data-ticket-id="{ticket_id}"' in page.text
    assert '<option value="refund_rejected">Refund rejected</option>' in page.text
