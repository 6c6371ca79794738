"""Versioned artefact folders and the ``current`` pointer."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_models import artifacts
from crm_models.errors import ArtifactMissing, DataError


def test_a_promoted_version_becomes_current(tmp_path: Path) -> None:
    version, folder = artifacts.new_version_dir(tmp_path)
    artifacts.write_metadata(folder, {"version": version, "n": 1})

    artifacts.promote(tmp_path, version)

    assert artifacts.current_version(tmp_path) == version
    assert artifacts.current_dir(tmp_path) == folder
    assert artifacts.read_metadata(folder) == {"n": 1, "version": version}


def test_versions_made_in_the_same_second_do_not_collide(tmp_path: Path) -> None:
    names = {artifacts.new_version_dir(tmp_path)[0] for _ in range(3)}

    assert len(names) == 3


def test_nothing_promoted_is_reported_clearly(tmp_path: Path) -> None:
    assert artifacts.current_version(tmp_path) is None
    with pytest.raises(ArtifactMissing, match="no promoted version"):
        artifacts.current_dir(tmp_path)


def test_a_version_without_metadata_cannot_be_promoted(tmp_path: Path) -> None:
    version, _ = artifacts.new_version_dir(tmp_path)

    with pytest.raises(ArtifactMissing):
        artifacts.promote(tmp_path, version)


def test_broken_metadata_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text("[1, 2", encoding="utf-8")

    with pytest.raises(DataError):
        artifacts.read_metadata(tmp_path)
