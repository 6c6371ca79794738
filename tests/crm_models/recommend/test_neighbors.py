"""The sparse item-to-item table: top rows, aggregation, reasons, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crm_models.errors import ArtifactMissing
from crm_models.recommend.neighbors import ItemNeighbors

IDS = np.array([100, 200, 300, 400])
MATRIX = np.array(
    [
        [9.0, 0.5, 0.2, 0.0],
        [0.5, 9.0, 0.0, 0.7],
        [0.2, 0.0, 9.0, 0.1],
        [0.0, 0.7, 0.1, 9.0],
    ]
)


@pytest.mark.parametrize("sparse", [False, True])
def test_rows_keep_the_top_entries_best_first_without_the_diagonal(
    sparse: bool,
) -> None:
    from scipy import sparse as sp

    matrix = sp.csr_matrix(MATRIX) if sparse else MATRIX

    table = ItemNeighbors.from_matrix(matrix, IDS, top_n=2, min_weight=0.05)

    assert table.row(100)[0].tolist() == [200, 300]
    assert table.row(200)[0].tolist() == [400, 100]
    assert table.row(300)[1].tolist() == pytest.approx([0.2, 0.1])
    assert table.row(999)[0].tolist() == []


def test_aggregate_sums_weighted_rows_and_names_the_strongest_source() -> None:
    table = ItemNeighbors.from_matrix(MATRIX, IDS, top_n=3)

    agg = table.aggregate([100, 400], weights=[1.0, 2.0])

    scores = agg.as_dict()
    assert scores[200] == pytest.approx(0.5 + 2 * 0.7)
    assert scores[300] == pytest.approx(0.2 + 2 * 0.1)
    assert agg.source(200) == 400  # 1.4 from 400 beats 0.5 from 100
    assert agg.source(300) == 100
    assert agg.source(999) == -1


def test_aggregate_max_takes_the_best_single_link() -> None:
    table = ItemNeighbors.from_matrix(MATRIX, IDS, top_n=3)

    scores = table.aggregate([100, 400], reduce="max").as_dict()

    assert scores[200] == pytest.approx(0.7)
    assert table.aggregate([999]).ids.size == 0  # no row: nothing


def test_a_table_survives_saving(tmp_path: Path) -> None:
    table = ItemNeighbors.from_matrix(MATRIX, IDS, top_n=2)

    table.save(tmp_path / "t.npz")
    loaded = ItemNeighbors.load(tmp_path / "t.npz")

    for product in IDS:
        assert loaded.row(product)[0].tolist() == table.row(product)[0].tolist()
    with pytest.raises(ArtifactMissing):
        ItemNeighbors.load(tmp_path / "missing.npz")
