"""HR's dashboard, people list and person record, through HTTP: the figures for a known set
of people, the filters and pages, who may see them, and never another council's people."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.clock import today, utcnow
from app.db import db
from app.models import Organisation, Person, Reminder
from tests.conftest import ORG
from tests.web.test_acceptance import accept, passed

# -- helpers ---------------------------------------------------------------------------------


class _Tables(HTMLParser):
    """Every table on a page: its caption and its rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "caption":
            self._caption = []
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._caption is not None:
            self.tables[-1]["caption"] = " ".join("".join(self._caption).split())
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._caption is not None:
            self._caption.append(data)


def table(html: str, caption: str) -> list[list[str]]:
    """The body rows (not the heading row) of the table whose caption starts so."""
    parser = _Tables()
    parser.feed(html)
    for found in parser.tables:
        if found["caption"].startswith(caption):
            return [row for row in found["rows"][1:] if row]
    raise AssertionError(f"no table captioned {caption!r}")


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def org_id(app: Flask, name: str = ORG) -> int:
    with app.app_context():
        return db.session.scalars(select(Organisation.id).where(Organisation.name == name)).one()


def add_person(app: Flask, organisation_id: int | None = None, **fields: Any) -> int:
    """A roster person (never launched), straight into the database."""
    with app.app_context():
        org = (
            organisation_id
            or db.session.scalars(select(Organisation.id).where(Organisation.name == ORG)).one()
        )
        fields.setdefault("assigned_on", today())
        person = Person(organisation_id=org, **fields)
        db.session.add(person)
        db.session.commit()
        return person.id


def update_person(app: Flask, email: str, **fields: Any) -> int:
    with app.app_context():
        person = db.session.scalars(select(Person).where(Person.email == email)).one()
        for key, value in fields.items():
            setattr(person, key, value)
        db.session.commit()
        return person.id


def other_organisation(app: Flask) -> int:
    with app.app_context():
        other = Organisation(name="Other Shire Council")
        db.session.add(other)
        db.session.commit()
        return other.id


AISHA = "aisha.khan@demo-council.example"
PRIYA = "priya.shah@demo-council.example"


@pytest.fixture
def council(app: Flask, launched: Any) -> dict[str, Any]:
    """A known council: Aisha completes through the real journey; roster people in two
    directorates, one overdue, one leaver; and another council with its own person."""
    hr = launched("u-priya")
    aisha = launched("u-aisha")
    passed(app, aisha)
    assert accept(aisha, "Aisha Khan").status_code == 302
    ids = {
        "aisha": update_person(app, AISHA, directorate="Place", department="Housing"),
        "priya": update_person(app, PRIYA, directorate="Resources", department="HR"),
    }
    ids["mina"] = add_person(
        app,
        first_name="Mina",
        last_name="Patel",
        email="mina.patel@demo-council.example",
        employee_id="E100",
        directorate="Children's Services",
        department="Fostering",
        job_title="Team manager",
    )
    ids["kim"] = add_person(
        app,
        first_name="Kim",
        last_name="Ng",
        email="kim.ng@demo-council.example",
        employee_id="E101",
        directorate="Children's Services",
        department="Fostering",
        manager_id=ids["mina"],
    )
    ids["olu"] = add_person(
        app,
        first_name="Olu",
        last_name="Ade",
        email="olu.ade@demo-council.example",
        employee_id="E102",
        directorate="Place",
        department="Housing",
        assigned_on=today() - timedelta(days=60),
    )
    ids["leaver"] = add_person(
        app,
        first_name="Lena",
        last_name="Gone",
        employee_id="E103",
        directorate="Place",
        department="Housing",
        active=False,
        left_on=today() - timedelta(days=10),
    )
    other = other_organisation(app)
    ids["outsider"] = add_person(
        app,
        organisation_id=other,
        first_name="Zed",
        last_name="Outsider",
        email="zed@other.example",
        employee_id="E100",
        directorate="Place",
        department="Housing",
    )
    return {"hr": hr, "aisha": aisha, "ids": ids, "other": other}


# -- the dashboard ---------------------------------------------------------------------------


def test_dashboard_counts_each_status_overall_and_by_unit(council: dict[str, Any]) -> None:
    html = council["hr"].get("/hr/").get_data(as_text=True)
    words = text_of(html)
    # Active people of this council: Aisha (completed), Priya, Mina, Kim, Olu (overdue).
    assert "20%" in words and "have completed the module and are in date: 1 of 5 people" in words
    assert "1 is overdue" in words
    statuses = {row[0]: row[1:] for row in table(html, "How many people are in each status")}
    assert statuses["Completed"] == ["1", "20%"]
    assert statuses["Not started"] == ["4", "80%"]
    assert statuses["Everyone"] == ["5", "100%"]
    units = {row[0]: row[1:] for row in table(html, "Completion by directorate and department")}
    assert units == {
        "Children's Services, Fostering": ["0 of 2 (0%)", "0"],
        "Place, Housing": ["1 of 2 (50%)", "1"],
        "Resources, HR": ["0 of 1 (0%)", "0"],
    }
    # The bars are drawing only: hidden from assistive technology, the numbers are text.
    assert html.count('<svg class="app-bar" aria-hidden="true" focusable="false"') >= 9
    assert "Zed" not in html and "Other Shire" not in html


def test_dashboard_can_include_leavers_and_narrow_to_a_unit(council: dict[str, Any]) -> None:
    hr = council["hr"]
    words = text_of(hr.get("/hr/?leavers=y").get_data(as_text=True))
    assert "1 of 6 people" in words
    words = text_of(hr.get("/hr/?directorate=Place").get_data(as_text=True))
    assert "50%" in words and "1 of 2 people" in words
    html = hr.get("/hr/?directorate=Place&department=Housing&leavers=y").get_data(as_text=True)
    assert "1 of 3 people" in text_of(html)


def test_completions_per_week_counts_acceptances_by_week(
    app: Flask, council: dict[str, Any]
) -> None:
    html = council["hr"].get("/hr/").get_data(as_text=True)
    weeks = table(html, "Completions per week")
    assert len(weeks) == 12
    monday = today() - timedelta(days=today().weekday())
    assert weeks[-1][0] == f"{monday.day} {monday:%B %Y}"
    assert weeks[-1][1] == "1"
    assert all(row[1] == "0" for row in weeks[:-1])


# -- the people list -------------------------------------------------------------------------


def names_listed(html: str) -> list[str]:
    return [row[0] for row in table(html, "People, page")] if "People, page" in html else []


def test_people_list_filters(app: Flask, council: dict[str, Any]) -> None:
    hr, ids = council["hr"], council["ids"]

    def listed(query: str) -> list[str]:
        """The names listed (without their e-mail), sorted: databases order missing roster
        names differently (SQLite puts NULL first, PostgreSQL last)."""
        response = hr.get(f"/hr/people?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        html = response.get_data(as_text=True)
        return sorted(" ".join(name.split()[:2]) for name in names_listed(html))

    assert listed("") == ["Aisha Khan", "Kim Ng", "Mina Patel", "Olu Ade", "Priya Shah"]
    form = hr.get("/hr/people").get_data(as_text=True)
    for legend in ("Status", "Completed on or after", "Completed on or before"):
        assert re.search(rf"<legend[^>]*>\s*{legend}\s*</legend>", form), legend
    assert listed("status=certified") == ["Aisha Khan"]
    assert listed("status=certified&status=not_started&directorate=Place") == [
        "Aisha Khan",
        "Olu Ade",
    ]
    assert listed("department=Fostering") == ["Kim Ng", "Mina Patel"]
    assert listed(f"manager={ids['mina']}") == ["Kim Ng"]
    assert listed("overdue=y") == ["Olu Ade"]
    day = today()
    on = f"{day.day}&accepted_from={day.month}&accepted_from={day.year}"
    assert listed(f"accepted_from={on}") == ["Aisha Khan"]
    before = day - timedelta(days=3)
    assert (
        listed(f"accepted_to={before.day}&accepted_to={before.month}&accepted_to={before.year}")
        == []
    )
    assert "Lena Gone" in listed("leavers=y")
    assert all("Zed" not in name for name in listed("leavers=y"))


def test_people_list_shows_the_status_and_marks_overdue(council: dict[str, Any]) -> None:
    html = council["hr"].get("/hr/people?overdue=y").get_data(as_text=True)
    [row] = table(html, "People, page")
    assert row[0] == "Olu Ade olu.ade@demo-council.example Place, Housing"
    assert row[1] == "Not started Overdue"
    due = today() - timedelta(days=60) + timedelta(days=28)
    assert row[2] == f"Due {due.day} {due:%B %Y}"
    assert f'href="/hr/people/{council["ids"]["olu"]}"' in html


def test_a_bad_date_filter_is_explained(council: dict[str, Any]) -> None:
    response = council["hr"].get("/hr/people?accepted_from=31&accepted_from=2&accepted_from=2026")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in html
    assert "Completed on or after must be a real date" in html
    assert "<title>Error:" in html


def test_people_list_is_paged_fifty_at_a_time_keeping_the_filters(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    for n in range(120):
        add_person(
            app,
            first_name=f"Person{n:03d}",
            last_name="Finance",
            employee_id=f"F{n:03d}",
            directorate="Resources",
            department="Finance",
        )
    first = hr.get("/hr/people?directorate=Resources").get_data(as_text=True)
    assert "120 people" in first and "Showing 1 to 50 of 120." in first
    assert len(names_listed(first)) == 50
    assert 'href="/hr/people?directorate=Resources&amp;page=2"' in first
    assert 'aria-current="page"' in first
    last = hr.get("/hr/people?directorate=Resources&page=3").get_data(as_text=True)
    assert "Showing 101 to 120 of 120." in last
    rows = names_listed(last)
    assert len(rows) == 20 and rows[-1].startswith("Person119 Finance")
    assert "<title>People (page 3 of 3)" in last
    beyond = hr.get("/hr/people?directorate=Resources&page=99").get_data(as_text=True)
    assert "Showing 101 to 120 of 120." in beyond


# -- one person's record ---------------------------------------------------------------------


def test_person_record_shows_details_attempts_acceptances_reminders_and_events(
    app: Flask, council: dict[str, Any]
) -> None:
    ids = council["ids"]
    with app.app_context():
        db.session.add(
            Reminder(
                organisation_id=org_id(app),
                person_id=ids["aisha"],
                kind="manual",
                to_address=AISHA,
                subject="Please complete the Corporate Parenting module",
                created_at=utcnow(),
                outcome="sent",
                sent_at=utcnow(),
            )
        )
        db.session.commit()
    html = council["hr"].get(f"/hr/people/{ids['aisha']}").get_data(as_text=True)
    words = text_of(html)
    assert "<h1" in html and "Aisha Khan</h1>" in html
    assert "Completed" in words and "Valid until" in words
    assert "Directorate Place" in words and "Department Housing" in words
    assert "E-mail aisha.khan@demo-council.example" in words
    attempts = table(html, "Quiz attempts")
    assert len(attempts) == 1 and "(100%)" in attempts[0][3] and attempts[0][4] == "Passed"
    assert "Version 2.0," in words
    assert "In the learning portal, typing the name Aisha Khan" in words
    reminders = table(html, "Reminders")
    assert reminders[0][1:] == [
        "Sent by their manager or HR",
        "Please complete the Corporate Parenting module",
        "Sent",
    ]
    events = [row[1] for row in table(html, "Audit events about them")]
    assert "Accepted the policy" in events
    assert "Opened the module from the learning portal" in events
    assert any(e.startswith("Read a section") for e in events)

    kim = council["hr"].get(f"/hr/people/{ids['kim']}").get_data(as_text=True)
    assert f'<a class="govuk-link" href="/hr/people/{ids["mina"]}">Mina Patel</a>' in kim
    assert "Not started" in text_of(kim)


def test_names_and_units_are_escaped_everywhere(app: Flask, launched: Any) -> None:
    hr = launched("u-priya")
    evil = add_person(
        app,
        first_name="<script>alert(1)</script>",
        last_name="Smith",
        email="x@example.com",
        directorate="<b>Dir</b>",
        department="<i>Dept</i>",
        job_title='"><img src=x>',
    )
    for path in ("/hr/", "/hr/people", f"/hr/people/{evil}"):
        html = hr.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "<b>Dir</b>" not in html, path
        assert "<img src=x>" not in html, path
        assert "&lt;b&gt;Dir&lt;/b&gt;" in html or "&lt;b&gt;Dir&lt;&#x2F;b&gt;" in html, path


# -- who may see it --------------------------------------------------------------------------

HR_PAGES = ["/hr/", "/hr/people", "/hr/settings", "/hr/people/{id}", "/hr/people/{id}/legal-hold"]


@pytest.mark.parametrize("user", ["u-aisha", "u-tom"], ids=["learner", "manager"])
@pytest.mark.parametrize("path", HR_PAGES)
def test_learners_and_managers_cannot_see_hr_pages(
    app: Flask, launched: Any, user: str, path: str
) -> None:
    someone = add_person(app, first_name="Sam", last_name="Roster", directorate="Place")
    client = launched(user)
    response = client.get(path.format(id=someone))
    assert response.status_code == 403
    assert "Sam" not in response.get_data(as_text=True)


def test_without_a_launch_hr_pages_need_one(client: FlaskClient, registered: Any) -> None:
    assert client.get("/hr/").status_code == 401
    assert client.get("/hr/people").status_code == 401


@pytest.mark.parametrize(
    "path", ["/hr/people/{id}", "/hr/people/{id}/legal-hold", "/hr/people/{id}/record-acceptance"]
)
def test_another_councils_person_is_not_found(council: dict[str, Any], path: str) -> None:
    response = council["hr"].get(path.format(id=council["ids"]["outsider"]))
    assert response.status_code == 404
    assert "Zed" not in response.get_data(as_text=True)


def test_hr_see_their_pages_in_the_service_navigation(council: dict[str, Any]) -> None:
    hr = council["hr"]
    home = hr.get("/").get_data(as_text=True)
    assert re.search(r'href="/hr/"\s*>\s*HR\s*<', home)
    dashboard = hr.get("/hr/").get_data(as_text=True)
    assert re.search(r'href="/hr/"\s+aria-current="page"\s*>\s*<strong[^>]*>Dashboard', dashboard)
    assert re.search(r'href="/hr/people"\s*>\s*People', dashboard)
    assert re.search(r'href="/hr/settings"\s*>\s*Settings', dashboard)
    # HR's pages in place of the one "HR" link.
    assert not re.search(r'service-navigation__link" href="/hr/">\s*HR\s*<', dashboard)
    person = hr.get(f"/hr/people/{council['ids']['kim']}").get_data(as_text=True)
    assert re.search(r'href="/hr/people"\s+aria-current="true"', person)
    learner = council["aisha"].get("/").get_data(as_text=True)
    assert 'href="/hr/' not in learner and "Dashboard" not in learner


def test_dates_in_the_list_are_calendar_dates(council: dict[str, Any]) -> None:
    """Valid-until dates are shown for people who completed, due dates for the others."""
    html = council["hr"].get("/hr/people?status=certified").get_data(as_text=True)
    [row] = table(html, "People, page")
    assert row[2].startswith("Valid until ")
    assert date.today().year <= int(row[2].rsplit(" ", 1)[1])
