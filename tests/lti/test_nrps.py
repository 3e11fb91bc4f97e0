"""Names and Role Provisioning 2.0 against the independent demo LMS, over real HTTP, through
`flask roster sync-lms`: pages of a stated `limit` followed by `Link: rel="next"` to the
end, `rlid` per resource link (the union when the module is placed twice), and the bounds
that stop a platform which pages forever, repeats a page, points off its own site or sends
pages too large."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.db import db
from app.models import CourseMember, LmsContext, Person, PlatformRegistration
from lti import nrps, paging
from lti.ags import _Connector, _TimeoutSession, registration_for
from scripts.demo_lms.platform import ROLE_LEARNER, DemoPerson, DemoPlatform
from tests.conftest import ORG, tool_client
from tests.lti_flow import Flow

LINK = "cp-module"
RLC = "https://purl.imsglobal.org/spec/lti/claim/resource_link"


@pytest.fixture
def lms(registered: DemoPlatform, client: FlaskClient) -> Iterator[DemoPlatform]:
    registered.tool_jwks = client.get("/lti/jwks").json
    registered.service_requests = []
    own = set(registered.people)
    yield registered
    for user_id in set(registered.people) - own:
        del registered.people[user_id]
    registered.links.clear()
    registered.misbehave = None
    registered.nrps_backend = "demo"
    registered.tool_jwks = None


@pytest.fixture(params=["demo", "lti1p3platform"])
def backend(request: pytest.FixtureRequest, lms: DemoPlatform) -> str:
    """Who answers the memberships: the demo's own code, or lti1p3platform's NRPS service
    (its token check, its rlid check, its member checks), behind the same URL."""
    lms.nrps_backend = request.param
    return str(request.param)


def crowd(lms: DemoPlatform, count: int) -> None:
    """`count` more learners enrolled in the course who never launch the module."""
    for n in range(count):
        uid = f"u-extra-{n:03d}"
        lms.people[uid] = DemoPerson(
            uid, f"Extra {n}", "Extra", str(n), f"{uid}@x.example", [ROLE_LEARNER], launches=False
        )


def launch_from(app: Flask, lms: DemoPlatform, http: requests.Session, link: str) -> None:
    """A launch from another placement (resource link) of the module in the same course."""

    def move(claims: dict[str, Any]) -> None:
        claims[RLC] = {**claims[RLC], "id": link}

    response, _ = Flow(tool_client(app), lms, http).forged("u-tom", move)
    assert response.status_code == 200, response.get_data(as_text=True)


def token(app: Flask) -> str:
    """An NRPS access token from the demo LMS, fetched as the tool fetches its own."""
    with app.app_context():
        reg_id = db.session.scalars(select(PlatformRegistration.id)).one()
        registration = registration_for(db.session(), reg_id)
        connector = _Connector(registration, _TimeoutSession())
        connector.forget_tokens()  # one from an earlier test's platform key is refused
        return connector.get_access_token([nrps.SCOPE])


def sync(runner: FlaskCliRunner) -> Any:
    return runner.invoke(args=["roster", "sync-lms", "--org", ORG])


def membership_queries(lms: DemoPlatform) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(url).query)
        for method, url in lms.service_requests
        if method == "GET" and "/memberships" in url
    ]


def course_members(app: Flask) -> set[str]:
    with app.app_context():
        return set(
            db.session.scalars(
                select(Person.subject).join(CourseMember, CourseMember.person_id == Person.id)
            )
        )


def synced_at(app: Flask) -> Any:
    with app.app_context():
        return db.session.scalars(select(LmsContext.members_synced_at)).one()


def test_a_course_larger_than_a_page_is_read_to_the_end_in_pages_of_the_stated_limit(
    app: Flask, lms: DemoPlatform, runner: FlaskCliRunner, launched: Any, backend: str
) -> None:
    crowd(lms, 2 * nrps.PAGE_SIZE + 1 - len(lms.people))  # 201 members: three pages
    launched("u-tom")
    result = sync(runner)
    assert result.exit_code == 0, result.output
    assert "201 members" in result.output
    queries = membership_queries(lms)
    assert len(queries) == 3
    # Every page asks for the tool's page size, for the link it was launched from; the
    # second and third are the platform's own rel="next" URLs.
    assert all(q["limit"] == ["100"] and q["rlid"] == [LINK] for q in queries)
    assert [q.get("page") for q in queries] == [None, ["2"], ["3"]]
    assert len(course_members(app)) == 201


def test_rlid_gives_only_those_who_can_see_the_activity(
    app: Flask, lms: DemoPlatform, runner: FlaskCliRunner, launched: Any, backend: str
) -> None:
    lms.links["cp-2026"] = {LINK: {"u-aisha", "u-tom"}}  # restricted to a group
    launched("u-tom")
    result = sync(runner)
    assert result.exit_code == 0 and "2 members" in result.output, result.output
    assert course_members(app) == {"u-aisha", "u-tom"}


def test_a_course_with_the_module_placed_twice_gets_the_union_of_both_links(
    app: Flask,
    lms: DemoPlatform,
    runner: FlaskCliRunner,
    launched: Any,
    http: requests.Session,
    backend: str,
) -> None:
    lms.links["cp-2026"] = {LINK: {"u-aisha", "u-tom"}, "cp-module-2": {"u-lee", "u-tom"}}
    launched("u-tom")
    launch_from(app, lms, http, "cp-module-2")
    result = sync(runner)
    assert result.exit_code == 0 and "3 members" in result.output, result.output
    assert course_members(app) == {"u-aisha", "u-lee", "u-tom"}
    assert sorted(q["rlid"][0] for q in membership_queries(lms)) == [LINK, "cp-module-2"]


def test_the_demo_lms_refuses_an_unknown_rlid_with_400(lms: DemoPlatform, app: Flask) -> None:
    auth = {"Authorization": f"Bearer {token(app)}"}
    url = lms.memberships_url("cp-2026")
    assert requests.get(url, params={"rlid": LINK}, headers=auth, timeout=10).status_code == 200
    gone = requests.get(url, params={"rlid": "no-such-link"}, headers=auth, timeout=10)
    assert gone.status_code == 400 and "rlid" in gone.json()["reason"]


def test_a_link_the_lms_no_longer_knows_is_passed_over_and_the_others_still_count(
    app: Flask,
    lms: DemoPlatform,
    runner: FlaskCliRunner,
    launched: Any,
    http: requests.Session,
    backend: str,
) -> None:
    lms.links["cp-2026"] = {LINK: {"u-aisha", "u-tom"}}
    launched("u-tom")
    launch_from(app, lms, http, "deleted-link")
    result = sync(runner)
    assert result.exit_code == 0, result.output
    assert "no longer knows link 'deleted-link'; passed over" in result.output
    assert "2 members" in result.output
    assert course_members(app) == {"u-aisha", "u-tom"}


def test_when_every_link_is_refused_the_course_is_left_as_it_was(
    app: Flask, lms: DemoPlatform, runner: FlaskCliRunner, http: requests.Session, backend: str
) -> None:
    launch_from(app, lms, http, "deleted-link")
    result = sync(runner)
    assert "no longer knows any of the module's links" in result.output
    assert course_members(app) == set() and synced_at(app) is None


@pytest.mark.parametrize(
    ("misbehaviour", "message", "requests_made"),
    [
        ("endless", f"sent more than {paging.MAX_PAGES} pages: stopped", paging.MAX_PAGES),
        ("same-page", "sent a page twice (a loop): stopped", 1),
        ("foreign-next", "pointed its next page off the platform's origins: stopped", 1),
    ],
)
def test_a_platform_that_pages_wrongly_is_stopped_and_nothing_is_written(
    app: Flask,
    lms: DemoPlatform,
    runner: FlaskCliRunner,
    launched: Any,
    misbehaviour: str,
    message: str,
    requests_made: int,
) -> None:
    launched("u-tom")
    lms.misbehave = misbehaviour
    result = sync(runner)
    assert message in result.output
    assert len(membership_queries(lms)) == requests_made
    assert course_members(app) == set() and synced_at(app) is None


@pytest.mark.parametrize(("cap", "read"), [(3, True), (2, False)])
def test_the_page_cap_holds_at_its_exact_boundary(
    app: Flask,
    lms: DemoPlatform,
    runner: FlaskCliRunner,
    launched: Any,
    monkeypatch: pytest.MonkeyPatch,
    cap: int,
    read: bool,
) -> None:
    monkeypatch.setattr(nrps, "PAGE_SIZE", 2)
    monkeypatch.setattr(paging, "MAX_PAGES", cap)
    launched("u-tom")  # the demo's 6 people: exactly 3 pages of 2
    result = sync(runner)
    assert ("6 members" in result.output) is read, result.output
    assert (f"more than {cap} pages" in result.output) is not read


@pytest.mark.parametrize(("cap", "read"), [(6, True), (5, False)])
def test_the_member_cap_holds_at_its_exact_boundary(
    app: Flask,
    lms: DemoPlatform,
    runner: FlaskCliRunner,
    launched: Any,
    monkeypatch: pytest.MonkeyPatch,
    cap: int,
    read: bool,
) -> None:
    monkeypatch.setattr(nrps, "MAX_MEMBERS", cap)
    launched("u-tom")
    result = sync(runner)
    assert ("6 members" in result.output) is read, result.output
    assert (f"more than {cap} members" in result.output) is not read


def test_the_page_size_cap_holds_at_its_exact_boundary(
    app: Flask,
    lms: DemoPlatform,
    runner: FlaskCliRunner,
    launched: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launched("u-tom")
    assert "6 members" in sync(runner).output
    # The same page again (same URL, same members), so its size in bytes is known.
    last = lms.service_requests[-1][1]
    auth = {"Authorization": f"Bearer {token(app)}"}
    body = requests.get(last, headers=auth, timeout=10).content
    monkeypatch.setattr(paging, "MAX_PAGE_BYTES", len(body))
    assert "6 members" in sync(runner).output
    monkeypatch.setattr(paging, "MAX_PAGE_BYTES", len(body) - 1)
    assert f"larger than {len(body) - 1} bytes: stopped" in sync(runner).output


def test_a_page_that_takes_too_long_to_arrive_is_stopped(
    app: Flask,
    lms: DemoPlatform,
    runner: FlaskCliRunner,
    launched: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A deadline of 0 s has passed by the first chunk: the check runs on every chunk read.
    monkeypatch.setattr(paging, "PAGE_SECONDS", 0)
    launched("u-tom")
    result = sync(runner)
    assert "took longer than 0 s: stopped" in result.output
    assert course_members(app) == set() and synced_at(app) is None
