"""Course membership from the LMS (LTI Names and Role Provisioning Services 2.0).

The tool asks for pages of PAGE_SIZE (`limit`), follows `Link: rel="next"` to the end within
lti/paging.py's bounds, and stops at MAX_MEMBERS. Where its launches gave resource link ids
it asks per link (`rlid`): the LMS then lists only the members who can see that activity
(group or access restrictions), not the whole course. A course where the module was placed
more than once gets the union of its links' members, since seeing any one of them puts the
module in front of that person. A link the LMS no longer knows (deleted: 400, 403 or 404)
is passed over; if every link is refused the course is left as it was."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from pylti1p3.exception import LtiException, LtiServiceException
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Deployment, Launch, LmsContext, PlatformRegistration
from lti import paging
from lti.ags import (
    TIMEOUT_SECONDS,
    SendFailed,
    _Connector,
    _describe,
    _response_of,
    _TimeoutSession,
    registration_for,
    service_origins,
    with_fresh_token,
)
from lti.roles import course_learner

SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIP_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
RESOURCE_LINK_LAUNCH = "LtiResourceLinkRequest"
PAGE_SIZE = 100
MAX_MEMBERS = 50_000
GONE = frozenset({400, 403, 404})


@dataclass(frozen=True)
class CourseToSync:
    registration_id: int
    issuer: str
    course_id: int  # lms_context.id
    url: str  # the context_memberships_url of the latest launch
    resource_link_ids: tuple[str, ...] = ()


@dataclass
class Members:
    members: list[dict[str, Any]]
    links_gone: list[str] = field(default_factory=list)


def memberships_to_sync(session: Session, organisation_id: int) -> list[CourseToSync]:
    """Every course the tool was launched in with NRPS on: its latest membership URL and the
    resource links (the module's placements) it was launched from."""
    rows = session.execute(
        select(
            PlatformRegistration.id,
            PlatformRegistration.issuer,
            LmsContext.id,
            Launch.nrps_url,
            Launch.message_type,
            Launch.resource_link_id,
        )
        .join(Deployment, Deployment.id == Launch.deployment_id)
        .join(PlatformRegistration, PlatformRegistration.id == Deployment.registration_id)
        .join(LmsContext, LmsContext.id == Launch.lms_context_id)
        .where(Launch.organisation_id == organisation_id, Launch.nrps_url.isnot(None))
        .order_by(Launch.id)
    ).all()
    courses: dict[tuple[int, int], tuple[str, str | None, dict[str, None]]] = {}
    for reg_id, issuer, course_id, url, message_type, link_id in rows:
        _, _, links = courses.get((reg_id, course_id), ("", "", {}))
        if message_type == RESOURCE_LINK_LAUNCH and link_id:
            links[link_id] = None
        courses[(reg_id, course_id)] = (issuer, url, links)  # the latest URL wins
    return [
        CourseToSync(reg_id, issuer, course_id, url, tuple(sorted(links)))
        for (reg_id, course_id), (issuer, url, links) in sorted(courses.items())
        if url is not None
    ]


def fetch_members(
    session: Session, registration_id: int, url: str, resource_link_ids: tuple[str, ...] = ()
) -> Members:
    """The members as the platform sends them (for the links given, their union), each with
    "learner": whether they hold a course Learner role (so that the rest of the app need not
    read LTI roles)."""
    registration = registration_for(session, registration_id)
    origins = service_origins(session, registration_id)
    connector = _Connector(registration, _TimeoutSession())
    by_user: dict[str, dict[str, Any]] = {}
    gone: list[str] = []
    for rlid in resource_link_ids or (None,):
        query = {"limit": str(PAGE_SIZE), **({"rlid": rlid} if rlid else {})}
        first = url + ("&" if "?" in url else "?") + urlencode(query)
        try:
            members = with_fresh_token(connector, _reader(connector, first, origins))
        except (LtiServiceException, LtiException, requests.RequestException) as exc:
            response = _response_of(exc)
            if rlid and response is not None and response.status_code in GONE:
                gone.append(rlid)
                continue
            raise SendFailed(_describe(exc)) from exc
        for member in members:
            user_id = member.get("user_id")
            if isinstance(user_id, str) and user_id and user_id not in by_user:
                by_user[user_id] = member
        if len(by_user) > MAX_MEMBERS:
            raise paging.PagingStopped(f"more than {MAX_MEMBERS} members: stopped")
    if resource_link_ids and len(gone) == len(resource_link_ids):
        raise SendFailed("the LMS no longer knows any of the module's links in this course")
    out = []
    for member in by_user.values():
        raw = member.get("roles")
        roles = [r[:500] for r in raw if isinstance(r, str)] if isinstance(raw, list) else []
        out.append({**member, "roles": roles[:20], "learner": course_learner(roles)})
    return Members(out, gone)


def _reader(
    connector: _Connector, url: str, origins: frozenset[paging.Origin]
) -> Callable[[], list[dict[str, Any]]]:
    return lambda: _read_all(connector, url, origins)


def _read_all(
    connector: _Connector, url: str, origins: frozenset[paging.Origin]
) -> list[dict[str, Any]]:
    members: list[dict[str, Any]] = []
    for page in paging.pages(connector, [SCOPE], url, MEMBERSHIP_TYPE, origins, TIMEOUT_SECONDS):
        found = page.body.get("members") if isinstance(page.body, dict) else None
        if not isinstance(found, list):
            raise SendFailed("the LMS's membership page has no list of members")
        members.extend(m for m in found if isinstance(m, dict))
        if len(members) > MAX_MEMBERS:
            raise paging.PagingStopped(f"more than {MAX_MEMBERS} members: stopped")
    return members
