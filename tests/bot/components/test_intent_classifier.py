from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.intent_classifier import EmbeddingIntentClassifier
from tests.bot.components.builders import (
    SHOP_EXAMPLES,
    context,
    messages,
    resource,
    storage,
    training_data,
)

CONFIG = {"featurizers": ["minilm"]}


def _trained(tmp_path: Path, encoder_dir: Path, examples=SHOP_EXAMPLES):
    model_storage = storage(tmp_path)
    classifier = EmbeddingIntentClassifier.create(
        CONFIG, model_storage, resource("classifier"), context("classifier")
    )
    classifier.train(training_data(examples, encoder_dir))
    return classifier, model_storage


def test_new_phrasings_get_the_right_intent(tmp_path: Path, encoder_dir: Path) -> None:
    classifier, _ = _trained(tmp_path, encoder_dir)
    parsed = messages(
        [
            "where's my parcel got to",  # track_order
            "please cancel the order I made",  # cancel_order
            "I'd like a refund, the vase was cracked",  # get_refund
            "forgot my login password",  # recover_password
        ],
        encoder_dir,
    )

    classifier.process(parsed)

    assert [m.get(INTENT)["name"] for m in parsed] == [
        "track_order",
        "cancel_order",
        "get_refund",
        "recover_password",
    ]
    ranking = parsed[0].get("intent_ranking")
    assert ranking[0] == parsed[0].get(INTENT)
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0, abs=1e-4)
    assert ranking == sorted(ranking, key=lambda r: -r["confidence"])


def test_a_loaded_classifier_predicts_exactly_as_the_trained_one(
    tmp_path: Path, encoder_dir: Path
) -> None:
    classifier, model_storage = _trained(tmp_path, encoder_dir)
    loaded = EmbeddingIntentClassifier.load(
        CONFIG, model_storage, resource("classifier"), context("classifier")
    )
    parsed = messages(["has my order shipped", "tell me a joke"], encoder_dir)

    assert loaded.intents == classifier.intents
    assert np.allclose(
        loaded.predict_proba(parsed), classifier.predict_proba(parsed), atol=1e-6
    )


def test_two_intents_are_enough(tmp_path: Path, encoder_dir: Path) -> None:
    two = {k: SHOP_EXAMPLES[k] for k in ("greet", "cancel_order")}
    classifier, _ = _trained(tmp_path, encoder_dir, two)
    parsed = messages(["hello there", "cancel it please"], encoder_dir)

    classifier.process(parsed)

    assert [m.get(INTENT)["name"] for m in parsed] == ["greet", "cancel_order"]


def test_without_training_data_messages_pass_unchanged(
    tmp_path: Path, encoder_dir: Path
) -> None:
    model_storage = storage(tmp_path)
    classifier = EmbeddingIntentClassifier.create(
        CONFIG, model_storage, resource("classifier"), context("classifier")
    )
    classifier.train(TrainingData())
    loaded = EmbeddingIntentClassifier.load(
        CONFIG, model_storage, resource("classifier"), context("classifier")
    )
    parsed = messages(["where is my order"], encoder_dir)

    loaded.process(parsed)

    assert parsed[0].get(INTENT) is None


def test_a_pipeline_without_the_featurizer_is_explained(
    tmp_path: Path, encoder_dir: Path
) -> None:
    classifier, _ = _trained(tmp_path, encoder_dir)

    with pytest.raises(InvalidConfigException, match="SentenceEmbeddingFeaturizer"):
        classifier.process([Message(data={TEXT: "where is my order"})])


def test_impossible_settings_are_refused() -> None:
    with pytest.raises(InvalidConfigException):
        EmbeddingIntentClassifier.validate_config({"ngram_min": 4, "ngram_max": 2})
