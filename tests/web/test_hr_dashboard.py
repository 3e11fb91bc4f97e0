"""HR's dashboard, people list and person record, through HTTP: the figures for a known set
of people, the filters and pages, who may see them, and never another council's people."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.clock import today, utcnow
from app.db import db
from app.models import (
    Acceptance,
    AuditEvent,
    Organisation,
    Person,
    PolicySection,
    PolicyVersion,
    Reminder,
)
from app.services import audit, people
from tests.conftest import ORG
from tests.learner_flow import csrf
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


# -- one list of people: the filters added with it, the download, old addresses --------------


def add_councillor_and_childrens_workforce(app: Flask) -> dict[str, int]:
    """Jo, a councillor; Cara, a children's social worker due today (not yet overdue); and
    Dev, in the children's workforce, due yesterday (overdue by one day)."""
    return {
        "jo": add_person(
            app, first_name="Jo", last_name="Evans", elected_member=True, employee_id="C1"
        ),
        "cara": add_person(
            app,
            first_name="Cara",
            last_name="Social",
            employee_id="E110",
            directorate="Children's Services",
            department="Safeguarding",
            childrens_workforce=True,
            assigned_on=today() - timedelta(days=28),  # due today: 28 days to complete
        ),
        "dev": add_person(
            app,
            first_name="Dev",
            last_name="Worker",
            employee_id="E111",
            directorate="Children's Services",
            department="Safeguarding",
            childrens_workforce=True,
            assigned_on=today() - timedelta(days=29),  # due yesterday
        ),
    }


def listed_names(hr: FlaskClient, query: str, status: int = 200) -> list[str]:
    response = hr.get(f"/hr/people?{query}")
    assert response.status_code == status, response.get_data(as_text=True)
    return sorted(" ".join(n.split()[:2]) for n in names_listed(response.get_data(as_text=True)))


def test_each_filter_of_the_one_list_at_its_boundary(app: Flask, council: dict[str, Any]) -> None:
    add_councillor_and_childrens_workforce(app)
    hr = council["hr"]
    assert listed_names(hr, "role=councillors") == ["Jo Evans"]
    staff = listed_names(hr, "role=staff")
    assert "Jo Evans" not in staff and {"Aisha Khan", "Cara Social", "Kim Ng"} <= set(staff)
    assert listed_names(hr, "childrens=yes") == ["Cara Social", "Dev Worker"]
    assert "Cara Social" not in listed_names(hr, "childrens=no")
    assert "Kim Ng" in listed_names(hr, "childrens=no")
    # Overdue is past the due date: due yesterday is, due today is not.
    assert listed_names(hr, "overdue=y") == ["Dev Worker", "Olu Ade"]
    # Combined, every filter narrows the list further.
    assert listed_names(hr, "overdue=y&childrens=yes") == ["Dev Worker"]
    assert listed_names(hr, "overdue=y&childrens=yes&role=councillors") == []
    assert listed_names(
        hr, "childrens=yes&directorate=Children%27s+Services&status=not_started"
    ) == [
        "Cara Social",
        "Dev Worker",
    ]
    # A value the form never offers is no filter, not an error page.
    assert "Jo Evans" in listed_names(hr, "role=bogus&childrens=maybe")


def test_the_list_says_which_filters_are_in_use_and_folds_them_away(
    app: Flask, council: dict[str, Any]
) -> None:
    hr = council["hr"]
    page = hr.get("/hr/people").get_data(as_text=True)
    assert '<details id="filters" class="govuk-details">' in page  # folded: not "open"
    assert "Filtered by" not in page and "Clear the filters" not in page
    for legend in ("Staff or councillors", "Children&#39;s workforce", "Status"):
        assert re.search(rf"<legend[^>]*>\s*{legend}\s*</legend>", page), legend
    assert "Select all that apply." in page and "Overdue only" in page
    assert "Only people past their due date" not in page  # one wording for the one filter
    html = hr.get("/hr/people?overdue=y&childrens=yes&directorate=Place").get_data(as_text=True)
    words = unescape(text_of(html))
    assert "0 people match the filters" in words
    assert "Filtered by: Overdue only Only the children's workforce Directorate: Place" in words, (
        words
    )
    assert "Nobody matches all of these filters." in words
    assert (
        "Try removing a filter: each one you add narrows the list further, or include leavers."
        in words
    )
    assert words.count("Clear the filters") == 1 and "clear the filters to see everyone" in words
    assert 'href="/hr/people">clear the filters to see everyone</a>' in html
    assert "Download this list" not in words  # nothing to download


def test_an_empty_organisation_says_how_people_come_to_be_listed(launched: Any) -> None:
    hr = launched("u-priya")
    words = text_of(hr.get("/hr/people?role=councillors").get_data(as_text=True))
    assert (
        "Nobody matches this filter." in words
        and "Try removing a filter, or include leavers" in words
    )


def download_list(hr: FlaskClient, query: str, fmt: str = "csv") -> Any:
    """Open the list with these filters and press one of its download buttons."""
    html = hr.get(f"/hr/people?{query}").get_data(as_text=True)
    form = html[html.index('action="/hr/people/download"') :]
    form = form[: form.index("</form>")]
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form)
    data = [("csrf_token", csrf(html)), ("format", fmt), *((k, unescape(v)) for k, v in hidden)]
    return hr.post("/hr/people/download", data=MultiDict(data))


def test_download_this_list_keeps_the_filters_and_names_the_file_for_them(
    app: Flask, council: dict[str, Any]
) -> None:
    add_councillor_and_childrens_workforce(app)
    hr = council["hr"]
    query = "overdue=y&childrens=yes&directorate=Children%27s+Services"
    response = download_list(hr, query)
    assert response.status_code == 200
    day = today().isoformat()
    assert response.headers["Content-Disposition"] == (
        "attachment; filename="
        f"corporate-parenting-people-overdue-childrens-workforce-childrens-services-{day}.csv"
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert [(r["First name"], r["Last name"]) for r in rows] == [("Dev", "Worker")]
    xlsx = download_list(hr, "role=councillors", "xlsx")
    assert xlsx.headers["Content-Disposition"].endswith(
        f"filename=corporate-parenting-people-councillors-{day}.xlsx"
    )
    with app.app_context():
        found = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.seq)
        ).all()
        assert [e.details["filters"] for e in found] == [
            {
                "directorate": "Children's Services",
                "overdue_only": True,
                "childrens_workforce": True,
            },
            {"elected_member": True},
        ]
        assert [e.details["rows"] for e in found] == [1, 1]


def test_download_this_list_needs_the_forms_token_and_readable_filters(
    council: dict[str, Any],
) -> None:
    hr = council["hr"]
    assert hr.post("/hr/people/download", data={"format": "csv"}).status_code == 400
    html = hr.get("/hr/people").get_data(as_text=True)
    bad = hr.post(
        "/hr/people/download",
        data=MultiDict(
            [
                ("csrf_token", csrf(html)),
                ("format", "csv"),
                ("accepted_from", "31"),
                ("accepted_from", "2"),
                ("accepted_from", "2026"),
            ]
        ),
    )
    # Post/Redirect/Get: the list shows what is wrong with the filters.
    assert bad.status_code == 302
    assert bad.location == "/hr/people?accepted_from=31&accepted_from=2&accepted_from=2026"
    assert "must be a real date" in hr.get(bad.location).get_data(as_text=True)


def test_hrs_old_everyones_progress_page_leads_to_the_list_with_its_filters(
    council: dict[str, Any],
) -> None:
    hr = council["hr"]
    old = hr.get("/team/?status=not_started&status=in_progress&overdue=1")
    assert old.status_code == 302
    assert old.location == "/hr/people?status=not_started&status=in_progress&overdue=y"
    assert hr.get(old.location).status_code == 200
    assert hr.get("/team/").location == "/hr/people"
    # HR's menu has the one list; no second "Everyone's progress" list.
    for path in ("/", "/hr/", "/hr/people"):
        assert "Everyone&#39;s progress" not in hr.get(path).get_data(as_text=True), path


def test_the_dashboard_figures_lead_to_the_list_with_their_filters(
    council: dict[str, Any],
) -> None:
    html = council["hr"].get("/hr/?directorate=Place").get_data(as_text=True)
    assert 'href="/hr/people?status=certified&amp;directorate=Place">Completed</a>' in html
    assert 'href="/hr/people?overdue=y&amp;directorate=Place">1 is overdue</a>' in html
    assert 'href="/hr/people?directorate=Place">See these people in the list of people</a>' in html
    assert "Completions in Test Borough Council each week" in text_of(html)
    assert "Acceptances recorded" not in html


# -- verify a certificate --------------------------------------------------------------------


def test_verify_with_an_empty_box_says_what_to_enter(council: dict[str, Any]) -> None:
    hr = council["hr"]
    first = hr.get("/hr/verify")
    assert first.status_code == 200 and "There is a problem" not in first.get_data(as_text=True)
    response = hr.get("/hr/verify?code=+&seq=&hash=")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<title>Error: Verify a certificate" in html
    summary = html[html.index("govuk-error-summary") :]
    assert '<a href="#code">Enter the verification code printed on the certificate</a>' in summary
    assert re.search(
        r'<p id="code-error" class="govuk-error-message">\s*<span class="govuk-visually-hidden">'
        r"Error:</span> Enter the verification code printed on the certificate",
        html,
    )


def test_verify_a_code_not_found_says_what_to_check_and_whom_to_ask(
    council: dict[str, Any],
) -> None:
    response = council["hr"].get("/hr/verify?code=ZZZZZ-ZZZZZ")
    words = text_of(response.get_data(as_text=True))
    assert response.status_code == 404
    assert "No completion in Test Borough Council has this verification code" in words
    assert "What to do next" in words
    assert "never use the letters I, L or O or the numbers 0 or 1" in words
    assert "ask the person to download their certificate again" in words
    assert "tell your administrator" in words


def test_verify_says_in_words_which_wording_was_accepted(
    app: Flask, council: dict[str, Any]
) -> None:
    with app.app_context():
        code = db.session.scalars(select(Acceptance.verification_code)).one()
    html = council["hr"].get(f"/hr/verify?code={code}").get_data(as_text=True)
    words = text_of(html)
    assert "This certificate is genuine" in words
    assert (
        "The exact wording they accepted Version 2.0 of the policy, "
        "word for word as it was published" in words
    )
    assert "fingerprint" not in words.lower()


# -- a person's audit trail names who acted -----------------------------------------------------


def audit_rows(hr: FlaskClient, person_id: int) -> list[list[str]]:
    return table(hr.get(f"/hr/people/{person_id}").get_data(as_text=True), "Audit events")


def test_the_audit_trail_names_who_acted_and_the_section_read(
    app: Flask, council: dict[str, Any]
) -> None:
    hr, aisha = council["hr"], council["ids"]["aisha"]
    with app.app_context():
        # Priya's name as the learning portal sent it, with markup in it: shown as text.
        priya = db.session.get(Person, council["ids"]["priya"])
        assert priya is not None
        priya.name = "<i>Priya</i> Shah"
        db.session.commit()
    page = hr.get(f"/hr/people/{aisha}/legal-hold").get_data(as_text=True)
    hr.post(f"/hr/people/{aisha}/legal-hold", data={"csrf_token": csrf(page), "reason": "Claim 7"})
    with app.app_context():
        audit.record(
            db.session(),
            org_id(app),
            "reminder",
            utcnow(),
            actor="schedule",
            subject_person_id=aisha,
            details={"kind": "due_soon"},
        )
        audit.record(
            db.session(),
            org_id(app),
            "reminder",
            utcnow(),
            subject_person_id=aisha,
            details={"kind": "overdue"},
        )
        db.session.commit()
        first = db.session.scalars(
            select(PolicySection.title).join(PolicyVersion).order_by(PolicySection.position)
        ).first()
    rows = audit_rows(hr, aisha)
    by = {(what, who) for _, what, who in rows}
    assert ("Legal hold placed: Claim 7", "<i>Priya</i> Shah") in by
    assert ("Accepted the policy", "Aisha Khan (themselves)") in by
    assert ("Reminder: due_soon", "The system (a scheduled job)") in by
    assert ("Reminder: overdue", "The system") in by
    assert (f"Read a section: {first}", "Aisha Khan (themselves)") in by
    assert not any(who in ("Them", "") for _, _, who in rows)
    html = hr.get(f"/hr/people/{aisha}").get_data(as_text=True)
    assert "<i>Priya</i>" not in html and "&lt;i&gt;Priya&lt;/i&gt; Shah" in html


def test_an_anonymised_persons_trail_names_nobody(app: Flask, council: dict[str, Any]) -> None:
    hr, aisha = council["hr"], council["ids"]["aisha"]
    with app.app_context():
        person = db.session.get(Person, aisha)
        assert person is not None
        person.active, person.left_on = False, today() - timedelta(days=366 * 8)
        db.session.commit()
        people.anonymise(db.session(), person, utcnow(), actor="cli")
        db.session.commit()
    rows = audit_rows(hr, aisha)
    who = {what: by for _, what, by in rows}
    assert who["Accepted the policy"] == "Anonymised person (themselves)"
    assert who["Personal details anonymised"] == "An administrator, with a command on the server"
    assert "Aisha" not in hr.get(f"/hr/people/{aisha}").get_data(as_text=True)


def test_enrolment_and_the_times_they_opened_the_module_are_explained(
    council: dict[str, Any],
) -> None:
    words = text_of(
        council["hr"].get(f"/hr/people/{council['ids']['aisha']}").get_data(as_text=True)
    )
    assert "Enrolled in the learning portal No: they are not a member of any course" in words
    assert "Times they opened the module Once, the last on" in words
    assert "Enrolment comes from the learning portal's course membership lists" in words
    kim = text_of(council["hr"].get(f"/hr/people/{council['ids']['kim']}").get_data(as_text=True))
    assert "Times they opened the module Never" in kim
    assert "Staff member Kim Ng" in kim  # the caption says what they are, never "Learner"
