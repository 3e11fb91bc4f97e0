"""Headers and cookies that let the LMS frame the tool, and nobody else; request size limits."""

from __future__ import annotations

from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import db
from app.models import ApiToken
from scripts.demo_lms.platform import DemoPlatform
from tests.learner_flow import csrf
from tests.lti_flow import Flow


def test_csp_lets_registered_platforms_frame_the_tool_and_no_one_else(
    client: FlaskClient, registered: DemoPlatform
) -> None:
    csp = client.get("/lti/config").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["frame-ancestors"].split() == ["'self'", registered.issuer]
    assert directives["default-src"] == "'self'"
    assert "'unsafe-inline'" not in csp


def test_frame_ancestors_include_extra_origins_such_as_a_canvas_instance(
    app: Flask, runner, platform: DemoPlatform
) -> None:
    args = [
        *platform.register_command("Council"),
        "--frame-origin",
        "https://council.instructure.com/x",
    ]
    assert runner.invoke(args=args).exit_code == 0
    client = app.test_client()
    csp = client.get("/lti/config").headers["Content-Security-Policy"]
    assert "https://council.instructure.com" in csp.split("frame-ancestors", 1)[1]


def test_inline_script_carries_the_per_request_nonce(client: FlaskClient) -> None:
    first = client.get("/lti/config")
    second = client.get("/lti/config")
    nonce = first.headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'nonce="{nonce}"' in first.get_data(as_text=True)
    assert nonce not in second.headers["Content-Security-Policy"]


def test_standard_security_headers(client: FlaskClient) -> None:
    headers = client.get("/lti/config").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["Cache-Control"] == "no-store"


def test_session_and_state_cookies_work_inside_an_lms_iframe(
    client: FlaskClient, registered: DemoPlatform, http: requests.Session
) -> None:
    flow = Flow(client, registered, http)
    login = flow.login("u-aisha")
    state_cookie = login.headers["Set-Cookie"]
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Path=/lti/launch"):
        assert attribute in state_cookie
    launch = flow.launch_as("u-aisha")
    session_cookie = next(
        c for c in launch.headers.getlist("Set-Cookie") if c.startswith("cpm_session=")
    )
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Partitioned"):
        assert attribute in session_cookie


def test_plain_http_demo_mode_drops_secure_attributes(make_app) -> None:
    app = make_app(
        SESSION_COOKIE_SECURE=False, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_PARTITIONED=False
    )
    with app.test_request_context():
        assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_other_requests_are_limited_to_max_content_length_exactly(
    app: Flask, launched: Any
) -> None:
    hr: FlaskClient = launched("u-priya")
    page = hr.get("/hr/api-tokens").get_data(as_text=True)
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 256 * 1024  # the default: a form or an id_token needs far less

    def post(size: int) -> Any:
        head = f"csrf_token={csrf(page)}&name=".encode()
        return hr.post(
            "/hr/api-tokens",
            data=head + b"n" * (size - len(head)),
            content_type="application/x-www-form-urlencoded",
        )

    taken = post(limit)  # read and checked by the form: the name is too long
    assert taken.status_code == 400
    assert "govuk-error-summary" in taken.get_data(as_text=True)
    refused = post(limit + 1)
    assert refused.status_code == 413
    assert "(256 KB at most), so nothing was saved" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(ApiToken)).all() == []


def test_the_api_answers_an_oversized_body_with_json_413(client: FlaskClient) -> None:
    response = client.post("/api/v1/openapi.json", data=b"x" * (256 * 1024 + 1))
    assert response.status_code == 413
    body = response.get_json()
    assert body["status"] == 413 and body["error"] == "Request Entity Too Large"
    assert "256 KB at most" in body["message"]
