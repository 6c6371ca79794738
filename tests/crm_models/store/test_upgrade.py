"""The schema upgrade on both backends: SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from crm_models.feedback.consumer import FeedbackConsumer
from crm_models.store import upgrade
from crm_models.store.db import create_schema, make_engine
from crm_models.store.schema import Base, ConversationOutcome, MessageLog
from crm_models.store.upgrade import (
    AddedColumn,
    SchemaUpgradeError,
    missing_columns,
    upgrade_schema,
)
from tests.crm_models.feedback.rasa_events import (
    HANDOFF_NEXT,
    action,
    handoff_conversation,
    user,
    write_event_log,
)
from tests.crm_models.feedback.support import make_settings

# The columns added by issue #4, which a store made before it lacks.
NEW_COLUMNS = {
    "message_log": ["next_action"],
    "conversation_outcomes": ["handle_seconds", "paused_seconds", "paused_since"],
}
T = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(new_database: Callable[[], str]) -> Iterator[Engine]:
    """An engine on a new, empty database of the backend."""
    engine = make_engine(new_database())
    yield engine
    engine.dispose()


def _old_store(engine: Engine) -> None:
    """The CRM tables as a store made before NEW_COLUMNS, with a row in each."""
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        for table, columns in NEW_COLUMNS.items():
            for column in columns:
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(
            text(
                "INSERT INTO conversation_outcomes (conversation_id, started_at,"
                " last_event_at, n_user_messages, n_fallbacks, outcomes, outcome)"
                " VALUES ('old', :t, :t, 1, 0, '[\"resolved_by_bot\"]',"
                " 'resolved_by_bot')"
            ),
            {"t": T.replace(tzinfo=None)},
        )
        conn.execute(
            text(
                "INSERT INTO message_log (event_key, conversation_id, sent_at,"
                " text_masked, intent, entities) VALUES ('k', 'old', :t, 'hi',"
                " 'greet', '[]')"
            ),
            {"t": T.replace(tzinfo=None)},
        )


def _things(metadata: MetaData, *extra: Column[object]) -> Table:
    """A small model: owners and things, ``extra`` columns on things."""
    Table("owners", metadata, Column("id", Integer, primary_key=True))
    return Table(
        "things",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(20), nullable=False),
        *extra,
    )


def test_old_store_gets_the_new_columns_and_keeps_its_rows(engine: Engine) -> None:
    _old_store(engine)
    assert missing_columns(engine) == NEW_COLUMNS

    create_schema(engine)  # what opening the store for writing runs

    assert missing_columns(engine) == {}
    with engine.connect() as conn:
        old = conn.execute(
            select(
                ConversationOutcome.outcome,
                ConversationOutcome.handle_seconds,
                ConversationOutcome.paused_since,
            )
        ).one()
        message = conn.execute(select(MessageLog.intent, MessageLog.next_action)).one()
    assert tuple(old) == ("resolved_by_bot", None, None)
    assert tuple(message) == ("greet", None)
    # Opening it again changes nothing.
    assert upgrade_schema(engine) == []


def test_consumer_writes_into_an_upgraded_old_store(
    new_database: Callable[[], str], tmp_path: Path
) -> None:
    url = new_database()
    old = make_engine(url)
    _old_store(old)
    old.dispose()
    settings = make_settings(tmp_path, database_url=url)
    write_event_log(
        Path(settings.event_log_url.removeprefix("sqlite:///")),
        [
            *handoff_conversation(),
            # The old conversation goes on; its last message was answered back then.
            ("old", action("action_session_start", ts=T.timestamp() + 60)),
            ("old", action("action_listen", ts=T.timestamp() + 60)),
            ("old", user("hello again", "greet", ts=T.timestamp() + 61)),
            ("old", action("utter_greet", ts=T.timestamp() + 62)),
        ],
    )

    consumer = FeedbackConsumer.from_settings(settings)  # opens (and upgrades) it
    consumer.clock = lambda: T
    consumer.run_once()

    with consumer.sessions() as session:
        steps = session.scalars(
            select(MessageLog.next_action)
            .where(MessageLog.conversation_id == "conv-h")
            .order_by(MessageLog.sent_at)
        ).all()
        conversation = session.get(ConversationOutcome, "conv-h")
        old = session.scalars(
            select(MessageLog.next_action)
            .where(MessageLog.conversation_id == "old")
            .order_by(MessageLog.sent_at)
        ).all()
    assert steps == HANDOFF_NEXT
    assert old == [None, "utter_greet"]  # not "action_listen" for the old message
    assert conversation is not None
    assert (conversation.handle_seconds, conversation.paused_seconds) == (601.0, 498.0)


def test_nullable_defaulted_and_foreign_key_columns_are_added_with_indexes(
    engine: Engine,
) -> None:
    _things(MetaData()).metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO owners (id) VALUES (1)"))
        conn.execute(text("INSERT INTO things (id, name) VALUES (1, 'lamp')"))
    model = _things(
        MetaData(),
        Column("note", String(40)),
        Column("score", Integer, nullable=False, server_default="0"),
        Column("owner_id", ForeignKey("owners.id"), index=True),
    )

    added = upgrade_schema(engine, model.metadata)

    assert added == [
        AddedColumn("things", "note"),
        AddedColumn("things", "score"),
        AddedColumn("things", "owner_id"),
    ]
    with engine.begin() as conn:
        row = conn.execute(text("SELECT name, note, score FROM things")).one()
        conn.execute(text("UPDATE things SET owner_id = 1"))
    assert tuple(row) == ("lamp", None, 0)
    found = inspect(engine)
    assert [i["column_names"] for i in found.get_indexes("things")] == [["owner_id"]]
    assert [fk["referred_table"] for fk in found.get_foreign_keys("things")] == [
        "owners"
    ]
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("UPDATE things SET owner_id = 2"))  # no such owner


@pytest.mark.parametrize(
    ("make_column", "reason"),
    [
        # Existing rows would have no value.
        (
            lambda: Column("level", Integer, nullable=False),
            "table things, column level: NOT NULL without a server default",
        ),
        # SQLite cannot add these, and existing rows would all collide.
        (
            lambda: Column("code", String(8), unique=True),
            "table things, column code: a column under a unique constraint",
        ),
    ],
    ids=["not-null", "unique"],
)
def test_unsafe_column_is_refused_by_name_and_nothing_is_added(
    engine: Engine, make_column: Callable[[], Column[object]], reason: str
) -> None:
    _things(MetaData()).metadata.create_all(engine)
    column = make_column()
    # A safe column first in the model: it must not be added either.
    model = _things(MetaData(), Column("note", String(40)), column)

    with pytest.raises(SchemaUpgradeError, match=reason):
        upgrade_schema(engine, model.metadata)

    assert missing_columns(engine, model.metadata) == {"things": ["note", column.name]}


def test_column_the_database_refuses_is_named(engine: Engine) -> None:
    _things(MetaData()).metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO things (id, name) VALUES (1, 'lamp')"))
    model = _things(
        MetaData(),
        Column("seen_at", DateTime(timezone=True), server_default=func.now()),
    )

    if engine.dialect.name == "sqlite":
        # SQLite adds no column whose default is not a constant.
        with pytest.raises(
            SchemaUpgradeError,
            match="table things, column seen_at: the database refused to add it",
        ):
            upgrade_schema(engine, model.metadata)
        assert missing_columns(engine, model.metadata) == {"things": ["seen_at"]}
    else:
        # PostgreSQL does, and the rows already there get the default.
        assert upgrade_schema(engine, model.metadata) == [
            AddedColumn("things", "seen_at")
        ]
        with engine.connect() as conn:
            seen = conn.execute(text("SELECT seen_at FROM things")).scalar_one()
        assert seen is not None


def test_column_added_meanwhile_by_another_process_counts_as_added(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _things(MetaData()).metadata.create_all(engine)
    model = _things(MetaData(), Column("note", String(40)), Column("tag", String(8)))
    seen_before = missing_columns(engine, model.metadata)
    # The other process is quicker with "note", after this one looked.
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE things ADD COLUMN note VARCHAR(40)"))
    monkeypatch.setattr(upgrade, "missing_columns", lambda *args: seen_before)

    added = upgrade_schema(engine, model.metadata)

    assert added == [AddedColumn("things", "tag")]
