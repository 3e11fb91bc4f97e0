"""People known to the tool: one row per LTI identity (issuer, subject) within an organisation."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UtcDateTime


class Role(enum.StrEnum):
    """What a person may do in the tool during one visit, mapped from their LTI roles."""

    LEARNER = "learner"
    MANAGER = "manager"
    HR = "hr"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {"learner": "Learner", "manager": "Manager", "hr": "HR", "admin": "Administrator"}[
            self.value
        ]


class Person(Base):
    """Someone who must complete the module: known from the LMS (an LTI identity), from HR's
    roster (an employee id), or both once matched by e-mail or employee id."""

    __tablename__ = "person"
    __table_args__ = (
        UniqueConstraint("organisation_id", "issuer", "subject"),
        UniqueConstraint("organisation_id", "employee_id"),
        # HR's filters list an organisation's directorates and departments from this alone.
        Index("ix_person_units", "organisation_id", "directorate", "department"),
        # A first launch looks for its roster entry by e-mail, in any case: without this, a
        # scan of the organisation's people on every first launch.
        Index("ix_person_email_lower", "organisation_id", func.lower(text("email"))),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    # The LTI identity; empty for someone on the roster who has never launched.
    issuer: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(300), default="")
    given_name: Mapped[str | None] = mapped_column(String(150))
    family_name: Mapped[str | None] = mapped_column(String(150))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    last_lti_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Councillors and officers accept the same policy but read some different sections.
    elected_member: Mapped[bool] = mapped_column(default=False, server_default=false())
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_launch_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    # -- from HR's roster --------------------------------------------------------------------
    employee_id: Mapped[str | None] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(150))
    last_name: Mapped[str | None] = mapped_column(String(150))
    directorate: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(200))
    job_title: Mapped[str | None] = mapped_column(String(200))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), index=True)
    start_date: Mapped[date | None] = mapped_column(Date)
    # Children's workforce records are kept longer (commonly 25 years after leaving).
    childrens_workforce: Mapped[bool] = mapped_column(default=False, server_default=false())
    # A councillor on the Corporate Parenting Committee (HR's roster): listed first in the
    # committee report.
    committee_member: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Leavers stay, inactive: their records are evidence until retention ends.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    left_on: Mapped[date | None] = mapped_column(Date)
    # Enrolled in an LMS course with the module (from Names and Role Provisioning).
    in_lms: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When the module was assigned (first seen by roster, LMS membership or launch).
    assigned_on: Mapped[date | None] = mapped_column(Date)
    legal_hold: Mapped[bool] = mapped_column(default=False, server_default=false())
    anonymised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    # -- how an LMS identity came to be joined to this roster entry ---------------------------
    # "sourcedid", "email" or "employee_id": the organisation's join rule at the first
    # launch (see services/identities.py). Empty if never joined by a launch.
    joined_by: Mapped[str | None] = mapped_column(String(20))
    joined_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Rights that come from the roster (a manager's team) wait for this: set by HR on the
    # identities page, or at once for an identifier only the LMS's administrators set.
    join_confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A first launch whose key matched this roster entry, already linked to another LMS
    # identity: the newcomer stays separate and HR reviews it. Cleared when HR has.
    clash_with_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))

    @property
    def roster_managed(self) -> bool:
        """HR's roster is the record of this person's name, e-mail and manager: the LMS's
        word does not overwrite them (an employee id comes only from the roster)."""
        return self.employee_id is not None

    @property
    def display_name(self) -> str:
        roster = " ".join(p for p in (self.first_name, self.last_name) if p)
        return self.name or roster or (self.email or "")
