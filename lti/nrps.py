"""Course membership from the LMS (LTI Names and Role Provisioning Services), all pages."""

from __future__ import annotations

from typing import Any

import requests
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.names_roles import NamesRolesProvisioningService
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Deployment, Launch, LmsContext, PlatformRegistration
from lti.ags import (
    SendFailed,
    _Connector,
    _describe,
    _TimeoutSession,
    registration_for,
    with_fresh_token,
)


def memberships_to_sync(session: Session, organisation_id: int) -> list[tuple[int, str, str]]:
    """(registration id, issuer, membership URL) of every course the tool was launched in."""
    rows = session.execute(
        select(PlatformRegistration.id, PlatformRegistration.issuer, Launch.nrps_url)
        .join(Deployment, Deployment.id == Launch.deployment_id)
        .join(PlatformRegistration, PlatformRegistration.id == Deployment.registration_id)
        .join(LmsContext, LmsContext.id == Launch.lms_context_id)
        .where(Launch.organisation_id == organisation_id, Launch.nrps_url.isnot(None))
        .distinct()
    ).all()
    return [(r[0], r[1], r[2]) for r in rows if r[2]]


def fetch_members(session: Session, registration_id: int, url: str) -> list[dict[str, Any]]:
    registration = registration_for(session, registration_id)
    connector = _Connector(registration, _TimeoutSession())
    service = NamesRolesProvisioningService(connector, {"context_memberships_url": url})
    try:
        # get_members follows the platform's rel="next" pages.
        return with_fresh_token(connector, lambda: [dict(m) for m in service.get_members()])
    except (LtiServiceException, LtiException, requests.RequestException) as exc:
        raise SendFailed(_describe(exc)) from exc
