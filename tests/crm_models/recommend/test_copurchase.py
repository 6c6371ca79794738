"""Co-purchase counts."""

from __future__ import annotations

from pathlib import Path

from crm_models.recommend.copurchase import CoPurchase


def _fitted(top_n: int = 30) -> CoPurchase:
    # Orders 1-3 pair product 10 with 20 (three times) and 30 (once); 10 twice in
    # order 1 counts once.
    return CoPurchase(top_n=top_n).fit(
        [1, 1, 1, 2, 2, 3, 3, 3, 4],
        [10, 20, 10, 10, 20, 10, 20, 30, 40],
    )


def test_partners_are_counted_per_order_most_frequent_first() -> None:
    copurchase = _fitted()

    assert copurchase.partners(10) == [(20, 3), (30, 1)]
    assert copurchase.partners(30) == [(10, 1), (20, 1)]  # ties by product id
    assert copurchase.partners(40) == []  # alone in its order


def test_scores_add_up_over_the_history_and_name_the_strongest_source() -> None:
    scores = _fitted().scores([10, 20])

    assert scores[30] == (2, 10)
    assert scores[20] == (3, 10)


def test_only_the_top_partners_are_kept_and_saved(tmp_path: Path) -> None:
    copurchase = _fitted(top_n=1)

    copurchase.save(tmp_path)
    loaded = CoPurchase.load(tmp_path)

    assert loaded.partners(10) == [(20, 3)]
    assert loaded.partners(30) == copurchase.partners(30) == [(10, 1)]
    assert loaded.top_n == 1
