"""The agents command line and the demo agent."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_models.handoff import agents
from crm_models.settings import Settings
from crm_models.store.db import session_factory
from web.console.agents import DEMO_USERNAME, ensure_demo_agent
from web.console.agents.__main__ import main


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The command line's settings point at a store under ``tmp_path``."""
    from crm_models import settings as settings_module

    env = {
        "SHOP_VAR_DIR": str(tmp_path),
        "SHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings_module.get_settings.cache_clear()
    yield Settings.from_env(env)
    settings_module.get_settings.cache_clear()


def test_add_list_and_passwd(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("first password ok\n"))
    assert main(["add", "Sam", "--display-name", "Sam Jones", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("second password ok\n"))
    assert main(["passwd", "sam", "--password-stdin"]) == 0
    assert main(["list"]) == 0

    out = capsys.readouterr().out
    assert "add: sam done" in out
    assert "sam\tSam Jones\tactive\tagent" in out
    with session_factory(cli_env.database_url)() as session:
        agent = agents.get_agent_by_username(session=session, username="sam")
        assert agents.verify_password("second password ok", agent.password_hash)


def test_a_short_password_is_refused(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))

    assert main(["add", "sam", "--password-stdin"]) == 2
    assert "at least" in capsys.readouterr().err


def test_the_demo_agent_is_made_once_and_can_log_in(
    cli_env: Settings, capsys: pytest.CaptureFixture
) -> None:
    sessions = session_factory(cli_env.database_url)

    first = ensure_demo_agent(cli_env, sessions)
    second = ensure_demo_agent(cli_env, sessions)
    assert main(["demo"]) == 0

    assert first == second
    username, password = first
    assert username == DEMO_USERNAME
    assert capsys.readouterr().out.strip() == f"{username} / {password}"
    assert (cli_env.var_dir / "demo_agent_password").stat().st_mode & 0o777 == 0o600
    with sessions() as session:
        assert agents.authenticate(
            session=session,
            username=username,
            password=password,
            now=cli_env.now(),
        )


def test_trainers_are_made_and_unmade(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("first password ok\n"))
    assert main(["add", "kim", "--trainer", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("first password ok\n"))
    assert main(["add", "sam", "--password-stdin"]) == 0
    assert main(["trainer", "Sam"]) == 0
    assert main(["trainer", "kim", "--off"]) == 0
    assert main(["trainer", "nobody"]) == 2

    captured = capsys.readouterr()
    assert "trainer: sam may label the inbox" in captured.out
    assert "trainer: kim may not label the inbox" in captured.out
    assert "no agent nobody" in captured.err
    with session_factory(cli_env.database_url)() as session:
        roles = {a.username: a.trainer for a in agents.list_agents(session=session)}
    assert roles == {"kim": False, "sam": True}


def test_the_demo_agent_is_a_trainer_even_if_made_before_roles(
    cli_env: Settings,
) -> None:
    sessions = session_factory(cli_env.database_url)
    ensure_demo_agent(cli_env, sessions)
    with sessions() as session, session.begin():
        agent = agents.get_agent_by_username(session=session, username=DEMO_USERNAME)
        agent.trainer = None  # as on a store from before the column

    ensure_demo_agent(cli_env, sessions)

    with sessions() as session:
        agent = agents.get_agent_by_username(session=session, username=DEMO_USERNAME)
        assert agent.trainer is True


def test_no_terminal_and_no_stdin_password_is_a_clear_error(
    cli_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def no_terminal(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("getpass.getpass", no_terminal)

    assert main(["add", "sam"]) == 2
    assert "--password-stdin" in capsys.readouterr().err
