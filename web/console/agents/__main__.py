"""``python -m web.console.agents``: add agents, set passwords, list them, the demo."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from crm_models.errors import DataError
from crm_models.handoff import agents
from crm_models.settings import get_settings
from crm_models.store.db import session_factory
from web.console.agents import ensure_demo_agent


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    try:
        first = getpass.getpass("Password: ")
        again = getpass.getpass("Again: ")
    except EOFError as exc:
        raise DataError(
            "no password typed (no terminal?): pipe it in with --password-stdin"
        ) from exc
    if again != first:
        raise DataError("the two passwords differ")
    return first


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m web.console.agents", description="Agent console accounts."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create an agent")
    add.add_argument("username")
    add.add_argument("--display-name", help="shown to customers (default: username)")
    add.add_argument("--password-stdin", action="store_true")
    add.add_argument(
        "--trainer", action="store_true", help="may also label the trainer inbox"
    )
    passwd = commands.add_parser("passwd", help="set an agent's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    trainer = commands.add_parser(
        "trainer", help="allow an agent to label the trainer inbox (--off: stop)"
    )
    trainer.add_argument("username")
    trainer.add_argument("--off", action="store_true")
    commands.add_parser("list", help="list agents")
    commands.add_parser("demo", help="make sure the demo agent exists; print its login")
    args = parser.parse_args(argv)

    settings = get_settings()
    sessions = session_factory(settings.database_url)
    try:
        if args.command == "demo":
            username, password = ensure_demo_agent(settings, sessions)
            print(f"{username} / {password}")
            return 0
        if args.command == "list":
            with sessions() as session:
                for agent in agents.list_agents(session=session):
                    state = "active" if agent.active else "inactive"
                    role = "trainer" if agent.trainer else "agent"
                    print(f"{agent.username}\t{agent.display_name}\t{state}\t{role}")
            return 0
        if args.command == "trainer":
            with sessions() as session, session.begin():
                agents.set_trainer(
                    session=session, username=args.username, trainer=not args.off
                )
            allowed = "may not" if args.off else "may"
            print(f"trainer: {args.username.strip().lower()} {allowed} label the inbox")
            return 0
        password = _password(args.password_stdin)
        with sessions() as session, session.begin():
            if args.command == "add":
                agents.create_agent(
                    session=session,
                    username=args.username,
                    display_name=args.display_name or args.username,
                    password=password,
                    now=settings.now(),
                    trainer=args.trainer,
                )
            else:
                agents.set_password(
                    session=session, username=args.username, password=password
                )
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.command}: {args.username.strip().lower()} done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
