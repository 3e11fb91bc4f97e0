"""HR's exports through HTTP and the CLI: the documented columns in order, the right people
and statuses for a known set (real journeys and roster-only people), the filters, formula
injection neutralised in CSV and XLSX, file names, audit events, and who may export."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.clock import today
from app.db import db
from app.models import AuditEvent, Organisation, Person
from app.services import exports
from app.services.reports import COLUMNS, HEADINGS, Filters
from tests.conftest import ORG
from tests.learner_flow import csrf, read_all
from tests.web.test_acceptance import accept, passed

# The column set as the issue documents it, in order: the export must never drift from it.
DOCUMENTED = [
    "Employee ID",
    "First name",
    "Last name",
    "Email",
    "Elected member",
    "Directorate",
    "Department",
    "Job title",
    "Manager name",
    "Manager email",
    "Status",
    "Assigned date",
    "Due date",
    "Days overdue",
    "Accepted on",
    "Accepted at (UTC)",
    "Policy version accepted",
    "Quiz score (%)",
    "Quiz attempts",
    "Valid until",
    "Recorded on behalf by",
    "Last reminder (UTC)",
]
# Roster-only person whose every text field is something a spreadsheet would run.
HOSTILE = {
    "first_name": '=HYPERLINK("http://x")',
    "last_name": "+1",
    "email": "-2@evil.example",
    "job_title": "@SUM(A1)",
    "department": "\t=1",
}
SLUG = "corporate-parenting-people"  # everyone: no filter to name


# -- the known set ---------------------------------------------------------------------------
def org_id(app: Flask) -> int:
    with app.app_context():
        return db.session.scalars(select(Organisation.id).where(Organisation.name == ORG)).one()


def add_roster_people(app: Flask) -> None:
    """People on HR's roster who have never launched: a manager, her overdue report with
    hostile text, and a leaver. Aisha gets her roster details and Maria as manager."""
    with app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.name == ORG)).one()
        maria = Person(
            organisation_id=org.id,
            employee_id="E002",
            first_name="Maria",
            last_name="Lopez",
            email="maria.lopez@test.example",
            directorate="Children's Services",
            department="Fostering",
            job_title="Head of Fostering",
            assigned_on=today(),
        )
        db.session.add(maria)
        db.session.flush()
        db.session.add(
            Person(
                organisation_id=org.id,
                employee_id="E001",
                directorate="Children's Services",
                manager_id=maria.id,
                assigned_on=today() - timedelta(days=60),
                **HOSTILE,
            )
        )
        db.session.add(
            Person(
                organisation_id=org.id,
                employee_id="E003",
                first_name="Lenny",
                last_name="Leaver",
                email="lenny@test.example",
                directorate="Resources",
                active=False,
                left_on=today() - timedelta(days=10),
                assigned_on=today() - timedelta(days=100),
            )
        )
        aisha = db.session.scalars(select(Person).where(Person.subject == "u-aisha")).one()
        aisha.employee_id = "E010"
        aisha.directorate = "Housing"
        aisha.department = "Tenancy"
        aisha.job_title = "Housing officer"
        aisha.manager_id = maria.id
        db.session.commit()


@pytest.fixture
def council(app: Flask, launched: Any) -> FlaskClient:
    """Aisha completed (the real journey), Lee in progress, Jo (a councillor) and Tom not
    started, plus roster-only people. Returns Priya's (HR) client."""
    hr = launched("u-priya")
    aisha = launched("u-aisha")
    passed(app, aisha)
    assert accept(aisha, "Aisha Khan").status_code == 302
    read_all(launched("u-lee"))
    launched("u-jo")
    launched("u-tom")
    add_roster_people(app)
    return hr


def download(hr: FlaskClient, fmt: str, query: str = "") -> Any:
    """Open the export page (with filters applied), then press a download button."""
    page = hr.get(f"/hr/exports{query}")
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    form = html[html.index('action="/hr/exports/download"') :]
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    data: list[tuple[str, str]] = [("csrf_token", csrf(html)), ("format", fmt)]
    data += [(k, unescape(v)) for k, v in hidden]
    return hr.post("/hr/exports/download", data=MultiDict(data))


def read_csv(response: Any) -> list[dict[str, str]]:
    text = response.get_data().decode("utf-8")
    assert text.startswith("\ufeff")  # so that Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(text[1:], newline="")))
    assert rows[0] == DOCUMENTED
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def read_xlsx(response: Any) -> list[dict[str, Any]]:
    book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
    sheet = book.active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == DOCUMENTED
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]  # type: ignore[arg-type]


def by_email(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["Email"]): r for r in rows}


def names(rows: list[dict[str, Any]]) -> set[str]:
    return {str(r["First name"]) for r in rows}


# -- the column set --------------------------------------------------------------------------
def test_the_column_set_is_the_documented_one_in_order() -> None:
    assert [HEADINGS[c] for c in COLUMNS] == DOCUMENTED


def test_the_export_page_documents_every_column_in_order(council: FlaskClient) -> None:
    html = council.get("/hr/exports").get_data(as_text=True)
    table = html[html.index('id="columns"') :]
    positions = [table.index(f">{h}<") for h in DOCUMENTED]
    assert positions == sorted(positions)
    meanings = re.findall(r'<td class="govuk-table__cell">([^<]*)</td>', table)
    assert len(meanings) == len(DOCUMENTED) * 2 and all(m.strip() for m in meanings)
    assert "7 people match" in html  # five who launched, two on the roster (not the leaver)


# -- the right people and statuses -----------------------------------------------------------
def test_csv_has_the_right_people_and_statuses(app: Flask, council: FlaskClient) -> None:
    response = download(council, "csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename={SLUG}-{today().isoformat()}.csv"
    )
    assert response.headers["Cache-Control"] == "no-store"
    rows = by_email(read_csv(response))
    d = "demo-council.example"
    assert set(rows) == {
        f"aisha.khan@{d}",
        f"lee.morgan@{d}",
        f"tom.price@{d}",
        f"priya.shah@{d}",
        f"cllr.jo.evans@{d}",
        "maria.lopez@test.example",
        "'-2@evil.example",
    }  # not the leaver
    aisha = rows[f"aisha.khan@{d}"]
    assert aisha["Status"] == "Completed"
    assert aisha["Employee ID"] == "E010" and aisha["First name"] == "Aisha"
    assert (aisha["Directorate"], aisha["Department"], aisha["Job title"]) == (
        "Housing",
        "Tenancy",
        "Housing officer",
    )
    assert aisha["Manager name"] == "Maria Lopez"
    assert aisha["Manager email"] == "maria.lopez@test.example"
    assert aisha["Policy version accepted"] == "2.0"
    assert aisha["Quiz score (%)"] == "100" and aisha["Quiz attempts"] == "1"
    accepted = datetime.strptime(aisha["Accepted at (UTC)"], "%Y-%m-%d %H:%M:%S")
    assert accepted.date() in (today(), today() - timedelta(days=1))
    assert date.fromisoformat(aisha["Valid until"]) > today()
    assert aisha["Days overdue"] == "" and aisha["Recorded on behalf by"] == ""
    assert rows[f"lee.morgan@{d}"]["Status"] == "In progress"
    assert rows[f"lee.morgan@{d}"]["Quiz attempts"] == "0"
    jo = rows[f"cllr.jo.evans@{d}"]
    assert (jo["Status"], jo["Elected member"]) == ("Not started", "Yes")
    assert aisha["Elected member"] == "No"
    assert jo["Assigned date"] == today().isoformat()
    assert jo["Due date"] == (today() + timedelta(days=28)).isoformat()
    overdue = rows["'-2@evil.example"]
    assert overdue["Status"] == "Not started" and overdue["Employee ID"] == "E001"
    assert overdue["Days overdue"] == "32"  # assigned 60 days ago, due after 28
    assert overdue["Manager name"] == "Maria Lopez"
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
        priya = db.session.scalars(select(Person.id).where(Person.subject == "u-priya")).one()
        assert event.actor_person_id == priya
        assert event.details == {"format": "csv", "filters": {}, "rows": 7}


def test_xlsx_has_the_same_people_with_dates_as_dates(app: Flask, council: FlaskClient) -> None:
    response = download(council, "xlsx")
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert f"filename={SLUG}-{today().isoformat()}.xlsx" in response.headers["Content-Disposition"]
    rows = by_email(read_xlsx(response))
    assert len(rows) == 7
    aisha = rows["aisha.khan@demo-council.example"]
    assert aisha["Status"] == "Completed" and aisha["Manager name"] == "Maria Lopez"
    assert isinstance(aisha["Valid until"], datetime) and aisha["Valid until"].date() > today()
    assert isinstance(aisha["Accepted at (UTC)"], datetime)
    assert aisha["Quiz score (%)"] == 100 and aisha["Quiz attempts"] == 1
    assert isinstance(aisha["Assigned date"], datetime)
    assert rows["'-2@evil.example"]["Days overdue"] == 32
    assert rows["cllr.jo.evans@demo-council.example"]["Elected member"] == "Yes"
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
        assert event.details["format"] == "xlsx" and event.details["rows"] == 7


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_cells_are_neutralised(council: FlaskClient, fmt: str) -> None:
    response = download(council, fmt)
    rows = read_csv(response) if fmt == "csv" else read_xlsx(response)
    [row] = [r for r in rows if r["Employee ID"] == "E001"]
    assert row["First name"] == "'" + HOSTILE["first_name"]
    assert row["Last name"] == "'+1"
    assert row["Email"] == "'-2@evil.example"
    assert row["Job title"] == "'@SUM(A1)"
    assert row["Department"] == "'\t=1"
    assert row["Directorate"] == "Children's Services"  # a quote inside is left alone
    if fmt == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(response.get_data()))
        sheet = book.active
        assert sheet is not None
        types = {cell.data_type for row in sheet.iter_rows() for cell in row}
        assert "f" not in types  # not a single formula anywhere


# -- filters ---------------------------------------------------------------------------------
D = "demo-council.example"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=certified", {"Aisha"}),
        ("?status=in_progress&status=certified", {"Aisha", "Lee"}),
        ("?directorate=Children%27s+Services", {"Maria", "'" + HOSTILE["first_name"]}),
        ("?department=Tenancy", {"Aisha"}),
        ("?manager=E002", {"Aisha", "'" + HOSTILE["first_name"]}),
        ("?manager=MARIA.LOPEZ%40test.example", {"Aisha", "'" + HOSTILE["first_name"]}),
        ("?overdue_only=true", {"'" + HOSTILE["first_name"]}),
        ("?include_leavers=true&directorate=Resources", {"Lenny"}),
        ("?directorate=Resources", set()),
        ("?accepted_from-day={d}&accepted_from-month={m}&accepted_from-year={y}", {"Aisha"}),
        ("?accepted_to-day={d}&accepted_to-month={m}&accepted_to-year={y}", {"Aisha"}),
        ("?accepted_from-day={d2}&accepted_from-month={m2}&accepted_from-year={y2}", set()),
    ],
)
def test_filters_narrow_the_export(
    app: Flask, council: FlaskClient, query: str, expected: set[str]
) -> None:
    day, later = today(), today() + timedelta(days=2)
    query = query.format(
        d=day.day, m=day.month, y=day.year, d2=later.day, m2=later.month, y2=later.year
    )
    response = download(council, "csv", query)
    assert response.status_code == 200
    assert names(read_csv(response)) == expected
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
        assert event.details["filters"]  # what was asked for is on the record
        assert event.details["rows"] == len(expected)


def test_an_empty_export_still_has_its_header_row(council: FlaskClient) -> None:
    for fmt, read in (("csv", read_csv), ("xlsx", read_xlsx)):
        assert read(download(council, fmt, "?directorate=Nowhere")) == []


def test_bad_filters_are_summarised_and_nothing_is_offered(council: FlaskClient) -> None:
    response = council.get(
        "/hr/exports?status=bogus&accepted_from-day=31&accepted_from-month=2"
        "&accepted_from-year=2026&accepted_to-day=1&accepted_to-month=1&manager=nobody"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<title>Error:" in html and "There is a problem" in html
    assert "Completed on or after must be a real date" in html
    assert "Completed on or before must include a year" in html
    assert "No one in your organisation has that e-mail address or employee ID" in html
    assert 'href="#accepted_from-day"' in html and 'href="#status"' in html
    assert "/hr/exports/download" not in html


def test_a_download_needs_the_forms_csrf_token(app: Flask, council: FlaskClient) -> None:
    response = council.post("/hr/exports/download", data={"format": "csv"})
    assert response.status_code == 400
    with app.app_context():
        assert (
            db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all() == []
        )


@pytest.mark.parametrize("user", ["u-aisha", "u-tom"], ids=["learner", "manager"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/hr/exports"),
        ("post", "/hr/exports/download"),
        ("get", "/hr/api-tokens"),
        ("post", "/hr/api-tokens"),
        ("get", "/hr/api-tokens/1/revoke"),
        ("post", "/hr/api-tokens/1/revoke"),
    ],
)
def test_only_hr_may_export_or_manage_tokens(
    launched: Any, user: str, method: str, path: str
) -> None:
    client = launched(user)
    read_all(client)  # then the quiz page has a form, so a CSRF token for this visit
    page = client.get("/quiz").get_data(as_text=True)
    data = {"csrf_token": csrf(page), "format": "csv", "name": "x"} if method == "post" else None
    response = getattr(client, method)(path, data=data)
    assert response.status_code == 403


def test_the_export_needs_a_visit(client: FlaskClient, registered: Any) -> None:
    assert client.get("/hr/exports").status_code == 401


# -- the CLI ---------------------------------------------------------------------------------
def test_the_cli_writes_the_file_and_records_the_export(
    app: Flask, council: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "done.csv"
    result = runner.invoke(
        args=["export", "--org", ORG, "--format", "csv", "--out", str(out), "--status", "certified"]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 1 people" in result.output
    text = out.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["First name"] for r in rows] == ["Aisha"]
    assert list(rows[0]) == DOCUMENTED
    xlsx = tmp_path / "all.xlsx"
    result = runner.invoke(
        args=["export", "--org", ORG, "--out", str(xlsx), "--manager", "maria.lopez@test.example"]
    )
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(xlsx).active
    assert sheet is not None and sheet.max_row == 3  # the header, Aisha and E001
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.seq)
        ).all()
        assert [(e.actor, e.actor_person_id, e.details["format"]) for e in events] == [
            ("cli", None, "csv"),
            ("cli", None, "xlsx"),
        ]
        assert events[0].details["filters"] == {"statuses": ["certified"]}
        assert events[1].details["rows"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "Nowhere Council"], "No organisation called"),
        (["--org", ORG, "--accepted-from", "2026-02-31"], "must be a real date"),
        (["--org", ORG, "--manager", "nobody@x"], "No one in your organisation"),
    ],
)
def test_the_cli_refuses_bad_options_and_writes_nothing(
    app: Flask,
    council: FlaskClient,
    runner: FlaskCliRunner,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    out = tmp_path / "x.csv"
    result = runner.invoke(args=["export", *args, "--out", str(out)])
    assert result.exit_code != 0 and message in result.output
    assert not out.exists()
    with app.app_context():
        assert (
            db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all() == []
        )


@pytest.mark.parametrize(
    "text", ["=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "=cmd|' /C calc'!A0"]
)
def test_every_risky_start_is_neutralised_in_both_formats(text: str) -> None:
    frame = pd.DataFrame(
        [
            {c: None for c in COLUMNS}
            | {"first_name": text, "last_name": "a&b <c>\x07", "attempts": 1}
        ]
    )
    [row] = read_csv(_Body(exports.to_csv(frame)))
    assert row["First name"] == "'" + text
    assert row["Last name"] == "a&b <c>\x07"  # safe text is left exactly as it was
    book = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(frame)))
    sheet = book.active
    assert sheet is not None
    cells = {c.column_letter: c for c in sheet[2]}
    assert cells["B"].value == "'" + text and cells["B"].data_type == "s"
    assert cells["C"].value == "a&b <c>_x0007_"  # Excel's escape for a control character
    assert cells["S"].value == 1  # attempts: the 19th column


class _Body:
    """A response-like wrapper, so read_csv reads a file made by the service directly."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_data(self) -> bytes:
        return self.data


# -- file names say what was filtered --------------------------------------------------------
DAY = date(2026, 12, 5)


@pytest.mark.parametrize(
    ("filters", "manager", "expected"),
    [
        (Filters(), None, "corporate-parenting-people-2026-12-05.csv"),
        (
            Filters(overdue_only=True, directorate="Children's Services"),
            None,
            "corporate-parenting-people-overdue-childrens-services-2026-12-05.csv",
        ),
        (
            Filters(statuses=("not_started", "quiz_passed"), elected_member=True),
            None,
            "corporate-parenting-people-not-started-quiz-passed-awaiting-acceptance-councillors"
            "-2026-12-05.csv",
        ),
        (
            Filters(elected_member=False, childrens_workforce=True, include_leavers=True),
            None,
            "corporate-parenting-people-staff-childrens-workforce-with-leavers-2026-12-05.csv",
        ),
        (
            Filters(childrens_workforce=False, department="Café / ../Étude <b>", manager_id=7),
            "Zoë O\u2019Brien",
            "corporate-parenting-people-not-childrens-workforce-cafe-etude-b-manager-zoe-obrien"
            "-2026-12-05.csv",
        ),
        (
            Filters(directorate="中文", manager_id=7, accepted_from=date(2026, 4, 1)),
            "",
            "corporate-parenting-people-manager-7-accepted-from-2026-04-01-2026-12-05.csv",
        ),
    ],
)
def test_a_file_name_says_what_was_filtered_in_safe_characters(
    filters: Filters, manager: str | None, expected: str
) -> None:
    assert exports.people_filename(filters, DAY, "csv", manager_name=manager) == expected


def test_a_long_file_name_is_cut_at_a_word() -> None:
    name = exports.people_filename(Filters(directorate="Directorate " * 40), DAY, "xlsx")
    assert re.fullmatch(r"[a-z0-9-]+\.xlsx", name)
    assert len(name) <= 150 + len("-2026-12-05.xlsx")
    assert name.endswith("-directorate-2026-12-05.xlsx")
