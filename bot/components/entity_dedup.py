"""Drop duplicate entities when two extractors found the same span.

The learned extractor (CRF) and the regex extractor both find order numbers and
e-mail addresses. For those types the regex match is exact, so overlapping finds of
other extractors are dropped; finds that do not overlap a preferred one are kept.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    EXTRACTOR,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get(ENTITY_ATTRIBUTE_START, -1) < b.get(
        ENTITY_ATTRIBUTE_END, -1
    ) and b.get(ENTITY_ATTRIBUTE_START, -1) < a.get(ENTITY_ATTRIBUTE_END, -1)


def deduplicate(
    entities: list[dict[str, Any]], prefer: dict[str, str]
) -> list[dict[str, Any]]:
    """Remove entities that overlap a same-type entity of the preferred extractor.

    Args:
        entities: Entities as Rasa stores them (type, start, end, value, extractor).
        prefer: Entity type -> name of the extractor whose finds win.
    """
    preferred = [
        e
        for e in entities
        if prefer.get(e.get(ENTITY_ATTRIBUTE_TYPE)) == e.get(EXTRACTOR)
    ]
    kept = []
    for entity in entities:
        kind = entity.get(ENTITY_ATTRIBUTE_TYPE)
        beaten = (
            kind in prefer
            and entity.get(EXTRACTOR) != prefer[kind]
            and any(
                p.get(ENTITY_ATTRIBUTE_TYPE) == kind and _overlaps(entity, p)
                for p in preferred
            )
        )
        if not beaten:
            kept.append(entity)
    return kept


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False
)
class EntityDeduplicator(GraphComponent):
    """Keeps one entity per span for the configured types.

    Config:
        prefer: Mapping of entity type to the extractor name that wins, by default
            ``RegexEntityExtractor`` for ``order_number`` and ``email``.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Return the component's default config."""
        return {
            "prefer": {
                "order_number": "RegexEntityExtractor",
                "email": "RegexEntityExtractor",
            }
        }

    def __init__(self, config: dict[str, Any]) -> None:
        """Create the component."""
        self._prefer = dict(config["prefer"])

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EntityDeduplicator:
        """Create the component (see ``GraphComponent.create``)."""
        return cls({**cls.get_default_config(), **config})

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Require ``prefer`` to map entity types to extractor names."""
        prefer = config.get("prefer", {})
        if not isinstance(prefer, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in prefer.items()
        ):
            raise InvalidConfigException(
                f"{cls.__name__}: 'prefer' must map entity types to extractor names."
            )

    def process(self, messages: list[Message]) -> list[Message]:
        """Drop the losing duplicates from each message's entities."""
        for message in messages:
            entities = message.get(ENTITIES)
            if entities:
                message.set(
                    ENTITIES, deduplicate(entities, self._prefer), add_to_output=True
                )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leave training data unchanged (its entities are annotations)."""
        return training_data
