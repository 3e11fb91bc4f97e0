"""The frozen result of a valid launch: everything past lti/ sees only this."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.models import Role


@dataclass(frozen=True)
class LaunchContext:
    organisation_id: int
    registration_id: int
    deployment_pk: int
    issuer: str
    subject: str
    name: str
    given_name: str | None
    family_name: str | None
    email: str | None
    role: Role
    lti_roles: tuple[str, ...]
    message_type: str
    resource_link_id: str
    resource_link_title: str | None = None
    context_id: str | None = None
    context_title: str | None = None
    context_label: str | None = None
    ags_endpoint: dict[str, Any] | None = None
    nrps_url: str | None = None
    return_url: str | None = None
    document_target: str | None = None
    person_sourcedid: str | None = None
    # From the LMS's custom parameter elected_member=true|false; None when not sent.
    elected_member: bool | None = None
    # From the role_scope_mentor claim: whom a Mentor mentors (LMS user ids).
    mentees: tuple[str, ...] = ()
    custom: dict[str, str] = field(default_factory=dict)
