"""An organisation's own settings: the local details its policy text shows, and due dates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Organisation
from app.services import audit
from app.services.content_pack import PLACEHOLDERS
from app.services.settings import Change, SettingsInvalid
from app.services.status import Today, Validity


class SettingError(Exception):
    pass


# The local details the policy text refers to ({{board_name}}...). The rules (validity,
# due dates, retention) are in settings.py.
SETTINGS = {k: label for k, (label, _) in PLACEHOLDERS.items()}
MAX_DETAIL = 300


def find(session: Session, name: str) -> Organisation:
    org = session.scalars(select(Organisation).where(Organisation.name == name)).first()
    if org is None:
        raise SettingError(f"No organisation called {name!r}.")
    return org


def _detail_problem(key: str, value: str) -> str | None:
    if len(value) > MAX_DETAIL:
        return f"{SETTINGS[key]} must be {MAX_DETAIL} characters or fewer"
    if any(not c.isprintable() for c in value):  # a line break would end the sentence early
        return f"{SETTINGS[key]} must be on one line, without special characters"
    return None


def change_details(
    session: Session,
    org: Organisation,
    values: Mapping[str, str],
    now: datetime,
    *,
    actor_person_id: int | None = None,
    actor: str | None = None,
) -> list[Change]:
    """Set the policy text's local details (an empty value unsets one, so the text reads as
    it does for a council that has not set it). Every value is checked first; then each one
    that differs is changed with one audit event ("config_change"), so what the text said
    on any day can be rebuilt from the trail and the published version."""
    problems: dict[str, str] = {}
    cleaned: dict[str, str] = {}
    for key, text in values.items():
        if key not in SETTINGS:
            problems[key] = f"Unknown setting {key!r}. Known: {', '.join(sorted(SETTINGS))}."
            continue
        value = text.strip()
        problem = _detail_problem(key, value)
        if problem is None:
            cleaned[key] = value
        else:
            problems[key] = problem
    if problems:
        raise SettingsInvalid(problems)
    current = dict(org.content_values or {})
    changes = []
    for key, value in cleaned.items():
        before = current.get(key, "")
        if value == before:
            continue
        if value:
            current[key] = value
        else:
            current.pop(key, None)
        changes.append(Change(key, before, value))
        audit.record(
            session,
            org.id,
            "config_change",
            now,
            actor_person_id=actor_person_id,
            actor=actor,
            details={"setting": key, "from": before, "to": value},
        )
    if changes:
        org.content_values = current  # a new dict, so the JSON column is saved
    return changes


def settings_of(org: Organisation) -> dict[str, str]:
    """The local details the council has set; "" for those it has not."""
    return {k: (org.content_values or {}).get(k, "") for k in PLACEHOLDERS}


@dataclass(frozen=True)
class OrganisationView:
    """An organisation's settings as a visit's pages need them: read with the visit, in the
    same row, rather than loaded again on every page."""

    id: int
    name: str
    content_values: dict[str, str]
    quiz_settings: dict[str, Any]
    due_days: int
    due_from: str
    validity_months: int
    renewal_window_days: int
    renewal_basis: str


def due_date(assigned_on: date, due_days: int) -> date:
    """The date by which a person assigned on that day must complete the module."""
    return assigned_on + timedelta(days=due_days)


def validity_rule(org: Organisation | OrganisationView) -> Validity:
    return Validity(
        months=org.validity_months, window_days=org.renewal_window_days, basis=org.renewal_basis
    )


def today_for(org: Organisation | OrganisationView, day: date) -> Today:
    """The dates an organisation's statuses are reckoned with on that day."""
    return Today(day, validity_rule(org), org.due_days, org.due_from)
