"""How an LMS identity is joined to HR's roster entry, and HR's review of those joins.

A first launch is joined to a roster entry by one key, the organisation's `roster_join`:
- "sourcedid": the LMS's lis_person_sourcedid (Moodle's "ID number", set by administrators
  only) equals the entry's employee id. Trusted at once: a user cannot choose it.
- "email": the LMS's e-mail equals the entry's. Moodle lets users change their own e-mail,
  so anyone could claim a colleague's entry: such a join carries none of the roster's
  rights (a manager's team) until HR confirms it.
- "employee_id": a custom parameter employee_id equals the entry's employee id. Set by the
  LMS administrator on the tool, but a course editor can set an activity's custom
  parameters too: treated like e-mail.
- "never": launches join nothing; HR links people by hand (a roster import by e-mail).

An entry already linked to an LMS identity is never re-linked: a newcomer whose key matches
it stays a person of their own, and the clash is audited and listed for HR.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.clock import london_date
from app.models import Acceptance, AuditEvent, Launch, Person, QuizAttempt
from app.services import audit

JOIN_RULES = ("sourcedid", "email", "employee_id", "never")
# Keys only the LMS's administrators can set: a join by one needs no confirmation.
TRUSTED_AT_ONCE = frozenset({"sourcedid"})
# Which launch key (the parameters of launches._ROSTER_ENTRIES) each rule compares with
# which column of the entry.
_KEYS = {
    "sourcedid": ("sourcedid", "employee_id"),
    "email": ("email", "email"),
    "employee_id": ("custom_employee_id", "employee_id"),
}


class JoinRaced(Exception):
    """The roster entry was linked by another launch between finding and claiming it."""


class NotForReview(LookupError):
    """No such join or clash in this organisation (or HR has already dealt with it)."""


class HasRecords(Exception):
    """The joined identity has quiz attempts or acceptances on the entry: evidence that
    stays where it is, so the join cannot simply be undone here."""

    def __init__(self, attempts: int, acceptances: int) -> None:
        super().__init__(f"{attempts} quiz attempts, {acceptances} acceptances")
        self.attempts = attempts
        self.acceptances = acceptances


def key_matches(rule: str | None, row: Any, keys: dict[str, str | None]) -> bool:
    """Whether a roster entry (a row with email and employee_id) matches the launch's keys
    under the rule."""
    if rule not in _KEYS:
        return False
    key, column = _KEYS[rule]
    wanted = keys.get(key)
    return wanted is not None and getattr(row, column) == wanted


def record_clash(
    session: Session,
    organisation_id: int,
    newcomer_id: int,
    entry_id: int,
    rule: str,
    now: datetime,
) -> None:
    """The newcomer stays separate; HR sees the clash on the identities page."""
    session.execute(update(Person).where(Person.id == newcomer_id).values(clash_with_id=entry_id))
    audit.record(
        session,
        organisation_id,
        "identity_clash",
        now,
        actor_person_id=newcomer_id,
        subject_person_id=newcomer_id,
        details={"person": newcomer_id, "roster_entry": entry_id, "by": rule},
    )


@dataclass(frozen=True)
class JoinToReview:
    person_id: int  # the roster entry, now carrying the LMS identity
    roster_name: str
    employee_id: str | None
    lms_name: str  # what the LMS calls them (its given and family names)
    issuer: str | None
    joined_by: str
    joined_at: datetime | None


@dataclass(frozen=True)
class ClashToReview:
    person_id: int  # the newcomer, a person of their own
    lms_name: str
    email: str | None
    issuer: str | None
    entry_id: int
    entry_name: str
    employee_id: str | None
    by: str | None
    seen_at: datetime


@dataclass(frozen=True)
class Review:
    joins: list[JoinToReview]
    clashes: list[ClashToReview]


def _lms_name(person: Person) -> str:
    return " ".join(p for p in (person.given_name, person.family_name) if p)


def to_review(session: Session, organisation_id: int) -> Review:
    """Joins awaiting HR's confirmation, and clashes HR has not yet looked at."""
    joins = [
        JoinToReview(
            p.id,
            p.display_name,
            p.employee_id,
            _lms_name(p),
            p.issuer,
            p.joined_by or "",
            p.joined_at,
        )
        for p in session.scalars(
            select(Person)
            .where(
                Person.organisation_id == organisation_id,
                Person.joined_by.isnot(None),
                Person.join_confirmed_at.is_(None),
            )
            .order_by(Person.joined_at, Person.id)
        )
    ]
    newcomers = list(
        session.scalars(
            select(Person)
            .where(Person.organisation_id == organisation_id, Person.clash_with_id.isnot(None))
            .order_by(Person.first_seen_at, Person.id)
        )
    )
    clashes = []
    if newcomers:
        entries = {
            p.id: p
            for p in session.scalars(
                select(Person).where(Person.id.in_([n.clash_with_id for n in newcomers]))
            )
        }
        # Which key matched is in the clash's audit event (the rule may have changed since).
        keys = {
            e.subject_person_id: (e.details or {}).get("by")
            for e in session.scalars(
                select(AuditEvent).where(
                    AuditEvent.organisation_id == organisation_id,
                    AuditEvent.action == "identity_clash",
                    AuditEvent.subject_person_id.in_([n.id for n in newcomers]),
                )
            )
        }
        for n in newcomers:
            entry = entries[n.clash_with_id or 0]
            clashes.append(
                ClashToReview(
                    n.id,
                    n.name or _lms_name(n),
                    n.email,
                    n.issuer,
                    entry.id,
                    entry.display_name,
                    entry.employee_id,
                    keys.get(n.id),
                    n.first_seen_at,
                )
            )
    return Review(joins, clashes)


def _joined(session: Session, organisation_id: int, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None or person.organisation_id != organisation_id or not person.joined_by:
        raise NotForReview(person_id)
    return person


def confirm_join(
    session: Session, organisation_id: int, person_id: int, now: datetime, *, actor_person_id: int
) -> Person:
    """HR says the LMS identity is this roster entry's person: the roster's rights follow."""
    person = _joined(session, organisation_id, person_id)
    if person.join_confirmed_at is not None:
        raise NotForReview(person_id)
    person.join_confirmed_at = now
    audit.record(
        session,
        organisation_id,
        "identity_join_confirmed",
        now,
        actor_person_id=actor_person_id,
        subject_person_id=person.id,
        details={"person": person.id, "by": person.joined_by},
    )
    return person


def undo_join(
    session: Session, organisation_id: int, person_id: int, now: datetime, *, actor_person_id: int
) -> Person:
    """A wrong join: the roster entry is free again (the right person's next first launch
    can join it) and the LMS identity becomes a person of its own, taking the visits it
    made since the join. Returns that new person.

    Raises HasRecords if the identity has quiz attempts or acceptances since the join:
    the record is append-only, so they cannot be moved; HR deals with them by hand.
    """
    entry = _joined(session, organisation_id, person_id)
    since = entry.joined_at or now
    attempts = len(
        session.scalars(
            select(QuizAttempt.id).where(
                QuizAttempt.person_id == entry.id, QuizAttempt.started_at >= since
            )
        ).all()
    )
    acceptances = len(
        session.scalars(
            select(Acceptance.id).where(
                Acceptance.person_id == entry.id, Acceptance.accepted_at >= since
            )
        ).all()
    )
    if attempts or acceptances:
        raise HasRecords(attempts, acceptances)
    newcomer = Person(
        organisation_id=organisation_id,
        issuer=entry.issuer,
        subject=entry.subject,
        name=_lms_name(entry),
        given_name=entry.given_name,
        family_name=entry.family_name,
        last_lti_roles=list(entry.last_lti_roles or []),
        first_seen_at=since,
        last_launch_at=entry.last_launch_at,
        assigned_on=london_date(now),
    )
    joined_by = entry.joined_by
    entry.issuer = entry.subject = None
    entry.given_name = entry.family_name = None
    entry.joined_by = None
    entry.joined_at = entry.join_confirmed_at = None
    session.flush()  # the identity is free before the newcomer takes it (it is unique)
    session.add(newcomer)
    session.flush()
    session.execute(
        update(Launch)
        .where(Launch.person_id == entry.id, Launch.created_at >= since)
        .values(person_id=newcomer.id)
    )
    audit.record(
        session,
        organisation_id,
        "identity_join_undone",
        now,
        actor_person_id=actor_person_id,
        subject_person_id=entry.id,
        details={"person": entry.id, "new_person": newcomer.id, "by": joined_by},
    )
    return newcomer


def clash_reviewed(
    session: Session, organisation_id: int, person_id: int, now: datetime, *, actor_person_id: int
) -> None:
    """HR has looked at a clash: it leaves the list (the audit trail keeps both events)."""
    person = session.get(Person, person_id)
    if person is None or person.organisation_id != organisation_id or not person.clash_with_id:
        raise NotForReview(person_id)
    entry_id = person.clash_with_id
    person.clash_with_id = None
    audit.record(
        session,
        organisation_id,
        "identity_clash_reviewed",
        now,
        actor_person_id=actor_person_id,
        subject_person_id=person.id,
        details={"person": person.id, "roster_entry": entry_id},
    )
