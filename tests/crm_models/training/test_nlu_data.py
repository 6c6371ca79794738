"""Reading and writing Rasa NLU data for the trainer inbox."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from crm_models.errors import ConfigError, DataError
from crm_models.settings import ROOT
from crm_models.training.nlu_data import (
    HEADER,
    Label,
    NluPaths,
    NluWriter,
    load_domain,
    normalise,
    parse_example,
    read_file_examples,
    read_inbox,
    render_inbox,
    run_validate,
    suggest_example,
)
from tests.crm_models.training.inbox_support import (
    FakeValidate,
    Project,
    make_project,
)

ENTITIES = ("order_number", "product")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return make_project(tmp_path / "project")


@pytest.fixture
def paths(project: Project) -> NluPaths:
    return NluPaths(
        nlu_dir=project.nlu_dir,
        data_dir=project.root / "data",
        domain=project.root / "bot" / "domain",
        config=project.root / "bot" / "config.yml",
    )


@pytest.fixture
def validate(project: Project) -> FakeValidate:
    return FakeValidate(project.inbox_file)


@pytest.fixture
def writer(paths: NluPaths, validate: FakeValidate, tmp_path: Path) -> NluWriter:
    return NluWriter(paths, runner=validate, lock=tmp_path / "var" / "inbox.lock")


def label(intent: str, text: str, **kwargs) -> Label:
    return Label(intent, parse_example(text, entities=ENTITIES), **kwargs)


def write(writer: NluWriter, *labels: Label):
    with writer.locked():
        return writer.write(labels)


# --- texts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Where is my order?", "where is my order"),  # case and end mark
        ("where   is\tmy order", "where is my order"),  # blanks
        ("  'where is my order!'  ", "where is my order"),  # quotes around it
    ],
)
def test_normalised_texts_compare_equal(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_markup_is_read_into_entities() -> None:
    example = parse_example(
        'is [541812](order_number) here, the [cake stand]{"entity": "product"}?',
        entities=ENTITIES,
    )

    assert example.plain == "is 541812 here, the cake stand?"
    assert [(e.entity, e.text) for e in example.entities] == [
        ("order_number", "541812"),
        ("product", "cake stand"),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("where is [ORDER]", r"placeholder\(s\) \[ORDER\]"),  # masked data
        ("mail me at [EMAIL] or [PHONE]", r"\[EMAIL\], \[PHONE\]"),
        ("[ORDER](order_number) please", "placeholder"),  # even as markup
        ("where is [5](parcel)", "unknown entity 'parcel'"),
        ('the [x]{"entity": 3}', '"entity" name'),
        ('the [x]{"entity": "product"', "broken entity markup"),
        ("   ", "empty"),
        ("?!", "no words"),
        ("a" * 501, "longer than 500"),
    ],
)
def test_bad_examples_are_refused_with_a_reason(text: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        parse_example(text, entities=ENTITIES)


def test_the_suggestion_replaces_placeholders_and_marks_entities() -> None:
    suggestion = suggest_example(
        "order [ORDER] and [ORDER]: the Cake Stand, mail [EMAIL], call [PHONE]",
        [{"entity": "product", "value": "cake stand"}],
        domain_entities=("order_number", "product"),  # no email entity here
    )

    assert suggestion == (
        "order [541812](order_number) and [553107](order_number): the "
        "[Cake Stand](product), mail sam.taylor@example.com, call 07700 900123"
    )
    assert parse_example(suggestion, entities=ENTITIES)  # a usable example


# --- the domain and the examples ----------------------------------------------------


def test_the_domain_is_read_from_every_file(paths: NluPaths) -> None:
    domain = load_domain(paths.domain)

    assert "product_recommendation" in domain.intents  # a {name: {...}} entry
    assert domain.entities == {"order_number", "product"}
    assert "nlu_fallback" in domain.intents
    assert "nlu_fallback" not in domain.labels()


def test_a_broken_domain_file_is_named_with_its_line(paths: NluPaths) -> None:
    broken = paths.domain / "broken.yml"
    broken.write_text("intents:\n  - a\n  - [b\n", encoding="utf-8")

    with pytest.raises(DataError, match=r"broken\.yml, line \d"):
        load_domain(paths.domain)


def test_a_missing_domain_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SHOP_DOMAIN_DIR"):
        load_domain(tmp_path / "nowhere")


def test_examples_are_found_with_their_lines(project: Project) -> None:
    found = read_file_examples(project.nlu_dir / "orders.yml")

    assert [(s.intent, s.line, s.markup) for s in found] == [
        ("track_order", 7, "where is my order"),
        ("track_order", 8, "track order [541812](order_number)"),
        ("cancel_order", 11, "cancel my order"),
        ("cancel_order", 12, "stop my parcel"),
    ]


# --- writing ------------------------------------------------------------------------


def test_the_file_is_rasa_nlu_yaml_with_a_header(writer, project) -> None:
    report = write(
        writer,
        label("track_order", "wheres [553107](order_number) gone"),
        label("greet", "hiya: #1 shop"),  # YAML-ish characters stay text
    )

    text = project.inbox_file.read_text(encoding="utf-8")
    assert report.changed
    assert text.startswith(HEADER)
    data = yaml.safe_load(text)
    assert data["version"] == "3.1"
    assert data["nlu"] == [
        {"intent": "greet", "examples": "- hiya: #1 shop\n"},
        {
            "intent": "track_order",
            "examples": "- wheres [553107](order_number) gone\n",
        },
    ]
    assert read_inbox(project.inbox_file) == {
        "greet": ["hiya: #1 shop"],
        "track_order": ["wheres [553107](order_number) gone"],
    }


def test_duplicates_are_not_written_twice(writer, project, validate) -> None:
    write(writer, label("track_order", "Where's my parcel?"))

    report = write(
        writer,
        label("track_order", "where's my parcel"),  # in the inbox already
        label("track_order", "WHERE IS MY ORDER"),  # hand-written already
    )

    assert len(report.duplicates) == 2
    assert not report.changed
    assert len(validate.calls) == 1  # nothing new: no second validation
    assert read_inbox(project.inbox_file) == {"track_order": ["Where's my parcel?"]}


def test_a_text_of_another_intent_is_held_with_a_warning(
    writer, project, validate
) -> None:
    report = write(writer, label("track_order", "Stop my parcel!"))

    assert report.held
    [warning] = report.warnings
    assert "'Stop my parcel!' is already an example of cancel_order" in warning
    assert "orders.yml line 12" in warning
    assert not project.inbox_file.exists()
    assert validate.calls == []


def test_a_forced_label_moves_an_inbox_example_to_the_new_intent(
    writer, project
) -> None:
    write(writer, label("cancel_order", "bin the parcel"))
    held = write(writer, label("track_order", "bin the parcel"))

    moved = write(writer, label("track_order", "bin the parcel", forced=True))

    assert held.held
    assert "cancel_order in" in held.warnings[0]
    assert moved.changed
    assert any("moved from cancel_order to track_order" in w for w in moved.warnings)
    assert read_inbox(project.inbox_file) == {"track_order": ["bin the parcel"]}


def test_hand_written_files_are_never_touched(writer, project, validate) -> None:
    before = project.snapshot()

    write(writer, label("track_order", "new text one"))
    write(writer, label("cancel_order", "where is my order", forced=True))
    validate.ok = False
    write(writer, label("greet", "new text two"))

    assert project.snapshot() == before


def test_a_failed_validation_puts_the_previous_file_back(
    writer, project, validate
) -> None:
    write(writer, label("track_order", "first one"))
    previous = project.inbox_file.read_bytes()
    validate.ok = False

    report = write(writer, label("track_order", "second one"))

    assert "- second one" in (validate.seen[-1] or "")  # validated with it
    assert project.inbox_file.read_bytes() == previous
    assert not report.ok
    assert "YamlSyntaxException" in (report.error or "")
    assert "put back" in (report.error or "")


def test_a_failed_first_write_leaves_no_file(writer, project, validate) -> None:
    validate.ok = False

    report = write(writer, label("track_order", "first one"))

    assert not report.ok
    assert not project.inbox_file.exists()
    assert [p.name for p in project.nlu_dir.iterdir() if p.name.startswith(".")] == []


def test_validation_runs_from_the_repo_with_it_importable(writer, paths, validate):
    write(writer, label("track_order", "one more"))

    [(command, cwd, env)] = validate.calls
    assert command[1:4] == ["data", "validate", "--config"]
    assert command[command.index("--data") + 1] == str(paths.data_dir)
    assert command[command.index("--domain") + 1] == str(paths.domain)
    assert (cwd, env["PYTHONPATH"]) == (ROOT, str(ROOT))


def test_repo_paths_are_given_relative_to_the_repo() -> None:
    paths = NluPaths(
        nlu_dir=ROOT / "data" / "nlu",
        data_dir=ROOT / "data",
        domain=ROOT / "bot" / "domain",
        config=ROOT / "bot" / "config.yml",
    )

    assert paths.validate_command()[1:] == [
        "data", "validate", "--config", "bot/config.yml",
        "--domain", "bot/domain", "--data", "data",
    ]  # fmt: skip


def test_an_empty_inbox_renders_as_valid_yaml() -> None:
    assert yaml.safe_load(render_inbox({}))["nlu"] == []


def test_a_malformed_inbox_file_is_reported(project: Project) -> None:
    project.inbox_file.write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    hello\n',
        encoding="utf-8",
    )

    with pytest.raises(DataError, match=r"inbox\.yml: intent greet: 'hello'"):
        read_inbox(project.inbox_file)


def test_a_missing_rasa_is_reported_not_raised(tmp_path: Path) -> None:
    result = run_validate([str(tmp_path / "no-rasa"), "data"], tmp_path, {})

    assert not result.ok
    assert "not found" in result.tail[0]


# --- the real thing -------------------------------------------------------------

RASA = ROOT / ".venv-bot" / "bin" / "rasa"


@pytest.mark.rasa
@pytest.mark.skipif(not RASA.exists(), reason="no Rasa environment: make setup")
def test_real_rasa_validate_accepts_the_file_and_a_broken_project_restores_it(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(
        ROOT / "bot", copy / "bot", ignore=shutil.ignore_patterns("__pycache__")
    )
    for part in ("nlu", "stories", "rules"):
        shutil.copytree(ROOT / "data" / part, copy / "data" / part)
    paths = NluPaths(
        nlu_dir=copy / "data" / "nlu",
        data_dir=copy / "data",
        domain=copy / "bot" / "domain",
        config=copy / "bot" / "config.yml",
    )
    writer = NluWriter(paths, lock=tmp_path / "inbox.lock")
    entities = load_domain(paths.domain).entities
    example = parse_example(
        "has [562331](order_number) left the warehouse yet", entities=entities
    )

    with writer.locked():
        good = writer.write([Label("track_order", example)])
    written = paths.inbox_file.read_bytes()
    broken = copy / "data" / "stories" / "broken.yml"
    broken.write_text("stories: [ - oops\n", encoding="utf-8")
    with writer.locked():
        bad = writer.write(
            [Label("greet", parse_example("hey hey hey you", entities=()))]
        )

    assert good.ok, good.error
    assert good.changed
    assert not bad.ok
    assert "broken.yml" in (bad.error or "")
    assert paths.inbox_file.read_bytes() == written
