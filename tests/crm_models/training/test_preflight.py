from __future__ import annotations

from pathlib import Path

from crm_models.training import preflight


def _project(tmp_path: Path) -> tuple[Path, Path]:
    nlu, domain = tmp_path / "data" / "nlu", tmp_path / "bot" / "domain"
    nlu.mkdir(parents=True)
    domain.mkdir(parents=True)
    (domain / "intents.yml").write_text("intents:\n  - greet\n  - track_order\n")
    (nlu / "orders.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: track_order\n  examples: |\n'
        "    - where is my order\n    - where is [541812](order_number)\n"
    )
    return nlu, domain


def test_clean_data_passes(tmp_path: Path) -> None:
    result = preflight.check(*_project(tmp_path))
    assert result.unknown_intents == []
    assert result.conflicts == []


def test_an_intent_the_domain_lacks_is_named_with_file_and_line(tmp_path) -> None:
    nlu, domain = _project(tmp_path)
    (nlu / "inbox.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: refund_me_now\n  examples: |\n'
        "    - give me my money back right now\n"
    )

    result = preflight.check(nlu, domain)

    assert result.unknown_lines(tmp_path) == [
        "refund_me_now in data/nlu/inbox.yml line 5: intent 'refund_me_now' is not "
        "in the domain"
    ]


def test_a_text_under_two_intents_is_a_conflict(tmp_path: Path) -> None:
    nlu, domain = _project(tmp_path)
    (nlu / "inbox.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n'
        "    - Where is my order\n"
    )

    result = preflight.check(nlu, domain)

    assert [text for text, _ in result.conflicts] == ["where is my order"]
    (line,) = result.conflict_lines(tmp_path)
    assert "track_order in data/nlu/orders.yml line 5" in line
    assert "greet in data/nlu/inbox.yml line 5" in line


def test_first_caps_the_lines() -> None:
    assert preflight.first([str(i) for i in range(12)], n=3) == [
        "0",
        "1",
        "2",
        "... and 9 more",
    ]
