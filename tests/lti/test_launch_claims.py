"""What a signed launch may carry: service URLs only on the platform's own origins (SSRF), and
string claims cleaned of control characters and cut to length before they are stored."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from app.db import db
from app.models import Launch, LmsContext, Person, PlatformRegistration
from lti.registry import url_origin
from scripts.demo_lms.platform import DemoPlatform
from tests.conftest import ORG, LiveServer
from tests.lti_flow import Flow

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"


@pytest.fixture
def flow(client: FlaskClient, registered: DemoPlatform, http: requests.Session) -> Flow:
    return Flow(client, registered, http)


@pytest.fixture
def other_server() -> Iterator[tuple[LiveServer, list[str]]]:
    """A server on the same host as the platform but another port; it records every hit."""
    hits: list[str] = []

    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        hits.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"[]"]

    server = LiveServer(wsgi).start()
    yield server, hits
    server.stop()


def launches(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Launch)) or 0


def _service_url(where: str, url: str):  # type: ignore[no-untyped-def]
    def mutate(claims: dict[str, Any]) -> None:
        if where == "nrps":
            claims[NRPS]["context_memberships_url"] = url
        else:
            claims[AGS][where] = url

    return mutate


# -- item 5: service URLs ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["lineitems", "lineitem", "nrps"])
def test_a_service_url_on_the_same_host_but_another_port_is_refused_and_never_called(
    app: Flask,
    flow: Flow,
    other_server: tuple[LiveServer, list[str]],
    where: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, hits = other_server
    assert server.url.split(":")[1] == flow.platform.issuer.split(":")[1]  # same host
    caplog.set_level(logging.INFO, logger="cpm.lti")
    response, _ = flow.forged("u-aisha", _service_url(where, server.url + "/latest/meta-data"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "foreign_service_url" in html
    assert "<h1" in html
    assert launches(app) == 0
    assert hits == []
    lines = [r.getMessage() for r in caplog.records if r.name == "cpm.lti"]
    assert any("outcome=rejected code=foreign_service_url" in line for line in lines)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://{host}:{port}/x", id="other scheme"),
        pytest.param("http://localhost:{port}/x", id="other host name"),
        pytest.param("http://{host}:{port}@169.254.169.254/x", id="userinfo"),
        pytest.param("http://169.254.169.254\\@{host}:{port}/x", id="backslash"),
        pytest.param("file:///etc/passwd", id="not http"),
        pytest.param("http://{host}:{port}\x85/x", id="C1 control after the port"),
        pytest.param("http://{host}\x00.evil.example:{port}/x", id="NUL in the host"),
        pytest.param("http://{host}:{port}x/x", id="bad port"),
    ],
)
def test_service_urls_off_the_platform_origin_are_refused(app: Flask, flow: Flow, url: str) -> None:
    host, port = flow.platform.issuer.removeprefix("http://").split(":")
    response, _ = flow.forged(
        "u-aisha", _service_url("lineitems", url.format(host=host, port=port))
    )
    assert response.status_code == 400
    assert "foreign_service_url" in response.get_data(as_text=True)
    assert launches(app) == 0


def test_service_urls_on_the_platform_origin_are_accepted(app: Flask, flow: Flow) -> None:
    # The demo platform's lineitems and memberships URLs are on its issuer's origin, the
    # same as its auth login, token and JWKS URLs; an explicit default-free port is the same.
    response, _ = flow.forged("u-aisha", _service_url("lineitem", flow.platform.issuer + "/li/1"))
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        launch = db.session.scalars(select(Launch)).one()
        assert launch.ags_endpoint is not None
        assert launch.ags_endpoint["lineitem"] == flow.platform.issuer + "/li/1"
        assert launch.nrps_url is not None
        assert launch.nrps_url.startswith(flow.platform.issuer + "/")


def test_a_launch_without_service_claims_is_accepted(app: Flask, flow: Flow) -> None:
    response, _ = flow.forged("u-aisha", lambda c: (c.pop(AGS), c.pop(NRPS)))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_an_extra_service_origin_registered_with_the_cli_is_accepted(
    app: Flask,
    flow: Flow,
    runner: FlaskCliRunner,
    other_server: tuple[LiveServer, list[str]],
) -> None:
    server, hits = other_server
    args = flow.platform.register_command(ORG)
    result = runner.invoke(args=[*args, "--service-origin", server.url + "/ignored/path"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        reg = db.session.scalars(select(PlatformRegistration)).one()
        assert reg.service_origins == server.url
    listed = runner.invoke(args=["lti", "list-platforms"])
    assert f"service origins: {server.url}" in listed.output

    response, _ = flow.forged("u-aisha", _service_url("nrps", server.url + "/memberships"))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert hits == []  # accepted and stored, fetched only when a roster sync asks for it


def test_add_platform_refuses_a_service_origin_that_is_not_http(
    runner: FlaskCliRunner, platform: DemoPlatform
) -> None:
    result = runner.invoke(
        args=[*platform.register_command("Org"), "--service-origin", "ftp://lms.example"]
    )
    assert result.exit_code != 0
    assert "Service origin must be an http(s) URL" in result.output


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://lms.example/a", "https://LMS.example:443/b", True),
        ("http://lms.example/a", "http://lms.example:80/b", True),
        ("https://lms.example/a", "https://lms.example:444/b", False),
        ("https://lms.example/a", "http://lms.example/b", False),
        ("https://lms.example/a", "https://api.lms.example/b", False),
    ],
)
def test_origins_compare_scheme_host_and_port_with_default_ports(
    a: str, b: str, same: bool
) -> None:
    assert url_origin(a) is not None
    assert (url_origin(a) == url_origin(b)) is same


# -- item 11: control characters and lengths ----------------------------------------------------


def test_a_name_with_a_nul_byte_launches_with_the_nul_removed(app: Flask, flow: Flow) -> None:
    response, _ = flow.forged("u-aisha", lambda c: c.update(name="Aisha\x00 Khan"))
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Person.name)).one() == "Aisha Khan"


def test_every_stored_string_claim_is_cleaned_of_control_characters(app: Flask, flow: Flow) -> None:
    dirty = "A\x00b\x1bc\x7fd\x85e\ud800"  # NUL, ESC, DEL, a C1 control, a lone surrogate

    def mutate(c: dict[str, Any]) -> None:
        c.update(
            sub="sub-" + dirty,
            name="Name " + dirty,
            given_name="Given\x00",
            family_name="Family\x00",
            email="aisha\x00@council.example",
        )
        c[CLAIM + "context"].update(title="Title " + dirty, label="Label\x00")
        c[CLAIM + "resource_link"]["title"] = "Link\ttitle\x00"
        c[CLAIM + "custom"] = {"employee_id\x00": "E1\x00", "note": "line\nbreak"}
        c[CLAIM + "lis"] = {"person_sourcedid": "SRC\x00-1"}

    response, _ = flow.forged("u-aisha", mutate)
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        person = db.session.scalars(select(Person)).one()
        assert person.subject == "sub-Abcde"
        assert person.name == "Name Abcde"
        assert (person.given_name, person.family_name) == ("Given", "Family")
        assert person.email == "aisha@council.example"
        context = db.session.scalars(select(LmsContext)).one()
        assert (context.title, context.label) == ("Title Abcde", "Label")
        launch = db.session.scalars(select(Launch)).one()
        assert launch.resource_link_title == "Link title"


@pytest.mark.parametrize(("length", "stored"), [(300, 300), (301, 300)])
def test_names_are_cut_at_their_column_length(
    app: Flask, flow: Flow, length: int, stored: int
) -> None:
    response, _ = flow.forged("u-aisha", lambda c: c.update(name="n" * length))
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        assert len(db.session.scalars(select(Person.name)).one()) == stored


def test_a_state_or_issuer_with_a_nul_is_refused_not_a_server_error(app: Flask, flow: Flow) -> None:
    _, form = flow.forged("u-lee")  # a valid token, its state used
    response = flow.launch({"id_token": form["id_token"], "state": "abc\x00def"})
    assert response.status_code == 401
    assert "bad_state" in response.get_data(as_text=True)
    response, _ = flow.forged("u-aisha", lambda c: c.update(iss=c["iss"] + "\x00"))
    assert response.status_code == 403
    assert "unknown_issuer" in response.get_data(as_text=True)
