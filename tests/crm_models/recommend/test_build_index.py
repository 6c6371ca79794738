"""Building the index from the store, skipping an unchanged catalogue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from crm_models import artifacts
from crm_models.errors import DataError
from crm_models.recommend import build_index, embeddings
from crm_models.recommend.index import ProductIndex
from crm_models.store.schema import Product
from tests.crm_models.recommend.conftest import Shop, fake_encode


@pytest.fixture(autouse=True)
def _fast_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "encode", fake_encode)


def test_a_build_indexes_the_merchandise_and_promotes_it(
    shop: Shop, tmp_path: Path
) -> None:
    result = build_index.build(session=shop.session, root=tmp_path)

    index = ProductIndex.load(artifacts.current_dir(tmp_path))
    assert result.built
    assert result.count == index.size == 26  # no postage, voucher or inactive gnome
    assert not index.contains(shop.ids["POSTAGE"])
    assert index.metadata_["model_name"] == embeddings.MODEL_NAME
    assert len(index.metadata_["catalog_checksum"]) == 64
    folder = artifacts.current_dir(tmp_path)
    for name in ("copurchase.npz", "ease.npz", "rules_confidence.npz", "catalog.json"):
        assert (folder / name).is_file()
    assert index.metadata_["index_choice"]["kind"] == "flat"


def test_an_unchanged_catalogue_is_not_built_again(shop: Shop, tmp_path: Path) -> None:
    first = build_index.build(session=shop.session, root=tmp_path)

    again = build_index.build(session=shop.session, root=tmp_path)

    assert not again.built
    assert again.version == first.version


def test_a_price_change_or_force_builds_again(shop: Shop, tmp_path: Path) -> None:
    first = build_index.build(session=shop.session, root=tmp_path)
    shop.session.get(Product, shop.ids["VINTAGE TEA MUG"]).unit_price_pence = 999
    shop.session.flush()

    changed = build_index.build(session=shop.session, root=tmp_path)
    forced = build_index.build(session=shop.session, root=tmp_path, force=True)

    assert changed.built
    assert forced.built
    assert len({first.version, changed.version, forced.version}) == 3
    assert artifacts.current_version(tmp_path) == forced.version


def test_catalogue_changes_update_the_index_without_a_rebuild(
    shop: Shop, tmp_path: Path
) -> None:
    first = build_index.build(session=shop.session, root=tmp_path)
    new = shop_product(shop, "GARDEN TROWEL STAINLESS")
    shop.session.get(Product, shop.ids["VINTAGE TEA MUG"]).name = "VINTAGE COFFEE MUG"
    shop.session.get(Product, shop.ids["PARTY BUNTING"]).active = False
    shop.session.flush()

    result = build_index.build(session=shop.session, root=tmp_path)

    index = ProductIndex.load(artifacts.current_dir(tmp_path))
    assert result.updated == {"added": 1, "renamed": 1, "removed": 1}
    assert result.version != first.version
    assert index.metadata_["updated_from"] == first.version
    assert index.size == 26  # one in, one out
    assert index.contains(new)
    assert not index.contains(shop.ids["PARTY BUNTING"])
    renamed = fake_encode(["Vintage Coffee Mug"])
    np.testing.assert_allclose(
        index.vectors_for([shop.ids["VINTAGE TEA MUG"]]), renamed, atol=1e-6
    )
    _, found = index.search(fake_encode(["Garden Trowel Stainless"]), 1)
    assert found[0, 0] == new
    # The sources came along unchanged.
    folder = artifacts.current_dir(tmp_path)
    assert (folder / "ease.npz").read_bytes() == (
        tmp_path / first.version / "ease.npz"
    ).read_bytes()
    assert build_index.build(session=shop.session, root=tmp_path).built is False


def shop_product(shop: Shop, name: str) -> int:
    product = Product(stock_code="NEW1", name=name, unit_price_pence=500)
    shop.session.add(product)
    shop.session.flush()
    return product.id


def test_an_empty_store_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="seed it first"):
        build_index.build(session=session, root=tmp_path)


def test_the_command_builds_then_skips(
    shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.session.commit()  # the command opens its own session
    url = str(shop.session.get_bind().url)
    args = ["--database-url", url, "--out", str(tmp_path / "index")]

    assert build_index.main(args) == 0
    assert "built index" in capsys.readouterr().out
    assert build_index.main(args) == 0
    assert "build skipped" in capsys.readouterr().out
