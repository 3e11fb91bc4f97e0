"""pylti1p3's tool configuration, read from the database instead of a JSON file."""

from __future__ import annotations

from typing import Any

from pylti1p3.deployment import Deployment as LtiDeployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy.orm import Session

from app.services.keys import signing_key
from lti.registry import RegistrationInfo, Registry


class DbToolConf(ToolConfAbstract):
    """Registrations keyed by (issuer, client id): one issuer may register many clients."""

    def __init__(self, session: Session, registry: Registry) -> None:
        super().__init__()
        self.session = session
        self.registry = registry

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def to_registration(self, info: RegistrationInfo) -> Registration:
        reg = (
            Registration()
            .set_issuer(info.issuer)
            .set_client_id(info.client_id)
            .set_auth_login_url(info.auth_login_url)
            .set_auth_token_url(info.auth_token_url)
            .set_key_set_url(info.jwks_url)
        )
        if info.auth_audience:
            reg.set_auth_audience(info.auth_audience)
        key = signing_key(self.session)
        if key is not None:
            # Needed only to sign service requests (AGS, NRPS) and deep-linking responses.
            reg.set_tool_private_key(key.private_key_pem)
            reg.set_tool_public_key(key.public_key_pem)
        return reg

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        info = self.registry.registration(self.session, iss, None)
        return self.to_registration(info) if info else None  # type: ignore[return-value]

    def find_registration_by_params(
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration:
        info = self.registry.registration(self.session, iss, client_id)
        return self.to_registration(info) if info else None  # type: ignore[return-value]

    def find_deployment(self, iss: str, deployment_id: str) -> LtiDeployment | None:
        return self.find_deployment_by_params(iss, deployment_id, None)  # type: ignore[arg-type]

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> LtiDeployment | None:
        info = self.registry.registration(self.session, iss, client_id)
        if info is None or self.registry.deployment(self.session, info, deployment_id) is None:
            return None
        return LtiDeployment().set_deployment_id(deployment_id)
