"""The LTI 1.3 login -> launch flow through HTTP, signed by an independent platform."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.clock import utcnow
from app.db import db
from app.models import Launch, LoginState, Person, Role
from lti.login import LOGIN_LIFETIME, read_state, state_digest, state_nonce
from scripts.demo_lms.platform import DemoPlatform, new_rsa_key, query_of
from tests.conftest import ORG, tool_client
from tests.lti_flow import Flow, parse_form

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


@pytest.fixture
def flow(client: FlaskClient, registered: DemoPlatform, http: requests.Session) -> Flow:
    return Flow(client, registered, http)


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        people = db.session.scalar(select(func.count()).select_from(Person))
        launches = db.session.scalar(select(func.count()).select_from(Launch))
        return people or 0, launches or 0


def test_login_launch_and_first_page_greet_the_person(app: Flask, flow: Flow) -> None:
    login = flow.login("u-aisha")
    assert login.status_code == 302
    assert login.location.startswith(flow.platform.auth_login_url + "?")

    # The launch answers with the first page itself (no redirect to it), signed in.
    launch = flow.launch(flow.platform_answer(flow.auth_query("u-aisha")))
    html = launch.get_data(as_text=True)
    assert launch.status_code == 200
    assert "Welcome, Aisha Khan" in html
    assert ORG in html
    assert "Staff member" in html  # not "Learner": the word is the LMS's, not the person's
    # Its script gives the page the overview's own address in the browser's history, so a
    # reload or Back asks for "/" rather than posting the launch again.
    assert 'history.replaceState(history.state, "", "/");' in html
    assert flow.client.get("/").get_data(as_text=True).count("Welcome, Aisha Khan") == 1

    with app.app_context():
        person = db.session.scalars(select(Person)).one()
        assert (person.issuer, person.subject) == (flow.platform.issuer, "u-aisha")
        assert person.email == "aisha.khan@demo-council.example"
        launch_row = db.session.scalars(select(Launch)).one()
        assert launch_row.role is Role.LEARNER
        assert launch_row.resource_link_id == "cp-module"
        assert launch_row.lms_context is not None
        assert launch_row.lms_context.title == "Mandatory: Corporate Parenting (2026)"


def test_login_accepts_post_as_well_as_get(flow: Flow) -> None:
    response = flow.login("u-aisha", method="post")
    assert response.status_code == 302
    assert "nonce=" in response.location


@pytest.mark.parametrize(
    ("user_id", "role", "label"),
    [
        ("u-aisha", Role.LEARNER, "Staff member"),
        ("u-tom", Role.MANAGER, "Staff member"),
        ("u-priya", Role.HR, "Staff member"),
        ("u-jo", Role.LEARNER, "Councillor"),  # an elected member (the LMS's custom parameter)
    ],
)
def test_lti_roles_map_to_product_roles(
    app: Flask, flow: Flow, user_id: str, role: Role, label: str
) -> None:
    launch = flow.launch_as(user_id)
    assert launch.status_code == 200
    with app.app_context():
        assert db.session.scalars(select(Launch.role)).one() is role
    # The overview labels the person by what they are to the council, whatever their role here.
    for html in (launch.get_data(as_text=True), flow.client.get("/").get_data(as_text=True)):
        assert re.search(rf"Taking the module as\s*</dt>\s*<dd[^>]*>\s*{label}\s*<", html)


def test_login_on_one_app_instance_and_launch_on_another(
    make_app: Any, registered: DemoPlatform, http: requests.Session
) -> None:
    first = tool_client(make_app())
    second = tool_client(make_app())
    flow = Flow(first, registered, http)
    login = flow.login("u-tom")
    form = flow.platform_answer(query_of(login.location))
    # The browser carries the state cookie from the first process to the second.
    state_cookie = first.get_cookie(
        "lti_state_" + form["state"], domain="tool.test", path="/lti/launch"
    )
    assert state_cookie is not None
    second.set_cookie(
        state_cookie.key, state_cookie.value, path="/lti/launch", domain=state_cookie.domain
    )
    launch = second.post("/lti/launch", data=form)
    assert launch.status_code == 200
    assert "Welcome, Tom Price" in launch.get_data(as_text=True)
    assert "Welcome, Tom Price" in second.get("/").get_data(as_text=True)


def test_a_second_launch_updates_the_person_not_duplicates_them(app: Flask, flow: Flow) -> None:
    flow.launch_as("u-aisha")
    flow.platform.people["u-aisha"].name = "Aisha Khan-Smith"
    try:
        flow.launch_as("u-aisha")
    finally:
        flow.platform.people["u-aisha"].name = "Aisha Khan"
    assert counts(app) == (1, 2)
    with app.app_context():
        assert db.session.scalars(select(Person.name)).one() == "Aisha Khan-Smith"


def test_launch_log_line_names_the_outcome_and_never_the_token(
    flow: Flow, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cpm.lti")
    logging.getLogger("cpm").propagate = True
    try:
        form = flow.platform_answer(flow.auth_query("u-aisha"))
        flow.launch(form)
        flow.launch(form, client=tool_client(flow.client.application))  # replayed elsewhere
    finally:
        logging.getLogger("cpm").propagate = False
    lines = [r.getMessage() for r in caplog.records if r.name == "cpm.lti"]
    assert any(line.startswith("launch outcome=ok") and "role=learner" in line for line in lines)
    assert any("outcome=rejected code=replayed" in line for line in lines)
    assert not any(form["id_token"][:40] in line for line in lines)


# -- bad launches: a clear page, a 4xx, a log line, and nothing written ---------------------


def _other_key() -> str:
    return new_rsa_key()


def _set(path: str, value: Any):  # type: ignore[no-untyped-def]
    def mutate(claims: dict[str, Any]) -> None:
        if value is _DELETE:
            claims.pop(path, None)
        else:
            claims[path] = value

    return mutate


_DELETE = object()
NOW = int(time.time())

BAD_TOKENS = [
    # (case id, mutate, sign kwargs, status, code)
    ("unknown issuer", _set("iss", "https://other-lms.example"), {}, 403, "unknown_issuer"),
    (
        "unknown client id",
        lambda c: c.update(aud="someone-else", azp="someone-else"),
        {},
        403,
        "unknown_client_id",
    ),
    (
        "azp not among audiences",
        lambda c: c.update(azp="someone-else"),
        {},
        403,
        "unknown_client_id",
    ),
    (
        "several audiences without azp",
        lambda c: (c.update(aud=[c["aud"], "other"]), c.pop("azp")),
        {},
        400,
        "missing_claim",
    ),
    (
        "unknown deployment",
        _set(CLAIM + "deployment_id", "not-registered"),
        {},
        403,
        "unknown_deployment",
    ),
    ("bad signature", None, {"key_pem": "OTHER"}, 401, "bad_signature"),
    ("unknown kid", None, {"key_pem": "OTHER", "kid": "no-such-kid"}, 401, "unknown_kid"),
    (
        "expired",
        lambda c: c.update(iat=int(time.time()) - 900, exp=int(time.time()) - 300),
        {"expires_in": None},
        401,
        "expired",
    ),
    (
        "iat in the future",
        lambda c: c.update(iat=int(time.time()) + 600, exp=int(time.time()) + 900),
        {"expires_in": None},
        401,
        "iat_in_future",
    ),
    (
        "no exp",
        lambda c: c.update(iat=int(time.time())),
        {"expires_in": None},
        400,
        "missing_claim",
    ),
    ("missing message type", _set(CLAIM + "message_type", _DELETE), {}, 400, "missing_claim"),
    ("missing version", _set(CLAIM + "version", _DELETE), {}, 400, "missing_claim"),
    ("wrong version", _set(CLAIM + "version", "1.1"), {}, 400, "missing_claim"),
    ("missing roles", _set(CLAIM + "roles", _DELETE), {}, 400, "missing_claim"),
    ("missing resource link", _set(CLAIM + "resource_link", _DELETE), {}, 400, "missing_claim"),
    (
        "resource link without id",
        _set(CLAIM + "resource_link", {"title": "x"}),
        {},
        400,
        "missing_claim",
    ),
    ("missing sub", _set("sub", _DELETE), {}, 400, "missing_claim"),
    ("missing deployment id", _set(CLAIM + "deployment_id", _DELETE), {}, 400, "missing_claim"),
    ("missing nonce", _set("nonce", _DELETE), {}, 400, "missing_claim"),
    (
        "unsupported message type",
        _set(CLAIM + "message_type", "LtiSubmissionReviewRequest"),
        {},
        400,
        "unsupported_message_type",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "sign", "status", "code"),
    [pytest.param(m, s, st, c, id=i) for i, m, s, st, c in BAD_TOKENS],
)
def test_bad_launch_is_refused_clearly_and_writes_nothing(
    app: Flask, flow: Flow, mutate: Any, sign: dict[str, Any], status: int, code: str
) -> None:
    sign = dict(sign)
    if sign.get("key_pem") == "OTHER":
        sign["key_pem"] = _other_key()
    response, _ = flow.forged("u-aisha", mutate, **sign)
    html = response.get_data(as_text=True)
    assert response.status_code == status
    assert code in html
    assert "<h1" in html
    assert counts(app) == (0, 0)
    # The login it answered stays unused: a valid launch for it could still arrive.
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(LoginState).where(LoginState.used_at.isnot(None))
            )
            == 0
        )


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_tokens_not_signed_with_rsa_are_refused(app: Flask, flow: Flow, alg: str) -> None:
    import jwt

    query = flow.auth_query("u-aisha")
    claims = flow.platform.launch_message(
        flow.platform.people["u-aisha"], next(iter(flow.platform.courses.values())), query["nonce"]
    )
    claims.update(iat=int(time.time()), exp=int(time.time()) + 300)
    key = "secret-secret-secret-secret-secret" if alg == "HS256" else None
    token = jwt.encode(claims, key, algorithm=alg, headers={"kid": flow.platform.kid})
    response = flow.launch({"id_token": token, "state": query["state"]})
    assert response.status_code == 401
    assert "bad_signature" in response.get_data(as_text=True)
    assert counts(app) == (0, 0)


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"id_token": "not-a-jwt", "state": "REAL"}, 400, "malformed_jwt"),
        ({"id_token": "a.b.c", "state": "REAL"}, 400, "malformed_jwt"),
        ({"state": "REAL"}, 400, "malformed_request"),
        ({"id_token": "TOKEN"}, 401, "bad_state"),
        ({"id_token": "TOKEN", "state": "made-up-state"}, 401, "bad_state"),
    ],
    ids=["not a JWT", "undecodable JWT", "no id_token", "missing state", "unknown state"],
)
def test_malformed_launch_requests_are_refused(
    app: Flask, flow: Flow, form: dict[str, str], status: int, code: str
) -> None:
    real = flow.platform_answer(flow.auth_query("u-aisha"))
    form = {
        k: real["state"] if v == "REAL" else real["id_token"] if v == "TOKEN" else v
        for k, v in form.items()
    }
    response = flow.launch(form)
    assert response.status_code == status
    assert code in response.get_data(as_text=True)
    assert counts(app) == (0, 0)


def test_mismatched_state_cookie_is_refused(app: Flask, flow: Flow) -> None:
    form = flow.platform_answer(flow.auth_query("u-aisha"))
    flow.client.set_cookie(
        "lti_state_" + form["state"], "another-state", path="/lti/launch", domain="tool.test"
    )
    response = flow.launch(form)
    assert response.status_code == 401
    assert "bad_state" in response.get_data(as_text=True)
    assert counts(app) == (0, 0)


def test_replayed_launch_is_refused_and_writes_nothing_more(app: Flask, flow: Flow) -> None:
    form = flow.platform_answer(flow.auth_query("u-aisha"))
    assert flow.launch(form).status_code == 200
    assert counts(app) == (1, 1)
    # Posted again by another browser (one without the visit the first launch started).
    again = flow.launch(form, client=tool_client(app))
    assert again.status_code == 401
    assert "already been used" in again.get_data(as_text=True)
    assert counts(app) == (1, 1)


def test_the_launch_posted_again_by_its_own_browser_returns_to_its_visit(
    app: Flask, flow: Flow
) -> None:
    """A reload of the launch's page without JavaScript (or Back to it) posts the form
    again: that browser goes back to the visit it started, and nothing is written."""
    form = flow.platform_answer(flow.auth_query("u-aisha"))
    assert flow.launch(form).status_code == 200
    again = flow.launch(form)
    assert again.status_code == 303 and again.location == "/resume"
    assert counts(app) == (1, 1)
    assert "Welcome, Aisha Khan" in flow.client.get("/").get_data(as_text=True)
    # Only the launch it started: the same browser posting another used launch is refused.
    other = Flow(tool_client(app), flow.platform, flow.http)
    used = other.platform_answer(other.auth_query("u-lee"))
    assert other.launch(used).status_code == 200
    refused = flow.launch(used)
    assert refused.status_code == 401
    assert "already been used" in refused.get_data(as_text=True)
    assert counts(app) == (2, 2)


def test_old_token_with_a_fresh_state_is_refused(app: Flask, flow: Flow) -> None:
    """pylti1p3 alone would accept this: the nonce must belong to the state's own login."""
    old = flow.platform_answer(flow.auth_query("u-aisha"))
    assert flow.launch(old).status_code == 200
    fresh = flow.auth_query("u-aisha")
    response = flow.launch({"id_token": old["id_token"], "state": fresh["state"]})
    assert response.status_code == 401
    assert "bad_state" in response.get_data(as_text=True)
    assert counts(app) == (1, 1)


def test_small_clock_skew_is_tolerated(app: Flask, flow: Flow) -> None:
    now = int(time.time())
    response, _ = flow.forged(
        "u-aisha", lambda c: c.update(iat=now + 20, exp=now - 20), expires_in=None
    )
    assert response.status_code == 200
    assert counts(app) == (1, 1)


def test_platform_key_rotation_is_followed_by_refetching_its_jwks(app: Flask, flow: Flow) -> None:
    app.config["LTI_JWKS_MIN_REFETCH_SECONDS"] = 0
    assert flow.launch_as("u-aisha").status_code == 200
    flow.platform.rotate_key()
    assert flow.launch_as("u-lee").status_code == 200
    assert counts(app) == (2, 2)


def test_unreachable_platform_jwks_is_a_clear_424(app: Flask, flow: Flow, runner: Any) -> None:
    args = flow.platform.register_command(ORG)
    args[args.index("--jwks-url") + 1] = "http://127.0.0.1:9/jwks"
    assert runner.invoke(args=args).exit_code == 0
    response = flow.launch_as("u-aisha")
    assert response.status_code == 424
    assert "jwks_unreachable" in response.get_data(as_text=True)
    assert counts(app) == (0, 0)


def test_login_from_unknown_platform_is_refused(client: FlaskClient, registered: Any) -> None:
    response = client.get(
        "/lti/login",
        query_string={"iss": "https://unknown.example", "login_hint": "x", "target_link_uri": "x"},
    )
    assert response.status_code == 403
    assert "unknown_issuer" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("override", "status", "code"),
    [
        ({"client_id": "nobody"}, 403, "unknown_client_id"),
        ({"lti_deployment_id": "nowhere"}, 403, "unknown_deployment"),
        ({"login_hint": ""}, 400, "malformed_request"),
    ],
)
def test_login_with_bad_parameters_is_refused(
    flow: Flow, override: dict[str, str], status: int, code: str
) -> None:
    response = flow.login("u-aisha", **override)
    assert response.status_code == status
    assert code in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("override", "command"),
    [
        ({"client_id": "nobody"}, "flask --app app lti list-platforms"),
        ({"lti_deployment_id": "nowhere"}, "flask --app app lti add-platform --deployment-id"),
    ],
)
def test_the_refusal_page_shows_the_administrators_command_as_code_not_in_backticks(
    flow: Flow, override: dict[str, str], command: str
) -> None:
    html = flow.login("u-aisha", **override).get_data(as_text=True)
    assert f'<code class="app-break-word">{command}</code>' in html
    assert "`" not in html


# -- browsers that refuse cookies inside the LMS frame -------------------------------------


def test_cookieless_launch_offers_a_one_time_new_window(
    app: Flask, registered: DemoPlatform, http: requests.Session
) -> None:
    """The browser that started the login, refusing cookies in the LMS's frame. (What the
    same page does against login CSRF is tests/lti/test_login_csrf.py.)"""
    framed = tool_client(app, use_cookies=False)
    flow = Flow(framed, registered, http)
    launch = flow.launch_as("u-aisha")
    assert launch.status_code == 200
    assert "Open the module in a new window" in launch.get_data(as_text=True)
    action, fields = parse_form(launch.get_data(as_text=True))
    assert action == "/lti/continue"

    window = tool_client(app)
    page = window.post(action, data=fields, follow_redirects=True)
    assert "Continue as Aisha Khan?" in page.get_data(as_text=True)
    action, fields = parse_form(page.get_data(as_text=True))
    opened = window.post(action or "", data=fields)
    assert opened.status_code == 302
    assert "Welcome, Aisha Khan" in window.get("/").get_data(as_text=True)

    again = tool_client(app).post("/lti/continue", data={"h": fields["h"]}, follow_redirects=True)
    assert again.status_code == 410
    assert "This link has expired" in again.get_data(as_text=True)


def test_pages_need_a_launch(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 401
    assert "Open the module from your learning portal" in response.get_data(as_text=True)


def test_simultaneous_first_launches_share_one_course_and_one_person(
    app: Flask, registered: DemoPlatform, http: requests.Session
) -> None:
    """Found by the launch benchmark: racing inserts of a new course must not fail."""
    from concurrent.futures import ThreadPoolExecutor

    from app.models import LmsContext

    people = ["u-aisha", "u-lee", "u-tom", "u-priya", "u-jo", "u-aisha", "u-lee", "u-aisha"]
    forms = []
    for user in people:
        flow = Flow(tool_client(app), registered, http)
        forms.append((flow, flow.platform_answer(flow.auth_query(user))))
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda f: f[0].launch(f[1]).status_code, forms))
    assert statuses == [200] * len(people)
    assert counts(app) == (5, len(people))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LmsContext)) == 1


# -- the login's signed state ----------------------------------------------------------------


def test_the_login_writes_nothing_and_its_state_is_recorded_once_at_launch(
    app: Flask, flow: Flow
) -> None:
    query = flow.auth_query("u-aisha")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginState)) == 0
    assert flow.launch(flow.platform_answer(query)).status_code == 200
    with app.app_context():
        row = db.session.scalars(select(LoginState)).one()
        assert row.state == state_digest(query["state"])  # a digest: the state is longer
        assert row.nonce == query["nonce"] and row.used_at is not None
        assert row.expires_at - row.created_at == LOGIN_LIFETIME


@pytest.mark.parametrize(
    ("after", "status", "code"),
    # The state keeps its issue time in whole seconds (the test itself takes milliseconds).
    [
        (LOGIN_LIFETIME - timedelta(seconds=1), 200, None),
        (LOGIN_LIFETIME + timedelta(seconds=1), 401, "expired"),
    ],
    ids=["its last second", "a second late"],
)
def test_a_login_state_is_good_for_its_lifetime_and_not_a_second_more(
    app: Flask, flow: Flow, travel: Any, after: timedelta, status: int, code: str | None
) -> None:
    query = flow.auth_query("u-aisha")
    # The platform answers at once (its id_token is fresh); the tool's clock moves on.
    form = flow.platform_answer(query)
    issued = read_state(app.config["SECRET_KEY"], query["state"]).issued_at
    travel(seconds=(issued + after - utcnow()).total_seconds())
    response = flow.launch(form)
    assert response.status_code == status, response.get_data(as_text=True)
    if code:
        assert code in response.get_data(as_text=True)
        assert counts(app) == (0, 0)


def test_an_expired_state_already_used_is_refused_as_replayed(
    app: Flask, flow: Flow, travel: Any
) -> None:
    form = flow.platform_answer(flow.auth_query("u-aisha"))
    assert flow.launch(form).status_code == 200
    travel(seconds=LOGIN_LIFETIME.total_seconds() + 60)
    again = flow.launch(form, client=tool_client(app))
    assert again.status_code == 401
    assert "replayed" in again.get_data(as_text=True)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # the signature
        lambda s: s.replace(".1.", ".2.", 1),  # another registration
        lambda s: s.split(".", 1)[0],  # no signature at all
    ],
    ids=["signature changed", "registration changed", "unsigned"],
)
def test_a_state_the_tool_did_not_sign_is_refused(
    app: Flask, flow: Flow, change: Callable[[str], str]
) -> None:
    form = flow.platform_answer(flow.auth_query("u-aisha"))
    changed = change(form["state"])
    assert changed != form["state"]
    flow.client.set_cookie("lti_state_" + changed, changed, path="/lti/launch", domain="tool.test")
    response = flow.launch({**form, "state": changed})
    assert response.status_code == 401
    assert "bad_state" in response.get_data(as_text=True)
    assert counts(app) == (0, 0)


def test_the_login_state_its_nonce_and_its_stored_digest_keep_their_format() -> None:
    """Pinned: a state signed before an upgrade must still read, its nonce must still match
    the one the LMS echoes, and a used state's stored digest must still find its row."""
    secret, body = "pinned-secret", "AAAAAAAAAAAAAAAAAAAAAA.7.1796533893"
    state = body + ".3pBR_ECmVGdAocY9bJahEMxVq0WzT8oq28wKwK2wA68"
    login = read_state(secret, state)
    assert (login.registration_id, login.storage_target) == (7, None)
    assert login.issued_at == datetime(2026, 12, 6, 5, 11, 33, tzinfo=UTC)
    assert (
        login.nonce == state_nonce(secret, state) == "b2DLoDiaqr3hnGPjoCHqJ5exjc37_pBdbw6a26nfumE"
    )
    assert (
        state_digest(body + ".Sig")
        == "89b674d3cce95f829a410c0480ae07f0fa2f400432edb397242aa47c3b9ac3ca"
    )
