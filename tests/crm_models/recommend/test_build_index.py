"""Building the index from the store, skipping an unchanged catalogue."""

from __future__ import annotations

from pathlib import Path

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
    assert (artifacts.current_dir(tmp_path) / "copurchase.npz").is_file()


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
