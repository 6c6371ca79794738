from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from crm_models.recommend import export_onnx


def test_an_empty_folder_is_not_up_to_date(tmp_path: Path) -> None:
    assert not export_onnx.is_up_to_date(tmp_path, export_onnx.source_model_dir())


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("encoder")
    export_onnx.export(out)
    return out


@pytest.mark.ml
def test_the_export_writes_model_tokenizer_and_metadata(exported: Path) -> None:
    import onnx

    meta = json.loads((exported / "metadata.json").read_text(encoding="utf-8"))
    model = onnx.load(str(exported / "model.onnx"))

    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == meta["inputs"]
    assert meta["dimension"] == 384
    assert meta["max_length"] == 256
    assert meta["files"]["model.onnx"] == export_onnx.sha256_of(exported / "model.onnx")
    assert export_onnx.is_up_to_date(exported, export_onnx.source_model_dir())


@pytest.mark.ml
def test_a_second_export_is_skipped_and_a_changed_file_is_noticed(
    exported: Path,
) -> None:
    before = (exported / "model.onnx").stat().st_mtime_ns

    export_onnx.export(exported)

    assert (exported / "model.onnx").stat().st_mtime_ns == before
    tokenizer = exported / "tokenizer.json"
    original = tokenizer.read_bytes()
    tokenizer.write_bytes(original + b" ")
    try:
        assert not export_onnx.is_up_to_date(exported, export_onnx.source_model_dir())
    finally:
        tokenizer.write_bytes(original)


@pytest.mark.ml
def test_the_graph_gives_sentence_transformers_vectors(exported: Path) -> None:
    # The Rasa environment runs the graph with onnxruntime; here onnx's reference
    # evaluator runs it, with the same mean pooling and normalisation.
    from onnx.reference import ReferenceEvaluator
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    text = "where is my order 541812?"
    encoding = Tokenizer.from_file(str(exported / "tokenizer.json")).encode(text)
    inputs = {
        "input_ids": np.array([encoding.ids], dtype=np.int64),
        "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
        "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
    }
    (hidden,) = ReferenceEvaluator(str(exported / "model.onnx")).run(None, inputs)
    pooled = hidden[0].mean(axis=0)
    pooled /= np.linalg.norm(pooled)
    expected = SentenceTransformer(
        str(export_onnx.source_model_dir()), device="cpu"
    ).encode([text], normalize_embeddings=True)[0]

    assert np.abs(pooled - expected).max() < 1e-5
