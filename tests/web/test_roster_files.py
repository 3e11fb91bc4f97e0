"""Spreadsheet bombs and broken roster files: each is refused with its reason, a 400 page
through the real upload form and the same words from `flask roster import`, and nothing is
written. The files are built in tests/hostile_files.py."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from markupsafe import escape
from openpyxl import Workbook
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.db import db
from app.models import AuditEvent
from app.services import roster, sheets
from scripts.demo_lms.platform import DemoPlatform
from tests import hostile_files as hostile
from tests.learner_flow import csrf
from tests.web.test_roster import ORG, people

CSV_HEADER = ",".join(hostile.HEADINGS) + "\n"
ROW = "E1,Zoë,Lee,z@x.example,Place,Housing,,01/01/2020\n"
SAVE_AS = "Open it in Excel and save it as an Excel Workbook (.xlsx) or as CSV UTF-8."


def empty_workbook() -> bytes:
    out = io.BytesIO()
    Workbook().save(out)
    return out.getvalue()


def csv_rows(count: int) -> bytes:
    body = "".join(f"E{i},Ann,Lee,p{i}@x.example,Place,Housing,,01/01/2020\n" for i in range(count))
    return (CSV_HEADER + body).encode()


# (file name, builder, the reason given on the page and by the command)
HOSTILE: dict[str, tuple[str, Callable[[], bytes], str]] = {
    "zip bomb (258 KB of 53 MB XML)": (
        "roster.xlsx",
        hostile.bomb,
        "The workbook's part xl/worksheets/sheet1.xml is packed 211 times smaller than its 51 MB,"
        " over the limit of 100 times",
    ),
    "400,000 rows in 1 MB": (
        "roster.xlsx",
        lambda: hostile.many_rows(400_000),
        "Row 100,002: a roster may have at most 100,000 rows of people (limit 100,000).",
    ),
    "directory claims 200 MB": (
        "roster.xlsx",
        lambda: hostile.lie_about_size(
            hostile.roster_xlsx(3), "xl/worksheets/sheet1.xml", 200 * sheets.MB
        ),
        "The workbook unpacks to 200 MB, over the limit of 100 MB.",
    ),
    "directory hides the bomb's size": (
        "roster.xlsx",
        lambda: hostile.lie_about_size(hostile.bomb(), "xl/worksheets/sheet1.xml", 1000),
        "The workbook is damaged and could not be read (Bad CRC-32 for file"
        " 'xl/worksheets/sheet1.xml'). " + SAVE_AS,
    ),
    "not a zip": (
        "roster.xlsx",
        lambda: (CSV_HEADER + ROW).encode(),
        "The file is named .xlsx but is not an Excel workbook (an XLSX file is a zip archive,"
        " and this is not one). " + SAVE_AS,
    ),
    "empty file": ("roster.xlsx", lambda: b"", "The file is empty."),
    "empty CSV": ("roster.csv", lambda: b"", "The file is empty."),
    "empty workbook": (
        "roster.xlsx",
        empty_workbook,
        "The workbook's first sheet is empty: its first row must hold headings.",
    ),
    "headings only": (
        "roster.xlsx",
        lambda: hostile.roster_xlsx(0),
        "The file has headings but no rows of people.",
    ),
    "zip without [Content_Types].xml": (
        "roster.xlsx",
        lambda: hostile.xlsx(hostile.sheet_of([hostile.HEADINGS]), without="[Content_Types].xml"),
        "The file is a zip archive but not an Excel workbook: it has no [Content_Types].xml.",
    ),
    "corrupt XML": (
        "roster.xlsx",
        lambda: hostile.xlsx(hostile.sheet_of([hostile.HEADINGS, hostile.person(1)])[:400]),
        "The workbook is damaged and could not be read (unclosed token: line 1, column 399).",
    ),
    "password-protected workbook": (
        "roster.xlsx",
        hostile.encrypted_xlsx,
        "The file is protected with a password. Save a copy without the password",
    ),
    "old .xls": (
        "roster.xls",
        hostile.old_xls,
        "The file is in the old Excel 97-2003 format (.xls). " + SAVE_AS,
    ),
    "CSV in Windows-1252": (
        "roster.csv",
        lambda: (CSV_HEADER + ROW).encode("cp1252"),
        "The file is not UTF-8 text: row 2 has a byte (0xEB) that UTF-8 does not allow.",
    ),
    "CSV with a NUL byte": (
        "roster.csv",
        lambda: (CSV_HEADER + ROW + ROW.replace("E1,", "E2\x00,")).encode(),
        "Row 3 contains a NUL character, which a CSV file never holds",
    ),
    "workbook named .csv": (
        "roster.csv",
        lambda: hostile.roster_xlsx(1),
        "The file is named .csv but is an Excel workbook: name it .xlsx, or save it as CSV UTF-8.",
    ),
    "CSV of 100,001 people": (
        "roster.csv",
        lambda: csv_rows(100_001),
        "Row 100,002: a roster may have at most 100,000 rows of people (limit 100,000).",
    ),
    "CSV of 201 columns": (
        "roster.csv",
        lambda: (CSV_HEADER.rstrip("\n") + ",x" * 193 + "\n" + ROW).encode(),
        "Row 1: has 201 columns, over the limit of 200 columns.",
    ),
    "workbook of 201 columns": (
        "roster.xlsx",
        lambda: hostile.xlsx(
            hostile.sheet_of([hostile.HEADINGS, hostile.person(1), [""] * 200 + ["x"]])
        ),
        "Row 3: has more columns than that, over the limit of 200 columns.",
    ),
    "a PDF": (
        "roster.pdf",
        lambda: b"%PDF-1.4\n",
        "The roster must be a CSV or XLSX file, not .pdf.",
    ),
}


def error_summary(html: str) -> str:
    match = re.search(r'<div class="govuk-error-summary".*?</ul>', html, re.S)
    assert match, "no error summary on the page"
    return match.group(0)


@pytest.fixture
def upload(registered: DemoPlatform, launched: Any) -> Callable[[bytes, str], Any]:
    hr: FlaskClient = launched("u-priya")
    token = csrf(hr.get("/hr/roster").get_data(as_text=True))

    def post(data: bytes, filename: str) -> Any:
        # Encoded here, in memory: the test client would spool a large file to a temporary
        # file that it never closes.
        boundary, body = encode_multipart(
            {
                "csrf_token": token,
                "file": FileStorage(io.BytesIO(data), filename, content_type="text/plain"),
            }
        )
        return hr.post(
            "/hr/roster",
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            follow_redirects=True,  # an error is shown on the form, after a redirect
        )

    return post


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_or_broken_file_is_refused_with_its_reason_on_the_page_and_the_command(
    app: Flask,
    upload: Callable[[bytes, str], Any],
    runner: FlaskCliRunner,
    tmp_path: Path,
    case: str,
) -> None:
    filename, build, reason = HOSTILE[case]
    data = build()
    response = upload(data, filename)
    assert response.status_code == 200 and response.request.path == "/hr/roster"
    html = response.get_data(as_text=True)
    assert str(escape(reason)) in error_summary(html)
    assert "<title>Error: Import the roster" in html
    path = tmp_path / filename
    path.write_bytes(data)
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"Error: {reason}" in result.output
    assert {k for k in people(app) if k.startswith("E")} == set()
    with app.app_context():
        assert "roster_import" not in set(db.session.scalars(select(AuditEvent.action)))


# -- the limits at their exact boundaries, through the service ----------------------------------


def test_a_csv_of_exactly_100000_people_is_read() -> None:
    table = roster.read_file(csv_rows(sheets.MAX_ROWS), "roster.csv")
    assert len(table) == sheets.MAX_ROWS == 100_000
    assert table["employee_id"][-1] == "E99999"


def test_a_workbook_of_exactly_100000_rows_is_read_and_one_more_is_refused() -> None:
    rows = sheets.rows(hostile.many_rows(sheets.MAX_ROWS), "roster.xlsx")
    assert sum(1 for _ in rows) == sheets.MAX_ROWS + 1  # with the heading row
    with pytest.raises(sheets.Unreadable, match=r"^Row 100,002: "):
        list(sheets.rows(hostile.many_rows(sheets.MAX_ROWS + 1), "roster.xlsx"))


def test_200_columns_are_read_in_csv_and_xlsx() -> None:
    wide = [*hostile.HEADINGS, *(f"extra {i}" for i in range(192))]
    assert len(wide) == sheets.MAX_COLUMNS
    csv_data = (",".join(wide) + "\n" + ROW).encode()
    assert len(next(sheets.rows(csv_data, "r.csv"))) == 200
    xlsx_data = hostile.xlsx(hostile.sheet_of([wide, hostile.person(1)]))
    assert len(next(sheets.rows(xlsx_data, "r.xlsx"))) == 200


def test_a_cell_in_column_201_of_a_csv_is_refused_but_empty_cells_past_the_headings_are_not() -> (
    None
):
    padded = (CSV_HEADER + ROW.rstrip("\n") + ",,\n").encode()
    assert list(sheets.rows(padded, "r.csv"))[1][-2:] == ["", ""]
    extra = (CSV_HEADER + ROW.rstrip("\n") + ",surprise\n").encode()
    with pytest.raises(sheets.Unreadable, match="Row 2 has 9 cells but the heading row has 8"):
        list(sheets.rows(extra, "r.csv"))


def test_a_file_at_50_mb_is_read_and_one_byte_more_is_refused() -> None:
    at_limit = (
        CSV_HEADER.encode()
        + ROW.encode()
        + b"\n" * (sheets.MAX_FILE_BYTES - len(CSV_HEADER) - len(ROW.encode()))
    )
    assert len(at_limit) == sheets.MAX_FILE_BYTES
    assert len(roster.read_file(at_limit, "r.csv")) == 1
    with pytest.raises(roster.RosterFileError, match="The file must be smaller than 50 MB"):
        roster.read_file(at_limit + b" ", "r.csv")


def test_bytes_actually_unpacked_are_counted_whatever_the_directory_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = hostile.roster_xlsx(50)
    archive = sheets._open_archive(data)
    monkeypatch.setattr(sheets, "MAX_UNPACKED", 1000)  # as if the directory had said less
    with pytest.raises(sheets.Unreadable, match="unpacks to more than that"):
        archive.read("xl/worksheets/sheet1.xml")


def test_a_workbook_declaring_xml_entities_is_refused_without_expanding_them() -> None:
    # A "billion laughs": each entity ten of the one before. defusedxml refuses the lot.
    names = "abcdefghi"
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {names[i + 1]} "{("&" + names[i] + ";") * 10}">' for i in range(8)
    )
    sheet = hostile.SHEET_HEAD.replace("?>", f"?><!DOCTYPE worksheet [{entities}]>", 1)
    sheet += '<row r="1"><c r="A1" t="inlineStr"><is><t>&i;</t></is></c></row>'
    with pytest.raises(sheets.Unreadable) as refused:
        list(sheets.rows(hostile.xlsx(sheet + hostile.SHEET_TAIL), "r.xlsx"))
    assert str(refused.value).startswith(
        "The workbook is damaged and could not be read (EntitiesForbidden(name='a'"
    )


@pytest.mark.parametrize(
    ("data", "filename", "reason"),
    [
        (b"\n\n\n", "r.csv", "The file has no rows: its first row must hold the headings."),
        (
            hostile.xlsx(hostile.sheet_of([[], hostile.HEADINGS, hostile.person(1)])),
            "r.xlsx",
            "Row 1 is empty: the first row must hold the headings.",
        ),
    ],
    ids=["blank lines only", "headings on row 2"],
)
def test_a_file_without_headings_on_row_1_says_so(data: bytes, filename: str, reason: str) -> None:
    with pytest.raises(roster.RosterFileError) as refused:
        roster.read_file(data, filename)
    assert str(refused.value) == reason


def test_workbook_cells_read_as_before_and_blank_rows_keep_row_numbers() -> None:
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.append([*hostile.HEADINGS, "Elected member"])
    sheet.append([1234, "Ann", "Lee", "a@x.example", "Place", "Housing", None, "x", True])
    sheet.append([])
    sheet.append([5678.0, " Bo ", "Ray", "b@x.example", "Place", "Housing", 1234, "y", False])
    sheet.append([])
    out = io.BytesIO()
    wb.save(out)
    table = roster.read_file(out.getvalue(), "roster.xlsx")
    assert table["employee_id"] == ["1234", "", "5678"]  # the blank row 3 is kept
    assert table["first_name"] == ["Ann", "", "Bo"]
    assert table["manager"] == ["", "", "1234"]
    assert table["elected_member"] == ["True", "", "False"]
