"""A teacher (an LMS course Instructor: the tool's manager role) whom HR's roster names as
nobody's manager: an explanatory page, not a 403, and their course's learners with their
progress, from the course membership `roster sync-lms` stored. Never another course's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.db import db
from app.models import Person
from scripts.demo_lms.platform import (
    ROLE_ADMIN,
    ROLE_INSTRUCTOR,
    ROLE_LEARNER,
    DemoCourse,
    DemoPerson,
    DemoPlatform,
)
from tests.conftest import ORG, tool_client
from tests.learner_flow import read_all
from tests.lti_flow import Flow

D = "demo-council.example"
COURSE = "Mandatory: Corporate Parenting (2026)"
OTHER = DemoCourse("cp-members", "Corporate Parenting for councillors", "CPM", "cpm-module", "CP")
RAVI = DemoPerson("u-ravi", "Ravi Patel", "Ravi", "Patel", f"ravi.patel@{D}", [ROLE_INSTRUCTOR])
OLLY = DemoPerson("u-olly", "Olly Reed", "Olly", "Reed", f"cllr.olly.reed@{D}", [ROLE_LEARNER])
CHRIS = DemoPerson("u-chris", "Chris Lowe", "Chris", "Lowe", f"chris.lowe@{D}", [ROLE_ADMIN])
NO_TEAM = "Nobody reports to you in Test Borough Council's HR records yet."


@pytest.fixture
def lms(registered: DemoPlatform, client: FlaskClient) -> Iterator[DemoPlatform]:
    """Two courses: the default one (the demo's people and a course administrator) and
    the councillors' one (Ravi teaches it; Olly and Jo learn in it)."""
    registered.tool_jwks = client.get("/lti/jwks").json
    default = set(registered.people) | {CHRIS.user_id}
    for person in (RAVI, OLLY, CHRIS):
        registered.people[person.user_id] = person
    registered.enrolled["cp-2026"] = default
    registered.add_course(OTHER, {RAVI.user_id, OLLY.user_id, "u-jo"})
    yield registered
    registered.remove_course(OTHER.context_id)
    registered.enrolled.clear()
    for person in (RAVI, OLLY, CHRIS):
        del registered.people[person.user_id]
    registered.tool_jwks = None
    registered.down = False


@pytest.fixture
def launch_in(app: Flask, lms: DemoPlatform, http: requests.Session) -> Any:
    def launch(user_id: str, context_id: str = "cp-2026") -> FlaskClient:
        client = tool_client(app)
        flow = Flow(client, lms, http)
        response = flow.launch(
            flow.platform_answer(flow.auth_query(user_id, context_id=context_id))
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return client

    return launch


def sync(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["roster", "sync-lms", "--org", ORG])
    assert result.exit_code == 0 and "members" in result.output, result.output


def learners(page: str) -> dict[str, str]:
    """Name -> status, from the page's tables of learners."""
    rows = re.findall(
        r'<tr class="govuk-table__row">\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>', page, re.S
    )
    return {words(name): words(status) for name, status in rows}


def words(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_a_teacher_nobody_reports_to_gets_a_page_saying_what_it_will_show(
    lms: DemoPlatform, launch_in: Any
) -> None:
    tom = launch_in("u-tom")  # Instructor; no roster imported, so nobody reports to him
    response = tom.get("/team/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert NO_TEAM in unescape(page)
    assert "ask your HR team to name you as their manager" in page
    # His course is named, its membership not read yet: nobody is listed.
    assert f"Learners in {COURSE}" in page and "has not been read yet" in page
    assert learners(page) == {}
    assert "Your team" in tom.get("/").get_data(as_text=True)  # in the navigation
    # Nothing to export or remind: the list and the reminders hold nobody.
    assert tom.get("/team/team.csv").get_data(as_text=True).count("\n") == 1


def test_a_learner_still_gets_403(lms: DemoPlatform, launch_in: Any) -> None:
    aisha = launch_in("u-aisha")
    assert aisha.get("/team/").status_code == 403
    assert "Your team" not in aisha.get("/").get_data(as_text=True)


def test_after_sync_the_teacher_sees_the_course_learners_and_their_status(
    lms: DemoPlatform, launch_in: Any, runner: FlaskCliRunner
) -> None:
    read_all(launch_in("u-aisha"))
    tom = launch_in("u-tom")
    sync(runner)
    lms.down = True  # the page reads what was stored: it never waits on the LMS
    response = tom.get("/team/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and NO_TEAM in unescape(page)
    assert "read on" in page
    assert learners(page) == {
        "Aisha Khan": "In progress",
        "Lee Morgan": "Not started",
        "Sam Wilson": "Not started",
        "Jo Evans": "Not started",
    }  # not Priya (HR), not Tom himself, not Chris (the course's administrator)


def test_a_teacher_sees_only_the_courses_they_teach(
    app: Flask, lms: DemoPlatform, launch_in: Any, runner: FlaskCliRunner
) -> None:
    tom = launch_in("u-tom")
    ravi = launch_in(RAVI.user_id, OTHER.context_id)
    launch_in("u-jo", OTHER.context_id)
    sync(runner)
    assert learners(ravi.get("/team/").get_data(as_text=True)) == {
        "Olly Reed": "Not started",
        "Jo Evans": "Not started",
    }
    tom_page = tom.get("/team/").get_data(as_text=True)
    assert OTHER.title not in tom_page and "Olly Reed" not in tom_page
    assert "Ravi Patel" not in tom_page
    # Each course's sync keeps the other's members in the LMS (it flagged them as gone).
    with app.app_context():
        in_lms = dict(db.session.execute(select(Person.subject, Person.in_lms)).all())
    assert in_lms[OLLY.user_id] and in_lms["u-aisha"] and in_lms[RAVI.user_id]
    # A learner of a course does not see it, though they launched from it.
    assert launch_in("u-jo", OTHER.context_id).get("/team/").status_code == 403


def test_a_course_administrator_sees_the_course_learners_not_hr_pages(
    lms: DemoPlatform, launch_in: Any, runner: FlaskCliRunner
) -> None:
    chris = launch_in(CHRIS.user_id)
    sync(runner)
    assert chris.get("/hr/").status_code == 403
    assert set(learners(chris.get("/team/").get_data(as_text=True))) == {
        "Aisha Khan",
        "Lee Morgan",
        "Sam Wilson",
        "Jo Evans",
    }


def test_a_teacher_the_lms_no_longer_lists_in_the_course_stops_seeing_it(
    lms: DemoPlatform, launch_in: Any, runner: FlaskCliRunner
) -> None:
    tom = launch_in("u-tom")
    sync(runner)
    assert "Aisha Khan" in learners(tom.get("/team/").get_data(as_text=True))
    lms.enrolled["cp-2026"].discard("u-tom")
    sync(runner)
    page = tom.get("/team/").get_data(as_text=True)
    assert NO_TEAM in unescape(page) and learners(page) == {} and COURSE not in page
