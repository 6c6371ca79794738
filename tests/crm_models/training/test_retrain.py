from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from crm_models.settings import ROOT, Settings
from crm_models.training import retrain
from crm_models.training.retrain import (
    CommandResult,
    Retrainer,
    format_summary,
    rasa_train_command,
    run_command,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path),
            "SHOP_IDENTITY_SECRET": "s",
            "SHOP_RASA_TOKEN": "t",
        }
    )


class FakeRunner:
    """Records commands; a command whose module is in ``failing`` exits 1."""

    def __init__(self, failing: Sequence[str] = ()) -> None:
        self.commands: list[list[str]] = []
        self.failing = failing

    def __call__(self, command: Sequence[str], cwd: Path) -> CommandResult:
        assert cwd == ROOT
        self.commands.append(list(command))
        if any(part in self.failing for part in command):
            return CommandResult(1, ["Traceback ...", "DataError: no orders"])
        return CommandResult(0, [f"{command[-1]}: auc=0.81"])


def _fake_rasa(tmp_path: Path) -> Path:
    rasa_bin = tmp_path / "rasa"
    rasa_bin.write_text("#!/bin/sh\n")
    return rasa_bin


def test_steps_run_in_order_with_their_commands(
    settings: Settings, tmp_path: Path
) -> None:
    runner = FakeRunner()
    rasa_bin = _fake_rasa(tmp_path)

    results = Retrainer(
        settings, runner=runner, consume=lambda s: "3 events", rasa_bin=rasa_bin
    ).run(force_index=True)

    assert [(r.name, r.ok) for r in results] == [
        ("feedback", True),
        ("scoring", True),
        ("index", True),
        ("rasa", True),
    ]
    assert runner.commands == [
        [sys.executable, "-m", "crm_models.scoring.train"],
        [sys.executable, "-m", "crm_models.recommend.build_index", "--force"],
        [str(rasa_bin), "train", "--config", "bot/config.yml", "--domain",
         "bot/domain", "--data", "data", "--out", "models/rasa",
         "--fixed-model-name", "shop"],
    ]  # fmt: skip
    assert results[0].detail == ["3 events"]
    assert results[1].detail == ["crm_models.scoring.train: auc=0.81"]


def test_a_failed_step_is_reported_and_the_rest_still_runs(
    settings: Settings, tmp_path: Path
) -> None:
    runner = FakeRunner(failing=["crm_models.scoring.train"])

    results = Retrainer(
        settings,
        runner=runner,
        consume=lambda s: "0 events",
        rasa_bin=tmp_path / "missing" / "rasa",
    ).run()

    assert [(r.name, r.ok) for r in results] == [
        ("feedback", True),
        ("scoring", False),
        ("index", True),
        ("rasa", False),
    ]
    assert results[1].detail == ["exit code 1", "Traceback ...", "DataError: no orders"]
    assert "not found" in results[3].detail[0]
    summary = format_summary(results)
    assert "scoring   FAILED" in summary
    assert "      DataError: no orders" in summary


def test_skipped_steps_do_not_run(settings: Settings) -> None:
    runner = FakeRunner()

    results = Retrainer(settings, runner=runner, consume=lambda s: "").run(
        scoring=False, index=False, rasa=False
    )

    assert [r.name for r in results] == ["feedback"]
    assert runner.commands == []


def test_rasa_command_names_config_domain_data_and_output() -> None:
    command = rasa_train_command(Path("/x/rasa"))

    options = dict(zip(command[2::2], command[3::2], strict=True))
    assert command[:2] == ["/x/rasa", "train"]
    assert options == {
        "--config": "bot/config.yml",
        "--domain": "bot/domain",
        "--data": "data",
        "--out": "models/rasa",
        "--fixed-model-name": "shop",
    }


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
