"""An organisation's rules for validity, renewal, due dates, retention and how a first launch
joins the roster: what they may be, and changing them, each change recorded in the audit
trail ("config_change").

HR's settings page and `flask org set` both go through `change_settings`, so the rules are
checked in this one place. (The policy text's local details are in organisations.py.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy.orm import Session

from app.models import Organisation
from app.services import audit
from app.url_secrets import SECRET_NAME


@dataclass(frozen=True)
class Rule:
    """A whole number between minimum and maximum, one of a few choices, or an address."""

    minimum: int = 0
    maximum: int = 0
    choices: tuple[str, ...] = ()
    url: bool = False  # an https address mailed to everyone, or empty for none


RULES: dict[str, Rule] = {
    "validity_months": Rule(1, 120),
    "renewal_window_days": Rule(0, 365),
    "renewal_basis": Rule(choices=("expiry", "completion")),
    "due_from": Rule(choices=("assignment", "start_date")),
    "due_days": Rule(1, 3650),
    "retention_years": Rule(1, 100),
    "retention_years_childrens": Rule(1, 100),
    # The first value is the default: see identities.py for each one's risk.
    "roster_join": Rule(choices=("sourcedid", "email", "employee_id", "never")),
    "lms_url": Rule(url=True),
}
# Shown in messages (the CLI) and used to name the setting in an error.
NAMES = {
    "validity_months": "How long an acceptance lasts, in months",
    "renewal_window_days": "Days before expiry that renewal opens",
    "renewal_basis": "What a renewed period counts from",
    "due_from": "What the due date counts from",
    "due_days": "Days from that date to the due date",
    "retention_years": "Years to keep a leaver's records",
    "retention_years_childrens": "Years to keep a leaver's records (children's workforce)",
    "roster_join": "How a first launch is joined to the roster",
    "lms_url": "The module's address in the learning portal",
}
MAX_URL = 500


class SettingsInvalid(Exception):
    """One message per setting that is wrong, keyed by setting."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Change:
    key: str
    old: str
    new: str


def settings_of(org: Organisation) -> dict[str, str]:
    """The current values, as text (what a form shows and the audit trail records)."""
    return {key: str(getattr(org, key)) for key in RULES}


def _check(key: str, text: str) -> tuple[int | str | None, str | None]:
    """(parsed value, None) or (None, the problem)."""
    rule = RULES[key]
    value = text.strip()
    if rule.url:
        return _check_url(key, value)
    if rule.choices:
        if value not in rule.choices:
            return None, f"{NAMES[key]} must be one of: {', '.join(rule.choices)}"
        return value, None
    if not value:
        return None, f"Enter {NAMES[key][0].lower()}{NAMES[key][1:]}"
    if not (value.isascii() and value.isdigit()):  # isdigit alone takes "²", int() does not
        return None, f"{NAMES[key]} must be a whole number, like {rule.minimum or 1}"
    number = int(value) if len(value) <= 9 else rule.maximum + 1  # int() refuses 4,301 digits
    if not rule.minimum <= number <= rule.maximum:
        return None, f"{NAMES[key]} must be between {rule.minimum} and {rule.maximum}"
    return number, None


def _check_url(key: str, value: str) -> tuple[str | None, str | None]:
    """An https address with no login and no secret in it; empty means no address."""
    if not value:
        return "", None
    name = NAMES[key]
    if len(value) > MAX_URL:
        return None, f"{name} must be {MAX_URL} characters or fewer"
    if any(c.isspace() or not c.isprintable() for c in value):
        return None, f"{name} must not contain spaces"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return None, f"{name} must be a web address, like https://learning.council.gov.uk/"
    if parts.scheme.lower() != "https" or not parts.hostname:
        return None, f"{name} must start with https://, like https://learning.council.gov.uk/"
    if "@" in parts.netloc:
        return None, f"{name} must not contain a user name or password"
    for part in (parts.query, parts.fragment):
        for param, _ in parse_qsl(part, keep_blank_values=True):
            if SECRET_NAME.search(param):
                return None, (
                    f"{name} must not contain {param}=: it holds someone's session or a "
                    "secret. Copy the course's address without it"
                )
    return value, None


def validate(org: Organisation, values: Mapping[str, str]) -> dict[str, int | str]:
    """The new values, parsed, with the settings not given kept as they are.

    Raises SettingsInvalid naming every setting that is wrong, including the rules that
    tie two settings together.
    """
    problems: dict[str, str] = {}
    parsed: dict[str, int | str] = {key: getattr(org, key) for key in RULES}
    for key, text in values.items():
        if key not in RULES:
            problems[key] = f"Unknown setting {key!r}. Known: {', '.join(RULES)}."
            continue
        value, problem = _check(key, text)
        if problem is not None:
            problems[key] = problem
        elif value is not None:
            parsed[key] = value
    if not problems:
        general, childrens = parsed["retention_years"], parsed["retention_years_childrens"]
        if int(childrens) < int(general):
            problems["retention_years_childrens"] = (
                "Records of the children's workforce must be kept at least as long as "
                f"everyone else's ({general} years)"
            )
        months, window = int(parsed["validity_months"]), int(parsed["renewal_window_days"])
        if window >= months * 28:
            problems["renewal_window_days"] = (
                f"Renewal must open less than {months * 28} days before expiry, inside the "
                f"{months} month validity period"
            )
    if problems:
        raise SettingsInvalid(problems)
    return parsed


def change_settings(
    session: Session,
    org: Organisation,
    values: Mapping[str, str],
    now: datetime,
    *,
    actor_person_id: int | None = None,
    actor: str | None = None,
) -> list[Change]:
    """Validate every value, then apply the ones that differ, one audit event each."""
    before = settings_of(org)
    parsed = validate(org, values)
    changes = []
    for key, value in parsed.items():
        if str(value) == before[key]:
            continue
        setattr(org, key, value)
        change = Change(key, before[key], str(value))
        audit.record(
            session,
            org.id,
            "config_change",
            now,
            actor_person_id=actor_person_id,
            actor=actor,
            details={"setting": key, "from": change.old, "to": change.new},
        )
        changes.append(change)
    return changes
