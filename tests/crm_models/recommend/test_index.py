"""The FAISS product index: build, search, save, load; with the real MiniLM too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crm_models.errors import DataError, ProductNotFound
from crm_models.recommend import embeddings, queries
from crm_models.recommend.index import (
    NotBuiltError,
    ProductIndex,
    catalog_checksum,
    choose_index,
    exact_neighbors,
    recall_at_10,
    sample_queries,
)
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
    assert index.metadata_ == {"dimension": 16, "count": 10, "kind": "flat"}


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


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_add_change_remove_keep_index_and_catalogue_consistent(
    kind: str, tmp_path: Path
) -> None:
    vectors = _unit_vectors(200, seed=1)
    ids = np.arange(1000, 1200)
    index = ProductIndex().build(vectors, ids, kind=kind, nprobe=16)
    new = _unit_vectors(3, seed=2)
    changed = _unit_vectors(1, seed=3)

    index.upsert(new, [5000, 5001, 5002])  # three new products
    index.upsert(changed, [1007])  # product 1007 renamed: a new vector
    removed = index.remove([1010, 1011, 4242])  # 4242 was never there

    assert removed == 2
    assert index.size == 200 + 3 - 2
    assert index.contains(5001)
    assert not index.contains(1010)
    np.testing.assert_allclose(index.vectors_for([1007]), changed, atol=1e-6)
    _, found = index.search(new[1], 1)
    assert found[0, 0] == 5001
    _, found = index.search(changed[0], 1)
    assert found[0, 0] == 1007
    _, found = index.search(vectors[10], 201)
    assert 1010 not in found[0].tolist()  # a removed product is never found
    assert sorted(index.product_ids.tolist()) == sorted(
        [*(set(ids.tolist()) - {1010, 1011}), 5000, 5001, 5002]
    )
    # The update survives saving and loading.
    index.save(tmp_path)
    loaded = ProductIndex.load(tmp_path)
    assert loaded.size == index.size
    assert loaded.kind == kind
    _, found = loaded.search(new[2], 1)
    assert found[0, 0] == 5002


def test_an_hnsw_index_cannot_follow_removals() -> None:
    index = ProductIndex().build(_unit_vectors(50), range(50), kind="hnsw")

    with pytest.raises(DataError, match="HNSW"):
        index.remove([3])
    _, found = index.search(_unit_vectors(50)[7], 1)
    assert found[0, 0] == 7


def test_exact_search_is_chosen_for_a_small_catalogue() -> None:
    index, choice = choose_index(_unit_vectors(300), np.arange(300))

    assert (choice.kind, choice.recall_at_10) == ("flat", 1.0)
    assert index.kind == "flat"


def test_beyond_the_exact_limit_ivf_reaches_the_target_recall() -> None:
    # Clustered vectors, like product names: 40 themes with variations.
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 16))
    vectors = centres[rng.integers(0, 40, 4000)] + rng.normal(
        scale=0.3, size=(4000, 16)
    )
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(
        np.float32
    )
    ids = np.arange(4000) + 10

    index, choice = choose_index(vectors, ids, exact_max=1000, target_recall=0.9)
    queries = sample_queries(vectors, 100, random_state=9)
    recall = recall_at_10(index, ids, queries, exact_neighbors(vectors, queries, 10))

    assert choice.kind == "ivf"
    assert index.kind == "ivf"
    assert choice.recall_at_10 >= 0.9
    assert recall >= 0.85  # fresh queries: close to the measured recall
    assert choice.nprobe == index.index_.nprobe


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
