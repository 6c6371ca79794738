"""Sentence encoder for the Rasa environment: all-MiniLM-L6-v2 through ONNX Runtime.

The model is exported once from the main environment
(``python -m crm_models.recommend.export_onnx --out models/encoder``, run by
``make models``). Here it is run with onnxruntime and the model's own tokenizer;
mean pooling over the attention mask and L2 normalisation give the vectors
sentence-transformers gives. This module does not import Rasa.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ENCODER_DIR = "models/encoder"
_BUILD_HINT = (
    "run `make models` (or `.venv/bin/python -m crm_models.recommend.export_onnx "
    "--out models/encoder`)"
)


class EncoderMissing(FileNotFoundError):
    """The exported encoder (model.onnx, tokenizer.json, metadata.json) is not there."""


def resolve_encoder_dir(path: str | Path) -> Path:
    """Resolve a configured encoder folder; relative paths start at the repo root."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else REPO_ROOT / candidate


class SentenceEncoder:
    """Turns texts into L2-normalised 384-dimensional sentence vectors.

    Loading is lazy: nothing is read until the first call to ``encode``.
    """

    def __init__(self, model_dir: Path, *, batch_size: int = 64, threads: int = 1):
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.threads = threads
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None
        self._metadata: dict | None = None

    @property
    def metadata(self) -> dict:
        """The export's metadata.json (loads the encoder if needed)."""
        self._load()
        assert self._metadata is not None
        return self._metadata

    @property
    def dimension(self) -> int:
        """Length of one sentence vector."""
        return int(self.metadata["dimension"])

    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            files = [self.model_dir / n for n in ("model.onnx", "tokenizer.json")]
            meta_path = self.model_dir / "metadata.json"
            missing = [str(p) for p in [*files, meta_path] if not p.is_file()]
            if missing:
                raise EncoderMissing(
                    f"sentence encoder not found ({', '.join(missing)}): {_BUILD_HINT}"
                )
            import onnxruntime
            from tokenizers import Tokenizer

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._metadata = json.loads(meta_path.read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(files[1]))
            tokenizer.enable_truncation(max_length=int(self._metadata["max_length"]))
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            self._tokenizer = tokenizer
            self._session = onnxruntime.InferenceSession(
                str(files[0]), options, providers=["CPUExecutionProvider"]
            )
            logger.info("encoder.loaded dir=%s", self.model_dir)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode texts; returns a float32 array of shape (len(texts), dimension)."""
        self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        chunks = [
            self._encode_batch(texts[start : start + self.batch_size])
            for start in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(chunks, axis=0)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        assert self._tokenizer is not None
        assert self._session is not None
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
        )
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def get_encoder(model_dir: str | Path = DEFAULT_ENCODER_DIR) -> SentenceEncoder:
    """Return the shared encoder for a folder (one ONNX session per process)."""
    return SentenceEncoder(resolve_encoder_dir(model_dir))
