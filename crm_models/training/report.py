"""The retrain report: one HTML page with PNG charts per retrain run.

Shows the gate's verdict and every check, per-intent F1 before and after, the
candidate's confusion matrix on the held-out set, the most confused intent pairs,
and the ROC curves of the scoring models (current and candidate). Written to
``reports/retrain/<run>/index.html``; charts beside it.
"""

from __future__ import annotations

import csv
import html
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
th{background:#f3f3f3}.ok{color:#17632a}.bad{color:#b00020;font-weight:600}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
"""


def read_predictions(path: Path) -> list[tuple[str, str]]:
    """``(label, predicted)`` pairs from ``bot.evaluate --predictions``."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [(row["intent"], row["predicted"]) for row in csv.DictReader(handle)]


def confused_pairs(
    pairs: Sequence[tuple[str, str]], top: int = 10
) -> list[tuple[str, str, int]]:
    """The most frequent (label, predicted) mistakes, most frequent first."""
    counts = Counter((y, p) for y, p in pairs if y != p)
    return [(y, p, n) for (y, p), n in counts.most_common(top)]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_f1(
    before: Mapping[str, float], after: Mapping[str, float], path: Path
) -> None:
    """Horizontal bars of per-intent F1, before and after."""
    plt = _pyplot()
    intents = sorted(set(before) | set(after))
    height = max(3.0, 0.28 * len(intents) + 1)
    fig, ax = plt.subplots(figsize=(8, height))
    ys = range(len(intents))
    ax.barh(
        [y + 0.2 for y in ys],
        [before.get(i, 0.0) for i in intents],
        height=0.4,
        label="current",
        color="#9aa7b8",
    )
    ax.barh(
        [y - 0.2 for y in ys],
        [after.get(i, 0.0) for i in intents],
        height=0.4,
        label="candidate",
        color="#2f6db5",
    )
    ax.set_yticks(list(ys), intents, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("F1 on the held-out set")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(pairs: Sequence[tuple[str, str]], path: Path) -> None:
    """The confusion matrix (rows: labelled intent, columns: predicted)."""
    plt = _pyplot()
    import numpy as np

    labels = sorted({y for y, _ in pairs} | {p for _, p in pairs})
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for y, p in pairs:
        matrix[index[y], index[p]] += 1
    size = max(5.0, 0.3 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    shade = np.log1p(matrix) / max(float(np.log1p(matrix.max())), 1e-9)
    ax.imshow(shade, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for i, j in zip(*np.nonzero(matrix), strict=True):
        # Light text on the dark half of the scale, dark text on the light half;
        # mistakes (off the diagonal) in bold, red where the cell is light.
        dark = shade[i, j] > 0.5
        colour = "white" if dark else ("#08306b" if i == j else "#b00020")
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=6,
                color=colour, fontweight="normal" if i == j else "bold")  # fmt: skip
    ax.set_xlabel("predicted")
    ax.set_ylabel("labelled")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_roc(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], path: Path
) -> None:
    """One panel per target: ROC of the current and the candidate model, and RFM."""
    plt = _pyplot()
    targets = sorted(after)
    fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 4.2))
    if len(targets) == 1:
        axes = [axes]
    for ax, target in zip(axes, targets, strict=True):
        curves = [("candidate", after[target]["chosen"], "#2f6db5")]
        if before and target in before:
            curves.insert(0, ("current", before[target]["chosen"], "#9aa7b8"))
        curves.append(("RFM baseline", after[target]["rfm"], "#d08c2a"))
        for name, curve, colour in curves:
            ax.plot(curve["fpr"], curve["tpr"], color=colour,
                    label=f"{name} ({curve['auc']:.3f})")  # fmt: skip
        ax.plot([0, 1], [0, 1], color="#ccc", linestyle="--")
        ax.set_title(target)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _f1s(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    entries = (metrics or {}).get("per_intent") or []
    return {e["intent"]: float(e["f1"]) for e in entries if "f1" in e}


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def write_report(
    out: Path,
    *,
    title: str,
    summary: Sequence[str],
    decisions: Mapping[str, Mapping[str, Any]],
    rasa_before: Mapping[str, Any] | None = None,
    rasa_after: Mapping[str, Any] | None = None,
    roc_before: Mapping[str, Any] | None = None,
    roc_after: Mapping[str, Any] | None = None,
    audit: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``out/index.html`` and its charts; returns the page's path.

    Args:
        out: the run's report folder (created).
        title: the page heading.
        summary: plain lines shown first (versions, inputs, what went live).
        decisions: per model family, the gate's ``Decision.as_dict()``.
        rasa_before, rasa_after: ``RasaModels.evaluate`` metrics, if trained.
        roc_before, roc_after: the scoring versions' ``roc.json``, if trained.
        audit: ``label_audit.Audit.as_dict()`` of the new labels, if any.
    """
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style>",
        f"<h1>{html.escape(title)}</h1>",
        "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in summary) + "</ul>",
    ]
    for family, decision in decisions.items():
        verdict = "promoted" if decision.get("passed") else "refused"
        css = "ok" if decision.get("passed") else "bad"
        parts.append(
            f"<h2>{html.escape(family)}: <span class='{css}'>{verdict}</span></h2>"
        )
        rows = [
            (
                c["name"],
                "-" if c["before"] is None else f"{c['before']:.4f}",
                "-" if c["after"] is None else f"{c['after']:.4f}",
                (
                    f"at least {c['floor']:.2f}"
                    if c.get("floor") is not None
                    else f"{c['tolerance']:.3f}"
                ),
                "ok" if c["passed"] else "WORSE",
                c.get("note", ""),
            )
            for c in decision.get("checks", [])
        ]
        parts.append(
            _table(("figure", "current", "candidate", "may drop by", "", "note"), rows)
        )

    if audit and audit.get("labels"):
        parts.append(
            f"<h2>New labels ({audit['n']}): {audit['backed_share']:.0%} backed by "
            f"their {audit['k']} nearest examples</h2>"
        )
        rows = [
            (
                label["text"],
                label["intent"],
                "yes" if label["backed"] else "NO: check it",
                ", ".join(f"{name} {n}" for name, n in label["neighbours"]),
            )
            for label in sorted(audit["labels"], key=lambda label: label["backed"])
        ]
        parts.append(
            _table(("example", "labelled", "backed", "nearest examples' intents"), rows)
        )
    if rasa_after:
        before, after = _f1s(rasa_before), _f1s(rasa_after)
        plot_f1(before, after, out / "intent_f1.png")
        parts.append("<h2>Per-intent F1 on the held-out set</h2>")
        parts.append("<img src='intent_f1.png' alt='per-intent F1 before and after'>")
        rows = [
            (
                i,
                f"{before[i]:.3f}" if i in before else "-",
                f"{after[i]:.3f}" if i in after else "-",
                f"{after.get(i, 0.0) - before.get(i, 0.0):+.3f}" if before else "",
            )
            for i in sorted(set(before) | set(after))
        ]
        parts.append(_table(("intent", "current", "candidate", "change"), rows))
        predictions = Path(rasa_after.get("predictions", ""))
        if predictions.is_file():
            pairs = read_predictions(predictions)
            plot_confusion(pairs, out / "confusion.png")
            parts.append("<h2>Confusion matrix of the candidate</h2>")
            parts.append("<img src='confusion.png' alt='confusion matrix'>")
            parts.append("<h2>Most confused pairs (candidate)</h2>")
            parts.append(
                _table(("labelled", "predicted as", "times"), confused_pairs(pairs))
            )
            old = Path((rasa_before or {}).get("predictions", ""))
            if rasa_before and old.is_file():
                parts.append("<h3>Most confused pairs (current)</h3>")
                parts.append(
                    _table(
                        ("labelled", "predicted as", "times"),
                        confused_pairs(read_predictions(old)),
                    )
                )
    if roc_after:
        plot_roc(roc_before, roc_after, out / "roc.png")
        parts.append("<h2>Scoring models: ROC at the test cutoff</h2>")
        parts.append("<img src='roc.png' alt='ROC curves'>")

    page = out / "index.html"
    page.write_text("\n".join(parts) + "\n", encoding="utf-8")
    logger.info("training.report.written path=%s", page)
    return page


def load_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object, or None when the file is missing."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
