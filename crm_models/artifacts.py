"""Versioned artefact folders: ``<root>/<version>/`` plus a ``current`` pointer.

Each build writes into a fresh version folder with a ``metadata.json``, then
``promote`` rewrites the ``current`` text file atomically. Running processes compare
the pointer with the version they hold and reload when it moves, so a new model or
index is picked up without a restart. After each promotion ``prune`` deletes the
versions nobody can reach any more (see there), so a shop that retrains nightly
does not fill its disk.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import re
import shutil
import time
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from crm_models.errors import ArtifactMissing, DataError

logger = logging.getLogger(__name__)

POINTER = "current"
METADATA = "metadata.json"
HISTORY = "history.jsonl"  # one line per promotion: what went live, when and why
# Version folder names (``new_version_dir``): only these are ever pruned.
_VERSION_NAME = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")
# A version folder without metadata younger than this may still be being built.
_UNFINISHED_GRACE_SECONDS = 24 * 3600

_LIBRARIES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "joblib",
    "faiss-cpu",
    "sentence-transformers",
    "torch",
    "SQLAlchemy",
)


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries an artefact depends on."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def new_version_dir(root: Path) -> tuple[str, Path]:
    """Create and return a fresh ``<root>/<timestamp>`` folder and its version."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    # A pruned version's name is never reused: the history still speaks of it.
    promoted = {entry["version"] for entry in history(root)}
    version, n = stamp, 1
    while (root / version).exists() or version in promoted:
        n += 1
        version = f"{stamp}-{n}"
    path = root / version
    path.mkdir(parents=True)
    return version, path


def promote(
    root: Path, version: str, *, reason: str = "trained", keep: int | None = None
) -> None:
    """Point ``<root>/current`` at ``version`` (atomic replace), log it, and prune.

    The promotion is appended to ``<root>/history.jsonl`` (time, version, the
    version it replaced, ``reason``), which ``rollback`` walks back. Then ``prune``
    runs with ``keep`` (``SHOP_KEEP_VERSIONS`` when not given).
    """
    if not (root / version / METADATA).is_file():
        raise ArtifactMissing(f"{root / version} has no {METADATA}; nothing to promote")
    previous = current_version(root)
    tmp = root / f".{POINTER}.{os.getpid()}.tmp"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, root / POINTER)
    entry = {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "version": version,
        "previous": previous,
        "reason": reason,
    }
    with (root / HISTORY).open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
    logger.info(
        "artifacts.promoted root=%s version=%s reason=%s", root.name, version, reason
    )
    if keep is None:
        from crm_models.settings import get_settings

        keep = get_settings().keep_versions
    try:
        prune(root, keep=keep)
    except (OSError, DataError) as exc:
        # The promotion stands; old folders wait for the next one.
        logger.warning("artifacts.prune_failed root=%s error=%s", root.name, exc)


def prune(root: Path, *, keep: int) -> list[str]:
    """Delete the version folders under ``root`` that are no longer needed.

    Kept: the current version; the ``keep`` versions that repeated rollbacks would
    reach from it; the ``keep`` newest versions (a candidate being evaluated, or
    one a retrain refused, stays for its report); and an unfinished folder (no
    metadata) younger than a day. Everything else named like a version goes.

    Returns:
        The deleted versions, oldest first.
    """
    current = current_version(root)
    if current is None or not root.is_dir():
        return []
    folders = sorted(
        (p for p in root.iterdir() if p.is_dir() and _VERSION_NAME.match(p.name)),
        key=lambda p: _version_order(p.name),
    )
    kept = {current, *(p.name for p in folders[-keep:])}
    entries = history(root)
    live = current
    for _ in range(keep):
        earlier = _earlier(root, entries, live)
        if earlier is None:
            break
        kept.add(earlier)
        live = earlier
    deleted = []
    now = time.time()
    for folder in folders:
        if folder.name in kept:
            continue
        finished = (folder / METADATA).is_file()
        if not finished and now - folder.stat().st_mtime < _UNFINISHED_GRACE_SECONDS:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        deleted.append(folder.name)
    if deleted:
        logger.info("artifacts.pruned root=%s versions=%s", root.name, len(deleted))
    return deleted


def history(root: Path) -> list[dict[str, Any]]:
    """The promotions under ``root``, oldest first (empty when none was logged).

    Raises:
        DataError: a line of the history is not a JSON object (names the line).
    """
    path = root / HISTORY
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not valid JSON: {exc}") from exc
        if not isinstance(entry, dict) or not isinstance(entry.get("version"), str):
            raise DataError(f"{path}:{number}: expected an object with a version")
        if not isinstance(entry.get("previous"), str | None):
            raise DataError(f"{path}:{number}: 'previous' is not a version name")
        entries.append(entry)
    return entries


def rollback_target(root: Path) -> str:
    """The version that was live before the current one (still on disk).

    Walks the history back from the newest promotion of the current version, so
    repeated rollbacks step further back instead of flipping between two versions.

    Raises:
        ArtifactMissing: nothing is promoted, or no earlier version is left.
    """
    current = current_version(root)
    if current is None:
        raise ArtifactMissing(f"nothing is promoted under {root}; nothing to roll back")
    target = _earlier(root, history(root), current)
    if target is None:
        raise ArtifactMissing(f"no earlier version of {root} to roll back to")
    return target


def _version_order(version: str) -> tuple[str, int]:
    """Sort key of a version name: its time, then its same-second number."""
    stamp, _, n = version.partition("-")
    return stamp, int(n or 1)


def _earlier(root: Path, entries: list[dict[str, Any]], live: str) -> str | None:
    """The version a rollback from ``live`` goes to (on disk), or ``None``."""
    for entry in reversed(entries):
        if entry["version"] != live:
            continue
        previous = entry.get("previous")
        if entry.get("reason") == "rollback":
            # A rollback made ``live`` current again: continue from its own
            # earlier promotion, which names what came before it.
            continue
        if previous and (root / previous / METADATA).is_file():
            return str(previous)
        live = previous or live
    return None


def current_version(root: Path) -> str | None:
    """The promoted version under ``root``, or ``None`` when nothing is promoted."""
    try:
        version = (root / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version or None


def current_dir(root: Path) -> Path:
    """The promoted version's folder.

    Raises:
        ArtifactMissing: nothing has been promoted under ``root``, or the folder
            the pointer names is gone.
    """
    version = current_version(root)
    if version is None:
        raise ArtifactMissing(f"no promoted version under {root} (no '{POINTER}' file)")
    path = root / version
    if not (path / METADATA).is_file():
        raise ArtifactMissing(f"{root / POINTER} names {version}, which is missing")
    return path


def write_metadata(folder: Path, data: dict[str, Any]) -> None:
    """Write ``metadata.json`` (indented, keys sorted) into ``folder``."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    tmp = folder / f".{METADATA}.{os.getpid()}.tmp"
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, folder / METADATA)  # readers never see half a file


def read_metadata(folder: Path) -> dict[str, Any]:
    """Read ``metadata.json`` from ``folder``.

    Raises:
        ArtifactMissing: the file is not there.
        DataError: the file is not a JSON object.
    """
    path = folder / METADATA
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactMissing(f"{path} does not exist") from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path} does not hold a JSON object")
    return data
