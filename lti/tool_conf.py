"""pylti1p3's tool configuration, read from the database instead of a JSON file."""

from __future__ import annotations

from typing import Any

from pylti1p3.deployment import Deployment as LtiDeployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Deployment, PlatformRegistration
from app.services.keys import signing_key


class DbToolConf(ToolConfAbstract):
    """Registrations keyed by (issuer, client id): one issuer may register many clients."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    # -- lookups returning our models ------------------------------------------------------
    def registrations_for(self, issuer: str) -> list[PlatformRegistration]:
        return list(
            self.session.scalars(
                select(PlatformRegistration).where(PlatformRegistration.issuer == issuer)
            )
        )

    def registration_row(self, issuer: str, client_id: str | None) -> PlatformRegistration | None:
        rows = self.registrations_for(issuer)
        if client_id is None:
            # client_id is optional in a login request; it is unambiguous with one registration.
            return rows[0] if len(rows) == 1 else None
        return next((r for r in rows if r.client_id == client_id), None)

    def deployment_row(self, registration_id: int, deployment_id: str) -> Deployment | None:
        return self.session.scalars(
            select(Deployment).where(
                Deployment.registration_id == registration_id,
                Deployment.deployment_id == deployment_id,
            )
        ).first()

    # -- pylti1p3's interface -------------------------------------------------------------------
    def to_registration(self, row: PlatformRegistration) -> Registration:
        reg = (
            Registration()
            .set_issuer(row.issuer)
            .set_client_id(row.client_id)
            .set_auth_login_url(row.auth_login_url)
            .set_auth_token_url(row.auth_token_url)
            .set_key_set_url(row.jwks_url)
        )
        if row.auth_audience:
            reg.set_auth_audience(row.auth_audience)
        key = signing_key(self.session)
        if key is not None:
            # Needed only to sign service requests (AGS, NRPS) and deep-linking responses.
            reg.set_tool_private_key(key.private_key_pem)
            reg.set_tool_public_key(key.public_key_pem)
        return reg

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        row = self.registration_row(iss, None)
        return self.to_registration(row) if row else None  # type: ignore[return-value]

    def find_registration_by_params(
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration:
        row = self.registration_row(iss, client_id)
        return self.to_registration(row) if row else None  # type: ignore[return-value]

    def find_deployment(self, iss: str, deployment_id: str) -> LtiDeployment | None:
        row = self.registration_row(iss, None)
        return self._deployment(row, deployment_id)

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> LtiDeployment | None:
        return self._deployment(self.registration_row(iss, client_id), deployment_id)

    def _deployment(
        self, row: PlatformRegistration | None, deployment_id: str
    ) -> LtiDeployment | None:
        if row is None or self.deployment_row(row.id, deployment_id) is None:
            return None
        return LtiDeployment().set_deployment_id(deployment_id)
