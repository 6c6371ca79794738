from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY

from bot.components.intent_classifier import EmbeddingIntentClassifier
from bot.components.oos_gate import (
    OUTPUT_KEY,
    OutOfScopeGate,
    calibrate_threshold,
    top_k_similarity,
)
from tests.bot.components.builders import (
    SHOP_EXAMPLES,
    context,
    messages,
    resource,
    storage,
    training_data,
)

CONFIG = {"featurizers": ["minilm"], "top_k": 2, "in_domain_reject_rate": 0.05}


def test_top_k_similarity_averages_the_nearest_rows() -> None:
    reference = np.eye(3, dtype=np.float32)
    query = np.array([[0.8, 0.6, 0.0]], dtype=np.float32)

    assert top_k_similarity(query, reference, 1)[0] == pytest.approx(0.8)
    assert top_k_similarity(query, reference, 2)[0] == pytest.approx(0.7)
    assert top_k_similarity(query, reference, 10)[0] == pytest.approx(1.4 / 3)
    assert top_k_similarity(query, reference[:0], 2)[0] == -1.0


def test_the_threshold_rejects_the_asked_share_of_held_out_examples() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(200, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    threshold, held_out = calibrate_threshold(
        vectors, k=3, reject_rate=0.1, folds=5, seed=1
    )

    assert held_out.shape == (200,)
    assert (held_out < threshold).mean() == pytest.approx(0.1, abs=0.01)
    assert (
        calibrate_threshold(vectors[:1], k=3, reject_rate=0.1, folds=5, seed=1)[0]
        == -1.0
    )


def _pipeline(tmp_path: Path, encoder_dir: Path, **overrides):
    """A classifier and gate trained on the shop examples, without out_of_scope.

    So the classifier always answers a shop intent and the gate alone decides.
    """
    shop_only = {k: v for k, v in SHOP_EXAMPLES.items() if k != "out_of_scope"}
    data = training_data(shop_only, encoder_dir)
    model_storage = storage(tmp_path)
    classifier = EmbeddingIntentClassifier.create(
        {"featurizers": ["minilm"]},
        model_storage,
        resource("classifier"),
        context("classifier"),
    )
    classifier.train(data)
    gate = OutOfScopeGate.create(
        {**CONFIG, **overrides}, model_storage, resource("gate"), context("gate")
    )
    gate.train(data)
    return classifier, gate, model_storage


def _parse(classifier, gate, texts, encoder_dir, entities=None):
    parsed = messages(texts, encoder_dir)
    for message, found in zip(parsed, entities or [[]] * len(parsed), strict=True):
        message.set(ENTITIES, found)
    return gate.process(classifier.process(parsed))


def test_far_away_requests_become_out_of_scope_and_shop_ones_pass(
    tmp_path: Path, encoder_dir: Path
) -> None:
    classifier, gate, _ = _pipeline(tmp_path, encoder_dir)

    far, near = _parse(
        classifier,
        gate,
        ["how many moons does jupiter have", "where has my order got to"],
        encoder_dir,
    )

    assert far.get(INTENT) == {"name": "out_of_scope", "confidence": 1.0}
    assert far.get(INTENT_RANKING_KEY)[0]["name"] == "out_of_scope"
    assert [r["name"] for r in far.get(INTENT_RANKING_KEY)].count("out_of_scope") == 1
    assert far.get(OUTPUT_KEY)["rejected"] is True
    assert near.get(INTENT)["name"] == "track_order"
    assert near.get(OUTPUT_KEY)["rejected"] is False
    assert near.get(OUTPUT_KEY)["score"] > near.get(OUTPUT_KEY)["threshold"]


def test_a_message_with_an_order_number_is_never_rejected(
    tmp_path: Path, encoder_dir: Path
) -> None:
    classifier, gate, _ = _pipeline(tmp_path, encoder_dir, threshold=0.99)
    order = [{"entity": "order_number", "value": "541812", "start": 0, "end": 6}]

    with_number, without = _parse(
        classifier, gate, ["541812", "541812"], encoder_dir, [order, []]
    )

    assert with_number.get(OUTPUT_KEY)["rejected"] is False
    assert without.get(OUTPUT_KEY)["rejected"] is True


@pytest.mark.parametrize(
    "text",
    [
        "",  # an empty message
        "   ",  # blanks only
        "?!...",  # punctuation only
        "\U0001f600\U0001f525",  # emoji only
    ],
)
def test_a_message_without_words_is_rejected(
    tmp_path: Path, encoder_dir: Path, text: str
) -> None:
    classifier, gate, _ = _pipeline(tmp_path, encoder_dir, threshold=0.0)

    [parsed] = _parse(classifier, gate, [text], encoder_dir)

    assert parsed.get(INTENT)["name"] == "out_of_scope"
    assert parsed.get(OUTPUT_KEY)["rejected"] is True


def test_a_fixed_threshold_overrides_the_calibrated_one(
    tmp_path: Path, encoder_dir: Path
) -> None:
    _, gate, _ = _pipeline(tmp_path, encoder_dir, threshold=-1.0)

    assert gate.threshold == -1.0


def test_a_loaded_gate_scores_exactly_as_the_trained_one(
    tmp_path: Path, encoder_dir: Path
) -> None:
    _, gate, model_storage = _pipeline(tmp_path, encoder_dir)
    loaded = OutOfScopeGate.load(
        CONFIG, model_storage, resource("gate"), context("gate")
    )
    parsed = messages(["cancel my order", "play jazz"], encoder_dir)

    assert loaded.threshold == pytest.approx(gate.threshold)
    assert np.allclose(loaded.scores(parsed), gate.scores(parsed))


def test_an_untrained_gate_lets_everything_through(
    tmp_path: Path, encoder_dir: Path
) -> None:
    gate = OutOfScopeGate.load(
        CONFIG, storage(tmp_path), resource("nothing"), context("gate")
    )
    parsed = messages(["what's the weather"], encoder_dir)
    parsed[0].set(INTENT, {"name": "track_order", "confidence": 0.9})

    gate.process(parsed)

    assert parsed[0].get(INTENT)["name"] == "track_order"
    assert parsed[0].get(OUTPUT_KEY) is None


@pytest.mark.parametrize(
    "config",
    [
        {"in_domain_reject_rate": 1.0},  # would reject everything
        {"top_k": 0},  # no neighbours
        {"folds": 1},  # nothing held out
    ],
)
def test_impossible_settings_are_refused(config: dict) -> None:
    with pytest.raises(InvalidConfigException):
        OutOfScopeGate.validate_config(config)


def test_a_message_without_an_intent_is_not_checked(
    tmp_path: Path, encoder_dir: Path
) -> None:
    _, gate, _ = _pipeline(tmp_path, encoder_dir)
    parsed = messages(["how many moons does jupiter have"], encoder_dir)

    gate.process(parsed)

    assert parsed[0].get(INTENT) is None
    assert parsed[0].get(OUTPUT_KEY) is None
