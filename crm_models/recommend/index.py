"""Exact nearest-neighbour index over product-name embeddings.

A FAISS ``IndexFlatIP`` over L2-normalised vectors, so the inner product is the
cosine similarity; the catalogue is a few thousand products, small enough that exact
search takes well under a millisecond. FAISS numbers vectors 0..n-1; ``product_ids_``
maps those positions back to CRM product ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from crm_models import artifacts
from crm_models.errors import ArtifactMissing, DataError, ProductNotFound

logger = logging.getLogger(__name__)

INDEX_FILE = "products.faiss"
IDS_FILE = "product_ids.npy"


def catalog_checksum(rows: Iterable[tuple[int, str, int]]) -> str:
    """sha256 of the sorted ``(id, name, price_pence)`` rows of the catalogue."""
    canonical = json.dumps(sorted((int(i), str(n), int(p)) for i, n, p in rows))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class NotBuiltError(ArtifactMissing):
    """The index was used before ``build`` or ``load``."""


class ProductIndex:
    """Cosine-similarity search from a vector to CRM product ids.

    Learned state (after ``build`` or ``load``) ends in ``_``: ``index_`` (FAISS),
    ``product_ids_`` (int64 array, FAISS position → product id) and ``metadata_``.
    """

    def __init__(self) -> None:
        self.index_: Any = None
        self.product_ids_: np.ndarray | None = None
        self.metadata_: dict[str, Any] = {}
        self._position: dict[int, int] = {}

    def build(
        self,
        vectors: np.ndarray,
        product_ids: Iterable[int],
        *,
        metadata: dict[str, Any] | None = None,
    ) -> ProductIndex:
        """Index ``vectors`` (n × d, normalised float32) for ``product_ids``.

        Raises:
            DataError: the shapes disagree, the ids repeat or the vectors are not
                normalised.
        """
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(list(product_ids), dtype=np.int64)
        if vectors.ndim != 2 or vectors.shape[0] != ids.shape[0]:
            raise DataError(
                f"{vectors.shape[0]} vectors for {ids.shape[0]} product ids"
            )
        if len(np.unique(ids)) != len(ids):
            raise DataError("product ids repeat")
        norms = np.linalg.norm(vectors, axis=1)
        if len(norms) and not np.allclose(norms, 1.0, atol=1e-3):
            raise DataError("vectors must be L2-normalised for cosine search")

        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(vectors)
        self.index_, self.product_ids_ = index, ids
        self.metadata_ = dict(metadata or {})
        self.metadata_.update(dimension=int(vectors.shape[1]), count=len(ids))
        self._position = {int(p): i for i, p in enumerate(ids)}
        return self

    def _check_built(self) -> None:
        if self.index_ is None or self.product_ids_ is None:
            raise NotBuiltError("the product index is not built or loaded")

    @property
    def size(self) -> int:
        """Number of indexed products."""
        self._check_built()
        return int(self.index_.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar products for each query row.

        Returns:
            ``(scores, product_ids)``, both of shape ``(n_queries, k)``, best first;
            when fewer than ``k`` products exist the extra ids are -1.
        """
        self._check_built()
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(int(k), self.size))
        scores, positions = self.index_.search(queries, k)
        ids = np.where(positions >= 0, self.product_ids_[positions], -1)
        return scores, ids

    def contains(self, product_id: int) -> bool:
        """Whether ``product_id`` is indexed."""
        self._check_built()
        return int(product_id) in self._position

    def vectors_for(self, product_ids: Iterable[int]) -> np.ndarray:
        """The stored vectors of ``product_ids`` (rows in the same order).

        Raises:
            ProductNotFound: one of the ids is not indexed.
        """
        self._check_built()
        rows = []
        for product_id in product_ids:
            position = self._position.get(int(product_id))
            if position is None:
                raise ProductNotFound(f"product {product_id} is not in the index")
            rows.append(self.index_.reconstruct(position))
        if not rows:
            return np.zeros((0, self.index_.d), dtype=np.float32)
        return np.vstack(rows).astype(np.float32, copy=False)

    def save(self, folder: Path) -> None:
        """Write the index, the id map and ``metadata.json`` into ``folder``."""
        import faiss

        self._check_built()
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index_, str(folder / INDEX_FILE))
        np.save(folder / IDS_FILE, self.product_ids_)
        artifacts.write_metadata(folder, self.metadata_)

    @classmethod
    def load(cls, folder: Path) -> ProductIndex:
        """Read an index written by ``save``.

        Raises:
            ArtifactMissing: a file is missing.
            DataError: the files disagree with each other.
        """
        import faiss

        for name in (INDEX_FILE, IDS_FILE, artifacts.METADATA):
            if not (folder / name).is_file():
                raise ArtifactMissing(f"{folder / name} does not exist")
        self = cls()
        self.index_ = faiss.read_index(str(folder / INDEX_FILE))
        self.product_ids_ = np.load(folder / IDS_FILE).astype(np.int64)
        self.metadata_ = artifacts.read_metadata(folder)
        if self.index_.ntotal != len(self.product_ids_):
            raise DataError(
                f"{folder}: {self.index_.ntotal} vectors for "
                f"{len(self.product_ids_)} product ids"
            )
        self._position = {int(p): i for i, p in enumerate(self.product_ids_)}
        logger.debug("index.loaded folder=%s count=%s", folder.name, self.size)
        return self
