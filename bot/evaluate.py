"""Measure the trained NLU model on a labelled CSV (``make eval DATA=path.csv``).

Every row (columns ``text`` and ``intent``; other columns are ignored) is parsed by the
trained Rasa model, exactly as the server parses a customer message. Prints a
per-intent table and, as its last line, one JSON object:

    n                       rows parsed
    accuracy                share of rows answered right: the labelled intent for a
                            domain intent, a rejection (out_of_scope / nlu_fallback)
                            for a label the domain does not have
    macro_f1                mean F1 over the domain's intents that occur in the labels
    in_scope_fallback_rate  share of rows labelled with a domain intent (other than
                            out_of_scope / nlu_fallback) that were rejected
    false_accept            share of rows whose label is not a domain intent that got
                            one of the 27 shop intents (SHOP_INTENTS) instead of a
                            rejection: the definition the product is measured by
    false_accept_any        the same, counting any domain intent outside
                            CONVERSATION_INTENTS (so product_recommendation too)
    latency_ms              p50 / p95 of one parse, for information
    model, model_sha256, data, sha256 (of the data file)

The same object, plus the table, is written to ``reports/eval-<folder>-<file>.json``.

Usage: ``python -m bot.evaluate --model models/rasa --data path.csv`` (a model
folder means its newest ``*.tar.gz``); ``--predictions out.csv`` also writes every
row's prediction. An unreadable or malformed file exits with code 2 and names the
file and line.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import json
import logging
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
REJECT_INTENTS = frozenset({"out_of_scope", "nlu_fallback"})
# The 27 e-commerce intents of the public data set the product is measured on.
SHOP_INTENTS = frozenset(
    {
        "cancel_order", "change_order", "place_order", "track_order",
        "check_cancellation_fee", "contact_customer_service", "contact_human_agent",
        "delivery_options", "delivery_period", "complaint", "review",
        "check_invoice", "get_invoice", "newsletter_subscription",
        "check_payment_methods", "payment_issue", "check_refund_policy",
        "get_refund", "track_refund", "change_shipping_address",
        "set_up_shipping_address", "create_account", "delete_account",
        "edit_account", "recover_password", "registration_problems",
        "switch_account",
    }
)  # fmt: skip
# Conversation glue: answering these to an out-of-domain message is not a false accept.
CONVERSATION_INTENTS = frozenset(
    {"greet", "goodbye", "affirm", "deny", "thank", "bot_challenge", "inform"}
    | REJECT_INTENTS
)


class EvalDataError(ValueError):
    """The evaluation file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Row:
    """One labelled utterance and the line of the file it ends on."""

    text: str
    intent: str
    line: int


def read_rows(path: Path) -> list[Row]:
    """Read a CSV with ``text`` and ``intent`` columns.

    Raises:
        EvalDataError: The file is missing, lacks a column, or a row is malformed
            (wrong number of fields, empty text or intent).
    """
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise EvalDataError(f"{path}: cannot open ({exc.strerror})") from exc
    rows: list[Row] = []
    with handle:
        reader = csv.DictReader(handle, strict=True)
        try:
            header = reader.fieldnames or []
            missing = {"text", "intent"} - set(header)
            if missing:
                raise EvalDataError(
                    f"{path}:1: missing column(s) {', '.join(sorted(missing))} "
                    f"(found: {', '.join(header) or 'nothing'})"
                )
            for record in reader:
                line = reader.line_num
                if None in record or None in record.values():
                    raise EvalDataError(
                        f"{path}:{line}: expected {len(header)} fields, "
                        f"found {_field_count(record)}"
                    )
                text, intent = record["text"].strip(), record["intent"].strip()
                if not text or not intent:
                    raise EvalDataError(f"{path}:{line}: empty text or intent")
                rows.append(Row(text, intent, line))
        except csv.Error as exc:
            raise EvalDataError(f"{path}:{reader.line_num}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise EvalDataError(f"{path}: not UTF-8 ({exc.reason})") from exc
    if not rows:
        raise EvalDataError(f"{path}: no rows")
    return rows


def _field_count(record: dict[str | None, Any]) -> int:
    """Fields a DictReader row really had (missing ones are None, extra ones listed)."""
    extra = record.get(None) or []
    present = sum(v is not None for k, v in record.items() if k is not None)
    return present + len(extra)


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def compute_metrics(
    labels: Sequence[str], predictions: Sequence[str], domain_intents: Iterable[str]
) -> dict[str, Any]:
    """Score predictions against labels.

    Args:
        labels: The labelled intent of each row (may include intents the domain
            lacks, e.g. CLINC's ``weather`` or ``oos``).
        predictions: The predicted intent of each row.
        domain_intents: The intents of the assistant's domain.

    Returns:
        The summary metrics (see the module docstring) and ``per_intent``: one entry
        per labelled domain intent (support, precision, recall, f1, most common
        wrong answer), then one for all labels outside the domain.
    """
    if len(labels) != len(predictions):
        raise ValueError("labels and predictions differ in length")
    domain = set(domain_intents)
    answering = domain - CONVERSATION_INTENTS
    shop = SHOP_INTENTS & domain
    pairs = list(zip(labels, predictions, strict=True))

    correct = sum(p == y if y in domain else p in REJECT_INTENTS for y, p in pairs)
    in_scope = [(y, p) for y, p in pairs if y in domain and y not in REJECT_INTENTS]
    outside = [(y, p) for y, p in pairs if y not in domain]

    per_intent = []
    for intent in sorted({y for y in labels if y in domain}):
        tp = sum(y == intent and p == intent for y, p in pairs)
        support = sum(y == intent for y, _ in pairs)
        predicted = sum(p == intent for _, p in pairs)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
        errors = Counter(p for y, p in pairs if y == intent and p != intent)
        per_intent.append(
            {
                "intent": intent,
                "support": support,
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "f1": round(f1, 4),
                "top_error": errors.most_common(1)[0][0] if errors else None,
            }
        )
    if outside:
        accepted = Counter(p for _, p in outside if p in answering)
        per_intent.append(
            {
                "intent": "(not in domain)",
                "support": len(outside),
                "rejected": _ratio(
                    sum(p in REJECT_INTENTS for _, p in outside), len(outside)
                ),
                "false_accept": _ratio(sum(accepted.values()), len(outside)),
                "top_error": accepted.most_common(1)[0][0] if accepted else None,
            }
        )

    f1s = [entry["f1"] for entry in per_intent if "f1" in entry]
    return {
        "n": len(pairs),
        "accuracy": _ratio(correct, len(pairs)),
        "macro_f1": round(statistics.fmean(f1s), 4) if f1s else None,
        "in_scope_fallback_rate": _ratio(
            sum(p in REJECT_INTENTS for _, p in in_scope), len(in_scope)
        ),
        "false_accept": _ratio(sum(p in shop for _, p in outside), len(outside)),
        "false_accept_any": _ratio(
            sum(p in answering for _, p in outside), len(outside)
        ),
        "per_intent": per_intent,
    }


def format_table(per_intent: list[dict[str, Any]]) -> str:
    """Render the per-intent entries as a fixed-width text table."""
    lines = [
        f"{'intent':28} {'n':>5} {'prec':>6} {'recall':>6} {'f1':>6}  top error",
    ]
    for entry in per_intent:
        if "f1" in entry:
            p, r, f = entry["precision"], entry["recall"], entry["f1"]
            scores = f"{p:6.3f} {r:6.3f} {f:6.3f}"
        else:
            scores = (
                f"rejected {entry['rejected']:.3f}, "
                f"false accept {entry['false_accept']:.3f}"
            )
        lines.append(
            f"{entry['intent']:28} {entry['support']:5d} {scores}  "
            f"{entry['top_error'] or '-'}"
        )
    return "\n".join(lines)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model(path: Path) -> Path:
    """Return the model archive: ``path`` itself, or the newest archive in it."""
    if path.is_dir():
        archives = sorted(path.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not archives:
            raise FileNotFoundError(
                f"no trained model (*.tar.gz) in {path}: run make models"
            )
        return archives[-1]
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    return path


def _domain_intents(agent: Any, domain_path: Path | None) -> list[str]:
    """The model's own domain intents; bot/domain's for an NLU-only model."""
    from rasa.shared.core.constants import DEFAULT_INTENTS
    from rasa.shared.core.domain import Domain

    if domain_path is None and agent.domain is not None:
        own = list(agent.domain.intents)
        if set(own) - set(DEFAULT_INTENTS):
            return own
    path = domain_path or REPO_ROOT / "bot" / "domain"
    return list(Domain.load(str(path)).intents)


async def _parse_all(
    agent: Any, rows: list[Row]
) -> tuple[list[str], list[float], list[float]]:
    """Parse each row; return predicted intents, confidences and latencies (ms)."""
    predictions, confidences, latencies = [], [], []
    for row in rows:
        started = time.perf_counter()
        parsed = await agent.parse_message(row.text)
        latencies.append((time.perf_counter() - started) * 1000)
        intent = parsed.get("intent") or {}
        predictions.append(intent.get("name") or "nlu_fallback")
        confidences.append(float(intent.get("confidence") or 0.0))
    return predictions, confidences, latencies


def write_predictions(
    path: Path, rows: list[Row], predictions: list[str], confidences: list[float]
) -> None:
    """Write one CSV line per row: line, text, label, prediction, confidence."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "text", "intent", "predicted", "confidence"])
        for row, predicted, confidence in zip(
            rows, predictions, confidences, strict=True
        ):
            writer.writerow(
                [row.line, row.text, row.intent, predicted, f"{confidence:.4f}"]
            )


def evaluate(
    model: Path,
    data: Path,
    domain: Path | None = None,
    reports: Path | None = None,
    predictions_csv: Path | None = None,
) -> dict[str, Any]:
    """Parse every row of ``data`` with ``model``, print and write the results.

    Args:
        model: A model archive, or a folder whose newest archive is used.
        data: CSV with ``text`` and ``intent`` columns.
        domain: Domain to take the intents from (default: the model's own).
        reports: Folder of the JSON report (default: ``reports/``).
        predictions_csv: If given, every row's prediction is written there.

    Returns:
        The summary dict (also the last printed line).
    """
    rows = read_rows(data)
    archive = resolve_model(model)
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no per-message debug lines with the text
    agent = Agent.load(str(archive))
    predictions, confidences, latencies = asyncio.run(_parse_all(agent, rows))
    if predictions_csv is not None:
        write_predictions(predictions_csv, rows, predictions, confidences)
    metrics = compute_metrics(
        [r.intent for r in rows], predictions, _domain_intents(agent, domain)
    )
    per_intent = metrics.pop("per_intent")
    p95 = (
        statistics.quantiles(latencies, n=20)[18]
        if len(latencies) > 1
        else latencies[0]
    )
    summary = {
        **metrics,
        "latency_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(p95, 2),
        },
        "model": str(archive),
        "model_sha256": sha256_of(archive),
        "data": str(data),
        "sha256": sha256_of(data),
    }
    reports_dir = reports or REPO_ROOT / "reports"
    reports_dir.mkdir(parents=True, exist_ok=True)
    name = f"{data.resolve().parent.name}-{data.name.removesuffix('.csv')}"
    report = reports_dir / f"eval-{name}.json"
    report.write_text(
        json.dumps({**summary, "per_intent": per_intent}, indent=2) + "\n",
        encoding="utf-8",
    )
    print(format_table(per_intent))
    print(f"report: {report}")
    print(json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit code 2 for unusable input."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "rasa")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument(
        "--domain", type=Path, default=None, help="default: the model's own domain"
    )
    parser.add_argument("--reports", type=Path, default=None)
    parser.add_argument(
        "--predictions", type=Path, default=None, help="write each row's prediction"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        evaluate(args.model, args.data, args.domain, args.reports, args.predictions)
    except (EvalDataError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
