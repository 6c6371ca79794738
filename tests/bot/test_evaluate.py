from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.evaluate import (
    EvalDataError,
    compute_metrics,
    format_table,
    main,
    read_rows,
    resolve_model,
)

DOMAIN = [
    "track_order",
    "product_recommendation",
    "cancel_order",
    "greet",
    "goodbye",
    "out_of_scope",
    "nlu_fallback",
]
# label, prediction
ROWS = [
    ("track_order", "track_order"),  # right
    ("track_order", "cancel_order"),  # wrong shop intent
    ("track_order", "nlu_fallback"),  # in-scope fallback
    ("cancel_order", "cancel_order"),  # right
    ("weather", "out_of_scope"),  # right: rejected
    ("weather", "track_order"),  # false accept
    ("oos", "greet"),  # wrong, but conversation glue is no false accept
    ("oos", "nlu_fallback"),  # right: rejected
]


def test_metrics_on_a_hand_made_set() -> None:
    labels, predictions = zip(*ROWS, strict=True)

    metrics = compute_metrics(labels, predictions, DOMAIN)

    assert metrics["n"] == 8
    assert metrics["accuracy"] == 0.5
    # track_order: precision 1/2, recall 1/3 -> F1 0.4; cancel_order: 1/2, 1 -> 2/3
    assert metrics["macro_f1"] == pytest.approx((0.4 + 2 / 3) / 2, abs=1e-4)
    assert metrics["in_scope_fallback_rate"] == 0.25
    assert metrics["false_accept"] == 0.25
    by_intent = {entry["intent"]: entry for entry in metrics["per_intent"]}
    assert by_intent["track_order"]["f1"] == 0.4
    assert by_intent["track_order"]["top_error"] in {"cancel_order", "nlu_fallback"}
    assert by_intent["(not in domain)"]["rejected"] == 0.5
    assert by_intent["(not in domain)"]["top_error"] == "track_order"


def test_false_accept_counts_the_27_shop_intents_and_any_counts_the_rest() -> None:
    labels = ["weather", "weather", "oos", "oos"]
    predictions = [
        "product_recommendation",  # an answering intent, but not one of the 27
        "track_order",  # one of the 27 shop intents
        "out_of_scope",  # rejected
        "greet",  # conversation glue
    ]

    metrics = compute_metrics(labels, predictions, DOMAIN)

    assert metrics["false_accept"] == 0.25
    assert metrics["false_accept_any"] == 0.5


def test_a_label_of_out_of_scope_is_in_domain_and_not_a_fallback() -> None:
    metrics = compute_metrics(
        ["out_of_scope", "greet"], ["out_of_scope", "greet"], DOMAIN
    )

    assert metrics["macro_f1"] == 1.0
    assert metrics["in_scope_fallback_rate"] == 0.0
    assert metrics["false_accept"] is None


def test_the_table_has_a_line_per_intent() -> None:
    labels, predictions = zip(*ROWS, strict=True)

    table = format_table(compute_metrics(labels, predictions, DOMAIN)["per_intent"])

    assert len(table.splitlines()) == 4
    assert "false accept 0.250" in table


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "set.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_are_read_with_extra_columns_and_quoted_newlines(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        'id,text,intent\n1,"where is\nmy order",track_order\n2,hello,greet\n',
    )

    rows = read_rows(path)

    assert [(r.text, r.intent, r.line) for r in rows] == [
        ("where is\nmy order", "track_order", 3),
        ("hello", "greet", 4),
    ]


@pytest.mark.parametrize(
    ("content", "where"),
    [
        ("text,intent\nhi,greet\nhello,greet,extra\n", ":3:"),  # one field too many
        ("text,intent\nhi,greet\nhello\n", ":3:"),  # one field missing
        ("text,intent\n,greet\n", ":2:"),  # empty text
        ("text,label\nhi,greet\n", ":1:"),  # no intent column
        ("text,intent\n", "no rows"),  # header only
    ],
)
def test_a_malformed_file_names_the_file_and_line(
    tmp_path: Path, content: str, where: str
) -> None:
    path = _csv(tmp_path, content)

    with pytest.raises(EvalDataError) as raised:
        read_rows(path)

    assert str(raised.value).startswith(f"{path}")
    assert where in str(raised.value)


def test_a_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(EvalDataError, match="cannot open"):
        read_rows(tmp_path / "nope.csv")


def test_the_command_exits_2_on_a_malformed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, "text,intent\nhi,greet,oops\n")

    code = main(["--model", str(tmp_path), "--data", str(path)])

    assert code == 2
    assert f"{path}:2:" in capsys.readouterr().err


def test_a_model_folder_means_its_newest_archive(tmp_path: Path) -> None:
    old, new = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    old.write_bytes(b"old")
    new.write_bytes(b"new")
    os.utime(old, (1_000, 1_000))
    os.utime(new, (2_000, 2_000))

    assert resolve_model(tmp_path) == new
    assert resolve_model(old) == old
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="make models"):
        resolve_model(empty)
