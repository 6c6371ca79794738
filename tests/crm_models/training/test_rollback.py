"""``make rollback`` of the scoring models: one step back, never to a model this code
cannot load."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_models import artifacts
from crm_models.scoring.features import FEATURES
from crm_models.training.rollback import _rollback
from tests.conftest import make_test_settings


def _version(root: Path, features: list[str]) -> str:
    version, folder = artifacts.new_version_dir(root)
    artifacts.write_metadata(folder, {"version": version, "features": features})
    artifacts.promote(root, version, keep=5)
    return version


def test_scoring_steps_back_to_the_version_before(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path)
    root = settings.models_dir / "scoring"
    before = _version(root, list(FEATURES))
    _version(root, list(FEATURES))

    assert _rollback(settings, only="scoring", switch=False) == 0
    assert artifacts.current_version(root) == before


def test_a_version_with_other_features_is_not_rolled_back_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_test_settings(tmp_path)
    root = settings.models_dir / "scoring"
    _version(root, list(FEATURES[:18]))  # from before the conversation signals
    current = _version(root, list(FEATURES))

    assert _rollback(settings, only="scoring", switch=False) == 1
    assert artifacts.current_version(root) == current
    assert "trained on other features" in capsys.readouterr().err


def test_a_broken_history_is_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_test_settings(tmp_path)
    root = settings.models_dir / "scoring"
    _version(root, list(FEATURES))
    (root / artifacts.HISTORY).write_text('{"version": 5}\n', encoding="utf-8")

    assert _rollback(settings, only="scoring", switch=False) == 1
    assert "history.jsonl:1: expected an object with a version" in (
        capsys.readouterr().err
    )
