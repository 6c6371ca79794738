"""The trainer inbox: which messages are queued, grouping, and decisions."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm_models.errors import DataError, InvalidStateError, NotFoundError
from crm_models.store.schema import InboxDecision, InboxDecisionKind
from crm_models.training.inbox import (
    Action,
    CachingEncoder,
    DecisionRequest,
    QueuedMessage,
    Reason,
    Thresholds,
    TrainerInbox,
    Variant,
    collapse,
    group_variants,
    pending_summary,
    select_messages,
    write_labels,
)
from tests.crm_models.training.inbox_support import (
    T0,
    CountingEncoder,
)

THRESHOLDS = Thresholds(min_confidence=0.5, min_margin=0.1, similarity=0.8)


def queued(sessions: sessionmaker[Session]) -> dict[int, set[Reason]]:
    with sessions() as session:
        return {m.id: m.reasons for m in select_messages(session, THRESHOLDS)}


def decisions(sessions: sessionmaker[Session]) -> list[InboxDecision]:
    with sessions() as session:
        return list(session.scalars(select(InboxDecision).order_by(InboxDecision.id)))


# --- which messages are queued --------------------------------------------------------


@pytest.mark.parametrize(
    ("intent", "confidence", "runner_up_confidence", "reasons"),
    [
        # NLU fell back: the FallbackClassifier's intent
        ("nlu_fallback", 0.3, 0.25, {Reason.FALLBACK}),
        # the out-of-scope gate's intent
        ("out_of_scope", 0.9, 0.05, {Reason.OUT_OF_SCOPE}),
        # below SHOP_INBOX_MIN_CONFIDENCE, with a clear runner-up gap
        ("track_order", 0.45, 0.2, {Reason.LOW_CONFIDENCE}),
        # confident enough, but the top two are 0.05 apart
        ("track_order", 0.55, 0.5, {Reason.SMALL_MARGIN}),
        # both
        ("track_order", 0.4, 0.35, {Reason.LOW_CONFIDENCE, Reason.SMALL_MARGIN}),
        # sure and clear: not worth a trainer's time
        ("track_order", 0.95, 0.02, None),
        # no runner-up at all is no small margin
        ("track_order", 0.9, None, None),
    ],
)
def test_nlu_doubts_are_queued_with_their_reason(
    sessions, messages, intent, confidence, runner_up_confidence, reasons
) -> None:
    message_id = messages.add(
        "where's my stuff",
        intent=intent,
        confidence=confidence,
        runner_up_confidence=runner_up_confidence,
    )

    found = queued(sessions)

    assert found.get(message_id) == reasons


def test_thumbs_down_takes_the_customer_message_before_the_rating(
    sessions, messages
) -> None:
    asked = messages.add("do you sell gift cards", conversation="a", minute=1)
    later = messages.add("ok thanks", conversation="a", minute=5)
    messages.thumbs("a", minute=3)  # between the two: only the first came before
    messages.thumbs("a", minute=9, rating=1)  # a thumbs up queues nothing

    found = queued(sessions)

    assert found == {asked: {Reason.THUMBS_DOWN}}
    assert later not in found


def test_thumbs_down_takes_every_earlier_message_when_it_cannot_tell(
    sessions, messages
) -> None:
    first = messages.add("hi there", conversation="b", minute=1)
    second = messages.add("I need the thing for my mum", conversation="b", minute=2)
    after = messages.add("bye", conversation="b", minute=8)
    messages.thumbs("b", minute=4)  # which of the two answers was rated is unknown

    found = queued(sessions)

    assert set(found) == {first, second}
    assert after not in found


def test_the_message_before_a_handoff_is_queued(sessions, messages) -> None:
    problem = messages.add("the box came crushed", intent="complaint", minute=1)
    asked = messages.add("a person please", intent="contact_human_agent", minute=2)
    to_agent = messages.add("it's order 5", intent="track_order", minute=6)
    messages.ticket("c1", minute=3)
    # a second conversation whose last message before the ticket is the problem
    other = messages.add("wrong size sent", intent="complaint", conversation="c2")
    messages.ticket("c2", minute=30)

    found = queued(sessions)

    assert found == {problem: {Reason.HANDOFF}, other: {Reason.HANDOFF}}
    assert asked not in found  # asking for a person, understood: nothing to learn
    assert to_agent not in found


def test_a_message_gathers_every_reason(sessions, messages) -> None:
    message_id = messages.fallback("uhh my thing", conversation="d", minute=1)
    messages.thumbs("d", minute=2)
    messages.ticket("d", minute=3)

    assert queued(sessions) == {
        message_id: {Reason.FALLBACK, Reason.THUMBS_DOWN, Reason.HANDOFF}
    }


def test_quick_reply_payloads_and_empty_texts_are_not_queued(
    sessions, messages
) -> None:
    messages.fallback("/affirm")
    messages.fallback("   ")

    assert queued(sessions) == {}


# --- collapsing and grouping ---------------------------------------------------------


def test_identical_texts_collapse_and_are_counted(sessions, messages) -> None:
    for text in ("Where is my parcel?", "where is my parcel", "WHERE IS MY PARCEL"):
        messages.fallback(text)
    messages.fallback("cancel it")

    with sessions() as session:
        variants = collapse(select_messages(session, THRESHOLDS))

    assert [(v.count, v.text) for v in variants] == [
        (3, "Where is my parcel?"),  # as first written
        (1, "cancel it"),
    ]


def test_similar_texts_group_and_groups_come_largest_first(inbox, messages) -> None:
    for _ in range(2):
        messages.fallback("cancel the order now", guess="cancel_order")
    for _ in range(3):
        messages.fallback("where is my parcel")
    messages.fallback("where is my parcel please")
    messages.fallback("is it going to rain", guess="greet")

    groups = inbox.groups()

    assert [[v.text for v in g.variants] for g in groups] == [
        ["where is my parcel", "where is my parcel please"],
        ["cancel the order now"],
        ["is it going to rain"],
    ]
    assert [g.size for g in groups] == [4, 2, 1]
    assert groups[0].guess == "track_order"
    assert groups[0].reasons == [(Reason.FALLBACK, 4)]
    assert groups[0].predicted == [("nlu_fallback", 4)]
    assert groups[0].id == min(groups[0].leader.message_ids)


def test_grouping_follows_the_similarity_threshold() -> None:
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], dtype=np.float32)
    variants = [_variant(i) for i in range(3)]

    loose = group_variants(variants, vectors, threshold=0.75)
    strict = group_variants(variants, vectors, threshold=0.85)

    # cos(v0, v1) = 0.8: one group when 0.75 is enough, apart when 0.85 is needed
    assert sorted(len(g.variants) for g in loose) == [1, 2]
    assert len(strict) == 3


def _variant(number: int) -> Variant:
    message = QueuedMessage(
        id=number + 1,
        conversation_id="c",
        sent_at=T0,
        text=f"text {number}",
        intent="nlu_fallback",
        confidence=0.3,
        runner_up=None,
        runner_up_confidence=None,
        entities=[],
        reasons={Reason.FALLBACK},
    )
    return Variant(f"text {number}", f"text {number}", [message])


def test_the_encoder_is_asked_once_per_text() -> None:
    counting = CountingEncoder()
    encoder = CachingEncoder(counting)

    first = encoder(["a b", "c d"])
    second = encoder(["c d", "e f", "a b"])

    assert counting.calls == [["a b", "c d"], ["e f"]]
    np.testing.assert_array_equal(first[0], second[2])


def test_a_group_offers_an_example_without_placeholders(inbox, messages) -> None:
    messages.fallback(
        "where is order #[ORDER]",
        entities=[{"entity": "order_number", "value": "[ORDER]"}],
    )

    [group] = inbox.groups()

    assert group.suggestion == "where is order #[541812](order_number)"


# --- decisions ------------------------------------------------------------------------


def test_a_label_records_the_decision_and_writes_the_example(
    inbox, messages, sessions, validate, project
) -> None:
    ids = [messages.fallback("wheres my parcel gone") for _ in range(2)]
    [group] = inbox.groups()

    result = inbox.decide(
        DecisionRequest(
            action=Action.LABEL,
            trainer="kim",
            group_id=group.id,
            intent="track_order",
            texts=("where has my parcel [541812](order_number) gone",),
        )
    )

    assert result.recorded
    assert result.error is None
    [decision] = decisions(sessions)
    assert decision.id == result.decision_id
    assert (decision.trainer, decision.intent) == ("kim", "track_order")
    assert decision.kind is InboxDecisionKind.CORRECTED  # NLU had fallen back
    assert decision.message_ids == ids
    assert decision.text == "where has my parcel [541812](order_number) gone"
    assert decision.decided_at == T0
    assert decision.written_at == T0
    written = yaml.safe_load(project.inbox_file.read_text(encoding="utf-8"))
    assert written["nlu"] == [
        {
            "intent": "track_order",
            "examples": "- where has my parcel [541812](order_number) gone\n",
        }
    ]
    assert len(validate.calls) == 1
    assert inbox.groups() == []  # decided messages leave the queue


@pytest.mark.parametrize("texts", [("   ",), ("", " \n\t")])
def test_blank_examples_are_refused_not_replaced_by_the_suggestion(
    inbox, messages, sessions, validate, project, texts
) -> None:
    message_id = messages.fallback("wheres my parcel gone")
    request = DecisionRequest(
        action=Action.LABEL,
        trainer="kim",
        message_ids=(message_id,),
        intent="track_order",
        texts=texts,
    )

    with pytest.raises(DataError, match="the example is empty"):
        inbox.decide(request)

    assert decisions(sessions) == []
    assert not project.inbox_file.exists()
    assert validate.calls == []


def test_confirming_the_predicted_intent_is_recorded_as_such(
    inbox, messages, sessions
) -> None:
    message_id = messages.add("where is my order pls", confidence=0.4)

    inbox.decide(
        DecisionRequest(
            action=Action.LABEL,
            trainer="kim",
            message_ids=(message_id,),
            intent="track_order",
            texts=("where is my order pls",),
        )
    )

    assert decisions(sessions)[0].kind is InboxDecisionKind.CONFIRMED


def test_a_decided_text_coming_again_stays_out_of_the_queue(
    inbox, messages, sessions
) -> None:
    first = messages.fallback("hello?? anyone")
    inbox.decide(
        DecisionRequest(action=Action.SKIP, trainer="kim", message_ids=(first,))
    )
    messages.fallback("Hello?? Anyone")  # the same text, normalised
    messages.fallback("hello anyone there at all")  # a different text

    assert [g.leader.text for g in inbox.groups()] == ["hello anyone there at all"]


def test_skip_records_without_writing(inbox, messages, sessions, validate, project):
    message_id = messages.fallback("asdfgh")

    result = inbox.decide(
        DecisionRequest(action=Action.SKIP, trainer="sam", message_ids=(message_id,))
    )

    [decision] = decisions(sessions)
    assert result.recorded
    assert decision.kind is InboxDecisionKind.SKIPPED
    assert (decision.intent, decision.text) == (None, None)
    assert decision.message_ids == [message_id]
    assert validate.calls == []
    assert not project.inbox_file.exists()


def test_out_of_scope_writes_under_out_of_scope(inbox, messages, project) -> None:
    group_id = messages.add("will it rain tomorrow", intent="out_of_scope")

    result = inbox.decide(
        DecisionRequest(action=Action.OUT_OF_SCOPE, trainer="kim", group_id=group_id)
    )

    assert result.kind is InboxDecisionKind.OUT_OF_SCOPE
    written = yaml.safe_load(project.inbox_file.read_text(encoding="utf-8"))
    assert written["nlu"] == [
        {"intent": "out_of_scope", "examples": "- will it rain tomorrow\n"}
    ]


def test_chosen_messages_of_a_group_are_decided_alone(inbox, messages, sessions):
    keep = messages.fallback("where is my parcel")
    take = messages.fallback("where is my parcel please")
    [group] = inbox.groups()
    assert set(group.message_ids) == {keep, take}

    inbox.decide(
        DecisionRequest(
            action=Action.SKIP, trainer="kim", group_id=group.id, message_ids=(take,)
        )
    )

    [left] = inbox.groups()
    assert left.message_ids == [keep]


@pytest.mark.parametrize(
    ("request_kwargs", "error", "match"),
    [
        # the fallback is a prediction, not a label
        ({"intent": "nlu_fallback"}, DataError, "not a label"),
        # not in the domain
        ({"intent": "order_pizza"}, DataError, "not an intent of the domain"),
        # a label needs an intent
        ({"intent": None}, DataError, "choose the intent"),
        # masked personal data never becomes training data
        ({"texts": ("where is [ORDER]",)}, DataError, r"placeholder\(s\) \[ORDER\]"),
        # an entity the domain does not have
        ({"texts": ("where is [5](parcel_id)",)}, DataError, "unknown entity"),
        # no such group
        ({"group_id": 999}, NotFoundError, "no group 999"),
        # a message id that is not in the group
        ({"message_ids": (424242,)}, DataError, "not in group"),
        # a trainer needs a name
        ({"trainer": "  "}, DataError, "trainer"),
    ],
)
def test_bad_decisions_are_refused_with_a_clear_message(
    inbox, messages, sessions, request_kwargs, error, match
) -> None:
    group_id = messages.fallback("where is it")
    fields = {
        "action": Action.LABEL,
        "trainer": "kim",
        "group_id": group_id,
        "intent": "track_order",
        **request_kwargs,
    }

    with pytest.raises(error, match=match):
        inbox.decide(DecisionRequest(**fields))

    assert decisions(sessions) == []


def test_deciding_messages_twice_is_refused(inbox, messages) -> None:
    message_id = messages.fallback("hmm")
    request = DecisionRequest(
        action=Action.SKIP, trainer="kim", message_ids=(message_id,)
    )
    inbox.decide(request)

    with pytest.raises(InvalidStateError, match=f"messages {message_id} were decided"):
        inbox.decide(request)


def test_unknown_message_ids_are_refused(inbox) -> None:
    with pytest.raises(NotFoundError, match="no messages 77"):
        inbox.decide(
            DecisionRequest(action=Action.SKIP, trainer="kim", message_ids=(77,))
        )


def test_a_text_another_intent_has_is_held_back_with_a_warning(
    inbox, messages, sessions, project, validate
) -> None:
    before = project.snapshot()
    group_id = messages.fallback("Cancel my order!")

    result = inbox.decide(
        DecisionRequest(
            action=Action.LABEL,
            trainer="kim",
            group_id=group_id,
            intent="track_order",
            texts=("Cancel my order!",),
        )
    )

    assert not result.recorded
    [warning] = result.warnings
    assert "already an example of cancel_order in" in warning
    assert "orders.yml line 11" in warning
    assert decisions(sessions) == []
    assert not project.inbox_file.exists()
    assert validate.calls == []
    assert project.snapshot() == before
    assert [g.id for g in inbox.groups()] == [group_id]  # still waiting


def test_forcing_writes_it_anyway_and_says_so(inbox, messages, sessions, project):
    group_id = messages.fallback("cancel my order")

    result = inbox.decide(
        DecisionRequest(
            action=Action.LABEL,
            trainer="kim",
            group_id=group_id,
            intent="track_order",
            texts=("cancel my order",),
            force=True,
        )
    )

    assert result.recorded
    assert decisions(sessions)[0].forced is True
    assert any("(forced)" in w for w in result.warnings)
    assert "- cancel my order" in project.inbox_file.read_text(encoding="utf-8")


def test_a_failed_validation_records_nothing_and_keeps_the_file(
    inbox, messages, sessions, project, validate
) -> None:
    first = messages.fallback("where's the parcel")
    inbox.decide(
        DecisionRequest(
            action=Action.LABEL, trainer="kim", group_id=first, intent="track_order"
        )
    )
    good = project.inbox_file.read_bytes()
    validate.ok = False
    second = messages.fallback("stop the whole order", guess="cancel_order")

    result = inbox.decide(
        DecisionRequest(
            action=Action.LABEL, trainer="kim", group_id=second, intent="cancel_order"
        )
    )

    assert not result.recorded
    assert "rasa data validate failed" in (result.error or "")
    assert "YamlSyntaxException" in (result.error or "")
    assert "stop the whole order" in (validate.seen[-1] or "")  # it was tried
    assert project.inbox_file.read_bytes() == good  # and put back
    assert len(decisions(sessions)) == 1
    assert second in {g.id for g in inbox.groups()}


def test_labels_recorded_without_writing_are_written_later(
    inbox, messages, sessions, project, validate, settings
) -> None:
    for text, intent in (
        ("parcel where", "track_order"),
        ("kill order", "cancel_order"),
    ):
        group_id = messages.fallback(text)
        inbox.decide(
            DecisionRequest(
                action=Action.LABEL,
                trainer="kim",
                group_id=group_id,
                intent=intent,
                write=False,
            )
        )
    assert not project.inbox_file.exists()
    assert pending_summary(settings).unwritten == 2

    report = write_labels(settings, runner=validate)

    assert report.ok
    assert report.changed
    assert len(report.added) == 2
    assert all(d.written_at is not None for d in decisions(sessions))
    assert pending_summary(settings).unwritten == 0
    assert write_labels(settings, runner=validate).changed is False  # nothing left
    text = project.inbox_file.read_text(encoding="utf-8")
    assert "- parcel where" in text
    assert "- kill order" in text


def test_pending_summary_counts_without_a_model(messages, settings, sessions) -> None:
    messages.fallback("what")
    messages.fallback("what")
    messages.add("where is my order?", confidence=0.45)
    messages.add("ok", confidence=0.99)

    summary = pending_summary(settings)

    assert (summary.messages, summary.texts) == (3, 2)
    assert summary.by_reason == {"fallback": 2, "low_confidence": 1}
    assert (summary.decisions, summary.unwritten) == (0, 0)


@pytest.mark.ml
def test_the_real_encoder_groups_paraphrases_and_keeps_intents_apart(
    settings, sessions, messages, validate
) -> None:
    inbox = TrainerInbox(settings, sessions=sessions, runner=validate)
    for text in (
        "where is my order",
        "wheres my order??",
        "cancel my order",
        "i want to cancel my order",
        "what is the weather",
    ):
        messages.fallback(text)

    groups = inbox.groups()

    assert sorted(sorted(v.text for v in g.variants) for g in groups) == [
        ["cancel my order", "i want to cancel my order"],
        ["what is the weather"],
        ["where is my order", "wheres my order??"],
    ]


def test_two_trainers_deciding_the_same_messages_at_once_record_one(
    inbox, messages, sessions, validate
) -> None:
    message_id = messages.fallback("where is the van")
    entered, release = threading.Event(), threading.Event()
    real_runner = inbox.writer.runner

    def slow_validate(command, cwd, env):
        entered.set()  # the first trainer is validating, holding the lock
        assert release.wait(10)
        return real_runner(command, cwd, env)

    inbox.writer.runner = slow_validate
    real_locked, lockers = inbox.writer.locked, []
    waiting = threading.Event()

    def locked():
        lockers.append(threading.current_thread().name)
        if len(lockers) == 2:
            waiting.set()  # the second trainer passed the early check
        return real_locked()

    inbox.writer.locked = locked
    request = DecisionRequest(
        action=Action.LABEL,
        trainer="kim",
        message_ids=(message_id,),
        intent="track_order",
    )
    first = threading.Thread(target=inbox.decide, args=(request,))
    first.start()
    assert entered.wait(10)
    errors: list[Exception] = []

    def second() -> None:
        try:
            inbox.decide(dataclasses.replace(request, trainer="sam", write=False))
        except InvalidStateError as exc:
            errors.append(exc)

    other = threading.Thread(target=second)
    other.start()
    assert waiting.wait(10)
    release.set()
    first.join(10)
    other.join(10)

    assert [d.trainer for d in decisions(sessions)] == ["kim"]
    assert len(errors) == 1
    assert "decided already" in str(errors[0])
