from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from crm_models import artifacts
from crm_models.errors import ArtifactMissing
from crm_models.training.rasa_models import (
    RasaModels,
    TrainingFailed,
    story_results,
    switch_running_model,
)
from tests.crm_models.training.fake_rasa import FakeRasa, Scores, make_project


@pytest.fixture
def project(tmp_path: Path):
    return make_project(tmp_path / "project")


def test_train_keeps_each_candidate_with_its_inputs(project, tmp_path: Path) -> None:
    fake = FakeRasa([Scores(0.9, 0.9, 16), Scores(0.8, 0.8, 16)])
    models = RasaModels(tmp_path / "rasa", project, runner=fake)
    models.root.mkdir()

    first = models.train()
    second = models.train()

    assert first != second
    for version in (first, second):
        assert models.model_path(version).is_file()
        meta = models.metadata(version)
        assert meta["status"] == "candidate"
        assert meta["fingerprint"] == project.fingerprint()
    assert fake.commands[0][:2] == [str(project.rasa_bin), "train"]
    assert "--finetune" not in fake.commands[0]


def test_finetune_starts_from_the_promoted_model(project, tmp_path: Path) -> None:
    fake = FakeRasa([Scores(0.9, 0.9, 16), Scores(0.9, 0.9, 16)])
    models = RasaModels(tmp_path / "rasa", project, runner=fake)
    models.root.mkdir()
    with pytest.raises(TrainingFailed, match="needs a promoted model"):
        models.train(finetune=True)
    first = models.train()
    models.promote(first, reason="first model")

    second = models.train(finetune=True, epoch_fraction=0.25)

    command = fake.commands[-1]
    assert command[command.index("--finetune") + 1] == str(models.model_path(first))
    assert command[command.index("--epoch-fraction") + 1] == "0.25"
    assert models.metadata(second)["parent"] == first


def test_a_failed_training_leaves_no_version(project, tmp_path: Path) -> None:
    fake = FakeRasa([], fail_training=True)
    models = RasaModels(tmp_path / "rasa", project, runner=fake)
    models.root.mkdir()

    with pytest.raises(TrainingFailed, match="InvalidDomain"):
        models.train()

    assert models.versions() == []


def test_evaluate_reads_both_reports_and_caches(project, tmp_path: Path) -> None:
    fake = FakeRasa([Scores(0.91, 0.92, 15)])
    models = RasaModels(tmp_path / "rasa", project, runner=fake)
    models.root.mkdir()
    version = models.train()

    metrics = models.evaluate(version)

    assert metrics["macro_f1"] == 0.91
    assert metrics["accuracy"] == 0.92
    assert metrics["story_accuracy"] == round(15 / 16, 4)
    assert (metrics["stories_correct"], metrics["stories_total"]) == (15, 16)
    assert next(e["intent"] for e in metrics["per_intent"]) == "cancel_order"
    assert models.metadata(version)["metrics"] == metrics
    n_commands = len(fake.commands)
    assert models.evaluate(version) == metrics  # cached: nothing run again
    assert len(fake.commands) == n_commands

    # A changed evaluation set invalidates the cache.
    project.eval_nlu.write_text("text,intent\nhello,greet\n")
    models.evaluate(version)
    assert len(fake.commands) == n_commands + 2


def test_promote_serves_a_copy_and_rollback_steps_back(project, tmp_path: Path) -> None:
    fake = FakeRasa([Scores(0.9, 0.9, 16), Scores(0.8, 0.8, 16)])
    models = RasaModels(tmp_path / "rasa", project, runner=fake)
    models.root.mkdir()
    first, second = models.train(), models.train()
    models.promote(first, reason="first model")
    models.promote(second, reason="gate passed")
    assert models.served.read_bytes() == models.model_path(second).read_bytes()
    assert models.is_up_to_date()

    assert models.rollback() == first
    assert models.current() == first
    assert models.served.read_bytes() == models.model_path(first).read_bytes()
    with pytest.raises(ArtifactMissing, match="no earlier version"):
        models.rollback()
    reasons = [e["reason"] for e in artifacts.history(models.root)]
    assert reasons == ["first model", "gate passed", "rollback"]


def test_changed_inputs_make_the_model_out_of_date(project, tmp_path: Path) -> None:
    models = RasaModels(tmp_path / "rasa", project, runner=FakeRasa([Scores(1, 1, 1)]))
    models.root.mkdir()
    models.promote(models.train(), reason="first model")
    assert models.is_up_to_date()

    (project.data / "nlu" / "inbox.yml").write_text("nlu: []\n")

    assert not models.is_up_to_date()


def test_story_results_needs_the_conversation_accuracy(tmp_path: Path) -> None:
    (tmp_path / "story_report.json").write_text(json.dumps({"accuracy": 1.0}))
    with pytest.raises(TrainingFailed, match="conversation_accuracy"):
        story_results(tmp_path)


def test_switch_running_model_puts_the_model_path(tmp_path: Path) -> None:
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["method"] = request.method
        seen["url"] = str(request.url)
        seen["body"] = json.loads(request.content)
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    model = tmp_path / "shop.tar.gz"

    result = switch_running_model(
        model, rasa_url="http://127.0.0.1:5005", token="tok", client=client
    )

    assert result.switched
    assert seen["method"] == "PUT"
    assert seen["url"] == "http://127.0.0.1:5005/model?token=tok"
    assert seen["body"] == {"model_file": str(model.resolve())}


def test_switch_reports_a_refusal_and_tolerates_a_stopped_server(
    tmp_path: Path,
) -> None:
    refusing = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(400, text="bad model"))
    )
    with pytest.raises(TrainingFailed, match="HTTP 400 bad model"):
        switch_running_model(
            tmp_path / "m", rasa_url="http://x", token="t", client=refusing
        )

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    stopped = httpx.Client(transport=httpx.MockTransport(down))
    result = switch_running_model(
        tmp_path / "m", rasa_url="http://x", token="t", client=stopped
    )
    assert not result.switched
    assert "not running" in result.message


def test_the_project_comes_from_the_settings(tmp_path: Path) -> None:
    from crm_models.errors import ConfigError
    from crm_models.settings import Settings
    from crm_models.training.rasa_models import RasaProject

    root = tmp_path / "copy"
    env = {
        "SHOP_VAR_DIR": str(tmp_path / "var"),
        "SHOP_DATA_DIR": str(root / "data"),
        "SHOP_NLU_DIR": str(root / "data" / "nlu"),
        "SHOP_DOMAIN_DIR": str(root / "bot" / "domain"),
        "SHOP_RASA_CONFIG": str(root / "bot" / "config.yml"),
    }
    project = RasaProject.from_settings(Settings.from_env(env))
    assert project.root == root.resolve()
    assert project.eval_nlu == root.resolve() / "data" / "eval" / "heldout.csv"

    env["SHOP_DOMAIN_DIR"] = str(tmp_path / "elsewhere" / "domain")
    with pytest.raises(ConfigError, match="SHOP_DOMAIN_DIR"):
        RasaProject.from_settings(Settings.from_env(env))


def test_the_repository_is_the_default_project() -> None:
    from crm_models.settings import ROOT, Settings
    from crm_models.training.rasa_models import RasaProject

    settings = Settings.from_env({"SHOP_RASA_TOKEN": "t", "SHOP_IDENTITY_SECRET": "s"})
    assert RasaProject.from_settings(settings).root == ROOT


def test_a_second_retrain_is_turned_away_while_one_runs(tmp_path: Path) -> None:
    from crm_models.training.rasa_models import Busy, exclusive

    busy = pytest.raises(Busy, match="another retrain or rollback is running")
    with exclusive(tmp_path), busy, exclusive(tmp_path):
        pass
    with exclusive(tmp_path):  # free again
        pass


def test_ensure_does_not_retrain_inputs_the_gate_refused(
    project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from crm_models.settings import Settings
    from crm_models.training import rasa_models

    settings = Settings.from_env(
        {
            "SHOP_VAR_DIR": str(tmp_path / "var"),
            "SHOP_MODELS_DIR": str(tmp_path / "models"),
            "SHOP_DATA_DIR": str(project.data),
            "SHOP_NLU_DIR": str(project.data / "nlu"),
            "SHOP_DOMAIN_DIR": str(project.domain),
            "SHOP_RASA_CONFIG": str(project.config),
        }
    )
    monkeypatch.setattr("crm_models.settings.get_settings", lambda: settings)
    models = RasaModels(tmp_path / "models" / "rasa", project, runner=FakeRasa(
        [Scores(0.9, 0.9, 16), Scores(0.5, 0.5, 16)]))  # fmt: skip
    models.root.mkdir(parents=True)
    models.promote(models.train(), reason="first model")
    (project.data / "nlu" / "more.yml").write_text("nlu: []\n")
    refused = models.train()
    models.update_metadata(refused, status="refused")

    assert rasa_models.main(["ensure"]) == 0

    assert f"the gate refused a model of these inputs ({refused})" in (
        capsys.readouterr().out
    )
