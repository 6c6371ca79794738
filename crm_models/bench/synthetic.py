"""A synthetic catalogue for the scale measurements: names and vectors.

Names recombine the words of real product names (a noun phrase from one, a style
or colour from another), so they read like a gift shop's and repeat its
vocabulary. Their vectors come from the real encoder (full run, cached on disk) or,
in the quick run, from mixing the vectors of the two real products a name was made
from, which keeps the catalogue's cluster structure at no encoding cost.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class SyntheticCatalog:
    """Names, vectors and how they were made."""

    names: list[str]
    vectors: np.ndarray
    method: str  # "encoded" or "mixed"


def synthetic_names(
    real_names: Sequence[str], n: int, *, random_state: int
) -> tuple[list[str], np.ndarray]:
    """``n`` names, each the head of one real name and the tail of another.

    Returns:
        The names and, per name, the two real names' positions it came from.
    """
    rng = np.random.default_rng(random_state)
    words = [name.split() for name in real_names]
    usable = [i for i, w in enumerate(words) if len(w) >= 2]
    if not usable:
        raise ValueError("no real name has two words to recombine")
    pairs = rng.choice(usable, size=(n, 2))
    names = []
    for a, b in pairs:
        head, tail = words[a], words[b]
        cut_a = max(1, len(head) // 2)
        cut_b = max(1, len(tail) // 2)
        names.append(" ".join(tail[:cut_b] + head[cut_a:]))
    return names, pairs


def mixed_vectors(
    real_vectors: np.ndarray, pairs: np.ndarray, *, random_state: int
) -> np.ndarray:
    """Normalised mixes of the two source vectors of each name, plus a little noise."""
    rng = np.random.default_rng(random_state)
    share = rng.uniform(0.3, 0.7, size=(len(pairs), 1))
    mixed = share * real_vectors[pairs[:, 0]] + (1 - share) * real_vectors[pairs[:, 1]]
    mixed += rng.normal(scale=0.02, size=mixed.shape)
    mixed = mixed.astype(np.float32)
    return mixed / np.linalg.norm(mixed, axis=1, keepdims=True)


def cached_encode(
    texts: Sequence[str], *, encode: Encoder, cache_dir: Path | None, tag: str
) -> np.ndarray:
    """``encode(texts)``, cached in ``cache_dir`` by a hash of the texts and ``tag``."""
    if cache_dir is None:
        return encode(texts)
    digest = hashlib.sha256(("\n".join([tag, *texts])).encode("utf-8")).hexdigest()
    path = cache_dir / f"vectors-{digest[:20]}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape[0] == len(texts):
            logger.info("bench.vectors.cached n=%s", len(texts))
            return vectors
    vectors = encode(texts)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def synthetic_catalog(
    real_names: Sequence[str],
    real_vectors: np.ndarray,
    n: int,
    *,
    encode: Encoder | None,
    cache_dir: Path | None,
    random_state: int,
    tag: str = "",
) -> SyntheticCatalog:
    """``n`` synthetic products; encoded when ``encode`` is given, else mixed."""
    names, pairs = synthetic_names(real_names, n, random_state=random_state)
    if encode is None:
        vectors = mixed_vectors(real_vectors, pairs, random_state=random_state)
        return SyntheticCatalog(names, vectors, "mixed")
    vectors = cached_encode(names, encode=encode, cache_dir=cache_dir, tag=tag)
    return SyntheticCatalog(names, vectors, "encoded")
