"""A stand-in for the Rasa environment's commands, for the training tests.

``rasa train`` writes an archive whose content is the figures its evaluation will
report (taken in order from ``FakeRasa.scores``); ``bot.evaluate`` and ``rasa test
core`` write the files the real ones write, with those figures.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crm_models.training.rasa_models import CommandOutput, RasaProject

INTENTS = ("cancel_order", "track_order", "get_refund")


@dataclass
class Scores:
    """What a trained fake model measures."""

    macro_f1: float
    accuracy: float
    stories_correct: int
    stories_total: int = 16


@dataclass
class FakeRasa:
    scores: list[Scores]
    commands: list[list[str]] = field(default_factory=list)
    fail_training: bool = False

    def __call__(self, command: Sequence[str], cwd: Path) -> CommandOutput:
        command = list(command)
        self.commands.append(command)
        options = dict(itertools.pairwise(command))
        if command[1] == "train":
            if self.fail_training:
                return CommandOutput(1, "Traceback\nInvalidDomain: bad intent")
            scores = self.scores.pop(0)
            out = Path(options["--out"]) / f"{options['--fixed-model-name']}.tar.gz"
            out.write_text(json.dumps(scores.__dict__), encoding="utf-8")
            return CommandOutput(0, "Your Rasa model is trained\n")
        scores = Scores(**json.loads(Path(options["--model"]).read_text()))
        if command[1:3] == ["-m", "bot.evaluate"]:
            data = Path(options["--data"])
            reports = Path(options["--reports"])
            name = f"eval-{data.parent.name}-{data.name.removesuffix('.csv')}.json"
            per_intent = [
                {"intent": i, "f1": scores.macro_f1, "support": 5} for i in INTENTS
            ]
            (reports / name).write_text(json.dumps({"per_intent": per_intent}))
            with Path(options["--predictions"]).open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["line", "text", "intent", "predicted", "confidence"])
                writer.writerow([2, "x", "cancel_order", "track_order", "0.5"])
                writer.writerow([3, "y", "track_order", "track_order", "0.9"])
            summary = {
                "n": 15,
                "macro_f1": scores.macro_f1,
                "accuracy": scores.accuracy,
                "in_scope_fallback_rate": 0.0,
            }
            return CommandOutput(0, "table\n" + json.dumps(summary) + "\n")
        if command[1:3] == ["test", "core"]:
            out = Path(options["--out"])
            out.mkdir(parents=True, exist_ok=True)
            report = {
                "accuracy": 0.97,
                "conversation_accuracy": {
                    "accuracy": scores.stories_correct / scores.stories_total,
                    "correct": scores.stories_correct,
                    "total": scores.stories_total,
                },
            }
            (out / "story_report.json").write_text(json.dumps(report))
            return CommandOutput(0, "")
        raise AssertionError(f"unexpected command {command}")


def make_project(root: Path) -> RasaProject:
    """A minimal project tree with every input the registry fingerprints."""
    (root / "bot" / "domain").mkdir(parents=True)
    (root / "bot" / "components").mkdir()
    (root / "data" / "nlu").mkdir(parents=True)
    (root / "data" / "eval").mkdir()
    (root / "tests" / "bot").mkdir(parents=True)
    (root / "bot" / "config.yml").write_text("language: en\n")
    (root / "bot" / "domain" / "intents.yml").write_text(
        "intents: [greet, track_order, get_refund, recover_password, complaint]\n"
    )
    (root / "data" / "nlu" / "greet.yml").write_text("nlu: []\n")
    (root / "data" / "eval" / "heldout.csv").write_text("text,intent\nhi,greet\n")
    (root / "tests" / "bot" / "test_stories.yml").write_text("stories: []\n")
    rasa_bin = root / "venv" / "rasa"
    rasa_bin.parent.mkdir()
    rasa_bin.write_text("#!/bin/sh\n")
    return RasaProject(root=root, rasa_bin=rasa_bin)
