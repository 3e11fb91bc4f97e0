"""The roster's optional column for the Corporate Parenting Committee's members: read under
its headings like the other yes/no columns, no for everyone a file without it brings in, and
left as it is by a file without it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from scripts.demo_lms.platform import DemoPlatform
from tests.learner_flow import csrf
from tests.web.test_roster import GOOD, ORG, people, roster_file, rows_written, table_rows

BASE = "Employee ID,First name,Last name,Email,Directorate,Department,Manager,Start date"
ROWS = (
    "E1,Aisha,Khan,aisha.khan@demo-council.example,Members,Councillors,,04/01/2021",
    "E2,Lee,Morgan,lee@demo-council.example,Members,Councillors,,12/09/2022",
    "E3,Tom,Price,tom@demo-council.example,Place,Housing,,01/03/2015",
)


def with_column(tmp_path: Path, heading: str, flags: tuple[str, ...], name: str) -> Path:
    path = tmp_path / name
    lines = [f"{BASE},Elected member,{heading}"]
    elected = ("yes", "yes", "")
    lines += [f"{r},{e},{f}" for r, e, f in zip(ROWS, elected, flags, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def imported(runner: FlaskCliRunner, path: Path) -> str:
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "heading",
    [
        "Corporate parenting committee",
        "Committee member",
        "CORPORATE-PARENTING_BOARD",
        "committee_member",
    ],
)
def test_the_column_is_read_under_each_heading(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path, heading: str
) -> None:
    imported(runner, with_column(tmp_path, heading, ("Yes", "no", ""), "roster.csv"))
    found = people(app)
    assert [found[e].committee_member for e in ("E1", "E2", "E3")] == [True, False, False]
    assert [found[e].elected_member for e in ("E1", "E2", "E3")] == [True, True, False]


def test_a_file_without_the_column_brings_people_in_as_not_members(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    imported(runner, roster_file(tmp_path, GOOD))
    assert {p.committee_member for p in people(app).values()} == {False}


def test_a_bad_value_is_a_problem_of_its_row_and_column(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = with_column(tmp_path, "Committee member", ("yes", "maybe", ""), "roster.csv")
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code != 0
    assert "row 3, committee member: 'maybe' should be yes or no" in result.output
    assert people(app) == {}


def test_an_unchanged_re_import_writes_no_person_with_or_without_the_column(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    marked = with_column(tmp_path, "Committee member", ("yes", "", "no"), "marked.csv")
    imported(runner, marked)
    before = table_rows(app)
    with rows_written(app) as written:
        again = imported(runner, marked)
    assert "unchanged: 3" in again
    assert set(written) == {"audit_event", "audit_head"}, written
    # A file without the column leaves the mark alone: it says nothing about it.
    without = tmp_path / "without.csv"
    elected = [f"{r},{e}" for r, e in zip(ROWS, ("yes", "yes", ""), strict=True)]
    without.write_text("\n".join([f"{BASE},Elected member", *elected]) + "\n")
    with rows_written(app) as written:
        imported(runner, without)
    assert set(written) == {"audit_event", "audit_head"}, written
    assert table_rows(app) == before
    # A change of the mark alone is a change: that row, and only it, is written.
    changed = with_column(tmp_path, "Committee member", ("no", "", "no"), "changed.csv")
    with rows_written(app) as written:
        output = imported(runner, changed)
    assert "updated: 1" in output and written["person"] == 1, (output, written)
    assert people(app)["E1"].committee_member is False


def test_the_check_page_names_the_column(
    app: Flask, registered: DemoPlatform, runner: FlaskCliRunner, tmp_path: Path, launched: Any
) -> None:
    imported(runner, with_column(tmp_path, "Committee member", ("", "", ""), "first.csv"))
    hr = launched("u-priya")
    page = hr.get("/hr/roster").get_data(as_text=True)
    assert "Corporate parenting committee" in page
    changed = with_column(tmp_path, "Committee member", ("", "yes", ""), "second.csv")
    with changed.open("rb") as file:
        checked = hr.post(
            "/hr/roster",
            content_type="multipart/form-data",
            data={"csrf_token": csrf(page), "file": (file, "second.csv")},
            follow_redirects=True,
        )
    text = checked.get_data(as_text=True)
    assert checked.status_code == 200, text
    # Lee's change, by the column's label, from no to yes.
    assert re.search(r"Corporate Parenting Committee: No <span[^>]*>→</span>.*?</span> Yes", text)
    assert "Lee Morgan" in text
