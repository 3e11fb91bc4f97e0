"""One person as HR sees them: their record, an acceptance HR records on their behalf, a
subject access export of everything held about them, legal holds, and anonymisation once
the retention period after they left has ended.

Anonymisation blanks personal details and keeps what the figures count (organisation unit,
dates, states, quiz results). Audit events are never changed, so the chain still verifies;
they hold ids and facts, not names (events written here take care to keep it so).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.clock import LONDON, london_date
from app.db import dialect_name
from app.models import (
    Acceptance,
    AuditEvent,
    Launch,
    LmsContext,
    Organisation,
    Person,
    PolicySection,
    PolicyVersion,
    QuizAttempt,
    QuizSubmission,
    Reminder,
    ScoreOutbox,
    SectionRead,
)
from app.services import audit
from app.services.acceptance import AcceptanceError, record_on_behalf
from app.services.organisations import validity_rule
from app.services.status import PersonStatus, Today, add_months, next_valid_until, person_status

EVENTS_SHOWN = 100


def person_in(session: Session, organisation_id: int, person_id: int) -> Person | None:
    """The person with this id, if they belong to the organisation: the only way HR's pages
    load someone, so that another council's people are never found."""
    return session.scalars(
        select(Person).where(Person.id == person_id, Person.organisation_id == organisation_id)
    ).first()


def managers(session: Session, organisation_id: int) -> list[Person]:
    """Everyone in the organisation who manages someone (for filtering by manager)."""
    boss_ids = (
        select(Person.manager_id)
        .where(Person.organisation_id == organisation_id, Person.manager_id.isnot(None))
        .distinct()
    )
    return list(
        session.scalars(
            select(Person)
            .where(Person.organisation_id == organisation_id, Person.id.in_(boss_ids))
            .order_by(Person.last_name, Person.first_name, Person.name, Person.id)
        )
    )


# -- the record ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptRow:
    attempt: QuizAttempt
    submission: QuizSubmission | None
    version: str


@dataclass(frozen=True)
class AcceptanceRow:
    acceptance: Acceptance
    version: str
    recorded_by: str | None  # the HR person who recorded it on the person's behalf


@dataclass(frozen=True)
class EventRow:
    """An audit event about someone, with who did it and, for a section read, its title."""

    event: AuditEvent
    # Who: "themselves" (the person the record is about), "person" (someone else, named in
    # actor), "removed" (someone whose details were anonymised), "schedule" (a scheduled
    # job), "cli" (an administrator's command) or "system" (the tool, on its own account).
    by: str
    actor: str = ""
    section: str | None = None  # the title of the section read, where there is one


@dataclass(frozen=True)
class PersonRecord:
    person: Person
    manager: Person | None
    status: PersonStatus
    retention_ends: date | None
    launches: int
    attempts: list[AttemptRow]
    acceptances: list[AcceptanceRow]
    reminders: list[Reminder]
    events: list[EventRow]
    events_total: int


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    """Each person's name; "" for someone whose details were removed (anonymised)."""
    if not ids:
        return {}
    return {
        p.id: "" if p.anonymised_at is not None else p.display_name
        for p in session.scalars(select(Person).where(Person.id.in_(ids)))
    }


def _section_titles(session: Session) -> dict[tuple[str, str], str]:
    """(policy version, section key) -> the section's title: a section-read event keeps the
    key and the version, as the section's address does."""
    rows = session.execute(
        select(PolicyVersion.version, PolicySection.key, PolicySection.title)
        .join(PolicySection, PolicySection.version_id == PolicyVersion.id)
        .order_by(PolicyVersion.published_at, PolicyVersion.id)
    )
    return {(version, key): title for version, key, title in rows}


def _event_row(
    event: AuditEvent,
    person: Person,
    names: dict[int, str],
    titles: dict[tuple[str, str], str],
) -> EventRow:
    section = None
    key = event.details.get("section")
    if isinstance(key, str):
        version = str(event.details.get("version", ""))
        # A key from a version no longer stored: the latest title given to that key.
        section = titles.get((version, key)) or next(
            (title for (_, k), title in reversed(titles.items()) if k == key), key
        )
    if event.actor_person_id == person.id:
        return EventRow(event, "themselves", section=section)
    if event.actor_person_id is not None:
        name = names.get(event.actor_person_id, "")
        return EventRow(event, "person" if name else "removed", name, section)
    by = event.actor if event.actor in ("schedule", "cli") else "system"
    return EventRow(event, by, section=section)


def person_record(
    session: Session, org: Organisation, person: Person, version: PolicyVersion, when: Today
) -> PersonRecord:
    """Everything HR's record page shows about one person, newest first."""
    versions = {v.id: v.version for v in session.scalars(select(PolicyVersion))}
    attempts = [
        AttemptRow(a, a.submission, versions.get(a.policy_version_id, ""))
        for a in session.scalars(
            select(QuizAttempt)
            .where(QuizAttempt.person_id == person.id)
            .order_by(QuizAttempt.started_at.desc(), QuizAttempt.id.desc())
        )
    ]
    rows = list(
        session.scalars(
            select(Acceptance)
            .where(Acceptance.person_id == person.id)
            .order_by(Acceptance.accepted_at.desc(), Acceptance.id.desc())
        )
    )
    reminders = list(
        session.scalars(
            select(Reminder)
            .where(Reminder.person_id == person.id)
            .order_by(Reminder.created_at.desc(), Reminder.id.desc())
        )
    )
    about = AuditEvent.subject_person_id == person.id
    events = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.organisation_id == org.id, about)
            .order_by(AuditEvent.seq.desc())
            .limit(EVENTS_SHOWN)
        )
    )
    events_total = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.organisation_id == org.id, about)
    )
    names = _names(
        session,
        {a.recorded_by_person_id for a in rows if a.recorded_by_person_id}
        | {e.actor_person_id for e in events if e.actor_person_id},
    )
    launches = session.scalar(
        select(func.count()).select_from(Launch).where(Launch.person_id == person.id)
    )
    titles = _section_titles(session) if any("section" in e.details for e in events) else {}
    return PersonRecord(
        person=person,
        manager=session.get(Person, person.manager_id) if person.manager_id else None,
        status=person_status(session, person.organisation_id, person.id, version, when),
        retention_ends=retention_ends(person, org),
        launches=launches or 0,
        attempts=attempts,
        acceptances=[
            AcceptanceRow(
                a,
                versions.get(a.policy_version_id, ""),
                names.get(a.recorded_by_person_id) if a.recorded_by_person_id else None,
            )
            for a in rows
        ],
        reminders=reminders,
        events=[_event_row(e, person, names, titles) for e in events],
        events_total=events_total or 0,
    )


# -- an acceptance recorded by HR ------------------------------------------------------------


class DeclarationInFuture(AcceptanceError):
    pass


class DeclarationBeforeVersion(AcceptanceError):
    """The paper declaration is older than the version it would accept."""


class DeclarationExpired(AcceptanceError):
    """Its validity period would already be over: it would not make the person compliant."""

    def __init__(self, valid_until: date) -> None:
        super().__init__("the declaration's validity period has ended")
        self.valid_until = valid_until


def _moment(declared_on: date, now: datetime) -> datetime:
    """Where a declaration made on that day goes in the order of events (it has no time:
    the acceptance stores the day alone as accepted_on): now if today, else midday in
    London (so the day is right whatever the clocks do)."""
    if declared_on >= london_date(now):
        return now
    return datetime.combine(declared_on, time(12), tzinfo=LONDON).astimezone(UTC)


def check_paper_declaration(
    session: Session,
    org: Organisation,
    person: Person,
    version: PolicyVersion,
    when: Today,
    declared_on: date,
    now: datetime,
) -> date:
    """Whether a declaration made that day can be recorded (raises why not); the last day
    the acceptance would be valid. Writes nothing: HR's check page shows it."""
    if declared_on > london_date(now):
        raise DeclarationInFuture("the declaration date is in the future")
    if declared_on < version.effective_date:
        raise DeclarationBeforeVersion("the declaration is older than the policy version")
    status = person_status(session, person.organisation_id, person.id, version, when)
    previous = status.acceptance.valid_until if status.acceptance else None
    until = next_valid_until(declared_on, previous, validity_rule(org))
    if until < london_date(now):
        raise DeclarationExpired(until)
    return until


def record_paper_acceptance(
    session: Session,
    org: Organisation,
    person: Person,
    version: PolicyVersion,
    when: Today,
    recorded_by: Person,
    declared_on: date,
    note: str,
    now: datetime,
) -> Acceptance:
    """HR records an acceptance made outside the tool (a signed paper declaration), by its
    date alone: nobody recorded a time.

    Marked as recorded on behalf (who, and the note) and audited as
    "acceptance_recorded_by_hr". The note stays out of the audit event: it may name people,
    and audit events are never changed, not even when a leaver is anonymised.
    """
    check_paper_declaration(session, org, person, version, when, declared_on, now)
    status = person_status(session, person.organisation_id, person.id, version, when)
    return record_on_behalf(
        session,
        person,
        version,
        status,
        recorded_by,
        note,
        _moment(declared_on, now),
        validity_rule(org),
        recorded_at=now,
        day_only=True,
        details={"declared_on": declared_on.isoformat()},
    )


# -- legal hold ------------------------------------------------------------------------------


class ReasonRequired(ValueError):
    pass


def set_legal_hold(
    session: Session,
    person: Person,
    hold: bool,
    reason: str,
    now: datetime,
    *,
    actor_person_id: int | None = None,
    actor: str | None = None,
) -> bool:
    """Place or remove a legal hold (which stops anonymisation), with the reason why.
    Returns False when the person was already in that state (nothing is recorded)."""
    if not reason.strip():
        raise ReasonRequired("a reason is required")
    if person.legal_hold == hold:
        return False
    person.legal_hold = hold
    audit.record(
        session,
        person.organisation_id,
        "legal_hold_placed" if hold else "legal_hold_removed",
        now,
        actor_person_id=actor_person_id,
        actor=actor,
        subject_person_id=person.id,
        details={"reason": reason.strip()},
    )
    return True


# -- subject access --------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _columns(row: Any, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        c.key: _plain(getattr(row, c.key)) for c in row.__table__.columns if c.key not in leave_out
    }


def subject_access_export(
    session: Session, org: Organisation, person: Person, now: datetime, actor_person_id: int
) -> dict[str, Any]:
    """Everything the tool holds about one person (for a subject access request), as plain
    JSON values; the export itself is audited."""
    versions = {v.id: v for v in session.scalars(select(PolicyVersion))}
    contexts = {
        c.id: c
        for c in session.scalars(select(LmsContext).where(LmsContext.organisation_id == org.id))
    }
    manager = session.get(Person, person.manager_id) if person.manager_id else None
    launches = [
        {
            "at": _plain(launch.created_at),
            "role": launch.role.value,
            "lti_roles": launch.lti_roles,
            "course": contexts[launch.lms_context_id].title
            if launch.lms_context_id in contexts
            else None,
            "resource_link_id": launch.resource_link_id,
            "resource_link_title": launch.resource_link_title,
            "ip_address": launch.ip_address,
            "user_agent": launch.user_agent,
            "ended_at": _plain(launch.ended_at),
        }
        for launch in session.scalars(
            select(Launch).where(Launch.person_id == person.id).order_by(Launch.created_at)
        )
    ]
    reads = [
        {
            "policy_version": versions[r.version_id].version if r.version_id in versions else None,
            "cycle": r.cycle,
            "section": r.section_key,
            "first_read_at": _plain(r.first_read_at),
        }
        for r in session.scalars(
            select(SectionRead)
            .where(SectionRead.person_id == person.id)
            .order_by(SectionRead.first_read_at, SectionRead.id)
        )
    ]
    attempts = []
    for attempt in session.scalars(
        select(QuizAttempt).where(QuizAttempt.person_id == person.id).order_by(QuizAttempt.id)
    ):
        attempts.append(_attempt(attempt, versions))
    recorders = _names(
        session,
        {
            a.recorded_by_person_id
            for a in session.scalars(select(Acceptance).where(Acceptance.person_id == person.id))
            if a.recorded_by_person_id
        },
    )
    acceptances = [
        {
            **_columns(a, ("recorded_by_person_id", "organisation_id", "person_id")),
            "policy_version": versions[a.policy_version_id].version
            if a.policy_version_id in versions
            else None,
            "recorded_on_behalf_by": recorders.get(a.recorded_by_person_id)
            if a.recorded_by_person_id
            else None,
        }
        for a in session.scalars(
            select(Acceptance).where(Acceptance.person_id == person.id).order_by(Acceptance.id)
        )
    ]
    reminders = [
        _columns(r, ("organisation_id", "person_id", "sent_by_person_id", "dedupe_key"))
        for r in session.scalars(
            select(Reminder).where(Reminder.person_id == person.id).order_by(Reminder.id)
        )
    ]
    events = [
        {
            "seq": e.seq,
            "occurred_at": _plain(e.occurred_at),
            "action": e.action,
            "by_them": e.actor_person_id == person.id,
            "by": e.actor if e.actor_person_id is None else None,
            "details": e.details,
        }
        for e in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.organisation_id == org.id, AuditEvent.subject_person_id == person.id)
            .order_by(AuditEvent.seq)
        )
    ]
    export = {
        "about": "Everything the Corporate Parenting module holds about this person",
        "organisation": org.name,
        "generated_at": _plain(now),
        "person": {
            **_columns(person, ("organisation_id", "manager_id")),
            "manager": manager.display_name if manager else None,
        },
        "launches": launches,
        "section_reads": reads,
        "quiz_attempts": attempts,
        "acceptances": acceptances,
        "reminders": reminders,
        "audit_events": events,
    }
    # Check now that it serialises: a failure must not leave an audit event of an export
    # nobody received.
    json.dumps(export)
    audit.record(
        session,
        org.id,
        "subject_access_export",
        now,
        actor_person_id=actor_person_id,
        subject_person_id=person.id,
    )
    return export


def _attempt(attempt: QuizAttempt, versions: dict[int, PolicyVersion]) -> dict[str, Any]:
    bank = {q["id"]: q for q in attempt.bank.questions}
    submission = attempt.submission
    chosen = submission.answers if submission else {}
    results = {r["id"]: r["correct"] for r in submission.results} if submission else {}
    questions = []
    for item in attempt.drawn:
        question = bank.get(item["id"], {})
        texts = {o["id"]: o["text"] for o in question.get("options", [])}
        questions.append(
            {
                "id": item["id"],
                "question": question.get("stem"),
                "options": [texts.get(oid, oid) for oid in item["options"]],
                "answer": [texts.get(oid, oid) for oid in chosen.get(item["id"], [])],
                "correct": results.get(item["id"]),
            }
        )
    version = versions.get(attempt.policy_version_id)
    return {
        "policy_version": version.version if version else None,
        "cycle": attempt.cycle,
        "started_at": _plain(attempt.started_at),
        "deadline": _plain(attempt.deadline),
        "submitted_at": _plain(submission.submitted_at) if submission else None,
        "score": submission.score if submission else None,
        "total": submission.total if submission else None,
        "percent": submission.percent if submission else None,
        "passed": submission.passed if submission else None,
        "questions": questions,
    }


# -- retention and anonymisation -------------------------------------------------------------


def retention_years(person: Person, org: Organisation) -> int:
    return org.retention_years_childrens if person.childrens_workforce else org.retention_years


def retention_ends(person: Person, org: Organisation) -> date | None:
    """The day a leaver's records are due to be anonymised: the anniversary of leaving,
    the organisation's number of years later (more for the children's workforce). None for
    someone still in post, or whose leaving date is not known."""
    if person.active or person.left_on is None:
        return None
    return add_months(person.left_on, 12 * retention_years(person, org))


def due_for_anonymisation(session: Session, org: Organisation, today: date) -> list[Person]:
    """Leavers whose retention period has ended by `today`, not on legal hold and not yet
    anonymised, longest gone first."""
    candidates = session.scalars(
        select(Person)
        .where(
            Person.organisation_id == org.id,
            Person.active.is_(False),
            Person.left_on.isnot(None),
            Person.legal_hold.is_(False),
            Person.anonymised_at.is_(None),
        )
        .order_by(Person.left_on, Person.id)
    )
    due = []
    for person in candidates:
        ends = retention_ends(person, org)
        if ends is not None and ends <= today:
            due.append(person)
    return due


class OnLegalHold(Exception):
    pass


class NotDue(Exception):
    """The database refused: not a leaver, or their retention has not ended."""


# SQLSTATEs raised by anonymise_leaver() (migration 0010) when it refuses.
_REFUSALS = {
    "CPM01": NotDue,
    "CPM02": OnLegalHold,
    "CPM03": NotDue,
    "CPM04": NotDue,
    "CPM05": NotDue,
}
_ANONYMISE_LEAVER = text("SELECT anonymise_leaver(:person, :actor, :actor_person)")


def anonymise(
    session: Session,
    person: Person,
    now: datetime,
    *,
    actor: str | None = "cli",
    actor_person_id: int | None = None,
) -> None:
    """Blank the person's personal details wherever the tool keeps them.

    Kept: the organisation unit, dates and flags the figures count by (directorate,
    department, start/assignment/leaving dates, children's workforce, elected member),
    section reads and quiz results, and every audit event (untouched, so the chain still
    verifies). On PostgreSQL the database does it, in anonymise_leaver() (migration 0010):
    the only way past the append-only acceptance table, it checks for itself that the
    person's retention has ended by the database's date, and writes the audit event (at the
    database's time, not `now`). SQLite, the single-user demo database, does it here.
    """
    if person.legal_hold:
        raise OnLegalHold(f"person {person.id} is on legal hold")
    if person.anonymised_at is not None:
        return
    org_id, person_id = person.organisation_id, person.id
    if dialect_name(session) == "postgresql":
        session.flush()
        try:
            # A savepoint, so that a refusal leaves the caller's transaction usable.
            with session.begin_nested():
                session.execute(
                    _ANONYMISE_LEAVER,
                    {"person": person_id, "actor": actor, "actor_person": actor_person_id},
                )
        except DBAPIError as exc:
            refusal = _REFUSALS.get(getattr(exc.orig, "sqlstate", None) or "")
            if refusal is None:
                raise
            message = getattr(getattr(exc.orig, "diag", None), "message_primary", None)
            raise refusal(message or str(exc.orig)) from exc
        session.expire_all()
        return
    org = session.get(Organisation, org_id)
    assert org is not None
    years = retention_years(person, org)
    ends = retention_ends(person, org)
    if ends is None or ends > london_date(now):
        # The same rule anonymise_leaver() applies on PostgreSQL.
        raise NotDue(f"person {person_id}: retention ends on {ends or 'a date not yet known'}")
    for field in (
        "given_name",
        "family_name",
        "email",
        "employee_id",
        "first_name",
        "last_name",
        "job_title",
        "issuer",
        "subject",
        "manager_id",
    ):
        setattr(person, field, None)
    person.name = ""
    person.last_lti_roles = []
    person.anonymised_at = now
    session.flush()

    session.execute(
        update(Acceptance)
        .where(Acceptance.person_id == person_id)
        .values(typed_name="", ip_address=None, user_agent=None, recorded_note=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Launch)
        .where(Launch.person_id == person_id)
        .values(ip_address=None, user_agent=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Reminder)
        .where(Reminder.person_id == person_id)
        .values(to_address="", cc_address=None, subject="", last_error=None, details={})
        .execution_options(synchronize_session=False)
    )
    accepted = select(Acceptance.id).where(Acceptance.person_id == person_id)
    session.execute(
        update(ScoreOutbox)
        .where(ScoreOutbox.acceptance_id.in_(accepted))
        .values(user_id="")
        .execution_options(synchronize_session=False)
    )
    # Rows already loaded in this session must not keep the old values.
    session.expire_all()
    audit.record(
        session,
        org_id,
        "person_anonymised",
        now,
        actor=actor,
        actor_person_id=actor_person_id,
        subject_person_id=person_id,
        details={"retention_years": years},
    )
