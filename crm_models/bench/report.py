"""Write the benchmark's results as ``bench.json`` and a readable ``bench.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGET_NAMES = {
    "propensity": "propensity (buys within 90 days)",
    "churn_risk": "churn (active customers who stop)",
    "refund_risk": "return or cancellation",
}
KIND_NAMES = {
    "rfm": "RFM quintile sum",
    "logistic": "logistic regression",
    "boosting": "gradient boosting",
    "blend": "rank blend RFM + logistic",
}


def _ci(entry: dict[str, float] | None, digits: int = 3) -> str:
    if not entry:
        return "–"
    return (
        f"{entry['value']:.{digits}f} "
        f"[{entry['ci_low']:.{digits}f}–{entry['ci_high']:.{digits}f}]"
    )


def _yes(flag: bool) -> str:
    return "met" if flag else "missed"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def headline(results: dict[str, Any]) -> list[str]:
    """The targets table."""
    scoring = results["scoring"]
    rec = results["recommend"]
    scorer = results["latency"]["scoring"]
    prop = scoring["targets"]["propensity"]["test"]
    blend = rec["methods"]["blend"]
    rows = [
        [
            "propensity ROC-AUC (test cutoff)",
            "≥ 0.77",
            _ci(prop["chosen"]["roc_auc"]),
            f"RFM {prop['rfm']['roc_auc']['value']:.3f}",
            _yes(scoring["goal"]["reached"])
            + (
                ""
                if scoring["goal"]["reached"]
                else f" by {scoring['goal']['gap']:.3f}"
            ),
        ],
        [
            "recommendation HitRate@10",
            "≥ 0.58",
            _ci(blend["hit_rate"]),
            "ALS 0.54 (figure given in the issue)",
            _yes(rec["goal"]["hit_rate_reached"]),
        ],
        [
            "recommendation NDCG@10",
            "≥ 0.135",
            _ci(blend["ndcg"]),
            "ALS 0.125 (figure given in the issue)",
            _yes(rec["goal"]["ndcg_reached"]),
        ],
        [
            "scoring one customer, p99",
            "< 5 ms",
            f"{scorer['p99_ms']:.2f} ms (p50 {scorer['p50_ms']:.2f}; CPU time p99 "
            f"{scorer['cpu_p99_ms']:.2f})",
            "–",
            _yes(scorer["p99_ms"] < 5.0),
        ],
    ]
    return _table(["figure", "target", "measured [95% CI]", "baseline", ""], rows)


def shortfalls(results: dict[str, Any]) -> list[str]:
    """A paragraph per missed target: by how much, and what the figures say why."""
    lines = ["## Targets missed, and why", ""]
    scoring = results["scoring"]
    if not scoring["goal"]["reached"]:
        prop = scoring["targets"]["propensity"]
        chosen = prop["test"]["chosen"]["roc_auc"]
        span = scoring["data_span"]
        lines.append(
            f"- Propensity ROC-AUC {chosen['value']:.3f} misses 0.77 by "
            f"{scoring['goal']['gap']:.3f}; RFM alone reaches "
            f"{prop['test']['rfm']['roc_auc']['value']:.3f}. A logistic "
            "regression fitted *inside* the test window (cross-validated, so it "
            "learns from the very labels it is judged on: a ceiling, not a "
            f"result) reaches only {prop['leaky_ceiling_roc_auc']:.3f}, and "
            f"{prop['wide_leaky_ceiling_roc_auc']:.3f} when it also sees each "
            "customer's product mix (TF-IDF over the products bought) and "
            "month-by-month activity over the year before the cutoff. Neither "
            "beats the model trained strictly on earlier windows "
            f"({chosen['value']:.3f}): the transactions hold no more signal on "
            "this split, so better estimators cannot close the gap. Seasonality, "
            "the obvious extra "
            f"signal, cannot be learned here: the data covers "
            f"{span['months']:.0f} months ({span['first_order']} to "
            f"{span['last_order']}), so the test window's season has no earlier "
            "counterpart in any customer's history and no training label window "
            "covers it. Conversation outcomes do not exist for these historical "
            "customers."
        )
    rec = results["recommend"]
    for metric, label in (("hit_rate", "HitRate@10"), ("ndcg", "NDCG@10")):
        if not rec["goal"][f"{metric}_reached"]:
            value = rec["methods"]["blend"][metric]["value"]
            lines.append(
                f"- {label} {value:.3f} misses {rec['goal'][metric]} by "
                f"{rec['goal'][metric + '_gap']:.3f}."
            )
    scorer = results["latency"]["scoring"]
    if scorer["p99_ms"] >= 5.0:
        lines.append(
            f"- Scoring p99 {scorer['p99_ms']:.1f} ms wall-clock misses 5 ms while "
            f"its CPU time p99 is {scorer['cpu_p99_ms']:.2f} ms: the calls waited "
            "for a core on a loaded machine (see the load average)."
        )
    if len(lines) == 2:
        lines.append("- none")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The whole report in Markdown."""
    cfg = results["config"]
    mach = results["machine"]
    inputs = results["inputs"]
    scoring = results["scoring"]
    rec = results["recommend"]
    lat = results["latency"]
    out: list[str] = [
        "# Benchmark: customer models and recommendations",
        "",
        f"`python -m crm_models.bench{' --quick' if cfg['quick'] else ''}` on "
        f"{results['created_at']}; {results['seconds']['total']:.0f} s"
        + (
            " (**quick run: small sizes, not the reference figures**)"
            if cfg["quick"]
            else ""
        )
        + ".",
        "",
        "## Headline",
        "",
        *headline(results),
        "",
        *shortfalls(results),
        "",
        "## Machine",
        "",
        f"- CPU: {mach['cpu']}, {mach['cores']} cores ({mach['usable_cores']} "
        f"usable), {mach['memory_gb']} GB; load average at start "
        f"{mach['load_average_at_start']}, at the end "
        f"{mach.get('load_average_at_end')} (a shared machine: times are wall-clock, "
        "CPU time shown where it differs)",
        f"- {mach['os']}, Python {mach['python']}",
        "- libraries: "
        + ", ".join(f"{k} {v}" for k, v in sorted(mach["libraries"].items())),
        "",
        "## Data",
        "",
        f"- store rows: {inputs['store_rows']}",
        f"- seed: {inputs['store_seed']}",
        "- seed files (sha256): "
        + ", ".join(
            f"{k} `{(v or 'missing')[:16]}…`" for k, v in inputs["seed_files"].items()
        ),
        f"- scoring cutoffs (store calendar): {scoring['cutoffs']}",
        f"- test cutoff in the original calendar: "
        f"{scoring['cutoffs_original_calendar']['test']}; 90-day label windows; a "
        "model tested at a cutoff is trained only on windows closed before it",
        "",
        "## Customer models (test cutoff, 95% bootstrap intervals over customers)",
        "",
    ]
    for target in scoring["target_order"]:
        entry = scoring["targets"][target]
        rows = []
        for kind in ("rfm", "logistic", "boosting", "blend"):
            metrics = entry["test"][kind]
            mark = " **(chosen)**" if kind == entry["chosen"] else ""
            rows.append(
                [
                    KIND_NAMES[kind] + mark,
                    _ci(metrics["roc_auc"]),
                    _ci(metrics["pr_auc"]),
                    _ci(metrics.get("brier")),
                    f"{entry['validation_auc'][kind]:.3f}",
                ]
            )
        out += [
            f"### {TARGET_NAMES[target]}",
            "",
            f"{entry['n_test']} customers, {entry['positive_rate_test']:.0%} positive; "
            f"{entry['n_train']} training rows. Model chosen by validation ROC-AUC. "
            f"Leaky ceiling (logistic regression cross-validated inside the test "
            f"window, not a result): {entry['leaky_ceiling_roc_auc']:.3f}"
            + (
                f"; with product mix and monthly activity added: "
                f"{entry['wide_leaky_ceiling_roc_auc']:.3f}."
                if "wide_leaky_ceiling_roc_auc" in entry
                else "."
            ),
            "",
            *_table(
                ["model", "ROC-AUC", "PR-AUC", "Brier", "validation ROC-AUC"], rows
            ),
            "",
        ]
    out += [
        "## Next-purchase recommendation",
        "",
        f"Test cutoff {rec['test_cutoff']} (original calendar "
        f"{rec['test_cutoff_original']}); {rec['customers']} customers with new "
        f"products after it ({rec['truth_items']} customer-product pairs, "
        f"{rec['truth_items_cold']} of them products first sold after the cutoff); "
        f"catalogue {rec['catalogue']}. Ranker trained at {rec['validation_cutoff']} "
        f"on {rec['validation_customers']} customers. Lists shorter than "
        f"{rec['k']} are filled with the most popular products.",
        "",
        *_table(
            ["method", "HitRate@10", "NDCG@10", "coverage"],
            [
                [m, _ci(v["hit_rate"]), _ci(v["ndcg"]), f"{v['coverage']:.3f}"]
                for m, v in rec["methods"].items()
            ],
        ),
        "",
        "References from the issue (same data and split): "
        + "; ".join(
            f"{k} {v['hit_rate']:.2f} / {v['ndcg']:.3f}"
            for k, v in rec["references"].items()
        )
        + ".",
        "",
        "Ranker weights (standardised features): "
        + ", ".join(f"{k} {v:+.2f}" for k, v in rec["ranker"].items())
        + ".",
        "",
    ]
    cold = rec["cold_products"]
    if cold.get("n_products"):
        out += [
            f"Cold products: {cold['n_products']} products first sold after the "
            "cutoff, searched by two words of their name: embeddings recall@10 "
            f"{_ci(cold['embeddings_recall_at_10'])}, popularity "
            f"{cold['popularity_recall_at_10']:.3f} (history-based methods cannot "
            f"reach them). Example: '{cold['examples'][0]['query']}' → "
            f"{cold['examples'][0]['product']}.",
            "",
        ]
    scorer = lat["scoring"]
    real = lat["recommend"]
    scale = lat["scale"]
    out += [
        "## Latency and the index",
        "",
        f"Scoring one customer (`CustomerScorer.score`, feature cache warm, "
        f"{scorer['n']} calls, 1 in 20 unknown): p50 {scorer['p50_ms']:.2f} ms, "
        f"p99 {scorer['p99_ms']:.2f} ms, max {scorer['max_ms']:.1f} ms wall-clock; "
        f"CPU time p50 {scorer['cpu_p50_ms']:.2f} ms, p99 {scorer['cpu_p99_ms']:.2f} "
        "ms. Cache load "
        f"{scorer['cache_load_ms']:.0f} ms for {scorer['cache_customers']} customers; "
        f"incremental refresh check {scorer['refresh_check_ms']:.1f} ms. Segments: "
        f"{scorer['segments']['counts']}.",
        "",
    ]
    request_rows = []
    for label, block in (
        (f"real catalogue ({real['catalogue']}, {real['index_kind']})", real),
        (
            f"{scale['products']} products ({scale['synthetic']} synthetic, "
            f"{scale['vectors']} vectors; {scale['requests']['index_kind']})",
            scale["requests"],
        ),
    ):
        for mode in ("history", "query_with_history", "query_visitor"):
            r = block[mode]
            request_rows.append(
                [
                    label,
                    mode.replace("_", " "),
                    f"{r['p50_ms']:.1f}",
                    f"{r['p99_ms']:.1f}",
                    f"{r['cpu_p99_ms']:.1f}",
                ]
            )
    out += [
        *_table(
            ["catalogue", "request", "p50 ms", "p99 ms", "CPU p99 ms"], request_rows
        ),
        "",
        "Query requests include encoding the query with MiniLM on one thread.",
        "",
    ]
    index_rows = []
    for label, figures in (
        (f"{real['catalogue']}", real["indexes"]),
        (f"{scale['products']}", scale["indexes"]),
    ):
        for kind, f in figures.items():
            extra = (
                f" (nprobe {f['nprobe']}, nlist {f['nlist']})" if kind == "ivf" else ""
            )
            index_rows.append(
                [
                    label,
                    kind + extra,
                    f"{f['recall_at_10']:.3f}",
                    f"{f['search']['p50_ms']:.2f}",
                    f"{f['search']['p99_ms']:.2f}",
                    f"{f['build_s']:.1f}",
                    f"{f['memory_mb']:.0f}",
                ]
            )
    chosen = scale["chosen"]
    out += [
        *_table(
            [
                "products",
                "index",
                "recall@10",
                "search p50 ms",
                "p99 ms",
                "build s",
                "MB",
            ],
            index_rows,
        ),
        "",
        f"Chosen at {chosen['n']} products: {chosen['kind']}"
        + (f" with nprobe {chosen['nprobe']}" if chosen["kind"] == "ivf" else "")
        + f" (recall@10 {chosen['recall_at_10']:.3f} against exact search; rule: "
        "exact up to 50,000 products, else the smallest IVF nprobe reaching 0.95). "
        "HNSW is measured for comparison; FAISS cannot remove vectors from it, so "
        "it could not follow catalogue changes without a rebuild.",
        "",
        "## Run time",
        "",
        ", ".join(f"{k} {v:.0f} s" for k, v in results["seconds"].items()),
        "",
    ]
    return "\n".join(out)


def write_report(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``bench.json`` and ``bench.md`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "bench.json"
    md_path = out_dir / "bench.md"
    json_path.write_text(
        json.dumps(results, indent=2, sort_keys=True, default=str) + "\n",
        encoding="utf-8",
    )
    md_path.write_text(markdown(results), encoding="utf-8")
    return json_path, md_path
