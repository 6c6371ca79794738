"""Starts the real action server, Rasa server and web app for end-to-end tests.

Each run gets its own folder: a copy of the seeded CRM store (so the user's var/ is
never touched), a fresh tracker store and event log, free loopback ports, and its own
API token and identity secret. The shop's policy file is copied with staffed hours
around the clock, so hand-offs behave the same whenever the tests run.

``shared_stack`` starts one stack per test process for every test that needs it
(tests/e2e and tests/browser), and stops it when the process ends.
"""

from __future__ import annotations

import atexit
import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from crm_models.identity import identity_metadata

ROOT = Path(__file__).resolve().parents[2]
RASA_MODEL = ROOT / "models" / "rasa" / "shop.tar.gz"
SEEDED_STORE = ROOT / "var" / "crm.db"
POLICY_FILE = ROOT / "bot" / "shop_policy.yml"
ALWAYS_STAFFED = {
    "timezone": "UTC",
    "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "from": "00:00",
    "to": "24:00",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """The running servers and how to talk to them."""

    workdir: Path
    env: dict[str, str]
    rasa_url: str
    action_url: str
    web_url: str
    token: str
    secret: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        return self.env["SHOP_DATABASE_URL"]

    def say(
        self, sender: str, text: str, customer_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Send one message through the REST channel; return the bot's messages."""
        metadata = identity_metadata(customer_id, self.secret) if customer_id else {}
        response = httpx.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text, "metadata": metadata},
            timeout=60,
        )
        response.raise_for_status()
        return list(response.json())

    def tracker(self, sender: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.rasa_url}/conversations/{sender}/tracker",
            params={"token": self.token},
            timeout=30,
        )
        response.raise_for_status()
        return dict(response.json())

    def stop(self) -> None:
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: int) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{log.name} exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(
        f"{url} did not answer in {seconds} s:\n{log.read_text()[-3000:]}"
    )


def _always_staffed_policy(workdir: Path) -> Path:
    policy = yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8"))
    policy["contact"]["staffed"] = ALWAYS_STAFFED
    path = workdir / "shop_policy.yml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    return path


def start_stack(
    workdir: Path,
    model: Path = RASA_MODEL,
    *,
    endpoints: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Stack:
    """Copy the seeded store and start the servers; the caller must ``stop()``.

    ``model`` is the archive Rasa serves (the promoted model by default).
    ``endpoints`` replaces the SQLite endpoints written into ``workdir``; it may use
    ``${SHOP_ACTION_URL}``, which points at this stack's action server.
    ``extra_env`` is added to (and overrides) every server's environment.
    """
    if not model.exists() or not SEEDED_STORE.exists():
        raise RuntimeError(
            "run `make models` first: the e2e tests need a model and store"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    store = workdir / "crm.db"
    with sqlite3.connect(SEEDED_STORE) as src, sqlite3.connect(store) as dst:
        src.backup(dst)

    action_port, rasa_port, web_port = free_port(), free_port(), free_port()
    web_url = f"http://127.0.0.1:{web_port}"
    token, secret = "e2e-token", "e2e-identity-secret"
    sqlite_endpoints = workdir / "endpoints.yml"
    sqlite_endpoints.write_text(
        f"""action_endpoint:
  url: "http://127.0.0.1:{action_port}/webhook"
tracker_store:
  type: SQL
  dialect: sqlite
  db: {workdir / "tracker.db"}
event_broker:
  type: SQL
  dialect: sqlite
  db: {workdir / "events.db"}
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RASA_TELEMETRY_ENABLED": "false",
        "SANIC_HOST": "127.0.0.1",
        "SHOP_VAR_DIR": str(workdir),
        "SHOP_DATABASE_URL": f"sqlite:///{store}",
        "SHOP_EVENT_LOG_URL": f"sqlite:///{workdir / 'events.db'}",
        "SHOP_RASA_TOKEN": token,
        "SHOP_IDENTITY_SECRET": secret,
        "SHOP_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "SHOP_POLICY_FILE": str(_always_staffed_policy(workdir)),
        "SHOP_WEB_HOST": "127.0.0.1",
        "SHOP_WEB_PORT": str(web_port),
        "SHOP_ACTION_URL": f"http://127.0.0.1:{action_port}/webhook",
        **(extra_env or {}),
    }
    stack = Stack(
        workdir=workdir,
        env=env,
        rasa_url=f"http://127.0.0.1:{rasa_port}",
        action_url=f"http://127.0.0.1:{action_port}",
        web_url=web_url,
        token=token,
        secret=secret,
    )
    commands = {
        "actions": [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "rasa_sdk",
            "--actions",
            "actions",
            "--port",
            str(action_port),
        ],
        "rasa": [
            str(ROOT / ".venv-bot" / "bin" / "rasa"),
            "run",
            "--model",
            str(model),
            "--endpoints",
            str(endpoints or sqlite_endpoints),
            "--credentials",
            str(ROOT / "bot" / "credentials.yml"),
            "--enable-api",
            "--auth-token",
            token,
            "--interface",
            "127.0.0.1",
            "--port",
            str(rasa_port),
            # The widget's page (the web app) talks to Rasa's socket.io channel.
            "--cors",
            web_url,
        ],
        "web": [str(ROOT / ".venv" / "bin" / "python"), "-m", "web"],
    }
    try:
        for name, command in commands.items():
            log = workdir / f"{name}.log"
            proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            stack.processes.append(proc)
        _wait(
            f"{stack.action_url}/health",
            stack.processes[0],
            workdir / "actions.log",
            90,
        )
        _wait(f"{web_url}/healthz", stack.processes[2], workdir / "web.log", 60)
        _wait(
            f"{stack.rasa_url}/status?token={token}",
            stack.processes[1],
            workdir / "rasa.log",
            300,
        )
    except BaseException:
        stack.stop()
        raise
    return stack


_shared: Stack | None = None


def shared_stack(make_workdir: Callable[[], Path]) -> Stack:
    """The process's one running stack, started on first use, stopped at exit."""
    global _shared
    if _shared is None:
        _shared = start_stack(make_workdir())
        atexit.register(_shared.stop)
    return _shared
