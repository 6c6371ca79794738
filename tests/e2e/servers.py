"""Starts the real action server and Rasa server for end-to-end tests.

Each run gets its own folder: a copy of the seeded CRM store (so the user's var/ is
never touched), a fresh tracker store and event log, free loopback ports, and its own
API token and identity secret.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from crm_models.identity import identity_metadata

ROOT = Path(__file__).resolve().parents[2]
RASA_MODEL = ROOT / "models" / "rasa" / "shop.tar.gz"
SEEDED_STORE = ROOT / "var" / "crm.db"


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


def start_stack(workdir: Path) -> Stack:
    """Copy the seeded store and start both servers; the caller must ``stop()``."""
    if not RASA_MODEL.exists() or not SEEDED_STORE.exists():
        raise RuntimeError(
            "run `make models` first: the e2e tests need a model and store"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    store = workdir / "crm.db"
    with sqlite3.connect(SEEDED_STORE) as src, sqlite3.connect(store) as dst:
        src.backup(dst)

    action_port, rasa_port = free_port(), free_port()
    token, secret = "e2e-token", "e2e-identity-secret"
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
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
        "SANIC_HOST": "127.0.0.1",
        "SHOP_VAR_DIR": str(workdir),
        "SHOP_DATABASE_URL": f"sqlite:///{store}",
        "SHOP_EVENT_LOG_URL": f"sqlite:///{workdir / 'events.db'}",
        "SHOP_RASA_TOKEN": token,
        "SHOP_IDENTITY_SECRET": secret,
        "SHOP_RASA_URL": f"http://127.0.0.1:{rasa_port}",
    }
    stack = Stack(
        workdir=workdir,
        env=env,
        rasa_url=f"http://127.0.0.1:{rasa_port}",
        action_url=f"http://127.0.0.1:{action_port}",
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
            str(RASA_MODEL),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(ROOT / "bot" / "credentials.yml"),
            "--enable-api",
            "--auth-token",
            token,
            "--interface",
            "127.0.0.1",
            "--port",
            str(rasa_port),
        ],
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
