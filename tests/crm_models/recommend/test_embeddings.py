"""Display names and the bundled MiniLM encoder."""

from __future__ import annotations

import numpy as np
import pytest

from crm_models.recommend import embeddings


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("WHITE HANGING HEART T-LIGHT HOLDER", "White Hanging Heart T-Light Holder"),
        ("SET OF 3 CAKE TINS PANTRY DESIGN", "Set of 3 Cake Tins Pantry Design"),
        ("POPPY'S PLAYHOUSE BEDROOM", "Poppy's Playhouse Bedroom"),  # not Poppy'S
        ("THE KING  OF   HEARTS", "The King of Hearts"),  # first word kept, spaces
    ],
)
def test_display_names(raw: str, shown: str) -> None:
    assert embeddings.display_name(raw) == shown


def test_no_text_gives_no_rows_without_loading_the_model() -> None:
    assert embeddings.encode([]).shape == (0, embeddings.DIMENSION)


@pytest.mark.ml
def test_vectors_are_normalised_float32_and_meaningful() -> None:
    vectors = embeddings.encode(["Garden Secateurs", "Pruning Shears", "Birthday Card"])

    assert vectors.dtype == np.float32
    assert vectors.shape == (3, embeddings.DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
