"""HR's roster (CSV and XLSX, page and CLI) and LMS course membership (NRPS)."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.db import db
from app.hr.roster import MAX_BYTES, MAX_REQUEST_BYTES
from app.models import AuditEvent, Person
from scripts.demo_lms.platform import DemoPlatform
from tests.learner_flow import csrf

ROOT = Path(__file__).resolve().parents[2]
ORG = "Test Borough Council"
HEADER = (
    "Employee ID,First name,Last name,Email,Directorate,Department,Manager,Start date,"
    "Job title,Notes\n"
)


def people(app: Flask) -> dict[str, Person]:
    with app.app_context():
        rows = {
            p.employee_id or p.subject or str(p.id): p for p in db.session.scalars(select(Person))
        }
        db.session.expunge_all()
        return rows


def roster_file(tmp_path: Path, body: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body)
    return path


GOOD = (
    "E1,Aisha,Khan,aisha.khan@demo-council.example,Place,Housing,E3,04/01/2021,Officer,x\n"
    "E2,Lee,Morgan,Lee.Morgan@demo-council.example,Place,Planning,tom@demo-council.example,"
    "2022-09-12,Planner,\n"
    "E3,Tom,Price,tom@demo-council.example,Place,Housing,,01/03/2015,Manager,\n"
)


def test_import_creates_people_links_managers_and_is_audited(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = roster_file(tmp_path, GOOD)
    dry = runner.invoke(args=["roster", "import", str(path), "--org", ORG, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "New people: 3" in dry.output and "Dry run: nothing was changed." in dry.output
    assert people(app) == {}
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code == 0, result.output
    found = people(app)
    assert set(found) == {"E1", "E2", "E3"}
    assert found["E1"].manager_id == found["E3"].id == found["E2"].manager_id
    assert found["E2"].email == "lee.morgan@demo-council.example"
    assert str(found["E2"].start_date) == "2022-09-12"
    assert found["E1"].issuer is None and found["E1"].active
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "roster_import")
        ).one()
        assert event.details["created"] == 3
    again = runner.invoke(args=["roster", "import", str(path), "--org", ORG, "--dry-run"])
    assert "unchanged: 3" in again.output


ERRORS = [
    ("E4,,Smith,s@x.example,Place,Housing,,01/01/2020,,\n", 2, "first name", "is empty"),
    (
        "E4,Ann,Smith,not-an-email,Place,Housing,,01/01/2020,,\n",
        2,
        "email",
        "'not-an-email' is not an e-mail address",
    ),
    (
        "E4,Ann,Smith,a@x.example,Place,Housing,,31/02/2020,,\n",
        2,
        "start date",
        "'31/02/2020' is not a date",
    ),
    (
        "E4,Ann,Smith,a@x.example,Place,Housing,E99,01/01/2020,,\n",
        2,
        "manager",
        "'E99' is not the employee id or e-mail of anyone in the file",
    ),
    (
        "E4,Ann,Smith,a@x.example,Place,Housing,,01/01/2020,,\n"
        "E4,Bob,Jones,b@x.example,Place,Housing,,01/01/2020,,\n",
        3,
        "employee id",
        "'E4' appears on more than one row",
    ),
]


@pytest.mark.parametrize(
    ("body", "row", "column", "reason"),
    ERRORS,
    ids=["missing name", "bad email", "bad date", "unknown manager", "duplicate id"],
)
def test_bad_rows_are_reported_by_row_and_column_and_nothing_is_imported(
    app: Flask,
    registered: DemoPlatform,
    runner: FlaskCliRunner,
    tmp_path: Path,
    body: str,
    row: int,
    column: str,
    reason: str,
) -> None:
    path = roster_file(tmp_path, body)
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code != 0
    assert f"row {row}, {column}: {reason}" in result.output
    assert "Nothing imported" in result.output
    assert people(app) == {}


def test_the_good_rows_only_when_the_operator_says_so(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = roster_file(tmp_path, GOOD + "E9,Bad,Row,nope,Place,Housing,,01/01/2020,,\n")
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG, "--good-rows"])
    assert result.exit_code == 0, result.output
    assert "1 rows skipped" in result.output
    assert set(people(app)) == {"E1", "E2", "E3"}


def test_leavers_are_marked_inactive_never_deleted_and_can_come_back(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    runner.invoke(args=["roster", "import", str(roster_file(tmp_path, GOOD)), "--org", ORG])
    without_lee = GOOD.replace(GOOD.splitlines(keepends=True)[1], "")
    path = roster_file(tmp_path, without_lee, "second.csv")
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert "1 marked as leavers" in result.output
    lee = people(app)["E2"]
    assert not lee.active and lee.left_on is not None
    runner.invoke(
        args=["roster", "import", str(roster_file(tmp_path, GOOD, "third.csv")), "--org", ORG]
    )
    assert people(app)["E2"].active and people(app)["E2"].left_on is None


def test_an_unchanged_file_writes_nothing_and_a_changed_row_is_written(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    runner.invoke(args=["roster", "import", str(roster_file(tmp_path, GOOD)), "--org", ORG])
    with app.app_context():
        # A mark outside the roster's columns: a row written again would lose it.
        db.session.execute(sa.text("UPDATE person SET left_on = '2000-01-01'"))
        db.session.commit()
    again = runner.invoke(
        args=["roster", "import", str(roster_file(tmp_path, GOOD, "again.csv")), "--org", ORG]
    )
    assert "unchanged: 3" in again.output, again.output
    assert "0 new, 0 joined to LMS identities, 0 updated" in again.output
    assert {str(p.left_on) for p in people(app).values()} == {"2000-01-01"}
    # A row that did change is written, and its new manager linked; the others are not.
    moved = GOOD.replace("Place,Housing,E3,04/01/2021", "Resources,Finance,E2,04/01/2021")
    result = runner.invoke(
        args=["roster", "import", str(roster_file(tmp_path, moved, "moved.csv")), "--org", ORG]
    )
    assert "1 updated" in result.output, result.output
    found = people(app)
    assert found["E1"].manager_id == found["E2"].id and found["E1"].department == "Finance"
    assert found["E1"].left_on is None
    assert str(found["E3"].left_on) == "2000-01-01"


# The table a statement inserts into, updates or deletes from ("DO UPDATE SET" of an upsert
# writes the table its INSERT names).
WRITE = re.compile(r"\b(?:INSERT\s+INTO|(?<!DO )UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


@contextmanager
def rows_written(app: Flask) -> Iterator[Counter[str]]:
    """Rows written by table while the block runs, as the statements sent say: a statement
    run for many rows (executemany) counts each, so an update of 100 people is 100; an
    INSERT of several rows' VALUES in one statement counts once (these tests insert one)."""
    written: Counter[str] = Counter()

    def count(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        for table in set(WRITE.findall(statement)):
            written[table] += len(params) if many else 1

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield written
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def table_rows(app: Flask) -> dict[str, dict[str, Any]]:
    """Every person's stored row, by employee id (or LMS subject)."""
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT * FROM person")).mappings()
        return {r["employee_id"] or r["subject"]: dict(r) for r in rows}


def test_an_unchanged_re_import_writes_no_person_and_only_its_own_audit_event(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = roster_file(tmp_path, GOOD)
    first = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert first.exit_code == 0, first.output
    before = table_rows(app)
    with rows_written(app) as written:
        again = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert again.exit_code == 0, again.output
    # The import's own record of being run, and nothing else: no person row, not even
    # rewritten with the same values.
    assert set(written) == {"audit_event", "audit_head"}, written
    assert written["audit_event"] == 1
    assert table_rows(app) == before
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "roster_import").order_by(AuditEvent.seq)
        ).all()
    assert [e.details for e in events][1:] == [
        {
            "file": "roster.csv",
            "created": 0,
            "matched": 0,
            "updated": 0,
            "left": 0,
            "returned": 0,
            "skipped_rows": 0,
            "managers_linked": 2,
        }
    ]


def test_a_re_import_with_a_few_changes_writes_exactly_those_rows(
    app: Flask,
    registered: DemoPlatform,
    runner: FlaskCliRunner,
    tmp_path: Path,
    launched: Any,
) -> None:
    five = GOOD + (
        "E4,Ann,Lowe,ann@demo-council.example,Place,Housing,E3,01/01/2020,Officer,\n"
        "E5,Bo,Reyes,bo@demo-council.example,Place,Housing,E3,01/01/2020,Officer,\n"
    )
    runner.invoke(args=["roster", "import", str(roster_file(tmp_path, five)), "--org", ORG])
    without_bo = five.replace(five.splitlines(keepends=True)[4], "")
    runner.invoke(
        args=["roster", "import", str(roster_file(tmp_path, without_bo, "b.csv")), "--org", ORG]
    )
    assert runner.invoke(args=["org", "set", "--org", ORG, "roster_join", "email"]).exit_code == 0
    launched("u-tom")  # an LMS identity, not yet on the roster: tom.price@demo-council.example
    before = table_rows(app)
    assert not before["E5"]["active"] and before["u-tom"]["employee_id"] is None
    changed = (
        GOOD.replace("Place,Housing,E3,04/01/2021", "Place,Planning,E3,04/01/2021").replace(  # E1
            "tom@demo-council.example,2022-09-12", "E1,2022-09-12"
        )  # E2's manager
        # E4 leaves; E5 is back, as before; E6 is new; E7 is the LMS identity u-tom.
        + "E5,Bo,Reyes,bo@demo-council.example,Place,Housing,E3,01/01/2020,Officer,\n"
        "E6,Cy,Ng,cy@demo-council.example,Place,Housing,E1,01/02/2026,Officer,\n"
        "E7,Tom,Price,Tom.Price@demo-council.example,Place,Housing,E3,01/02/2026,Manager,\n"
    )
    with rows_written(app) as written:
        result = runner.invoke(
            args=["roster", "import", str(roster_file(tmp_path, changed, "c.csv")), "--org", ORG]
        )
    assert result.exit_code == 0, result.output
    assert "1 new, 1 joined to LMS identities, 2 updated, 1 marked as leavers" in result.output
    after = table_rows(app)
    differs = {
        key: sorted(f for f in row if row[f] != before.get(key, {}).get(f))
        for key, row in after.items()
        if row != before.get(key)
    }
    assert set(differs) == {"E1", "E2", "E4", "E5", "E6", "E7"}, differs
    assert differs["E1"] == ["department"]
    assert differs["E2"] == ["manager_id"]
    assert differs["E4"] == ["active", "left_on"]
    assert differs["E5"] == ["active", "left_on"]
    assert after["E2"]["manager_id"] == after["E1"]["id"]
    assert after["E7"]["id"] == before["u-tom"]["id"] and after["E7"]["subject"] == "u-tom"
    # Each of those rows written once, and the one manager link each needed; no other row.
    # E1, E5 and E7 updated; E4 leaves; E2 and E7 linked to their managers; E6 inserted.
    assert written["person"] == 7, written
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "roster_import")
            .order_by(AuditEvent.seq.desc())
        ).first()
    assert event is not None
    assert event.details == {
        "file": "c.csv",
        "created": 1,
        "matched": 1,
        "updated": 2,
        "left": 1,
        "returned": 1,
        "skipped_rows": 0,
        "managers_linked": 5,
    }


def test_people_who_manage_each_other_are_both_linked(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    circle = (
        "E1,Aisha,Khan,aisha@demo-council.example,Place,Housing,E2,04/01/2021,Officer,\n"
        "E2,Lee,Morgan,lee@demo-council.example,Place,Housing,aisha@demo-council.example,"
        "04/01/2021,Officer,\n"
        "E3,Tom,Price,tom@demo-council.example,Place,Housing,E1,01/03/2015,Officer,\n"
    )
    result = runner.invoke(
        args=["roster", "import", str(roster_file(tmp_path, circle)), "--org", ORG]
    )
    assert result.exit_code == 0, result.output
    found = people(app)
    assert found["E1"].manager_id == found["E2"].id
    assert found["E2"].manager_id == found["E1"].id
    assert found["E3"].manager_id == found["E1"].id


def test_xlsx_with_extra_columns_and_other_headings(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    frame = pd.DataFrame(
        [
            {
                "Staff number": "E7",
                "Forename": "Zoë",
                "Surname": "Ŵyn",
                "Work email": "z@x.example",
                "Directorate": "People",
                "Service": "Children's Social Care",
                "Line manager": "",
                "Date started": "2019-05-07",
                "Shoe size": "6",
            },
        ]
    )
    path = tmp_path / "roster.xlsx"
    frame.to_excel(path, index=False)
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code == 0, result.output
    person = people(app)["E7"]
    assert (person.first_name, person.last_name, person.department) == (
        "Zoë",
        "Ŵyn",
        "Children's Social Care",
    )


def test_a_file_without_a_required_column_is_refused(
    registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "r.csv"
    path.write_text("Employee ID,First name\nE1,Ann\n")
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code != 0
    assert "The file has no column for: last name, email" in result.output


def test_a_first_launch_joins_the_roster_entry_with_the_same_email(
    app: Flask,
    registered: DemoPlatform,
    runner: FlaskCliRunner,
    tmp_path: Path,
    launched: Any,
) -> None:
    # The roster's employee ids are not the LMS's ID numbers here: only e-mail can join.
    assert runner.invoke(args=["org", "set", "--org", ORG, "roster_join", "email"]).exit_code == 0
    runner.invoke(args=["roster", "import", str(roster_file(tmp_path, GOOD)), "--org", ORG])
    launched("u-aisha")
    found = people(app)
    assert "u-aisha" not in found  # no second record
    aisha = found["E1"]
    assert (aisha.issuer, aisha.subject) == (registered.issuer, "u-aisha")
    assert aisha.directorate == "Place" and aisha.name == "Aisha Khan"
    assert (aisha.joined_by, aisha.join_confirmed_at) == ("email", None)  # for HR to confirm
    assert len(found) == 3


def test_hr_uploads_checks_then_imports_on_the_roster_page(
    app: Flask, registered: DemoPlatform, launched: Any
) -> None:
    hr: FlaskClient = launched("u-priya")
    page = hr.get("/hr/roster").get_data(as_text=True)
    data = (HEADER + GOOD + "E9,Bad,Row,nope,Place,Housing,,01/01/2020,,\n").encode()
    response = hr.post(
        "/hr/roster",
        content_type="multipart/form-data",
        data={"csrf_token": csrf(page), "file": (io.BytesIO(data), "roster.csv")},
    )
    assert response.status_code == 302
    check_page = response.headers["Location"]
    checked = hr.get(check_page).get_data(as_text=True)
    assert "Check the roster" in checked and "row 5" not in checked
    assert ">5<" in checked and "is not an e-mail address" in checked
    assert {k for k in people(app) if k.startswith("E")} == set()
    done = hr.post(check_page, data={"csrf_token": csrf(checked)}, follow_redirects=True)
    assert "Roster imported" in done.get_data(as_text=True)
    assert {"E1", "E2", "E3"} <= set(people(app)) and "E9" not in people(app)
    assert launched("u-aisha").get("/hr/roster").status_code == 403


@pytest.fixture
def lms(registered: DemoPlatform, client: FlaskClient) -> Iterator[DemoPlatform]:
    registered.tool_jwks = client.get("/lti/jwks").json
    yield registered
    registered.tool_jwks = None


def test_lms_membership_brings_in_people_who_never_launched(
    app: Flask,
    lms: DemoPlatform,
    runner: FlaskCliRunner,
    tmp_path: Path,
    launched: Any,
) -> None:
    assert runner.invoke(args=["org", "set", "--org", ORG, "roster_join", "email"]).exit_code == 0
    runner.invoke(args=["roster", "import", str(roster_file(tmp_path, GOOD)), "--org", ORG])
    launched("u-tom")  # the course is known to the tool once someone launched from it
    result = runner.invoke(args=["roster", "sync-lms", "--org", ORG])
    assert result.exit_code == 0, result.output
    assert f"{len(lms.people)} members" in result.output  # all pages were read
    found = people(app)
    sam = found["u-sam"]  # enrolled, never launched: counted as not started
    assert sam.in_lms and sam.name == "Sam Wilson" and sam.assigned_on is not None
    assert found["E1"].subject == "u-aisha"  # matched to the roster by e-mail
    assert (found["E1"].joined_by, found["E1"].join_confirmed_at) == ("email", None)


def test_lms_membership_is_read_again_after_the_platform_rotated_its_keys(
    lms: DemoPlatform, runner: FlaskCliRunner, launched: Any
) -> None:
    launched("u-tom")
    first = runner.invoke(args=["roster", "sync-lms", "--org", ORG])
    assert f"{len(lms.people)} members" in first.output, first.output
    # The access token the tool keeps is refused once the platform's key changed (HTTP 401):
    # the tool fetches a new one and reads the members, instead of failing until it expires.
    lms.rotate_key()
    again = runner.invoke(args=["roster", "sync-lms", "--org", ORG])
    assert again.exit_code == 0 and f"{len(lms.people)} members" in again.output, again.output


class Unread(io.RawIOBase):
    """A request body that notes whether anything read it (it was spooled to disk before)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size, self.position, self.touched = size, 0, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.touched = True
        return 0

    # The test client measures the body by seeking to its end.
    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = self.size if whence == 2 else offset
        return self.position

    def tell(self) -> int:
        return self.position


BOUNDARY = "cpm-boundary"


def form_parts(token: str) -> tuple[bytes, bytes]:
    """The roster form around its file's content: CSRF token and the file's part."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="roster.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


def multipart(token: str, size: int) -> tuple[bytes, str]:
    """A roster form of exactly `size` bytes, the file padded to fill it."""
    head, tail = form_parts(token)
    body = head + HEADER.encode() + b"x" * (size - len(head) - len(HEADER) - len(tail)) + tail
    assert len(body) == size
    return body, f"multipart/form-data; boundary={BOUNDARY}"


def test_a_roster_upload_over_the_limit_gets_413_unread_and_nothing_is_written(
    app: Flask, registered: DemoPlatform, launched: Any, client: FlaskClient
) -> None:
    hr: FlaskClient = launched("u-priya")
    for who in (client, hr):  # anonymous (as in the review), then HR
        body = Unread(MAX_REQUEST_BYTES + 1)
        response = who.post(
            "/hr/roster",
            input_stream=body,
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
        )
        html = response.get_data(as_text=True)
        assert response.status_code == 413
        assert "<title>What you sent is too large" in html
        assert '<h1 class="govuk-heading-l">What you sent is too large</h1>' in html
        assert "(50 MB at most), so nothing was saved" in html
        assert not body.touched
    assert {k for k in people(app) if k.startswith("E")} == set()
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert "roster_import" not in actions


def test_the_roster_request_limit_takes_a_full_file_and_refuses_one_byte_more(
    app: Flask, registered: DemoPlatform, launched: Any
) -> None:
    hr: FlaskClient = launched("u-priya")
    token = csrf(hr.get("/hr/roster").get_data(as_text=True))
    # A file at the roster's own limit fits in the request with its form.
    assert sum(map(len, form_parts(token))) + MAX_BYTES <= MAX_REQUEST_BYTES
    body, content_type = multipart(token, MAX_REQUEST_BYTES)
    taken = hr.post("/hr/roster", data=body, content_type=content_type)
    # Read and checked: the file within is over 50 MB, which the page then says.
    assert taken.status_code == 302
    assert "The file must be smaller than 50 MB" in hr.get("/hr/roster").get_data(as_text=True)
    body, content_type = multipart(token, MAX_REQUEST_BYTES + 1)
    refused = hr.post("/hr/roster", data=body, content_type=content_type)
    assert refused.status_code == 413
    assert {k for k in people(app) if k.startswith("E")} == set()
