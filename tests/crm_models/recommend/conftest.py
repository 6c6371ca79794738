"""A small catalogue with a purchase history, and a fast stand-in encoder."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from sqlalchemy.orm import Session

from tests.crm_models.scoring.builders import CUTOFF, StoreBuilder, days

CATALOGUE = (
    "GARDENERS KNEELING PAD",
    "ENGLISH ROSE GARDEN SECATEURS",
    "WATERING CAN PINK",
    "GROW YOUR OWN HERBS KIT",
    "BIRD FEEDER HANGING GARDEN",
    "SET OF 3 CAKE TINS PANTRY DESIGN",
    "RED RETROSPOT TEA CUP",
    "VINTAGE TEA MUG",
    "JAM MAKING SET WITH JARS",
    "LUNCH BOX I LOVE LONDON",
    "CHRISTMAS TREE STAR DECORATION",
    "PAPER CHAIN KIT CHRISTMAS",
    "ADVENT CALENDAR GINGHAM SACK",
    "CHILDRENS APRON SPACEBOY",
    "DOLLY GIRL LUNCH BOX",
    "ROUND SNACK BOXES SET OF 4 WOODLAND",
    "SPACEBOY BIRTHDAY CARD",
    "WHITE HANGING HEART T-LIGHT HOLDER",
    "RABBIT NIGHT LIGHT",
    "HOT WATER BOTTLE KEEP CALM",
    "CREAM CUPID HEARTS COAT HANGER",
    "JUMBO BAG RED RETROSPOT",
    "PARTY BUNTING",
    "ALARM CLOCK BAKELIKE RED",
    "WOODEN PICTURE FRAME WHITE FINISH",
    "BAKING SET 9 PIECE RETROSPOT",
)


@dataclass
class Shop:
    """The test store: product ids by name and the customers' roles."""

    session: Session
    ids: dict[str, int]
    gardener: int = 1  # bought the kneeling pad and the watering can
    baker: int = 2
    visitor: None = None


def fake_encode(texts: Sequence[str]) -> np.ndarray:
    """Bag of word stems hashed into 64 dimensions, L2-normalised."""
    vectors = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z]+", text.lower()):
            vectors[row, zlib.crc32(word[:5].encode()) % 64] += 1.0
        if not vectors[row].any():
            vectors[row, 0] = 1.0
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def shop(session: Session) -> Shop:
    b = StoreBuilder(session)
    ids = {
        name: b.product(name, price_pence=100 + 25 * i)
        for i, name in enumerate(CATALOGUE)
    }
    # Not for sale: postage, a voucher and a product taken off the shelf.
    ids["POSTAGE"] = b.product("POSTAGE", price_pence=1800, merchandise=False)
    ids["GARDEN GIFT VOUCHER"] = b.product(
        "GARDEN GIFT VOUCHER", price_pence=1000, merchandise=False
    )
    ids["GARDEN GNOME PLANTER"] = b.product("GARDEN GNOME PLANTER", active=False)
    for customer_id in (1, 2, 3, 4):
        b.customer(customer_id)

    def order(customer_id: int, age: int, *names: str) -> None:
        b.order(
            customer_id,
            CUTOFF - days(age),
            1_000,
            products=tuple(ids[name] for name in names),
        )

    order(1, 30, "GARDENERS KNEELING PAD", "WATERING CAN PINK", "POSTAGE")
    order(2, 20, "SET OF 3 CAKE TINS PANTRY DESIGN", "BAKING SET 9 PIECE RETROSPOT")
    # Others: the kneeling pad goes with the secateurs and the bird feeder.
    order(3, 10, "GARDENERS KNEELING PAD", "ENGLISH ROSE GARDEN SECATEURS")
    order(
        4,
        12,
        "GARDENERS KNEELING PAD",
        "ENGLISH ROSE GARDEN SECATEURS",
        "BIRD FEEDER HANGING GARDEN",
    )
    order(4, 15, "BAKING SET 9 PIECE RETROSPOT", "JAM MAKING SET WITH JARS")
    order(3, 40, "JUMBO BAG RED RETROSPOT", "PARTY BUNTING")
    order(4, 50, "JUMBO BAG RED RETROSPOT", "RABBIT NIGHT LIGHT")
    order(4, 200, "ADVENT CALENDAR GINGHAM SACK")  # too long ago for the bestsellers
    session.flush()
    return Shop(session=session, ids=ids)
