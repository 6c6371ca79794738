from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from crm_models import artifacts
from crm_models.settings import ROOT, Settings
from crm_models.training import retrain
from crm_models.training.rasa_models import RasaModels, SwitchResult
from crm_models.training.retrain import (
    EXIT_REFUSED,
    CommandResult,
    Options,
    Retrainer,
    exit_code,
    format_summary,
    run_command,
)
from tests.crm_models.training.fake_rasa import FakeRasa, Scores, make_project


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path / "var"),
            "SHOP_MODELS_DIR": str(tmp_path / "models"),
            "SHOP_IDENTITY_SECRET": "s",
            "SHOP_RASA_TOKEN": "t",
        }
    )


def _scoring_meta(auc: float) -> dict:
    estimate = {"roc_auc": {"value": auc, "ci_low": auc - 0.02, "ci_high": auc + 0.02}}
    rfm = {"roc_auc": {"value": 0.70, "ci_low": 0.68, "ci_high": 0.72}}
    return {"models": {"propensity": {"backtest": {"test": {
        "chosen": estimate, "rfm": rfm}}}}}  # fmt: skip


def _roc(auc: float) -> dict:
    curve = {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.8, 1.0], "auc": auc}
    return {"propensity": {"chosen": curve, "rfm": curve}}


class FakeRunner:
    """The app-side commands: a scoring training that saves a version."""

    def __init__(self, settings: Settings, aucs: Sequence[float] = (0.75,)) -> None:
        self.commands: list[list[str]] = []
        self.root = settings.models_dir / "scoring"
        self.aucs = list(aucs)
        self.failing: set[str] = set()

    def __call__(self, command: Sequence[str], cwd: Path) -> CommandResult:
        assert cwd == ROOT
        self.commands.append(list(command))
        module = command[2]
        if module in self.failing:
            return CommandResult(1, ["Traceback ...", "DataError: no orders"])
        if module == "crm_models.scoring.train":
            version, folder = artifacts.new_version_dir(self.root)
            auc = self.aucs.pop(0)
            artifacts.write_metadata(folder, _scoring_meta(auc))
            (folder / "roc.json").write_text(json.dumps(_roc(auc)))
            return CommandResult(0, ["table", f"trained; saved {version} -> {folder}"])
        return CommandResult(0, [f"{module}: ok"])


@pytest.fixture
def project(tmp_path: Path):
    return make_project(tmp_path / "project")


def _retrainer(settings, project, runner, fake_rasa, switched, flush=None):
    return Retrainer(
        settings,
        flush_labels=flush or (lambda s: None),
        runner=runner,
        consume=lambda s: "3 events",
        rasa_models=RasaModels(settings.models_dir / "rasa", project, runner=fake_rasa),
        switch=lambda model: switched.append(model) or SwitchResult(True, "switched"),
        reports_dir=settings.var_dir / "reports",
    )


def test_a_better_candidate_is_promoted_and_reported(settings, project) -> None:
    runner = FakeRunner(settings, aucs=[0.74, 0.75])
    fake = FakeRasa([Scores(0.90, 0.90, 16), Scores(0.92, 0.91, 16)])
    switched: list[Path] = []
    first = _retrainer(settings, project, runner, fake, switched)
    first.run(Options(index=False))
    scoring_root = settings.models_dir / "scoring"
    first_scoring = artifacts.current_version(scoring_root)

    second = _retrainer(settings, project, runner, fake, switched)
    results = second.run(Options(force_index=True, retrain_unchanged=True))

    assert [(r.name, r.ok, r.promoted) for r in results] == [
        ("feedback", True, None),
        ("scoring", True, True),
        ("index", True, None),
        ("rasa", True, True),
        ("report", True, None),
    ]
    assert exit_code(results) == 0
    assert runner.commands[-2:] == [
        [sys.executable, "-m", "crm_models.scoring.train", "--no-promote"],
        [sys.executable, "-m", "crm_models.recommend.build_index", "--force"],
    ]
    assert artifacts.current_version(scoring_root) != first_scoring
    models = second.rasa_models
    assert models.metadata(models.current())["metrics"]["macro_f1"] == 0.92
    assert models.metadata(models.current())["gate"]["passed"] is True
    assert switched == [models.served, models.served]
    page = second.report_path
    assert page is not None
    assert page.is_file()
    text = page.read_text()
    assert "Rasa model: <span class='ok'>promoted</span>" in text
    for chart in ("intent_f1.png", "confusion.png", "roc.png"):
        assert (page.parent / chart).stat().st_size > 1000


def test_a_worse_candidate_is_refused_and_kept(settings, project) -> None:
    runner = FakeRunner(settings, aucs=[0.75, 0.70])
    fake = FakeRasa([Scores(0.95, 0.95, 16), Scores(0.80, 0.82, 16)])
    switched: list[Path] = []
    _retrainer(settings, project, runner, fake, switched).run(Options(index=False))
    scoring_root = settings.models_dir / "scoring"
    live_scoring = artifacts.current_version(scoring_root)
    models = RasaModels(settings.models_dir / "rasa", project)
    live = models.current()
    served = models.served.read_bytes()

    retrainer = _retrainer(settings, project, runner, fake, switched)
    results = retrainer.run(
        Options(feedback=False, index=False, retrain_unchanged=True)
    )

    assert [(r.name, r.promoted) for r in results] == [
        ("scoring", False),
        ("rasa", False),
        ("report", None),
    ]
    assert exit_code(results) == EXIT_REFUSED
    assert artifacts.current_version(scoring_root) == live_scoring
    assert models.current() == live
    assert models.served.read_bytes() == served
    assert len(switched) == 1  # only the first run's promotion
    refused = [m for m in models.versions() if m["status"] == "refused"]
    assert len(refused) == 1
    assert refused[0]["gate"]["passed"] is False
    assert refused[0]["metrics"]["macro_f1"] == 0.80
    summary = format_summary(results)
    assert "refused" in summary
    assert "macro_f1" in summary
    assert "<span class='bad'>refused</span>" in retrainer.report_path.read_text()


def test_force_promotes_a_refused_candidate(settings, project) -> None:
    runner = FakeRunner(settings)
    fake = FakeRasa([Scores(0.95, 0.95, 16), Scores(0.80, 0.80, 16)])
    switched: list[Path] = []
    options = Options(feedback=False, scoring=False, index=False)
    _retrainer(settings, project, runner, fake, switched).run(options)

    results = _retrainer(settings, project, runner, fake, switched).run(
        Options(
            feedback=False,
            scoring=False,
            index=False,
            force=True,
            retrain_unchanged=True,
        )
    )

    assert results[0].promoted is True
    assert "--force" in results[0].detail[-1]
    history = artifacts.history(settings.models_dir / "rasa")
    assert history[-1]["reason"] == "forced past the gate"


def test_a_failed_step_is_reported_and_the_rest_still_runs(settings, project) -> None:
    runner = FakeRunner(settings)
    runner.failing.add("crm_models.scoring.train")
    fake = FakeRasa([], fail_training=True)

    results = _retrainer(settings, project, runner, fake, []).run()

    assert [(r.name, r.ok) for r in results] == [
        ("feedback", True),
        ("scoring", False),
        ("index", True),
        ("rasa", False),
    ]
    assert results[1].detail == ["exit code 1", "Traceback ...", "DataError: no orders"]
    assert "InvalidDomain" in results[3].detail[0]
    assert exit_code(results) == 1
    summary = format_summary(results)
    assert "scoring   FAILED" in summary


def test_missing_rasa_environment_is_a_clear_failure(settings, tmp_path) -> None:
    project = make_project(tmp_path / "p")
    project.rasa_bin.unlink()
    results = _retrainer(settings, project, FakeRunner(settings), FakeRasa([]), []).run(
        Options(feedback=False, scoring=False, index=False)
    )
    assert not results[0].ok
    assert "not found: build the Rasa environment" in results[0].detail[0]


def test_run_command_echoes_and_keeps_the_last_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = "for i in range(10): print(f'line {i}')\nraise SystemExit(3)"

    result = run_command([sys.executable, "-c", script], tmp_path)

    assert result.returncode == 3
    assert result.tail == [f"line {i}" for i in range(4, 10)]
    assert "line 0" in capsys.readouterr().out


def test_main_consumes_feedback_and_writes_the_summary(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(retrain, "get_settings", lambda: settings)

    code = retrain.main(["--skip-scoring", "--skip-index", "--skip-rasa"])

    assert code == 0
    assert "feedback  ok" in capsys.readouterr().out
    saved = json.loads((settings.var_dir / "retrain" / "last.json").read_text())
    assert saved[0]["name"] == "feedback"
    assert saved[0]["detail"] == ["0 events, 0 messages, 0 conversations, 0 abandoned"]


def _nlu(examples: dict[str, list[str]]) -> str:
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in examples.items():
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {text}" for text in texts]
    return "\n".join(lines) + "\n"


def test_shuffled_new_labels_are_refused_even_when_the_figures_hold(
    settings, project
) -> None:
    from tests.crm_models.training.test_label_audit import EXISTING, bag_of_words

    by_intent: dict[str, list[str]] = {}
    for text, intent in EXISTING:
        by_intent.setdefault(intent, []).append(text)
    (project.data / "nlu" / "greet.yml").write_text(_nlu(by_intent))
    same = Scores(0.95, 0.95, 16)
    fake = FakeRasa([same, same, same])
    options = Options(feedback=False, scoring=False, index=False, audit_k=3)

    def retrainer():
        return Retrainer(
            settings,
            rasa_models=RasaModels(settings.models_dir / "rasa", project, runner=fake),
            switch=lambda model: SwitchResult(False, "not running"),
            reports_dir=settings.var_dir / "reports",
            encode=bag_of_words,
            flush_labels=lambda s: None,
        )

    retrainer().run(options)  # the first model: nothing to audit
    inbox = project.data / "nlu" / "inbox.yml"
    inbox.write_text(_nlu({"get_refund": ["parcel not arrived yet"],
                           "recover_password": ["money back now"],
                           "track_order": ["login password lost"]}))  # fmt: skip

    shuffled = retrainer()
    results = shuffled.run(options)

    assert results[0].promoted is False
    failed = [c for c in shuffled.decisions["Rasa model"]["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["new labels backed (3)"]
    assert "NO: check it" in shuffled.report_path.read_text()

    inbox.write_text(_nlu({"track_order": ["parcel not arrived yet"],
                           "get_refund": ["money back now"],
                           "recover_password": ["login password lost"]}))  # fmt: skip
    honest = retrainer()
    assert honest.run(options)[0].promoted is True


def test_labels_that_cannot_be_written_stop_the_rasa_step(settings, project) -> None:
    fake = FakeRasa([Scores(0.9, 0.9, 16)])
    flush = lambda s: "data/nlu/inbox.yml: rasa data validate failed"  # noqa: E731

    results = _retrainer(settings, project, FakeRunner(settings), fake, [], flush).run(
        Options(feedback=False, scoring=False, index=False)
    )

    assert not results[0].ok
    assert "validate failed" in results[0].detail[0]
    assert fake.commands == []  # nothing trained on half-written data


def test_unchanged_inputs_train_nothing(settings, project) -> None:
    fake = FakeRasa([Scores(0.9, 0.9, 16)])
    options = Options(feedback=False, scoring=False, index=False)
    _retrainer(settings, project, FakeRunner(settings), fake, []).run(options)
    n_commands = len(fake.commands)

    results = _retrainer(settings, project, FakeRunner(settings), fake, []).run(options)

    assert results[0].promoted is None
    assert "unchanged" in results[0].detail[0]
    assert len(fake.commands) == n_commands
    assert exit_code(results) == 0


def test_an_unknown_intent_stops_the_rasa_step_before_training(
    settings, project
) -> None:
    (project.data / "nlu" / "inbox.yml").write_text(
        _nlu({"refund_me_now": ["give me my money back right now"]})
    )
    fake = FakeRasa([Scores(0.9, 0.9, 16)])

    results = _retrainer(settings, project, FakeRunner(settings), fake, []).run(
        Options(feedback=False, scoring=False, index=False)
    )

    assert not results[0].ok
    assert "intents the domain lacks" in results[0].detail[0]
    assert "data/nlu/inbox.yml line 5" in results[0].detail[1]
    assert fake.commands == []


def test_a_text_under_two_intents_is_refused_unless_forced(settings, project) -> None:
    nlu = project.data / "nlu"
    (nlu / "orders.yml").write_text(_nlu({"track_order": ["where is my order"]}))
    same = Scores(0.95, 0.95, 16)
    fake = FakeRasa([same, same, same])
    options = Options(feedback=False, scoring=False, index=False, audit_k=3)
    _retrainer(settings, project, FakeRunner(settings), fake, []).run(options)
    (nlu / "inbox.yml").write_text(_nlu({"greet": ["Where is my order"]}))

    refused = _retrainer(settings, project, FakeRunner(settings), fake, [])
    results = refused.run(options)

    assert results[0].promoted is False
    failed = [c["name"] for c in refused.decisions["Rasa model"]["checks"]
              if not c["passed"]]  # fmt: skip
    assert "texts with two intents" in failed
    assert any("two intents: 'where is my order'" in d for d in results[0].detail)
    forced = _retrainer(settings, project, FakeRunner(settings), fake, []).run(
        Options(
            feedback=False,
            scoring=False,
            index=False,
            audit_k=3,
            force=True,
            retrain_unchanged=True,
        )
    )
    assert forced[0].promoted is True
