"""Intent classifier: logistic regression over sentence embeddings and char n-grams.

With a few dozen examples per intent, a linear model over a pretrained sentence
embedding generalises to new phrasings better than a network trained from scratch, and
character n-grams (TF-IDF, sublinear) add robustness to typos and shop vocabulary.

The trained model is stored as plain arrays and JSON (no pickle), so loading a model
file runs no code from it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.components.sentence_vectors import sentence_vectors

logger = logging.getLogger(__name__)

_ARRAYS = "arrays.npz"
_META = "meta.json"


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True
)
class EmbeddingIntentClassifier(IntentClassifier, GraphComponent):
    """Multinomial logistic regression on [char n-gram TF-IDF, sentence vector].

    Config:
        C: Inverse regularisation strength.
        max_iter: Iteration cap of the lbfgs solver.
        ngram_min, ngram_max: Character n-gram range (``char_wb`` analyser).
        embedding_weight: Scale of the sentence vector next to the TF-IDF block
            (both are unit length before scaling).
        featurizers: Dense featurizer names to read the sentence vector from (empty:
            all dense featurizers).
        ranking_length: Intents kept in ``intent_ranking`` (0 keeps all).
        random_state: Seed of the solver.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Return the component's default config."""
        return {
            "C": 30.0,
            "max_iter": 3000,
            "ngram_min": 2,
            "ngram_max": 5,
            "embedding_weight": 1.0,
            "featurizers": [],
            "ranking_length": 10,
            "random_state": 42,
        }

    @staticmethod
    def required_packages() -> list[str]:
        """Return the Python packages the component needs."""
        return ["sklearn", "scipy"]

    def __init__(
        self,
        config: dict[str, Any],
        name: str,
        model_storage: ModelStorage,
        resource: Resource,
    ) -> None:
        """Create an untrained classifier."""
        self.config = {**self.get_default_config(), **config}
        self.name = name
        self._model_storage = model_storage
        self._resource = resource
        self._vectorizer: TfidfVectorizer | None = None
        self._classes: list[str] = []
        self._coef: np.ndarray | None = None
        self._intercept: np.ndarray | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmbeddingIntentClassifier:
        """Create a new untrained component (see ``GraphComponent.create``)."""
        return cls(config, execution_context.node_name, model_storage, resource)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Reject impossible settings early."""
        merged = {**cls.get_default_config(), **config}
        if not 1 <= merged["ngram_min"] <= merged["ngram_max"]:
            raise InvalidConfigException(
                f"{cls.__name__}: need 1 <= ngram_min <= ngram_max."
            )
        if merged["C"] <= 0 or merged["embedding_weight"] < 0:
            raise InvalidConfigException(
                f"{cls.__name__}: C must be > 0 and embedding_weight >= 0."
            )

    @property
    def is_trained(self) -> bool:
        """Whether the classifier has weights."""
        return self._coef is not None

    def _new_vectorizer(
        self, vocabulary: dict[str, int] | None = None
    ) -> TfidfVectorizer:
        return TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(self.config["ngram_min"], self.config["ngram_max"]),
            lowercase=True,
            sublinear_tf=True,
            norm="l2",
            dtype=np.float32,
            vocabulary=vocabulary,
        )

    def _features(self, messages: list[Message]) -> sparse.csr_matrix:
        assert self._vectorizer is not None
        texts = [m.get(TEXT) or "" for m in messages]
        ngrams = self._vectorizer.transform(texts)
        vectors = sentence_vectors(messages, self.config["featurizers"], self.name)
        weight = float(self.config["embedding_weight"])
        return sparse.hstack([ngrams, sparse.csr_matrix(vectors * weight)]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the classifier on the intent examples and persist it."""
        examples = [
            e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)
        ]
        labels = sorted({e.get(INTENT) for e in examples})
        if len(labels) < 2:
            logger.warning(
                "intent_classifier.skip_training intents=%s (need at least 2)",
                len(labels),
            )
            return self._resource
        self._vectorizer = self._new_vectorizer()
        self._vectorizer.fit([e.get(TEXT) for e in examples])
        model = LogisticRegression(
            C=float(self.config["C"]),
            max_iter=int(self.config["max_iter"]),
            class_weight="balanced",
            random_state=int(self.config["random_state"]),
            # Explicit so that a scikit-learn default change cannot alter the model.
            solver="lbfgs",
            multi_class="multinomial",
            penalty="l2",
            fit_intercept=True,
            tol=1e-4,
        )
        model.fit(self._features(examples), [e.get(INTENT) for e in examples])
        self._classes = [str(c) for c in model.classes_]
        self._coef = model.coef_.astype(np.float32)
        self._intercept = model.intercept_.astype(np.float32)
        logger.info(
            "intent_classifier.trained examples=%s intents=%s features=%s",
            len(examples),
            len(self._classes),
            self._coef.shape[1],
        )
        self.persist()
        return self._resource

    def predict_proba(self, messages: list[Message]) -> np.ndarray:
        """Return class probabilities, shape (len(messages), len(intents))."""
        assert self._coef is not None
        assert self._intercept is not None
        scores = np.asarray(self._features(messages) @ self._coef.T + self._intercept)
        if scores.shape[1] == 1:
            # Two intents: scikit-learn keeps one row of weights, for the second class.
            scores = np.hstack([-scores, scores])
        return _softmax(scores)

    @property
    def intents(self) -> list[str]:
        """Intent names in the column order of ``predict_proba``."""
        return list(self._classes)

    def process(self, messages: list[Message]) -> list[Message]:
        """Set ``intent`` and ``intent_ranking`` on each message."""
        if not self.is_trained or not messages:
            return messages
        probabilities = self.predict_proba(messages)
        keep = int(self.config["ranking_length"]) or len(self._classes)
        for message, row in zip(messages, probabilities, strict=True):
            order = np.argsort(-row)
            ranking = [
                {
                    INTENT_NAME_KEY: self._classes[i],
                    PREDICTED_CONFIDENCE_KEY: float(row[i]),
                }
                for i in order[:keep]
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def persist(self) -> None:
        """Write the vocabulary, weights and classes to the model storage."""
        assert self._vectorizer is not None
        assert self._coef is not None
        vocabulary = self._vectorizer.vocabulary_
        ordered = sorted(vocabulary, key=vocabulary.__getitem__)
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(
                directory / _ARRAYS,
                coef=self._coef,
                intercept=self._intercept,
                idf=self._vectorizer.idf_.astype(np.float64),
            )
            meta = {"classes": self._classes, "ngrams": ordered}
            (directory / _META).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> EmbeddingIntentClassifier:
        """Load a trained classifier; an untrained one if nothing was stored."""
        component = cls(config, execution_context.node_name, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                meta = json.loads((directory / _META).read_text(encoding="utf-8"))
                with np.load(directory / _ARRAYS, allow_pickle=False) as arrays:
                    coef, intercept, idf = (
                        arrays["coef"],
                        arrays["intercept"],
                        arrays["idf"],
                    )
        except (ValueError, FileNotFoundError):
            logger.debug("intent_classifier.load_untrained resource=%s", resource.name)
            return component
        vectorizer = component._new_vectorizer(
            {ngram: i for i, ngram in enumerate(meta["ngrams"])}
        )
        vectorizer.idf_ = idf
        component._vectorizer = vectorizer
        component._classes = list(meta["classes"])
        component._coef = coef
        component._intercept = intercept
        return component

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leave the training data unchanged (nothing downstream needs predictions)."""
        return training_data
