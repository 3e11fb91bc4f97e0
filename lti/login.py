"""OIDC third-party initiated login: a signed state and its nonce, the browser sent back.

The login writes nothing: its state is signed with SECRET_KEY and carries a random part,
the registration and the time it was issued, so any app process can check it at launch, and
it expires with LOGIN_LIFETIME. The nonce is a keyed digest of the state: only the tool can
work it out, and nobody can read it from the state (a page holding the state must not give
away the nonce: see prove_stored_login). Single use is the launch's: it records the login once
(record_login_used), and a second launch with the same state or nonce finds it recorded.
The state cookie binds the login to the browser that started it. A platform that offers
its own storage (LTI client-side postMessages, `lti_storage_target`) also keeps state and
nonce in the browser, in its page: the launch reads them back from there when the state
cookie is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, Signer
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.db import DIALECT_INSERT, table
from app.models import LoginState
from lti.errors import (
    BadState,
    MalformedRequest,
    UnknownClient,
    UnknownDeployment,
    UnknownIssuer,
)
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

_STATE_SALT = "cpm-lti-state"
_NONCE_SALT = "cpm-lti-nonce"


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


@dataclass(frozen=True)
class Login:
    """What a launch reads back from its login's signed state."""

    nonce: str  # worked out from the state (state_nonce), never carried in it
    registration_id: int
    issued_at: datetime
    storage_target: str | None

    @property
    def expires_at(self) -> datetime:
        return self.issued_at + LOGIN_LIFETIME


def _signer(secret: str, salt: str = _STATE_SALT) -> Signer:
    return Signer(secret, salt=salt, digest_method=hashlib.sha256)


def issue_state(
    secret: str, registration_id: int, issued_at: datetime, storage_target: str | None
) -> str:
    """The state: a random part, the registration, the issue time (whole seconds) and the
    storage target, signed. None of them holds a ".": the random part is URL-safe base64,
    the target a plain name."""
    parts = [secrets.token_urlsafe(16), str(registration_id), str(int(issued_at.timestamp()))]
    if storage_target:
        parts.append(storage_target)
    return _signer(secret).sign(".".join(parts)).decode()


def state_nonce(secret: str, state: str) -> str:
    """The nonce of a state: its HMAC under another salt, so unique to it and unguessable."""
    return _signer(secret, _NONCE_SALT).get_signature(state).decode()


def read_state(secret: str, state: str) -> Login:
    """The login a state was issued for; BadState if the tool did not sign it. Its expiry is
    the caller's to check (a used one is refused as replayed, not as expired)."""
    try:
        parts = _signer(secret).unsign(state).decode().split(".")
    except (BadSignature, UnicodeError):
        raise BadState("unknown state") from None
    if len(parts) not in (3, 4) or not parts[1].isdigit() or not parts[2].isdigit():
        raise BadState("unknown state")  # signed by us, so never: a changed format
    return Login(
        nonce=state_nonce(secret, state),
        registration_id=int(parts[1]),
        issued_at=datetime.fromtimestamp(int(parts[2]), UTC),
        storage_target=parts[3] if len(parts) == 4 else None,
    )


def state_digest(state: str) -> str:
    """How a used login's state is kept and looked up (lti_login_state.state): the state is
    longer than the column, and its digest says as much about it."""
    return hashlib.sha256(state.encode()).hexdigest()


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
    secret: str,
) -> LoginRedirect:
    """Check the login request against the registrations (read, never written) and issue a
    signed state for it."""
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

    state = issue_state(secret, reg.id, now, storage.target if storage else None)
    nonce = state_nonce(secret, state)
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


@cache
def _record_used(dialect: str) -> Any:
    states = table(LoginState)
    insert = DIALECT_INSERT[dialect](states)
    # Both keys are unique (the state's digest, the nonce): either already there is a replay.
    return insert.on_conflict_do_nothing().returning(states.c.state)


def record_login_used(session: Session, state: str, login: Login, now: datetime) -> bool:
    """Record that a launch used this login: True the first time, False ever after (the
    caller refuses the launch as replayed). Two launches racing with one state: the second
    waits on the first's row and then finds it. The caller rolls back on any later error,
    so a refused launch leaves the login unused."""
    conn = session.connection()
    row = conn.execute(
        _record_used(conn.dialect.name),
        {
            "state": state_digest(state),
            "nonce": login.nonce,
            "registration_id": login.registration_id,
            "created_at": login.issued_at,
            "expires_at": login.expires_at,
            "used_at": now,
            "storage_target": login.storage_target,
        },
    ).first()
    return row is not None


def login_used(session: Session, state: str) -> bool:
    found = session.execute(
        select(LoginState.state).where(LoginState.state == state_digest(state))
    ).first()
    return found is not None


def prove_stored_login(session: Session, state: str, nonce: str, now: datetime) -> bool:
    """Whether a launch page read this login's state and nonce back from platform storage:
    true once, for a login that used platform storage, within STORAGE_PROOF_LIFETIME of its
    launch. One UPDATE checks and records it, so two pages racing get one winner."""
    row = session.execute(
        select(LoginState.nonce).where(
            LoginState.state == state_digest(state),
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
        .where(LoginState.state == state_digest(state), LoginState.storage_proven_at.is_(None))
        .values(storage_proven_at=now)
    )
    return used.rowcount == 1  # type: ignore[attr-defined]


def stored_login_proven(session: Session, state: str) -> bool:
    """Whether a launch page proved this login from platform storage (prove_stored_login)."""
    found = session.execute(
        select(LoginState.state).where(
            LoginState.state == state_digest(state), LoginState.storage_proven_at.isnot(None)
        )
    ).first()
    return found is not None


def purge_login_states(session: Session, now: datetime) -> int:
    """Forget used logins a day past their expiry: a replay of one is refused as expired."""
    result = session.execute(
        delete(LoginState).where(LoginState.expires_at < now - timedelta(days=1))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
