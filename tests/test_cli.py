"""The operator's commands, through Flask's CLI runner."""

from __future__ import annotations

import requests
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app.db import db
from app.models import Deployment, Organisation, PlatformRegistration
from app.services.content_pack import PLACEHOLDERS
from scripts.demo_lms.platform import DemoPlatform
from tests.conftest import ORG, tool_client
from tests.lti_flow import Flow

ARGS = [
    "lti",
    "add-platform",
    "--issuer",
    "https://moodle.council.example",
    "--client-id",
    "abc123",
    "--deployment-id",
    "1",
    "--deployment-id",
    "2",
    "--auth-login-url",
    "https://moodle.council.example/mod/lti/auth.php",
    "--auth-token-url",
    "https://moodle.council.example/mod/lti/token.php",
    "--jwks-url",
    "https://moodle.council.example/mod/lti/certs.php",
    "--org",
    "North Shire Council",
]


def test_add_platform_registers_issuer_client_deployments_and_organisation(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(args=ARGS)
    assert result.exit_code == 0, result.output
    assert "Registered platform https://moodle.council.example" in result.output
    with app.app_context():
        reg = db.session.scalars(select(PlatformRegistration)).one()
        assert reg.client_id == "abc123"
        assert sorted(d.deployment_id for d in reg.deployments) == ["1", "2"]
        assert {d.organisation.name for d in reg.deployments} == {"North Shire Council"}


def test_add_platform_again_updates_and_adds_deployments(
    app: Flask, runner: FlaskCliRunner
) -> None:
    runner.invoke(args=ARGS)
    again = [*ARGS[:-2], "--deployment-id", "3", "--org", "North Shire Council"]
    again[again.index("--jwks-url") + 1] = "https://moodle.council.example/keys"
    result = runner.invoke(args=again)
    assert result.exit_code == 0
    assert "Updated platform" in result.output and "added deployment 3" in result.output
    with app.app_context():
        assert db.session.scalars(select(PlatformRegistration.jwks_url)).one().endswith("/keys")
        assert db.session.query(Deployment).count() == 3
        assert db.session.query(Organisation).count() == 1


def test_add_platform_refuses_bad_urls_and_moving_a_deployment(runner: FlaskCliRunner) -> None:
    bad = list(ARGS)
    bad[bad.index("--jwks-url") + 1] = "certs.php"
    result = runner.invoke(args=bad)
    assert result.exit_code != 0 and "JWKS URL must be an http(s) URL" in result.output
    runner.invoke(args=ARGS)
    moved = [*ARGS[:-1], "Another Council"]
    result = runner.invoke(args=moved)
    assert result.exit_code != 0 and "belongs to another organisation" in result.output


def test_list_platforms_shows_what_is_registered(runner: FlaskCliRunner) -> None:
    assert "No platforms registered" in runner.invoke(args=["lti", "list-platforms"]).output
    runner.invoke(args=ARGS)
    output = runner.invoke(args=["lti", "list-platforms"]).output
    assert "https://moodle.council.example  client id: abc123" in output
    assert "deployment 2  -> North Shire Council" in output


def test_map_role_changes_how_a_launch_is_read(
    app: Flask, runner: FlaskCliRunner, registered: DemoPlatform, http: requests.Session
) -> None:
    staff = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Staff"
    result = runner.invoke(
        args=[
            "lti",
            "map-role",
            "--org",
            "Test Borough Council",
            "--lti-role",
            staff,
            "--role",
            "manager",
        ]
    )
    assert result.exit_code == 0, result.output
    client = tool_client(app)
    Flow(client, registered, http).launch_as("u-aisha")
    # Read as a manager: the service navigation offers their team, and the team page opens.
    assert "Your team" in client.get("/").get_data(as_text=True)
    assert client.get("/team/").status_code == 200
    result = runner.invoke(
        args=["lti", "map-role", "--org", "Nowhere", "--lti-role", staff, "--role", "hr"]
    )
    assert result.exit_code != 0 and "No organisation" in result.output


def test_migrations_match_the_models(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_org_show_lists_every_local_detail_with_what_the_text_says_until_it_is_set(
    runner: FlaskCliRunner, registered: DemoPlatform
) -> None:
    shown = runner.invoke(args=["org", "show", "--org", ORG])
    assert shown.exit_code == 0, shown.output
    lines = {line.split(" ", 1)[0]: line for line in shown.output.splitlines()}
    for key, (label, default) in PLACEHOLDERS.items():
        expected = default or (ORG if key == "council_name" else "")  # the organisation's
        said = (
            f'(not set: the text says "{expected}")'
            if expected
            else "(not set: the text words it another way)"  # used only inside {{#if}}
        )
        assert lines[key] == f"{key:28} {said}   {label}"
    set_it = runner.invoke(args=["org", "set", "--org", ORG, "board_chair", "The Lead Member"])
    assert set_it.exit_code == 0, set_it.output
    shown = runner.invoke(args=["org", "show", "--org", ORG]).output
    lines = {line.split(" ", 1)[0]: line for line in shown.splitlines()}
    assert lines["board_chair"] == f"{'board_chair':28} The Lead Member   Who chairs the board"
    assert lines["board_meets"].startswith(f"{'board_meets':28} (not set: the text words it")
