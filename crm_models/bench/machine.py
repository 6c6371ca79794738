"""What the benchmark ran on: the machine, the libraries and the data."""

from __future__ import annotations

import hashlib
import os
import platform
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.store.schema import (
    Customer,
    Order,
    OrderLine,
    Product,
    Refund,
    SeedInfo,
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where unknown)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, Any]:
    """CPU, cores, memory, load, OS and library versions."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    load = load_average()
    versions = artifacts.library_versions()
    try:
        from importlib import metadata

        versions.setdefault("scipy", metadata.version("scipy"))
        versions.setdefault("faiss-cpu", metadata.version("faiss-cpu"))
    except metadata.PackageNotFoundError:
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gb": _memory_gb(),
        "load_average_at_start": load,
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": versions,
    }


def sha256_file(path: Path) -> str | None:
    """Hex sha256 of a file, ``None`` when it does not exist."""
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inputs(*, session: Session, seed_dir: Path) -> dict[str, Any]:
    """The seed files' checksums and the store's seed record and row counts."""
    files = {
        path.name: sha256_file(path)
        for path in sorted(seed_dir.glob("*"))
        if path.suffix in {".gz", ".csv"}
    }
    seed = session.scalars(select(SeedInfo).order_by(SeedInfo.id.desc())).first()
    counts = {
        table.__tablename__: int(
            session.scalar(select(func.count()).select_from(table))
        )
        for table in (Customer, Product, Order, OrderLine, Refund)
    }
    return {
        "seed_files": files,
        "seed_dir": str(seed_dir),
        "store_seed": {
            "checksum": seed.checksum,
            "today": seed.today.isoformat(),
            "shift_days": seed.shift_days,
            "customers": seed.n_customers,
        }
        if seed is not None
        else None,
        "store_rows": counts,
    }
