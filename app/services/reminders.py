"""Reminders: who is due one, recording each, and sending them (retried, never dropped).

A reminder is a row before it is an e-mail: chosen by a manager, or due by the
organisation's schedule (on assignment, 7 days before the due date, on the day, weekly
while overdue; for renewals when the window opens and 7 days before expiry; a weekly
digest to managers; a notice when someone has used all their quiz attempts). Scheduled
rows carry a key that makes them unique, so running the schedule twice sends nothing twice.
A person is not reminded more often than the organisation's interval allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.clock import london_date
from app.models import Organisation, Person, QuizAttempt, QuizSubmission, Reminder
from app.services import audit, jobs
from app.services.mail import Mailer, MailError
from app.services.policies import sections_for
from app.services.progress import estimated_minutes
from app.services.reports import OPEN, Filters, Scope, people_frame
from app.services.status import State

DEFAULTS: dict[str, Any] = {
    "min_interval_days": 5,  # a person is reminded at most once in this many days
    "manager_copy": False,  # copy the manager in on overdue and expired reminders
    "schedule": True,  # `flask reminders run` sends the scheduled reminders
    "digest": True,  # a weekly list of overdue people to each manager
    "subject": "",  # the council's own subject line (else the standard one)
    "message": "",  # the council's own paragraph, shown above the details
}
MAX_TRIES = 6
BACKOFF_MINUTES = [5, 15, 60, 240, 720]
# A reminder claimed for sending is not due again for this long: longer than a send takes
# (the SMTP connection times out after 10 s), so one left by a run that died goes next time.
LEASE = timedelta(minutes=10)
PERSON_KINDS = (
    "manual",
    "assigned",
    "due_soon",
    "due_today",
    "overdue",
    "renewal_open",
    "renewal_soon",
    "expired",
)


def settings_of(org: Organisation) -> dict[str, Any]:
    return {**DEFAULTS, **(org.reminder_settings or {})}


@dataclass(frozen=True)
class Draft:
    """A reminder to create: who, why, and the facts its e-mail will show."""

    person_id: int
    kind: str
    to: str
    name: str
    dedupe_key: str | None = None
    cc: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


# (kind, facts, settings) -> (subject, plain text, HTML); supplied by the app (templates).
Renderer = Callable[[str, dict[str, Any], dict[str, Any]], tuple[str, str, str]]


def remindable_from(last: datetime, settings: dict[str, Any]) -> date:
    """The first day someone reminded at `last` may be reminded again: the interval counts
    in whole London days, so that a page can name the day and be right all of it."""
    return london_date(last) + timedelta(days=settings["min_interval_days"])


def too_soon(last: datetime | None, now: datetime, settings: dict[str, Any]) -> bool:
    return last is not None and london_date(now) < remindable_from(last, settings)


def last_reminded(session: Session, person_ids: Iterable[int]) -> dict[int, datetime]:
    ids = list(person_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Reminder.person_id, func.max(Reminder.created_at))
        .where(Reminder.person_id.in_(ids), Reminder.kind.in_(PERSON_KINDS))
        .group_by(Reminder.person_id)
    ).all()
    return {pid: when for pid, when in rows}


def _day(value: Any) -> date | None:
    """A date from a pandas row; missing dates are NaT there (which is a datetime)."""
    if value is None or pd.isna(value):
        return None
    return value if isinstance(value, date) else None


def _text(value: Any) -> str:
    """A cell from a pandas row as text (missing values are NaN there)."""
    return value if isinstance(value, str) else ""


def _name(row: dict[str, Any]) -> str:
    return f"{_text(row['first_name'])} {_text(row['last_name'])}".strip()


def _week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def minutes_by_audience(session: Session, scope: Scope) -> dict[bool, int]:
    """About how long the module takes a councillor (True) and a staff member (False)."""
    from app.services.question_bank import current_bank

    bank = current_bank(session, scope.version.policy_id)
    questions = int(bank.settings["questions_per_attempt"]) if bank is not None else 0
    return {
        elected: estimated_minutes(sections_for(scope.version, elected), questions)
        for elected in (True, False)
    }


def _facts(row: dict[str, Any], minutes: dict[bool, int]) -> dict[str, Any]:
    return {
        "status": row["status"],
        "state": row["state"],
        "due_date": due.isoformat() if (due := _day(row["due_date"])) else None,
        "valid_until": until.isoformat() if (until := _day(row["valid_until"])) else None,
        "councillor": row["elected_member"] == "Yes",
        "minutes": minutes[row["elected_member"] == "Yes"],
        "overdue": bool(row["overdue"]),
    }


@dataclass(frozen=True)
class Skipped:
    """Someone a manager chose who will not be reminded, and why (the page words it)."""

    person_id: int
    name: str
    reason: str  # "completed", "no_email" or "too_soon"
    last: datetime | None = None  # too_soon: when they were last reminded
    again_on: date | None = None  # too_soon: the first day they can be reminded again


@dataclass
class Selection:
    drafts: list[Draft] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def choose_manual(
    session: Session,
    scope: Scope,
    person_ids: list[int],
    now: datetime,
    sender: str | None = None,
) -> Selection:
    """Reminders a manager (named in the e-mail as `sender`) asked for: only people who
    have not completed, who have an e-mail address, and who were not reminded too recently."""
    settings = settings_of(scope.organisation)
    frame = people_frame(session, scope, Filters(person_ids=tuple(person_ids)))
    last = last_reminded(session, person_ids)
    minutes = minutes_by_audience(session, scope)
    selection = Selection()
    for row in frame.to_dict("records"):
        pid = int(row["person_id"])
        name = _name(row)
        if row["state"] in (State.CERTIFIED.value,):
            selection.skipped.append(Skipped(pid, name, "completed"))
        elif not _text(row["email"]):
            selection.skipped.append(Skipped(pid, name, "no_email"))
        elif too_soon(last.get(pid), now, settings):
            when = last[pid]
            selection.skipped.append(
                Skipped(pid, name, "too_soon", when, remindable_from(when, settings))
            )
        else:
            facts = {**_facts(row, minutes), "sender": sender or ""}
            selection.drafts.append(Draft(pid, "manual", row["email"], name, facts=facts))
    return selection


@dataclass(frozen=True)
class OverdueSummary:
    """What a manager's team looks like for "remind everyone who is overdue"."""

    overdue: int
    first_due: date | None  # the earliest due date of those still to complete; None: nobody
    all_completed: bool


def overdue_summary(frame: pd.DataFrame) -> OverdueSummary:
    """From a team's people_frame (unfiltered by status): who is overdue, and if nobody
    is, when the first of those still to complete is due."""
    rows = frame.to_dict("records")
    overdue = sum(1 for r in rows if bool(r["overdue"]))
    open_due = [d for r in rows if r["state"] in OPEN and (d := _day(r["due_date"]))]
    completed = (State.CERTIFIED.value, State.DUE_FOR_RENEWAL.value)
    return OverdueSummary(
        overdue=overdue,
        first_due=min(open_due) if open_due else None,
        all_completed=bool(rows) and all(r["state"] in completed for r in rows),
    )


def choose_scheduled(session: Session, scope: Scope, now: datetime) -> list[Draft]:
    """What the organisation's schedule says is due today (before de-duplication)."""
    settings = settings_of(scope.organisation)
    if not settings["schedule"]:
        return []
    today = scope.when.today
    frame = people_frame(session, scope)
    if frame.empty:
        return []
    managers = _managers(session, scope.organisation.id)
    last = last_reminded(session, frame["person_id"].astype(int).tolist())
    minutes = minutes_by_audience(session, scope)
    drafts: list[Draft] = []
    overdue_by_manager: dict[int, list[str]] = {}
    for row in frame.to_dict("records"):
        pid = int(row["person_id"])
        email = _text(row["email"]) or None
        name = _name(row)
        state, due, until = row["state"], row["due_date"], row["valid_until"]
        due, until = _day(due), _day(until)
        kind = key = None
        if state in OPEN and due is not None:
            if due < today:
                kind, key = "overdue", f"overdue:{pid}:{_week(today)}"
                manager = managers.get(pid)
                if manager:
                    overdue_by_manager.setdefault(manager[0], []).append(name)
            elif due == today:
                kind, key = "due_today", f"due_today:{pid}:{due}"
            elif due - timedelta(days=7) <= today:
                kind, key = "due_soon", f"due_soon:{pid}:{due}"
            elif state == State.NOT_STARTED.value:
                kind, key = "assigned", f"assigned:{pid}"
        elif state == State.DUE_FOR_RENEWAL.value and until is not None:
            if until - timedelta(days=7) <= today:
                kind, key = "renewal_soon", f"renewal_soon:{pid}:{until}"
            else:
                kind, key = "renewal_open", f"renewal_open:{pid}:{until}"
        elif state == State.EXPIRED.value:
            kind, key = "expired", f"expired:{pid}:{_week(today)}"
            manager = managers.get(pid)
            if manager:
                overdue_by_manager.setdefault(manager[0], []).append(name)
        if kind is None or email is None:
            continue
        if too_soon(last.get(pid), now, settings):
            continue
        cc = None
        if settings["manager_copy"] and kind in ("overdue", "expired") and managers.get(pid):
            cc = managers[pid][1]
        drafts.append(Draft(pid, kind, email, name, key, cc, _facts(row, minutes)))
    if settings["digest"]:
        emails = dict(
            session.execute(
                select(Person.id, Person.email).where(Person.id.in_(list(overdue_by_manager)))
            ).all()
        )
        for manager_id, names in overdue_by_manager.items():
            address = emails.get(manager_id)
            if address:
                drafts.append(
                    Draft(
                        manager_id,
                        "digest",
                        address,
                        "",
                        f"digest:{manager_id}:{_week(today)}",
                        facts={"people": sorted(names)},
                    )
                )
    drafts.extend(_attempts_used(session, scope, managers))
    return drafts


def _managers(session: Session, organisation_id: int) -> dict[int, tuple[int, str | None]]:
    boss = (
        select(Person.id, Person.email).where(Person.organisation_id == organisation_id).subquery()
    )
    rows = session.execute(
        select(Person.id, boss.c.id, boss.c.email)
        .join(boss, boss.c.id == Person.manager_id)
        .where(Person.organisation_id == organisation_id)
    ).all()
    return {pid: (mid, email) for pid, mid, email in rows}


def _attempts_used(
    session: Session, scope: Scope, managers: dict[int, tuple[int, str | None]]
) -> list[Draft]:
    """Tell a manager when someone in their team has used a whole round of quiz attempts
    without passing (they are now waiting out the cool-down, and may need help)."""
    from app.services.attempts import rules
    from app.services.question_bank import current_bank

    bank = current_bank(session, scope.version.policy_id)
    if bank is None:
        return []
    per_round = rules(bank.settings, scope.organisation.quiz_settings)["max_attempts"]
    rows = session.execute(
        select(QuizAttempt.person_id, QuizAttempt.cycle, func.count(), func.max(QuizSubmission.id))
        .join(QuizSubmission, QuizSubmission.attempt_id == QuizAttempt.id)
        .where(
            QuizAttempt.organisation_id == scope.organisation.id,
            QuizAttempt.policy_version_id == scope.version.id,
            QuizSubmission.passed.is_(False),
        )
        .group_by(QuizAttempt.person_id, QuizAttempt.cycle)
    ).all()
    drafts = []
    for person_id, cycle, failed, last_id in rows:
        manager = managers.get(person_id)
        if failed % per_round or not manager or not manager[1]:
            continue
        drafts.append(
            Draft(
                manager[0],
                "attempts_used",
                manager[1],
                "",
                f"attempts_used:{person_id}:{cycle}:{last_id}",
                facts={"person_id": person_id, "attempts": failed},
            )
        )
    return drafts


def record(
    session: Session,
    organisation_id: int,
    drafts: list[Draft],
    render: Renderer,
    settings: dict[str, Any],
    now: datetime,
    sent_by: int | None = None,
    names: dict[int, str] | None = None,
) -> list[Reminder]:
    """Create the reminder rows (pending), skipping keys already used: nothing twice."""
    keys = [d.dedupe_key for d in drafts if d.dedupe_key]
    used = set(session.scalars(select(Reminder.dedupe_key).where(Reminder.dedupe_key.in_(keys))))
    created = []
    for draft in drafts:
        if draft.dedupe_key and draft.dedupe_key in used:
            continue
        facts = dict(draft.facts)
        if draft.kind == "attempts_used" and names is not None:
            facts["person_name"] = names.get(facts["person_id"], "")
        subject, text, html = render(draft.kind, {**facts, "name": draft.name}, settings)
        row = Reminder(
            organisation_id=organisation_id,
            person_id=draft.person_id,
            kind=draft.kind,
            dedupe_key=draft.dedupe_key,
            sent_by_person_id=sent_by,
            to_address=draft.to,
            cc_address=draft.cc,
            subject=subject,
            created_at=now,
            outcome="pending",
            next_try_at=now,
            details={**facts, "text": text, "html": html},
        )
        try:
            with session.begin_nested():  # a concurrent run may have taken the key
                session.add(row)
        except IntegrityError:
            continue
        audit.record(
            session,
            organisation_id,
            "reminder",
            now,
            actor_person_id=sent_by,
            actor=None if sent_by else "schedule",
            subject_person_id=draft.person_id,
            details={"reminder": row.id, "kind": draft.kind},
        )
        created.append(row)
    return created


@dataclass
class Delivered:
    sent: int = 0
    failed: int = 0
    gave_up: int = 0


def deliver(
    session: Session,
    mailer: Mailer,
    now: datetime,
    *,
    organisation_id: int | None = None,
    only: list[int] | None = None,
) -> Delivered:
    """Send what is waiting; on failure try again later, and after MAX_TRIES keep it as
    failed for people to see. Each outcome is committed as it happens.

    Runs may overlap (`reminders run` on two machines, a manager's send): each reminder is
    claimed with a conditional UPDATE, committed before its e-mail goes, so only one run
    sends it, and no transaction stays open while the mail server answers."""
    from app.services.mail import message

    due = (Reminder.outcome.in_(("pending", "retrying")), Reminder.next_try_at <= now)
    query = select(Reminder.id).where(*due).order_by(Reminder.id)
    if organisation_id is not None:
        query = query.where(Reminder.organisation_id == organisation_id)
    if only is not None:
        query = query.where(Reminder.id.in_(only))
    ids = list(session.scalars(query))
    session.commit()
    result = Delivered()
    for reminder_id in ids:
        reminder = jobs.claim(session, Reminder, reminder_id, list(due), now + LEASE)
        if reminder is None:
            continue  # another run has it, or has sent it
        msg = message(
            mailer.settings,
            reminder.to_address,
            reminder.subject,
            reminder.details.get("text", ""),
            reminder.details.get("html", ""),
            cc=reminder.cc_address,
        )
        reminder.tries += 1
        try:
            mailer.send(msg)
        except MailError as exc:
            reminder.last_error = str(exc)
            if reminder.tries >= MAX_TRIES:
                reminder.outcome = "failed"
                reminder.next_try_at = None
                result.gave_up += 1
            else:
                reminder.outcome = "retrying"
                wait = BACKOFF_MINUTES[min(reminder.tries, len(BACKOFF_MINUTES)) - 1]
                reminder.next_try_at = now + timedelta(minutes=wait)
                result.failed += 1
        else:
            reminder.outcome = "sent"
            reminder.sent_at = now
            reminder.last_error = None
            result.sent += 1
        session.commit()
    return result
