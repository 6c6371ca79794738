"""Exactly-once through kill -9: the consumer as a process, a burst on real RabbitMQ.

The first consumer process is killed between the commit of a batch and its
acknowledgement (``pausing_consumer``), while the burst is still being published;
a second one takes over. Every event must then be in the store exactly once.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from crm_models.feedback.consumer import content_key
from crm_models.settings import ROOT
from tests.crm_models.feedback.rabbit_support import AMQP_URL, TestBroker
from tests.crm_models.feedback.rasa_events import BURST_OUTCOMES, burst
from tests.crm_models.feedback.support import SECRET

pytestmark = pytest.mark.rabbitmq

N_CONVERSATIONS = 200  # x 10 events
BATCH = 50
PAUSE_AT = 3  # batches 1 and 2 committed and acknowledged, batch 3 committed only
PASS_LINE = re.compile(
    r"feedback\.consumer\.pass rows=(\d+) events=(\d+) .*skipped=(\d+)"
)


@dataclass
class PassTotals:
    rows: int = 0  # messages handed out
    events: int = 0  # applied
    skipped: int = 0  # recognised as applied before


def _env(tmp_path: Path, broker: TestBroker) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    env.update(
        {
            "SHOP_VAR_DIR": str(tmp_path / "var"),
            "SHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
            "SHOP_EVENT_LOG_URL": AMQP_URL,
            "SHOP_EVENT_QUEUE": broker.queue,
            "SHOP_EVENT_EXCHANGE": broker.exchange,
            "SHOP_IDENTITY_SECRET": SECRET,
            "SHOP_RASA_TOKEN": "test-token",
        }
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _consumed(store: Path) -> int:
    """Events the store holds as applied (0 before the schema exists)."""
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return db.execute("SELECT count(*) FROM consumed_events").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _passes(log: Path) -> PassTotals:
    totals = PassTotals()
    for match in PASS_LINE.finditer(log.read_text(encoding="utf-8")):
        totals.rows += int(match[1])
        totals.events += int(match[2])
        totals.skipped += int(match[3])
    return totals


def _wait_for(
    done: Callable[[], bool],
    process: subprocess.Popen[bytes],
    log: Path,
    what: str,
    timeout: float = 180.0,
) -> None:
    """Poll until ``done``; fail if the process exits or it takes absurdly long."""
    deadline = time.monotonic() + timeout
    while not done():
        if process.poll() is not None:
            tail = log.read_text(encoding="utf-8")[-3000:]
            pytest.fail(
                f"consumer exited ({process.returncode}) before {what}:\n{tail}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout:.0f} s")
        time.sleep(0.1)


def test_kill_9_between_commit_and_ack_mid_burst_keeps_every_event_once(
    tmp_path: Path, broker: TestBroker
) -> None:
    # Recent timestamps: no conversation is idle long enough to count as abandoned.
    rows = burst(N_CONVERSATIONS, t0=time.time() - 600)
    bodies = [(sender, {"sender_id": sender, **event}) for sender, event in rows]
    expected_keys = {content_key(sender, body) for sender, body in bodies}
    user_keys = {content_key(s, b) for s, b in bodies if b["event"] == "user"}
    assert len(expected_keys) == len(rows) == 10 * N_CONVERSATIONS
    env = _env(tmp_path, broker)
    store = tmp_path / "crm.db"
    follow = ["--follow", "--batch-size", str(BATCH), "--poll-seconds", "0.2"]

    # The first half of the burst; the first consumer stops dead after committing
    # batch 3, before acknowledging it, and is killed there.
    broker.publish_all(rows[:1000])
    marker, first_log = tmp_path / "paused", tmp_path / "first.log"
    pausing = "tests.crm_models.feedback.pausing_consumer"
    first = _start([pausing, str(marker), str(PAUSE_AT), *follow], env, first_log)
    try:
        _wait_for(marker.exists, first, first_log, "the pause after a commit")
        committed = _consumed(store)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()

    # More of the burst arrives while no consumer runs, the rest while the second
    # one catches up.
    broker.publish_all(rows[1000:1500])
    second_log = tmp_path / "second.log"
    second = _start(["crm_models.feedback.consumer", *follow], env, second_log)
    try:
        broker.publish_all(rows[1500:])
        # Everything not acknowledged by the first consumer reaches the second
        # (whatever it then makes of it): the burst less batches 1 and 2.
        handed_out = len(rows) - (PAUSE_AT - 1) * BATCH
        _wait_for(
            lambda: broker.ready() == 0 and _passes(second_log).rows >= handed_out,
            second,
            second_log,
            "pass over the whole burst",
        )
    finally:
        second.send_signal(signal.SIGINT)
        try:
            second.wait(timeout=30)
        except subprocess.TimeoutExpired:
            second.kill()

    with sqlite3.connect(store) as db:
        keys = [k for (k,) in db.execute("SELECT event_key FROM consumed_events")]
        messages = [k for (k,) in db.execute("SELECT event_key FROM message_log")]
        next_actions = db.execute(
            "SELECT next_action, count(*) FROM message_log GROUP BY next_action"
            " ORDER BY next_action"
        ).fetchall()
        outcomes = {
            row[0]: row[1:]
            for row in db.execute(
                "SELECT conversation_id, n_user_messages, n_fallbacks, outcome,"
                " handle_seconds FROM conversation_outcomes"
            )
        }
    db.close()
    second_passes = _passes(second_log)

    assert committed == PAUSE_AT * BATCH
    assert len(keys) == len(rows)
    assert set(keys) == expected_keys
    assert len(messages) == 3 * N_CONVERSATIONS
    assert set(messages) == user_keys
    # Each conversation: "hi there" -> the greeting, then two fallbacks.
    assert next_actions == [
        ("action_default_fallback", 2 * N_CONVERSATIONS),
        ("utter_x", N_CONVERSATIONS),
    ]
    # Every conversation spans nine seconds, from its first to its last event.
    assert outcomes == {
        f"burst-{n:04d}": (3, 2, BURST_OUTCOMES[n % 3], 9.0)
        for n in range(N_CONVERSATIONS)
    }
    # The killed batch came back and was recognised; nothing else was applied twice.
    assert second_passes.skipped == BATCH
    assert second_passes.events == len(rows) - committed
