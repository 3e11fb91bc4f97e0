"""An organisation's rules for validity, renewal, due dates, retention, how a first launch
joins the roster and the committee report: what they may be, and changing them, each change
recorded in the audit trail ("config_change").

HR's settings page and `flask org set` both go through `change_settings`, so the rules are
checked in this one place. (The policy text's local details are in organisations.py.)
"""

from __future__ import annotations

import re
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
    """A whole number between minimum and maximum, one of a few choices, an address, or a
    list of e-mail addresses."""

    minimum: int = 0
    maximum: int = 0
    choices: tuple[str, ...] = ()
    url: bool = False  # an https address mailed to everyone, or empty for none
    emails: bool = False  # e-mail addresses, kept as "a@x.example, b@y.example"; or none


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
    # The committee report (committee.py, committee_send.py). Councillors' names are hidden
    # unless the council decides otherwise: the README says why.
    "report_target_percent": Rule(1, 100),
    "report_councillor_names": Rule(choices=("hidden", "listed")),
    "report_day": Rule(0, 28),  # 0: no scheduled report; at most 28, a day every month has
    "report_period": Rule(choices=("quarter", "month", "year")),
    "report_recipients": Rule(emails=True),
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
    "report_target_percent": "The committee report's completion target, in per cent",
    "report_councillor_names": "Whether the committee report names councillors who have not "
    "completed",
    "report_day": "The day of the month the committee report is sent (0: not sent)",
    "report_period": "The period the scheduled committee report covers",
    "report_recipients": "Who the committee report is sent to",
}
MAX_URL = 500
MAX_RECIPIENTS = 20
MAX_RECIPIENTS_TEXT = 2000  # the column's size
# One address as mail servers take it in a To: header: no display name, no spaces, no
# quotes, no line breaks (a CR or LF would start a header of the sender's choosing). The
# roster's EMAIL_RE, narrowed to the characters RFC 5322 allows unquoted, with a domain of
# letters, digits and hyphens.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")
_SEPARATORS = re.compile(r"[,;\r\n]+")


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
    if rule.emails:
        return _check_emails(key, value)
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


def _check_emails(key: str, value: str) -> tuple[str | None, str | None]:
    """Addresses separated by commas, semicolons or line breaks, each checked; kept as
    "a@x.example, b@y.example" with the domains in lower case and each address once. Empty
    means no one."""
    name = NAMES[key]
    if len(value) > 4 * MAX_RECIPIENTS_TEXT:  # not worth splitting: far too long anyway
        return None, f"{name} must be {MAX_RECIPIENTS_TEXT} characters or fewer"
    addresses: list[str] = []
    seen: set[str] = set()
    for part in _SEPARATORS.split(value):
        address = part.strip()
        if not address:
            continue
        local, _, domain = address.rpartition("@")
        if not EMAIL.fullmatch(address) or len(local) > 64 or len(address) > 254:
            shown = address if len(address) <= 60 else address[:57] + "..."
            return None, (
                f"{name}: '{shown}' is not an e-mail address. Enter addresses only, like "
                "clerk@council.gov.uk, separated by commas"
            )
        address = f"{local}@{domain.lower()}"
        if address.lower() not in seen:  # one message each, however it was typed
            seen.add(address.lower())
            addresses.append(address)
    if len(addresses) > MAX_RECIPIENTS:
        return None, f"{name} must be {MAX_RECIPIENTS} addresses or fewer"
    joined = ", ".join(addresses)
    if len(joined) > MAX_RECIPIENTS_TEXT:
        return None, f"{name} must be {MAX_RECIPIENTS_TEXT} characters or fewer"
    return joined, None


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
        if int(parsed["report_day"]) > 0 and not parsed["report_recipients"]:
            # Named on the recipients, the box to fill; the message names the day too.
            problems["report_recipients"] = (
                "Enter who the committee report is sent to, or set the day of the month "
                f"it is sent to 0 (not sent): it is set to {parsed['report_day']}"
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
