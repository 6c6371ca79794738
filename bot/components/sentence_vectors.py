"""Reading the dense sentence vectors that a featurizer left on Rasa messages."""

from __future__ import annotations

import numpy as np
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message


def sentence_vectors(
    messages: list[Message], featurizers: list[str], component: str
) -> np.ndarray:
    """Stack the dense sentence features of each message's text.

    Args:
        messages: Messages already processed by a dense featurizer.
        featurizers: Names (aliases) of the featurizers whose features to use; an
            empty list means every dense featurizer.
        component: Name of the asking component, for the error message.

    Returns:
        A float32 array of shape (len(messages), dimension).

    Raises:
        InvalidConfigException: A message has no dense sentence features, i.e. the
            pipeline lacks a dense featurizer before ``component``.
    """
    rows = []
    for message in messages:
        _, sentence = message.get_dense_features(TEXT, featurizers or None)
        if sentence is None:
            raise InvalidConfigException(
                f"{component} needs dense sentence features: put "
                "bot.components.sentence_featurizer.SentenceEmbeddingFeaturizer "
                "before it in the pipeline (and check its 'featurizers' setting)."
            )
        rows.append(np.asarray(sentence.features, dtype=np.float32).reshape(-1))
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack(rows)
