"""What operators rely on: health check, JWKS, configuration page, error pages."""

from __future__ import annotations

import json
import re

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.config import Settings, normalise_database_url


def test_healthz_reports_a_reachable_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(make_app) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI="sqlite:////nonexistent/dir/tool.sqlite3")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


def test_jwks_publishes_the_signing_key_and_keeps_old_ones_until_retired(
    client: FlaskClient, runner: FlaskCliRunner
) -> None:
    assert client.get("/lti/jwks").json == {"keys": []}
    runner.invoke(args=["lti", "ensure-key"])
    first = client.get("/lti/jwks").json["keys"]
    assert len(first) == 1
    assert first[0]["alg"] == "RS256" and first[0]["use"] == "sig" and "d" not in first[0]
    old_kid = first[0]["kid"]

    result = runner.invoke(args=["lti", "rotate-key"])
    assert result.exit_code == 0
    kids = [k["kid"] for k in client.get("/lti/jwks").json["keys"]]
    assert len(kids) == 2 and old_kid in kids

    refused = runner.invoke(args=["lti", "retire-key", kids[0]])
    assert refused.exit_code != 0
    assert "signing now" in refused.output
    assert runner.invoke(args=["lti", "retire-key", old_kid]).exit_code == 0
    assert [k["kid"] for k in client.get("/lti/jwks").json["keys"]] == [kids[0]]
    listing = runner.invoke(args=["lti", "list-keys"]).output
    assert "signing" in listing and "retired" in listing


def test_a_key_whose_kid_begins_with_a_dash_can_be_retired(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    """A kid is a base64url thumbprint: about one in 64 begins with "-"."""
    from app.db import db
    from app.models import ToolKey

    runner.invoke(args=["lti", "ensure-key"])
    runner.invoke(args=["lti", "rotate-key"])
    with app.app_context():
        old = db.session.scalars(select(ToolKey).where(ToolKey.active.is_(False))).one()
        old.kid = "-" + old.kid[1:]
        old.public_jwk = {**old.public_jwk, "kid": old.kid}
        db.session.commit()
        kid = old.kid
    result = runner.invoke(args=["lti", "retire-key", kid])
    assert result.exit_code == 0, result.output
    assert kid not in [k["kid"] for k in client.get("/lti/jwks").json["keys"]]


def test_config_page_gives_an_lms_administrator_every_value(client: FlaskClient) -> None:
    page = client.get("/lti/config").get_data(as_text=True)
    for value in (
        "https://tool.test/lti/login",
        "https://tool.test/lti/launch",
        "https://tool.test/lti/jwks",
        "Moodle",
        "Canvas",
    ):
        assert value in page
    # What the administrator types or chooses besides the URLs (issue 12, from a real Moodle).
    rows = re.findall(r"<dt[^>]*>\s*(.*?)\s*</dt>\s*<dd[^>]*>\s*(.*?)\s*</dd>", page, re.S)
    assert ("Tool name", "Corporate Parenting module") in rows
    assert ("Launch container", "New window (see below)") in rows
    assert ("Supports Deep Linking", "Yes") in rows
    assert ("Content selection URL", "https://tool.test/lti/launch") in rows
    for text in (
        "Teaches the council&#39;s Corporate Parenting Policy, checks understanding and records"
        " each person&#39;s acceptance.",
        'Set "Default launch container" to "New window".',
        "Launch container: a new window</h2>",
        'Tick "Supports Deep Linking (Content-Item Message)"',
        "<code>employee_id=$Person.sourcedId</code>",
        "<code>employee_id=$User.username</code>",
        "Do not use <code>$User.id</code>",
        "<code>elected_member=true</code> in that activity's custom parameters",
        "no substitution variable for a custom user profile field",
    ):
        assert text in page, text
    data = client.get("/lti/config?format=json").json
    assert data["initiate_login_url"] == "https://tool.test/lti/login"
    assert data["redirect_uris"] == ["https://tool.test/lti/launch"]
    assert data["jwks_url"] == "https://tool.test/lti/jwks"
    assert data["canvas"]["oidc_initiation_url"] == "https://tool.test/lti/login"
    assert any("lti-ags" in s for s in data["scopes"])


def test_unknown_page_is_a_plain_404(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


def test_database_url_from_a_hosting_platform_is_used_with_psycopg3() -> None:
    assert normalise_database_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_settings_come_from_the_environment(tmp_path) -> None:
    settings = Settings.from_env(
        tmp_path,
        {
            "DATABASE_URL": "postgres://u@db/cp",
            "SECRET_KEY": "s",
            "TOOL_BASE_URL": "https://cp.x/",
            "COOKIE_SECURE": "0",
            "SESSION_HOURS": "4",
        },
    )
    assert settings.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@db/cp"
    assert settings.TOOL_BASE_URL == "https://cp.x"
    assert settings.SESSION_COOKIE_SECURE is False and settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.SESSION_HOURS == 4
    default = Settings.from_env(tmp_path, {})
    assert default.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert default.SESSION_COOKIE_SAMESITE == "None" and default.SESSION_COOKIE_PARTITIONED
    # Without SECRET_KEY a per-installation secret is made once and reused.
    assert default.SECRET_KEY == Settings.from_env(tmp_path, {}).SECRET_KEY


def test_app_is_json_serialisable_config(app: Flask) -> None:
    json.dumps({k: v for k, v in app.config.items() if isinstance(v, str | int | bool)})
