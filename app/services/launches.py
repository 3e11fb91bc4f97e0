"""Recording a valid launch: the person, their course, and the visit (server-side session).

A launch is on every learner's path, so it is written with single-statement upserts
(INSERT ... ON CONFLICT ... RETURNING) rather than read-then-write: fewer round trips, and
two first launches racing for the same person or course cannot collide.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.clock import london_date, utcnow
from app.db import DIALECT_INSERT, table
from app.models import Launch, LmsContext, Organisation, Person, Role
from app.services import audit, identities
from app.services.organisations import OrganisationView
from lti.context import LaunchContext


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class RecordedLaunch:
    id: int
    person_id: int
    organisation_id: int
    token: str


# Statements on every launch are built once and reused with parameters: building and
# cache-keying a fresh INSERT ... ON CONFLICT costs more CPU than running it.
@cache
def _person_upsert(dialect: str) -> Any:
    person = table(Person)
    stmt = DIALECT_INSERT[dialect](person)
    new = stmt.excluded
    # For people HR's roster manages (they have an employee id), the roster is the record of
    # name and e-mail: a user can change both in the LMS. For everyone else the LMS is the
    # source of truth: people marry, correct typos, change e-mail. An LMS that withholds a
    # claim (privacy settings) does not blank what we already know. (given_name and
    # family_name are the LMS's own words, kept for HR's review of joins.)
    roster_managed = person.c.employee_id.isnot(None)
    return stmt.on_conflict_do_update(
        index_elements=[person.c.organisation_id, person.c.issuer, person.c.subject],
        set_={
            "name": case(
                (roster_managed, person.c.name),
                else_=func.coalesce(func.nullif(new.name, ""), person.c.name),
            ),
            "given_name": func.coalesce(new.given_name, person.c.given_name),
            "family_name": func.coalesce(new.family_name, person.c.family_name),
            "email": case(
                (roster_managed, person.c.email),
                else_=func.coalesce(new.email, person.c.email),
            ),
            "last_lti_roles": new.last_lti_roles,
            "last_launch_at": new.last_launch_at,
            # Only an LMS that says so changes it; otherwise the roster's word stands.
            "elected_member": case(
                (bindparam("elected_member_claimed", type_=Boolean), new.elected_member),
                else_=person.c.elected_member,
            ),
        },
    ).returning(person.c.id, person.c.first_seen_at)


@cache
def _context_upsert(dialect: str) -> Any:
    contexts = table(LmsContext)
    stmt = DIALECT_INSERT[dialect](contexts)
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[contexts.c.deployment_id, contexts.c.context_id],
        set_={
            "title": func.coalesce(new.title, contexts.c.title),
            "label": func.coalesce(new.label, contexts.c.label),
            "last_seen_at": new.last_seen_at,
        },
    ).returning(contexts.c.id)


_LAUNCH_INSERT = insert(table(Launch)).returning(table(Launch).c.id)
_launches, _people, _orgs = table(Launch), table(Person), table(Organisation)
_report = _people.alias("report")
# Every page loads the visit: one joined row of Core columns (no ORM work), with what every
# page needs (the organisation's settings, whether the menu offers a team) so that pages
# need not query for them again.
_VISIT_BY_TOKEN = (
    select(
        _launches.c.id,
        _launches.c.role,
        _launches.c.lms_context_id,
        _launches.c.resource_link_id,
        _launches.c.return_url,
        _launches.c.expires_at,
        _launches.c.ended_at,
        _launches.c.mentee_subs,
        _people.c.id.label("person_id"),
        _people.c.name,
        _people.c.email,
        _people.c.elected_member,
        _people.c.first_seen_at,
        exists()
        .where(
            _report.c.organisation_id == _launches.c.organisation_id,
            _report.c.manager_id == _launches.c.person_id,
            _report.c.active.is_(True),
            # A join HR has not confirmed carries none of the roster's rights.
            or_(_people.c.joined_by.is_(None), _people.c.join_confirmed_at.isnot(None)),
        )
        .label("has_reports"),
        _orgs.c.id.label("organisation_id"),
        _orgs.c.name.label("organisation_name"),
        _orgs.c.content_values,
        _orgs.c.quiz_settings,
        _orgs.c.due_days,
        _orgs.c.due_from,
        _orgs.c.validity_months,
        _orgs.c.renewal_window_days,
        _orgs.c.renewal_basis,
    )
    .join(_people, _people.c.id == _launches.c.person_id)
    .join(_orgs, _orgs.c.id == _launches.c.organisation_id)
    .where(_launches.c.session_token_hash == bindparam("token_hash"))
)


@dataclass(frozen=True)
class VisitInfo:
    """A live visit: who, in which role, for which organisation and LMS placement."""

    launch_id: int
    role: Role
    person_id: int
    name: str
    email: str | None
    organisation: OrganisationView
    lms_context_id: int | None
    resource_link_id: str
    return_url: str | None
    elected_member: bool
    first_seen_at: datetime
    # Someone reports to them in HR's roster; or the LMS named people they mentor (who
    # may not all be known here yet: see teams.mentees_of).
    has_reports: bool
    mentor_scope: bool


def upsert_person(session: Session, ctx: LaunchContext, now: datetime) -> int:
    params = {
        "organisation_id": ctx.organisation_id,
        "issuer": ctx.issuer,
        "subject": ctx.subject,
        "name": ctx.name,
        "given_name": ctx.given_name,
        "family_name": ctx.family_name,
        "email": ctx.email,
        "last_lti_roles": list(ctx.lti_roles),
        "first_seen_at": now,
        "last_launch_at": now,
        "assigned_on": london_date(now),
        "elected_member": ctx.elected_member is True,
        "elected_member_claimed": ctx.elected_member is not None,
    }
    # Core statements on the session's connection: the ORM's execution layer adds nothing here.
    conn = session.connection()
    person_id, first_seen = conn.execute(_person_upsert(conn.dialect.name), params).one()
    if first_seen == now:  # a first launch: perhaps HR's roster already knows them
        return claim_roster_entry(session, int(person_id), ctx, now) or int(person_id)
    return int(person_id)


# HR's roster entries (they have an employee id) that a first launch's keys match: at most
# one per key, as employee ids are unique and the roster's e-mails are. The organisation's
# join rule comes with them, so a first launch costs one statement to find its entry; which
# key counts is decided below (an OR of the indexed keys lets both databases use indexes).
_ROSTER_ENTRIES = (
    select(
        Person.id,
        Person.issuer,
        func.lower(Person.email).label("email"),
        Person.employee_id,
        select(Organisation.roster_join)
        .where(Organisation.id == bindparam("organisation_id"))
        .scalar_subquery()
        .label("rule"),
    )
    .where(
        Person.organisation_id == bindparam("organisation_id"),
        Person.employee_id.isnot(None),
        Person.id != bindparam("new_id"),
        or_(
            func.lower(Person.email) == bindparam("email"),
            Person.employee_id == bindparam("sourcedid"),
            Person.employee_id == bindparam("custom_employee_id"),
        ),
    )
    .order_by(Person.id)
    # Of two first launches racing for one entry, the second waits here and then sees it
    # linked: a clash, not a second link. (SQLite has one writer at a time anyway.)
    .with_for_update(of=Person)
)


def claim_roster_entry(
    session: Session, new_id: int, ctx: LaunchContext, now: datetime | None = None
) -> int | None:
    """Join a first launch to HR's roster entry for the same person, by the organisation's
    rule (identities.JOIN_RULES), so their progress and HR's details are one record.

    Returns the roster entry's id, or None when the newcomer stays a person of their own:
    no entry matched, the rule is "never", or the entry is already linked to another LMS
    identity (a clash, audited, for HR to review). An entry is never re-linked.
    """
    keys = {
        "email": ctx.email.lower() if ctx.email else None,
        "sourcedid": ctx.person_sourcedid or None,
        "custom_employee_id": ctx.custom.get("employee_id") or None,
    }
    if not any(keys.values()):
        return None
    # A NULL parameter matches nothing, so one statement serves any keys.
    rows = (
        session.connection()
        .execute(
            _ROSTER_ENTRIES, {"organisation_id": ctx.organisation_id, "new_id": new_id, **keys}
        )
        .all()
    )
    if not rows:
        return None
    rule = rows[0].rule
    matched = [r for r in rows if identities.key_matches(rule, r, keys)]
    if not matched:
        return None
    now = now or utcnow()
    free = next((r for r in matched if r.issuer is None), None)
    if free is None:
        identities.record_clash(session, ctx.organisation_id, new_id, matched[0].id, rule, now)
        return None
    trusted = rule in identities.TRUSTED_AT_ONCE
    session.execute(delete(Person).where(Person.id == new_id))
    values: dict[str, Any] = {
        "issuer": ctx.issuer,
        "subject": ctx.subject,
        "given_name": ctx.given_name,
        "family_name": ctx.family_name,
        "last_lti_roles": list(ctx.lti_roles),
        "last_launch_at": now,
        "joined_by": rule,
        "joined_at": now,
        "join_confirmed_at": now if trusted else None,
    }
    if ctx.elected_member is not None:
        values["elected_member"] = ctx.elected_member
    # issuer IS NULL again here: of two first launches racing for one entry, one wins.
    won = session.execute(
        update(Person).where(Person.id == free.id, Person.issuer.is_(None)).values(values)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        raise identities.JoinRaced(free.id)
    audit.record(
        session,
        ctx.organisation_id,
        "identity_join",
        now,
        actor_person_id=free.id,
        subject_person_id=free.id,
        details={"person": free.id, "by": rule, "confirmed": trusted},
    )
    return int(free.id)


def upsert_context(session: Session, ctx: LaunchContext, now: datetime) -> int | None:
    if ctx.context_id is None:
        return None
    params = {
        "organisation_id": ctx.organisation_id,
        "deployment_id": ctx.deployment_pk,
        "context_id": ctx.context_id,
        "title": ctx.context_title,
        "label": ctx.context_label,
        "first_seen_at": now,
        "last_seen_at": now,
    }
    conn = session.connection()
    return int(conn.execute(_context_upsert(conn.dialect.name), params).scalar_one())


def record_launch(
    session: Session,
    ctx: LaunchContext,
    *,
    now: datetime,
    session_hours: int,
    ip_address: str | None,
    user_agent: str | None,
) -> RecordedLaunch:
    """The launch row, and the raw session token for the browser (only its hash is kept)."""
    person_id = upsert_person(session, ctx, now)
    context_id = upsert_context(session, ctx, now)
    token = secrets.token_urlsafe(32)
    launch_id = (
        session.connection()
        .execute(
            _LAUNCH_INSERT,
            {
                "organisation_id": ctx.organisation_id,
                "person_id": person_id,
                "deployment_id": ctx.deployment_pk,
                "lms_context_id": context_id,
                "message_type": ctx.message_type,
                "resource_link_id": ctx.resource_link_id,
                "resource_link_title": ctx.resource_link_title,
                "role": ctx.role,
                "lti_roles": list(ctx.lti_roles),
                "ags_endpoint": ctx.ags_endpoint,
                "nrps_url": ctx.nrps_url,
                "mentee_subs": list(ctx.mentees) or None,
                "return_url": ctx.return_url,
                "document_target": ctx.document_target,
                "session_token_hash": token_hash(token),
                "created_at": now,
                "expires_at": now + timedelta(hours=session_hours),
                "ip_address": (ip_address or "")[:64] or None,
                "user_agent": (user_agent or "")[:500] or None,
            },
        )
        .scalar_one()
    )
    audit.record(
        session,
        ctx.organisation_id,
        "launch",
        now,
        actor_person_id=person_id,
        subject_person_id=person_id,
        details={
            "launch": int(launch_id),
            "role": ctx.role.value,
            "resource_link": ctx.resource_link_id,
            "context": ctx.context_id,
        },
    )
    return RecordedLaunch(int(launch_id), person_id, ctx.organisation_id, token)


def visit_for_token(session: Session, token: str, now: datetime) -> VisitInfo | None:
    """The live visit a session token belongs to; None if unknown, ended or expired."""
    # Every request: a Core statement on the connection, without the ORM's execution layer.
    row = session.connection().execute(_VISIT_BY_TOKEN, {"token_hash": token_hash(token)}).first()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    return VisitInfo(
        launch_id=row.id,
        role=row.role,
        person_id=row.person_id,
        name=row.name,
        email=row.email,
        organisation=OrganisationView(
            id=row.organisation_id,
            name=row.organisation_name,
            content_values=row.content_values or {},
            quiz_settings=row.quiz_settings or {},
            due_days=row.due_days,
            due_from=row.due_from,
            validity_months=row.validity_months,
            renewal_window_days=row.renewal_window_days,
            renewal_basis=row.renewal_basis,
        ),
        lms_context_id=row.lms_context_id,
        resource_link_id=row.resource_link_id,
        return_url=row.return_url,
        elected_member=row.elected_member,
        first_seen_at=row.first_seen_at,
        has_reports=bool(row.has_reports),
        mentor_scope=bool(row.mentee_subs),
    )


@dataclass(frozen=True)
class PendingHandOff:
    """Whom a cookie-less launch's "new window" link would sign in: shown before it is used."""

    launch_id: int
    name: str  # "" when the LMS sent no name (nor e-mail) and the roster has none
    organisation_name: str


def _hand_off_open(launch_id: int, now: datetime, lifetime: timedelta) -> list[Any]:
    # The link is good once, for `lifetime` after the launch, while the visit is live.
    return [
        Launch.id == launch_id,
        Launch.handed_off_at.is_(None),
        Launch.ended_at.is_(None),
        Launch.expires_at > now,
        Launch.created_at >= now - lifetime,
    ]


def pending_hand_off(
    session: Session, launch_id: int, now: datetime, lifetime: timedelta
) -> PendingHandOff | None:
    """The person a still-usable hand-off link belongs to; None if used, expired or ended.

    Reading it uses nothing up: a page forged on another site that posts someone's link
    neither signs the browser in nor spends the link.
    """
    found = session.execute(
        select(Launch.id, Person, Organisation.name)
        .join(Person, Person.id == Launch.person_id)
        .join(Organisation, Organisation.id == Launch.organisation_id)
        .where(*_hand_off_open(launch_id, now, lifetime))
    ).first()
    if found is None:
        return None
    launch, person, organisation_name = found
    return PendingHandOff(int(launch), person.display_name, organisation_name)


def hand_off(session: Session, launch_id: int, now: datetime, lifetime: timedelta) -> str | None:
    """Use a cookie-less launch's one-time "new window" link: the visit gets a new token.

    One UPDATE both checks and spends the link, so two windows racing get one winner. None
    if the link was used already, is older than `lifetime` or the visit has ended.
    """
    token = secrets.token_urlsafe(32)
    used = session.execute(
        update(Launch)
        .where(*_hand_off_open(launch_id, now, lifetime))
        .values(handed_off_at=now, session_token_hash=token_hash(token))
    )
    return token if used.rowcount == 1 else None  # type: ignore[attr-defined]


def renew_visit_token(
    session: Session, launch_id: int, now: datetime, lifetime: timedelta
) -> str | None:
    """A new session token for a cookie-less launch whose login was proven from platform
    storage, for the LMS's frame to try as a cookie. Unlike hand_off it spends nothing: if
    the frame refuses the cookie, the new-window link still works (and replaces it again).
    None if the launch was handed off, has ended, or is older than `lifetime`."""
    token = secrets.token_urlsafe(32)
    renewed = session.execute(
        update(Launch)
        .where(*_hand_off_open(launch_id, now, lifetime))
        .values(session_token_hash=token_hash(token))
    )
    return token if renewed.rowcount == 1 else None  # type: ignore[attr-defined]


def end_visit(session: Session, launch: Launch, now: datetime) -> None:
    launch.ended_at = now
