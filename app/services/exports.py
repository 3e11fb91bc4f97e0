"""Exports of HR's people table (CSV, XLSX, and the API's pages): filters read from plain
parameters, spreadsheet formula injection neutralised, files named, each export audited.

The table itself is reports' (its statement, shape, COLUMNS and HEADINGS): this module reads
filters, formats the table and writes files. Whole-table files are written a chunk at a time
(on PostgreSQL the CSV by the database's COPY), so memory stays flat at any size. Shared by
the HR pages, the API and the CLI.
"""

from __future__ import annotations

import io
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, BinaryIO, Literal, TextIO, overload
from xml.sax.saxutils import escape

import pandas as pd
from sqlalchemy import Date, Integer, Select, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from app.clock import london_date
from app.models import Person
from app.services import audit, people, reports
from app.services.reports import COLUMNS, HEADINGS, Filters, Scope, scope_for
from app.services.status import State

CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# What each column holds, where it is not text: how XLSX, CSV, JSON and the OpenAPI
# description write it. Every other column of reports.COLUMNS is text.
COLUMN_TYPES: dict[str, Literal["integer", "date", "datetime"]] = {
    "assigned_date": "date",
    "due_date": "date",
    "days_overdue": "integer",
    "accepted_on": "date",
    "accepted_at_utc": "datetime",
    "quiz_score": "integer",
    "attempts": "integer",
    "valid_until": "date",
    "last_reminder": "datetime",
}
TEXT_COLUMNS = [c for c in COLUMNS if c not in COLUMN_TYPES]

# The filters, as parameter names: the HR page's form, the API's query and the CLI alike.
# Dates also come as GOV.UK date inputs' parts (accepted_from-day, -month, -year).
FILTER_PARAMS = (
    "status",
    "directorate",
    "department",
    "manager",
    "overdue_only",
    "accepted_from",
    "accepted_to",
    "include_leavers",
)
DATE_PARTS = ("day", "month", "year")
STATES = [s.value for s in State]

# OWASP, CSV injection: a cell starting with one of these may be run as a formula.
_FORMULA_START = ["=", "+", "-", "@", "\t", "\r", "\n"]
NUL_MESSAGE = "Must not contain a NUL character"
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}
# Excel counts days from 30 December 1899 (the 1900 leap-year bug folded in).
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Whole-table files are built this many people at a time: memory holds one chunk (about 50 MB
# at this size), whatever the number of people.
_CHUNK = 5_000


class FilterError(Exception):
    """Filters that cannot be used; errors maps each parameter to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# -- filters ---------------------------------------------------------------------------------
def parse_filters(
    session: Session, organisation_id: int, params: Mapping[str, Sequence[str]]
) -> Filters:
    """Filters from parameters as a query string gives them (each name -> its values).

    status may repeat or be comma-separated; manager is the manager's e-mail address or
    employee ID; dates are YYYY-MM-DD (or day/month/year parts); flags are true/false.
    """
    # PostgreSQL cannot hold NUL in text, so a filter carrying one would fail there (a 500):
    # no one's name or unit contains one, so say so before anything is looked up.
    nul = {name: NUL_MESSAGE for name, values in params.items() if any("\x00" in v for v in values)}
    if nul:
        raise FilterError(nul)
    errors: dict[str, str] = {}

    def one(name: str) -> str:
        values = params.get(name) or []
        return values[-1].strip() if values else ""

    statuses: list[str] = []
    for raw in params.get("status") or []:
        for value in (v.strip() for v in raw.split(",")):
            if not value:
                continue
            if value not in STATES:
                errors["status"] = f"Status must be one of: {', '.join(STATES)}"
            elif value not in statuses:
                statuses.append(value)

    flags = {}
    for name, label in (("overdue_only", "Overdue only"), ("include_leavers", "Include leavers")):
        value = one(name).lower()
        if value not in _TRUE | _FALSE:
            errors[name] = f"{label} must be true or false"
        flags[name] = value in _TRUE

    dates: dict[str, date | None] = {}
    for name, label in (
        ("accepted_from", "Completed on or after"),
        ("accepted_to", "Completed on or before"),
    ):
        try:
            dates[name] = _date_param(params, name, label)
        except ValueError as exc:
            errors[name] = str(exc)
            dates[name] = None
    start, end = dates["accepted_from"], dates["accepted_to"]
    if start and end and end < start:
        errors["accepted_to"] = (
            "Completed on or before must be the same date as completed on or after, or later"
        )

    manager_id = None
    manager = one("manager")
    if manager:
        manager_id = find_manager(session, organisation_id, manager)
        if manager_id is None:
            errors["manager"] = "No one in your organisation has that e-mail address or employee ID"

    if errors:
        raise FilterError(errors)
    return Filters(
        statuses=tuple(statuses),
        directorate=one("directorate") or None,
        department=one("department") or None,
        manager_id=manager_id,
        overdue_only=flags["overdue_only"],
        accepted_from=start,
        accepted_to=end,
        include_leavers=flags["include_leavers"],
    )


def _date_param(params: Mapping[str, Sequence[str]], name: str, label: str) -> date | None:
    whole = (params.get(name) or [""])[-1].strip()
    if whole:
        try:
            return date.fromisoformat(whole)
        except ValueError:
            raise ValueError(f"{label} must be a real date, like 2026-03-31") from None
    parts = {p: (params.get(f"{name}-{p}") or [""])[-1].strip() for p in DATE_PARTS}
    if not any(parts.values()):
        return None
    missing = [p for p in DATE_PARTS if not parts[p]]
    if missing:
        raise ValueError(f"{label} must include a {' and '.join(missing)}")
    try:
        return date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
    except ValueError:
        raise ValueError(f"{label} must be a real date") from None


def find_manager(session: Session, organisation_id: int, value: str) -> int | None:
    """A person of the organisation by employee ID or e-mail address (any case)."""
    return session.scalars(
        select(Person.id)
        .where(
            Person.organisation_id == organisation_id,
            or_(Person.employee_id == value, func.lower(Person.email) == value.lower()),
        )
        .order_by(Person.id)
        .limit(1)
    ).first()


def describe(filters: Filters) -> dict[str, Any]:
    """The filters that narrow the table, as plain JSON values (for the audit trail)."""
    out: dict[str, Any] = {}
    if filters.statuses:
        out["statuses"] = list(filters.statuses)
    for name in ("directorate", "department", "manager_id"):
        if getattr(filters, name) is not None:
            out[name] = getattr(filters, name)
    for name in ("accepted_from", "accepted_to"):
        if getattr(filters, name) is not None:
            out[name] = getattr(filters, name).isoformat()
    for name in ("overdue_only", "include_leavers"):
        if getattr(filters, name):
            out[name] = True
    for name in ("elected_member", "childrens_workforce"):
        if getattr(filters, name) is not None:
            out[name] = getattr(filters, name)
    return out


@dataclass(frozen=True)
class Choices:
    """What HR can pick from on the export page."""

    states: list[tuple[str, str]]
    directorates: list[str]
    departments: list[str]
    managers: list[tuple[str, str]]  # (e-mail or employee ID, label)


def choices(session: Session, organisation_id: int) -> Choices:
    directorates, departments = reports.units(session, organisation_id)
    return Choices(
        states=[(s.value, s.label) for s in State],
        directorates=directorates,
        departments=departments,
        managers=managers(session, organisation_id),
    )


def managers(session: Session, organisation_id: int) -> list[tuple[str, str]]:
    """Everyone who is someone's manager of record, as (e-mail or employee ID, label)."""
    out = []
    for boss in people.managers(session, organisation_id):
        key = boss.employee_id or boss.email
        if not key:
            continue  # nothing HR or an HR system could name them by
        label = boss.name or " ".join(p for p in (boss.first_name, boss.last_name) if p) or key
        out.append((key, f"{label} ({boss.email or boss.employee_id})"))
    return out


# -- the table -------------------------------------------------------------------------------
def table(session: Session, scope: Scope, filters: Filters) -> pd.DataFrame:
    """The documented columns, in order, for everyone the filters select."""
    return reports.people_frame(session, scope, filters)[COLUMNS]


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula get a leading ' (OWASP's advice).

    Applies to every text column, names and e-mails from the LMS or roster included.
    """
    out = frame.copy(deep=False)  # copy-on-write: only the columns changed are new
    for column in TEXT_COLUMNS:
        values = out[column]
        if values.empty:
            continue
        risky = values.str[:1].isin(_FORMULA_START)
        if risky.any():
            out[column] = values.where(~risky, "'" + values.where(risky, ""))
    return out


def _integers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").round().astype("Int64")


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce")


def _times(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format=_TIME_FORMAT, errors="coerce")


# -- the whole table, a chunk at a time ------------------------------------------------------
def table_statement(session: Session, scope: Scope, filters: Filters) -> tuple[Select[Any], Any]:
    """reports' statement of the table in people_frame's order (by name, then id, so that two
    runs list people alike), and the parameters it runs with."""
    query = reports._people(session, scope, filters)  # the one statement of the table
    ordered = query.order_by(Person.last_name, Person.first_name, Person.name, Person.id)
    return ordered, reports._params(session, scope)


def chunks(
    session: Session, scope: Scope, filters: Filters, size: int | None = None
) -> Iterator[pd.DataFrame]:
    """The table (people_frame's columns and order), `size` people at a time.

    The rows come through a server-side cursor on PostgreSQL (SQLite's cursor reads as it
    goes), so memory holds one chunk whatever the number of people."""
    query, params = table_statement(session, scope, filters)
    # yield_per also asks for a server-side cursor; run as Core, as status.person_status does.
    result = session.connection().execute(
        query, params, execution_options={"yield_per": size or _CHUNK}
    )
    keys = list(result.keys())
    for part in result.partitions():
        # Column by column: pandas building a frame from Row objects probes each of them.
        frame = pd.DataFrame(dict(zip(keys, zip(*part, strict=True), strict=True)))
        yield reports.shape(frame, scope.when)[COLUMNS]


# -- CSV -------------------------------------------------------------------------------------
_BOM = "\ufeff"  # so that Excel reads accented names right
_EOL = "\r\n"  # RFC 4180


def _csv_text(frame: pd.DataFrame, header: bool) -> str:
    """Rows of the documented columns as CSV text, quoted only where needed (a comma, a
    double quote or a line break), empty cells empty: what PostgreSQL's COPY writes too."""
    table = neutralise(frame)
    for column, kind in COLUMN_TYPES.items():
        if kind == "integer":
            table[column] = _integers(table[column])
        elif kind == "date":
            table[column] = _dates(table[column]).dt.strftime("%Y-%m-%d")
    return table[COLUMNS].to_csv(
        index=False,
        header=[HEADINGS[c] for c in COLUMNS] if header else False,
        lineterminator=_EOL,
    )


_HEADER = _csv_text(pd.DataFrame(columns=COLUMNS), header=True)


@overload
def to_csv(frame: pd.DataFrame, out: None = None) -> bytes: ...
@overload
def to_csv(frame: pd.DataFrame, out: TextIO) -> None: ...
def to_csv(frame: pd.DataFrame, out: TextIO | None = None) -> bytes | None:
    """CSV of a table already in memory (a page of the API, a manager's team): as UTF-8
    bytes, or written to a text stream. The same file write_csv streams."""
    text = _BOM + _csv_text(frame, header=True)
    if out is None:
        return text.encode()
    out.write(text)
    return None


def write_csv(
    session: Session,
    scope: Scope,
    filters: Filters,
    out: BinaryIO,
    *,
    copy: bool | None = None,
) -> int:
    """The table as CSV into `out`, a chunk at a time; returns how many people it holds.

    On PostgreSQL the database writes the rows itself (COPY, copy_statement), at its own
    speed; elsewhere, or with copy=False, they are built here from chunks(). Both write
    the same bytes (tests/web/test_export_streaming.py compares them)."""
    if copy is None:
        copy = session.get_bind().dialect.name == "postgresql"
    out.write((_BOM + _HEADER).encode())
    if copy:
        return _copy_rows(session, scope, filters, out)
    rows = 0
    for chunk in chunks(session, scope, filters):
        out.write(_csv_text(chunk, header=False).encode())
        rows += len(chunk)
    return rows


# -- CSV by PostgreSQL's COPY ----------------------------------------------------------------
# Python's whitespace (str.strip's), for trimming a manager's roster name exactly as shape()
# does; PostgreSQL's btrim takes the characters to remove.
_WHITESPACE = "".join(c for c in map(chr, range(0x10000)) if c.isspace())


def _pg_text(value: Any) -> Any:
    """A text cell: empty when empty (NULL, so COPY writes nothing, as pandas does) and with
    a leading ' where a spreadsheet would run it (neutralise)."""
    value = func.nullif(value, "")
    risky = func.left(value, 1).in_(_FORMULA_START)
    return case((risky, func.concat("'", value)), else_=value)


def _pg_day(value: Any) -> Any:
    return func.to_char(value, "YYYY-MM-DD")


def _pg_utc(value: Any) -> Any:
    return func.to_char(func.timezone("UTC", value), "YYYY-MM-DD HH24:MI:SS")


def _pg_columns(p: Any, when: Any) -> dict[str, Any]:
    """Each column of the file as PostgreSQL writes it: reports.shape, then _csv_text, said
    in SQL over reports' statement (the same rows and values; tests compare the files)."""
    due = p.due_basis + literal(when.due_days, Integer)
    late = literal(when.today, Date) - due
    space = func.strpos(p.name, " ")
    manager_roster = func.btrim(
        func.concat(func.coalesce(p.manager_first, ""), " ", func.coalesce(p.manager_last, "")),
        _WHITESPACE,
    )
    labels = {s.value: s.label for s in State}
    text = {
        "employee_id": p.employee_id,
        "first_name": func.coalesce(p.first_name, func.split_part(p.name, " ", 1)),
        "last_name": func.coalesce(p.last_name, case((space > 0, func.substr(p.name, space + 1)))),
        "email": p.email,
        "elected_member": case((p.elected_member, "Yes"), (~p.elected_member, "No")),
        "directorate": p.directorate,
        "department": p.department,
        "job_title": p.job_title,
        "manager_name": func.coalesce(func.nullif(p.manager_lti_name, ""), manager_roster),
        "manager_email": p.manager_email,
        "status": case(labels, value=p.state),
        "policy_version_accepted": p.policy_version_accepted,
        "recorded_on_behalf_by": p.recorded_on_behalf_by,
    }
    london_day = cast(func.timezone("Europe/London", p.accepted_at), Date)
    typed = {
        "assigned_date": _pg_day(p.due_basis),
        "due_date": _pg_day(due),
        "days_overdue": case((and_(p.overdue, late > 0), late)),
        "accepted_on": _pg_day(func.coalesce(p.accepted_on, london_day)),
        "accepted_at_utc": case((p.accepted_on.is_(None), _pg_utc(p.accepted_at))),
        "quiz_score": p.quiz_score,
        "attempts": p.attempts,
        "valid_until": _pg_day(p.valid_until),
        "last_reminder": _pg_utc(p.last_reminder),
    }
    assert set(text) == set(TEXT_COLUMNS) and set(typed) == set(COLUMN_TYPES)
    return {c: _pg_text(text[c]) if c in text else typed[c] for c in COLUMNS}


def copy_statement(session: Session, scope: Scope, filters: Filters) -> tuple[str, dict[str, Any]]:
    """The file's rows as one PostgreSQL SELECT, and its parameters (psycopg's %(name)s)."""
    rows = reports._people(session, scope, filters).subquery("p")
    columns = _pg_columns(rows.c, scope.when)
    query = select(*(columns[c].label(c) for c in COLUMNS)).order_by(
        rows.c.last_name, rows.c.first_name, rows.c.name, rows.c.person_id
    )
    # Parameters stay parameters, for psycopg to bind; lists are expanded to one each.
    compiled = query.compile(dialect=session.get_bind().dialect)
    state = compiled.construct_expanded_state(reports._params(session, scope))
    return state.statement, dict(state.parameters)


def _copy_rows(session: Session, scope: Scope, filters: Filters, out: BinaryIO) -> int:
    sql, params = copy_statement(session, scope, filters)
    connection: Any = session.connection().connection.driver_connection
    if connection.info.encoding != "utf-8":
        raise RuntimeError("The export needs the database connection's encoding to be UTF-8")
    rows, batch = 0, []
    with (
        connection.cursor() as cursor,
        cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy,
    ):
        # PostgreSQL sends each row in a message of its own ending in "\n" (line breaks
        # inside a cell are quoted): each gets RFC 4180's "\r\n" instead.
        for row in copy:
            batch.append(bytes(row[:-1]))
            if len(batch) == _CHUNK:
                out.write(b"\r\n".join(batch) + b"\r\n")
                rows += len(batch)
                batch.clear()
    if batch:
        out.write(b"\r\n".join(batch) + b"\r\n")
        rows += len(batch)
    return rows


# -- XLSX ------------------------------------------------------------------------------------
def write_xlsx(session: Session, scope: Scope, filters: Filters, out: BinaryIO) -> int:
    """The table as an Excel workbook into `out`, a chunk at a time; returns how many people
    it holds."""
    return _xlsx(chunks(session, scope, filters), out)


def to_xlsx(frame: pd.DataFrame) -> bytes:
    """The workbook of a table already in memory (write_xlsx's file)."""
    buffer = io.BytesIO()
    _xlsx([frame], buffer)
    return buffer.getvalue()


def _xlsx(frames: Iterable[pd.DataFrame], out: BinaryIO) -> int:
    """One worksheet, "People": headings in bold, frozen, with filters; dates and times are
    Excel dates; text is always text (never a formula, whatever it starts with).

    The sheet's rows are built a chunk of people at a time (_xlsx_rows) and deflated into
    the zip as they come, so memory stays flat. Not xlsxwriter: it writes each cell through
    several Python calls, 13 to 20 s for 100,000 people on a two-core machine
    (DataFrame.to_excel with it, 27 s); these rows take about 3 s. The package around the
    rows is fixed (_XLSX_PARTS); the parts that name the sheet's last row come after it, when
    that is known (the sheet gives no <dimension>: it is optional, and Excel works it out)."""
    rows, last_col = 0, _column_letter(len(COLUMNS) - 1)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        for name, text in _XLSX_PARTS.items():
            if "{AREA}" not in text:  # [Content_Types].xml first, where tools look for it
                package.writestr(name, text)
        with package.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(_SHEET_START.encode())
            sheet.write(_COLS.encode())
            sheet.write(b"<sheetData>")
            header = "".join(
                f'<c r="{_column_letter(i)}1" s="1" t="inlineStr"><is><t>{escape(HEADINGS[c])}</t>'
                "</is></c>"
                for i, c in enumerate(COLUMNS)
            )
            sheet.write(f'<row r="1">{header}</row>'.encode())
            for frame in frames:
                safe = neutralise(frame)
                for start in range(0, len(safe), _CHUNK):
                    part = safe.iloc[start : start + _CHUNK]
                    sheet.write(_xlsx_rows(part, rows + 2).encode())
                    rows += len(part)
            area = f"A1:{last_col}{rows + 1}"
            sheet.write(f'</sheetData><autoFilter ref="{area}"/>{_SHEET_END}'.encode())
        for name, text in _XLSX_PARTS.items():
            if "{AREA}" in text:
                package.writestr(name, text.replace("{AREA}", f"$A$1:${last_col}${rows + 1}"))
    return rows


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# What XML text cannot carry as it is: markup characters, a carriage return (kept, not read
# back as a line feed), and characters XML 1.0 cannot carry at all, written as Excel's _xHHHH_
# escapes, as xlsxwriter does.
_XML_SPECIAL = re.compile(r"[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}


def _xml_escape(match: re.Match[str]) -> str:
    char = match.group()
    return _XML_ENTITIES.get(char) or f"_x{ord(char):04X}_"


def _xlsx_rows(chunk: pd.DataFrame, first_row: int) -> str:
    """<row> elements for these people, numbered from first_row; empty cells left out.

    Numbers and dates are converted a column at a time with pandas; the cells are joined in
    plain Python, which is quicker than pandas' string operations (a third of the time)."""
    numbers = range(first_row, first_row + len(chunk))
    columns = []
    for col, column in enumerate(COLUMNS):
        letter = _column_letter(col)
        kind = COLUMN_TYPES.get(column, "text")
        values = chunk[column]
        if kind == "text":
            texts = values.astype(object).where(values.notna(), None).tolist()
            cells = [
                ""
                if v is None or v == ""
                else f'<c r="{letter}{n}" t="inlineStr"><is><t xml:space="preserve">'
                f"{_XML_SPECIAL.sub(_xml_escape, str(v))}</t></is></c>"
                for n, v in zip(numbers, texts, strict=True)
            ]
        else:
            if kind == "integer":
                serials = [None if pd.isna(v) else str(v) for v in _integers(values).tolist()]
            else:
                moments = _dates(values) if kind == "date" else _times(values)
                days = ((moments - _EXCEL_EPOCH) / pd.Timedelta(days=1)).tolist()
                serials = [None if d != d else repr(d) for d in days]  # NaN: no date
            start = f'"{_XLSX_STYLE[kind]}><v>'
            cells = [
                "" if v is None else f'<c r="{letter}{n}{start}{v}</v></c>'
                for n, v in zip(numbers, serials, strict=True)
            ]
        columns.append(cells)
    return "".join(
        f'<row r="{n}">{"".join(cells)}</row>'
        for n, cells in zip(numbers, zip(*columns, strict=True), strict=True)
    )


# Cell styles (indexes into cellXfs in styles.xml): 1 bold, 2 a date, 3 a date and time.
_XLSX_STYLE = {"date": ' s="2"', "datetime": ' s="3"', "integer": ""}
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006"
_OFFICE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XLSX_PARTS = {
    "[Content_Types].xml": (
        f'{_XML}<Types xmlns="{_PKG}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_OFFICE}.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        f'ContentType="{_OFFICE}.worksheet+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_OFFICE}.styles+xml"/></Types>'
    ),
    "_rels/.rels": (
        f'{_XML}<Relationships xmlns="{_PKG}/relationships"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'{_XML}<Relationships xmlns="{_PKG}/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews><workbookView/>'
        '</bookViews><sheets><sheet name="People" sheetId="1" r:id="rId1"/></sheets>'
        '<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" '
        'hidden="1">People!{AREA}</definedName></definedNames></workbook>'
    ),
    "xl/styles.xml": (
        f'{_XML}<styleSheet xmlns="{_MAIN}"><numFmts count="2">'
        '<numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
        '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
        '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
        '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
        '</borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
        'borderId="0"/></cellStyleXfs><cellXfs count="4">'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" '
        'applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" '
        'applyNumberFormat="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
        "</cellStyles></styleSheet>"
    ),
}
_SHEET_START = (
    f'{_XML}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
    '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
    'activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView>'
    '</sheetViews><sheetFormatPr defaultRowHeight="15"/>'
)
_COLS = (
    "<cols>"
    + "".join(
        f'<col min="{i}" max="{i}" width="{max(12, min(40, len(HEADINGS[c]) + 2))}" '
        'customWidth="1"/>'
        for i, c in enumerate(COLUMNS, start=1)
    )
    + "</cols>"
)
_SHEET_END = (
    '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
    "</worksheet>"
)


Writer = Callable[[Session, Scope, Filters, BinaryIO], int]
WRITERS: dict[str, Writer] = {"csv": write_csv, "xlsx": write_xlsx}


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "organisation"


def filename(organisation_name: str, day: date, fmt: str) -> str:
    """corporate-parenting-north-shire-council-2026-11-28.csv"""
    return f"corporate-parenting-{slug(organisation_name)}-{day.isoformat()}.{fmt}"


# A file name stays well inside every file system's 255 characters, whatever was filtered.
_NAME_MAX = 150


def _words(text: str) -> str:
    """Lower-case ASCII letters and digits joined by hyphens; "" when nothing is left.
    Apostrophes go without a gap: "Children's Services" -> "childrens-services"."""
    return slug(re.sub(r"['\u2019]", "", text)) if re.search(r"[A-Za-z0-9]", text) else ""


def people_filename(
    filters: Filters, day: date, fmt: str, *, manager_name: str | None = None
) -> str:
    """What was filtered, then the date: corporate-parenting-people-overdue-childrens-
    services-2026-12-05.csv. Only a-z, 0-9 and hyphens, so it is safe on every system and
    in a Content-Disposition header."""
    parts = [_words(State(s).label) for s in filters.statuses if s in STATES]
    if filters.overdue_only:
        parts.append("overdue")
    if filters.elected_member is not None:
        parts.append("councillors" if filters.elected_member else "staff")
    if filters.childrens_workforce is not None:
        parts.append(
            "childrens-workforce" if filters.childrens_workforce else "not-childrens-workforce"
        )
    parts += [_words(filters.directorate or ""), _words(filters.department or "")]
    if filters.manager_id is not None:
        parts.append("manager-" + (_words(manager_name or "") or str(filters.manager_id)))
    if filters.accepted_from:
        parts.append(f"accepted-from-{filters.accepted_from.isoformat()}")
    if filters.accepted_to:
        parts.append(f"accepted-to-{filters.accepted_to.isoformat()}")
    if filters.include_leavers:
        parts.append("with-leavers")
    what = "-".join(["corporate-parenting-people", *(p for p in parts if p)])
    if len(what) > _NAME_MAX:
        what = what[:_NAME_MAX].rsplit("-", 1)[0]
    return f"{what}-{day.isoformat()}.{fmt}"


@dataclass(frozen=True)
class ExportFile:
    filename: str
    content_type: str
    file: BinaryIO  # the file written (a temporary one, rewound, unless the caller gave it)
    size: int  # bytes
    rows: int
    filters: dict[str, Any] = field(default_factory=dict)


def export(
    session: Session,
    organisation_id: int,
    policy_key: str,
    filters: Filters,
    fmt: str,
    now: datetime,
    *,
    actor_person_id: int | None = None,
    actor: str | None = None,
    out: BinaryIO | None = None,
) -> ExportFile:
    """The file, written to `out` (by default a temporary file on disk, so memory stays
    flat whatever its size), and its audit event (the caller commits them together).

    The whole file is written before the event is recorded, so the event holds the exact
    number of rows and the audit trail is locked only for its own write. The caller sends
    the file once that commit is done: nothing leaves the tool unrecorded, and no database
    connection waits on a slow download."""
    if fmt not in WRITERS:
        raise ValueError(f"Unknown export format {fmt!r}")
    day = london_date(now)
    scope = scope_for(session, organisation_id, policy_key, day)
    target = out if out is not None else tempfile.TemporaryFile()  # noqa: SIM115 (returned)
    try:
        start = target.tell()
        rows = WRITERS[fmt](session, scope, filters, target)
        size = target.tell() - start
        if out is None:
            target.seek(0)
        described = describe(filters)
        audit.record(
            session,
            organisation_id,
            "export",
            now,
            actor_person_id=actor_person_id,
            actor=actor,
            details={"format": fmt, "filters": described, "rows": rows},
        )
        manager = session.get(Person, filters.manager_id) if filters.manager_id else None
    except BaseException:
        if out is None:
            target.close()
        raise
    return ExportFile(
        filename=people_filename(
            filters, day, fmt, manager_name=manager.display_name if manager else None
        ),
        content_type=CONTENT_TYPES[fmt],
        file=target,
        size=size,
        rows=rows,
        filters=described,
    )


# -- the API's pages -------------------------------------------------------------------------
def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON values: numbers, ISO dates, UTC times with Z, null where empty.

    Not neutralised: JSON is data for programs, and a spreadsheet is not reading it.
    """
    out = pd.DataFrame(index=frame.index)
    out["person_id"] = frame["person_id"].astype("Int64") if "person_id" in frame else None
    for column in COLUMNS:
        kind = COLUMN_TYPES.get(column, "text")
        if kind == "integer":
            out[column] = _integers(frame[column])
        elif kind == "date":
            out[column] = _dates(frame[column]).dt.strftime("%Y-%m-%d")
        elif kind == "datetime":
            out[column] = _times(frame[column]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            out[column] = frame[column]
    if "state" in frame:
        out["state"] = frame["state"]
        out["overdue"] = frame["overdue"].astype(bool)
    plain = out.astype(object).where(out.notna(), None)
    rows: list[dict[str, Any]] = plain.to_dict("records")
    for row in rows:
        for key, value in row.items():
            if hasattr(value, "item"):  # numpy scalars -> int/bool
                row[key] = value.item()
    return rows


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    frame: pd.DataFrame
    total: int


def page(session: Session, scope: Scope, filters: Filters, number: int, per_page: int) -> Page:
    """One page of the table (pages count from 1), in the table's stable order."""
    chunk = reports.people_frame(
        session, scope, filters, limit=per_page, offset=(number - 1) * per_page
    )
    total = reports.count_people(session, scope, filters)
    return Page(rows=records(chunk), frame=chunk[COLUMNS], total=total)
