"""Command-line interface: thin wrappers over the services (`flask --app app ...`)."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.db import db, utcnow
from app.models import Role
from app.services import keys as key_service
from app.services.platforms import PlatformError, add_platform, list_platforms, map_role

lti_cli = AppGroup("lti", help="Register LMS platforms and manage the tool's signing keys.")


@lti_cli.command("add-platform")
@click.option("--issuer", required=True, help="The platform's issuer (Moodle: Platform ID).")
@click.option("--client-id", required=True, help="The client ID the platform gave the tool.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    required=True,
    help="A deployment ID; repeat for several.",
)
@click.option("--auth-login-url", required=True, help="The platform's OIDC authentication URL.")
@click.option("--auth-token-url", required=True, help="The platform's OAuth2 access token URL.")
@click.option("--jwks-url", required=True, help="The platform's public keyset (JWKS) URL.")
@click.option(
    "--org",
    "organisation",
    default=None,
    help="The organisation (council) these deployments belong to.",
)
@click.option(
    "--auth-audience", default=None, help="Audience for token requests, if not the token URL."
)
@click.option(
    "--frame-origin",
    "frame_origins",
    multiple=True,
    help="An extra origin allowed to frame the tool (Canvas: your instance).",
)
def add_platform_command(
    issuer: str,
    client_id: str,
    deployment_ids: tuple[str, ...],
    auth_login_url: str,
    auth_token_url: str,
    jwks_url: str,
    organisation: str | None,
    auth_audience: str | None,
    frame_origins: tuple[str, ...],
) -> None:
    """Register a platform, or update the one with the same issuer and client ID."""
    try:
        saved = add_platform(
            db.session(),
            issuer=issuer,
            client_id=client_id,
            deployment_ids=list(deployment_ids),
            auth_login_url=auth_login_url,
            auth_token_url=auth_token_url,
            jwks_url=jwks_url,
            organisation_name=organisation,
            auth_audience=auth_audience,
            frame_origins=list(frame_origins),
        )
    except PlatformError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    _forget_registrations()
    reg = saved.registration
    verb = "Registered" if saved.created else "Updated"
    click.echo(f"{verb} platform {reg.issuer} (client id {reg.client_id}).")
    for dep in saved.added_deployments:
        click.echo(f"  added deployment {dep}")


@lti_cli.command("list-platforms")
def list_platforms_command() -> None:
    """Show every registered platform and its deployments."""
    platforms = list_platforms(db.session())
    if not platforms:
        click.echo("No platforms registered. Add one with `flask --app app lti add-platform`.")
        return
    for reg in platforms:
        click.echo(f"{reg.issuer}  client id: {reg.client_id}")
        click.echo(f"  auth login URL: {reg.auth_login_url}")
        click.echo(f"  auth token URL: {reg.auth_token_url}")
        click.echo(f"  JWKS URL:       {reg.jwks_url}")
        if reg.frame_origins:
            click.echo(f"  frame origins:  {reg.frame_origins}")
        for dep in reg.deployments:
            click.echo(f"  deployment {dep.deployment_id}  -> {dep.organisation.name}")


@lti_cli.command("rotate-key")
def rotate_key_command() -> None:
    """Make a new signing key. The old one stays published until retired."""
    key = key_service.create_key(db.session(), utcnow())
    db.session.commit()
    click.echo(f"New signing key {key.kid}. Earlier keys stay in the JWKS until retired.")


@lti_cli.command("ensure-key")
def ensure_key_command() -> None:
    """Make the first signing key if there is none (used by the set-up)."""
    key, created = key_service.ensure_key(db.session(), utcnow())
    db.session.commit()
    click.echo(f"{'Created' if created else 'Using'} signing key {key.kid}.")


@lti_cli.command("retire-key")
@click.argument("kid")
def retire_key_command(kid: str) -> None:
    """Stop publishing an old key (once no platform can still be verifying with it)."""
    try:
        key = key_service.retire_key(db.session(), kid, utcnow())
    except key_service.KeyError_ as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Retired key {key.kid}; it is no longer published.")


@lti_cli.command("list-keys")
def list_keys_command() -> None:
    """Show the tool's keys: which signs, which are published, which are retired."""
    for key in key_service.list_keys(db.session()):
        state = "signing" if key.active else ("retired" if key.retired_at else "published")
        click.echo(f"{key.kid}  {state:9}  created {key.created_at:%Y-%m-%d %H:%M} UTC")


@lti_cli.command("map-role")
@click.option("--org", "organisation", required=True, help="The organisation's name.")
@click.option("--lti-role", required=True, help="The LTI role URI as the LMS sends it.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role] + ["default"]),
    required=True,
    help="The tool role it gives; 'default' removes the override.",
)
def map_role_command(organisation: str, lti_role: str, role: str) -> None:
    """Read an LTI role differently for one organisation (e.g. a Totara team leader role)."""
    try:
        map_role(db.session(), organisation, lti_role, None if role == "default" else Role(role))
    except PlatformError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    _forget_registrations()
    click.echo(f"{organisation}: {lti_role} -> {role}")


def _forget_registrations() -> None:
    """This process sees the change at once; other processes within a minute."""
    registry = current_app.extensions.get("cpm_registry")
    if registry is not None:
        registry.clear()


def register_cli(app: Flask) -> None:
    app.cli.add_command(lti_cli)
