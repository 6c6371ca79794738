"""Fixtures for the Rasa-side tests: the exported encoder and Rasa graph plumbing."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

if importlib.util.find_spec("rasa") is None:  # collected from the other environment
    collect_ignore_glob = ["test_*.py", "*/test_*.py"]

REPO_ROOT = Path(__file__).resolve().parents[2]
ENCODER_DIR = REPO_ROOT / "models" / "encoder"


@pytest.fixture(scope="session")
def encoder_dir() -> Path:
    """The exported encoder; skipped locally if not built yet, a failure in CI."""
    if not (ENCODER_DIR / "model.onnx").is_file():
        message = f"no encoder in {ENCODER_DIR}: run `make models`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return ENCODER_DIR
