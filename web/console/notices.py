"""What the customer reads in the widget when people come and go.

These are sent by the console (not the bot), so they live here rather than in the
Rasa domain; each is shown in the widget as a notice, not as a chat bubble.
"""

from __future__ import annotations

JOINED = "{agent} from our customer service team has joined the chat."
LEFT = (
    "{agent} had to step away. Another person from our team will pick up your "
    "conversation here shortly."
)
HANDED_BACK = (
    "{agent} has handed you back to the shop assistant. Thanks for waiting! Ask me "
    "anything else, or say you'd like a person again at any time."
)


def joined(agent: str) -> str:
    return JOINED.format(agent=agent)


def left(agent: str) -> str:
    return LEFT.format(agent=agent)


def handed_back(agent: str) -> str:
    return HANDED_BACK.format(agent=agent)
