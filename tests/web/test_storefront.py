from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from web.storefront import (
    DEFAULT_SHOP_NAME,
    ProductCard,
    Storefront,
    display_name,
    shop_name,
)


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_price_is_written_in_pounds() -> None:
    assert ProductCard("1", "Mug", 5).price == "£0.05"
    assert ProductCard("1", "Mug", 1275).price == "£12.75"


def test_shop_name_falls_back_when_the_file_is_unusable(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("shop: [", encoding="utf-8")

    assert shop_name(tmp_path / "missing.yml") == DEFAULT_SHOP_NAME
    assert shop_name(broken) == DEFAULT_SHOP_NAME


def test_reads_are_cached_until_they_expire(
    sessions: sessionmaker[Session],
) -> None:
    calls = {"n": 0}

    def counting() -> Session:
        calls["n"] += 1
        return sessions()

    ticker = Ticker()
    storefront = Storefront(counting, ttl_seconds=60, clock=ticker)  # type: ignore[arg-type]

    first = storefront.products()
    storefront.demo_customers()
    ticker.now = 59
    storefront.products()
    ticker.now = 61
    storefront.products()

    assert [p.stock_code for p in first] == ["85123A", "22423"]
    assert calls["n"] == 2
    assert storefront.is_demo_customer(12347)
    assert not storefront.is_demo_customer(99999)


def test_display_name_title_cases_words_but_not_after_apostrophes() -> None:
    assert display_name("POPPY'S PLAYHOUSE") == "Poppy's Playhouse"
    assert display_name(" WHITE T-LIGHT HOLDER ") == "White T-Light Holder"
    assert display_name("SET 3 TEA/COFFEE/SUGAR") == "Set 3 Tea/Coffee/Sugar"
