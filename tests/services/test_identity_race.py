"""Two first launches racing for one roster entry, from two database connections: one joins
it, the other becomes a person of its own and a clash for HR; nothing fails."""

from __future__ import annotations

import threading
import time

from flask import Flask
from sqlalchemy import select

from app.clock import utcnow
from app.db import db
from app.models import AuditEvent, Organisation, Person, Role
from app.services.launches import upsert_person
from lti.context import LaunchContext

ISSUER = "https://lms.example"


def context(org_id: int, subject: str) -> LaunchContext:
    return LaunchContext(
        organisation_id=org_id,
        registration_id=1,
        deployment_pk=1,
        issuer=ISSUER,
        subject=subject,
        name=f"Account {subject}",
        given_name="Account",
        family_name=subject,
        email=f"{subject}@example.org",
        role=Role.LEARNER,
        lti_roles=(),
        message_type="LtiResourceLinkRequest",
        resource_link_id="link",
        person_sourcedid="E1003",
    )


def test_two_first_launches_racing_for_one_entry_join_it_once(app: Flask) -> None:
    with app.app_context():
        org = Organisation(name="Racing Shire")
        db.session.add(org)
        db.session.flush()
        entry = Person(organisation_id=org.id, employee_id="E1003", name="Tom Price")
        db.session.add(entry)
        db.session.commit()
        org_id, entry_id = org.id, entry.id
    claimed = threading.Event()
    errors: list[BaseException] = []
    joined: dict[str, int] = {}

    def first() -> None:
        try:
            with app.app_context():
                joined["a"] = upsert_person(db.session(), context(org_id, "a"), utcnow())
                claimed.set()  # holds the entry, uncommitted, while the other launch starts
                time.sleep(0.5)
                db.session.commit()
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)
            claimed.set()

    def second() -> None:
        try:
            claimed.wait(10)
            with app.app_context():
                joined["b"] = upsert_person(db.session(), context(org_id, "b"), utcnow())
                db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert joined["a"] == entry_id and joined["b"] != entry_id
    with app.app_context():
        entry = db.session.get(Person, entry_id)
        newcomer = db.session.get(Person, joined["b"])
        assert entry is not None and newcomer is not None
        assert (entry.subject, entry.joined_by) == ("a", "sourcedid")
        assert newcomer.subject == "b" and newcomer.clash_with_id == entry_id
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.organisation_id == org_id)
        ).all()
        assert sorted(actions) == ["identity_clash", "identity_join"]
