from __future__ import annotations

from pathlib import Path

import numpy as np

from crm_models.training import label_audit
from crm_models.training.gate import Tolerance, label_checks

WORDS = ("parcel", "arrived", "refund", "money", "password", "login")


def bag_of_words(texts):
    """A toy encoder: one dimension per known word, L2-normalised."""
    rows = np.array([[float(word in text.split()) for word in WORDS] for text in texts])
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1, norms)


EXISTING = [
    ("my parcel never arrived", "track_order"),
    ("where is my parcel", "track_order"),
    ("has the parcel arrived", "track_order"),
    ("i want my money back", "get_refund"),
    ("refund my money", "get_refund"),
    ("please refund me", "get_refund"),
    ("forgot my password", "recover_password"),
    ("cannot login password", "recover_password"),
    ("login broken", "recover_password"),
]


def test_honest_labels_are_backed_and_shuffled_ones_are_not() -> None:
    honest = [
        ("parcel not arrived yet", "track_order"),
        ("money back now", "get_refund"),
        ("login password lost", "recover_password"),
    ]
    shuffled = [(text, intent) for (text, _), (_, intent) in
                zip(honest, honest[1:] + honest[:1], strict=True)]  # fmt: skip

    good = label_audit.audit(honest, EXISTING, bag_of_words, k=3)
    bad = label_audit.audit(shuffled, EXISTING, bag_of_words, k=3)

    assert good.backed_share == 1.0
    assert bad.backed_share == 0.0
    assert bad.labels[0].neighbours[0] == ("track_order", 3)
    assert label_checks(good.backed_share, good.n, Tolerance())[0].passed
    check = label_checks(bad.backed_share, bad.n, Tolerance())[0]
    assert not check.passed
    assert check.name == "new labels backed (3)"


def test_a_label_cannot_back_itself() -> None:
    existing = [*EXISTING, ("parcel arrived broken", "complaint")]
    result = label_audit.audit(
        [("parcel arrived broken", "complaint")], existing, bag_of_words, k=3
    )
    assert not result.labels[0].backed


def test_no_new_labels_means_no_check() -> None:
    result = label_audit.audit([], EXISTING, bag_of_words)
    assert result.backed_share is None
    assert label_checks(result.backed_share, result.n, Tolerance()) == []


def test_new_examples_and_snapshots(tmp_path: Path) -> None:
    nlu = tmp_path / "nlu"
    nlu.mkdir()
    (nlu / "a.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - Hello there\n'
        "    - hi [Bob](name)\n"
    )
    examples = label_audit.snapshot(nlu)
    assert examples == [("hello there", "greet"), ("hi bob", "greet")]
    path = tmp_path / "examples.json"
    label_audit.save_snapshot(examples, path)
    assert label_audit.load_snapshot(path) == examples
    assert label_audit.load_snapshot(tmp_path / "missing.json") is None
    assert label_audit.new_examples([*examples, ("yo", "greet")], examples) == [
        ("yo", "greet")
    ]
