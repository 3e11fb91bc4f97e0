"""Exports of HR's people table (CSV, XLSX, and the API's pages): filters read from plain
parameters, spreadsheet formula injection neutralised, files named, each export audited.

The table itself is reports.people_frame with reports.COLUMNS and HEADINGS: this module only
reads filters, formats the frame and writes files. It is shared by the HR pages, the API
and the CLI.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, TextIO, overload
from xml.sax.saxutils import escape

import pandas as pd
from sqlalchemy import func, or_, select
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
# XLSX rows are built this many at a time, to keep memory flat on large organisations.
_CHUNK = 10_000


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


# -- files -----------------------------------------------------------------------------------
@overload
def to_csv(frame: pd.DataFrame, out: None = None) -> bytes: ...
@overload
def to_csv(frame: pd.DataFrame, out: TextIO) -> None: ...
def to_csv(frame: pd.DataFrame, out: TextIO | None = None) -> bytes | None:
    """CSV (RFC 4180) of the documented columns: as UTF-8 bytes, or written to a text stream.

    Starts with a byte-order mark, so that Excel reads accented names right.
    """
    table = neutralise(frame)
    for column, kind in COLUMN_TYPES.items():
        if kind == "integer":
            table[column] = _integers(table[column])
        elif kind == "date":
            table[column] = _dates(table[column]).dt.strftime("%Y-%m-%d")
    options: dict[str, Any] = {
        "index": False,
        "header": [HEADINGS[c] for c in COLUMNS],
        "lineterminator": "\r\n",
    }
    if out is not None:
        out.write("\ufeff")
        table[COLUMNS].to_csv(out, **options)
        return None
    buffer = io.BytesIO()
    table[COLUMNS].to_csv(buffer, encoding="utf-8-sig", **options)
    return buffer.getvalue()


def to_xlsx(frame: pd.DataFrame) -> bytes:
    """One worksheet, "People": headings in bold, frozen, with filters; dates and times are
    Excel dates; text is always text (never a formula, whatever it starts with).

    The sheet's rows are built a column at a time with pandas (10,000 people at a time, so
    memory stays flat) and streamed into the zip. Not xlsxwriter: it writes each cell
    through several Python calls, 13 to 20 s for 100,000 people on a two-core machine
    (DataFrame.to_excel with it, 27 s), against the 15 s allowed for a whole export; this
    takes 4 to 6 s. The package around the rows is fixed (_XLSX_PARTS).
    """
    out = neutralise(frame)
    rows, last_col = len(out), _column_letter(len(COLUMNS) - 1)
    area = f"A1:{last_col}{rows + 1}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        for name, text in _XLSX_PARTS.items():
            package.writestr(name, text.replace("{AREA}", f"$A$1:${last_col}${rows + 1}"))
        with package.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(_SHEET_START.replace("{AREA}", area).encode())
            sheet.write(_COLS.encode())
            sheet.write(b"<sheetData>")
            header = "".join(
                f'<c r="{_column_letter(i)}1" s="1" t="inlineStr"><is><t>{escape(HEADINGS[c])}</t>'
                "</is></c>"
                for i, c in enumerate(COLUMNS)
            )
            sheet.write(f'<row r="1">{header}</row>'.encode())
            for start in range(0, rows, _CHUNK):
                sheet.write(_xlsx_rows(out.iloc[start : start + _CHUNK], start + 2).encode())
            sheet.write(f'</sheetData><autoFilter ref="{area}"/>{_SHEET_END}'.encode())
    return buffer.getvalue()


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# Characters XML 1.0 cannot carry: written as Excel's _xHHHH_ escapes, as xlsxwriter does.
_XML_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"


def _xml_text(values: pd.Series) -> pd.Series:
    text = (
        values.str.replace("&", "&amp;", regex=False)
        .str.replace("<", "&lt;", regex=False)
        .str.replace(">", "&gt;", regex=False)
        .str.replace("\r", "&#13;", regex=False)  # kept, not read back as a line feed
    )
    if text.str.contains(_XML_ILLEGAL, regex=True, na=False).any():
        text = text.str.replace(_XML_ILLEGAL, lambda m: f"_x{ord(m.group()):04X}_", regex=True)
    return text


def _xlsx_rows(chunk: pd.DataFrame, first_row: int) -> str:
    """<row> elements for these people, numbered from first_row; empty cells left out."""
    numbers = pd.Series(range(first_row, first_row + len(chunk)), index=chunk.index).astype(str)
    days = pd.Timedelta(days=1)
    cells = None
    for col, column in enumerate(COLUMNS):
        kind = COLUMN_TYPES.get(column, "text")
        values = chunk[column]
        ref = f'<c r="{_column_letter(col)}' + numbers
        if kind == "text":
            values = values.astype("string")  # anything else (a number, say) as text too
            cell = ref + '" t="inlineStr"><is><t xml:space="preserve">' + _xml_text(values)
            cell = (cell + "</t></is></c>").where(values.fillna("") != "")
        else:
            if kind == "date":
                serial = (_dates(values) - _EXCEL_EPOCH) / days
            elif kind == "datetime":
                serial = (_times(values) - _EXCEL_EPOCH) / days
            else:
                serial = pd.to_numeric(values, errors="coerce")
            style = _XLSX_STYLE[kind]
            cell = ref + f'"{style}><v>' + serial.astype(str) + "</v></c>"
            cell = cell.where(serial.notna())
        cell = cell.fillna("")
        cells = cell if cells is None else cells + cell
    assert cells is not None
    return "".join(('<row r="' + numbers + '">' + cells + "</row>").tolist())


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
    f'{_XML}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><dimension ref="{{AREA}}"/>'
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


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return to_csv(frame)


WRITERS: dict[str, Callable[[pd.DataFrame], bytes]] = {"csv": _csv_bytes, "xlsx": to_xlsx}


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
    data: bytes
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
) -> ExportFile:
    """The file, and its audit event (the caller commits them together)."""
    if fmt not in WRITERS:
        raise ValueError(f"Unknown export format {fmt!r}")
    day = london_date(now)
    scope = scope_for(session, organisation_id, policy_key, day)
    frame = table(session, scope, filters)
    data = WRITERS[fmt](frame)
    described = describe(filters)
    audit.record(
        session,
        organisation_id,
        "export",
        now,
        actor_person_id=actor_person_id,
        actor=actor,
        details={"format": fmt, "filters": described, "rows": len(frame)},
    )
    manager = session.get(Person, filters.manager_id) if filters.manager_id else None
    return ExportFile(
        filename=people_filename(
            filters, day, fmt, manager_name=manager.display_name if manager else None
        ),
        content_type=CONTENT_TYPES[fmt],
        data=data,
        rows=len(frame),
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
