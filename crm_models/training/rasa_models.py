"""Rasa models as versioned candidates: train, evaluate, promote, serve, roll back.

Layout under ``<models>/rasa/``::

    <version>/model.tar.gz    every candidate ever trained, kept
    <version>/metadata.json   training inputs' fingerprint, metrics, gate verdict
    <version>/eval/           predictions and reports of its evaluation
    current                   the promoted version (``crm_models.artifacts``)
    history.jsonl             every promotion and rollback
    shop.tar.gz               a copy of the promoted model: what Rasa serves

This side never imports rasa: training and evaluation run in the Rasa environment
(``.venv-bot``) as subprocesses, and a running Rasa server is told to load the
promoted model through its HTTP API (``PUT /model``), which keeps every conversation:
trackers live in the tracker store, not in the model.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from crm_models import artifacts
from crm_models.errors import ArtifactMissing, ConfigError, ShopBotError
from crm_models.logs import quiet_http_logs
from crm_models.settings import ROOT, Settings
from crm_models.training import label_audit

logger = logging.getLogger(__name__)

MODEL_FILE = "model.tar.gz"
SERVED_FILE = "shop.tar.gz"
EVAL_DIR = "eval"


class TrainingFailed(ShopBotError):
    """A training or evaluation subprocess failed; the message has its last lines."""


@dataclass(frozen=True)
class RasaProject:
    """Where the Rasa project's inputs live (a temporary copy in tests)."""

    root: Path = ROOT
    rasa_bin: Path = ROOT / ".venv-bot" / "bin" / "rasa"

    @classmethod
    def from_settings(cls, settings: Settings) -> RasaProject:
        """The project the settings' training data belongs to.

        Raises:
            ConfigError: ``SHOP_DATA_DIR``, ``SHOP_DOMAIN_DIR`` and
                ``SHOP_RASA_CONFIG`` are not ``data``, ``bot/domain`` and
                ``bot/config.yml`` of one folder.
        """
        project = cls(root=settings.data_dir.resolve().parent)
        expected = {
            "SHOP_DATA_DIR": (settings.data_dir, project.data),
            "SHOP_DOMAIN_DIR": (settings.domain_dir, project.domain),
            "SHOP_RASA_CONFIG": (settings.rasa_config, project.config),
            "SHOP_NLU_DIR": (settings.nlu_dir, project.data / "nlu"),
        }
        for name, (given, wanted) in expected.items():
            if given.resolve() != wanted.resolve():
                raise ConfigError(
                    f"{name}={given} does not belong to the project {project.root} "
                    f"(expected {wanted}): data, domain, config and NLU folder must "
                    "be data/, bot/domain, bot/config.yml and data/nlu of one folder"
                )
        return project

    @property
    def config(self) -> Path:
        """The pipeline and policies."""
        return self.root / "bot" / "config.yml"

    @property
    def domain(self) -> Path:
        """The domain folder."""
        return self.root / "bot" / "domain"

    @property
    def data(self) -> Path:
        """Training data (NLU, stories, rules)."""
        return self.root / "data"

    @property
    def eval_nlu(self) -> Path:
        """The fixed NLU evaluation set: our own examples, never trained on."""
        return self.root / "data" / "eval" / "heldout.csv"

    @property
    def eval_stories(self) -> Path:
        """The fixed test stories, never trained on."""
        return self.root / "tests" / "bot" / "test_stories.yml"

    @property
    def python(self) -> Path:
        """The Rasa environment's interpreter."""
        return self.rasa_bin.parent / "python"

    def training_inputs(self) -> list[Path]:
        """Every file whose change calls for a new model, sorted."""
        files = [self.config, *sorted(self.domain.rglob("*.yml"))]
        for folder in ("nlu", "stories", "rules"):
            files += sorted((self.data / folder).rglob("*.yml"))
        files += sorted((self.root / "bot" / "components").rglob("*.py"))
        return files

    def fingerprint(self) -> str:
        """sha256 over the training inputs' relative paths and contents."""
        digest = hashlib.sha256()
        for path in self.training_inputs():
            digest.update(str(path.relative_to(self.root)).encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
        return digest.hexdigest()

    def eval_fingerprint(self) -> str:
        """sha256 of the evaluation set: cached metrics hold only while it stays."""
        digest = hashlib.sha256()
        for path in (self.eval_nlu, self.eval_stories):
            digest.update(path.read_bytes())
            digest.update(b"\0")
        return digest.hexdigest()


Runner = Callable[[Sequence[str], Path], "CommandOutput"]


@dataclass(frozen=True)
class CommandOutput:
    """How a subprocess ended and what it printed on stdout."""

    returncode: int
    stdout: str


def run_subprocess(command: Sequence[str], cwd: Path) -> CommandOutput:
    """Run ``command`` in the repository; stderr passes through.

    The working directory is always the repository root, whatever project the
    inputs come from: the pipeline finds the encoder at ``models/encoder`` relative
    to it, and the components import as ``bot.components``.
    """
    del cwd  # paths in the command are absolute
    env = os.environ.copy()
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["RASA_TELEMETRY_ENABLED"] = "false"  # no usage data or crash reports sent
    completed = subprocess.run(
        list(command), cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    return CommandOutput(completed.returncode, completed.stdout)


def _checked(output: CommandOutput, what: str) -> str:
    if output.returncode != 0:
        tail = "\n".join(output.stdout.strip().splitlines()[-8:])
        raise TrainingFailed(f"{what} failed (exit code {output.returncode})\n{tail}")
    return output.stdout


class RasaModels:
    """The versioned Rasa models of one project.

    Args:
        root: ``<models>/rasa``.
        project: the project's inputs and Rasa environment.
        runner: runs a subprocess (tests pass a fake).
    """

    def __init__(
        self,
        root: Path,
        project: RasaProject | None = None,
        *,
        runner: Runner = run_subprocess,
    ) -> None:
        self.root = root
        self.project = project or RasaProject()
        self.runner = runner

    # ---- reading ----------------------------------------------------------------
    @property
    def served(self) -> Path:
        """The file Rasa serves: a copy of the promoted model."""
        return self.root / SERVED_FILE

    def current(self) -> str | None:
        """The promoted version, if any."""
        return artifacts.current_version(self.root)

    def model_path(self, version: str) -> Path:
        """The archive of ``version``."""
        return self.root / version / MODEL_FILE

    def metadata(self, version: str) -> dict[str, Any]:
        """The metadata of ``version``."""
        return artifacts.read_metadata(self.root / version)

    def update_metadata(self, version: str, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into the metadata of ``version`` and save it."""
        data = self.metadata(version)
        data.update(changes)
        artifacts.write_metadata(self.root / version, data)
        return data

    def versions(self) -> list[dict[str, Any]]:
        """Every kept version's metadata, oldest first."""
        found = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            if (folder / artifacts.METADATA).is_file():
                found.append(artifacts.read_metadata(folder))
        return found

    def is_up_to_date(self) -> bool:
        """True when the promoted model was trained on today's inputs."""
        version = self.current()
        if version is None or not self.served.is_file():
            return False
        return self.metadata(version).get("fingerprint") == self.project.fingerprint()

    # ---- training -----------------------------------------------------------------
    def train(self, *, finetune: bool = False, epoch_fraction: float = 0.5) -> str:
        """Train a candidate into a new version folder; returns its version.

        ``finetune`` starts from the promoted model's weights (Rasa's
        ``--finetune``, ``epoch_fraction`` of the configured epochs); it needs the
        same pipeline and domain as that model.

        Raises:
            TrainingFailed: ``rasa train`` failed (its last lines in the message).
        """
        # The inputs as they are when training starts (a trainer may label meanwhile).
        fingerprint = self.project.fingerprint()
        examples = label_audit.snapshot(self.project.data / "nlu")
        parent = self.current()
        version, folder = artifacts.new_version_dir(self.root)
        command = [
            str(self.project.rasa_bin), "train",
            "--config", str(self.project.config),
            "--domain", str(self.project.domain),
            "--data", str(self.project.data),
            "--out", str(folder),
            "--fixed-model-name", MODEL_FILE.removesuffix(".tar.gz"),
        ]  # fmt: skip
        if finetune:
            if parent is None:
                raise TrainingFailed("--finetune needs a promoted model to start from")
            command += [
                "--finetune", str(self.model_path(parent)),
                "--epoch-fraction", str(epoch_fraction),
            ]  # fmt: skip
        started = datetime.now(timezone.utc)
        try:
            _checked(self.runner(command, self.project.root), "rasa train")
            if not (folder / MODEL_FILE).is_file():
                raise TrainingFailed(f"rasa train wrote no {folder / MODEL_FILE}")
        except TrainingFailed:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        seconds = (datetime.now(timezone.utc) - started).total_seconds()
        label_audit.save_snapshot(examples, folder / label_audit.EXAMPLES_FILE)
        artifacts.write_metadata(
            folder,
            {
                "version": version,
                "created_at": started.isoformat(timespec="seconds"),
                "fingerprint": fingerprint,
                "parent": parent,
                "finetuned": finetune,
                "train_seconds": round(seconds, 1),
                "status": "candidate",
            },
        )
        logger.info("training.rasa.trained version=%s seconds=%.0f", version, seconds)
        return version

    def examples(self, version: str) -> list[label_audit.Example] | None:
        """The NLU examples ``version`` was trained on (None if not recorded)."""
        return label_audit.load_snapshot(
            self.root / version / label_audit.EXAMPLES_FILE
        )

    def adopt(self, archive: Path, *, trained_on_current_inputs: bool = False) -> str:
        """Register an existing archive (e.g. an old ``shop.tar.gz``) as a version.

        ``trained_on_current_inputs`` records today's inputs (fingerprint and NLU
        examples) as the ones it was trained on; otherwise they are unknown.
        """
        version, folder = artifacts.new_version_dir(self.root)
        shutil.copy2(archive, folder / MODEL_FILE)
        fingerprint = None
        if trained_on_current_inputs:
            fingerprint = self.project.fingerprint()
            label_audit.save_snapshot(
                label_audit.snapshot(self.project.data / "nlu"),
                folder / label_audit.EXAMPLES_FILE,
            )
        artifacts.write_metadata(
            folder,
            {
                "version": version,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "fingerprint": fingerprint,
                "parent": None,
                "finetuned": False,
                "status": "candidate",
                "adopted_from": str(archive),
            },
        )
        return version

    # ---- evaluation ---------------------------------------------------------------
    def evaluate(self, version: str) -> dict[str, Any]:
        """Measure ``version`` on the fixed evaluation set (cached per eval set).

        Returns ``macro_f1``, ``accuracy``, ``in_scope_fallback_rate`` and
        ``per_intent`` on the held-out NLU rows, ``story_accuracy`` and the story
        counts on the test stories, and where the predictions were written.

        Raises:
            TrainingFailed: an evaluation subprocess failed.
        """
        meta = self.metadata(version)
        eval_fp = self.project.eval_fingerprint()
        cached = meta.get("metrics")
        if cached and cached.get("eval_fingerprint") == eval_fp:
            return cached

        out = self.root / version / EVAL_DIR
        out.mkdir(exist_ok=True)
        model = self.model_path(version)
        predictions = out / "nlu_predictions.csv"
        nlu_command = [
            str(self.project.python), "-m", "bot.evaluate",
            "--model", str(model),
            "--data", str(self.project.eval_nlu),
            "--domain", str(self.project.domain),
            "--reports", str(out),
            "--predictions", str(predictions),
        ]  # fmt: skip
        nlu_stdout = _checked(
            self.runner(nlu_command, self.project.root), "NLU evaluation"
        )
        nlu = _last_json_line(nlu_stdout, "bot.evaluate")
        report_name = f"eval-{self.project.eval_nlu.parent.name}-"
        report_name += self.project.eval_nlu.name.removesuffix(".csv") + ".json"
        per_intent = json.loads((out / report_name).read_text(encoding="utf-8"))[
            "per_intent"
        ]
        core_out = out / "core"
        core_command = [
            str(self.project.rasa_bin), "test", "core",
            "--model", str(model),
            "--stories", str(self.project.eval_stories),
            "--out", str(core_out),
        ]  # fmt: skip
        _checked(self.runner(core_command, self.project.root), "rasa test core")
        stories = story_results(core_out)
        metrics = {
            "eval_fingerprint": eval_fp,
            "eval_nlu": str(self.project.eval_nlu),
            "eval_stories": str(self.project.eval_stories),
            "n": nlu.get("n"),
            "macro_f1": nlu.get("macro_f1"),
            "accuracy": nlu.get("accuracy"),
            "in_scope_fallback_rate": nlu.get("in_scope_fallback_rate"),
            "per_intent": per_intent,
            "predictions": str(predictions),
            **stories,
        }
        self.update_metadata(version, metrics=metrics)
        logger.info(
            "training.rasa.evaluated version=%s macro_f1=%s story_accuracy=%s",
            version,
            metrics["macro_f1"],
            metrics["story_accuracy"],
        )
        return metrics

    # ---- going live ---------------------------------------------------------------
    def promote(self, version: str, *, reason: str) -> None:
        """Make ``version`` the served model: pointer, history and ``shop.tar.gz``."""
        source = self.model_path(version)
        if not source.is_file():
            raise ArtifactMissing(f"{source} does not exist; cannot promote {version}")
        tmp = self.root / f".{SERVED_FILE}.{os.getpid()}.tmp"
        shutil.copy2(source, tmp)
        os.replace(tmp, self.served)  # Rasa reading the old file keeps its handle
        self.update_metadata(version, status="promoted")
        artifacts.promote(self.root, version, reason=reason)

    def rollback(self) -> str:
        """Serve the version that was live before the current one; returns it."""
        target = artifacts.rollback_target(self.root)
        self.promote(target, reason="rollback")
        return target


class Busy(ShopBotError):
    """Another retrain or rollback holds the models; the message says which lock."""


@contextmanager
def exclusive(models_dir: Path) -> Iterator[None]:
    """Hold ``<models>/.retrain.lock`` for a retrain or rollback, or raise ``Busy``.

    Two retrains at once would each gate against the same old model and overwrite
    each other's promotion; the second one is turned away instead of waiting.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / ".retrain.lock"
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise Busy(
                f"another retrain or rollback is running (it holds {path}); "
                "try again when it has finished"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def story_results(core_out: Path) -> dict[str, Any]:
    """Story accuracy from ``rasa test core --out``: failed stories over all stories.

    ``failed_test_stories.yml`` lists each failed story; the total comes from
    ``story_report.json``'s conversation accuracy when present.
    """
    report = core_out / "story_report.json"
    data: dict[str, Any] = {}
    if report.is_file():
        data = json.loads(report.read_text(encoding="utf-8"))
    conv = data.get("conversation_accuracy") or {}
    total = conv.get("total")
    correct = conv.get("correct")
    if total is None or correct is None:
        raise TrainingFailed(f"{report} has no conversation_accuracy; cannot gate")
    actions = data.get("accuracy")
    return {
        "story_accuracy": round(correct / total, 4) if total else None,
        "stories_correct": correct,
        "stories_total": total,
        "action_accuracy": round(actions, 4) if isinstance(actions, float) else None,
    }


def _last_json_line(stdout: str, what: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                break
            if isinstance(value, dict):
                return value
    raise TrainingFailed(f"{what} printed no JSON summary line")


@dataclass(frozen=True)
class SwitchResult:
    """What happened when the running Rasa was told to load the promoted model."""

    switched: bool
    message: str


def switch_running_model(
    model: Path,
    *,
    rasa_url: str,
    token: str,
    client: httpx.Client | None = None,
    timeout: float = 300.0,
) -> SwitchResult:
    """Ask a running Rasa server to load ``model`` (``PUT /model``).

    Rasa keeps answering with the old model until the new one is loaded, and the
    conversations stay in the tracker store. A server that does not run is not an
    error: it loads ``shop.tar.gz`` when it starts.
    """
    own = client is None
    client = client or httpx.Client(timeout=timeout)
    try:
        response = client.put(
            f"{rasa_url}/model",
            params={"token": token},
            json={"model_file": str(model.resolve())},
        )
    except httpx.TransportError:
        return SwitchResult(False, f"Rasa is not running at {rasa_url}; it loads "
                            f"{model.name} when it starts")  # fmt: skip
    finally:
        if own:
            client.close()
    if response.status_code == 204:
        logger.info("training.rasa.switched url=%s", rasa_url)
        return SwitchResult(True, f"Rasa at {rasa_url} now serves {model.name}")
    raise TrainingFailed(
        f"Rasa at {rasa_url} refused the new model: HTTP {response.status_code} "
        f"{response.text[:200]}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m crm_models.training.rasa_models ensure|status``.

    ``ensure`` (called by ``make models``): with no promoted model, train one and
    promote it (there is nothing to compare with); when the training inputs changed
    since the promoted model, run the gated retrain of the Rasa model.
    """
    import argparse

    from crm_models.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m crm_models.training.rasa_models")
    parser.add_argument("command", choices=("ensure", "status"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    quiet_http_logs()  # no request URL (the API token) in the log
    settings = get_settings()
    models = RasaModels(
        settings.models_dir / "rasa", RasaProject.from_settings(settings)
    )
    models.root.mkdir(parents=True, exist_ok=True)

    if args.command == "status":
        current = models.current()
        for meta in models.versions():
            mark = "*" if meta["version"] == current else " "
            metrics = meta.get("metrics") or {}
            print(  # noqa: T201
                f"{mark} {meta['version']:<20} {meta.get('status', '?'):<9} "
                f"macro_f1={metrics.get('macro_f1', '-')} "
                f"stories={metrics.get('story_accuracy', '-')}"
            )
        return 0

    try:
        if models.current() is None:
            version = models.train()
            models.promote(version, reason="first model")
            print(f"rasa: trained and promoted the first model {version}")  # noqa: T201
            return 0
        if models.is_up_to_date():
            print("rasa: the promoted model is up to date")  # noqa: T201
            return 0
        fingerprint = models.project.fingerprint()
        refused = [
            meta["version"]
            for meta in models.versions()
            if meta.get("fingerprint") == fingerprint
            and meta.get("status") == "refused"
        ]
        if refused:
            print(  # noqa: T201
                f"rasa: the gate refused a model of these inputs ({refused[-1]}); "
                "the promoted one keeps serving. Fix the data, or promote it anyway "
                "with `make retrain ARGS=--force`"
            )
            return 0
    except (TrainingFailed, ArtifactMissing) as exc:
        print(f"rasa: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print("rasa: training inputs changed since the promoted model; gated retrain")  # noqa: T201
    from crm_models.training.retrain import EXIT_REFUSED
    from crm_models.training.retrain import main as retrain_main

    code = retrain_main(["--skip-scoring", "--skip-index", "--no-feedback"])
    if code == EXIT_REFUSED:
        print(  # noqa: T201
            "rasa: the gate refused the new model; the promoted one keeps serving "
            "(see the report above; `make retrain ARGS=--force` overrides)"
        )
        return 0
    return code


if __name__ == "__main__":
    raise SystemExit(main())
