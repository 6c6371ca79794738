"""The FAISS product index: build, search, save, load; with the real MiniLM too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crm_models.errors import DataError, ProductNotFound
from crm_models.recommend import embeddings, queries
from crm_models.recommend.index import NotBuiltError, ProductIndex, catalog_checksum
from tests.crm_models.recommend.conftest import Shop


def _unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_each_vector_finds_its_own_product_first() -> None:
    vectors = _unit_vectors(10)
    index = ProductIndex().build(vectors, range(100, 110))

    scores, ids = index.search(vectors, k=3)

    assert ids[:, 0].tolist() == list(range(100, 110))
    np.testing.assert_allclose(scores[:, 0], 1.0, rtol=1e-5)
    assert index.metadata_ == {"dimension": 16, "count": 10}


def test_asking_for_more_than_there_is_returns_what_there_is() -> None:
    index = ProductIndex().build(_unit_vectors(3), [7, 8, 9])

    _, ids = index.search(_unit_vectors(1, seed=5), k=10)

    assert sorted(ids[0].tolist()) == [7, 8, 9]


def test_save_and_load_give_the_same_answers(tmp_path: Path) -> None:
    vectors = _unit_vectors(20)
    index = ProductIndex().build(vectors, range(1, 21), metadata={"model_name": "x"})
    query = _unit_vectors(2, seed=9)

    index.save(tmp_path)
    loaded = ProductIndex.load(tmp_path)

    for a, b in zip(index.search(query, 5), loaded.search(query, 5), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.vectors_for([3, 1]), vectors[[2, 0]])
    assert loaded.metadata_["model_name"] == "x"


@pytest.mark.parametrize(
    ("vectors", "ids"),
    [
        (_unit_vectors(3), [1, 2]),  # one id short
        (_unit_vectors(2), [1, 1]),  # an id twice
        (_unit_vectors(2) * 3, [1, 2]),  # not normalised
    ],
)
def test_bad_input_is_refused(vectors: np.ndarray, ids: list[int]) -> None:
    with pytest.raises(DataError):
        ProductIndex().build(vectors, ids)


def test_an_unbuilt_index_and_an_unknown_product_are_errors() -> None:
    with pytest.raises(NotBuiltError):
        ProductIndex().search(_unit_vectors(1), 1)
    with pytest.raises(ProductNotFound):
        ProductIndex().build(_unit_vectors(2), [1, 2]).vectors_for([3])


def test_the_catalogue_checksum_ignores_order_and_sees_prices() -> None:
    rows = [(1, "MUG", 100), (2, "CUP", 200)]

    assert catalog_checksum(rows) == catalog_checksum(reversed(rows))
    assert catalog_checksum(rows) != catalog_checksum(
        [(1, "MUG", 101), (2, "CUP", 200)]
    )


@pytest.mark.ml
def test_the_real_encoder_finds_garden_products(shop: Shop, tmp_path: Path) -> None:
    items = queries.merchandise(session=shop.session)
    vectors = embeddings.encode([embeddings.display_name(i.name) for i in items])
    index = ProductIndex().build(vectors, [i.product_id for i in items])
    query = embeddings.encode(["gardening"])

    _, ids = index.search(query, k=4)
    index.save(tmp_path)
    _, loaded_ids = ProductIndex.load(tmp_path).search(query, k=4)

    garden = {
        shop.ids[name]
        for name in (
            "GARDENERS KNEELING PAD",
            "ENGLISH ROSE GARDEN SECATEURS",
            "WATERING CAN PINK",
            "GROW YOUR OWN HERBS KIT",
            "BIRD FEEDER HANGING GARDEN",
        )
    }
    assert set(ids[0][:3].tolist()) <= garden
    np.testing.assert_array_equal(ids, loaded_ids)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(items), embeddings.DIMENSION)
