"""The audit chain: verification finds edited, deleted and reordered events."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from app.clock import utcnow
from app.db import db
from app.models import AuditEvent, AuditHead, Organisation
from app.services import audit
from tests.conftest import tamper_as_owner


@pytest.fixture
def chain(app: Flask) -> Iterator[int]:
    """Ten events in one organisation's chain, and one in another's."""
    with app.app_context():
        org = Organisation(name="North Shire")
        other = Organisation(name="South Shire")
        db.session.add_all([org, other])
        db.session.flush()
        start = utcnow()
        for n in range(10):
            audit.record(
                db.session(),
                org.id,
                "config_change",
                start + timedelta(seconds=n),
                actor="cli",
                details={"n": n, "setting": "due_days"},
            )
        audit.record(db.session(), other.id, "export", start, actor="cli")
        db.session.commit()
        yield org.id


def tamper(database_url: str, *statements: str) -> None:
    """Change rows behind the application's back (on PostgreSQL, as the owner, past its
    triggers: the app's runtime role could not)."""
    tamper_as_owner(database_url, *statements)


def verify(runner: FlaskCliRunner) -> tuple[int, str]:
    result = runner.invoke(args=["audit", "verify"])
    return result.exit_code, result.output


def test_an_untouched_chain_verifies(chain: int, runner: FlaskCliRunner) -> None:
    code, output = verify(runner)
    assert code == 0
    assert f"OK organisation {chain}: 10 events" in output
    assert "1 events" in output


@pytest.mark.parametrize(
    ("statements", "finding"),
    [
        (
            [
                'UPDATE audit_event SET details = \'{"n": 99, "setting": "due_days"}\' '
                "WHERE seq = 4 AND organisation_id = {org}"
            ],
            "seq 4): its content was changed",
        ),
        (
            ["UPDATE audit_event SET action = 'export' WHERE seq = 7 AND organisation_id = {org}"],
            "seq 7): its content was changed",
        ),
        (
            ["DELETE FROM audit_event WHERE seq = 5 AND organisation_id = {org}"],
            "sequence 6 where 5 was expected",
        ),
        (
            [
                "UPDATE audit_event SET seq = 100 WHERE seq = 3 AND organisation_id = {org}",
                "UPDATE audit_event SET seq = 3 WHERE seq = 4 AND organisation_id = {org}",
                "UPDATE audit_event SET seq = 4 WHERE seq = 100 AND organisation_id = {org}",
            ],
            "(seq 3): does not follow the event before",
        ),
        (
            ["DELETE FROM audit_event WHERE seq = 10 AND organisation_id = {org}"],
            "the latest events were removed",
        ),
    ],
    ids=[
        "details edited",
        "action edited",
        "event deleted",
        "events reordered",
        "last event deleted",
    ],
)
def test_tampering_is_detected_at_the_first_broken_event(
    database_url: str, chain: int, runner: FlaskCliRunner, statements: list[str], finding: str
) -> None:
    tamper(database_url, *(s.replace("{org}", str(chain)) for s in statements))
    code, output = verify(runner)
    assert code != 0
    assert f"BROKEN organisation {chain}" in output
    assert finding in output
    # The other organisation's chain is unaffected and still reported as sound.
    assert "OK organisation" in output


def test_events_in_one_transaction_chain_in_order(app: Flask) -> None:
    record: Callable[..., object] = audit.record
    with app.app_context():
        org = Organisation(name="East Shire")
        db.session.add(org)
        db.session.flush()
        rows = [record(db.session(), org.id, "launch", utcnow()) for _ in range(3)]
        db.session.commit()
        assert [r.seq for r in rows] == [1, 2, 3]  # type: ignore[attr-defined]
        assert rows[1].prev_hash == rows[0].hash  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "details",
    [
        {},
        {"seq": -918273645546372819, "nested": {"seq": 7}},
        {"name": 'Zoë "Jo" O\\Brien ✓ 👩‍👧', "lines": "one\ntwo\ttab\x00nul"},
    ],
)
@pytest.mark.parametrize("subject", [None, 42])
def test_the_canonical_text_splits_where_the_sequence_number_goes(
    details: dict[str, object], subject: int | None
) -> None:
    event = {
        "organisation_id": 3,
        "occurred_at": utcnow(),
        "action": "launch",
        "actor_person_id": subject,
        "actor": None,
        "subject_person_id": subject,
        "details": details,
    }
    before, after = audit.canonical_around_seq(event)
    for seq in (1, 12345):
        assert before + str(seq) + after == audit.canonical({**event, "seq": seq})


def test_names_in_any_script_hash_alike_in_the_database_and_in_verify(
    app: Flask, runner: FlaskCliRunner
) -> None:
    """On PostgreSQL the hash is computed by the database: verify recomputes it in Python."""
    with app.app_context():
        org = Organisation(name="West Shire")
        db.session.add(org)
        db.session.flush()
        for name in ('Zoë "Jo" O\\Brien', "Łukasz Żółć", "محمد", "李小龍 👩‍👧", "tab\tnew\nline"):
            audit.record(db.session(), org.id, "launch", utcnow(), details={"name": name})
        db.session.commit()
    code, output = verify(runner)
    assert code == 0, output
    assert "OK organisation" in output


def test_appends_racing_from_many_connections_form_one_unbroken_chain(
    app: Flask, runner: FlaskCliRunner
) -> None:
    with app.app_context():
        org = Organisation(name="Racing Shire")
        db.session.add(org)
        db.session.commit()
        org_id = org.id
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            with app.app_context():
                for n in range(10):
                    audit.record(
                        db.session(), org_id, "launch", utcnow(), details={"w": worker, "n": n}
                    )
                    db.session.commit()
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with app.app_context():
        seqs = db.session.scalars(
            sa.select(AuditEvent.seq).where(AuditEvent.organisation_id == org_id)
        ).all()
        head = db.session.get(AuditHead, org_id)
    assert sorted(seqs) == list(range(1, 41))
    assert head is not None and head.seq == 40
    code, output = verify(runner)
    assert code == 0, output
