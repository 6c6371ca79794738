"""A customer and an agent in two browser contexts, against the real servers.

The customer chats in the storefront's widget, gets product cards, asks for a
person; the agent logs in to the console, claims the conversation and answers; the
customer's next message reaches the agent and not the bot; the agent closes the
ticket and the bot answers again. A reload keeps the history, and markup typed by
the customer stays text. Screenshots of both screens go to reports/screenshots/.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from crm_models.handoff import agents
from crm_models.store.schema import (
    AgentEvent,
    AgentEventKind,
    ChatFeedback,
    Resolution,
    Ticket,
    TicketStatus,
)
from tests.e2e.servers import ROOT, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

SHOTS = ROOT / "reports" / "screenshots"
AGENT, PASSWORD = "tess", "browser-test-password"
EVIL = "<img src=x onerror=alert(1)>"
WAIT_MS = 30_000  # a reply from Rasa and the action server on a busy machine


@pytest.fixture(scope="module")
def db(stack: Stack) -> Session:
    return Session(create_engine(stack.database_url))


@pytest.fixture(scope="module")
def agent_login(db: Session) -> None:
    if agents.get_agent_by_username(session=db, username=AGENT) is None:
        agents.create_agent(
            session=db,
            username=AGENT,
            display_name="Tess",
            password=PASSWORD,
            now=datetime.now(timezone.utc),
        )
        db.commit()


def bot_bubbles(page: Any) -> int:
    return int(page.locator(".chat-bot").count())


def send(page: Any, text: str, *, wait_for_bot: bool = True) -> None:
    """Type ``text`` into the widget; wait for the bot's answer unless told not to."""
    before = bot_bubbles(page)
    box = page.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")
    if wait_for_bot:
        page.wait_for_function(
            "n => document.querySelectorAll('.chat-bot').length > n",
            arg=before,
            timeout=WAIT_MS,
        )


def transcript(page: Any) -> list[str]:
    return [
        " ".join(t.split())
        for t in page.locator(".chat-log .chat-msg").all_inner_texts()
    ]


def test_customer_and_agent_hand_off(
    stack: Stack, browser: Any, db: Session, agent_login: None
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)

    # --- the customer: a signed-in demo customer opens the chat ------------------
    customer = browser.new_context(viewport={"width": 1280, "height": 860})
    page = customer.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(stack.web_url)
    with page.expect_response(
        lambda r: r.url.endswith("/api/chat/session") and r.request.method == "POST"
    ):
        page.select_option("#demo-identity", index=1)
    page.get_by_role("button", name="Chat with us").click()
    expect(page.get_by_label("Your message")).to_be_enabled()

    send(page, "I'm looking for a present for someone who loves gardening")
    cards = page.locator(".chat-card")
    expect(cards.first).to_be_visible()
    expect(cards.first.locator(".chat-card-price")).to_contain_text("£")
    expect(
        cards.first.get_by_role("button", name="More like", exact=False)
    ).to_be_visible()
    page.screenshot(path=str(SHOTS / "widget-carousel.png"))
    first = cards.first.locator(".chat-card-name").inner_text()
    carousels = page.locator(".chat-carousel").count()
    cards.first.get_by_role("button", name=f"More like {first}").click()
    expect(page.locator(".chat-user .chat-text").last).to_have_text(
        f"More like {first}"
    )
    expect(page.locator(".chat-carousel")).to_have_count(carousels + 1)

    send(page, EVIL)
    expect(page.locator(".chat-user .chat-text").last).to_have_text(EVIL)
    expect(page.locator(".chat-log img")).to_have_count(0)

    send(page, "I want to talk to a real person")
    expect(page.locator(".chat-banner")).to_contain_text("Waiting for a person")
    session_id = page.evaluate(
        "fetch('/api/chat/session').then(r => r.json()).then(b => b.session_id)"
    )
    ticket = db.scalars(
        select(Ticket).where(Ticket.conversation_id == session_id)
    ).one()
    assert ticket.status is TicketStatus.OPEN
    assert stack.tracker(session_id)["paused"] is True

    # --- the agent: logs in, finds the ticket, claims it, answers -----------------
    console = browser.new_context(viewport={"width": 1366, "height": 900})
    agent = console.new_page()
    agent.goto(f"{stack.web_url}/console")
    agent.fill("#username", AGENT)
    agent.fill("#password", PASSWORD)
    agent.click("button[type=submit]")
    agent.get_by_role("link", name=f"#{ticket.id}", exact=True).click()
    expect(agent.locator("#transcript")).to_contain_text("talk to a real person")
    agent.click("#claim")
    expect(page.locator(".chat-notice").last).to_contain_text("Tess")
    expect(page.locator(".chat-banner")).to_contain_text("chatting with Tess")

    agent.fill("#reply", "Hello, I'm Tess from the shop. How can I help?")
    agent.click("#reply-form button[type=submit]")
    reply = page.locator(".chat-agent").last
    expect(reply).to_contain_text("I'm Tess from the shop")
    expect(reply.locator(".chat-from")).to_have_text("Tess · our team")

    # --- a dropped connection: nothing lost, nothing twice ------------------------
    customer.set_offline(True)
    expect(page.locator(".chat-status")).not_to_have_text("online")
    agent.fill("#reply", "Are you still there?")
    agent.click("#reply-form button[type=submit]")
    expect(agent.locator("#transcript .line-agent").last).to_contain_text("still there")
    customer.set_offline(False)
    expect(page.locator(".chat-agent", has_text="Are you still there?")).to_have_count(
        1
    )
    expect(page.get_by_label("Your message")).to_be_enabled()

    # --- the customer's next message reaches the agent, not the bot -------------
    bots = bot_bubbles(page)
    send(page, "My parcel arrived damaged", wait_for_bot=False)
    expect(agent.locator("#transcript .line-user").last).to_contain_text(
        "My parcel arrived damaged"
    )
    assert bot_bubbles(page) == bots
    events = stack.tracker(session_id)["events"]
    last_user = max(
        i for i, e in enumerate(events) if e.get("text") == "My parcel arrived damaged"
    )
    assert not [e for e in events[last_user:] if e["event"] == "bot"]

    # --- typing on while a reply is on its way: the new draft is kept -----------
    def slow_reply(route: Any) -> None:
        response = route.fetch()
        time.sleep(1.0)
        route.fulfill(response=response)

    agent.route("**/reply", slow_reply)
    agent.fill("#reply", "Sorry to hear that.")
    with agent.expect_response("**/reply"):
        agent.click("#reply-form button[type=submit]")
        agent.fill("#reply", "We will send a new one")
    agent.wait_for_timeout(300)  # the reply's callback runs after the response
    assert agent.input_value("#reply") == "We will send a new one"
    expect(agent.locator("#transcript .line-agent").last).to_contain_text(
        "Sorry to hear that."
    )
    agent.unroute("**/reply")
    agent.fill("#reply", "")

    agent.fill("#note", "Parcel damaged; offered a replacement.")
    agent.click("#note-form button[type=submit]")
    expect(agent.locator("#notes")).to_contain_text("offered a replacement")
    expect(agent.locator("#customer")).to_contain_text("Lifetime value")
    expect(agent.locator("#scores")).to_contain_text("Churn risk")
    expect(agent.locator("#next-step")).not_to_be_empty()
    agent.screenshot(path=str(SHOTS / "console-conversation.png"), full_page=True)

    # --- the agent hands back; the bot answers again -----------------------------
    agent.select_option("#resolution", Resolution.INFORMATION_GIVEN.value)
    agent.click("#close-form button[type=submit]")
    expect(page.locator(".chat-notice").last).to_contain_text("handed you back")
    expect(page.locator(".chat-banner")).to_be_hidden()
    send(page, "What payment methods do you accept?")
    answer = page.locator(".chat-bot").last
    expect(answer).to_contain_text("Visa")
    answer.get_by_role("button", name="Helpful", exact=True).click()
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )

    # --- a reload keeps the conversation, once ------------------------------------
    before = transcript(page)
    page.reload()
    expect(page.locator(".chat-log .chat-msg")).to_have_count(len(before))
    assert transcript(page) == before
    expect(
        page.locator(".chat-agent", has_text="I'm Tess from the shop")
    ).to_have_count(1)
    expect(page.locator(".chat-user .chat-text", has_text=EVIL)).to_have_count(1)
    expect(page.locator(".chat-log img")).to_have_count(0)
    expect(
        page.locator(".chat-bot").last.get_by_role("button", name="Helpful", exact=True)
    ).to_have_attribute("aria-pressed", "true")

    # --- phone width: the panel takes the screen ---------------------------------
    page.set_viewport_size({"width": 390, "height": 844})
    box = page.locator("#shop-chat-panel").bounding_box()
    assert box is not None
    assert box["width"] == pytest.approx(390, abs=1)
    page.screenshot(path=str(SHOTS / "widget-phone.png"))

    # --- everything was logged as feedback ----------------------------------------
    db.expire_all()
    kinds = db.scalars(
        select(AgentEvent.kind).where(AgentEvent.ticket_id == ticket.id)
    ).all()
    assert set(kinds) == {
        AgentEventKind.CLAIMED,
        AgentEventKind.REPLIED,
        AgentEventKind.NOTED,
        AgentEventKind.CLOSED,
    }
    assert db.get(Ticket, ticket.id).status is TicketStatus.CLOSED
    assert (
        db.scalars(
            select(ChatFeedback).where(ChatFeedback.conversation_id == session_id)
        )
        .one()
        .rating
        == 1
    )
    assert dialogs == []  # no script from a message ever ran
    customer.close()
    console.close()
