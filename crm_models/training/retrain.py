"""Retrain what learns from the shop, behind a quality gate: ``make retrain``.

    python -m crm_models.training.retrain [--finetune] [--force] [--no-feedback]
        [--skip-scoring] [--skip-index] [--skip-rasa] [--force-index]
        [--no-switch] [--retrain-unchanged] [--reports-dir DIR]

In order:

1. consume pending feedback from Rasa's event log (the trainer inbox reads it);
2. train the propensity and risk models on the store as it is now, as a candidate
   version; the gate compares its backtest with the promoted version's
   (``crm_models.training.gate``) and promotes it only if it is not worse. The
   action server notices the moved ``current`` pointer and reloads;
3. rebuild the product index when the catalogue changed (it promotes itself: it has
   no quality figure to gate on, only recall, measured by ``make bench``);
4. train a Rasa model candidate (full, or ``--finetune`` from the promoted one),
   evaluate candidate and promoted model on the fixed evaluation set
   (``data/eval/heldout.csv`` and ``tests/bot/test_stories.yml``), and promote it
   only if macro-F1, accuracy and story accuracy are not worse beyond the
   tolerance; a running Rasa is then told to load it (``PUT /model``);
5. write the report (``reports/retrain/<run>/index.html``).

Every candidate is kept with its metrics; ``make rollback`` serves the previous one.
``--force`` promotes a refused candidate anyway (recorded as forced).

Exit codes: 0 when every step ran and nothing was refused, 3 when the gate refused a
candidate (the current model keeps serving), 1 when a step failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from crm_models import artifacts
from crm_models.errors import ConfigError, ShopBotError
from crm_models.logs import quiet_http_logs
from crm_models.settings import ROOT, Settings, get_settings
from crm_models.training import gate, label_audit, preflight, report
from crm_models.training.rasa_models import (
    Busy,
    RasaModels,
    RasaProject,
    SwitchResult,
    exclusive,
    switch_running_model,
)

logger = logging.getLogger(__name__)

TAIL_LINES = 6
EXIT_REFUSED = 3
_SAVED_VERSION = re.compile(r"\b(?:saved|promoted) (\S+) -> ")


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
    promoted: bool | None = None  # None: nothing was gated in this step


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


@dataclass(frozen=True)
class Options:
    """What a retrain run does."""

    feedback: bool = True
    scoring: bool = True
    index: bool = True
    rasa: bool = True
    force_index: bool = False
    finetune: bool = False
    epoch_fraction: float = 0.5
    force: bool = False  # promote refused candidates anyway
    switch: bool = True  # tell a running Rasa to load a promoted model
    audit_k: int = label_audit.DEFAULT_K  # neighbours that may back a new label
    retrain_unchanged: bool = False  # train Rasa even if its inputs did not change
    tolerance: gate.Tolerance = field(default_factory=gate.Tolerance)


class Retrainer:
    """Runs the retrain steps and collects their results.

    Args:
        settings: the process settings (feedback source and store, models, Rasa).
        runner: runs a subcommand of the app environment; tests pass a fake.
        consume: consumes pending feedback and returns a one-line summary.
        rasa_models: the Rasa model registry (its project and runner).
        switch: tells a running Rasa to load a model; tests pass a fake.
        reports_dir: where each run's report folder goes.
        encode: sentence vectors for the label audit (MiniLM by default).
        flush_labels: writes trainer labels still waiting in the inbox into the NLU
            data before training; returns an error message or None.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        runner: Runner = run_command,
        consume: Callable[[Settings], str] | None = None,
        rasa_models: RasaModels | None = None,
        switch: Callable[[Path], SwitchResult] | None = None,
        reports_dir: Path | None = None,
        encode: label_audit.Encoder = label_audit.default_encoder,
        flush_labels: Callable[[Settings], str | None] | None = None,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.consume = consume or consume_feedback
        self.rasa_models = rasa_models or RasaModels(
            settings.models_dir / "rasa", RasaProject.from_settings(settings)
        )
        self.switch = switch or (
            lambda model: switch_running_model(
                model, rasa_url=settings.rasa_url, token=settings.rasa_token
            )
        )
        self.reports_dir = reports_dir or ROOT / "reports" / "retrain"
        self.encode = encode
        self.flush_labels = flush_labels or write_pending_labels
        self.results: list[StepResult] = []
        self.decisions: dict[str, dict[str, Any]] = {}
        self.report_inputs: dict[str, Any] = {}
        self.report_path: Path | None = None

    @property
    def refused(self) -> bool:
        """True when the gate kept a candidate from going live."""
        return any(r.promoted is False for r in self.results)

    def run(self, options: Options | None = None) -> list[StepResult]:
        """Run the chosen steps in order; returns every step's result."""
        options = options or Options()
        started = datetime.now(timezone.utc)
        if options.feedback:
            self._step("feedback", lambda: [self.consume(self.settings)])
        if options.scoring:
            self._gated_step("scoring", lambda: self._scoring(options))
        if options.index:
            force = ["--force"] if options.force_index else []
            self._command(
                "index",
                [sys.executable, "-m", "crm_models.recommend.build_index", *force],
            )
        if options.rasa:
            self._gated_step("rasa", lambda: self._rasa(options))
        if self.decisions:
            self._step("report", lambda: self._report(started))
        return self.results

    # ---- scoring --------------------------------------------------------------------
    def _scoring(self, options: Options) -> tuple[list[str], bool]:
        root = self.settings.models_dir / "scoring"
        before = artifacts.current_version(root)
        result = self.runner(
            [sys.executable, "-m", "crm_models.scoring.train", "--no-promote"], ROOT
        )
        if result.returncode != 0:
            raise _StepFailed([f"exit code {result.returncode}", *result.tail])
        version = _saved_version(result.tail)
        candidate = artifacts.read_metadata(root / version)
        current = artifacts.read_metadata(root / before) if before else None
        decision = gate.Decision(
            gate.scoring_checks(current, candidate, options.tolerance)
        )
        self.decisions["scoring models"] = decision.as_dict()
        self.report_inputs["roc_before"] = (
            report.load_json(root / before / "roc.json") if before else None
        )
        self.report_inputs["roc_after"] = report.load_json(root / version / "roc.json")
        promoted = decision.passed or options.force
        if promoted:
            reason = "gate passed" if decision.passed else "forced past the gate"
            artifacts.promote(root, version, reason=reason)
        detail = [f"candidate {version} (was {before or 'none'})"]
        detail += decision.describe().splitlines()
        detail.append(_verdict(promoted, decision.passed, version))
        return detail, promoted

    # ---- rasa -----------------------------------------------------------------------
    def _rasa(self, options: Options) -> tuple[list[str], bool | None]:
        models = self.rasa_models
        if not models.project.rasa_bin.exists():
            raise _StepFailed(
                [f"{models.project.rasa_bin} not found: build the Rasa environment"]
            )
        models.root.mkdir(parents=True, exist_ok=True)
        flushed = self.flush_labels(self.settings)
        if flushed:
            raise _StepFailed([f"trainer labels could not be written: {flushed}"])
        checked = preflight.check(models.project.data / "nlu", models.project.domain)
        root = models.project.root
        if checked.unknown_intents:
            raise _StepFailed(
                [
                    "the NLU data names intents the domain lacks; nothing was trained",
                    *preflight.first(checked.unknown_lines(root)),
                ]
            )
        conflicts = preflight.first(checked.conflict_lines(root))
        before = models.current()
        if before and models.is_up_to_date() and not options.retrain_unchanged:
            # Same inputs, same pipeline: a new model would be the same model.
            return [f"training inputs unchanged since {before}; nothing to train"], None
        version = models.train(
            finetune=options.finetune and before is not None,
            epoch_fraction=options.epoch_fraction,
        )
        after_metrics = models.evaluate(version)
        before_metrics = models.evaluate(before) if before else None
        audit = self._audit(models, before, version, options.audit_k)
        decision = gate.Decision(
            [
                *gate.rasa_checks(before_metrics, after_metrics, options.tolerance),
                *gate.label_checks(audit.backed_share, audit.n, options.tolerance),
                *gate.conflict_checks(len(checked.conflicts)),
            ]
        )
        self.report_inputs["conflicts"] = conflicts
        self.report_inputs["audit"] = audit.as_dict()
        self.decisions["Rasa model"] = decision.as_dict()
        self.report_inputs["rasa_before"] = before_metrics
        self.report_inputs["rasa_after"] = after_metrics
        promoted = decision.passed or options.force
        models.update_metadata(
            version, gate=decision.as_dict(), label_audit=audit.as_dict()
        )
        detail = [f"candidate {version} (was {before or 'none'})"]
        detail += decision.describe().splitlines()
        detail += [f"  two intents: {line}" for line in conflicts]
        if promoted:
            reason = "gate passed" if decision.passed else "forced past the gate"
            models.promote(version, reason=reason)
            if options.switch:
                detail.append(self.switch(models.served).message)
        else:
            models.update_metadata(version, status="refused")
        detail.append(_verdict(promoted, decision.passed, version))
        return detail, promoted

    def _audit(
        self, models: RasaModels, before: str | None, version: str, k: int
    ) -> label_audit.Audit:
        """Audit the examples ``version`` learnt that ``before`` did not."""
        current = models.examples(before) if before else None
        candidate = models.examples(version) or []
        if current is None:
            return label_audit.Audit(k=k)  # nothing to compare with
        new = label_audit.new_examples(candidate, current)
        return label_audit.audit(new, current, self.encode, k=k)

    # ---- report ---------------------------------------------------------------------
    def _report(self, started: datetime) -> list[str]:
        run = started.strftime("%Y%m%dT%H%M%SZ")
        summary = [
            f"run started {started.isoformat(timespec='seconds')}",
            *(
                f"{r.name}: {'ok' if r.ok else 'FAILED'} in {r.seconds:.0f} s; "
                + (r.detail[0] if r.detail else "")
                for r in self.results
            ),
        ]
        summary += [
            f"text with two intents: {line}"
            for line in self.report_inputs.get("conflicts", [])
        ]
        self.report_path = report.write_report(
            self.reports_dir / run,
            title=f"Retrain {run}",
            summary=summary,
            decisions=self.decisions,
            rasa_before=self.report_inputs.get("rasa_before"),
            rasa_after=self.report_inputs.get("rasa_after"),
            roc_before=self.report_inputs.get("roc_before"),
            roc_after=self.report_inputs.get("roc_after"),
            audit=self.report_inputs.get("audit"),
        )
        return [f"report: {self.report_path}"]

    # ---- plumbing -------------------------------------------------------------------
    def _command(self, name: str, command: list[str]) -> None:
        def run() -> list[str]:
            result = self.runner(command, ROOT)
            if result.returncode != 0:
                raise _StepFailed([f"exit code {result.returncode}", *result.tail])
            return result.tail

        self._step(name, run)

    def _gated_step(
        self, name: str, work: Callable[[], tuple[list[str], bool | None]]
    ) -> None:
        outcome: dict[str, bool | None] = {}

        def run() -> list[str]:
            detail, outcome["promoted"] = work()
            return detail

        self._step(name, run)
        if self.results[-1].ok:
            self.results[-1].promoted = outcome["promoted"]

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


def _saved_version(tail: Sequence[str]) -> str:
    for line in reversed(tail):
        match = _SAVED_VERSION.search(line)
        if match:
            return match.group(1)
    raise _StepFailed(["crm_models.scoring.train did not say which version it saved"])


def _verdict(promoted: bool, passed: bool, version: str) -> str:
    if promoted and passed:
        return f"promoted {version}"
    if promoted:
        return f"promoted {version} although the gate refused it (--force)"
    return f"refused {version}: the current model keeps serving"


def write_pending_labels(settings: Settings) -> str | None:
    """Write the inbox's unwritten labels to the NLU data; the error, if any."""
    from crm_models.training.inbox import pending_summary, write_labels

    if not pending_summary(settings).unwritten:
        return None
    report = write_labels(settings)
    return report.error


def consume_feedback(settings: Settings) -> str:
    """Consume every pending event of the event log; a one-line summary."""
    from crm_models.feedback.consumer import FeedbackConsumer

    consumer = FeedbackConsumer.from_settings(settings)
    try:
        stats = consumer.run_once()
    finally:
        consumer.event_log.close()  # a RabbitMQ source holds a connection
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


def exit_code(results: Sequence[StepResult]) -> int:
    """1 if a step failed, 3 if the gate refused a candidate, else 0."""
    if not all(r.ok for r in results):
        return 1
    if any(r.promoted is False for r in results):
        return EXIT_REFUSED
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; see the module docstring for the exit codes."""
    parser = argparse.ArgumentParser(
        prog="python -m crm_models.training.retrain",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument("--skip-rasa", action="store_true")
    parser.add_argument("--no-feedback", action="store_true")
    parser.add_argument(
        "--force-index", action="store_true", help="rebuild the index even if unchanged"
    )
    parser.add_argument(
        "--finetune",
        action="store_true",
        help="start the Rasa model from the promoted one's weights",
    )
    parser.add_argument("--epoch-fraction", type=float, default=0.5)
    parser.add_argument(
        "--force", action="store_true", help="promote even if the gate refuses"
    )
    parser.add_argument(
        "--no-switch", action="store_true", help="do not tell a running Rasa"
    )
    parser.add_argument(
        "--retrain-unchanged",
        action="store_true",
        help="train a Rasa candidate even if its training inputs did not change",
    )
    parser.add_argument(
        "--reports-dir", type=Path, default=ROOT / "reports" / "retrain"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    quiet_http_logs()  # no request URL (the API token) in the log

    settings = get_settings()
    try:
        project = RasaProject.from_settings(settings)
    except ConfigError as exc:
        print(f"retrain: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    retrainer = Retrainer(
        settings,
        rasa_models=RasaModels(settings.models_dir / "rasa", project),
        reports_dir=args.reports_dir,
    )
    options = _options(args)
    try:
        with exclusive(settings.models_dir):
            results = retrainer.run(options)
    except Busy as exc:
        print(f"retrain: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    sys.stdout.write(format_summary(results) + "\n")
    write_summary(results, settings.var_dir)
    return exit_code(results)


def _options(args: argparse.Namespace) -> Options:
    return Options(
        feedback=not args.no_feedback,
        scoring=not args.skip_scoring,
        index=not args.skip_index,
        rasa=not args.skip_rasa,
        force_index=args.force_index,
        finetune=args.finetune,
        epoch_fraction=args.epoch_fraction,
        force=args.force,
        switch=not args.no_switch,
        retrain_unchanged=args.retrain_unchanged,
    )


if __name__ == "__main__":
    raise SystemExit(main())
