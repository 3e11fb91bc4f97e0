"""What the LMS tells us: OIDC login states, courses (contexts) and launches.

A launch is also the visit's server-side session: the browser holds only an opaque token
whose hash is stored here, so any app process can serve the visit and it can be ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UtcDateTime
from app.models.organisation import Organisation
from app.models.people import Person, Role


class LoginState(Base):
    """One OIDC login: its state and nonce, used at most once by a launch."""

    __tablename__ = "lti_login_state"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("platform_registration.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The platform offered its own storage (lti_storage_target): the frame or "_parent" the
    # login page kept the state and nonce in, and when a launch page read them back from
    # there (once) in place of the state cookie.
    storage_target: Mapped[str | None] = mapped_column(String(64))
    storage_proven_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LmsContext(Base):
    """A course (LTI context) in which the tool was launched."""

    __tablename__ = "lms_context"
    __table_args__ = (UniqueConstraint("deployment_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"))
    context_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(500))
    label: Mapped[str | None] = mapped_column(String(255))
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # When `roster sync-lms` last read its membership (course_member); None: never.
    members_synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CourseMember(Base):
    """Someone enrolled in an LMS course, as the course's membership (NRPS) last said.

    Written by `flask roster sync-lms`, never during a request: a teacher's page reads it,
    so that no page waits on the LMS. Rows go when the person leaves the course."""

    __tablename__ = "course_member"
    __table_args__ = (UniqueConstraint("lms_context_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    # The course: its deployment says which platform (issuer), its context_id which course.
    lms_context_id: Mapped[int] = mapped_column(ForeignKey("lms_context.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)  # as the LMS sent them
    learner: Mapped[bool] = mapped_column(Boolean)  # holds a course Learner role
    synced_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Launch(Base):
    __tablename__ = "launch"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"))
    lms_context_id: Mapped[int | None] = mapped_column(ForeignKey("lms_context.id"))
    message_type: Mapped[str] = mapped_column(String(50))
    resource_link_id: Mapped[str] = mapped_column(String(255))
    resource_link_title: Mapped[str | None] = mapped_column(String(500))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    lti_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The AGS endpoint claim and NRPS URL, kept so grades and rosters can be fetched later.
    ags_endpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    nrps_url: Mapped[str | None] = mapped_column(String(1000))
    # LTI Mentor role scope: the LMS user ids this person mentors (their team, if no roster).
    mentee_subs: Mapped[list[str] | None] = mapped_column(JSON)
    return_url: Mapped[str | None] = mapped_column(String(1000))
    document_target: Mapped[str | None] = mapped_column(String(20))
    session_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set when the "open in a new window" link of a cookie-less launch has been used.
    handed_off_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))

    person: Mapped[Person] = relationship(lazy="joined", innerjoin=True)
    organisation: Mapped[Organisation] = relationship(lazy="joined", innerjoin=True)
    lms_context: Mapped[LmsContext | None] = relationship()
