"""Each acceptance's audit record, printed on the confirmation page and certificate and
checked by HR's "Verify a certificate"; HR's Audit trail page (latest checkpoint, last verify).

Tampering goes through a connection of the database's owner (tests/services/test_anchoring.py).
"""

from __future__ import annotations

import io
import re
import threading
from datetime import timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from pypdf import PdfReader
from sqlalchemy import select

from app.clock import today, utcnow
from app.db import db
from app.models import Acceptance, AuditEvent, Organisation, Person
from app.services import audit
from app.services.acceptance import AlreadyAccepted, Where, record_acceptance
from app.services.organisations import today_for, validity_rule
from app.services.policies import current_version
from app.services.status import person_status
from tests.learner_flow import csrf
from tests.services.test_anchoring import KEY, Owner
from tests.services.test_anchoring import owner as owner  # a fixture, re-exported
from tests.web.test_acceptance import accept, acceptances, passed
from tests.web.test_hr_dashboard import add_person, other_organisation, text_of
from tests.web.test_people_records import ROSTER_ONLY, date_fields, record_on_paper


def event_at(app: Flask, org: int, seq: int) -> AuditEvent:
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.organisation_id == org, AuditEvent.seq == seq)
        ).one()
        db.session.expunge(event)
        return event


@pytest.fixture
def accepted(app: Flask, launched: Any) -> tuple[FlaskClient, Acceptance, str]:
    """Aisha has accepted; her client, the row, and the confirmation page."""
    client = launched("u-aisha")
    passed(app, client)
    done = accept(client, "Aisha Khan")
    assert done.status_code == 302
    page = client.get(done.location).get_data(as_text=True)
    [row] = acceptances(app)
    return client, row, page


def test_the_acceptance_carries_its_audit_event_from_the_start(
    app: Flask, accepted: tuple[FlaskClient, Acceptance, str]
) -> None:
    _, row, page = accepted
    assert row.audit_seq is not None and row.audit_hash is not None
    event = event_at(app, row.organisation_id, row.audit_seq)
    assert event.action == "acceptance" and event.hash == row.audit_hash
    assert event.subject_person_id == row.person_id
    assert event.details["acceptance"] == row.id
    assert event.details["declaration_hash"] == row.declaration_hash
    assert event.details["content_hash"] == row.content_hash
    assert event.details["score_queued"] is True  # the demo LMS's launch offers a gradebook
    assert audit.chain_hash(event.prev_hash, audit.canonical(event)) == event.hash
    words = text_of(page)
    assert f"Audit record seq {row.audit_seq}, hash {row.audit_hash[:12]}" in words


def test_the_certificate_prints_the_audit_record(
    app: Flask, accepted: tuple[FlaskClient, Acceptance, str]
) -> None:
    client, row, _ = accepted
    response = client.get(f"/certificate/{row.id}.pdf")
    text = " ".join(PdfReader(io.BytesIO(response.data)).pages[0].extract_text().split())
    assert row.audit_hash is not None
    assert f"Audit record: seq {row.audit_seq}, hash {row.audit_hash[:12]}" in text


def test_an_acceptance_recorded_by_hr_carries_its_audit_event_too(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    pat = add_person(app, **ROSTER_ONLY)
    page = hr.get(f"/hr/people/{pat}/record-acceptance").get_data(as_text=True)
    response = record_on_paper(
        hr,
        pat,
        {
            "csrf_token": csrf(page),
            **date_fields("declared_on", today() - timedelta(days=3)),
            "note": "Signed paper declaration",
            "confirm": "y",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        row = db.session.scalars(select(Acceptance).where(Acceptance.person_id == pat)).one()
        db.session.expunge(row)
    assert row.audit_seq is not None
    event = event_at(app, row.organisation_id, row.audit_seq)
    assert event.action == "acceptance_recorded_by_hr" and event.hash == row.audit_hash
    assert event.details["acceptance"] == row.id
    html = hr.get(verify_url(row)).get_data(as_text=True)
    assert "This certificate is genuine" in html and "is unchanged" in html


def test_a_refused_second_acceptance_leaves_no_audit_event(app: Flask, launched: Any) -> None:
    """Both or neither: the second insert of a double submit (its status read before the
    first was committed) is refused, and its audit event goes with it."""
    client = launched("u-aisha")
    passed(app, client)
    with app.app_context():
        session = db.session()
        person = session.scalars(select(Person).where(Person.subject == "u-aisha")).one()
        org = session.get(Organisation, person.organisation_id)
        assert org is not None
        version = current_version(session, app.config["POLICY_KEY"], today())
        status = person_status(session, org.id, person.id, version, today_for(org, today()))
        first = record_acceptance(
            session, person, version, status, "Aisha Khan", validity_rule(org), utcnow(), Where()
        )
        session.commit()
        with pytest.raises(AlreadyAccepted) as refused:
            record_acceptance(
                session,
                person,
                version,
                status,
                "Aisha Khan",
                validity_rule(org),
                utcnow(),
                Where(),
            )
        assert refused.value.acceptance.id == first.id
        session.commit()
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "acceptance")
        ).all()
        assert actions == ["acceptance"]
        assert all(r.ok for r in audit.verify(session))


def test_acceptances_of_two_people_at_once_each_get_their_own_id_and_audit_event(
    app: Flask, launched: Any
) -> None:
    """The row's id is taken before its audit event names it: two sessions racing must not
    take the same one (SQLite: a write lock first; PostgreSQL: the id sequence)."""
    for user in ("u-aisha", "u-lee"):
        passed(app, launched(user))
    barrier = threading.Barrier(2)
    problems: list[BaseException] = []

    def accept_as(subject: str) -> None:
        try:
            with app.app_context():
                session = db.session()
                person = session.scalars(select(Person).where(Person.subject == subject)).one()
                org = session.get(Organisation, person.organisation_id)
                assert org is not None
                version = current_version(session, app.config["POLICY_KEY"], today())
                when = today_for(org, today())
                status = person_status(session, org.id, person.id, version, when)
                session.commit()  # end the reads: each starts afresh, as a request would
                barrier.wait()
                record_acceptance(
                    session,
                    person,
                    version,
                    status,
                    person.name,
                    validity_rule(org),
                    utcnow(),
                    Where(),
                )
                session.commit()
        except BaseException as exc:  # reported below, from the test's thread
            problems.append(exc)

    threads = [threading.Thread(target=accept_as, args=(s,)) for s in ("u-aisha", "u-lee")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    rows = acceptances(app)
    assert len({r.id for r in rows}) == 2
    for row in rows:
        assert row.audit_seq is not None
        assert event_at(app, row.organisation_id, row.audit_seq).details["acceptance"] == row.id
    with app.app_context():
        assert all(r.ok for r in audit.verify(db.session()))


# -- HR's Verify a certificate ---------------------------------------------------------------


def verify_url(row: Acceptance, seq: Any = None, prefix: Any = None) -> str:
    url = f"/hr/verify?code={row.verification_code[:5]}-{row.verification_code[5:]}"
    if seq is not None:
        url += f"&seq={seq}"
    if prefix is not None:
        url += f"&hash={prefix}"
    return url


def test_hr_confirms_a_copy_whose_code_and_audit_record_agree(
    app: Flask, launched: Any, accepted: tuple[FlaskClient, Acceptance, str]
) -> None:
    _, row, _ = accepted
    assert row.audit_hash is not None
    hr = launched("u-priya")
    response = hr.get(verify_url(row, row.audit_seq, row.audit_hash[:12]))
    words = text_of(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "This certificate is genuine" in words
    assert "The audit record printed on the copy is this acceptance's" in words
    # Upper case, as someone might type it off paper, is the same hash.
    response = hr.get(verify_url(row, row.audit_seq, row.audit_hash[:12].upper()))
    assert response.status_code == 200
    # The code alone still verifies, and says what else can be checked.
    words = text_of(hr.get(verify_url(row)).get_data(as_text=True))
    assert "This certificate is genuine" in words and "enter both parts" in words


@pytest.mark.parametrize(
    ("seq", "prefix", "status", "message"),
    [
        ("+1", "ok", 409, "The seq printed on the certificate is not this acceptance's"),
        ("ok", "0" * 12, 409, "The hash printed on the certificate is not this acceptance's"),
        ("ok", "short", 400, "Enter the audit record's hash as printed"),
        ("ok", "1234567", 400, "Enter the audit record's hash as printed"),
        ("4x", "ok", 400, "Enter the audit record's seq as a whole number"),
        ("-1", "ok", 400, "Enter the audit record's seq as a whole number"),
        ("\u00b2", "ok", 400, "Enter the audit record's seq as a whole number"),
    ],
    ids=["wrong seq", "wrong hash", "not hex", "7 characters", "not a number", "negative", "²"],
)
def test_hr_is_told_when_the_copy_does_not_match(
    app: Flask,
    launched: Any,
    accepted: tuple[FlaskClient, Acceptance, str],
    seq: str,
    prefix: str,
    status: int,
    message: str,
) -> None:
    _, row, _ = accepted
    assert row.audit_seq is not None and row.audit_hash is not None
    seq = str(row.audit_seq + 1) if seq == "+1" else str(row.audit_seq) if seq == "ok" else seq
    prefix = row.audit_hash[:12] if prefix == "ok" else prefix
    response = launched("u-priya").get(verify_url(row, seq, prefix))
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == status
    assert "<title>Error:" in html and "There is a problem" in html
    assert message in html
    assert "This certificate is genuine" not in html


def test_hr_is_told_when_the_audit_event_was_edited(
    app: Flask, launched: Any, accepted: tuple[FlaskClient, Acceptance, str], owner: Owner
) -> None:
    _, row, _ = accepted
    assert row.audit_hash is not None
    owner(
        "UPDATE audit_event SET details = :d WHERE organisation_id = :org AND seq = :seq",
        d=f'{{"acceptance": {row.id}, "quiz_score": 40}}',
        org=row.organisation_id,
        seq=row.audit_seq,
    )
    response = launched("u-priya").get(verify_url(row, row.audit_seq, row.audit_hash[:12]))
    words = text_of(response.get_data(as_text=True))
    assert response.status_code == 409
    assert "The audit trail does not agree with this acceptance" in words
    assert f"The audit event at seq {row.audit_seq} has been changed" in words
    assert "This certificate is genuine" not in words


def test_hr_is_told_when_the_audit_event_was_rewritten_with_a_new_hash(
    app: Flask, launched: Any, accepted: tuple[FlaskClient, Acceptance, str], owner: Owner
) -> None:
    """An owner who rewrites the event and its hash (and the chain after it): the
    acceptance and every printed copy still hold the old hash."""
    _, row, _ = accepted
    assert row.audit_hash is not None

    def lower_score(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[row.audit_seq - 1]["details"] = {
            **rows[row.audit_seq - 1]["details"],
            "quiz_score": 40,
        }
        return rows

    owner.rewrite(row.organisation_id, lower_score)
    response = launched("u-priya").get(verify_url(row, row.audit_seq, row.audit_hash[:12]))
    words = text_of(response.get_data(as_text=True))
    assert response.status_code == 409
    assert "has a different hash from the one recorded with the acceptance" in words
    assert "has been changed" not in words  # its content and hash agree again


def test_hr_is_told_when_the_audit_event_is_another_acceptance(
    app: Flask, launched: Any, accepted: tuple[FlaskClient, Acceptance, str], owner: Owner
) -> None:
    _, row, _ = accepted
    assert row.audit_seq is not None
    owner(
        "UPDATE acceptance SET audit_seq = 1, audit_hash = :h WHERE id = :id",
        h=event_at(app, row.organisation_id, 1).hash,
        id=row.id,
    )
    response = launched("u-priya").get(verify_url(row))
    words = text_of(response.get_data(as_text=True))
    assert response.status_code == 409
    assert "The audit event at seq 1 does not record this acceptance" in words


def test_hr_is_told_when_the_audit_event_is_gone(
    app: Flask, launched: Any, accepted: tuple[FlaskClient, Acceptance, str], owner: Owner
) -> None:
    _, row, _ = accepted
    owner(
        "DELETE FROM audit_event WHERE organisation_id = :org AND seq = :seq",
        org=row.organisation_id,
        seq=row.audit_seq,
    )
    response = launched("u-priya").get(verify_url(row))
    assert response.status_code == 409
    assert f"There is no audit event at seq {row.audit_seq}" in text_of(
        response.get_data(as_text=True)
    )


def test_an_older_acceptance_without_an_audit_record_still_verifies_by_code(
    app: Flask, launched: Any, accepted: tuple[FlaskClient, Acceptance, str], owner: Owner
) -> None:
    client, row, _ = accepted
    owner("UPDATE acceptance SET audit_seq = NULL, audit_hash = NULL WHERE id = :id", id=row.id)
    hr = launched("u-priya")
    for url in (verify_url(row), verify_url(row, 5, "abcdef012345")):
        response = hr.get(url)
        words = text_of(response.get_data(as_text=True))
        assert response.status_code == 200
        assert "This certificate is genuine" in words
        assert "recorded before certificates carried an audit record" in words
    page = client.get(f"/accept/done/{row.id}").get_data(as_text=True)
    assert "Audit record" not in page
    pdf = client.get(f"/certificate/{row.id}.pdf").data
    assert "Audit record" not in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


# -- HR's Audit trail page -------------------------------------------------------------------


def test_the_audit_trail_page_shows_the_latest_checkpoint_and_verify_of_its_organisation(
    app: Flask,
    launched: Any,
    runner: FlaskCliRunner,
    tmp_path: Path,
    owner: Owner,
) -> None:
    hr = launched("u-priya")
    words = text_of(hr.get("/hr/audit-trail").get_data(as_text=True))
    assert "No checkpoint has been taken yet" in words
    assert "The audit trail has not been checked yet" in words

    other = other_organisation(app)
    with app.app_context():
        for _ in range(5):
            audit.record(db.session(), other, "export", utcnow(), actor="cli")
        db.session.commit()
    directory = tmp_path / "checkpoints"
    app.config.update(AUDIT_ANCHOR_KEY=KEY, AUDIT_CHECKPOINT_DIR=str(directory))
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    assert runner.invoke(args=["audit", "verify", "--checkpoints", str(directory)]).exit_code == 0
    [file] = directory.iterdir()
    with app.app_context():
        mine = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.organisation_id != other)
            .order_by(AuditEvent.seq.desc())
        ).first()
        assert mine is not None
        org, seq, digest = mine.organisation_id, mine.seq, mine.hash
    words = text_of(hr.get("/hr/audit-trail").get_data(as_text=True))
    assert f"Entries it covers {seq}" in words
    assert f"Hash of the latest entry {digest[:12]}" in words
    assert f"File {file.name}" in words
    assert "Result No changes found" in words and "Checkpoints compared 1" in words
    assert seq < 5 and "Entries it covers 5" not in words  # not the other organisation's

    owner("UPDATE audit_event SET action = 'x' WHERE organisation_id = :org AND seq = 1", org=org)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1
    words = text_of(hr.get("/hr/audit-trail").get_data(as_text=True))
    assert "The last check found that the audit trail has been altered" in words
    assert "Result Altered" in words and "(seq 1): its content was changed" in words
    assert "Checkpoints compared None: checked without checkpoints" in words
    assert "Last checked against the checkpoints on" in words and "no changes found" in words
    assert re.search(r"Audit trail", hr.get("/hr/").get_data(as_text=True))  # in HR's menu


@pytest.mark.parametrize("path", ["/hr/audit-trail", "/hr/verify"])
def test_the_audit_pages_are_for_hr_only(launched: Any, path: str) -> None:
    assert launched("u-aisha").get(path).status_code == 403
