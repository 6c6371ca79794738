"""Agent accounts from the command line, and the demo agent of ``make run``.

Commands (``python -m web.console.agents ...``):
    add NAME [--display-name "Sam Jones"] [--password-stdin] [--trainer]
    passwd NAME [--password-stdin]
    trainer NAME [--off]   allow (or stop) labelling the trainer inbox
    list
    demo      make sure the demo agent exists and print its login
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy.orm import Session, sessionmaker

from crm_models.handoff import agents
from crm_models.settings import Settings

logger = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
DEMO_NAME = "Sam (demo agent)"
DEMO_PASSWORD_FILE = "demo_agent_password"


def demo_password(settings: Settings) -> str:
    """The demo agent's password: made once, kept in ``var/`` (mode 600)."""
    path = settings.var_dir / DEMO_PASSWORD_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return password


def ensure_demo_agent(
    settings: Settings, sessions: sessionmaker[Session]
) -> tuple[str, str]:
    """Create the demo agent, or give it the password in ``var/``; its login.

    The demo agent is a trainer too, so that ``make run`` shows every page.
    """
    password = demo_password(settings)
    with sessions() as session, session.begin():
        agent = agents.get_agent_by_username(session=session, username=DEMO_USERNAME)
        if agent is None:
            agents.create_agent(
                session=session,
                username=DEMO_USERNAME,
                display_name=DEMO_NAME,
                password=password,
                now=settings.now(),
                trainer=True,
            )
        else:
            if not agents.verify_password(password, agent.password_hash):
                agents.set_password(
                    session=session, username=DEMO_USERNAME, password=password
                )
            if not agent.trainer:
                agents.set_trainer(
                    session=session, username=DEMO_USERNAME, trainer=True
                )
    return DEMO_USERNAME, password
