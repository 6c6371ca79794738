from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_models.settings import get_settings
from crm_models.store import __main__ as store_cli
from crm_models.store import seed


@pytest.fixture
def configured(
    tmp_path: Path, small_seed_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The process settings point at a temporary store and the small seed files."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    monkeypatch.setenv("SHOP_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SHOP_DATABASE_URL", url)
    monkeypatch.setenv("SHOP_SEED_DIR", str(small_seed_dir))
    monkeypatch.setenv("SHOP_TODAY", "2025-06-13")
    monkeypatch.setenv("SHOP_RASA_TOKEN", "t")
    monkeypatch.setenv("SHOP_IDENTITY_SECRET", "s")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_the_seed_command_seeds_once_and_refuses_other_options(
    configured: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert seed.main([]) == 0
    assert seed.main([]) == 0  # the same again: nothing to do
    assert seed.main(["--customers", "3"]) == 1  # other options need --force
    assert seed.main(["--customers", "3", "--force"]) == 0

    assert store_cli.main(["stats"]) == 0
    out = capsys.readouterr().out
    assert ["customers", "3"] in [line.split() for line in out.splitlines()]
