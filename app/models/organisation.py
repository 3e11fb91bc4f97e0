"""Organisations (tenants: one council each) and their LTI role overrides."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import utcnow
from app.db import Base, UtcDateTime
from app.models.people import Role


class Organisation(Base):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Local details the policy text refers to ({{board_name}} and the like): configuration,
    # so that councils never edit the policy's wording to put their own names in.
    content_values: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Days from a person's assignment (first launch, or roster start) to their due date.
    due_days: Mapped[int] = mapped_column(default=28, server_default="28")
    # The organisation's own quiz rules, where they differ from the question bank's
    # (pass_mark, max_attempts, cooldown_minutes, time_limit_minutes).
    quiz_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # How long an acceptance lasts, when renewal opens, and what the next period counts
    # from: "expiry" (the previous expiry: dates stay put) or "completion" (they drift).
    validity_months: Mapped[int] = mapped_column(default=12, server_default="12")
    renewal_window_days: Mapped[int] = mapped_column(default=30, server_default="30")
    renewal_basis: Mapped[str] = mapped_column(
        String(20), default="expiry", server_default="expiry"
    )
    # The due date counts from the roster's start date, or from assignment (first seen).
    due_from: Mapped[str] = mapped_column(
        String(20), default="assignment", server_default="assignment"
    )
    # Years to keep a leaver's records before they are anonymised; longer for the children's
    # workforce (safeguarding). Legal holds stop it.
    retention_years: Mapped[int] = mapped_column(default=6, server_default="6")
    retention_years_childrens: Mapped[int] = mapped_column(default=25, server_default="25")
    # How a first launch is joined to HR's roster entry: "sourcedid" (the LMS's
    # lis_person_sourcedid, Moodle's ID number, set by administrators only), "email",
    # "employee_id" (a custom parameter) or "never" (HR links by hand). See identities.py.
    roster_join: Mapped[str] = mapped_column(
        String(20), default="sourcedid", server_default="sourcedid"
    )
    # The module's address in the council's LMS, for e-mails (https, nothing secret in it:
    # settings.py checks). Empty: e-mails name the learning portal in words, with no link.
    lms_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    # Reminders: wording, how often, and whether managers are copied in (see reminders).
    reminder_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The committee report (services/committee.py): the completion the forecast aims at,
    # whether councillors who have not completed are named in it (off: see the README), and
    # its schedule (day of the month, 0 = not sent; the period; who receives it).
    report_target_percent: Mapped[int] = mapped_column(default=95, server_default="95")
    report_councillor_names: Mapped[str] = mapped_column(
        String(10), default="hidden", server_default="hidden"
    )
    report_day: Mapped[int] = mapped_column(default=0, server_default="0")
    report_period: Mapped[str] = mapped_column(
        String(10), default="quarter", server_default="quarter"
    )
    report_recipients: Mapped[str] = mapped_column(String(2000), default="", server_default="")

    role_mappings: Mapped[list[RoleMapping]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan"
    )


class RoleMapping(Base):
    """An organisation's own reading of an LTI role (e.g. a custom Totara role -> manager)."""

    __tablename__ = "role_mapping"
    __table_args__ = (UniqueConstraint("organisation_id", "lti_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    lti_role: Mapped[str] = mapped_column(String(500))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )

    organisation: Mapped[Organisation] = relationship(back_populates="role_mappings")


class CommitteeReportSent(Base):
    """That an organisation's scheduled committee report went out for a month: once each."""

    __tablename__ = "committee_report_sent"
    __table_args__ = (UniqueConstraint("organisation_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, in London
    report_date: Mapped[date] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(10))
    recipients: Mapped[str] = mapped_column(String(2000))
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
