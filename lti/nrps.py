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
from lti.roles import course_learner


def memberships_to_sync(session: Session, organisation_id: int) -> list[tuple[int, str, int, str]]:
    """(registration id, issuer, course (lms_context) id, membership URL) of every course the
    tool was launched in."""
    rows = session.execute(
        select(PlatformRegistration.id, PlatformRegistration.issuer, LmsContext.id, Launch.nrps_url)
        .join(Deployment, Deployment.id == Launch.deployment_id)
        .join(PlatformRegistration, PlatformRegistration.id == Deployment.registration_id)
        .join(LmsContext, LmsContext.id == Launch.lms_context_id)
        .where(Launch.organisation_id == organisation_id, Launch.nrps_url.isnot(None))
        .distinct()
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows if r[3]]


def fetch_members(session: Session, registration_id: int, url: str) -> list[dict[str, Any]]:
    """The course's members as the platform sends them, each with "learner": whether they
    hold a course Learner role (so that the rest of the app need not read LTI roles)."""
    registration = registration_for(session, registration_id)
    connector = _Connector(registration, _TimeoutSession())
    service = NamesRolesProvisioningService(connector, {"context_memberships_url": url})
    try:
        # get_members follows the platform's rel="next" pages.
        members = with_fresh_token(connector, lambda: [dict(m) for m in service.get_members()])
    except (LtiServiceException, LtiException, requests.RequestException) as exc:
        raise SendFailed(_describe(exc)) from exc
    out = []
    for member in members:
        raw = member.get("roles")
        roles = [r[:500] for r in raw if isinstance(r, str)] if isinstance(raw, list) else []
        out.append({**member, "roles": roles[:20], "learner": course_learner(roles)})
    return out
