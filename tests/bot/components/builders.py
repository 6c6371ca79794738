"""Small hand-written training sets and Rasa graph plumbing for component tests."""

from __future__ import annotations

from pathlib import Path

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.sentence_featurizer import SentenceEmbeddingFeaturizer

SHOP_EXAMPLES = {
    "track_order": [
        "where is my order",
        "has my parcel been shipped yet",
        "track my package please",
        "when will my order arrive",
        "my delivery hasn't turned up",
        "what's the status of my order",
    ],
    "cancel_order": [
        "cancel my order",
        "I don't want the order any more, please cancel it",
        "stop my order before it ships",
        "can I cancel what I bought yesterday",
        "please call off my purchase",
        "how do I cancel an order",
    ],
    "get_refund": [
        "I want my money back",
        "can I get a refund for the broken mug",
        "refund me please",
        "how do I ask for a refund",
        "the teapot arrived smashed, I want a refund",
        "give me a refund for my last order",
    ],
    "recover_password": [
        "I forgot my password",
        "reset my password",
        "I can't log in, lost my password",
        "how do I recover my account password",
        "send me a password reset link",
        "my password doesn't work anymore",
    ],
    "greet": [
        "hi",
        "hello",
        "good morning",
        "hey there",
        "hiya",
        "hello, anyone there?",
    ],
    "out_of_scope": [
        "what's the weather like today",
        "tell me a joke",
        "play some music",
        "book a flight to Rome",
        "what's the capital of France",
        "set an alarm for seven",
    ],
}


def context(name: str) -> ExecutionContext:
    """An execution context for a component node called ``name``."""
    return ExecutionContext(GraphSchema({}), node_name=name)


def storage(path: Path) -> LocalModelStorage:
    """A model storage writing under ``path``."""
    return LocalModelStorage(path)


def resource(name: str) -> Resource:
    """The resource a component persists to."""
    return Resource(name)


def featurizer(encoder_dir: Path) -> SentenceEmbeddingFeaturizer:
    """A sentence featurizer on the exported encoder, alias ``minilm``."""
    return SentenceEmbeddingFeaturizer.create(
        {"encoder_dir": str(encoder_dir), "alias": "minilm"},
        None,  # type: ignore[arg-type]  # not trainable: storage is never used
        None,  # type: ignore[arg-type]
        context("featurizer"),
    )


def training_data(examples: dict[str, list[str]], encoder_dir: Path) -> TrainingData:
    """Featurized training data built from intent -> example texts."""
    messages = [
        Message(data={TEXT: text, INTENT: intent})
        for intent, texts in examples.items()
        for text in texts
    ]
    data = TrainingData(training_examples=messages)
    return featurizer(encoder_dir).process_training_data(data)


def messages(texts: list[str], encoder_dir: Path) -> list[Message]:
    """Featurized messages as the pipeline would pass them on at parse time."""
    return featurizer(encoder_dir).process([Message(data={TEXT: t}) for t in texts])
