"""The feedback consumer, stopping dead between one commit and its acknowledgement.

    python -m tests.crm_models.feedback.pausing_consumer MARKER BATCH [consumer args]

Runs ``crm_models.feedback.consumer`` with its arguments. When batch number BATCH has
been committed to the store and before it is acknowledged to RabbitMQ, it writes the
batch's size to the file MARKER and sleeps, so that a test can kill -9 it exactly
there: the worst moment for exactly-once, as that batch comes back.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

from crm_models.feedback import consumer
from crm_models.feedback.event_log import RawEvent
from crm_models.feedback.rabbitmq import RabbitEventSource


def main(argv: Sequence[str]) -> int:
    marker, pause_at, *consumer_args = argv
    real_acknowledge = RabbitEventSource.acknowledge
    batches = 0

    def acknowledge(self: RabbitEventSource, rows: Sequence[RawEvent]) -> None:
        nonlocal batches
        batches += 1
        if batches == int(pause_at):
            Path(marker).write_text(str(len(rows)), encoding="utf-8")
            time.sleep(600)  # until killed
        real_acknowledge(self, rows)

    RabbitEventSource.acknowledge = acknowledge  # type: ignore[method-assign]
    return consumer.main(consumer_args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
