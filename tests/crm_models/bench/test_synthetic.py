"""The synthetic catalogue: readable names, normalised vectors, repeatable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crm_models.bench.synthetic import cached_encode, synthetic_catalog

REAL = ["WHITE HANGING HEART T-LIGHT HOLDER", "RED RETROSPOT TEA CUP", "PARTY BUNTING"]


def _vectors(n: int, dim: int = 8) -> np.ndarray:
    v = np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_names_recombine_real_words_and_vectors_are_unit_length() -> None:
    catalog = synthetic_catalog(
        REAL, _vectors(3), 50, encode=None, cache_dir=None, random_state=3
    )

    real_words = {w for name in REAL for w in name.split()}
    assert len(catalog.names) == 50
    assert all(set(name.split()) <= real_words for name in catalog.names)
    np.testing.assert_allclose(np.linalg.norm(catalog.vectors, axis=1), 1, rtol=1e-5)
    assert catalog.method == "mixed"
    again = synthetic_catalog(
        REAL, _vectors(3), 50, encode=None, cache_dir=None, random_state=3
    )
    assert again.names == catalog.names


def test_encoded_vectors_are_cached_by_text(tmp_path: Path) -> None:
    calls = []

    def encode(texts: Sequence[str]) -> np.ndarray:
        calls.append(len(texts))
        return _vectors(len(texts))

    first = cached_encode(["a", "b"], encode=encode, cache_dir=tmp_path, tag="m")
    second = cached_encode(["a", "b"], encode=encode, cache_dir=tmp_path, tag="m")
    cached_encode(["a", "c"], encode=encode, cache_dir=tmp_path, tag="m")

    np.testing.assert_array_equal(first, second)
    assert calls == [2, 2]  # the second call read the file
