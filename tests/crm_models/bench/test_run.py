"""A ``--quick`` run of the benchmark on a small synthetic store, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from crm_models import settings as settings_module
from crm_models.bench.__main__ import main
from crm_models.recommend import embeddings
from crm_models.store.db import create_schema, make_engine
from tests.conftest import make_test_settings
from tests.crm_models.recommend.conftest import fake_encode
from tests.crm_models.scoring.builders import synthetic_history

pytestmark = pytest.mark.ml


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as session:
        synthetic_history(session, n_customers=300, seed=2)
        session.commit()
    engine.dispose()
    return url


def test_a_quick_run_writes_both_reports(
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_test_settings(tmp_path, database_url=store_url)
    monkeypatch.setattr(settings_module, "get_settings", lambda: settings)
    monkeypatch.setattr(embeddings, "encode", fake_encode)
    out = tmp_path / "reports"

    assert main(["--quick", "--out", str(out)]) == 0

    results = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    markdown = (out / "bench.md").read_text(encoding="utf-8")
    assert results["config"]["quick"] is True
    assert results["machine"]["cores"] >= 1
    assert results["inputs"]["store_rows"]["customers"] == 300
    propensity = results["scoring"]["targets"]["propensity"]
    assert set(propensity["test"]) == {"rfm", "logistic", "boosting", "blend", "chosen"}
    assert 0.5 < propensity["test"]["chosen"]["roc_auc"]["value"] <= 1
    assert 0.5 < propensity["wide_leaky_ceiling_roc_auc"] <= 1
    methods = results["recommend"]["methods"]
    assert set(methods) == {
        "popularity",
        "co-occurrence",
        "association rules",
        "embeddings",
        "EASE",
        "blend",
    }
    for figures in methods.values():
        hit = figures["hit_rate"]
        assert 0 <= hit["ci_low"] <= hit["value"] <= hit["ci_high"] <= 1
    latency = results["latency"]
    assert latency["scoring"]["p99_ms"] > 0
    assert latency["recommend"]["history"]["n"] == 30
    scale = latency["scale"]
    assert scale["synthetic"] == 10_000
    assert set(scale["indexes"]) == {"flat", "ivf", "hnsw"}
    assert scale["indexes"]["flat"]["recall_at_10"] == 1.0
    assert "## Headline" in markdown
    assert "HitRate@10" in markdown
    assert "with product mix and monthly activity added" in markdown
    assert "wrote" in capsys.readouterr().out
