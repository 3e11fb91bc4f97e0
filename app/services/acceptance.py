"""Recording the acceptance of a policy version: the evidence HR relies on.

It holds who, which version (and the hash of its text), the exact declaration and its
hash, the quiz pass it follows, when (UTC), from where (IP, browser, LMS placement), and a
verification code for the certificate. One per person, version and validity period: the
database refuses a second, so a double submit or a second tab records nothing more.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import false, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.clock import london_date, long_date
from app.db import dialect_name, table
from app.models import Acceptance, Person, PolicyVersion, QuizSubmission
from app.services import audit
from app.services.policies import VersionView
from app.services.status import PersonStatus, State, Validity, next_valid_until

# No 0/O or 1/I/L: people read these codes off paper.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class AcceptanceError(Exception):
    pass


class NameMismatch(AcceptanceError):
    def __init__(self, expected: str) -> None:
        super().__init__("typed name does not match")
        self.expected = expected


class NotReady(AcceptanceError):
    """There is no quiz pass awaiting acceptance in the current journey."""


class AlreadyAccepted(AcceptanceError):
    def __init__(self, acceptance: Acceptance) -> None:
        super().__init__("already accepted")
        self.acceptance = acceptance


def normalise_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


# Titles people put before their name ("Cllr Jo Evans"): written with or without a full stop.
TITLES = frozenset(
    {"cllr", "councillor", "dr", "mr", "mrs", "ms", "miss", "mx", "prof", "sir", "dame", "rev"}
)


def without_title(normalised: str) -> str:
    """The name after one leading title, if it starts with one; else the name as it is."""
    first, _, rest = normalised.partition(" ")
    return rest if first.removesuffix(".") in TITLES and rest else normalised


def names_match(typed: str, on_record: str) -> bool:
    """The same name, ignoring case and extra spaces (and Unicode look-alike forms), with or
    without a title before it. A title alone is not a name."""
    if not typed.strip():
        return False
    name = normalise_name(on_record)
    given = normalise_name(typed)
    return given == name or without_title(given) == name


def declaration_text(version: PolicyVersion | VersionView, elected_member: bool = False) -> str:
    """What the person declares, stored and hashed with their acceptance exactly as shown.
    Councillors accept it as part of their office, not of employment; the staff wording has
    not changed since the first acceptances, so their hashes still match."""
    accepted = (
        f"I have read, understood and accept the {version.title}, version "
        f"{version.version}, effective {long_date(version.effective_date)}"
    )
    if elected_member:
        return accepted + ", as part of my duties as an elected member of the council."
    return accepted + "."


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(10))


def format_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


@dataclass(frozen=True)
class Where:
    """Where the acceptance was made from."""

    ip_address: str | None = None
    user_agent: str | None = None
    launch_id: int | None = None
    lms_context_id: int | None = None
    resource_link_id: str | None = None


def record_acceptance(
    session: Session,
    person: Person,
    version: PolicyVersion | VersionView,
    status: PersonStatus,
    typed_name: str,
    rule: Validity,
    now: datetime,
    where: Where,
    *,
    details: dict[str, Any] | None = None,
) -> Acceptance:
    """Record it, and its audit event ("acceptance", with `details` added to the event's)."""
    if status.state is State.CERTIFIED:
        assert status.acceptance is not None
        raise AlreadyAccepted(status.acceptance)
    if status.passed is None:
        raise NotReady("pass the quiz first")
    if not names_match(typed_name, person.name):
        raise NameMismatch(person.name)
    return _insert(
        session,
        person,
        version,
        status,
        typed_name.strip(),
        rule,
        now,
        where,
        submission=status.passed,
        event=("acceptance", now, person.id, details or {}),
    )


def record_on_behalf(
    session: Session,
    person: Person,
    version: PolicyVersion | VersionView,
    status: PersonStatus,
    recorded_by: Person,
    note: str,
    accepted_at: datetime,
    rule: Validity,
    *,
    recorded_at: datetime | None = None,
    day_only: bool = False,
    details: dict[str, Any] | None = None,
) -> Acceptance:
    """HR records an acceptance made outside the tool (a signed paper declaration), audited
    as "acceptance_recorded_by_hr" at `recorded_at` (default: accepted_at). day_only: only
    the day of accepted_at is known (stored as accepted_on; accepted_at then only orders it)."""
    if not note.strip():
        raise AcceptanceError("a note saying how the acceptance was made is required")
    if status.state is State.CERTIFIED:
        assert status.acceptance is not None
        raise AlreadyAccepted(status.acceptance)
    row = _insert(
        session,
        person,
        version,
        status,
        person.name,
        rule,
        accepted_at,
        Where(),
        submission=None,
        recorded_by=recorded_by,
        note=note.strip(),
        accepted_on=london_date(accepted_at) if day_only else None,
        event=(
            "acceptance_recorded_by_hr",
            recorded_at or accepted_at,
            recorded_by.id,
            details or {},
        ),
    )
    return row


def _insert(
    session: Session,
    person: Person,
    version: PolicyVersion | VersionView,
    status: PersonStatus,
    typed_name: str,
    rule: Validity,
    accepted_at: datetime,
    where: Where,
    *,
    submission: QuizSubmission | None,
    event: tuple[str, datetime, int, dict[str, Any]],
    recorded_by: Person | None = None,
    note: str | None = None,
    accepted_on: date | None = None,
) -> Acceptance:
    previous_until = status.acceptance.valid_until if status.acceptance else None
    text = declaration_text(version, person.elected_member)
    row = Acceptance(
        person_id=person.id,
        organisation_id=person.organisation_id,
        policy_version_id=version.id,
        cycle=status.cycle,
        content_hash=version.content_hash,
        declaration_text=text,
        declaration_hash=sha256(text),
        quiz_submission_id=submission.id if submission else None,
        quiz_score=submission.percent if submission else None,
        typed_name=typed_name,
        accepted_at=accepted_at,
        accepted_on=accepted_on,
        valid_until=next_valid_until(london_date(accepted_at), previous_until, rule),
        ip_address=(where.ip_address or "")[:64] or None,
        user_agent=(where.user_agent or "")[:500] or None,
        launch_id=where.launch_id,
        lms_context_id=where.lms_context_id,
        resource_link_id=where.resource_link_id,
        verification_code=new_code(),
        recorded_by_person_id=recorded_by.id if recorded_by else None,
        recorded_note=note,
    )
    action, occurred_at, actor_id, extra = event
    try:
        # The audit event first, so the row (append-only: never updated) can carry its seq
        # and hash; the event names the row by the id taken for it. Both or neither: a
        # refused insert rolls the event back with it.
        with session.begin_nested():
            row.id = _new_id(session)
            appended = audit.record(
                session,
                person.organisation_id,
                action,
                occurred_at,
                actor_person_id=actor_id,
                subject_person_id=person.id,
                details={
                    "acceptance": row.id,
                    "version": version.version,
                    "content_hash": row.content_hash,
                    "declaration_hash": row.declaration_hash,
                    "quiz_score": row.quiz_score,
                    "valid_until": row.valid_until.isoformat(),
                    **extra,
                },
            )
            row.audit_seq, row.audit_hash = appended.seq, appended.hash
            session.add(row)
    except IntegrityError as exc:
        existing = session.scalars(
            select(Acceptance).where(
                Acceptance.person_id == person.id,
                Acceptance.policy_version_id == version.id,
                Acceptance.cycle == status.cycle,
            )
        ).first()
        if existing is None:
            raise
        raise AlreadyAccepted(existing) from exc
    return row


def _new_id(session: Session) -> int:
    if dialect_name(session) == "postgresql":
        query = text("SELECT nextval(pg_get_serial_sequence('acceptance', 'id'))")
        return int(session.execute(query).scalar_one())
    # SQLite has one writer: take the write lock first (a write of no rows takes it, waiting
    # for a concurrent writer to commit), so the highest id read next stays the highest.
    rows = table(Acceptance)
    session.execute(update(rows).where(false()).values(id=rows.c.id))
    return int(session.scalar(select(func.max(rows.c.id))) or 0) + 1


def by_code(session: Session, organisation_id: int, code: str) -> Acceptance | None:
    cleaned = "".join(c for c in code.upper() if c in CODE_ALPHABET)
    return session.scalars(
        select(Acceptance).where(
            Acceptance.verification_code == cleaned, Acceptance.organisation_id == organisation_id
        )
    ).first()
