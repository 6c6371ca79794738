"""Dense sentence features from the MiniLM encoder, as a Rasa 3.6 graph component."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.encoder import DEFAULT_ENCODER_DIR, SentenceEncoder, get_encoder

logger = logging.getLogger(__name__)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False
)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds one L2-normalised sentence vector per message text.

    Only sentence-level features are added (no per-token sequence features): DIET's
    intent head and the components in this package read the sentence vector, and the
    entity extractors keep their own token features.

    Config:
        encoder_dir: Folder of the exported encoder, relative to the repo root
            unless absolute (default ``models/encoder``).
        batch_size: Texts per encoder call during training.
        alias: Name other components use to select these features.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Return the component's default config."""
        return {
            **DenseFeaturizer.get_default_config(),
            "encoder_dir": DEFAULT_ENCODER_DIR,
            "batch_size": 64,
        }

    @staticmethod
    def required_packages() -> list[str]:
        """Return the Python packages the component needs."""
        return ["onnxruntime", "tokenizers"]

    def __init__(self, config: dict[str, Any], name: str) -> None:
        """Create the featurizer; the encoder is loaded on first use."""
        super().__init__(name, config)
        self._encoder_dir = str(config["encoder_dir"])
        self._batch_size = int(config["batch_size"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SentenceEmbeddingFeaturizer:
        """Create the component (see ``GraphComponent.create``)."""
        return cls({**cls.get_default_config(), **config}, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Reject a config without an encoder folder or with a bad batch size."""
        if not str(config.get("encoder_dir") or "").strip():
            raise InvalidConfigException(
                f"{cls.__name__} needs 'encoder_dir' (e.g. {DEFAULT_ENCODER_DIR})."
            )
        if int(config.get("batch_size", 1)) < 1:
            raise InvalidConfigException(f"{cls.__name__}: 'batch_size' must be >= 1.")

    @property
    def encoder(self) -> SentenceEncoder:
        """The shared encoder for the configured folder."""
        return get_encoder(self._encoder_dir)

    def _featurize(self, messages: list[Message]) -> None:
        with_text = [m for m in messages if m.get(TEXT) is not None]
        if not with_text:
            return
        vectors: list[np.ndarray] = []
        for start in range(0, len(with_text), self._batch_size):
            batch = with_text[start : start + self._batch_size]
            vectors.append(self.encoder.encode([m.get(TEXT) for m in batch]))
        for message, vector in zip(with_text, np.concatenate(vectors), strict=True):
            self.add_features_to_message(
                sequence=None, sentence=vector[None, :], attribute=TEXT, message=message
            )

    def process(self, messages: list[Message]) -> list[Message]:
        """Add the sentence vector to each message that has a text."""
        self._featurize(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Add the sentence vector to every training example that has a text."""
        self._featurize(training_data.training_examples)
        logger.debug(
            "sentence_featurizer.training_data examples=%s",
            len(training_data.training_examples),
        )
        return training_data
