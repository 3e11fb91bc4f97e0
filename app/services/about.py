"""The facts the accessibility statement and the privacy notice take from data: whose module
it is, whom to contact and how long records are kept. The pages' words are in their templates.

The pages are public (no launch needed), so a visitor without a visit is told about the only
organisation there is, or in general terms when there are several (or none): never another
council's details by guesswork.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Organisation
from app.services.content_pack import placeholder_values

# When the accessibility statement was first written, and when it was last checked against
# the module (WCAG 2.2 AA) and the tests described in it. Change the second on each review.
STATEMENT_PREPARED = date(2026, 12, 5)
STATEMENT_REVIEWED = date(2026, 12, 5)
# When the privacy notice last changed: change it whenever what the module records changes.
PRIVACY_UPDATED = date(2026, 12, 5)

# A whole value that is one e-mail address, and nothing else, becomes a mailto: link. The
# local part is kept to letters, digits and . _ + -: "?", "=", "&" and "%" would let a
# contact add headers (a copy to someone else) to every mail a reader sends from the link.
_EMAIL = re.compile(r"^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class Contact:
    """What an organisation entered (or the placeholder's default): shown as text, and as a
    link only when it is exactly one e-mail address."""

    text: str

    @property
    def email(self) -> str | None:
        return self.text if _EMAIL.match(self.text) else None


@dataclass(frozen=True)
class AboutFacts:
    # None: no visit, and not exactly one organisation; the pages then speak in general terms.
    organisation: str | None
    data_protection_contact: Contact | None
    accessibility_contact: Contact | None
    retention_years: int
    retention_years_childrens: int

    @property
    def retention_is_default(self) -> bool:
        """The figures are the module's defaults, not a council's own settings."""
        return self.organisation is None


def _column_default(name: str) -> int:
    default: Any = Organisation.__table__.c[name].default
    return int(default.arg)


def default_facts() -> AboutFacts:
    return AboutFacts(
        organisation=None,
        data_protection_contact=None,
        accessibility_contact=None,
        retention_years=_column_default("retention_years"),
        retention_years_childrens=_column_default("retention_years_childrens"),
    )


def facts_of(org: Organisation) -> AboutFacts:
    values = placeholder_values(org.name, org.content_values or {})
    return AboutFacts(
        organisation=org.name,
        data_protection_contact=Contact(values["data_protection_contact"]),
        accessibility_contact=Contact(values["accessibility_contact"]),
        retention_years=org.retention_years,
        retention_years_childrens=org.retention_years_childrens,
    )


def about_facts(session: Session, organisation_id: int | None) -> AboutFacts:
    """The visitor's organisation's facts; without a visit, the only organisation's; else the
    defaults, with no organisation named."""
    if organisation_id is not None:
        org = session.get(Organisation, organisation_id)
        if org is not None:
            return facts_of(org)
    only = session.scalars(select(Organisation).order_by(Organisation.id).limit(2)).all()
    if len(only) == 1:
        return facts_of(only[0])
    return default_facts()
