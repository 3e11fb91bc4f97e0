"""HR's roster: who must complete the module, from HR's CSV or XLSX file.

Each row is checked (row, column, reason); a dry run says who would be new, who would leave
and what would change for whom; the operator chooses to import nothing while any row is bad,
or only the good rows. On HR's page the checked file is kept for a short time (kept(),
import_kept()), so that one button imports exactly what was checked. People are matched
by employee id, then to LMS identities by e-mail; leavers are marked inactive, never
deleted. Written in bulk, so a 100,000-row file imports in seconds.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app.clock import london_date
from app.models import CourseMember, LmsContext, Organisation, Person, RosterUpload
from app.services import sheets
from app.services.identities import TRUSTED_AT_ONCE

# Column -> the headings HR systems use for it (matched ignoring case, spaces, _ and -).
COLUMNS: dict[str, tuple[str, ...]] = {
    "employee_id": (
        "employee id",
        "employee number",
        "staff number",
        "payroll number",
        "employee no",
    ),
    "first_name": ("first name", "forename", "given name"),
    "last_name": ("last name", "surname", "family name"),
    "email": ("email", "e-mail", "email address", "work email"),
    "directorate": ("directorate",),
    "department": ("department", "service", "team"),
    "manager": (
        "manager",
        "manager email",
        "manager employee id",
        "line manager",
        "manager id",
        "reports to",
    ),
    "start_date": ("start date", "date started", "employment start date"),
    "job_title": ("job title", "role", "position"),
    "elected_member": ("elected member", "councillor"),
    "childrens_workforce": ("childrens workforce", "children's workforce"),
    # A councillor on the Corporate Parenting Committee: listed first in its report.
    "committee_member": (
        "corporate parenting committee",
        "committee member",
        "corporate parenting board",
    ),
}
REQUIRED = (
    "employee_id",
    "first_name",
    "last_name",
    "email",
    "directorate",
    "department",
    "manager",
    "start_date",
)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LIMITS = {
    "employee_id": 100,
    "first_name": 150,
    "last_name": 150,
    "email": 320,
    "directorate": 200,
    "department": 200,
    "job_title": 200,
}
TRUE = {"yes", "y", "true", "1"}
FALSE = {"no", "n", "false", "0", ""}


class RosterFileError(Exception):
    """The file cannot be read as a roster at all (format, missing columns)."""


@dataclass(frozen=True)
class RowProblem:
    row: int  # as a spreadsheet shows it: the heading is row 1
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.column}: {self.reason}"


@dataclass
class Plan:
    """What an import would do, from the dry run; apply() carries it out."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # the good rows, cleaned
    problems: list[RowProblem] = field(default_factory=list)
    bad_employee_ids: set[str] = field(default_factory=set)
    new: list[str] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)  # joined to an LMS identity by e-mail
    updated: dict[str, list[str]] = field(default_factory=dict)  # employee id -> fields
    unchanged: int = 0
    leavers: list[str] = field(default_factory=list)
    returning: list[str] = field(default_factory=list)
    # For the check page: the stored records of the people above (employee id -> record),
    # and the manager each changed person would have (employee id -> (was, will be)).
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    manager_changes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # The organisation's people as the check read them (_existing): apply(), in the same
    # transaction, writes what differs from these without reading 100,000 people again.
    people: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def total_rows(self) -> int:
        return len(self.rows) + len({p.row for p in self.problems})


def _key(heading: str) -> str:
    return re.sub(r"[\s_\-']+", " ", heading.strip().lower()).strip()


@dataclass(frozen=True)
class Table:
    """A roster file's cells under our column names: one list of text per column, a row per
    person (plain lists: a DataFrame's construction and per-cell access cost seconds over
    100,000 rows, and the import only reads each cell once)."""

    columns: dict[str, list[str]]

    def __len__(self) -> int:
        return len(self.columns["employee_id"])

    def __getitem__(self, name: str) -> list[str]:
        return self.columns[name]


def read_file(data: bytes, filename: str) -> Table:
    """The file as text cells under our column names (extra columns are ignored). Read as
    a stream within sheets.py's limits; only the columns the roster uses are kept."""
    try:
        source = sheets.rows(data, filename)
        headings = next(source, None)
        if headings is None:
            raise RosterFileError("The file has no rows: its first row must hold the headings.")
        if not headings:
            raise RosterFileError("Row 1 is empty: the first row must hold the headings.")
        aliases = {
            _key(alias): name
            for name, names in COLUMNS.items()
            for alias in (name.replace("_", " "), *names)
        }
        picked: dict[str, int] = {}
        for index, heading in enumerate(headings):
            name = aliases.get(_key(heading))
            if name and name not in picked:
                picked[name] = index
        missing = [c for c in REQUIRED if c not in picked]
        if missing:
            readable = ", ".join(c.replace("_", " ") for c in missing)
            raise RosterFileError(f"The file has no column for: {readable}.")
        # Each row's cells in our columns (at least REQUIRED's eight, so always a tuple),
        # short rows padded; then turned into columns in one pass.
        cells = operator.itemgetter(*picked.values())
        width = max(picked.values()) + 1
        rows = [cells(r) if len(r) >= width else cells(r + [""] * width) for r in source]
    except sheets.Unreadable as exc:
        raise RosterFileError(str(exc)) from None
    if not rows:
        # Importing it would mark everyone as a leaver.
        raise RosterFileError("The file has headings but no rows of people.")
    return Table(dict(zip(picked, map(list, zip(*rows, strict=True)), strict=True)))


@lru_cache(maxsize=100_000)  # a roster repeats its dates: parse each once
def _date(value: str) -> date | None:
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def _flag(value: str) -> bool | None:
    v = value.strip().lower()
    return True if v in TRUE else False if v in FALSE else None


# Required columns whose cells must not be empty: a blank manager means "no line manager".
NOT_EMPTY = tuple(c for c in REQUIRED if c != "manager")
FLAGS = ("elected_member", "childrens_workforce", "committee_member")


@dataclass(frozen=True)
class _FileKeys:
    """What a row is checked against: how often each employee id and e-mail occurs in the
    file, and every key a manager cell may name."""

    ids: Counter[str]
    emails: Counter[str]
    known: set[str]


def _row_problems(
    n: int, raw: dict[str, str], start: date | None, keys: _FileKeys
) -> list[RowProblem]:
    """Every problem of one row (n as a spreadsheet numbers it), in column order."""
    found: list[RowProblem] = []

    def bad(column: str, reason: str) -> None:
        found.append(RowProblem(n, column.replace("_", " "), reason))

    for name in NOT_EMPTY:
        if not raw.get(name):
            bad(name, "is empty")
    for name, limit in LIMITS.items():
        if len(raw.get(name) or "") > limit:
            bad(name, f"is longer than {limit} characters")
    employee_id = raw["employee_id"]
    if employee_id and keys.ids[employee_id] > 1:
        bad("employee_id", f"'{employee_id}' appears on more than one row")
    email = raw["email"].lower()
    if email and not EMAIL_RE.match(email):
        bad("email", f"'{raw['email']}' is not an e-mail address")
    elif email and keys.emails[email] > 1:
        bad("email", f"'{raw['email']}' appears on more than one row")
    if raw.get("start_date") and start is None:
        bad("start_date", f"'{raw['start_date']}' is not a date (use DD/MM/YYYY)")
    manager = raw.get("manager", "")
    if manager and manager not in keys.known and manager.lower() not in keys.known:
        bad("manager", f"'{manager}' is not the employee id or e-mail of anyone in the file")
    if manager and manager in (employee_id, email):
        bad("manager", "a person cannot be their own manager")
    for name in FLAGS:
        if name in raw and _flag(raw[name]) is None:
            bad(name, f"'{raw[name]}' should be yes or no")
    return found


def check_rows(table: Table) -> tuple[list[dict[str, Any]], list[RowProblem], set[str]]:
    """Every row checked; returns the good rows, the problems and the bad rows' ids.

    Each rule is first run down its whole column, which is quick; only the rows one of them
    picks out are checked one by one (_row_problems) for the reasons, so that a file of
    100,000 good rows costs little more than reading it."""
    cols = table.columns
    ids = cols["employee_id"]
    emails = [e.lower() for e in cols["email"]]
    managers = cols["manager"]
    keys = _FileKeys(Counter(ids), Counter(emails), {i for i in ids if i} | set(emails) - {""})
    starts = [_date(v) if v else None for v in cols["start_date"]]
    flags = {}
    for name in FLAGS:
        if name in cols:
            meaning = {v: _flag(v) for v in set(cols[name])}
            flags[name] = [meaning[v] for v in cols[name]]
    # Each scan is skipped when a quick test over the whole column (C speed) finds nothing.
    suspect: set[int] = set()
    for name in NOT_EMPTY:
        if "" in cols[name]:
            suspect.update(i for i, v in enumerate(cols[name]) if not v)
    for name, limit in LIMITS.items():
        if name in cols and max(map(len, cols[name])) > limit:
            suspect.update(i for i, v in enumerate(cols[name]) if len(v) > limit)
    if len(keys.ids) < len(ids):
        suspect.update(i for i, v in enumerate(ids) if keys.ids[v] > 1)
    suspect.update(i for i, e in enumerate(emails) if keys.emails[e] > 1 or not EMAIL_RE.match(e))
    if None in starts:
        suspect.update(i for i, v in enumerate(starts) if v is None)
    suspect.update(
        i
        for i, m in enumerate(managers)
        if m and ((m not in keys.known and m.lower() not in keys.known) or m in (ids[i], emails[i]))
    )
    for values in flags.values():
        if None in values:
            suspect.update(i for i, v in enumerate(values) if v is None)

    good: list[dict[str, Any]] = []
    kept: list[int] = []  # the good rows' indices
    problems: list[RowProblem] = []
    bad_ids: set[str] = set()
    names = list(cols)
    job_titles = cols.get("job_title") or [""] * len(ids)
    cells = zip(
        ids,
        cols["first_name"],
        cols["last_name"],
        emails,
        cols["directorate"],
        cols["department"],
        job_titles,
        managers,
        starts,
        strict=True,
    )
    for i, (eid, first, last, email, directorate, department, job, manager, start) in enumerate(
        cells
    ):
        if i in suspect:
            found = _row_problems(i + 2, {name: cols[name][i] for name in names}, start, keys)
            if found:
                problems.extend(found)
                if eid:
                    bad_ids.add(eid)
                continue
        row = {
            "employee_id": eid,
            "first_name": first,
            "last_name": last,
            "email": email,
            "directorate": directorate,
            "department": department,
            "job_title": job or None,
            "manager": manager.lower() if "@" in manager else manager,
            "start_date": start,
        }
        good.append(row)
        kept.append(i)
    for name, values in flags.items():  # True or False: a row whose flag is neither is not good
        for row, i in zip(good, kept, strict=True):
            row[name] = values[i]
    return good, problems, bad_ids


FIELDS = (
    "first_name",
    "last_name",
    "email",
    "directorate",
    "department",
    "job_title",
    "start_date",
    "elected_member",
    "childrens_workforce",
    "committee_member",
)


def _changed(current: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """The fields where the file differs from the record (e-mail ignoring case)."""
    return [
        f
        for f in FIELDS
        if f in row
        and (current[f] or None) != (row[f] or None)
        and not (f == "email" and (current[f] or "").lower() == row[f])
    ]


def plan(session: Session, organisation_id: int, table: Table) -> Plan:
    """The dry run: what an import of this file would change. Writes nothing."""
    rows, problems, bad_ids = check_rows(table)
    people = _existing(session, organisation_id)
    result = Plan(rows=rows, problems=problems, bad_employee_ids=bad_ids, people=people)
    by_pk = {p["id"]: p for p in people}
    by_id = {p["employee_id"]: p for p in people if p["employee_id"]}
    by_email = {p["email"].lower(): p for p in people if p["email"] and not p["employee_id"]}
    in_file = {r["employee_id"] for r in rows} | bad_ids
    # The fields the rows have (the flags only from a file with their columns), compared as
    # one tuple first: nearly every row of a weekly file is equal, and _changed is only
    # needed when it is not.
    compared = operator.itemgetter(*(f for f in FIELDS if f not in FLAGS or f in table.columns))
    for row in rows:
        current = by_id.get(row["employee_id"])
        if current is None:
            if row["email"] in by_email:
                result.matched.append(row["employee_id"])
            else:
                result.new.append(row["employee_id"])
            continue
        changed = [] if compared(current) == compared(row) else _changed(current, row)
        if not current["active"]:
            result.returning.append(row["employee_id"])
        if changed:
            result.updated[row["employee_id"]] = changed
        else:
            result.unchanged += 1
        manager = _manager_change(current, row, by_pk)
        if manager:
            result.manager_changes[row["employee_id"]] = manager
        if changed or manager or not current["active"]:
            result.records[row["employee_id"]] = current
    result.leavers = sorted(eid for eid, p in by_id.items() if p["active"] and eid not in in_file)
    result.records |= {eid: by_id[eid] for eid in result.leavers}
    return result


def _manager_change(
    current: dict[str, Any], row: dict[str, Any], by_pk: dict[int, dict[str, Any]]
) -> tuple[str | None, str | None] | None:
    """(the manager now, the manager in the file) by their employee id or e-mail as the file
    names them, when the file moves the person to another manager (or to none)."""
    was = by_pk.get(current["manager_id"]) if current["manager_id"] else None
    key = row["manager"] or None
    if was is None and key is None:
        return None
    if was is not None and key in (was["employee_id"], (was["email"] or "").lower()):
        return None
    return (was["name"] or was["email"] or was["employee_id"]) if was else None, key


def _existing(session: Session, organisation_id: int) -> list[dict[str, Any]]:
    """The organisation's people, with what the roster compares and links, in one query."""
    cols = [
        Person.id,
        Person.name,
        Person.employee_id,
        Person.email,
        Person.active,
        Person.manager_id,
        *(getattr(Person, f) for f in FIELDS if f != "email"),
    ]
    # Core, not the ORM: its per-row bookkeeping is of no use for plain values.
    result = session.connection().execute(
        select(*cols).where(Person.organisation_id == organisation_id)
    )
    names = list(result.keys())
    # All rows in one fetch, zipped with the names: Row._mapping costs twice as much.
    return [dict(zip(names, r, strict=True)) for r in result.all()]


# -- the check page: who is new, who leaves, what changes for whom -----------------------------


@dataclass(frozen=True)
class Entry:
    """One person on the check page: who, and for a changed person what changes (field,
    value now, value in the file; field names as in FIELDS, plus "manager")."""

    employee_id: str
    name: str
    email: str | None
    department: str | None
    changes: tuple[tuple[str, Any, Any], ...] = ()
    joins_account: bool = False  # new to the roster, joined to a learning portal account
    returning: bool = False  # back from leaving


@dataclass(frozen=True)
class Review:
    new: list[Entry]
    leaving: list[Entry]
    changed: list[Entry]


def review(planned: Plan) -> Review:
    """The plan as lists of people, in name order, for HR to read before importing."""
    rows = {r["employee_id"]: r for r in planned.rows}
    names = {r["employee_id"]: f"{r['first_name']} {r['last_name']}" for r in planned.rows}
    names |= {r["email"]: names[r["employee_id"]] for r in planned.rows}

    def from_file(eid: str, **extra: Any) -> Entry:
        row = rows[eid]
        return Entry(eid, names[eid], row["email"], row["department"], **extra)

    def on_record(eid: str, **extra: Any) -> Entry:
        was = planned.records[eid]
        return Entry(eid, was["name"] or eid, was["email"], was["department"], **extra)

    matched = set(planned.matched)
    new = [from_file(eid, joins_account=eid in matched) for eid in planned.new + planned.matched]
    changed = []
    returning = set(planned.returning)
    for eid in sorted(set(planned.updated) | set(planned.manager_changes) | returning):
        was, row = planned.records[eid], rows[eid]
        changes = [(f, was[f], row[f]) for f in planned.updated.get(eid, [])]
        if eid in planned.manager_changes:
            before, key = planned.manager_changes[eid]
            changes.append(("manager", before, names.get(key, key) if key else None))
        changed.append(from_file(eid, changes=tuple(changes), returning=eid in returning))
    leavers = [on_record(eid) for eid in planned.leavers]

    def order(entry: Entry) -> tuple[str, str]:
        return entry.name.casefold(), entry.employee_id

    return Review(sorted(new, key=order), sorted(leavers, key=order), sorted(changed, key=order))


# -- the checked file, kept for its import --------------------------------------------------

# How long a checked file waits for HR to import it: long enough to read the check page,
# short enough that nobody imports a file checked against an older roster by mistake.
UPLOAD_LIFETIME = timedelta(minutes=30)


class UploadGone(Exception):
    """No such checked file for this person: never made, someone else's, expired or used."""


class RosterChanged(Exception):
    """The organisation's people changed after the file was checked: check it again."""


class ProblemsInFile(Exception):
    """Every row must be right, and some are not."""


def plan_hash(planned: Plan) -> str:
    """A fingerprint of what an import would do: who is new, joined, changed (from what to
    what), back or leaving, and which rows are skipped. Two checks with the same fingerprint
    import the same; changes to people the file does not touch (a first launch elsewhere in
    the council, say) leave it alone."""
    changes = {
        eid: [(f, planned.records[eid][f], row[f]) for f in planned.updated[eid]]
        for eid, row in ((r["employee_id"], r) for r in planned.rows)
        if eid in planned.updated
    }
    what = {
        "new": sorted(planned.new),
        "matched": sorted(planned.matched),
        "changes": changes,
        "managers": planned.manager_changes,
        "returning": sorted(planned.returning),
        "leavers": planned.leavers,
        "skipped": sorted({p.row for p in planned.problems}),
    }
    text = json.dumps(what, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def remove_expired(session: Session, now: datetime) -> int:
    """Drop checked files past their time, of every organisation (they hold personal data)."""
    result = session.execute(
        delete(RosterUpload).where(RosterUpload.created_at <= now - UPLOAD_LIFETIME)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def keep(
    session: Session,
    organisation_id: int,
    person_id: int,
    filename: str,
    data: bytes,
    planned: Plan,
    now: datetime,
) -> RosterUpload:
    """Keep a file that has been read as a roster, with the fingerprint of its check."""
    remove_expired(session, now)
    upload = RosterUpload(
        token=secrets.token_urlsafe(32),
        organisation_id=organisation_id,
        person_id=person_id,
        filename=filename[:255],
        data=data,
        plan_hash=plan_hash(planned),
        created_at=now,
    )
    session.add(upload)
    session.flush()
    return upload


def kept(
    session: Session, organisation_id: int, person_id: int, token: str, now: datetime
) -> RosterUpload:
    """The checked file behind a check page: only for the person who checked it, in their
    organisation, for UPLOAD_LIFETIME."""
    upload = session.scalars(
        select(RosterUpload).where(
            RosterUpload.token == token,
            RosterUpload.organisation_id == organisation_id,
            RosterUpload.person_id == person_id,
        )
    ).first()
    if upload is None or now - upload.created_at >= UPLOAD_LIFETIME:
        raise UploadGone(token)
    return upload


def plan_kept(session: Session, upload: RosterUpload) -> Plan:
    """The check of a kept file, against the roster as it is now."""
    return plan(session, upload.organisation_id, read_file(upload.data, upload.filename))


def unchanged_since_check(upload: RosterUpload, planned: Plan) -> bool:
    """Whether the file would still do what its check said (planned: checked again now)."""
    return plan_hash(planned) == upload.plan_hash


def import_kept(
    session: Session, upload: RosterUpload, now: datetime, *, skip_problems: bool
) -> Applied:
    """Import the kept file as checked, once: refused if it would no longer do what its
    check said (people it touches changed since), or if rows have problems and skipping
    them was not chosen. The file is removed when imported."""
    planned = plan_kept(session, upload)
    if not unchanged_since_check(upload, planned):
        raise RosterChanged(upload.token)
    if planned.problems and not skip_problems:
        raise ProblemsInFile(upload.token)
    # Claimed by deleting it: of two presses at once, the second deletes nothing (PostgreSQL
    # makes it wait for the first) and imports nothing.
    claimed = session.execute(delete(RosterUpload).where(RosterUpload.id == upload.id))
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise UploadGone(upload.token)
    session.expunge(upload)
    return apply(session, upload.organisation_id, planned, now)


@dataclass(frozen=True)
class Applied:
    created: int
    matched: int
    updated: int
    left: int
    returned: int
    skipped_rows: int
    managers_linked: int


def apply(session: Session, organisation_id: int, planned: Plan, now: datetime) -> Applied:
    """Carry out a plan: the good rows (the caller has decided that is wanted), in the
    transaction that made the plan. Only what differs from the people the plan read is
    written: the weekly re-import of an unchanged file writes no row."""
    today = london_date(now)
    people = planned.people
    by_id = {p["employee_id"]: p for p in people if p["employee_id"]}
    by_email = {p["email"].lower(): p for p in people if p["email"] and not p["employee_id"]}
    inserts: list[dict[str, Any]] = []
    inserted_managers: list[str] = []
    updates = []
    matched = 0
    for row in planned.rows:
        current = by_id.get(row["employee_id"]) or by_email.get(row["email"])
        if (
            current is not None
            and current["employee_id"] is not None
            and current["active"]
            and row["employee_id"] not in planned.updated
        ):
            continue  # the file says what the record says
        values = {f: row[f] for f in FIELDS if f in row}
        values["employee_id"] = row["employee_id"]
        values["active"], values["left_on"] = True, None
        # The roster is the record of its people's names: launches no longer overwrite them.
        values["name"] = f"{row['first_name']} {row['last_name']}"
        if current is None:
            inserts.append(
                {
                    **values,
                    "organisation_id": organisation_id,
                    "last_lti_roles": [],
                    "assigned_on": today,
                    "first_seen_at": now,
                    "elected_member": row.get("elected_member", False),
                    "childrens_workforce": row.get("childrens_workforce", False),
                    "committee_member": row.get("committee_member", False),
                }
            )
            inserted_managers.append(row["manager"])
            continue
        matched += current["employee_id"] is None
        if current["employee_id"] is None:
            # An LMS identity found by its e-mail, which its user may have set: the
            # roster's rights wait for HR's confirmation (see identities.py).
            values |= {"joined_by": "email", "joined_at": now, "join_confirmed_at": None}
        updates.append({"id": current["id"], **values})
    links = {p["id"]: p["manager_id"] for p in people}
    keys = _key_map((p["employee_id"], p["email"], p["id"]) for p in people)
    if inserts:
        _insert_people(session, organisation_id, inserts, inserted_managers, dict(keys))
    if updates:
        session.execute(update(Person), updates)
    in_file = {r["employee_id"] for r in planned.rows} | planned.bad_employee_ids
    leavers = [
        {"id": p["id"], "active": False, "left_on": today}
        for eid, p in by_id.items()
        if p["active"] and eid not in in_file
    ]
    if leavers:
        session.execute(update(Person), leavers)
    # Everyone's keys after the writes: the new people's read back once (their ids), the
    # updated people's e-mails and employee ids as just written.
    if inserts:
        keys = _keys(session, organisation_id)
        links |= {keys[v["employee_id"]]: v["manager_id"] for v in inserts}
    keys |= _key_map((u["employee_id"], u["email"], u["id"]) for u in updates)
    linked = _link_managers(session, planned.rows, keys, links)
    return Applied(
        created=len(inserts),
        matched=matched,
        updated=len(updates) - matched,
        left=len(leavers),
        returned=len(planned.returning),
        skipped_rows=len({p.row for p in planned.problems}),
        managers_linked=linked,
    )


def _insert_people(
    session: Session,
    organisation_id: int,
    rows: list[dict[str, Any]],
    managers: list[str],
    known: dict[str, int],
) -> None:
    """Insert new people, managers before the people they manage, so that every row is
    written already linked: the first import of a 100,000-row file would otherwise need
    100,000 updates afterwards. `known`: employee ids and e-mails of stored people -> id.
    Sets each row's manager_id to the one written."""
    pending = list(zip(rows, managers, strict=True))
    while pending:
        waiting = {r["employee_id"] for r, _ in pending} | {r["email"] for r, _ in pending}
        ready = [(r, m) for r, m in pending if not m or m not in waiting]
        # People who manage each other in a circle: written unlinked; _link_managers links
        # them afterwards.
        ready = ready or pending
        for r, m in ready:
            r["manager_id"] = known.get(m) if m else None
        session.execute(insert(Person), [r for r, _ in ready])  # executemany: the quickest
        done = {r["employee_id"] for r, _ in ready}
        pending = [(r, m) for r, m in pending if r["employee_id"] not in done]
        if pending:
            known |= _keys(session, organisation_id)


def _keys(session: Session, organisation_id: int) -> dict[str, int]:
    """Employee ids and lower-case e-mails of an organisation's people -> person id."""
    rows = session.execute(
        select(Person.employee_id, Person.email, Person.id).where(
            Person.organisation_id == organisation_id
        )
    )
    return _key_map(rows)


def _key_map(people: Iterable[tuple[str | None, str | None, int]]) -> dict[str, int]:
    keys: dict[str, int] = {}
    for employee_id, email, person_id in people:
        if email:
            keys[email.lower()] = person_id
        if employee_id:
            keys[employee_id] = person_id
    return keys


def _link_managers(
    session: Session,
    rows: list[dict[str, Any]],
    keys: dict[str, int],
    linked_before: dict[int, int | None],
) -> int:
    """Point each row's person at their manager; writes only the links that changed."""
    changes = []
    linked = 0
    for row in rows:
        manager = row["manager"]
        manager_id = keys.get(manager) if manager else None
        person_id = keys[row["employee_id"]]
        linked += manager_id is not None
        if linked_before.get(person_id) != manager_id:
            changes.append({"id": person_id, "manager_id": manager_id})
    if changes:
        session.execute(update(Person), changes)
    return linked


@dataclass(frozen=True)
class Synced:
    added: int
    updated: int
    matched: int
    left_course: int


def sync_members(
    session: Session,
    organisation_id: int,
    issuer: str,
    members: list[dict[str, Any]],
    now: datetime,
    *,
    lms_context_id: int,
) -> Synced:
    """People enrolled in the LMS course (Names and Role Provisioning), so that those who
    never launched the module still count as not started. Matched to the roster by e-mail
    or employee id (lis_person_sourcedid) as the organisation's join rule says (see
    identities.py; a join by e-mail waits for HR's confirmation). Who is in which course is
    kept (course_member: the course's teachers see its learners); people in no course any
    more are flagged. The roster's names and e-mails are not overwritten."""
    today = london_date(now)
    rule = session.execute(
        select(Organisation.roster_join).where(Organisation.id == organisation_id)
    ).scalar_one()
    people = session.scalars(select(Person).where(Person.organisation_id == organisation_id))
    by_sub = {p.subject: p for p in people if p.issuer == issuer and p.subject}
    roster = session.scalars(
        select(Person).where(Person.organisation_id == organisation_id, Person.issuer.is_(None))
    )
    by_email = {p.email.lower(): p for p in roster if p.email}
    by_employee = {p.employee_id: p for p in by_email.values() if p.employee_id}
    added = updated = matched = 0
    seen: set[int] = set()
    course: dict[int, tuple[list[str], bool]] = {}
    for member in members:
        sub = str(member.get("user_id") or "").strip()
        if not sub or member.get("status", "Active") not in ("Active", None):
            continue
        email = (member.get("email") or "").strip().lower() or None
        person = by_sub.get(sub)
        if person is None:
            if rule == "email":
                person = by_email.get(email or "")
            elif rule == "sourcedid":
                person = by_employee.get(member.get("lis_person_sourcedid") or "")
            if person is not None and person.issuer is not None:
                person = None  # claimed by another member above: never re-linked
            if person is not None:
                person.issuer, person.subject = issuer, sub
                person.joined_by, person.joined_at = rule, now
                person.join_confirmed_at = now if rule in TRUSTED_AT_ONCE else None
                matched += 1
            else:
                person = Person(
                    organisation_id=organisation_id,
                    issuer=issuer,
                    subject=sub,
                    first_seen_at=now,
                    assigned_on=today,
                    last_lti_roles=[],
                )
                session.add(person)
                added += 1
        else:
            updated += 1
        name = member.get("name") or " ".join(
            p for p in (member.get("given_name"), member.get("family_name")) if p
        )
        if not person.roster_managed:
            person.name = name or person.name or ""
            person.email = email or person.email
        person.given_name = member.get("given_name") or person.given_name
        person.family_name = member.get("family_name") or person.family_name
        person.in_lms = True
        person.assigned_on = person.assigned_on or today
        session.flush()
        seen.add(person.id)
        course[person.id] = (list(member.get("roles") or []), bool(member.get("learner")))
    _store_course(session, organisation_id, lms_context_id, course, now)
    # Gone from the LMS only when no course the tool knows has them any more.
    enrolled = seen | set(
        session.scalars(
            select(CourseMember.person_id).where(CourseMember.organisation_id == organisation_id)
        )
    )
    gone = [p for p in by_sub.values() if p.in_lms and p.id not in enrolled]
    for person in gone:
        person.in_lms = False
    return Synced(added, updated, matched, len(gone))


def _store_course(
    session: Session,
    organisation_id: int,
    lms_context_id: int,
    members: dict[int, tuple[list[str], bool]],
    now: datetime,
) -> None:
    """The course's membership as just read: new members added, leavers removed."""
    existing = {
        row.person_id: row
        for row in session.scalars(
            select(CourseMember).where(
                CourseMember.organisation_id == organisation_id,
                CourseMember.lms_context_id == lms_context_id,
            )
        )
    }
    for person_id, (roles, learner) in members.items():
        row = existing.pop(person_id, None)
        if row is None:
            session.add(
                CourseMember(
                    organisation_id=organisation_id,
                    lms_context_id=lms_context_id,
                    person_id=person_id,
                    roles=roles,
                    learner=learner,
                    synced_at=now,
                )
            )
        else:
            row.roles, row.learner, row.synced_at = roles, learner, now
    for row in existing.values():
        session.delete(row)
    session.execute(
        update(LmsContext)
        .where(LmsContext.id == lms_context_id, LmsContext.organisation_id == organisation_id)
        .values(members_synced_at=now)
    )
    session.flush()
