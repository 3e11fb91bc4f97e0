"""Whole-table exports are streamed: built a chunk at a time into a file, recorded, then sent
a block at a time. Through HTTP the files hold exactly the stored people at two sizes (one
chunk, and several with a part one); on PostgreSQL the CSV written by the database's COPY is
byte for byte the CSV built in Python, on data chosen to trip every formatting rule."""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import openpyxl
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import today
from app.db import db
from app.models import AuditEvent, Organisation, Person, Reminder
from app.services import exports, reports
from app.services.reports import COLUMNS, Filters
from tests.conftest import ORG
from tests.services import records
from tests.web.test_exports import download, read_csv, read_xlsx

CHUNK = 4  # people per chunk here, so that a few people make several chunks


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "_CHUNK", CHUNK)


# -- through HR's download form --------------------------------------------------------------
def add_staff(app: Flask, n: int) -> list[dict[str, str]]:
    """n people on HR's roster (never launched), as the file should list them, in its order."""
    with app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.name == ORG)).one()
        staff = [
            {
                "Employee ID": f"S{i:03}",
                "First name": f"First{i}",
                "Last name": f"Staff{i:03}",
                "Email": f"staff{i}@test.example",
            }
            for i in range(n)
        ]
        db.session.add_all(
            Person(
                organisation_id=org.id,
                employee_id=row["Employee ID"],
                first_name=row["First name"],
                last_name=row["Last name"],
                email=row["Email"],
                directorate="Place",
                assigned_on=today(),
            )
            for row in staff
        )
        db.session.commit()
    return staff


def export_events(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        return [
            e.details
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.seq)
            )
        ]


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("people", [3, 22], ids=["one-chunk", "several-chunks"])
def test_a_download_is_streamed_and_holds_every_stored_person_in_order(
    app: Flask, launched: Any, fmt: str, people: int
) -> None:
    hr: FlaskClient = launched("u-priya")
    staff = add_staff(app, people)
    response = download(hr, fmt)
    assert response.status_code == 200
    # Recorded before any of it is sent, with the number of people it holds (HR included).
    assert export_events(app) == [{"format": fmt, "filters": {}, "rows": people + 1}]
    assert response.is_streamed
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data()
    assert response.content_length == len(body)
    rows = read_csv(response) if fmt == "csv" else read_xlsx(response)
    assert len(rows) == people + 1
    listed = [
        {k: str(r[k]) for k in ("Employee ID", "First name", "Last name", "Email")}
        for r in rows
        if str(r["Employee ID"]).startswith("S")
    ]
    assert listed == staff
    assert {r["Status"] for r in rows} == {"Not started"}


def test_a_download_refused_for_bad_filters_writes_and_records_nothing(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    page = hr.get("/hr/exports")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1]
    response = hr.post(
        "/hr/exports/download",
        data={"csrf_token": token.split('"')[0], "format": "csv", "accepted_from": "2026-02-31"},
    )
    assert response.status_code == 302
    assert export_events(app) == []


# -- the service, a chunk at a time ----------------------------------------------------------
DAY = date(2026, 7, 1)  # in British Summer Time: London's day starts at 23:00 UTC


def scope_of(session: Session, org: Organisation) -> reports.Scope:
    return reports.scope_for(session, org.id, "cp", DAY)


def accepted(
    session: Session, s: records.Setup, who: Person, at: datetime, until: date, **kw: Any
) -> None:
    records.acceptance(session, s, who, until, at=at, **kw)


def hostile_council(session: Session) -> tuple[records.Setup, dict[str, Person]]:
    """People whose every column trips a rule of the file: formula starts, commas, quotes
    and line breaks, empty and missing names, managers named by the LMS or by the roster
    (with stray whitespace), acceptances in the tool (near midnight in London) and on paper,
    quiz attempts, reminders, overdue people, a councillor, a leaver, an anonymised person."""
    s = records.setup(session)
    org = s.org
    people: dict[str, Person] = {}

    def add(key: str, **kw: Any) -> Person:
        kw.setdefault("name", "")
        kw.setdefault("assigned_on", DAY - timedelta(days=3))
        people[key] = records.person(session, org, **kw)
        return people[key]

    roster_boss = add("roster_boss", first_name="\t Ann", last_name="Lee\u00a0", email="+b@x")
    lms_boss = add("lms_boss", name="=Boss Name", email="boss@x.example")
    recorder = add("recorder", name="+Recorder Person", employee_id="HR1")
    add(
        "hostile",
        employee_id="=1+1",
        first_name="Zoë",
        last_name='O"Brien, Jr',
        email="-x@evil.example",
        directorate="Children's Services",
        department="Fostering,\nTeam A",
        job_title="@SUM(A1)",
        manager_id=roster_boss.id,
        assigned_on=DAY - timedelta(days=60),
    )
    add("solo", name="Solo", manager_id=lms_boss.id, directorate="Place")
    add("three", name="Two Words Here", job_title="a\rb", department='"')
    add("empty", employee_id="", elected_member=True, name="", directorate="")
    add("spaces", name=" lead  space ", first_name=None, job_title="😀 中文 \u2028x")
    add("leaver", name="Lenny Leaver", active=False, left_on=DAY - timedelta(days=5))
    add("gone", name="Anne Onymous", anonymised_at=datetime(2026, 6, 1, tzinfo=UTC))
    add("late", name="Late Person", assigned_on=DAY - timedelta(days=400))

    # In the tool at 23:30 UTC: already the next day in London.
    records.submission(session, s, people["solo"], datetime(2026, 6, 30, 23, tzinfo=UTC))
    accepted(
        session,
        s,
        people["solo"],
        datetime(2026, 6, 30, 23, 30, 15, 900000, tzinfo=UTC),
        date(2027, 7, 1),
        quiz_score=87,
    )
    # On paper, entered by HR: its day alone, no time.
    accepted(
        session,
        s,
        people["three"],
        datetime(2026, 3, 2, 10, tzinfo=UTC),
        date(2026, 7, 20),  # inside the renewal window
        accepted_on=date(2026, 3, 1),
        recorded_by_person_id=recorder.id,
    )
    accepted(session, s, people["late"], datetime(2025, 1, 10, tzinfo=UTC), date(2026, 1, 10))
    for at in (datetime(2026, 6, 1, 8, tzinfo=UTC), datetime(2026, 6, 20, 9, 5, 7, tzinfo=UTC)):
        session.add(
            Reminder(
                organisation_id=org.id,
                person_id=people["hostile"].id,
                kind="overdue",
                to_address="z@x",
                subject="Reminder",
                outcome="sent",
                sent_at=at,
            )
        )
    session.flush()
    return s, people


def csv_bytes(session: Session, scope: reports.Scope, filters: Filters, *, copy: bool) -> bytes:
    out = io.BytesIO()
    exports.write_csv(session, scope, filters, out, copy=copy)
    return out.getvalue()


@pytest.mark.usefixtures("small_chunks")
def test_copy_on_postgresql_writes_the_same_bytes_as_python(app: Flask) -> None:
    with app.app_context():
        session = db.session()
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("COPY is PostgreSQL's")
        s, people = hostile_council(session)
        scope = scope_of(session, s.org)
        cases = [
            Filters(),
            Filters(include_leavers=True),
            Filters(overdue_only=True),
            Filters(statuses=("certified", "due_for_renewal", "expired")),
            Filters(directorate="Children's Services"),
            Filters(manager_id=people["roster_boss"].id),
            Filters(accepted_from=date(2026, 7, 1)),
            Filters(directorate="Nowhere"),
        ]
        for filters in cases:
            by_copy = csv_bytes(session, scope, filters, copy=True)
            by_python = csv_bytes(session, scope, filters, copy=False)
            assert by_copy == by_python, filters
        everyone = csv_bytes(session, scope, Filters(), copy=True).decode()
        # Not two empty files: the rules are there to be seen.
        for expected in (
            '\'=1+1,Zoë,"O""Brien, Jr",\'-x@evil.example',
            '"Fostering,\nTeam A",\'@SUM(A1)',
            ",Ann Lee,'+b@x,",  # the manager's roster name, trimmed as Python trims
            ",Solo,,,No,Place,,,'=Boss Name,boss@x.example,Completed,2026-06-28,2026-07-26,,"
            "2026-07-01,2026-06-30 23:30:15,1.0,87,1,2027-07-01,,\r\n",
            ",Yes,",
            "2026-03-01,,1.0,,0,2026-07-20,'+Recorder Person,",
            "2026-06-20 09:05:07\r\n",
        ):
            assert expected in everyone, expected
        assert len(everyone.split("\r\n")) == 1 + 9 + 1  # header, 9 people, the last "\r\n"


def cells(frame: pd.DataFrame) -> list[list[Any]]:
    """The values, row by row, with None where empty (however pandas typed the column)."""
    return frame.astype(object).where(frame.notna(), None).values.tolist()


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("filters", [Filters(include_leavers=True), Filters(directorate="Place")])
def test_chunks_hold_at_most_their_size_and_together_the_whole_table(
    app: Flask, filters: Filters
) -> None:
    """At two sizes (10 people: three chunks, the last one part full; 1 person: one)."""
    with app.app_context():
        session = db.session()
        s, _ = hostile_council(session)
        scope = scope_of(session, s.org)
        whole = reports.people_frame(session, scope, filters)[COLUMNS]
        parts = list(exports.chunks(session, scope, filters))
        assert [len(p) for p in parts] == [
            min(CHUNK, len(whole) - i * CHUNK) for i in range(math.ceil(len(whole) / CHUNK))
        ]
        assert cells(pd.concat(parts)) == cells(whole)
        # The files streamed from the chunks are the files of the table in memory.
        assert csv_bytes(session, scope, filters, copy=False) == exports.to_csv(whole)
        out = io.BytesIO()
        assert exports.write_xlsx(session, scope, filters, out) == len(whole)
        streamed = openpyxl.load_workbook(out).active
        in_memory = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(whole))).active
        assert streamed is not None and in_memory is not None
        assert list(streamed.values) == list(in_memory.values)
        assert streamed.max_row == len(whole) + 1
        assert streamed.auto_filter.ref == f"A1:V{len(whole) + 1}"
