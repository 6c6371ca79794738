"""A sparse item-to-item table: the strongest ``top_n`` neighbours of each product.

Co-purchase similarities, association rules and EASE weights are all kept this way,
so serving any of them is the same few numpy operations whatever the catalogue
size: gather the neighbour rows of the products in a customer's history, weight
them, add them up per candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crm_models.errors import ArtifactMissing, DataError


@dataclass(frozen=True)
class Aggregate:
    """Candidate scores from a history.

    Attributes:
        ids: candidate product ids, ascending.
        scores: their aggregated score.
        entries: the contributions behind them, as parallel arrays (candidate id,
            weighted weight, history product), for ``source``.
    """

    ids: np.ndarray
    scores: np.ndarray
    entries: tuple[np.ndarray, np.ndarray, np.ndarray]

    def as_dict(self) -> dict[int, float]:
        """``{product_id: score}``."""
        return {int(i): float(s) for i, s in zip(self.ids, self.scores, strict=True)}

    def source(self, product_id: int) -> int:
        """The history product that contributed most to ``product_id`` (-1: none)."""
        ids, weights, sources = self.entries
        mine = ids == int(product_id)
        if not mine.any():
            return -1
        w, src = weights[mine], sources[mine]
        best = np.lexsort((src, -w))[0]  # ties: the smaller product id
        return int(src[best])


_NONE = np.zeros(0, np.int64)
EMPTY = Aggregate(ids=_NONE, scores=np.zeros(0), entries=(_NONE, np.zeros(0), _NONE))


class ItemNeighbors:
    """Rows of (neighbour id, weight) per product id, in CSR form.

    Args:
        keys: product ids with a row, ascending.
        indptr: row ``i`` spans ``indptr[i]:indptr[i + 1]``.
        neighbors: neighbour product ids.
        weights: neighbour weights (best first within a row).
    """

    def __init__(
        self,
        keys: np.ndarray,
        indptr: np.ndarray,
        neighbors: np.ndarray,
        weights: np.ndarray,
    ) -> None:
        self.keys = np.asarray(keys, dtype=np.int64)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.neighbors = np.asarray(neighbors, dtype=np.int64)
        self.weights = np.asarray(weights, dtype=np.float32)
        if len(self.indptr) != len(self.keys) + 1:
            raise DataError("indptr must have one entry more than keys")
        self._row = {int(k): i for i, k in enumerate(self.keys)}
        # Neighbour ids as positions in the sorted set of all neighbours, so that
        # scores add up in a dense array (no sort per request).
        self.universe, self.positions = np.unique(self.neighbors, return_inverse=True)

    @classmethod
    def from_matrix(
        cls,
        matrix: Any,
        ids: np.ndarray,
        *,
        top_n: int,
        min_weight: float = 0.0,
    ) -> ItemNeighbors:
        """The ``top_n`` largest entries above ``min_weight`` of each row.

        Args:
            matrix: square (dense array or scipy sparse), rows and columns in the
                order of ``ids``; the diagonal is ignored.
            ids: the product id of each row and column.
            top_n: neighbours kept per product.
            min_weight: entries at or below it are dropped.
        """
        from scipy import sparse

        ids = np.asarray(ids, dtype=np.int64)
        if isinstance(matrix, np.ndarray):
            return cls._from_dense(matrix, ids, top_n=top_n, min_weight=min_weight)
        csr = sparse.csr_matrix(matrix)
        keys, indptr, neighbors, weights = [], [0], [], []
        for row in range(csr.shape[0]):
            start, end = csr.indptr[row], csr.indptr[row + 1]
            cols = csr.indices[start:end]
            vals = csr.data[start:end]
            keep = (cols != row) & (vals > min_weight)
            cols, vals = cols[keep], vals[keep]
            if cols.size == 0:
                continue
            if cols.size > top_n:
                part = np.argpartition(-vals, top_n - 1)[:top_n]
                cols, vals = cols[part], vals[part]
            # Best first; ties by product id so the table is deterministic.
            order = np.lexsort((ids[cols], -vals))
            keys.append(ids[row])
            neighbors.append(ids[cols[order]])
            weights.append(vals[order])
            indptr.append(indptr[-1] + cols.size)
        if not keys:
            return cls(np.zeros(0), np.zeros(1), np.zeros(0), np.zeros(0))
        order = np.argsort(keys, kind="stable")
        return cls._sorted(keys, indptr, neighbors, weights, order)

    @classmethod
    def _from_dense(
        cls, matrix: np.ndarray, ids: np.ndarray, *, top_n: int, min_weight: float
    ) -> ItemNeighbors:
        values = np.array(matrix, dtype=np.float64, copy=True)
        np.fill_diagonal(values, -np.inf)
        n = values.shape[1]
        take = min(top_n, n - 1) if n > 1 else 0
        if take <= 0:
            return cls(np.zeros(0), np.zeros(1), np.zeros(0), np.zeros(0))
        part = np.argpartition(-values, take - 1, axis=1)[:, :take]
        vals = np.take_along_axis(values, part, axis=1)
        keys, indptr, neighbors, weights = [], [0], [], []
        for row in range(values.shape[0]):
            keep = vals[row] > min_weight
            cols, w = part[row][keep], vals[row][keep]
            if cols.size == 0:
                continue
            order = np.lexsort((ids[cols], -w))
            keys.append(ids[row])
            neighbors.append(ids[cols[order]])
            weights.append(w[order])
            indptr.append(indptr[-1] + cols.size)
        if not keys:
            return cls(np.zeros(0), np.zeros(1), np.zeros(0), np.zeros(0))
        return cls._sorted(keys, indptr, neighbors, weights, np.argsort(keys))

    @classmethod
    def _sorted(
        cls,
        keys: list[Any],
        indptr: list[int],
        neighbors: list[np.ndarray],
        weights: list[np.ndarray],
        order: np.ndarray,
    ) -> ItemNeighbors:
        lengths = np.diff(indptr)[order]
        return cls(
            np.asarray(keys, dtype=np.int64)[order],
            np.concatenate([[0], np.cumsum(lengths)]),
            np.concatenate([neighbors[i] for i in order]),
            np.concatenate([weights[i] for i in order]),
        )

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, product_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(neighbour ids, weights)`` of ``product_id``, best first (maybe empty)."""
        i = self._row.get(int(product_id))
        if i is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        a, b = self.indptr[i], self.indptr[i + 1]
        return self.neighbors[a:b], self.weights[a:b]

    def aggregate(
        self,
        history: Sequence[int],
        weights: Sequence[float] | None = None,
        *,
        reduce: str = "sum",
    ) -> Aggregate:
        """Score every neighbour of ``history``.

        Args:
            history: product ids (a customer's purchases).
            weights: one per history product (1 each by default), e.g. recency.
            reduce: "sum" of weighted neighbour weights, or their "max".
        """
        parts_pos, parts_w, parts_src = [], [], []
        for position, product_id in enumerate(history):
            i = self._row.get(int(product_id))
            if i is None:
                continue
            a, b = self.indptr[i], self.indptr[i + 1]
            scale = 1.0 if weights is None else float(weights[position])
            parts_pos.append(self.positions[a:b])
            parts_w.append(self.weights[a:b].astype(np.float64) * scale)
            parts_src.append(np.full(b - a, int(product_id), dtype=np.int64))
        if not parts_pos:
            return EMPTY
        pos = np.concatenate(parts_pos)
        w = np.concatenate(parts_w)
        if reduce == "sum":
            dense = np.bincount(pos, weights=w, minlength=self.universe.size)
            hit = np.bincount(pos, minlength=self.universe.size) > 0
        elif reduce == "max":
            dense = np.full(self.universe.size, -np.inf)
            np.maximum.at(dense, pos, w)
            hit = dense > -np.inf
        else:
            raise ValueError(f"unknown reduce {reduce!r}")
        return Aggregate(
            ids=self.universe[hit],
            scores=dense[hit],
            entries=(self.universe[pos], w, np.concatenate(parts_src)),
        )

    def save(self, path: Path) -> None:
        """Write the table to ``path`` (``.npz``)."""
        np.savez_compressed(
            path,
            keys=self.keys,
            indptr=self.indptr,
            neighbors=self.neighbors,
            weights=self.weights,
        )

    @classmethod
    def load(cls, path: Path) -> ItemNeighbors:
        """Read a table written by ``save``.

        Raises:
            ArtifactMissing: the file is not there.
        """
        if not path.is_file():
            raise ArtifactMissing(f"{path} does not exist")
        with np.load(path) as data:
            return cls(data["keys"], data["indptr"], data["neighbors"], data["weights"])
