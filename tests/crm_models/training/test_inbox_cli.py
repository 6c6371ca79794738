"""``python -m crm_models.training.inbox``: list, label, out-of-scope, skip, write."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_models.store.schema import InboxDecision
from crm_models.training.inbox import TrainerInbox
from crm_models.training.inbox_cli import main


def run(inbox: TrainerInbox, capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), inbox=inbox)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def decisions(sessions) -> list[InboxDecision]:
    with sessions() as session:
        return list(session.scalars(select(InboxDecision).order_by(InboxDecision.id)))


def test_list_shows_groups_sizes_reasons_and_examples(inbox, messages, capsys):
    first = messages.fallback("where is order [ORDER]", guess="track_order")
    messages.fallback("where is order [ORDER]")
    messages.add("hello there", intent="greet", confidence=0.41)

    code, out, _ = run(inbox, capsys, "list")

    assert code == 0
    assert f"group {first}: 2 message(s), 1 text(s); fallback 2" in out
    assert "predicted: nlu_fallback 2   guess: track_order" in out
    assert "2x  where is order [ORDER]" in out
    assert "suggested example: where is order [541812](order_number)" in out
    assert "low confidence 1" in out
    assert out.index("where is order") < out.index("hello there")


def test_an_empty_inbox_says_so(inbox, capsys) -> None:
    assert run(inbox, capsys, "list")[1] == "The inbox is empty.\n"


def test_label_with_the_suggested_example(
    inbox, messages, sessions, project, capsys
) -> None:
    group = messages.fallback("where is order [ORDER]")

    code, out, _ = run(
        inbox, capsys, "label", str(group), "track_order", "--trainer", "kim"
    )

    assert code == 0
    assert "1 message(s) labelled track_order (corrected)" in out
    assert "example: where is order [541812](order_number)" in out
    assert "rasa data validate passed" in out
    assert decisions(sessions)[0].trainer == "kim"
    assert "- where is order [541812](order_number)" in project.inbox_file.read_text(
        encoding="utf-8"
    )


def test_label_with_texts_and_chosen_messages(inbox, messages, sessions, capsys):
    group = messages.fallback("where is my parcel")
    other = messages.fallback("where is my parcel please")

    code, _, _ = run(
        inbox,
        capsys,
        "label", str(group), "track_order",
        "--messages", str(other),
        "--text", "where's my parcel please",
        "--text", "has my parcel shipped",
    )  # fmt: skip

    assert code == 0
    [decision] = decisions(sessions)
    assert decision.message_ids == [other]
    assert decision.text == "where's my parcel please\nhas my parcel shipped"


def test_out_of_scope_and_skip(inbox, messages, sessions, capsys) -> None:
    weather = messages.add("rain today?", intent="out_of_scope")
    noise = messages.fallback("qwerty")

    oos = run(inbox, capsys, "out-of-scope", str(weather), "--no-write")
    skip = run(inbox, capsys, "skip", str(noise))

    assert oos[0] == skip[0] == 0
    assert "not written yet" in oos[1]
    assert "skipped" in skip[1]
    assert [(d.intent, d.written_at) for d in decisions(sessions)] == [
        ("out_of_scope", None),
        (None, None),
    ]

    code, out, _ = run(inbox, capsys, "write")

    assert code == 0
    assert "1 example(s) added" in out
    assert "nothing to write" in run(inbox, capsys, "write")[1]


def test_summary_counts(inbox, messages, capsys) -> None:
    messages.fallback("what")

    code, out, _ = run(inbox, capsys, "summary")

    assert code == 0
    assert "queued: 1 message(s), 1 text(s); fallback 1" in out
    assert "0 label(s) not written yet" in out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        # an intent the domain does not have
        (["label", "{group}", "order_pizza"], "not an intent of the domain"),
        # masked text
        (["label", "{group}", "greet", "--text", "hi [EMAIL]"], "[EMAIL]"),
        # a blank example is not the suggested one
        (["label", "{group}", "greet", "--text", "   "], "the example is empty"),
        # a group that is not there
        (["skip", "999"], "no group 999"),
    ],
)
def test_bad_input_exits_2_with_the_reason(
    inbox, messages, sessions, capsys, argv, says
) -> None:
    group = messages.fallback("hmm")

    code, _, err = run(inbox, capsys, *(a.format(group=group) for a in argv))

    assert code == 2
    assert err.startswith("inbox: ")
    assert says in err
    assert decisions(sessions) == []


def test_a_conflict_exits_1_and_records_nothing(inbox, messages, sessions, capsys):
    group = messages.fallback("cancel my order")

    code, out, _ = run(inbox, capsys, "label", str(group), "greet")

    assert code == 1
    assert "warning: 'cancel my order' is already an example of cancel_order" in out
    assert "nothing recorded" in out
    assert decisions(sessions) == []


def test_a_failed_validation_exits_1(inbox, messages, validate, project, capsys):
    group = messages.fallback("parcel status pls")
    validate.ok = False

    code, out, _ = run(inbox, capsys, "label", str(group), "track_order")

    assert code == 1
    assert "error: rasa data validate failed" in out
    assert not project.inbox_file.exists()


def test_message_ids_must_be_numbers(inbox, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["skip", "1", "--messages", "1,x"], inbox=inbox)

    assert exited.value.code == 2
    assert "not a list of message ids" in capsys.readouterr().err


def test_undo_takes_the_examples_out_and_the_messages_back(
    inbox, messages, sessions, project, capsys
) -> None:
    kept = messages.fallback("parcel status pls")
    wrong = messages.fallback("where is order [ORDER]", conversation="w")
    run(inbox, capsys, "label", str(kept), "track_order")
    run(inbox, capsys, "label", str(wrong), "greet", "--force")
    mistake = decisions(sessions)[-1].id

    code, out, _ = run(inbox, capsys, "undo", str(mistake))

    text = project.inbox_file.read_text(encoding="utf-8")
    assert code == 0
    assert f"decision {mistake} taken back: 1 message(s) back in the inbox" in out
    assert "removed from" in out
    assert "example: where is order [541812](order_number)" in out
    assert "where is order" not in text
    assert "- parcel status pls" in text  # the other label stays
    # Kept for the record, marked undone.
    assert [(d.intent, d.undone_at is None) for d in decisions(sessions)] == [
        ("track_order", True),
        ("greet", False),
    ]
    assert wrong in {m.id for m in inbox.messages()}  # to be decided again
    # ... and labelled right this time.
    assert run(inbox, capsys, "label", str(wrong), "track_order")[0] == 0


def test_undo_of_a_skip_only_returns_the_messages(
    inbox, messages, sessions, project, capsys
) -> None:
    group = messages.fallback("hmm")
    run(inbox, capsys, "skip", str(group))

    code, out, _ = run(inbox, capsys, "undo", str(decisions(sessions)[0].id))

    assert code == 0
    assert "removed from" not in out
    assert decisions(sessions)[0].undone_at is not None
    assert not project.inbox_file.exists()
    assert run(inbox, capsys, "undo", str(decisions(sessions)[0].id))[0] == 2


def test_undo_that_fails_validation_keeps_file_and_decision(
    inbox, messages, sessions, validate, project, capsys
) -> None:
    group = messages.fallback("parcel status pls")
    run(inbox, capsys, "label", str(group), "track_order")
    before = project.inbox_file.read_text(encoding="utf-8")
    validate.ok = False

    code, out, _ = run(inbox, capsys, "undo", str(decisions(sessions)[0].id))

    assert code == 1
    assert "error: rasa data validate failed" in out
    assert project.inbox_file.read_text(encoding="utf-8") == before
    assert len(decisions(sessions)) == 1


def test_undo_of_an_unknown_decision_exits_2(inbox, capsys) -> None:
    code, _, err = run(inbox, capsys, "undo", "99")

    assert code == 2
    assert "no inbox decision 99" in err


def test_undo_keeps_an_example_another_decision_wrote_too(
    inbox, messages, sessions, project, capsys
) -> None:
    first = messages.fallback("parcel status pls")
    second = messages.fallback("parcel status please", conversation="x")
    run(inbox, capsys, "label", str(first), "track_order")
    run(
        inbox,
        capsys,
        "label",
        str(second),
        "track_order",
        "--text",
        "parcel status pls",
    )

    assert len(decisions(sessions)) == 2  # the second is a duplicate in the file
    code, out, _ = run(inbox, capsys, "undo", str(decisions(sessions)[-1].id))

    assert code == 0
    assert "removed from" not in out
    assert "- parcel status pls" in project.inbox_file.read_text(encoding="utf-8")


def test_undo_never_takes_out_a_line_the_decision_did_not_write(
    inbox, messages, sessions, project, capsys
) -> None:
    project.inbox_file.parent.mkdir(parents=True, exist_ok=True)
    project.inbox_file.write_text(
        'version: "3.1"\nnlu:\n- intent: track_order\n  examples: |\n'
        "    - parcel status pls\n",
        encoding="utf-8",
    )  # written by hand
    group = messages.fallback("parcel status pls")
    run(inbox, capsys, "label", str(group), "track_order")

    code, out, _ = run(inbox, capsys, "undo", str(decisions(sessions)[0].id))

    assert code == 0
    assert "removed from" not in out
    assert "- parcel status pls" in project.inbox_file.read_text(encoding="utf-8")


def test_undo_after_a_later_write_takes_the_lines_out(
    inbox, messages, sessions, project, capsys
) -> None:
    group = messages.fallback("parcel status pls")
    run(inbox, capsys, "label", str(group), "track_order", "--no-write")
    run(inbox, capsys, "write")

    code, out, _ = run(inbox, capsys, "undo", str(decisions(sessions)[0].id))

    assert code == 0
    assert "example: parcel status pls" in out
    assert "parcel status pls" not in project.inbox_file.read_text(encoding="utf-8")


def test_labelling_as_out_of_scope_is_an_out_of_scope_decision(
    inbox, messages, sessions, capsys
) -> None:
    group = messages.fallback("what's the weather like")

    code, out, _ = run(inbox, capsys, "label", str(group), "out_of_scope")

    assert code == 0
    assert "labelled out_of_scope (out_of_scope)" in out
    assert decisions(sessions)[0].kind.value == "out_of_scope"
