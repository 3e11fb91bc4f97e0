"""LTI Deep Linking 2.0 over real HTTP: the demo LMS (lti1p3platform) asks, a course editor
chooses on the tool's page, the LMS verifies the tool's signed answer and makes the link and
its line item, and a learner's score reaches that line item."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.db import db
from app.models import DeepLinkRequest, Deployment, Launch, Organisation, Person, ToolKey
from app.services import deep_linking as dl_service
from scripts.demo_lms import deeplink
from scripts.demo_lms.platform import DemoPlatform, query_of
from tests.conftest import TOOL_BASE_URL, tool_client
from tests.lti_flow import parse_form
from tests.web.test_acceptance import accept, passed
from tests.web.test_grade_passback import eventually

COURSE = "cp-2026"
DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
SETTINGS = DL + "deep_linking_settings"
LTI = "https://purl.imsglobal.org/spec/lti/claim/"


@pytest.fixture
def lms(registered: DemoPlatform, client: FlaskClient) -> Iterator[DemoPlatform]:
    """The LMS knows the tool's public keys (as after registration) and starts clean."""
    registered.tool_jwks = client.get("/lti/jwks").json
    registered.lineitems = {c: [] for c in registered.courses}
    registered.scores = []
    registered.added_links = {}
    registered.deep_link_requests = {}
    yield registered
    registered.tool_jwks = None
    registered.added_links = {}


def dl_launch(
    client: FlaskClient,
    lms: DemoPlatform,
    http: requests.Session,
    user_id: str = "u-tom",
    mutate: Callable[[dict[str, Any]], None] | None = None,
) -> TestResponse:
    """The LMS's "Select content" as user_id: the tool's OIDC login, the LMS's signed
    LtiDeepLinkingRequest (from its auth endpoint, or shaped by `mutate`), the launch."""
    url = deeplink.login_initiation_url(lms, user_id, COURSE)
    login = client.get("/lti/login", query_string=dict(parse_qsl(urlsplit(url).query)))
    assert login.status_code == 302, login.get_data(as_text=True)
    query = query_of(login.location)
    if mutate is None:
        answer = http.get(lms.auth_login_url, params=query, timeout=10)
        assert answer.status_code == 200, answer.text
        _, fields = parse_form(answer.text)
    else:
        claims = deeplink.request_message(lms, user_id, COURSE, query["nonce"])
        mutate(claims)
        fields = {"id_token": lms.sign(claims), "state": query["state"]}
    return client.post("/lti/launch", data=fields)


def form_of(response: TestResponse) -> tuple[str, dict[str, str]]:
    action, fields = parse_form(response.get_data(as_text=True))
    assert action is not None
    return unescape(action), {k: unescape(v) for k, v in fields.items()}


def choose(
    client: FlaskClient, page: TestResponse, **fields: str
) -> tuple[TestResponse, dict[str, str]]:
    action, form = form_of(page)
    assert action == "/lti/deep-link"
    form.update(fields)
    return client.post(action, data=form), form


def tool_claims(client: FlaskClient, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer's header and claims, verified with the tool's published keys."""
    header = jwt.get_unverified_header(token)
    [key] = [k for k in client.get("/lti/jwks").json["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(
        token, jwt.PyJWK(key).key, algorithms=["RS256"], options={"verify_aud": False}
    )
    return header, claims


def count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_the_editor_places_the_module_the_lms_makes_the_link_and_the_score_reaches_it(
    app: Flask, client: FlaskClient, lms: DemoPlatform, http: requests.Session
) -> None:
    page = dl_launch(client, lms, http)
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    assert "Add the Corporate Parenting module" in html and "out of 100" in html
    assert "Inside the course page" in html and "In a new window" in html  # both accepted
    # Not a visit: no person, no launch, no session.
    assert count(app, Person) == 0 and count(app, Launch) == 0
    _, form = form_of(page)
    assert form["title"] == "Corporate Parenting Policy"

    answer, _ = choose(client, page, title="Corporate Parenting 2027", target="window")
    assert answer.status_code == 200
    action, fields = form_of(answer)
    assert action == lms.issuer + "/deeplink/return"
    csp = answer.headers["Content-Security-Policy"]
    assert f"form-action 'self' {lms.issuer};" in csp
    assert "deep-link.mjs" in answer.get_data(as_text=True)

    header, claims = tool_claims(client, fields["JWT"])
    with app.app_context():
        kid = db.session.scalar(select(ToolKey.kid).where(ToolKey.active.is_(True)))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": kid}
    assert claims["exp"] - claims["iat"] == 600 and claims["nonce"].startswith("nonce-")
    data = claims[DL + "data"]
    assert data in lms.deep_link_requests  # the LMS's own `data`, echoed unchanged
    for varying in ("iat", "exp", "nonce"):
        del claims[varying]
    assert claims == {
        "iss": "demo-tool",
        "aud": [lms.issuer],
        LTI + "deployment_id": "demo-deployment",
        LTI + "message_type": "LtiDeepLinkingResponse",
        LTI + "version": "1.3.0",
        DL + "data": data,
        DL + "content_items": [
            {
                "type": "ltiResourceLink",
                "title": "Corporate Parenting 2027",
                "url": TOOL_BASE_URL + "/lti/launch",
                "lineItem": {
                    "scoreMaximum": 100,
                    "label": "Corporate Parenting 2027",
                    "resourceId": "corporate-parenting",
                    "tag": "corporate-parenting",
                },
                "window": {},
            }
        ],
    }

    # The LMS verifies the answer with lti1p3platform and the tool's JWKS, then adds it.
    made = http.post(action, data={"JWT": fields["JWT"]}, timeout=10)
    assert made.status_code == 200, made.text
    assert "Activity added" in made.text and "Corporate Parenting 2027" in made.text
    [link] = lms.added_links[COURSE].values()
    assert link.title == "Corporate Parenting 2027" and link.target == "window"
    [item] = lms.lineitems[COURSE]
    assert item == {
        "id": link.lineitem,
        "label": "Corporate Parenting 2027",
        "scoreMaximum": 100,
        "resourceLinkId": link.link_id,
        "tag": "corporate-parenting",
        "resourceId": "corporate-parenting",
    }
    with app.app_context():
        [row] = db.session.scalars(select(DeepLinkRequest))
        assert row.used_at is not None and row.editor_name == "Tom Price"

    # A learner opens the new activity; their completion reaches its line item.
    learner = tool_client(app)
    url = lms.login_initiation_url("u-aisha", COURSE, link.link_id)
    login = learner.get("/lti/login", query_string=dict(parse_qsl(urlsplit(url).query)))
    answer_page = http.get(lms.auth_login_url, params=query_of(login.location), timeout=10)
    _, launch_fields = parse_form(answer_page.text)
    assert learner.post("/lti/launch", data=launch_fields).status_code == 200
    with app.app_context():
        [visit] = db.session.scalars(select(Launch))
        assert visit.resource_link_id == link.link_id
    passed(app, learner)
    accept(learner, "Aisha Khan")
    [score] = eventually(lambda: lms.scores)
    assert score["lineitem"] == link.lineitem and score["userId"] == "u-aisha"
    assert score["scoreGiven"] == 100 and score["activityProgress"] == "Completed"
    assert len(lms.lineitems[COURSE]) == 1  # the tool used it, made no other


def refusal_of(client: FlaskClient, page: TestResponse) -> dict[str, Any]:
    action, fields = form_of(page)
    assert action.endswith("/deeplink/return")
    _, claims = tool_claims(client, fields["JWT"])
    assert claims[DL + "content_items"] == []
    assert claims[LTI + "message_type"] == "LtiDeepLinkingResponse"
    return claims


@pytest.mark.parametrize(
    ("user_id", "mutate", "status", "errorlog"),
    [
        ("u-aisha", None, 403, "corporate-parenting: not_editor"),  # a learner
        ("u-priya", None, 403, "corporate-parenting: not_editor"),  # institution admin: yes
        (
            "u-tom",
            lambda c: c[SETTINGS].update(accept_types=["link", "html"]),
            422,
            "corporate-parenting: no_resource_links",
        ),
        (
            "u-tom",
            lambda c: c.__setitem__(  # a new list: the platform's own is Tom's for good
                LTI + "roles",
                ["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"],
            ),
            403,
            "corporate-parenting: not_editor",
        ),
    ],
    ids=["learner", "institution-admin", "no-resource-links", "teaching-assistant"],
)
def test_refusals_tell_the_lms_why_and_store_nothing(
    app: Flask,
    client: FlaskClient,
    lms: DemoPlatform,
    http: requests.Session,
    user_id: str,
    mutate: Any,
    status: int,
    errorlog: str,
) -> None:
    page = dl_launch(client, lms, http, user_id, mutate)
    if user_id == "u-priya":  # an institution Administrator edits courses: the choice page
        assert page.status_code == 200 and "Add the Corporate Parenting module" in page.text
        return
    assert page.status_code == status, page.get_data(as_text=True)
    assert "The module cannot be added here" in page.get_data(as_text=True)
    claims = refusal_of(client, page)
    assert claims[DL + "errorlog"] == errorlog and claims[DL + "errormsg"]
    assert count(app, DeepLinkRequest) == 0 and count(app, Person) == 0
    # The LMS closes its picker with the tool's message, adding nothing.
    _, fields = form_of(page)
    shown = http.post(lms.issuer + "/deeplink/return", data={"JWT": fields["JWT"]}, timeout=10)
    assert shown.status_code == 400 and "Nothing was added" in shown.text
    assert claims[DL + "errormsg"] in unescape(shown.text)
    assert lms.added_links == {} and lms.lineitems[COURSE] == []


def _set_return_url(url: str) -> Callable[[dict[str, Any]], None]:
    return lambda c: c[SETTINGS].update(deep_link_return_url=url)


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (_set_return_url("https://evil.example/deeplink/return"), "foreign_deep_link_return_url"),
        (_set_return_url("javascript:alert(1)"), "foreign_deep_link_return_url"),
        (_set_return_url(""), "missing_claim"),
        (lambda c: c.pop(SETTINGS), "missing_claim"),
        (lambda c: c[SETTINGS].update(accept_types="ltiResourceLink"), "bad_deep_linking_settings"),
        (lambda c: c[SETTINGS].update(data="x" * 4097), "bad_deep_linking_settings"),
        (lambda c: c[SETTINGS].update(data={"a": 1}), "bad_deep_linking_settings"),
        (lambda c: c.__setitem__(LTI + "version", "1.1"), "missing_claim"),
    ],
    ids=[
        "return-url-other-origin",
        "return-url-not-http",
        "return-url-empty",
        "no-settings",
        "accept-types-not-a-list",
        "data-too-long",
        "data-not-a-string",
        "wrong-version",
    ],
)
def test_invalid_deep_linking_requests_get_the_error_page_and_write_nothing(
    app: Flask,
    client: FlaskClient,
    lms: DemoPlatform,
    http: requests.Session,
    mutate: Any,
    code: str,
) -> None:
    page = dl_launch(client, lms, http, mutate=mutate)
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and code in html
    assert "JWT" not in html and "evil.example" not in page.headers["Content-Security-Policy"]
    assert count(app, DeepLinkRequest) == 0


def test_data_of_the_longest_length_is_echoed_whole(
    client: FlaskClient, lms: DemoPlatform, http: requests.Session
) -> None:
    data = "d" * 4096
    page = dl_launch(client, lms, http, mutate=lambda c: c[SETTINGS].update(data=data))
    assert page.status_code == 200
    answer, _ = choose(client, page)
    _, claims = tool_claims(client, form_of(answer)[1]["JWT"])
    assert claims[DL + "data"] == data


def test_without_data_none_is_echoed_and_one_target_gives_no_choice(
    client: FlaskClient, lms: DemoPlatform, http: requests.Session
) -> None:
    def only_iframe_no_lineitems(claims: dict[str, Any]) -> None:
        del claims[SETTINGS]["data"]
        claims[SETTINGS].update(accept_presentation_document_targets=["iframe"])
        claims[SETTINGS].update(accept_lineitem=False)

    page = dl_launch(client, lms, http, mutate=only_iframe_no_lineitems)
    html = page.get_data(as_text=True)
    assert "In a new window" not in html and "out of 100" not in html
    answer, _ = choose(client, page)
    _, claims = tool_claims(client, form_of(answer)[1]["JWT"])
    assert DL + "data" not in claims
    [item] = claims[DL + "content_items"]
    assert item["iframe"] == {} and "lineItem" not in item and "window" not in item


@pytest.mark.parametrize(
    ("title", "error"),
    [("", "Enter a title for the activity"), ("t" * 201, "200 characters or fewer")],
)
def test_a_bad_title_is_shown_back_and_the_request_stays_usable(
    app: Flask,
    client: FlaskClient,
    lms: DemoPlatform,
    http: requests.Session,
    title: str,
    error: str,
) -> None:
    page = dl_launch(client, lms, http)
    again, _ = choose(client, page, title=title)
    html = again.get_data(as_text=True)
    assert again.status_code == 400 and "govuk-error-summary" in html and error in html
    assert "Error: " in html
    answer, _ = choose(client, again, title="t" * 200)
    assert answer.status_code == 200
    _, claims = tool_claims(client, form_of(answer)[1]["JWT"])
    assert claims[DL + "content_items"][0]["title"] == "t" * 200


def test_the_choice_is_sent_once(
    app: Flask, client: FlaskClient, lms: DemoPlatform, http: requests.Session
) -> None:
    page = dl_launch(client, lms, http)
    first, form = choose(client, page)
    assert first.status_code == 200
    second = client.post("/lti/deep-link", data=form)
    assert second.status_code == 410
    claims = refusal_of(client, second)
    assert claims[DL + "errorlog"] == "corporate-parenting: used"


def test_an_expired_choice_page_tells_the_lms(
    client: FlaskClient, lms: DemoPlatform, http: requests.Session, travel: Any
) -> None:
    page = dl_launch(client, lms, http)
    travel(minutes=31)
    late, _ = choose(client, page)
    assert late.status_code == 410
    assert refusal_of(client, late)[DL + "errorlog"] == "corporate-parenting: expired"


@pytest.mark.parametrize("token", ["", "nonsense", "WzEsICJ4Il0.forged"])
def test_a_token_the_tool_did_not_make_gets_a_plain_page(
    client: FlaskClient, lms: DemoPlatform, http: requests.Session, token: str
) -> None:
    dl_launch(client, lms, http)  # a real request exists; the token must still name it
    response = client.post("/lti/deep-link", data={"token": token, "title": "x"})
    assert response.status_code == 400 and "This page has expired" in response.text
    assert "JWT" not in response.text


def test_the_request_expires_after_exactly_thirty_minutes(
    app: Flask, registered: DemoPlatform
) -> None:
    start = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    with app.app_context():
        org = db.session.scalar(select(Organisation.id))
        deployment = db.session.scalar(select(Deployment))
        assert org is not None and deployment is not None
        made = dl_service.create_request(
            db.session(),
            organisation_id=org,
            registration_id=deployment.registration_id,
            deployment_pk=deployment.id,
            settings={"return_url": "x"},
            editor_name="Tom",
            now=start,
        )
        last = start + timedelta(minutes=30)
        assert dl_service.usable_request(db.session(), made.id, made.secret, last)
        with pytest.raises(dl_service.RequestUnusable, match="expired"):
            dl_service.usable_request(
                db.session(), made.id, made.secret, last + timedelta(microseconds=1)
            )
        with pytest.raises(dl_service.RequestUnusable, match="expired"):
            dl_service.use_request(db.session(), made.id, made.secret, last + timedelta(seconds=1))
        with pytest.raises(dl_service.UnknownRequest):
            dl_service.use_request(db.session(), made.id, made.secret + "x", last)
        assert dl_service.use_request(db.session(), made.id, made.secret, last).used_at == last
        with pytest.raises(dl_service.RequestUnusable, match="used"):
            dl_service.use_request(db.session(), made.id, made.secret, start)
        stored = db.session.get(DeepLinkRequest, made.id)
        assert stored is not None and made.secret not in stored.secret_hash
        assert len(stored.secret_hash) == 64

        # Kept for a day after expiry (a late answer is told "expired"), then removed.
        def another(now: datetime) -> None:
            dl_service.create_request(
                db.session(),
                organisation_id=org,
                registration_id=deployment.registration_id,
                deployment_pk=deployment.id,
                settings={},
                editor_name="Tom",
                now=now,
            )

        another(last + timedelta(days=1))
        assert db.session.get(DeepLinkRequest, made.id) is not None
        another(last + timedelta(days=1, seconds=1))
        assert db.session.get(DeepLinkRequest, made.id) is None


def test_the_tool_configuration_offers_deep_linking(client: FlaskClient) -> None:
    config = client.get("/lti/config?format=json").json
    assert config["messages"] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    placements = config["canvas"]["extensions"][0]["settings"]["placements"]
    assert {(p["placement"], p["message_type"]) for p in placements} == {
        ("link_selection", "LtiDeepLinkingRequest"),
        ("assignment_selection", "LtiDeepLinkingRequest"),
    }
