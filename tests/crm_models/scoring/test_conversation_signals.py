"""Conversation signals reach the models: when complaints foretell churn, the
backtest ranks churn better with them than without, and the reasons say so."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_models.scoring.dataset import Events, contacts_frame, load_events
from crm_models.scoring.reasons import explain, reason_stats
from crm_models.scoring.train import Rows, TrainConfig, backtest
from crm_models.store.db import create_schema, make_engine
from crm_models.store.schema import Order
from tests.crm_models.scoring.builders import (
    CUTOFF,
    StoreBuilder,
    days,
    synthetic_history,
)

pytestmark = pytest.mark.ml
CONFIG = TrainConfig(n_resamples=50, calibration_folds=3)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Events]:
    """A synthetic store where most customers who stop buying complained first.

    A customer whose last order is more than 60 days before the end complains at
    that order with probability 0.7; everybody else complains at a random time in
    the year with probability 0.1 (complaints that change nothing).
    """
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('signals')}/crm.db")
    create_schema(engine)
    with Session(engine) as session:
        synthetic_history(session, n_customers=400, seed=4)
        rng = np.random.default_rng(4)
        builder = StoreBuilder(session)
        last_orders = session.execute(
            select(Order.customer_id, func.max(Order.placed_at)).group_by(
                Order.customer_id
            )
        ).all()
        for customer_id, last in last_orders:
            stopped = last < CUTOFF - days(60)
            if rng.random() < (0.7 if stopped else 0.1):
                when = last if stopped else CUTOFF - days(rng.uniform(1, 365))
                builder.conversation(customer_id, when, ticket_reason="complaint")
        session.commit()
        yield load_events(session=session)
    engine.dispose()


def test_complaints_that_foretell_churn_improve_the_churn_ranking(
    events: Events,
) -> None:
    without = replace(events, contacts=contacts_frame([]))

    with_signals = backtest(events, CONFIG).reports
    blind = backtest(without, CONFIG).reports
    auc = {r.target: r.test["chosen"]["roc_auc"] for r in with_signals}
    blind_auc = {r.target: r.test["chosen"]["roc_auc"] for r in blind}

    assert len(events.contacts) > 50
    # Clearly better, not within the noise: above the blind model's upper bound.
    assert auc["churn_risk"].value > blind_auc["churn_risk"].high
    assert auc["propensity"].value > blind_auc["propensity"].high


def test_a_complaint_is_given_as_a_churn_reason(events: Events) -> None:
    rows = Rows(events).at(float(np.floor(events.last_order_day)) - 99)
    labelled = rows[rows["churn_risk"].notna()]
    stats = reason_stats(labelled, labelled["churn_risk"])
    complainer = labelled[labelled["complaints_365d"] > 0].iloc[0].to_dict()

    assert stats["complaints_365d"]["direction"] == 1
    reasons = explain(
        complainer | {"complaints_365d": 3.0},
        stats,
        target="churn_risk",
        above_average=True,
        limit=3,
    )
    assert "3 complaints in the last year" in reasons
