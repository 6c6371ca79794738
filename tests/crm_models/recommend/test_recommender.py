"""Recommendations: by query, by history, both, or bestsellers; never bought items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crm_models.errors import ArtifactMissing
from crm_models.recommend import build_index, embeddings, queries
from crm_models.recommend.index import ProductIndex
from crm_models.recommend.purchases import load_purchases
from crm_models.recommend.ranker import FEATURES, Ranker, fit_sources
from crm_models.recommend.recommender import Recommender, _query_words, get_recommender
from crm_models.scoring.dataset import to_days
from crm_models.store import repositories
from tests.crm_models.recommend.conftest import Shop, fake_encode
from tests.crm_models.scoring.builders import CUTOFF

NOT_FOR_SALE = ("POSTAGE", "GARDEN GIFT VOUCHER", "GARDEN GNOME PLANTER")


def _index(shop: Shop) -> ProductIndex:
    items = queries.merchandise(session=shop.session)
    return ProductIndex().build(
        fake_encode([embeddings.display_name(i.name) for i in items]),
        [i.product_id for i in items],
    )


def _ranker(**weights: float) -> Ranker:
    """A hand-set ranker: the named features' weights, everything else 0."""
    n = len(FEATURES)
    return Ranker(
        mean=(0.0,) * n,
        scale=(1.0,) * n,
        coef=tuple(weights.get(name, 0.0) for name in FEATURES),
        intercept=0.0,
    )


@pytest.fixture
def recommender(shop: Shop) -> Recommender:
    index = _index(shop)
    sources = fit_sources(
        load_purchases(session=shop.session), now=to_days(CUTOFF), index=index
    )
    ranker = _ranker(copurchase_share=2.0, ease_share=1.0, taste=0.5)
    return Recommender(index=index, sources=sources, ranker=ranker, encode=fake_encode)


def _names(results: list) -> list[str]:
    return [r.name for r in results]


def test_a_query_finds_matching_products_and_says_why(
    recommender: Recommender, shop: Shop
) -> None:
    results = recommender.recommend(
        session=shop.session,
        query="I'm looking for a present for someone who loves gardening",
        customer_id=None,
        now=CUTOFF,
    )

    # The stand-in encoder matches word stems: "garde" is in exactly these three.
    assert set(_names(results)[:3]) == {
        "Gardeners Kneeling Pad",
        "English Rose Garden Secateurs",
        "Bird Feeder Hanging Garden",
    }
    assert results[0].reason == "matches 'gardening'"
    assert results[0].score >= results[-1].score


def test_nothing_not_for_sale_is_recommended(
    recommender: Recommender, shop: Shop
) -> None:
    results = recommender.recommend(
        session=shop.session, query="garden", customer_id=None, k=50, now=CUTOFF
    )

    names = {r.product_id for r in results}
    assert not names & {shop.ids[n] for n in NOT_FOR_SALE}
    assert len(results) == 26  # every merchandise product, once


def test_a_customer_is_not_offered_what_they_bought(
    recommender: Recommender, shop: Shop
) -> None:
    results = recommender.recommend(
        session=shop.session,
        query="garden",
        customer_id=shop.gardener,
        k=10,
        now=CUTOFF,
    )

    ids = {r.product_id for r in results}
    assert shop.ids["GARDENERS KNEELING PAD"] not in ids
    assert shop.ids["WATERING CAN PINK"] not in ids
    assert shop.ids["ENGLISH ROSE GARDEN SECATEURS"] in ids


def test_without_a_query_a_customer_gets_what_goes_with_their_history(
    recommender: Recommender, shop: Shop
) -> None:
    results = recommender.recommend(
        session=shop.session, query=None, customer_id=shop.gardener, k=3, now=CUTOFF
    )

    # The secateurs were bought with the kneeling pad twice, the feeder once.
    assert results[0].name == "English Rose Garden Secateurs"
    assert (
        results[0].reason
        == "often bought with Gardeners Kneeling Pad, which you bought"
    )
    assert "Bird Feeder Hanging Garden" in _names(results)


def test_with_embeddings_only_a_customer_gets_similar_products(shop: Shop) -> None:
    index = _index(shop)
    recommender = Recommender(index=index, encode=fake_encode)
    bought = [
        shop.ids["SET OF 3 CAKE TINS PANTRY DESIGN"],
        shop.ids["BAKING SET 9 PIECE RETROSPOT"],
    ]
    taste = index.vectors_for(bought).mean(axis=0)
    _, nearest = index.search(taste / np.linalg.norm(taste), 4)

    results = recommender.recommend(
        session=shop.session, query=None, customer_id=shop.baker, k=2, now=CUTOFF
    )

    expected = [int(p) for p in nearest[0] if int(p) not in bought][:2]
    assert [r.product_id for r in results] == expected
    assert all(
        r.reason == "picked for you" or r.reason.startswith("similar to ")
        for r in results
    )


def test_history_recommendations_leave_out_bought_and_unsellable_products(
    recommender: Recommender, shop: Shop
) -> None:
    results = recommender.recommend(
        session=shop.session, query=None, customer_id=4, k=50, now=CUTOFF
    )

    ids = {r.product_id for r in results}
    bought = repositories.purchased_product_ids(session=shop.session, customer_id=4)
    assert not ids & bought
    assert not ids & {shop.ids[n] for n in NOT_FOR_SALE}
    assert len(_names(results)) == len(set(_names(results)))


def test_without_a_query_or_a_customer_the_bestsellers_come(
    recommender: Recommender, shop: Shop
) -> None:
    results = recommender.recommend(
        session=shop.session, query=None, customer_id=None, k=3, now=CUTOFF
    )

    assert results[0].name == "Gardeners Kneeling Pad"  # in 3 orders lately
    assert results[0].reason == "bestseller: in 3 orders in the last 90 days"
    assert "Advent Calendar Gingham Sack" not in _names(results)  # 200 days ago


def test_an_unknown_customer_is_treated_as_a_visitor(
    recommender: Recommender, shop: Shop
) -> None:
    as_unknown = recommender.recommend(
        session=shop.session, query=None, customer_id=999, k=3, now=CUTOFF
    )
    as_visitor = recommender.recommend(
        session=shop.session, query=None, customer_id=None, k=3, now=CUTOFF
    )

    assert as_unknown == as_visitor


def test_a_price_limit_is_respected(recommender: Recommender, shop: Shop) -> None:
    results = recommender.recommend(
        session=shop.session,
        query="garden",
        customer_id=None,
        k=5,
        max_price_pence=150,
        now=CUTOFF,
    )

    assert results
    assert all(r.price_pence <= 150 for r in results)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("I'm looking for a present for someone who loves gardening", ["gardening"]),
        ("a mug for my mum", ["mug", "mum"]),
        ("something nice", []),  # only filler: the whole query is embedded
    ],
)
def test_query_words_drop_the_filler(query: str, words: list[str]) -> None:
    assert _query_words(query) == words


def test_get_recommender_says_how_to_build_a_missing_index(tmp_path: Path) -> None:
    with pytest.raises(ArtifactMissing, match="build_index"):
        get_recommender(tmp_path / "index")


def test_get_recommender_follows_the_promoted_index(
    shop: Shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings, "encode", fake_encode)
    root = tmp_path / "index"
    first = build_index.build(session=shop.session, root=root)
    assert get_recommender(root).version == first.version

    second = build_index.build(session=shop.session, root=root, force=True)

    assert get_recommender(root).version == second.version != first.version


@pytest.mark.ml
def test_end_to_end_with_the_real_encoder(shop: Shop, tmp_path: Path) -> None:
    root = tmp_path / "index"
    build_index.build(session=shop.session, root=root)

    results = get_recommender(root).recommend(
        session=shop.session,
        query="I'm looking for a present for someone who loves gardening",
        customer_id=shop.gardener,
        k=3,
        now=CUTOFF,
    )

    names = _names(results)
    assert "Gardeners Kneeling Pad" not in names  # bought already
    assert "Garden Gift Voucher" not in names  # not merchandise
    assert set(names) <= {
        "English Rose Garden Secateurs",
        "Grow Your Own Herbs Kit",
        "Bird Feeder Hanging Garden",
    }
    assert all(r.reason.startswith("matches 'gardening'") for r in results)
