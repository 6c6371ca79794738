from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.components.encoder import (
    REPO_ROOT,
    EncoderMissing,
    SentenceEncoder,
    get_encoder,
    resolve_encoder_dir,
)

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


def test_vectors_match_sentence_transformers(encoder_dir: Path) -> None:
    # Reference made in the main environment with sentence-transformers itself.
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    expected = np.array(reference["vectors"], dtype=np.float32)

    batch = get_encoder(encoder_dir).encode(reference["texts"])
    one_by_one = np.vstack(
        [get_encoder(encoder_dir).encode([text]) for text in reference["texts"]]
    )

    assert batch.shape == expected.shape == (5, 384)
    assert np.abs(batch - expected).max() < 2e-6
    # Padding to the longest text in a batch must not change any vector.
    assert np.abs(one_by_one - expected).max() < 2e-6


def test_vectors_are_unit_length_and_similar_texts_are_close(
    encoder_dir: Path,
) -> None:
    vectors = get_encoder(encoder_dir).encode(
        ["where is my parcel", "track my delivery", "what's the weather in Leeds"]
    )

    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_no_texts_gives_an_empty_matrix(encoder_dir: Path) -> None:
    assert get_encoder(encoder_dir).encode([]).shape == (0, 384)


def test_a_missing_export_names_the_fix(tmp_path: Path) -> None:
    encoder = SentenceEncoder(tmp_path / "nowhere")

    with pytest.raises(EncoderMissing, match="make models"):
        encoder.encode(["hello"])


def test_relative_encoder_paths_start_at_the_repo_root(tmp_path: Path) -> None:
    assert resolve_encoder_dir("models/encoder") == REPO_ROOT / "models" / "encoder"
    assert resolve_encoder_dir(tmp_path) == tmp_path
