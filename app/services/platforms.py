"""Registering LMS platforms and their deployments, as an LMS administrator would."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import Deployment, Organisation, PlatformRegistration, Role, RoleMapping


class PlatformError(Exception):
    """A registration that cannot be saved as given."""


DEFAULT_ORGANISATION = "Default organisation"


def origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _origins(label: str, items: list[str] | None) -> list[str]:
    found = []
    for item in items or []:
        o = origin(item)
        if o is None:
            raise PlatformError(f"{label} must be an http(s) URL, got {item!r}.")
        found.append(o)
    return found


def _check_url(label: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PlatformError(f"{label} must be an http(s) URL, got {url!r}.")
    return url


def get_or_create_organisation(session: Session, name: str) -> Organisation:
    name = name.strip()
    if not name:
        raise PlatformError("An organisation needs a name.")
    org = session.scalars(select(Organisation).where(Organisation.name == name)).first()
    if org is None:
        org = Organisation(name=name)
        session.add(org)
        session.flush()
    return org


@dataclass(frozen=True)
class SavedPlatform:
    registration: PlatformRegistration
    created: bool
    added_deployments: list[str]


def add_platform(
    session: Session,
    *,
    issuer: str,
    client_id: str,
    deployment_ids: list[str],
    auth_login_url: str,
    auth_token_url: str,
    jwks_url: str,
    organisation_name: str | None = None,
    auth_audience: str | None = None,
    frame_origins: list[str] | None = None,
    service_origins: list[str] | None = None,
    adopt_new_deployments: bool = False,
) -> SavedPlatform:
    """Create a registration, or update the one with the same issuer and client id.

    Deployment ids are added (never removed here): an LMS keeps old placements working.
    With adopt_new_deployments (dynamic registration with a platform that names its
    deployments later, as Canvas does), deployments first seen in a launch are the
    organisation's (lti/registry.py), and none need be given now.
    """
    if not issuer.strip() or not client_id.strip():
        raise PlatformError("Issuer and client id are required.")
    if not deployment_ids and not adopt_new_deployments:
        raise PlatformError("Give at least one --deployment-id.")
    for label, url in (
        ("Auth login URL", auth_login_url),
        ("Auth token URL", auth_token_url),
        ("JWKS URL", jwks_url),
    ):
        _check_url(label, url)
    extra = _origins("Frame origin", frame_origins)
    services = _origins("Service origin", service_origins)

    org = get_or_create_organisation(session, organisation_name or DEFAULT_ORGANISATION)
    reg = session.scalars(
        select(PlatformRegistration)
        .where(PlatformRegistration.issuer == issuer, PlatformRegistration.client_id == client_id)
        .options(selectinload(PlatformRegistration.deployments))
    ).first()
    created = reg is None
    if reg is None:
        reg = PlatformRegistration(issuer=issuer, client_id=client_id)
        session.add(reg)
    reg.auth_login_url = auth_login_url
    reg.auth_token_url = auth_token_url
    reg.jwks_url = jwks_url
    reg.auth_audience = auth_audience or None
    reg.frame_origins = " ".join(dict.fromkeys(extra))
    reg.service_origins = " ".join(dict.fromkeys(services))
    if adopt_new_deployments:
        reg.organisation_id = org.id
    session.flush()

    existing = {d.deployment_id: d for d in reg.deployments}
    added = []
    for dep_id in dict.fromkeys(d.strip() for d in deployment_ids):
        if not dep_id:
            raise PlatformError("A deployment id cannot be empty.")
        if dep_id in existing:
            if existing[dep_id].organisation_id != org.id:
                raise PlatformError(
                    f"Deployment {dep_id!r} already belongs to another organisation."
                )
            continue
        reg.deployments.append(Deployment(deployment_id=dep_id, organisation_id=org.id))
        added.append(dep_id)
    session.flush()
    return SavedPlatform(registration=reg, created=created, added_deployments=added)


def list_platforms(session: Session) -> list[PlatformRegistration]:
    return list(
        session.scalars(
            select(PlatformRegistration)
            .options(
                selectinload(PlatformRegistration.deployments).joinedload(Deployment.organisation)
            )
            .order_by(PlatformRegistration.issuer, PlatformRegistration.client_id)
        )
    )


def frame_ancestors(session: Session) -> list[str]:
    """Origins that may put the tool in a frame: every registered platform's."""
    origins: dict[str, None] = {}
    rows = session.execute(
        select(
            PlatformRegistration.issuer,
            PlatformRegistration.auth_login_url,
            PlatformRegistration.frame_origins,
        )
    )
    for issuer, login_url, extra in rows:
        for url in (issuer, login_url, *extra.split()):
            o = origin(url)
            if o:
                origins[o] = None
    return sorted(origins)


def map_role(session: Session, organisation_name: str, lti_role: str, role: Role | None) -> None:
    """Set (or with None, remove) an organisation's own reading of an LTI role."""
    org = session.scalars(
        select(Organisation).where(Organisation.name == organisation_name)
    ).first()
    if org is None:
        raise PlatformError(f"No organisation called {organisation_name!r}.")
    lti_role = lti_role.strip()
    if not lti_role:
        raise PlatformError("Give the LTI role URI to map.")
    row = session.scalars(
        select(RoleMapping).where(
            RoleMapping.organisation_id == org.id, RoleMapping.lti_role == lti_role
        )
    ).first()
    if role is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(RoleMapping(organisation_id=org.id, lti_role=lti_role, role=role))
    else:
        row.role = role
