"""Recording a valid launch: the person, their course, and the visit (server-side session)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Launch, LmsContext, Person
from lti.context import LaunchContext


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def upsert_person(session: Session, ctx: LaunchContext, now: datetime) -> Person:
    person = session.scalars(
        select(Person).where(
            Person.organisation_id == ctx.organisation_id,
            Person.issuer == ctx.issuer,
            Person.subject == ctx.subject,
        )
    ).first()
    if person is None:
        person = Person(
            organisation_id=ctx.organisation_id,
            issuer=ctx.issuer,
            subject=ctx.subject,
            first_seen_at=now,
        )
        session.add(person)
    # The LMS is the source of truth for names: people marry, correct typos, change e-mail.
    # An LMS that withholds a claim (privacy settings) does not blank what we already know.
    if ctx.name:
        person.name = ctx.name
    person.given_name = ctx.given_name or person.given_name
    person.family_name = ctx.family_name or person.family_name
    person.email = ctx.email or person.email
    person.last_lti_roles = list(ctx.lti_roles)
    person.last_launch_at = now
    return person


def upsert_context(session: Session, ctx: LaunchContext, now: datetime) -> LmsContext | None:
    if ctx.context_id is None:
        return None
    row = session.scalars(
        select(LmsContext).where(
            LmsContext.deployment_id == ctx.deployment_pk, LmsContext.context_id == ctx.context_id
        )
    ).first()
    if row is None:
        row = LmsContext(
            organisation_id=ctx.organisation_id,
            deployment_id=ctx.deployment_pk,
            context_id=ctx.context_id,
            first_seen_at=now,
        )
        session.add(row)
    row.title = ctx.context_title or row.title
    row.label = ctx.context_label or row.label
    row.last_seen_at = now
    return row


def record_launch(
    session: Session,
    ctx: LaunchContext,
    *,
    now: datetime,
    session_hours: int,
    ip_address: str | None,
    user_agent: str | None,
) -> tuple[Launch, str]:
    """The launch row and the raw session token (only its hash is stored)."""
    person = upsert_person(session, ctx, now)
    lms_context = upsert_context(session, ctx, now)
    session.flush()
    token = secrets.token_urlsafe(32)
    launch = Launch(
        organisation_id=ctx.organisation_id,
        person_id=person.id,
        deployment_id=ctx.deployment_pk,
        lms_context_id=lms_context.id if lms_context else None,
        message_type=ctx.message_type,
        resource_link_id=ctx.resource_link_id,
        resource_link_title=ctx.resource_link_title,
        role=ctx.role,
        lti_roles=list(ctx.lti_roles),
        ags_endpoint=ctx.ags_endpoint,
        nrps_url=ctx.nrps_url,
        return_url=ctx.return_url,
        document_target=ctx.document_target,
        session_token_hash=token_hash(token),
        created_at=now,
        expires_at=now + timedelta(hours=session_hours),
        ip_address=(ip_address or "")[:64] or None,
        user_agent=(user_agent or "")[:500] or None,
    )
    session.add(launch)
    session.flush()
    launch.person = person
    return launch, token


def visit_for_token(session: Session, token: str, now: datetime) -> Launch | None:
    """The live visit a session token belongs to, with its person and organisation."""
    launch = session.scalars(
        select(Launch).where(Launch.session_token_hash == token_hash(token))
    ).first()
    if launch is None or launch.ended_at is not None or launch.expires_at <= now:
        return None
    return launch


def hand_off(session: Session, launch_id: int, now: datetime) -> tuple[Launch, str] | None:
    """Use a cookie-less launch's one-time "new window" link: the visit gets a new token.

    None if the link was used already or the visit has ended.
    """
    token = secrets.token_urlsafe(32)
    used = session.execute(
        update(Launch)
        .where(
            Launch.id == launch_id,
            Launch.handed_off_at.is_(None),
            Launch.ended_at.is_(None),
            Launch.expires_at > now,
        )
        .values(handed_off_at=now, session_token_hash=token_hash(token))
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        return None
    launch = session.get(Launch, launch_id)
    return (launch, token) if launch else None


def end_visit(session: Session, launch: Launch, now: datetime) -> None:
    launch.ended_at = now
