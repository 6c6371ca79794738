"""Out-of-scope gate: turns messages far from every in-domain example into out_of_scope.

A shop assistant hears many requests it was never trained for (weather, banking,
music...). A classifier still picks its most similar shop intent for them. This gate
measures how close a message is to the training examples of the in-domain intents
(mean cosine similarity of the ``top_k`` nearest examples, on the encoder's sentence
vectors) and rejects it below a threshold.

The threshold is set on principle, from our own training data: the examples are split
into ``folds``; each held-out example is scored against the other folds, and the
threshold is the ``in_domain_reject_rate`` quantile of those scores. So about that
share of new in-domain phrasings is expected to be rejected, whatever the data size.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_TYPE,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.model_selection import KFold

from bot.components.sentence_vectors import sentence_vectors

logger = logging.getLogger(__name__)
_WORD = re.compile(r"\w")

OUTPUT_KEY = "out_of_scope_check"
_VECTORS = "vectors.npy"
_META = "meta.json"


def top_k_similarity(queries: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Mean cosine similarity of each query to its ``k`` nearest reference rows.

    Both arrays hold L2-normalised rows. With fewer than ``k`` reference rows, all
    of them are used; with none, every score is -1.
    """
    if reference.shape[0] == 0:
        return np.full(queries.shape[0], -1.0, dtype=np.float32)
    k = min(k, reference.shape[0])
    similarities = queries @ reference.T
    nearest = -np.partition(-similarities, k - 1, axis=1)[:, :k]
    return nearest.mean(axis=1)


def calibrate_threshold(
    vectors: np.ndarray, k: int, reject_rate: float, folds: int, seed: int
) -> tuple[float, np.ndarray]:
    """Pick the threshold that rejects ``reject_rate`` of held-out in-domain examples.

    Returns:
        The threshold and the held-out scores it was taken from. With fewer than two
        examples there is nothing to hold out, and the threshold is -1 (no rejection).
    """
    n = vectors.shape[0]
    if n < 2:
        return -1.0, np.zeros(0, dtype=np.float32)
    held_out = np.zeros(n, dtype=np.float32)
    splitter = KFold(n_splits=min(folds, n), shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(vectors):
        held_out[test_idx] = top_k_similarity(vectors[test_idx], vectors[train_idx], k)
    return float(np.quantile(held_out, reject_rate)), held_out


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class OutOfScopeGate(IntentClassifier, GraphComponent):
    """Overrides the intent with ``out_of_scope`` for messages unlike the training data.

    Put it after the intent classifier and the entity extractors and before
    ``FallbackClassifier``. Every checked message gets ``out_of_scope_check``
    (score, threshold, rejected) in its parse result.

    Config:
        featurizers: Dense featurizer names to read sentence vectors from.
        out_of_scope_intent: Intent set on rejected messages.
        ignore_intents: Intents whose examples are not in-domain and whose
            predictions pass unchecked.
        top_k: Nearest in-domain examples averaged into the score.
        in_domain_reject_rate: Share of held-out in-domain examples the calibrated
            threshold rejects.
        folds: Folds of the calibration split.
        threshold: A fixed threshold instead of the calibrated one (null: calibrate).
        exempt_entities: Messages with one of these entities are never rejected
            (an order number or e-mail address is a shop matter).
        random_state: Seed of the calibration split.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Return the component's default config."""
        return {
            "featurizers": [],
            "out_of_scope_intent": "out_of_scope",
            "ignore_intents": ["out_of_scope", "nlu_fallback"],
            "top_k": 3,
            "in_domain_reject_rate": 0.05,
            "folds": 5,
            "threshold": None,
            "exempt_entities": ["order_number", "email"],
            "random_state": 42,
        }

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
    ) -> None:
        """Create an untrained gate (it lets every message through)."""
        self.config = {**self.get_default_config(), **config}
        self.name = name
        self._model_storage = model_storage
        self._resource = resource
        self._vectors: np.ndarray | None = None
        self.threshold: float | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> OutOfScopeGate:
        """Create a new untrained component (see ``GraphComponent.create``)."""
        return cls(config, execution_context.node_name, model_storage, resource)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Reject impossible settings early."""
        merged = {**cls.get_default_config(), **config}
        if not 0.0 <= float(merged["in_domain_reject_rate"]) < 1.0:
            raise InvalidConfigException(
                f"{cls.__name__}: in_domain_reject_rate must be in [0, 1)."
            )
        if int(merged["top_k"]) < 1 or int(merged["folds"]) < 2:
            raise InvalidConfigException(
                f"{cls.__name__}: top_k must be >= 1 and folds >= 2."
            )

    def train(self, training_data: TrainingData) -> Resource:
        """Keep the in-domain example vectors and calibrate the threshold."""
        ignored = set(self.config["ignore_intents"])
        examples = [
            e
            for e in training_data.intent_examples
            if e.get(TEXT) and e.get(INTENT) and e.get(INTENT) not in ignored
        ]
        self._vectors = sentence_vectors(
            examples, self.config["featurizers"], self.name
        )
        if self._vectors.size == 0:
            self._vectors = np.zeros((0, 1), dtype=np.float32)
        calibrated, _ = calibrate_threshold(
            self._vectors,
            k=int(self.config["top_k"]),
            reject_rate=float(self.config["in_domain_reject_rate"]),
            folds=int(self.config["folds"]),
            seed=int(self.config["random_state"]),
        )
        fixed = self.config["threshold"]
        self.threshold = float(fixed) if fixed is not None else calibrated
        logger.info(
            "oos_gate.trained examples=%s threshold=%.3f calibrated=%.3f",
            len(examples),
            self.threshold,
            calibrated,
        )
        self.persist()
        return self._resource

    def scores(self, messages: list[Message]) -> np.ndarray:
        """Similarity score of each message to the in-domain examples."""
        assert self._vectors is not None
        if not messages:
            return np.zeros(0, dtype=np.float32)
        queries = sentence_vectors(messages, self.config["featurizers"], self.name)
        return top_k_similarity(queries, self._vectors, int(self.config["top_k"]))

    def _is_exempt(self, message: Message) -> bool:
        exempt = set(self.config["exempt_entities"])
        return any(
            entity.get(ENTITY_ATTRIBUTE_TYPE) in exempt
            for entity in message.get(ENTITIES) or []
        )

    def process(self, messages: list[Message]) -> list[Message]:
        """Reject the messages whose score is below the threshold."""
        if self._vectors is None or self.threshold is None:
            return messages
        ignored = set(self.config["ignore_intents"])
        checked = [
            m
            for m in messages
            if m.get(TEXT) is not None
            and m.get(INTENT)
            and m.get(INTENT).get(INTENT_NAME_KEY) not in ignored
        ]
        for message, score in zip(checked, self.scores(checked), strict=True):
            # Nothing to understand (empty, blanks, punctuation, emoji only): never
            # let such a message pass as "yes" or any other intent.
            wordless = _WORD.search(message.get(TEXT) or "") is None
            rejected = wordless or (
                bool(score < self.threshold) and not self._is_exempt(message)
            )
            message.set(
                OUTPUT_KEY,
                {
                    "score": round(float(score), 4),
                    "threshold": round(self.threshold, 4),
                    "rejected": rejected,
                },
                add_to_output=True,
            )
            if rejected:
                self._reject(message)
        return messages

    def _reject(self, message: Message) -> None:
        name = self.config["out_of_scope_intent"]
        verdict = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
        ranking = [
            entry
            for entry in message.get(INTENT_RANKING_KEY) or []
            if entry.get(INTENT_NAME_KEY) != name
        ]
        message.set(INTENT, verdict, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [verdict, *ranking], add_to_output=True)

    def persist(self) -> None:
        """Write the example vectors and the threshold to the model storage."""
        assert self._vectors is not None
        assert self.threshold is not None
        with self._model_storage.write_to(self._resource) as directory:
            np.save(directory / _VECTORS, self._vectors, allow_pickle=False)
            meta = {"threshold": self.threshold, "examples": len(self._vectors)}
            (directory / _META).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> OutOfScopeGate:
        """Load a trained gate; a pass-through one if nothing was stored."""
        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((directory / _META).read_text(encoding="utf-8"))
                vectors = np.load(directory / _VECTORS, allow_pickle=False)
        except (ValueError, FileNotFoundError):
            logger.debug("oos_gate.load_untrained resource=%s", resource.name)
            return component
        component._vectors = vectors
        component.threshold = float(meta["threshold"])
        return component

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leave the training data unchanged."""
        return training_data
