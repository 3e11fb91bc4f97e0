"""OIDC third-party initiated login: remember a fresh state and nonce, send the browser back.

pylti1p3 would keep the state in a cookie and the nonce in a cache; both live in the
database here, so the launch may reach any app process.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from app.db import table
from app.models import LoginState
from lti.errors import MalformedRequest, UnknownClient, UnknownDeployment, UnknownIssuer
from lti.registry import Registry

LOGIN_LIFETIME = timedelta(minutes=10)
STATE_COOKIE_PREFIX = "lti_state_"


# Built once: constructing a statement per request costs more CPU than running it.
_INSERT_STATE = insert(table(LoginState))


@dataclass(frozen=True)
class LoginRedirect:
    url: str
    state: str
    max_age: int


def start_login(
    session: Session,
    registry: Registry,
    params: Mapping[str, str],
    *,
    launch_url: str,
    now: datetime,
) -> LoginRedirect:
    iss = (params.get("iss") or "").strip()
    login_hint = params.get("login_hint") or ""
    if not iss:
        raise MalformedRequest("login request without iss")
    if not login_hint:
        raise MalformedRequest("login request without login_hint", iss=iss)
    client_id = params.get("client_id") or None
    reg = registry.registration(session, iss, client_id)
    if reg is None:
        if not registry.registrations_for(session, iss):
            raise UnknownIssuer(iss=iss, client_id=client_id)
        raise UnknownClient(iss=iss, client_id=client_id)
    deployment_id = params.get("lti_deployment_id")
    if deployment_id and registry.deployment(session, reg, deployment_id) is None:
        raise UnknownDeployment(iss=iss, client_id=reg.client_id, deployment_id=deployment_id)

    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    session.execute(
        _INSERT_STATE,
        {
            "state": state,
            "nonce": nonce,
            "registration_id": reg.id,
            "created_at": now,
            "expires_at": now + LOGIN_LIFETIME,
        },
    )
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": reg.client_id,
        "redirect_uri": launch_url,
        "state": state,
        "nonce": nonce,
        "login_hint": login_hint,
    }
    if params.get("lti_message_hint"):
        query["lti_message_hint"] = params["lti_message_hint"]
    sep = "&" if "?" in reg.auth_login_url else "?"
    return LoginRedirect(
        url=reg.auth_login_url + sep + urlencode(query),
        state=state,
        max_age=int(LOGIN_LIFETIME.total_seconds()),
    )


def purge_login_states(session: Session, now: datetime) -> int:
    """Forget logins a day past their expiry; a replay of one is refused as unknown anyway."""
    result = session.execute(
        delete(LoginState).where(LoginState.expires_at < now - timedelta(days=1))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
