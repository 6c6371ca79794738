"""Retrain everything that learns from the shop: ``make retrain``.

    python -m crm_models.training.retrain [--skip-scoring] [--skip-index]
        [--skip-rasa] [--force-index]

In order: consume pending feedback from Rasa's event log, retrain the propensity and
risk models (``crm_models.scoring.train``), rebuild the product index when the
catalogue changed (``crm_models.recommend.build_index`` skips itself otherwise), and
train a new Rasa model in the Rasa environment (``.venv-bot/bin/rasa train``; this
side never imports rasa). Each step runs even when an earlier one failed; the exit
code is 1 if any failed. A short summary, with the last lines each step printed (its
metrics), goes to stdout and to ``var/retrain/last.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from crm_models.errors import ShopBotError
from crm_models.settings import ROOT, Settings, get_settings

logger = logging.getLogger(__name__)

RASA_BIN = ROOT / ".venv-bot" / "bin" / "rasa"
TAIL_LINES = 6


@dataclass(frozen=True)
class CommandResult:
    """How a subprocess ended and the last lines it printed on stdout."""

    returncode: int
    tail: list[str]


@dataclass
class StepResult:
    """One step of a retrain run."""

    name: str
    ok: bool
    seconds: float
    detail: list[str] = field(default_factory=list)  # metrics or the error


Runner = Callable[[Sequence[str], Path], CommandResult]


def run_command(command: Sequence[str], cwd: Path) -> CommandResult:
    """Run ``command``, echoing its stdout while keeping the last lines.

    stderr (progress bars, warnings) goes straight to this process's stderr.
    """
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with subprocess.Popen(
        list(command),
        cwd=cwd,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
        env=os.environ.copy(),
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            if line.strip():
                tail.append(line.rstrip())
    return CommandResult(process.returncode, list(tail))


def rasa_train_command(rasa_bin: Path = RASA_BIN) -> list[str]:
    """The ``rasa train`` command line, relative to the repository root."""
    return [
        str(rasa_bin),
        "train",
        "--config", "bot/config.yml",
        "--domain", "bot/domain",
        "--data", "data",
        "--out", "models/rasa",
        "--fixed-model-name", "shop",
    ]  # fmt: skip


class Retrainer:
    """Runs the retrain steps and collects their results.

    Args:
        settings: the process settings (feedback source and store, var folder).
        runner: runs a subcommand; tests pass a fake.
        consume: consumes pending feedback and returns a one-line summary.
        rasa_bin: the Rasa executable of the Rasa environment.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        runner: Runner = run_command,
        consume: Callable[[Settings], str] | None = None,
        rasa_bin: Path = RASA_BIN,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.consume = consume or consume_feedback
        self.rasa_bin = rasa_bin
        self.results: list[StepResult] = []

    def run(
        self,
        *,
        scoring: bool = True,
        index: bool = True,
        rasa: bool = True,
        force_index: bool = False,
    ) -> list[StepResult]:
        """Run the chosen steps in order; returns every step's result."""
        self._step("feedback", lambda: [self.consume(self.settings)])
        # TODO(#4): build the trainer inbox from the new feedback here, and after
        # training run the quality gate before a new Rasa model or scorer is promoted.
        python = [sys.executable, "-m"]
        if scoring:
            self._command("scoring", [*python, "crm_models.scoring.train"])
        if index:
            force = ["--force"] if force_index else []
            self._command(
                "index", [*python, "crm_models.recommend.build_index", *force]
            )
        if rasa:
            if self.rasa_bin.exists():
                self._command("rasa", rasa_train_command(self.rasa_bin))
            else:
                self.results.append(
                    StepResult(
                        "rasa",
                        False,
                        0.0,
                        [f"{self.rasa_bin} not found: build the Rasa environment"],
                    )
                )
        return self.results

    def _command(self, name: str, command: list[str]) -> None:
        def run() -> list[str]:
            result = self.runner(command, ROOT)
            if result.returncode != 0:
                raise _StepFailed([f"exit code {result.returncode}", *result.tail])
            return result.tail

        self._step(name, run)

    def _step(self, name: str, work: Callable[[], list[str]]) -> None:
        logger.info("training.retrain.step name=%s", name)
        started = time.perf_counter()
        try:
            detail, ok = work(), True
        except _StepFailed as exc:
            detail, ok = exc.detail, False
        except (ShopBotError, SQLAlchemyError, OSError) as exc:
            detail, ok = [f"{type(exc).__name__}: {exc}"], False
        seconds = time.perf_counter() - started
        if not ok:
            logger.error("training.retrain.failed name=%s", name)
        self.results.append(StepResult(name, ok, seconds, detail))


class _StepFailed(Exception):
    """A subcommand exited non-zero (internal; never leaves this module)."""

    def __init__(self, detail: list[str]) -> None:
        super().__init__(detail[0])
        self.detail = detail


def consume_feedback(settings: Settings) -> str:
    """Consume every pending event of the event log; a one-line summary."""
    from crm_models.feedback.consumer import FeedbackConsumer

    stats = FeedbackConsumer.from_settings(settings).run_once()
    return (
        f"{stats.events} events, {stats.messages} messages, "
        f"{len(stats.conversations)} conversations, {stats.abandoned} abandoned"
    )


def format_summary(results: Sequence[StepResult]) -> str:
    """The human-readable summary of a retrain run."""
    lines = ["retrain summary:"]
    for result in results:
        status = "ok" if result.ok else "FAILED"
        lines.append(f"  {result.name:<9} {status:<6} {result.seconds:7.1f} s")
        lines.extend(f"      {line}" for line in result.detail)
    return "\n".join(lines)


def write_summary(results: Sequence[StepResult], var_dir: Path) -> Path:
    """Save the results as JSON in ``<var>/retrain/last.json``."""
    path = var_dir / "retrain" / "last.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([asdict(r) for r in results], indent=2) + "\n", encoding="utf-8"
    )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns 1 when any step failed."""
    parser = argparse.ArgumentParser(
        prog="python -m crm_models.training.retrain",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument("--skip-rasa", action="store_true")
    parser.add_argument(
        "--force-index", action="store_true", help="rebuild the index even if unchanged"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    settings = get_settings()
    results = Retrainer(settings).run(
        scoring=not args.skip_scoring,
        index=not args.skip_index,
        rasa=not args.skip_rasa,
        force_index=args.force_index,
    )
    sys.stdout.write(format_summary(results) + "\n")
    write_summary(results, settings.var_dir)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
