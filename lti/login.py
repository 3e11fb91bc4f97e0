"""OIDC third-party initiated login: remember a fresh state and nonce, send the browser back.

pylti1p3 would keep the state in a cookie and the nonce in a cache; both live in the
database here, so the launch may reach any app process. A platform that offers its own
storage (LTI client-side postMessages, `lti_storage_target`) also keeps them in the
browser, in its page: the launch reads them back from there when the state cookie is refused.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app.db import table
from app.models import LoginState
from lti.errors import MalformedRequest, UnknownClient, UnknownDeployment, UnknownIssuer
from lti.registry import DEFAULT_PORTS, Registry, url_origin

LOGIN_LIFETIME = timedelta(minutes=10)
STATE_COOKIE_PREFIX = "lti_state_"
# How long after its launch a login's state and nonce may be proven from platform storage:
# the launch page reads them back at once, so a few seconds would do; two minutes allow
# for a slow platform or a busy machine.
STORAGE_PROOF_LIFETIME = timedelta(seconds=120)
# "_parent", or the name of a frame in the parent page (Canvas: "post_message_forwarding").
# Short and plain: it goes into a page and is compared with window names.
_STORAGE_TARGET = re.compile(r"_parent|[A-Za-z][A-Za-z0-9_-]{0,63}")


# Built once: constructing a statement per request costs more CPU than running it.
_INSERT_STATE = insert(table(LoginState))


@dataclass(frozen=True)
class PlatformStorage:
    """Where the platform keeps the tool's data in the browser: a window, and the origin
    (the platform's OIDC auth URL's) that alone may receive and answer the messages."""

    target: str
    origin: str


@dataclass(frozen=True)
class LoginRedirect:
    url: str
    state: str
    nonce: str
    max_age: int
    storage: PlatformStorage | None = None


def origin_text(url: str) -> str | None:
    """An http(s) URL's origin as a browser writes it (event.origin), or None."""
    found = url_origin(url)
    if found is None:
        return None
    scheme, host, port = found
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + ("" if DEFAULT_PORTS[scheme] == port else f":{port}")


def storage_keys(state: str) -> tuple[str, str]:
    """The platform-storage keys of one login's state and nonce: unique to the login, so
    two logins in one browser (two tabs) never read each other's."""
    return f"cpm_state_{state}", f"cpm_nonce_{state}"


def _storage_target(params: Mapping[str, str], iss: str) -> str | None:
    target = params.get("lti_storage_target")
    if target is None or target == "":
        return None
    if not _STORAGE_TARGET.fullmatch(target):
        raise MalformedRequest("lti_storage_target is not _parent or a plain frame name", iss=iss)
    return target


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
    target = _storage_target(params, iss)
    origin = origin_text(reg.auth_login_url) if target else None
    storage = PlatformStorage(target, origin) if target and origin else None

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
            "storage_target": storage.target if storage else None,
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
        nonce=nonce,
        max_age=int(LOGIN_LIFETIME.total_seconds()),
        storage=storage,
    )


def prove_stored_login(session: Session, state: str, nonce: str, now: datetime) -> bool:
    """Whether a launch page read this login's state and nonce back from platform storage:
    true once, for a login that used platform storage, within STORAGE_PROOF_LIFETIME of its
    launch. One UPDATE checks and records it, so two pages racing get one winner."""
    row = session.execute(
        select(LoginState.nonce).where(
            LoginState.state == state,
            LoginState.storage_target.isnot(None),
            LoginState.used_at.isnot(None),
            LoginState.used_at >= now - STORAGE_PROOF_LIFETIME,
            LoginState.storage_proven_at.is_(None),
        )
    ).first()
    # Constant-time, as for any secret compared (the state was matched by the index).
    if row is None or not hmac.compare_digest(row.nonce.encode(), nonce.encode()):
        return False
    used = session.execute(
        update(LoginState)
        .where(LoginState.state == state, LoginState.storage_proven_at.is_(None))
        .values(storage_proven_at=now)
    )
    return used.rowcount == 1  # type: ignore[attr-defined]


def stored_login_proven(session: Session, state: str) -> bool:
    """Whether a launch page proved this login from platform storage (prove_stored_login)."""
    found = session.execute(
        select(LoginState.state).where(
            LoginState.state == state, LoginState.storage_proven_at.isnot(None)
        )
    ).first()
    return found is not None


def purge_login_states(session: Session, now: datetime) -> int:
    """Forget logins a day past their expiry; a replay of one is refused as unknown anyway."""
    result = session.execute(
        delete(LoginState).where(LoginState.expires_at < now - timedelta(days=1))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
