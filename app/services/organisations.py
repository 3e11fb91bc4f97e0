"""An organisation's own settings: the local details its policy text shows, and due dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Organisation
from app.services.content_pack import PLACEHOLDERS
from app.services.status import Today, Validity


class SettingError(Exception):
    pass


# The local details the policy text refers to ({{board_name}}...). The rules (validity,
# due dates, retention) are in settings.py.
SETTINGS = {k: label for k, (label, _) in PLACEHOLDERS.items()}


def find(session: Session, name: str) -> Organisation:
    org = session.scalars(select(Organisation).where(Organisation.name == name)).first()
    if org is None:
        raise SettingError(f"No organisation called {name!r}.")
    return org


def set_setting(session: Session, org: Organisation, key: str, value: str) -> None:
    """Set one of the policy text's local details (an empty value restores the default)."""
    if key not in SETTINGS:
        raise SettingError(f"Unknown setting {key!r}. Known: {', '.join(sorted(SETTINGS))}.")
    value = value.strip()
    if len(value) > 300:
        raise SettingError("Keep it under 300 characters.")
    values = dict(org.content_values or {})
    if value:
        values[key] = value
    else:
        values.pop(key, None)
    org.content_values = values  # a new dict, so the JSON column is saved


def settings_of(org: Organisation) -> dict[str, str]:
    shown = {k: (org.content_values or {}).get(k, "") for k in PLACEHOLDERS}
    return shown


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
