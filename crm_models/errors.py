"""The project's one exception root and its tree.

    ShopBotError
    ├── ConfigError (ValueError)          a setting or a config file is wrong
    ├── DataError (ValueError)            an input file or row cannot be used
    ├── NotFoundError (LookupError)
    │   ├── CustomerNotFound
    │   ├── OrderNotFound
    │   └── ProductNotFound
    ├── NotAllowedError (PermissionError) the customer may not see or change this
    ├── InvalidStateError                 e.g. cancelling an order that has shipped
    ├── ArtifactMissing (FileNotFoundError) a model or index has not been built yet
    └── defined beside the code that raises them:
        EventSourceUnavailable (ConnectionError)  feedback/event_log.py: broker down
        RasaUnavailable (ConnectionError)         web/rasa_api.py: Rasa's HTTP API
        TrainingFailed                            training/rasa_models.py

Callers catch ``ShopBotError`` at the edges (actions, web handlers, CLIs) and turn it
into a polite reply or an operator message; nothing lower down swallows it.
"""

from __future__ import annotations


class ShopBotError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(ShopBotError, ValueError):
    """A setting or configuration file is missing or invalid."""


class DataError(ShopBotError, ValueError):
    """An input file, row or field cannot be used; the message names where."""


class NotFoundError(ShopBotError, LookupError):
    """A looked-up record does not exist."""


class CustomerNotFound(NotFoundError):
    """No customer with that id."""


class OrderNotFound(NotFoundError):
    """No order with that number (for this customer)."""


class ProductNotFound(NotFoundError):
    """No product with that stock code or id."""


class NotAllowedError(ShopBotError, PermissionError):
    """The conversation's customer may not read or change this record."""


class InvalidStateError(ShopBotError):
    """The record is in a state that does not allow the requested change."""


class ArtifactMissing(ShopBotError, FileNotFoundError):
    """A trained model, index or other build artefact is not there yet."""
