"""Candidates from every source, their features, and the ranker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crm_models.errors import DataError
from crm_models.recommend.index import ProductIndex
from crm_models.recommend.popularity import fit_stats
from crm_models.recommend.ranker import (
    FEATURES,
    Ranker,
    Sources,
    fit_ranker,
    fit_sources,
    training_rows,
)
from crm_models.recommend.timesplit import time_split
from tests.crm_models.recommend.builders import purchases


def _index(ids: list[int], dim: int = 8) -> ProductIndex:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(ids), dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return ProductIndex().build(vectors, ids)


def _shop() -> list[tuple[int, int, int, float]]:
    """Customers who buy 1 go on to buy 2; those who buy 3 go on to buy 4."""
    rows, order = [], 0
    for c in range(1, 31):
        first, then = (1, 2) if c % 2 else (3, 4)
        order += 1
        rows.append((c, order, first, float(c)))
        rows.append((c, order, 5, float(c)))  # 5 is in every first basket
        order += 1
        rows.append((c, order, then, 40.0 + c))
    return rows


PRODUCTS = [1, 2, 3, 4, 5, 6]


def test_candidates_come_with_one_feature_row_each() -> None:
    shop = purchases(_shop())
    sources = fit_sources(shop, now=100.0, index=_index(PRODUCTS))

    found = sources.candidates({1: 90.0, 5: 90.0}, 100.0)

    assert 1 not in found.ids.tolist()  # bought already
    assert 5 not in found.ids.tolist()
    assert 2 in found.ids.tolist()
    assert found.X.shape == (len(found.ids), len(FEATURES))
    row = found.X[found.ids.tolist().index(2)]
    assert row[FEATURES.index("ease")] > 0
    assert row[FEATURES.index("buyers")] == pytest.approx(np.log1p(15))
    assert -1 <= row[FEATURES.index("taste")] <= 1
    assert found.because(2)[1] in (1, 5)


def test_the_ranker_learns_which_source_predicts_the_next_purchase() -> None:
    shop = purchases(_shop())
    split = time_split(shop, 30.5, 80.0)  # first baskets before, second after
    sources = fit_sources(split.train, now=split.cutoff, index=_index(PRODUCTS))

    X, y, groups = training_rows(sources, split)
    ranker = fit_ranker(X, y)

    assert X.shape[0] == y.shape[0] == groups.shape[0]
    assert y.sum() == 30  # every customer's next product is a candidate
    scores = ranker.score(X)
    assert np.all((scores > 0) & (scores < 1))
    assert scores[y == 1].mean() > scores[y == 0].mean()


def test_a_ranker_needs_both_classes() -> None:
    with pytest.raises(DataError, match="one class"):
        fit_ranker(np.zeros((4, len(FEATURES))), np.zeros(4, int))


def test_sources_and_ranker_survive_their_files(tmp_path: Path) -> None:
    shop = purchases(_shop())
    index = _index(PRODUCTS)
    sources = fit_sources(shop, now=100.0, index=index)
    ranker = Ranker(
        mean=(0.0,) * len(FEATURES),
        scale=(1.0,) * len(FEATURES),
        coef=tuple(float(i) for i in range(len(FEATURES))),
        intercept=0.5,
    )

    sources.save(tmp_path)
    ranker.save(tmp_path)
    loaded = Sources.load(tmp_path, index=index)
    history = {1: 90.0, 5: 90.0}

    np.testing.assert_allclose(
        loaded.candidates(history, 100.0).X, sources.candidates(history, 100.0).X
    )
    assert Ranker.load(tmp_path) == ranker


def test_popularity_counts_customers_overall_and_lately() -> None:
    stats = fit_stats(purchases(_shop()), now=71.0)

    buyers, recent, age = stats.lookup(np.array([5, 2, 99]))

    assert buyers.tolist() == [30, 15, 0]
    assert recent.tolist() == [0, 15, 0]  # the second baskets came in days 41-70
    assert age[0] == pytest.approx(70.0)
    assert stats.most_popular(1).tolist() == [5]
