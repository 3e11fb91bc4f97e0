"""Login CSRF: a launch posted by a browser that did not start the login (no state cookie)
signs no one in; only a person who confirms by name, in a new window, gets the visit.

The attack: someone launches as themselves, keeps their id_token and state, and makes a
victim's browser post them to /lti/launch. The victim must not end up working, unawares, in
the attacker's name. Browsers that refuse cookies inside the LMS's frame take the same path.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import select
from werkzeug.test import TestResponse

from app.db import db
from app.models import Launch
from scripts.demo_lms.platform import DemoPlatform, query_of
from tests.conftest import ORG, tool_client
from tests.lti_flow import Flow, parse_form

SESSION_COOKIE = "cpm_session"
# Pages a signed-in person could open: none may open without the confirm step.
TOOL_PAGES = [
    "/",
    "/sections/what-is-corporate-parenting",
    "/quiz",
    "/accept",
    "/team/",
    "/hr/",
]


@pytest.fixture
def flow(client: FlaskClient, registered: DemoPlatform, http: requests.Session) -> Flow:
    return Flow(client, registered, http)


def stolen_launch(flow: Flow, user_id: str = "u-aisha") -> dict[str, str]:
    """The attacker's own real login (their browser gets the state cookie) and the id_token
    and state the platform answers with, not yet posted."""
    return flow.platform_answer(flow.auth_query(user_id))


def handoff_of(response: TestResponse) -> str:
    action, fields = parse_form(response.get_data(as_text=True))
    assert action == "/lti/continue"
    return fields["h"]


def set_cookies(response: TestResponse) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def urls_in(response: TestResponse) -> list[str]:
    html = response.get_data(as_text=True)
    found = re.findall(r'(?:href|action|src|formaction)="([^"]*)"', html)
    return [*found, response.headers.get("Location", "")]


def assert_signed_out(browser: FlaskClient) -> None:
    for path in TOOL_PAGES:
        page = browser.get(path)
        assert page.status_code == 401, (path, page.status_code)
        assert "Open the module from your learning portal" in page.get_data(as_text=True)


def confirm_page(window: FlaskClient, handoff: str) -> TestResponse:
    """The new window posts the link, and is sent on to the page that asks (by GET, so a
    reload posts nothing again)."""
    posted = window.post("/lti/continue", data={"h": handoff})
    assert posted.status_code == 303 and posted.location == "/lti/continue", posted.status_code
    return window.get(posted.location)


def confirm(window: FlaskClient, page: TestResponse) -> TestResponse:
    action, fields = parse_form(page.get_data(as_text=True))
    assert action == "/lti/continue/confirm"
    return window.post(action, data=fields)


def test_launch_without_the_state_cookie_signs_no_one_in(app: Flask, flow: Flow) -> None:
    form = stolen_launch(flow, "u-priya")  # HR: every page below would open for them
    victim = tool_client(app)

    launch = flow.launch(form, client=victim)

    html = launch.get_data(as_text=True)
    assert launch.status_code == 200
    assert "Open the module in a new window" in html
    assert "Location" not in launch.headers
    assert not [c for c in set_cookies(launch) if c.startswith(SESSION_COOKIE + "=")]
    assert victim.get_cookie(SESSION_COOKIE, domain="tool.test") is None
    assert_signed_out(victim)
    # The launch itself is recorded (it was valid), but its visit has no holder yet.
    with app.app_context():
        row = db.session.scalars(select(Launch)).one()
        assert row.handed_off_at is None


def test_the_one_time_link_is_in_no_url_of_the_flow(app: Flask, flow: Flow) -> None:
    launch = flow.launch(stolen_launch(flow), client=tool_client(app))
    handoff = handoff_of(launch)
    window = tool_client(app)
    page = confirm_page(window, handoff)
    done = confirm(window, page)

    assert done.status_code == 302
    for response in (launch, page, done):
        for url in urls_in(response):
            assert handoff not in url, url
    # It travels in form bodies only.
    assert parse_form(page.get_data(as_text=True))[1]["h"] == handoff


def test_posting_the_link_asks_who_continues_and_signs_no_one_in(app: Flask, flow: Flow) -> None:
    handoff = handoff_of(flow.launch(stolen_launch(flow), client=tool_client(app)))
    window = tool_client(app)

    page = confirm_page(window, handoff)

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Continue as Aisha Khan?" in html
    assert ORG in html
    assert "Not you?" in html
    assert "Close this window and open the module again from your learning portal" in html
    # A one-button page that signs someone in must never be framed (clickjacking).
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert_signed_out(window)


def test_confirming_signs_in_that_window_and_spends_the_link(app: Flask, flow: Flow) -> None:
    handoff = handoff_of(flow.launch(stolen_launch(flow), client=tool_client(app)))
    window = tool_client(app)
    page = confirm_page(window, handoff)

    done = confirm(window, page)

    assert done.status_code == 302
    assert done.location == "/resume"
    assert "Welcome, Aisha Khan" in window.get("/").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Launch.handed_off_at)).one() is not None

    # Used: the same window posting again, a reload of the confirm page, another browser.
    again = confirm(window, page)
    assert again.status_code == 302 and again.location == "/lti/continue"
    refused = window.get(again.location)
    assert refused.status_code == 410
    assert "This link has expired" in refused.get_data(as_text=True)
    reload = confirm_page(tool_client(app), handoff)
    assert reload.status_code == 410
    assert "This link has expired" in reload.get_data(as_text=True)
    # The window that did confirm keeps its visit.
    assert window.get("/").status_code == 200


def test_a_confirm_without_the_windows_csrf_token_is_refused_and_spends_nothing(
    app: Flask, flow: Flow
) -> None:
    """A site that posts someone's link to a victim cannot post the confirm too: it cannot
    read the CSRF token of the victim's window."""
    handoff = handoff_of(flow.launch(stolen_launch(flow), client=tool_client(app)))
    victim = tool_client(app)
    assert confirm_page(victim, handoff).status_code == 200

    forged = victim.post("/lti/continue/confirm", data={"h": handoff, "submit": "Continue"})

    assert forged.status_code == 400
    assert "Your form has expired" in forged.get_data(as_text=True)
    assert_signed_out(victim)
    # Another window's token does not do either.
    owner = tool_client(app)
    page = confirm_page(owner, handoff)
    _, fields = parse_form(page.get_data(as_text=True))
    stolen_token = victim.post("/lti/continue/confirm", data=fields)
    assert stolen_token.status_code == 400
    assert_signed_out(victim)
    # The link's owner can still use it.
    assert confirm(owner, page).status_code == 302
    assert owner.get("/").status_code == 200


@pytest.mark.parametrize(
    ("seconds", "page_status", "confirm_status"),
    [(299, 200, 302), (301, 410, 410)],
    ids=["299s still open", "301s expired"],
)
def test_the_link_lasts_300_seconds_from_the_launch(
    app: Flask, flow: Flow, travel: Any, seconds: int, page_status: int, confirm_status: int
) -> None:
    handoff = handoff_of(flow.launch(stolen_launch(flow), client=tool_client(app)))
    window = tool_client(app)
    travel(seconds=seconds)
    page = confirm_page(window, handoff)
    assert page.status_code == page_status
    if page_status == 200:
        assert confirm(window, page).status_code == confirm_status
    else:
        assert "This link has expired" in page.get_data(as_text=True)


def test_a_confirm_page_opened_in_time_cannot_be_used_after_300_seconds(
    app: Flask, flow: Flow, travel: Any
) -> None:
    handoff = handoff_of(flow.launch(stolen_launch(flow), client=tool_client(app)))
    window = tool_client(app)
    travel(seconds=299)
    page = confirm_page(window, handoff)
    assert page.status_code == 200
    travel(seconds=301)
    late = confirm(window, page)
    assert late.status_code == 302 and window.get(late.location).status_code == 410
    assert_signed_out(window)


def _signed(
    app: Flask, value: Any, key: str | None = None, salt: str = "cpm-launch-handoff"
) -> str:
    return URLSafeSerializer(key or app.config["SECRET_KEY"], salt=salt).dumps(value)


@pytest.mark.parametrize(
    "make",
    [
        lambda app: "",
        lambda app: "1.forged.link",
        lambda app: _signed(app, 1, key="another-key"),
        lambda app: _signed(app, 1, salt="another-purpose"),
        lambda app: _signed(app, "1"),
    ],
    ids=["empty", "not signed", "another key", "another salt", "not a launch id"],
)
def test_links_the_tool_did_not_issue_are_refused(app: Flask, flow: Flow, make: Any) -> None:
    flow.launch(stolen_launch(flow), client=tool_client(app))
    window = tool_client(app)
    page = confirm_page(window, make(app))
    assert page.status_code == 400
    assert "This link has expired" in page.get_data(as_text=True)
    assert_signed_out(window)


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/lti/landing"), ("get", "/lti/continue/confirm")],
)
def test_the_link_cannot_travel_in_a_get(client: FlaskClient, method: str, path: str) -> None:
    response = getattr(client, method)(path, query_string={"h": "anything"})
    assert response.status_code in (404, 405)


def test_the_question_page_takes_no_link_from_its_url(
    app: Flask, flow: Flow, client: FlaskClient
) -> None:
    """GET /lti/continue shows the link this window posted (kept in its session), never one
    in the address."""
    handoff = handoff_of(flow.launch(stolen_launch(flow), client=tool_client(app)))
    response = client.get("/lti/continue", query_string={"h": handoff})
    assert response.status_code == 400
    assert "This link has expired" in response.get_data(as_text=True)
    assert "Continue as" not in response.get_data(as_text=True)


# -- the state cookie ---------------------------------------------------------------------


def _cookie_header(response: TestResponse, name: str) -> str:
    found = [c for c in set_cookies(response) if c.startswith(name + "=")]
    assert len(found) == 1, set_cookies(response)
    return found[0]


def _attributes(header: str) -> dict[str, str]:
    parts = [p.strip() for p in header.split(";")]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else "") for p in parts[1:]}


@pytest.mark.parametrize("with_cookie", [True, False], ids=["cookie sent", "cookie missing"])
def test_the_launch_deletes_the_state_cookie_with_the_attributes_it_was_set_with(
    app: Flask, flow: Flow, with_cookie: bool
) -> None:
    login = flow.login("u-aisha")
    form = flow.platform_answer(query_of(login.location))
    name = "lti_state_" + form["state"]
    set_at_login = _attributes(_cookie_header(login, name))
    assert set_at_login == {
        "secure": "",
        "httponly": "",
        "max-age": "600",
        "path": "/lti/launch",
        "samesite": "None",
        "partitioned": "",
        "expires": set_at_login["expires"],
    }

    browser = flow.client if with_cookie else tool_client(app)
    launch = flow.launch(form, client=browser)

    deleted = _attributes(_cookie_header(launch, name))
    assert deleted["max-age"] == "0"
    assert deleted["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert {k: v for k, v in deleted.items() if k not in ("max-age", "expires")} == {
        k: v for k, v in set_at_login.items() if k not in ("max-age", "expires")
    }
    assert _cookie_header(launch, name).startswith(name + "=;")
    if with_cookie:
        assert flow.client.get_cookie(name, domain="tool.test", path="/lti/launch") is None


def test_two_windows_racing_with_one_link_get_one_visit(app: Flask, flow: Flow) -> None:
    from concurrent.futures import ThreadPoolExecutor

    handoff = handoff_of(flow.launch(stolen_launch(flow), client=tool_client(app)))
    windows = [tool_client(app) for _ in range(4)]
    pages = [confirm_page(w, handoff) for w in windows]
    with ThreadPoolExecutor(max_workers=4) as pool:
        landed = list(pool.map(lambda wp: confirm(*wp).location, zip(windows, pages, strict=True)))
    # One is signed in; the others are sent back to the question's page, which says why.
    assert sorted(landed) == ["/lti/continue"] * 3 + ["/resume"]
    assert sum(w.get("/").status_code == 200 for w in windows) == 1


def test_log_lines_name_the_hand_off_never_its_link(
    app: Flask, flow: Flow, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cpm.lti")
    logging.getLogger("cpm").propagate = True
    try:
        handoff = handoff_of(flow.launch(stolen_launch(flow), client=tool_client(app)))
        window = tool_client(app)
        page = confirm_page(window, handoff)
        confirm(window, page)
        confirm(window, page)
    finally:
        logging.getLogger("cpm").propagate = False
    lines = [r.getMessage() for r in caplog.records if r.name == "cpm.lti"]
    assert any(line.startswith("launch outcome=ok") and "cookies=no" in line for line in lines)
    assert any(line.startswith("handoff outcome=ok") for line in lines)
    assert any("handoff outcome=refused reason=used_or_expired" in line for line in lines)
    assert not any(handoff in line for line in lines)


def test_a_person_the_lms_sent_no_name_for_is_asked_without_one(
    app: Flask, registered: DemoPlatform, http: requests.Session
) -> None:
    def anonymous(claims: dict[str, Any]) -> None:
        for claim in ("name", "given_name", "family_name", "email"):
            claims.pop(claim, None)

    cookieless = Flow(tool_client(app, use_cookies=False), registered, http)
    launch, _ = cookieless.forged("u-aisha", anonymous)
    window = tool_client(app)
    page = confirm_page(window, handoff_of(launch))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Continue to the module?" in html
    assert "Continue as" not in html
    assert confirm(window, page).status_code == 302
