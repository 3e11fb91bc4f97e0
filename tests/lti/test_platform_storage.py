"""Launches where the platform offers its storage (`lti_storage_target`, LTI Client Side
postMessages): the login page keeps the state and nonce in the LMS's page, and a launch
without the state cookie proves them from there, once and in time, to get its visit.

The browser's part (the postMessages) is in tests/browser/test_platform_storage.py; here
the tool's side over HTTP, with the demo LMS as the independent platform.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.clock import utcnow
from app.db import db
from app.models import Launch, LoginState
from lti.login import read_state, state_digest
from scripts.demo_lms.platform import DemoPlatform, query_of
from tests.conftest import TOOL_BASE_URL, tool_client
from tests.lti_flow import Flow, parse_form

SESSION_COOKIE = "cpm_session"
SAME_ORIGIN = {"Origin": TOOL_BASE_URL}


class _Storage(HTMLParser):
    """The attributes of the page's #lti-storage element (what lti-storage.mjs reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] | None = None
        self.scripts: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("id") == "lti-storage":
            self.data = {k[5:]: v for k, v in a.items() if k.startswith("data-")}
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def storage_of(response: TestResponse) -> _Storage:
    parser = _Storage()
    parser.feed(response.get_data(as_text=True))
    return parser


@pytest.fixture
def flow(client: FlaskClient, registered: DemoPlatform, http: requests.Session) -> Flow:
    return Flow(client, registered, http)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[datetime]]:
    """The tool's clock, held still: moment[0] is "now" for the LTI views until changed."""
    moment = [utcnow()]
    monkeypatch.setattr("lti.routes.utcnow", lambda: moment[0])
    yield moment


def storage_login(flow: Flow, client: FlaskClient | None = None) -> TestResponse:
    return flow.login(client=client, lti_storage_target="_parent")


def auth_query_of(page: TestResponse) -> dict[str, str]:
    data = storage_of(page).data
    assert data is not None
    return query_of(data["next"])


def cookieless_launch(flow: Flow, app: Flask) -> tuple[TestResponse, dict[str, str], FlaskClient]:
    """A login through platform storage, then the launch from a browser that sent back no
    state cookie (the frame refused it): the launch page, the auth query, that browser."""
    query = auth_query_of(storage_login(flow))
    frame = tool_client(app)
    return flow.launch(flow.platform_answer(query), client=frame), query, frame


def proof_of(page: TestResponse) -> str:
    data = storage_of(page).data
    assert data is not None and data["mode"] == "prove"
    return data["proof"]


def prove(
    client: FlaskClient, proof: str, state: str, nonce: str, headers: dict[str, str] | None = None
) -> TestResponse:
    return client.post(
        "/lti/storage/proof",
        json={"proof": proof, "state": state, "nonce": nonce},
        headers=SAME_ORIGIN if headers is None else headers,
    )


def proven_at(app: Flask, state: str) -> datetime | None:
    with app.app_context():
        return db.session.scalar(
            select(LoginState.storage_proven_at).where(LoginState.state == state_digest(state))
        )


def session_cookie(client: FlaskClient) -> Any:
    return client.get_cookie(SESSION_COOKIE, domain="tool.test")


# -- login ---------------------------------------------------------------------------------------
def test_login_with_a_storage_target_answers_with_a_page_that_keeps_state_and_nonce(
    app: Flask, flow: Flow
) -> None:
    page = storage_login(flow)

    assert page.status_code == 200
    assert "Location" not in page.headers
    found = storage_of(page)
    assert found.data is not None
    query = query_of(found.data["next"])
    state, nonce = query["state"], query["nonce"]
    assert found.data["mode"] == "keep"
    assert found.data["target"] == "_parent"
    # Messages go to the platform's OIDC auth URL's origin only (here the demo LMS's port).
    assert found.data["origin"] == flow.platform.issuer
    assert found.data["next"].startswith(flow.platform.auth_login_url + "?")
    # Keys unique to this login (named after its state), as stored in the LMS's page.
    assert json.loads(found.data["items"]) == {
        f"cpm_state_{state}": state,
        f"cpm_nonce_{state}": nonce,
    }
    assert found.scripts[-1] == "/static/lti-storage.mjs"
    assert found.data["next"] in found.links  # without JavaScript: a link to go on
    # The state cookie as well, as without storage.
    assert f"lti_state_{state}={state}" in " ".join(page.headers.getlist("Set-Cookie"))
    # The login writes nothing: the target travels in the signed state, to the launch.
    login = read_state(app.config["SECRET_KEY"], state)
    assert (login.nonce, login.storage_target) == (nonce, "_parent")
    assert nonce not in state  # the nonce is not to be read from the state
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginState)) == 0


def test_the_demo_lms_offers_its_storage_when_its_flag_is_on(flow: Flow) -> None:
    flow.platform.platform_storage = True
    try:
        page = flow.login()
    finally:
        flow.platform.platform_storage = False
    assert page.status_code == 200
    data = storage_of(page).data
    assert data is not None and data["target"] == "_parent"


@pytest.mark.parametrize("target", ["post_message_forwarding", "f", "a" + "b" * 63])
def test_a_named_frame_is_a_storage_target(flow: Flow, target: str) -> None:
    page = flow.login(lti_storage_target=target)
    data = storage_of(page).data
    assert page.status_code == 200 and data is not None and data["target"] == target


@pytest.mark.parametrize(
    "target",
    ["_top", "_blank", "a" + "b" * 64, "frame name", "<script>", "x'y", "1frame", "parent\n"],
)
def test_a_bad_storage_target_is_refused_and_nothing_is_written(
    app: Flask, flow: Flow, target: str
) -> None:
    page = flow.login(lti_storage_target=target)

    assert page.status_code == 400
    assert "Location" not in page.headers
    assert storage_of(page).data is None
    assert not [c for c in page.headers.getlist("Set-Cookie") if c.startswith("lti_state_")]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginState)) == 0


def test_an_empty_storage_target_is_a_login_without_storage(flow: Flow) -> None:
    page = flow.login(lti_storage_target="")
    assert page.status_code == 302


# -- launch ----------------------------------------------------------------------------------------
def test_with_the_state_cookie_a_storage_login_launches_as_before(flow: Flow) -> None:
    query = auth_query_of(storage_login(flow))
    launch = flow.launch(flow.platform_answer(query))  # the same client: the cookie goes back

    # Signed in at once, in the frame: no page, no extra round trip.
    assert launch.status_code == 200 and "Welcome," in launch.get_data(as_text=True)
    assert flow.client.get("/").status_code == 200


def test_without_the_state_cookie_the_launch_page_reads_platform_storage(
    app: Flask, flow: Flow
) -> None:
    page, query, frame = cookieless_launch(flow, app)

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Open the module in a new window" in html  # what it stays, if the proof fails
    assert parse_form(html)[1]["h"]
    found = storage_of(page)
    assert found.data is not None
    state = query["state"]
    assert found.data["target"] == "_parent"
    assert found.data["origin"] == flow.platform.issuer
    assert json.loads(found.data["keys"]) == [f"cpm_state_{state}", f"cpm_nonce_{state}"]
    assert found.data["proof-url"] == "/lti/storage/proof"
    assert found.data["visit-url"] == "/lti/storage/visit"
    assert found.data["next"] == "/resume"
    assert found.scripts[-1] == "/static/lti-storage.mjs"
    # Nothing in the page is the nonce: it must come from the platform's storage.
    assert query["nonce"] not in html
    assert session_cookie(frame) is None


def test_without_storage_and_without_the_cookie_the_new_window_page_is_unchanged(
    app: Flask, flow: Flow
) -> None:
    form = flow.platform_answer(flow.auth_query())
    page = flow.launch(form, client=tool_client(app))
    assert page.status_code == 200
    assert "Open the module in a new window" in page.get_data(as_text=True)
    assert storage_of(page).data is None


# -- the proof -------------------------------------------------------------------------------------
def test_the_stored_state_and_nonce_give_the_frame_its_visit(app: Flask, flow: Flow) -> None:
    page, query, frame = cookieless_launch(flow, app)

    proven = prove(frame, proof_of(page), query["state"], query["nonce"])

    assert proven.status_code == 200
    with app.app_context():
        launch_id = db.session.scalars(select(Launch.id)).one()
    answer = proven.get_json()
    assert answer["proven"] is True and answer["launch"] == launch_id
    # The key for a new window is signed over this launch and its state (stored format).
    assert URLSafeSerializer(app.config["SECRET_KEY"], salt="cpm-storage-window").loads(
        answer["window"]
    ) == [launch_id, query["state"]]
    assert set(answer) == {"proven", "launch", "window"}
    assert session_cookie(frame) is not None
    # The page's next request shows the cookie came back, and for this launch.
    assert frame.get("/lti/storage/visit").get_json() == {"launch": launch_id}
    assert frame.get("/").status_code == 200
    assert proven_at(app, query["state"]) is not None


def test_the_visit_check_names_no_launch_without_a_session(client: FlaskClient) -> None:
    answer = client.get("/lti/storage/visit")
    assert answer.status_code == 200 and answer.get_json() == {"launch": None}
    assert "no-store" in answer.headers["Cache-Control"]


def _assert_refused(app: Flask, answer: TestResponse, frame: FlaskClient, state: str) -> None:
    assert answer.status_code == 403
    assert answer.get_json() == {"proven": False}
    assert session_cookie(frame) is None
    assert frame.get("/lti/storage/visit").get_json() == {"launch": None}
    assert proven_at(app, state) is None


def test_a_wrong_nonce_is_refused_and_nothing_is_written(app: Flask, flow: Flow) -> None:
    page, query, frame = cookieless_launch(flow, app)
    wrong = query["nonce"][:-1] + ("A" if query["nonce"][-1] != "A" else "B")
    _assert_refused(app, prove(frame, proof_of(page), query["state"], wrong), frame, query["state"])


def test_a_wrong_state_is_refused_and_nothing_is_written(app: Flask, flow: Flow) -> None:
    page, query, frame = cookieless_launch(flow, app)
    answer = prove(frame, proof_of(page), query["state"] + "x", query["nonce"])
    _assert_refused(app, answer, frame, query["state"])


def test_another_launchs_state_and_nonce_are_refused(app: Flask, flow: Flow) -> None:
    page_a, query_a, frame_a = cookieless_launch(flow, app)
    _, query_b, _ = cookieless_launch(flow, app)

    answer = prove(frame_a, proof_of(page_a), query_b["state"], query_b["nonce"])

    _assert_refused(app, answer, frame_a, query_b["state"])
    assert proven_at(app, query_a["state"]) is None


def test_a_proof_is_good_once(app: Flask, flow: Flow) -> None:
    page, query, frame = cookieless_launch(flow, app)
    assert prove(frame, proof_of(page), query["state"], query["nonce"]).status_code == 200
    first = proven_at(app, query["state"])

    again = tool_client(app)
    answer = prove(again, proof_of(page), query["state"], query["nonce"])

    assert answer.status_code == 403 and answer.get_json() == {"proven": False}
    assert session_cookie(again) is None
    assert proven_at(app, query["state"]) == first


@pytest.mark.parametrize(
    ("seconds", "status"),
    [(0, 200), (120, 200), (121, 403)],
    ids=["at once", "the last second", "the first second after"],
)
def test_a_proof_is_good_for_120_seconds_after_the_launch(
    app: Flask, flow: Flow, frozen: list[datetime], seconds: int, status: int
) -> None:
    page, query, frame = cookieless_launch(flow, app)

    frozen[0] += timedelta(seconds=seconds)
    answer = prove(frame, proof_of(page), query["state"], query["nonce"])

    assert answer.status_code == status
    assert (proven_at(app, query["state"]) is not None) is (status == 200)


def test_a_login_without_storage_cannot_be_proven(app: Flask, flow: Flow) -> None:
    query = flow.auth_query()
    frame = tool_client(app)
    flow.launch(flow.platform_answer(query), client=frame)
    with app.app_context():
        launch_id = db.session.scalars(select(Launch.id)).one()
    # Even with a proof the tool signed (were one ever made for it).
    proof = URLSafeSerializer(app.config["SECRET_KEY"], salt="cpm-storage-proof").dumps(
        [launch_id, query["state"]]
    )
    _assert_refused(app, prove(frame, proof, query["state"], query["nonce"]), frame, query["state"])


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://lms.test"},
        {"Origin": "null"},
        {"Origin": TOOL_BASE_URL + ":8443"},
        {"Origin": "http://tool.test"},
    ],
    ids=["no origin", "another site", "opaque origin", "another port", "plain http"],
)
def test_only_the_tools_own_pages_may_post_a_proof(
    app: Flask, flow: Flow, headers: dict[str, str]
) -> None:
    """A form on another site could carry an attacker's own state and nonce (login CSRF)."""
    page, query, frame = cookieless_launch(flow, app)
    answer = prove(frame, proof_of(page), query["state"], query["nonce"], headers=headers)
    _assert_refused(app, answer, frame, query["state"])


def test_a_form_post_is_refused_even_from_the_same_origin(app: Flask, flow: Flow) -> None:
    page, query, frame = cookieless_launch(flow, app)
    answer = frame.post(
        "/lti/storage/proof",
        data={"proof": proof_of(page), "state": query["state"], "nonce": query["nonce"]},
        headers=SAME_ORIGIN,
    )
    _assert_refused(app, answer, frame, query["state"])


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        [],
        {},
        {"proof": 1, "state": "s", "nonce": "n"},
        {"proof": "x" * 301, "state": "s", "nonce": "n"},
        {"proof": "1.forged", "state": "s", "nonce": "n"},
    ],
    ids=["not json", "a list", "empty", "a number", "too long", "forged"],
)
def test_malformed_proofs_are_refused(app: Flask, flow: Flow, body: Any) -> None:
    _, query, frame = cookieless_launch(flow, app)
    data = body if isinstance(body, str) else json.dumps(body)
    answer = frame.post(
        "/lti/storage/proof",
        data=data,
        headers={**SAME_ORIGIN, "Content-Type": "application/json"},
    )
    _assert_refused(app, answer, frame, query["state"])


def test_after_a_proof_the_new_window_still_asks_who_continues(app: Flask, flow: Flow) -> None:
    """If the frame refuses the session cookie too, the new-window flow is the way on."""
    page, query, frame = cookieless_launch(flow, app)
    assert prove(frame, proof_of(page), query["state"], query["nonce"]).status_code == 200

    window = tool_client(app)
    posted = window.post(
        "/lti/continue", data={"h": parse_form(page.get_data(as_text=True))[1]["h"]}
    )
    question = window.get(posted.location)

    assert question.status_code == 200
    assert "Continue as Aisha Khan?" in question.get_data(as_text=True)


# -- the new window a proven frame opens -----------------------------------------------------------
def proven_launch(app: Flask, flow: Flow) -> tuple[str, TestResponse, FlaskClient]:
    """A launch proven from platform storage: the key its frame hands to a new window."""
    page, query, frame = cookieless_launch(flow, app)
    proven = prove(frame, proof_of(page), query["state"], query["nonce"])
    assert proven.status_code == 200
    return proven.get_json()["window"], page, frame


def open_window(window: FlaskClient, key: Any, headers: dict[str, str] | None = None) -> Any:
    headers = SAME_ORIGIN if headers is None else headers
    return window.post("/lti/storage/window", json={"key": key}, headers=headers)


def test_the_window_page_is_never_framed(client: FlaskClient) -> None:
    page = client.get("/lti/storage/window")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert storage_of(page).data == {
        "mode": "window",
        "post-url": "/lti/storage/window",
        "next": "/resume",
    }


def test_the_key_signs_in_the_new_window_without_the_question_once(app: Flask, flow: Flow) -> None:
    key, _, _ = proven_launch(app, flow)
    window = tool_client(app)

    opened = open_window(window, key)

    assert opened.status_code == 200 and opened.get_json() == {"signed_in": True}
    assert window.get("/").status_code == 200
    with app.app_context():
        assert db.session.scalars(select(Launch.handed_off_at)).one() is not None
    again = tool_client(app)
    assert open_window(again, key).status_code == 403
    assert session_cookie(again) is None


def test_the_key_of_a_login_never_proven_is_refused(app: Flask, flow: Flow) -> None:
    page, query, _ = cookieless_launch(flow, app)
    with app.app_context():
        launch_id = db.session.scalars(select(Launch.id)).one()
    key = URLSafeSerializer(app.config["SECRET_KEY"], salt="cpm-storage-window").dumps(
        [launch_id, query["state"]]
    )
    window = tool_client(app)
    answer = open_window(window, key)
    assert answer.status_code == 403 and answer.get_json() == {"signed_in": False}
    assert session_cookie(window) is None
    # The ordinary new-window link (with its question) is still unspent.
    handoff = parse_form(page.get_data(as_text=True))[1]["h"]
    assert window.post("/lti/continue", data={"h": handoff}).status_code == 303
    assert "Continue as Aisha Khan?" in window.get("/lti/continue").get_data(as_text=True)


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({}, None),
        ({"Origin": "https://lms.test"}, None),
        (SAME_ORIGIN, "1.forged"),
        (SAME_ORIGIN, 7),
        (SAME_ORIGIN, "x" * 301),
    ],
    ids=["no origin", "another site", "forged", "a number", "too long"],
)
def test_a_window_key_from_elsewhere_is_refused(
    app: Flask, flow: Flow, headers: dict[str, str], key: Any
) -> None:
    real, _, _ = proven_launch(app, flow)
    window = tool_client(app)
    answer = open_window(window, real if key is None else key, headers=headers)
    assert answer.status_code == 403
    assert session_cookie(window) is None
    with app.app_context():
        assert db.session.scalars(select(Launch.handed_off_at)).one() is None


@pytest.mark.parametrize(("seconds", "status"), [(300, 200), (301, 403)])
def test_the_window_key_lasts_300_seconds_from_the_launch(
    app: Flask, flow: Flow, frozen: list[datetime], seconds: int, status: int
) -> None:
    key, _, _ = proven_launch(app, flow)
    frozen[0] += timedelta(seconds=seconds)
    assert open_window(tool_client(app), key).status_code == status
