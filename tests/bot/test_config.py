"""bot/config.yml end to end: train its NLU pipeline on a small set, parse, evaluate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.evaluate import evaluate
from tests.bot.components.builders import SHOP_EXAMPLES

pytestmark = pytest.mark.rasa

CONFIG = Path(__file__).resolve().parents[2] / "bot" / "config.yml"
INFORM = [
    "it's [541812](order_number)",
    "order number [557830](order_number)",
    "my email is [jo.bloggs@example.com](email)",
    "[ann@example.org](email)",
    "the number is #[562331](order_number)",
    "[548902](order_number)",
]


def _nlu_yaml() -> str:
    blocks = ['version: "3.1"', "nlu:"]
    for intent, texts in {**SHOP_EXAMPLES, "inform": INFORM}.items():
        blocks.append(f"- intent: {intent}\n  examples: |")
        blocks.extend(f"    - {text}" for text in texts)
    blocks.append("- regex: order_number\n  examples: |\n    - \\b5[3-8]\\d{4}\\b")
    blocks.append(
        "- regex: email\n  examples: |\n"
        "    - \\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}\\b"
    )
    return "\n".join(blocks) + "\n"


def _domain_yaml() -> str:
    intents = "\n".join(f"  - {i}" for i in [*SHOP_EXAMPLES, "inform"])
    return (
        f'version: "3.1"\nintents:\n{intents}\nentities:\n  - order_number\n  - email\n'
    )


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, encoder_dir: Path
) -> tuple[Path, object]:
    """The pipeline of bot/config.yml trained on the small set, and its agent."""
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    root = tmp_path_factory.mktemp("nlu")
    (root / "nlu.yml").write_text(_nlu_yaml(), encoding="utf-8")
    (root / "domain.yml").write_text(_domain_yaml(), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RASA_CACHE_DIRECTORY", str(root / "cache"))
        archive = train_nlu(
            str(CONFIG),
            str(root / "nlu.yml"),
            str(root / "models"),
            domain=str(root / "domain.yml"),
        )
    assert archive is not None
    return root, Agent.load(archive)


def _parse(agent: object, text: str) -> dict:
    return asyncio.run(agent.parse_message(text))  # type: ignore[attr-defined]


def test_an_order_number_is_found_once_with_its_exact_value(trained) -> None:
    _, agent = trained

    parsed = _parse(agent, "please cancel order #541812 for me")

    assert parsed["intent"]["name"] == "cancel_order"
    numbers = [e for e in parsed["entities"] if e["entity"] == "order_number"]
    assert [(e["value"], e["extractor"]) for e in numbers] == [
        ("541812", "RegexEntityExtractor")
    ]


def test_far_away_requests_are_rejected_and_the_check_is_reported(trained) -> None:
    _, agent = trained

    far = _parse(agent, "how many moons does jupiter have")
    near = _parse(agent, "where is my order")

    assert far["intent"]["name"] in {"out_of_scope", "nlu_fallback"}
    assert near["intent"]["name"] == "track_order"
    assert near["out_of_scope_check"]["rejected"] is False


def test_evaluate_prints_the_json_last_and_writes_the_report(
    trained, capsys: pytest.CaptureFixture[str]
) -> None:
    root, _ = trained
    data = root / "sample.csv"
    data.write_text(
        "text,intent\n"
        "has my parcel shipped yet,track_order\n"
        "cancel the order please,cancel_order\n"
        "play some jazz,play_music\n",
        encoding="utf-8",
    )

    summary = evaluate(
        root / "models",
        data,
        domain=root / "domain.yml",
        reports=root / "reports",
        predictions_csv=root / "predictions.csv",
    )

    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == summary
    assert summary["n"] == 3
    assert set(summary) >= {
        "accuracy",
        "macro_f1",
        "in_scope_fallback_rate",
        "false_accept",
        "model",
        "data",
        "sha256",
    }
    report = json.loads(
        (root / "reports" / f"eval-{root.name}-sample.json").read_text()
    )
    assert report["n"] == 3
    assert len(report["per_intent"]) == 3
    lines = (root / "predictions.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "line,text,intent,predicted,confidence"
    assert lines[1].startswith("2,has my parcel shipped yet,track_order,")
