"""HR's dashboard page over a seeded random history (tests/services/history.py), through a
real launch: every figure on the page is the count of people whose own status
(person_status) says so, by status, overdue, and by directorate and department."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.clock import today
from app.db import db
from app.models import Organisation, Person
from app.services.organisations import today_for
from app.services.policies import current_version
from app.services.question_bank import current_bank
from app.services.status import State, person_status
from tests.conftest import ORG
from tests.services.history import History, version
from tests.web.test_hr_dashboard import table, text_of


def test_the_page_counts_each_persons_own_status(app: Flask, launched: Any) -> None:
    hr = launched("u-priya")
    day = today()
    with app.app_context():
        session = db.session()
        org = session.scalars(select(Organisation).where(Organisation.name == ORG)).one()
        current = current_version(session, app.config["POLICY_KEY"], day)
        assert current is not None
        bank = current_bank(session, current.policy_id)
        assert bank is not None
        # An earlier version that asked everyone to accept, and one before it: the published
        # version becomes a correction (no one need accept again), so the earlier one counts.
        published = current.published_at
        old = version(session, current.policy_id, "0.8", published - timedelta(days=900), True)
        earlier = version(session, current.policy_id, "0.9", published - timedelta(days=400), True)
        current.requires_reacceptance = False
        History(session, org, bank.id, day, seed=1606).populate(
            120, org.due_days, old.id, earlier.id, current.id
        )
        session.commit()
        when = today_for(org, day)
        counted = {
            who: person_status(session, org.id, who.id, current, when)
            for who in session.scalars(
                select(Person).where(Person.organisation_id == org.id, Person.active.is_(True))
            )
        }
        by_state = Counter(status.state for status in counted.values())
        overdue = sum(status.overdue(day) for status in counted.values())
        units: dict[str, list[int]] = {}
        for who, status in counted.items():
            name = f"{who.directorate or 'Not recorded'}, {who.department or 'Not recorded'}"
            unit = units.setdefault(name, [0, 0, 0])
            unit[0] += status.state in (State.CERTIFIED, State.DUE_FOR_RENEWAL)
            unit[1] += 1
            unit[2] += status.overdue(day)
    assert set(by_state) == set(State) and overdue

    html = hr.get("/hr/").get_data(as_text=True)
    total = len(counted)
    shown = {row[0]: row[1] for row in table(html, "How many people are in each status")}
    assert shown == {
        **{state.label: str(by_state[state]) for state in State},
        "Everyone": str(total),
    }
    compliant = by_state[State.CERTIFIED] + by_state[State.DUE_FOR_RENEWAL]
    words = text_of(html)
    assert f"in date: {compliant} of {total} people" in words
    assert f"{overdue} are overdue" in words
    shown_units = {row[0]: row[1:] for row in table(html, "Completion by directorate")}
    assert shown_units == {
        name: [f"{done} of {n} ({round(done * 100 / n)}%)", str(late)]
        for name, (done, n, late) in units.items()
    }
