"""Nearest-neighbour index over product-name embeddings, updatable in place.

Vectors are L2-normalised, so the inner product is the cosine similarity. FAISS
stores each vector under its CRM product id, so products can be added, changed
(removed and added again) and removed without a rebuild:

- ``flat``: exact search (``IndexIDMap2`` over ``IndexFlatIP``); the catalogue of a
  shop of this size (a few thousand products) is searched in well under 1 ms.
- ``ivf``: inverted lists (``IndexIVFFlat``, hashed id map) for large catalogues;
  ``nprobe`` is the smallest that reaches the target recall@10 against exact search
  on a sample of the catalogue (``choose_index``).
- ``hnsw``: graph search, measured by the benchmark for comparison only: FAISS's
  HNSW cannot remove vectors, so it cannot follow a changing catalogue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crm_models import artifacts
from crm_models.errors import ArtifactMissing, DataError, ProductNotFound

logger = logging.getLogger(__name__)

INDEX_FILE = "products.faiss"
IDS_FILE = "product_ids.npy"
KINDS = ("flat", "ivf", "hnsw")
EXACT_MAX = 50_000  # up to this many products, exact search is the choice
TARGET_RECALL = 0.95
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128)
SMALL_SEARCH = 8  # fewer queries than this are searched on one thread


def catalog_checksum(rows: Iterable[tuple[int, str, int]]) -> str:
    """sha256 of the sorted ``(id, name, price_pence)`` rows of the catalogue."""
    canonical = json.dumps(sorted((int(i), str(n), int(p)) for i, n, p in rows))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class NotBuiltError(ArtifactMissing):
    """The index was used before ``build`` or ``load``."""


def _check_vectors(vectors: np.ndarray, ids: np.ndarray) -> None:
    if vectors.ndim != 2 or vectors.shape[0] != ids.shape[0]:
        raise DataError(f"{vectors.shape[0]} vectors for {ids.shape[0]} product ids")
    if len(np.unique(ids)) != len(ids):
        raise DataError("product ids repeat")
    norms = np.linalg.norm(vectors, axis=1)
    if len(norms) and not np.allclose(norms, 1.0, atol=1e-3):
        raise DataError("vectors must be L2-normalised for cosine search")


def ivf_lists(n: int) -> int:
    """The number of inverted lists for ``n`` vectors: about 4·√n, at least 1."""
    return max(1, min(n // 39, int(4 * np.sqrt(n))))


def make_faiss_index(kind: str, dimension: int, *, n: int, hnsw_m: int = 32) -> Any:
    """An empty FAISS index of ``kind`` for ``n`` vectors (IVF still untrained)."""
    import faiss

    if kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if kind == "ivf":
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFFlat(
            quantizer, dimension, ivf_lists(n), faiss.METRIC_INNER_PRODUCT
        )
        index.own_fields = True
        quantizer.this.disown()
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        return index
    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dimension, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = 80
        inner.hnsw.efSearch = 64
        return faiss.IndexIDMap2(inner)
    raise ValueError(f"unknown index kind {kind!r}")


class ProductIndex:
    """Cosine-similarity search from a vector to CRM product ids.

    Learned state (after ``build`` or ``load``) ends in ``_``: ``index_`` (FAISS,
    ids are product ids), ``metadata_`` (with ``kind`` and ``count``).
    """

    def __init__(self) -> None:
        self.index_: Any = None
        self.metadata_: dict[str, Any] = {}
        self._ids: set[int] = set()
        self._view: tuple[np.ndarray, dict[int, int]] | None = None

    def build(
        self,
        vectors: np.ndarray,
        product_ids: Iterable[int],
        *,
        metadata: dict[str, Any] | None = None,
        kind: str = "flat",
        nprobe: int = 8,
    ) -> ProductIndex:
        """Index ``vectors`` (n × d, normalised float32) for ``product_ids``.

        Raises:
            DataError: the shapes disagree, the ids repeat or the vectors are not
                normalised.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(list(product_ids), dtype=np.int64)
        _check_vectors(vectors, ids)
        index = make_faiss_index(kind, vectors.shape[1], n=len(ids))
        if kind == "ivf":
            index.train(vectors)
            index.nprobe = nprobe
        if len(ids):
            index.add_with_ids(vectors, ids)
        self.index_ = index
        self._ids = {int(p) for p in ids}
        self._view = None
        self.metadata_ = dict(metadata or {})
        self.metadata_.update(
            dimension=int(vectors.shape[1]), count=len(ids), kind=kind
        )
        if kind == "ivf":
            self.metadata_.update(nlist=int(index.nlist), nprobe=int(nprobe))
        return self

    @property
    def kind(self) -> str:
        """ "flat", "ivf" or "hnsw"."""
        return str(self.metadata_.get("kind", "flat"))

    def _check_built(self) -> None:
        if self.index_ is None:
            raise NotBuiltError("the product index is not built or loaded")

    @property
    def size(self) -> int:
        """Number of indexed products."""
        self._check_built()
        return int(self.index_.ntotal)

    @property
    def dimension(self) -> int:
        """Width of the vectors."""
        self._check_built()
        return int(self.index_.d)

    @property
    def product_ids(self) -> np.ndarray:
        """Every indexed product id, ascending."""
        return np.array(sorted(self._ids), dtype=np.int64)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar products for each query row.

        Returns:
            ``(scores, product_ids)``, both of shape ``(n_queries, k)``, best first;
            when fewer than ``k`` products are found the extra ids are -1.
        """
        import faiss

        self._check_built()
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(1, min(int(k), max(self.size, 1)))
        if len(queries) >= SMALL_SEARCH:
            return self.index_.search(queries, k)
        # A single query gains nothing from threads; on a busy machine OpenMP's
        # spinning threads turn 0.3 ms into 10 ms.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index_.search(queries, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def contains(self, product_id: int) -> bool:
        """Whether ``product_id`` is indexed."""
        self._check_built()
        return int(product_id) in self._ids

    def vectors_for(self, product_ids: Iterable[int]) -> np.ndarray:
        """The stored vectors of ``product_ids`` (rows in the same order).

        Raises:
            ProductNotFound: one of the ids is not indexed.
        """
        self._check_built()
        ids = [int(p) for p in product_ids]
        missing = [p for p in ids if p not in self._ids]
        if missing:
            raise ProductNotFound(f"product {missing[0]} is not in the index")
        if not ids:
            return np.zeros((0, self.index_.d), dtype=np.float32)
        view = self._flat_view()
        if view is not None:
            matrix, row = view
            return matrix[[row[p] for p in ids]]
        return np.vstack([self.index_.reconstruct(p) for p in ids]).astype(
            np.float32, copy=False
        )

    def _flat_view(self) -> tuple[np.ndarray, dict[int, int]] | None:
        """A flat index's stored vectors as one array and id → row (cached)."""
        import faiss

        if self.kind != "flat":
            return None
        if self._view is None:
            inner = faiss.downcast_index(self.index_.index)
            n, d = int(inner.ntotal), int(inner.d)
            codes = faiss.vector_to_array(inner.codes)
            matrix = codes.view(np.float32).reshape(n, d)
            ids = faiss.vector_to_array(self.index_.id_map)
            self._view = (matrix, {int(p): i for i, p in enumerate(ids)})
        return self._view

    # ------------------------------------------------------------ updates

    def remove(self, product_ids: Sequence[int]) -> int:
        """Drop ``product_ids`` from the index (unknown ids are ignored).

        Returns:
            How many were removed.

        Raises:
            DataError: the index kind cannot remove vectors (HNSW).
        """
        self._check_built()
        ids = np.array([int(p) for p in product_ids if int(p) in self._ids], np.int64)
        if ids.size == 0:
            return 0
        if self.kind == "hnsw":
            raise DataError("an HNSW index cannot remove vectors: rebuild it")
        removed = int(self.index_.remove_ids(ids))
        self._ids.difference_update(int(p) for p in ids)
        self._view = None
        self.metadata_["count"] = self.size
        return removed

    def upsert(self, vectors: np.ndarray, product_ids: Sequence[int]) -> None:
        """Add products, or replace the vectors of products already indexed.

        Raises:
            DataError: bad shapes or vectors, or an HNSW index asked to replace.
        """
        self._check_built()
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray([int(p) for p in product_ids], dtype=np.int64)
        _check_vectors(vectors, ids)
        self.remove([int(p) for p in ids if int(p) in self._ids])
        if ids.size:
            self.index_.add_with_ids(vectors, ids)
        self._ids.update(int(p) for p in ids)
        self._view = None
        self.metadata_["count"] = self.size

    # ------------------------------------------------------------ files

    def save(self, folder: Path) -> None:
        """Write the index, the id list and ``metadata.json`` into ``folder``."""
        import faiss

        self._check_built()
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index_, str(folder / INDEX_FILE))
        np.save(folder / IDS_FILE, self.product_ids)
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
        ids = np.load(folder / IDS_FILE).astype(np.int64)
        self.metadata_ = artifacts.read_metadata(folder)
        if self.index_.ntotal != len(ids):
            raise DataError(
                f"{folder}: {self.index_.ntotal} vectors for {len(ids)} product ids"
            )
        self._ids = {int(p) for p in ids}
        logger.debug("index.loaded folder=%s count=%s", folder.name, self.size)
        return self

    def memory_bytes(self) -> int:
        """Size of the serialised FAISS index (≈ its memory)."""
        import faiss

        self._check_built()
        return int(faiss.serialize_index(self.index_).size)


# ---------------------------------------------------------------- choosing


def exact_neighbors(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Positions of the exact top ``k`` of each query (brute force, FAISS flat)."""
    import faiss

    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(np.ascontiguousarray(vectors, dtype=np.float32))
    _, positions = flat.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return positions


def sample_queries(vectors: np.ndarray, n: int, *, random_state: int) -> np.ndarray:
    """Query vectors near the catalogue: product vectors plus noise, normalised."""
    rng = np.random.default_rng(random_state)
    rows = rng.choice(len(vectors), size=min(n, len(vectors)), replace=False)
    noisy = vectors[rows] + rng.normal(scale=0.05, size=(len(rows), vectors.shape[1]))
    noisy = noisy.astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def recall_at_10(
    index: ProductIndex, ids: np.ndarray, queries: np.ndarray, exact: np.ndarray
) -> float:
    """Mean share of the exact top 10 (positions ``exact`` into ``ids``) found."""
    _, found = index.search(queries, 10)
    hits = [
        len(set(ids[e[:10]].tolist()) & set(f.tolist())) / 10
        for e, f in zip(exact, found, strict=True)
    ]
    return float(np.mean(hits))


@dataclass(frozen=True)
class IndexChoice:
    """The chosen index kind and parameters, with the recall that justified them."""

    kind: str
    nprobe: int
    recall_at_10: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "nprobe": self.nprobe,
            "recall_at_10": round(self.recall_at_10, 4),
            "n": self.n,
        }


def choose_index(
    vectors: np.ndarray,
    ids: np.ndarray,
    *,
    exact_max: int = EXACT_MAX,
    target_recall: float = TARGET_RECALL,
    n_queries: int = 200,
    random_state: int = 7,
) -> tuple[ProductIndex, IndexChoice]:
    """Build the index a catalogue should use, and say why.

    Exact search up to ``exact_max`` products. Beyond, an IVF index whose
    ``nprobe`` is the smallest that reaches ``target_recall`` (recall@10 against
    exact search, on ``n_queries`` noisy catalogue vectors); both are index kinds
    that follow catalogue changes without a rebuild.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) <= exact_max:
        index = ProductIndex().build(vectors, ids, kind="flat")
        return index, IndexChoice("flat", 0, 1.0, len(ids))
    started = time.perf_counter()
    queries = sample_queries(vectors, n_queries, random_state=random_state)
    exact = exact_neighbors(vectors, queries, 10)
    index = ProductIndex().build(vectors, ids, kind="ivf", nprobe=NPROBES[0])
    recall = 0.0
    for nprobe in NPROBES:
        index.index_.nprobe = nprobe
        recall = recall_at_10(index, ids, queries, exact)
        if recall >= target_recall:
            break
    index.metadata_["nprobe"] = int(index.index_.nprobe)
    logger.info(
        "index.chosen kind=ivf n=%s nprobe=%s recall=%.3f seconds=%.1f",
        len(ids),
        index.index_.nprobe,
        recall,
        time.perf_counter() - started,
    )
    return index, IndexChoice("ivf", int(index.index_.nprobe), recall, len(ids))
