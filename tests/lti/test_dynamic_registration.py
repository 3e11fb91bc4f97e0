"""LTI Dynamic Registration against the demo LMS over real HTTP: invites, the whole flow to a
working launch, each refusal (nothing written), the pinned registration body, and single use.

The tool is the Flask test client (https://tool.test); its background thread calls the demo
LMS, a live server on a loopback port, as it would call Moodle.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from app.db import db
from app.models import (
    AuditEvent,
    Deployment,
    Organisation,
    PlatformRegistration,
    RegistrationAttempt,
    RegistrationInvite,
)
from app.services import registration as service
from app.services.platforms import get_or_create_organisation
from scripts.demo_lms.dynreg import DynamicRegistrar
from scripts.demo_lms.platform import DemoPlatform
from scripts.demo_lms.server import create_platform_app
from tests.conftest import ORG, TOOL_BASE_URL, LiveServer, tool_client
from tests.learner_flow import csrf
from tests.lti_flow import Flow, parse_form

OTHER_ORG = "Other District Council"


class Lms:
    """A fresh demo LMS per test (activation changes which tool it launches)."""

    def __init__(self) -> None:
        self.platform = DemoPlatform(issuer="http://placeholder", tool_base_url=TOOL_BASE_URL)
        self.server = LiveServer(create_platform_app(self.platform))
        self.platform.issuer = self.server.url
        self.registrar: DynamicRegistrar = self.server.server.app.extensions["demo_registrar"]
        self.server.start()

    @property
    def configuration_url(self) -> str:
        return self.platform.issuer + "/.well-known/openid-configuration"


@pytest.fixture
def lms() -> Iterator[Lms]:
    found = Lms()
    yield found
    found.server.stop()


@pytest.fixture(autouse=True)
def _jobs_finish(app: Flask) -> Iterator[None]:
    yield
    app.extensions["cpm_registration_worker"].join()


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def tool_log() -> Iterator[LogCapture]:
    handler = LogCapture()
    logger = logging.getLogger("cpm")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def make_url(runner: FlaskCliRunner, org: str = ORG, hours: int = 24) -> str:
    result = runner.invoke(args=["lti", "registration-url", "--org", org, "--hours", str(hours)])
    assert result.exit_code == 0, result.output
    return re.search(r"https://tool\.test/lti/register/\S+", result.output).group(0)  # type: ignore[union-attr]


def lms_opens(lms: Lms, http: requests.Session, url: str) -> str:
    """The demo LMS's admin page opens the URL in its frame: the frame's address."""
    page = http.get(lms.platform.issuer + "/admin/tools/register", params={"tool_url": url})
    assert page.status_code == 200
    src = re.search(r'<iframe id="registration" src="([^"]+)"', page.text)
    assert src is not None
    return src.group(1).replace("&amp;", "&")


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def wait_for_page(client: FlaskClient, path: str, *, until: str) -> str:
    """The attempt's page, once the background thread has got as far as `until`."""
    deadline = time.monotonic() + 20
    while True:
        page = client.get(path).get_data(as_text=True)
        if until in page or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def start(client: FlaskClient, frame_url: str) -> str:
    response = client.get(path_of(frame_url))
    assert response.status_code == 303, response.get_data(as_text=True)
    return path_of(response.location)


def confirm(client: FlaskClient, attempt_path: str) -> Any:
    page = wait_for_page(client, attempt_path, until="Register the Corporate Parenting module")
    assert "Register the Corporate Parenting module" in page, page
    _, fields = parse_form(page)
    return client.post(attempt_path, data={"t": fields["t"]})


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            "platforms": db.session.scalar(select(func.count(PlatformRegistration.id))) or 0,
            "deployments": db.session.scalar(select(func.count(Deployment.id))) or 0,
            "invites_used": db.session.scalar(
                select(func.count(RegistrationInvite.id)).where(
                    RegistrationInvite.used_at.is_not(None)
                )
            )
            or 0,
        }


# -- the whole flow -------------------------------------------------------------------------------
def test_an_lms_registers_through_an_invite_and_its_launch_works(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    lms: Lms,
    http: requests.Session,
    tool_log: LogCapture,
) -> None:
    for args in (["lti", "ensure-key"], ["content", "publish"]):
        assert runner.invoke(args=args).exit_code == 0
    url = make_url(runner)
    invite_token = url.rsplit("/", 1)[1]
    frame_url = lms_opens(lms, http, url)
    registration_token = dict(p.split("=", 1) for p in urlsplit(frame_url).query.split("&"))[
        "registration_token"
    ]

    attempt_path = start(client, frame_url)
    assert invite_token not in attempt_path and registration_token not in attempt_path
    page = wait_for_page(client, attempt_path, until="Register the Corporate")
    for shown in (
        ORG,
        lms.platform.issuer,
        "demo_lms 1.0",
        lms.platform.auth_login_url,
        "https://tool.test/lti/login",
        "LtiResourceLinkRequest, LtiDeepLinkingRequest",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    ):
        assert shown in page, shown
    assert counts(app)["platforms"] == 0  # nothing stored before the administrator confirms

    response = confirm(client, attempt_path)
    assert response.status_code == 303
    page = wait_for_page(client, attempt_path, until="The module is registered")
    assert "The module is registered" in page, page
    assert "Pending" in page and "Manage tools" in page
    assert '<div id="lti-close"></div>' in page and "register-close.mjs" in page
    response = client.get(attempt_path)
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {lms.platform.issuer}" in csp

    [tool] = lms.registrar.tools.values()
    assert tool.status == "Pending"
    assert lms.registrar.registrations_received[0]["initiate_login_uri"] == (
        "https://tool.test/lti/login"
    )
    with app.app_context():
        reg = db.session.scalars(select(PlatformRegistration)).one()
        assert (reg.issuer, reg.client_id) == (lms.platform.issuer, tool.client_id)
        assert reg.auth_login_url == lms.platform.auth_login_url
        assert reg.auth_token_url == lms.platform.auth_token_url
        assert reg.jwks_url == lms.platform.jwks_url
        assert reg.service_origins == lms.platform.issuer
        assert reg.organisation_id is None  # the LMS named its deployment
        [dep] = reg.deployments
        assert dep.deployment_id == tool.deployment_id
        assert dep.organisation.name == ORG
        invite = db.session.scalars(select(RegistrationInvite)).one()
        assert invite.used_at is not None and invite.registration_id == reg.id
        assert invite.token_hash == service.hash_secret(invite_token)
        attempt = db.session.scalars(select(RegistrationAttempt)).one()
        assert attempt.status == "registered"
        assert attempt.registration_token_encrypted is None

    # The administrator activates the tool in the LMS; a learner's launch then works.
    activated = http.post(f"{lms.platform.issuer}/admin/tools/{tool.client_id}/activate")
    assert activated.status_code == 200 and "Active" in activated.text
    launch = Flow(client, lms.platform, http).launch_as("u-aisha")
    assert launch.status_code == 200, launch.get_data(as_text=True)

    # The invite is spent: opening it again registers nothing.
    again = client.get(path_of(lms_opens(lms, http, url)))
    assert again.status_code == 410
    assert "already been used" in again.get_data(as_text=True)
    logged = "\n".join(tool_log.lines)
    assert "registration outcome=registered" in logged
    assert invite_token not in logged and registration_token not in logged


def test_a_registration_without_a_deployment_adopts_the_first_launched_one(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, lms: Lms, http: requests.Session
) -> None:
    for args in (["lti", "ensure-key"], ["content", "publish"]):
        assert runner.invoke(args=args).exit_code == 0
    lms.registrar.omit_deployment_id = True  # as Canvas: deployments come later
    attempt_path = start(client, lms_opens(lms, http, make_url(runner)))
    confirm(client, attempt_path)
    assert "The module is registered" in wait_for_page(client, attempt_path, until="registered")
    with app.app_context():
        reg = db.session.scalars(select(PlatformRegistration)).one()
        org_id = db.session.scalars(select(Organisation.id).where(Organisation.name == ORG)).one()
        assert reg.organisation_id == org_id and reg.deployments == []

    [tool] = lms.registrar.tools.values()
    http.post(f"{lms.platform.issuer}/admin/tools/{tool.client_id}/activate")
    flow = Flow(client, lms.platform, http)
    assert flow.login().status_code == 302
    assert counts(app)["deployments"] == 0  # a login is not signed by the LMS: nothing written
    launch = flow.launch_as("u-aisha")
    assert launch.status_code == 200, launch.get_data(as_text=True)
    with app.app_context():
        [dep] = db.session.scalars(select(Deployment)).all()
        assert (dep.deployment_id, dep.organisation_id) == (tool.deployment_id, org_id)


# -- refusals: a clear page, nothing written -----------------------------------------------------
@pytest.mark.parametrize(
    ("token", "status", "text"),
    [
        ("not-an-invite", 404, "This registration URL is not valid"),
        ("x" * 101, 404, "This registration URL is not valid"),
    ],
)
def test_an_unknown_invite_is_refused(
    app: Flask, client: FlaskClient, lms: Lms, token: str, status: int, text: str
) -> None:
    response = client.get(
        f"/lti/register/{token}",
        query_string={"openid_configuration": lms.configuration_url, "registration_token": "t"},
    )
    assert response.status_code == status
    assert text in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(RegistrationAttempt.id))) == 0


def test_an_expired_invite_is_refused(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    lms: Lms,
    http: requests.Session,
    travel: Any,
) -> None:
    frame_url = lms_opens(lms, http, make_url(runner, hours=1))
    travel(hours=1)
    response = client.get(path_of(frame_url))
    assert response.status_code == 410
    assert "This registration URL has expired" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(RegistrationAttempt.id))) == 0


def test_invite_expiry_boundary_is_the_second_it_was_made_for(app: Flask) -> None:
    made = datetime(2026, 12, 6, 9, 0, 0, tzinfo=UTC)
    with app.app_context():
        org = get_or_create_organisation(db.session(), ORG)
        invite, token = service.create_invite(db.session(), org, 24, "test", made)
        expires = made + timedelta(hours=24)
        assert invite.expires_at == expires
        last_valid = expires - timedelta(seconds=1)
        assert service.open_invite(db.session, token, last_valid).id == invite.id
        with pytest.raises(service.RegistrationRefused) as refused:
            service.open_invite(db.session, token, expires)
        assert refused.value.reason == "expired_invite"
        assert not service.claim_invite(db.session, invite.id, expires)
        assert service.claim_invite(db.session, invite.id, last_valid)
        assert not service.claim_invite(db.session, invite.id, last_valid)  # single use


def test_the_registration_url_opened_without_its_lms_explains_itself(
    client: FlaskClient, runner: FlaskCliRunner
) -> None:
    response = client.get(path_of(make_url(runner)))
    assert response.status_code == 400
    assert "paste it into your LMS" in response.get_data(as_text=True)


def test_the_config_page_asked_to_register_says_a_registration_url_is_needed(
    app: Flask, client: FlaskClient, lms: Lms
) -> None:
    response = client.get(
        "/lti/config",
        query_string={"openid_configuration": lms.configuration_url, "registration_token": "t"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "A registration URL is needed" in page and "lti registration-url" in page
    assert counts(app) == {"platforms": 0, "deployments": 0, "invites_used": 0}


@pytest.mark.parametrize(
    ("change", "heading"),
    [
        ({"issuer": "http://127.0.0.2:9"}, "names another site as its own"),
        ({"issuer": "https://tool.test"}, "names another site as its own"),
        ({"jwks_uri": "ftp://example.com/jwks"}, "could not be understood"),
        ({"registration_endpoint": None}, "could not be understood"),
        (
            {"https://purl.imsglobal.org/spec/lti-platform-configuration": None},
            "could not be understood",
        ),
    ],
)
def test_a_bad_configuration_is_refused_and_nothing_is_written(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    lms: Lms,
    http: requests.Session,
    change: dict[str, Any],
    heading: str,
) -> None:
    lms.registrar.configuration_overrides = change
    attempt_path = start(client, lms_opens(lms, http, make_url(runner)))
    page = wait_for_page(client, attempt_path, until=heading)
    assert heading in page and "Nothing has been registered" in page
    assert "<form" not in page.split("govuk-main-wrapper")[1]
    assert counts(app) == {"platforms": 0, "deployments": 0, "invites_used": 0}
    with app.app_context():
        attempt = db.session.scalars(select(RegistrationAttempt)).one()
        assert attempt.status == "failed" and attempt.registration_token_encrypted is None


def test_an_unreachable_configuration_is_refused(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    url = make_url(runner)
    response = client.get(
        path_of(url),
        query_string={
            "openid_configuration": "http://127.0.0.1:9/.well-known/openid-configuration",
            "registration_token": "t",
        },
    )
    page = wait_for_page(client, path_of(response.location), until="could not read")
    assert "The tool could not read your LMS&#39;s settings" in page
    assert counts(app)["platforms"] == 0


@pytest.mark.parametrize(
    "configuration", ["ftp://lms.example/config", "javascript:alert(1)", "http://a@b/c", ""]
)
def test_a_configuration_url_that_is_not_http_is_refused(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, configuration: str
) -> None:
    response = client.get(
        path_of(make_url(runner)),
        query_string={"openid_configuration": configuration, "registration_token": "t"},
    )
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(RegistrationAttempt.id))) == 0


def test_the_platform_refusing_shows_its_status_not_its_body_and_gives_the_invite_back(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, lms: Lms, http: requests.Session
) -> None:
    lms.registrar.refuse_status = 403
    attempt_path = start(client, lms_opens(lms, http, make_url(runner)))
    assert confirm(client, attempt_path).status_code == 303
    page = wait_for_page(client, attempt_path, until="refused the registration")
    assert "Your LMS refused the registration" in page
    assert "HTTP 403" in page
    assert "refused by the demo LMS" not in page and "<b>" not in page
    assert counts(app) == {"platforms": 0, "deployments": 0, "invites_used": 0}
    with app.app_context():
        attempt = db.session.scalars(select(RegistrationAttempt)).one()
        assert attempt.registration_token_encrypted is None


def test_an_issuer_registered_to_another_organisation_is_refused(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, lms: Lms, http: requests.Session
) -> None:
    result = runner.invoke(args=lms.platform.register_command(OTHER_ORG))
    assert result.exit_code == 0, result.output
    attempt_path = start(client, lms_opens(lms, http, make_url(runner)))
    page = wait_for_page(client, attempt_path, until="already registered to another")
    assert "This LMS is already registered to another organisation" in page
    assert counts(app) == {"platforms": 1, "deployments": 1, "invites_used": 0}
    assert lms.registrar.tools == {}


def test_a_forged_or_replayed_register_form_is_refused(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, lms: Lms, http: requests.Session
) -> None:
    attempt_path = start(client, lms_opens(lms, http, make_url(runner)))
    page = wait_for_page(client, attempt_path, until="Register the Corporate")
    _, fields = parse_form(page)
    forged = client.post(attempt_path, data={"t": fields["t"] + "x"})
    assert forged.status_code == 400 and "out of date" in forged.get_data(as_text=True)
    assert client.post(attempt_path, data={"t": fields["t"]}).status_code == 303
    assert client.post(attempt_path, data={"t": fields["t"]}).status_code == 303
    wait_for_page(client, attempt_path, until="The module is registered")
    assert len(lms.registrar.tools) == 1
    assert counts(app)["platforms"] == 1
    assert client.get("/lti/register/attempt/not-a-key").status_code == 404


def test_one_invite_registers_once_when_two_confirm_at_the_same_moment(
    make_app: Any, runner: FlaskCliRunner, lms: Lms, http: requests.Session
) -> None:
    url = make_url(runner)
    apps = [make_app(), make_app()]  # two processes of the tool
    clients = [tool_client(a) for a in apps]
    paths = [start(c, lms_opens(lms, http, url)) for c in clients]
    tokens = [
        parse_form(wait_for_page(c, p, until="Register the Corporate"))[1]["t"]
        for c, p in zip(clients, paths, strict=True)
    ]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def press(i: int) -> None:
        barrier.wait()
        statuses.append(clients[i].post(paths[i], data={"t": tokens[i]}).status_code)

    threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [303, 303]
    for a in apps:
        a.extensions["cpm_registration_worker"].join()
    pages = [c.get(p).get_data(as_text=True) for c, p in zip(clients, paths, strict=True)]
    assert sum("The module is registered" in p for p in pages) == 1
    assert sum("This registration URL has already been used" in p for p in pages) == 1
    assert len(lms.registrar.tools) == 1
    assert counts(apps[0])["platforms"] == 1


# -- the registration the tool sends ------------------------------------------------------------
TOOL = service.ToolDescription(
    base_url="https://cpm.example.gov.uk",
    login_url="https://cpm.example.gov.uk/lti/login",
    launch_url="https://cpm.example.gov.uk/lti/launch",
    jwks_url="https://cpm.example.gov.uk/lti/jwks",
    client_name="Corporate Parenting module",
    description="Teaches the council's Corporate Parenting Policy.",
    claims=("iss", "sub", "name", "given_name", "family_name", "email"),
    scopes=(
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    ),
)


def test_the_registration_body_is_pinned() -> None:
    platform = {
        "scopes_supported": None,
        "messages_supported": ["LtiDeepLinkingRequest", "LtiResourceLinkRequest"],
    }
    assert service.registration_request(TOOL, platform) == {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": "https://cpm.example.gov.uk/lti/login",
        "redirect_uris": ["https://cpm.example.gov.uk/lti/launch"],
        "client_name": "Corporate Parenting module",
        "jwks_uri": "https://cpm.example.gov.uk/lti/jwks",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
        " https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
        " https://purl.imsglobal.org/spec/lti-ags/scope/score"
        " https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
        "https://purl.imsglobal.org/spec/lti-tool-configuration": {
            "domain": "cpm.example.gov.uk",
            "target_link_uri": "https://cpm.example.gov.uk/lti/launch",
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": [
                {
                    "type": "LtiResourceLinkRequest",
                    "target_link_uri": "https://cpm.example.gov.uk/lti/launch",
                },
                {
                    "type": "LtiDeepLinkingRequest",
                    "target_link_uri": "https://cpm.example.gov.uk/lti/launch",
                    "label": "Corporate Parenting module",
                },
            ],
            "description": "Teaches the council's Corporate Parenting Policy.",
        },
    }


def test_the_registration_asks_only_for_offered_scopes_and_messages() -> None:
    body = service.registration_request(
        TOOL,
        {
            "scopes_supported": ["openid", "https://purl.imsglobal.org/spec/lti-ags/scope/score"],
            "messages_supported": ["LtiResourceLinkRequest"],
        },
    )
    assert body["scope"] == "https://purl.imsglobal.org/spec/lti-ags/scope/score"
    tool_conf = body["https://purl.imsglobal.org/spec/lti-tool-configuration"]
    assert [m["type"] for m in tool_conf["messages"]] == ["LtiResourceLinkRequest"]
    custom = service.ToolDescription(**{**TOOL.__dict__, "custom_parameters": (("a", "b"),)})
    assert service.registration_request(custom, {})[
        "https://purl.imsglobal.org/spec/lti-tool-configuration"
    ]["custom_parameters"] == {"a": "b"}


def test_the_configuration_read_is_capped_at_64_kb(lms: Lms) -> None:
    lms.registrar.configuration_overrides = {"padding": "x" * (64 * 1024)}
    with pytest.raises(service.RegistrationRefused) as refused:
        service.fetch_configuration(lms.configuration_url)
    assert refused.value.reason == "malformed_configuration"
    lms.registrar.configuration_overrides = {}
    raw = service.fetch_configuration(lms.configuration_url)
    assert service.parse_configuration(raw, lms.configuration_url)["issuer"] == lms.platform.issuer


# -- HR makes a registration URL for their own organisation -----------------------------------
def test_hr_makes_a_registration_url_shown_once_and_audited(
    app: Flask, launched: Any, lms: Lms, http: requests.Session
) -> None:
    hr = launched("u-priya")
    page = hr.get("/hr/settings").get_data(as_text=True)
    assert "Connect your learning portal" in page
    response = hr.post("/hr/settings/registration-url", data={"csrf_token": csrf(page)})
    assert response.status_code == 200
    shown = response.get_data(as_text=True)
    url = re.search(r"https://tool\.test/lti/register/[\w-]+", shown).group(0)  # type: ignore[union-attr]
    assert "Manage tools" in shown and "Pending" in shown
    assert response.headers["Cache-Control"] == "no-store"
    token = url.rsplit("/", 1)[1]
    with app.app_context():
        invite = db.session.scalars(select(RegistrationInvite)).one()
        org = db.session.get(Organisation, invite.organisation_id)
        assert org is not None and org.name == ORG
        assert invite.token_hash == service.hash_secret(token)
        assert invite.created_by == "HR: Priya Shah"
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "config_change")
        ).all()[-1]
        assert event.details == {
            "change": "lms_registration_url_created",
            "invite_id": invite.id,
            "expires_at": invite.expires_at.isoformat(),
        }
        assert token not in str(event.details)
    # The URL registers an LMS for HR's organisation.
    attempt_path = start(hr, lms_opens(lms, http, url))
    assert ORG in wait_for_page(hr, attempt_path, until="Register the Corporate")
    # Only with the form's CSRF token, and only for HR.
    assert hr.post("/hr/settings/registration-url").status_code == 400
    learner = launched("u-aisha")
    assert learner.get("/hr/settings").status_code == 403  # the HR blueprint's own guard
    assert learner.post("/hr/settings/registration-url").status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(RegistrationInvite.id))) == 1


def test_an_attempt_whose_job_died_ends_after_a_minute_and_gives_the_invite_back(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    lms: Lms,
    http: requests.Session,
    travel: Any,
) -> None:
    attempt_path = start(client, lms_opens(lms, http, make_url(runner)))
    wait_for_page(client, attempt_path, until="Register the Corporate")
    with app.app_context():  # as if the process died while registering
        attempt = db.session.scalars(select(RegistrationAttempt)).one()
        attempt.status = "registering"
        service.claim_invite(db.session(), attempt.invite_id, attempt.updated_at)
        db.session.commit()
    travel(seconds=59)
    assert "Registering with your LMS" in client.get(attempt_path).get_data(as_text=True)
    travel(seconds=60)
    page = client.get(attempt_path).get_data(as_text=True)
    assert "Your LMS refused the registration" in page and "took too long" in page
    assert counts(app)["invites_used"] == 0
