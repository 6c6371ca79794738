"""Versioned artefact folders and the ``current`` pointer."""

from __future__ import annotations

import json
import os
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


def _built(root: Path, n: int) -> list[str]:
    """``n`` finished versions (not promoted), oldest first."""
    versions = []
    for _ in range(n):
        version, folder = artifacts.new_version_dir(root)
        artifacts.write_metadata(folder, {"version": version})
        versions.append(version)
    return versions


def _on_disk(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def test_promotions_keep_the_rollback_chain_and_prune_the_rest(tmp_path: Path) -> None:
    versions = []
    for _ in range(8):  # build, promote, build, promote...
        versions += _built(tmp_path, 1)
        artifacts.promote(tmp_path, versions[-1], keep=2)

    assert _on_disk(tmp_path) == versions[-3:]  # current and two to roll back to
    for expected in (versions[-2], versions[-3]):
        target = artifacts.rollback_target(tmp_path)
        assert target == expected
        artifacts.promote(tmp_path, target, reason="rollback", keep=2)
    with pytest.raises(ArtifactMissing, match="no earlier version"):
        artifacts.rollback_target(tmp_path)


def test_pruning_keeps_refused_candidates_and_unfinished_builds(
    tmp_path: Path,
) -> None:
    live = []
    for _ in range(4):
        live += _built(tmp_path, 1)
        artifacts.promote(tmp_path, live[-1], keep=1)
    refused = _built(tmp_path, 2)  # newer than the current one, never promoted
    building, _ = artifacts.new_version_dir(tmp_path)  # no metadata yet
    abandoned = "20200101T000000Z"  # a build that died long ago
    (tmp_path / abandoned).mkdir()
    os.utime(tmp_path / abandoned, (0, 0))
    (tmp_path / "notes").mkdir()  # not a version: never touched

    deleted = artifacts.prune(tmp_path, keep=2)

    assert abandoned in deleted
    assert (
        set(_on_disk(tmp_path))
        == {
            live[-1],  # current
            live[-2],  # its rollback target (the one before was pruned at keep=1)
            *refused[-1:],  # the newest two folders: the last refusal and the build
            building,
            "notes",
        }
    )
    assert artifacts.current_version(tmp_path) == live[-1]


def test_nothing_is_pruned_before_anything_is_promoted(tmp_path: Path) -> None:
    versions = _built(tmp_path, 3)

    assert artifacts.prune(tmp_path, keep=1) == []
    assert _on_disk(tmp_path) == versions


def test_a_promotion_stands_when_pruning_fails(tmp_path: Path) -> None:
    (first,) = _built(tmp_path, 1)
    artifacts.promote(tmp_path, first, keep=1)
    (second,) = _built(tmp_path, 1)
    (tmp_path / artifacts.HISTORY).write_text("not json\n", encoding="utf-8")

    artifacts.promote(tmp_path, second, keep=1)  # pruning reads the broken history

    assert artifacts.current_version(tmp_path) == second


def test_a_history_line_of_the_wrong_shape_is_named(tmp_path: Path) -> None:
    (version,) = _built(tmp_path, 1)
    artifacts.promote(tmp_path, version, keep=1)
    with (tmp_path / artifacts.HISTORY).open("a", encoding="utf-8") as history:
        history.write(json.dumps({"version": version, "previous": 123}) + "\n")

    with pytest.raises(DataError, match=r"history.jsonl:2: 'previous'"):
        artifacts.rollback_target(tmp_path)
