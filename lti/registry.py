"""Registered platforms, their deployments and organisations' role overrides, per process.

Every launch needs them and they change rarely (an administrator runs `lti add-platform`),
so each process keeps what it read for a short while instead of asking the database on
every request. A new registration is seen at once (misses are never cached); a changed
one within REFRESH_SECONDS in other processes, and at once in the process that changed it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.db import DIALECT_INSERT, dialect_name, table
from app.models import Deployment, PlatformRegistration, Role, RoleMapping

REFRESH_SECONDS = 60.0
MAX_DEPLOYMENT_ID = 255
DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def _unsafe(c: str) -> bool:
    n = ord(c)
    return c.isspace() or n < 32 or 0x7F <= n <= 0x9F or 0xD800 <= n <= 0xDFFF


def url_origin(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL, the port filled in; None for anything else."""
    # What urlsplit quietly drops or reads unlike an HTTP client (userinfo, backslashes,
    # whitespace) is refused, so the origin checked is the host that would be called.
    if "@" in url or "\\" in url or any(_unsafe(c) for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or an unbalanced IPv6 bracket
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


@dataclass(frozen=True)
class DeploymentInfo:
    id: int
    deployment_id: str
    organisation_id: int


@dataclass(frozen=True)
class RegistrationInfo:
    id: int
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    auth_audience: str | None
    jwks_url: str
    # Where the platform's AGS and NRPS URLs may point: the tool calls them with its token.
    service_origins: frozenset[Origin] = frozenset()
    deployments: dict[str, DeploymentInfo] = field(default_factory=dict)
    # Dynamic registration without a deployment id: new deployments are this organisation's.
    organisation_id: int | None = None


class Registry:
    def __init__(self, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.refresh = refresh_seconds
        self._issuers: dict[str, tuple[float, list[RegistrationInfo]]] = {}
        self._roles: dict[int, tuple[float, dict[str, Role]]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._issuers.clear()
            self._roles.clear()

    def registrations_for(self, session: Session, issuer: str) -> list[RegistrationInfo]:
        cached = self._issuers.get(issuer)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        rows = session.scalars(
            select(PlatformRegistration).where(PlatformRegistration.issuer == issuer)
        ).all()
        deployments = (
            session.scalars(
                select(Deployment).where(Deployment.registration_id.in_([r.id for r in rows]))
            ).all()
            if rows
            else []
        )
        infos = [
            RegistrationInfo(
                id=r.id,
                issuer=r.issuer,
                client_id=r.client_id,
                auth_login_url=r.auth_login_url,
                auth_token_url=r.auth_token_url,
                auth_audience=r.auth_audience,
                jwks_url=r.jwks_url,
                service_origins=frozenset(
                    o
                    for url in (
                        r.auth_login_url,
                        r.auth_token_url,
                        r.jwks_url,
                        *r.service_origins.split(),
                    )
                    if (o := url_origin(url)) is not None
                ),
                deployments={
                    d.deployment_id: DeploymentInfo(d.id, d.deployment_id, d.organisation_id)
                    for d in deployments
                    if d.registration_id == r.id
                },
                organisation_id=r.organisation_id,
            )
            for r in rows
        ]
        if infos:
            with self._lock:
                self._issuers[issuer] = (time.monotonic() + self.refresh, infos)
        return infos

    def registration(
        self, session: Session, issuer: str, client_id: str | None
    ) -> RegistrationInfo | None:
        regs = self.registrations_for(session, issuer)
        if client_id is None:
            # client_id is optional in a login request; it is unambiguous with one registration.
            return regs[0] if len(regs) == 1 else None
        return next((r for r in regs if r.client_id == client_id), None)

    def deployment(
        self, session: Session, reg: RegistrationInfo, deployment_id: str, *, create: bool = False
    ) -> DeploymentInfo | None:
        """The deployment, or None if unknown. A registration that adopts new deployments
        (organisation_id set) knows every id: `create` (a launch whose id_token was verified)
        adds the row in the caller's transaction; without it (a login, not yet signed by the
        platform) nothing is written and the answer has no row id (0)."""
        found = reg.deployments.get(deployment_id)
        if found is None:
            # Perhaps added since we looked: read the issuer again before saying no.
            with self._lock:
                self._issuers.pop(reg.issuer, None)
            fresh = self.registration(session, reg.issuer, reg.client_id)
            found = fresh.deployments.get(deployment_id) if fresh else None
            if found is None and fresh is not None and fresh.organisation_id is not None:
                found = self._adopt(session, fresh, deployment_id, create)
        return found

    def _adopt(
        self, session: Session, reg: RegistrationInfo, deployment_id: str, create: bool
    ) -> DeploymentInfo | None:
        assert reg.organisation_id is not None
        if len(deployment_id) > MAX_DEPLOYMENT_ID:
            return None
        if not create:
            return DeploymentInfo(0, deployment_id, reg.organisation_id)
        deployments = table(Deployment)
        # Two first launches from the new deployment at once: one inserts, both read it.
        session.execute(
            DIALECT_INSERT[dialect_name(session)](deployments)
            .values(
                registration_id=reg.id,
                deployment_id=deployment_id,
                organisation_id=reg.organisation_id,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(
                index_elements=[deployments.c.registration_id, deployments.c.deployment_id]
            )
        )
        row = session.scalars(
            select(Deployment).where(
                Deployment.registration_id == reg.id, Deployment.deployment_id == deployment_id
            )
        ).one()
        with self._lock:
            self._issuers.pop(reg.issuer, None)
        return DeploymentInfo(row.id, row.deployment_id, row.organisation_id)

    def role_overrides(self, session: Session, organisation_id: int) -> dict[str, Role]:
        cached = self._roles.get(organisation_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        overrides = {
            m.lti_role: m.role
            for m in session.scalars(
                select(RoleMapping).where(RoleMapping.organisation_id == organisation_id)
            )
        }
        with self._lock:
            self._roles[organisation_id] = (time.monotonic() + self.refresh, overrides)
        return overrides
