from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.encoder import get_encoder
from bot.components.sentence_featurizer import SentenceEmbeddingFeaturizer
from tests.bot.components.builders import context, featurizer


def test_each_text_gets_its_sentence_vector(encoder_dir: Path) -> None:
    texts = ["where is my order", "hello"]
    messages = [Message(data={TEXT: t}) for t in texts]

    featurizer(encoder_dir).process(messages)

    vectors = get_encoder(encoder_dir).encode(texts)
    for message, expected in zip(messages, vectors, strict=True):
        sequence, sentence = message.get_dense_features(TEXT, ["minilm"])
        assert sequence is None
        assert sentence is not None
        assert sentence.features.shape == (1, 384)
        assert np.allclose(sentence.features[0], expected, atol=1e-6)


def test_training_examples_are_featurized_and_messages_without_text_skipped(
    encoder_dir: Path,
) -> None:
    with_text = Message(data={TEXT: "cancel my order", INTENT: "cancel_order"})
    without_text = Message(data={INTENT: "greet"})
    data = TrainingData(training_examples=[with_text, without_text])

    featurizer(encoder_dir).process_training_data(data)

    assert with_text.get_dense_features(TEXT)[1] is not None
    assert without_text.features == []


@pytest.mark.parametrize(
    "config",
    [
        {"encoder_dir": ""},  # no folder
        {"encoder_dir": "models/encoder", "batch_size": 0},  # no batch
    ],
)
def test_bad_config_is_refused(config: dict) -> None:
    with pytest.raises(InvalidConfigException):
        SentenceEmbeddingFeaturizer.create(
            {**SentenceEmbeddingFeaturizer.get_default_config(), **config},
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            context("featurizer"),
        )
