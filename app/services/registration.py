"""LTI Dynamic Registration 1.0, the tool's side: invites, reading the platform's OpenID
configuration, the registration request the tool sends, and saving what the platform answers.

No Flask here. The HTTP calls to the LMS (`fetch_configuration`, `send_registration`) are
made only from a background thread (lti/dynreg.py), never inside a person's request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import (
    Deployment,
    Organisation,
    PlatformRegistration,
    RegistrationAttempt,
    RegistrationInvite,
)
from app.services import audit
from app.services.platforms import PlatformError, add_platform, origin

LTI_TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
LTI_PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
MAX_RESPONSE_BYTES = 64 * 1024
TIMEOUT_SECONDS = 10
MAX_URL = 1000
MAX_ISSUER = 500
MAX_TEXT = 200
MAX_TOKEN = 8192
MAX_ERROR = 1000
MAX_HOURS = 24 * 7
REQUIRED_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "jwks_uri",
    "registration_endpoint",
)


class RegistrationRefused(Exception):
    """Why a registration cannot go on; `reason` picks the page shown (lti/dynreg.py)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# -- invites ----------------------------------------------------------------------------------
def create_invite(
    session: Session,
    org: Organisation,
    hours: int,
    created_by: str,
    now: datetime,
    actor_person_id: int | None = None,
) -> tuple[RegistrationInvite, str]:
    """A new invite and its token (returned once: only its hash is stored), audited."""
    if not 1 <= hours <= MAX_HOURS:
        raise PlatformError(f"A registration URL lasts from 1 to {MAX_HOURS} hours.")
    token = secrets.token_urlsafe(32)
    invite = RegistrationInvite(
        organisation_id=org.id,
        token_hash=hash_secret(token),
        created_at=now,
        expires_at=now + timedelta(hours=hours),
        created_by=created_by[:MAX_TEXT],
    )
    session.add(invite)
    session.flush()
    audit.record(
        session,
        org.id,
        "config_change",
        now,
        actor_person_id=actor_person_id,
        actor=None if actor_person_id else created_by[:MAX_TEXT],
        details={
            "change": "lms_registration_url_created",
            "invite_id": invite.id,
            "expires_at": invite.expires_at.isoformat(),
        },
    )
    return invite, token


def open_invite(session: Session, token: str, now: datetime) -> RegistrationInvite:
    """The invite this token names, if it can still be used (it expires at `expires_at`)."""
    invite = (
        session.scalars(
            select(RegistrationInvite).where(RegistrationInvite.token_hash == hash_secret(token))
        ).first()
        if 0 < len(token) <= 100
        else None
    )
    if invite is None:
        raise RegistrationRefused("unknown_invite")
    if invite.used_at is not None:
        raise RegistrationRefused("used_invite")
    if now >= invite.expires_at:
        raise RegistrationRefused("expired_invite")
    return invite


def claim_invite(session: Session, invite_id: int, now: datetime) -> bool:
    """Use the invite up, if nobody has: one statement, so two racing claims cannot both win."""
    result = session.execute(
        update(RegistrationInvite)
        .where(
            RegistrationInvite.id == invite_id,
            RegistrationInvite.used_at.is_(None),
            RegistrationInvite.expires_at > now,
        )
        .values(used_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def release_invite(session: Session, invite_id: int) -> None:
    """Give an invite back when the platform refused: nothing was registered with it."""
    session.execute(
        update(RegistrationInvite)
        .where(RegistrationInvite.id == invite_id, RegistrationInvite.registration_id.is_(None))
        .values(used_at=None)
    )


# -- attempts ---------------------------------------------------------------------------------
def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"cpm-registration-token\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def check_configuration_url(url: str) -> str:
    parts = urlsplit(url)
    if (
        len(url) > MAX_URL
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
    ):
        raise RegistrationRefused("bad_request", "The openid_configuration is not an http(s) URL.")
    return url


def start_attempt(
    session: Session,
    invite: RegistrationInvite,
    configuration_url: str,
    registration_token: str,
    secret_key: str,
    now: datetime,
) -> tuple[RegistrationAttempt, str]:
    """A new attempt and the secret of its page's URL (only its hash is stored)."""
    check_configuration_url(configuration_url)
    if not 0 < len(registration_token) <= MAX_TOKEN:
        raise RegistrationRefused("bad_request", "The registration_token is missing or too long.")
    page_key = secrets.token_urlsafe(32)
    attempt = RegistrationAttempt(
        invite_id=invite.id,
        page_key_hash=hash_secret(page_key),
        openid_configuration_url=configuration_url,
        registration_token_encrypted=_fernet(secret_key)
        .encrypt(registration_token.encode())
        .decode(),
        status="reading",
        created_at=now,
        updated_at=now,
    )
    session.add(attempt)
    session.flush()
    return attempt, page_key


def find_attempt(session: Session, page_key: str) -> RegistrationAttempt | None:
    if not 0 < len(page_key) <= 100:
        return None
    return session.scalars(
        select(RegistrationAttempt).where(
            RegistrationAttempt.page_key_hash == hash_secret(page_key)
        )
    ).first()


def registration_token(attempt: RegistrationAttempt, secret_key: str) -> str | None:
    if attempt.registration_token_encrypted is None:
        return None
    try:
        return _fernet(secret_key).decrypt(attempt.registration_token_encrypted.encode()).decode()
    except InvalidToken:  # SECRET_KEY changed since: the attempt cannot go on
        return None


def end_attempt(
    attempt: RegistrationAttempt, status: str, now: datetime, error: str | None = None
) -> None:
    """Registered or failed: the platform's token is of no more use, so it is deleted."""
    attempt.status = status
    attempt.error = error[:MAX_ERROR] if error else None
    attempt.registration_token_encrypted = None
    attempt.updated_at = now


def begin_registering(session: Session, attempt_id: int, now: datetime) -> bool:
    """ready -> registering, once: a second press of Register (or a replayed form) loses."""
    result = session.execute(
        update(RegistrationAttempt)
        .where(RegistrationAttempt.id == attempt_id, RegistrationAttempt.status == "ready")
        .values(status="registering", updated_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


# -- reading the platform's configuration -----------------------------------------------------
def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, the port filled in, to compare origins."""
    if origin(url) is None:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return parts.scheme, (parts.hostname or "").lower(), port


def _get_limited(response: requests.Response) -> bytes:
    body = b""
    for chunk in response.iter_content(8192):
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise RegistrationRefused("malformed_configuration", "The answer is too large.")
    return body


def fetch_configuration(url: str) -> bytes:
    """GET the OpenID configuration: 10 s, 64 KB, no redirects followed."""
    check_configuration_url(url)
    try:
        with requests.get(
            url,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise RegistrationRefused(
                    "unreachable_configuration", f"It answered with HTTP {response.status_code}."
                )
            return _get_limited(response)
    except requests.RequestException as exc:
        raise RegistrationRefused(
            "unreachable_configuration", f"It could not be reached ({type(exc).__name__})."
        ) from exc


def _text(value: Any, label: str, limit: int = MAX_TEXT, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise RegistrationRefused("malformed_configuration", f"{label} is missing or invalid.")
    return value


def _strings(value: Any, label: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 100:
        raise RegistrationRefused("malformed_configuration", f"{label} is not a list.")
    return [_text(v, label) for v in value]


def _http_url(value: Any, label: str) -> str:
    url = _text(value, label, MAX_URL)
    if _origin(url) is None or "@" in urlsplit(url).netloc:
        raise RegistrationRefused("malformed_configuration", f"{label} is not an http(s) URL.")
    return url


def parse_configuration(raw: bytes, configuration_url: str) -> dict[str, Any]:
    """The fields the tool uses, checked; the issuer must be on the configuration's origin."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise RegistrationRefused("malformed_configuration", "It is not JSON.") from exc
    if not isinstance(data, dict):
        raise RegistrationRefused("malformed_configuration", "It is not a JSON object.")
    issuer = _http_url(data.get("issuer"), "issuer")
    if len(issuer) > MAX_ISSUER:
        raise RegistrationRefused("malformed_configuration", "issuer is too long.")
    if _origin(issuer) != _origin(configuration_url):
        raise RegistrationRefused("other_origin")
    found: dict[str, Any] = {"issuer": issuer}
    for name in REQUIRED_ENDPOINTS:
        found[name] = _http_url(data.get(name), name)
    found["scopes_supported"] = (
        _strings(data["scopes_supported"], "scopes_supported")
        if "scopes_supported" in data
        else None
    )
    # The audience of the tool's token requests, when not the token endpoint (optional).
    server = data.get("authorization_server")
    found["authorization_server"] = None if server is None else _text(server, "audience", MAX_URL)
    platform = data.get(LTI_PLATFORM_CONFIGURATION)
    if not isinstance(platform, dict):
        raise RegistrationRefused("malformed_configuration", "The LTI platform claim is missing.")
    messages = platform.get("messages_supported") or []
    if not isinstance(messages, list):
        raise RegistrationRefused("malformed_configuration", "messages_supported is not a list.")
    found["product_family_code"] = _text(platform.get("product_family_code"), "product family")
    found["version"] = _text(platform.get("version"), "version", required=False)
    found["messages_supported"] = sorted(
        {
            m["type"]
            for m in messages[:100]
            if isinstance(m, dict) and isinstance(m.get("type"), str) and len(m["type"]) < 100
        }
    )
    return found


# -- the registration request and its answer --------------------------------------------------
@dataclass(frozen=True)
class ToolDescription:
    """What the tool registers: its URLs and the LTI details of its configuration."""

    base_url: str
    login_url: str
    launch_url: str
    jwks_url: str
    client_name: str
    description: str
    claims: tuple[str, ...]
    scopes: tuple[str, ...]
    custom_parameters: tuple[tuple[str, str], ...] = ()


def registration_request(tool: ToolDescription, platform: dict[str, Any]) -> dict[str, Any]:
    """The OpenID client registration the tool POSTs to the platform (the spec's section 3.1).

    Scopes are those the tool uses, less those the platform says it does not offer; deep
    linking is only offered to a platform that says it supports it.
    """
    supported = platform.get("scopes_supported")
    scopes = [s for s in tool.scopes if supported is None or s in supported]
    messages: list[dict[str, Any]] = [
        {"type": "LtiResourceLinkRequest", "target_link_uri": tool.launch_url}
    ]
    if "LtiDeepLinkingRequest" in platform.get("messages_supported", []):
        messages.append(
            {
                "type": "LtiDeepLinkingRequest",
                "target_link_uri": tool.launch_url,
                "label": tool.client_name,
            }
        )
    configuration: dict[str, Any] = {
        "domain": urlsplit(tool.base_url).netloc,
        "target_link_uri": tool.launch_url,
        "claims": list(tool.claims),
        "messages": messages,
        "description": tool.description,
    }
    if tool.custom_parameters:
        configuration["custom_parameters"] = dict(tool.custom_parameters)
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool.login_url,
        "redirect_uris": [tool.launch_url],
        "client_name": tool.client_name,
        "jwks_uri": tool.jwks_url,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        LTI_TOOL_CONFIGURATION: configuration,
    }


def send_registration(endpoint: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST the registration with the platform's token; its answer, or why it refused."""
    try:
        with requests.post(
            endpoint,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        ) as response:
            if response.status_code not in (200, 201):
                # The status only: the body is the platform's, and may hold anything.
                raise RegistrationRefused(
                    "platform_refused", f"The LMS answered with HTTP {response.status_code}."
                )
            raw = _get_limited(response)
    except requests.RequestException as exc:
        raise RegistrationRefused(
            "platform_refused", f"The LMS could not be reached ({type(exc).__name__})."
        ) from exc
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        raise RegistrationRefused("platform_refused", "The LMS's answer is not JSON.") from exc
    if not isinstance(answer, dict):
        raise RegistrationRefused("platform_refused", "The LMS's answer is not a JSON object.")
    return answer


@dataclass(frozen=True)
class Registered:
    client_id: str
    deployment_id: str | None


def parse_answer(answer: dict[str, Any]) -> Registered:
    client_id = answer.get("client_id")
    if not isinstance(client_id, str | int) or not 0 < len(str(client_id)) <= 255:
        raise RegistrationRefused("platform_refused", "The LMS's answer has no client_id.")
    tool_conf = answer.get(LTI_TOOL_CONFIGURATION)
    deployment = tool_conf.get("deployment_id") if isinstance(tool_conf, dict) else None
    if deployment is not None and (
        not isinstance(deployment, str | int) or not 0 < len(str(deployment)) <= 255
    ):
        raise RegistrationRefused("platform_refused", "The LMS's deployment_id is invalid.")
    return Registered(str(client_id), None if deployment is None else str(deployment))


def issuer_belongs_elsewhere(session: Session, issuer: str, organisation_id: int) -> bool:
    """Whether any registration of this issuer serves another organisation: one LMS is one
    council's, and a second council's invite must not take its launches."""
    regs = select(PlatformRegistration.id).where(PlatformRegistration.issuer == issuer)
    other_deployment = session.scalars(
        select(Deployment.id).where(
            Deployment.registration_id.in_(regs), Deployment.organisation_id != organisation_id
        )
    ).first()
    other_registration = session.scalars(
        select(PlatformRegistration.id).where(
            PlatformRegistration.issuer == issuer,
            PlatformRegistration.organisation_id.is_not(None),
            PlatformRegistration.organisation_id != organisation_id,
        )
    ).first()
    return other_deployment is not None or other_registration is not None


def save_registration(
    session: Session,
    invite: RegistrationInvite,
    platform: dict[str, Any],
    registered: Registered,
) -> PlatformRegistration:
    """Store the platform as `lti add-platform` would, for the invite's organisation."""
    org = session.get(Organisation, invite.organisation_id)
    assert org is not None
    if issuer_belongs_elsewhere(session, platform["issuer"], org.id):
        raise RegistrationRefused("issuer_elsewhere")
    issuer_origin = _origin(platform["issuer"])
    assert issuer_origin is not None
    scheme, _, _ = issuer_origin
    service_origin = f"{scheme}://{urlsplit(platform['issuer']).netloc}"
    try:
        saved = add_platform(
            session,
            issuer=platform["issuer"],
            client_id=registered.client_id,
            deployment_ids=[registered.deployment_id] if registered.deployment_id else [],
            auth_login_url=platform["authorization_endpoint"],
            auth_token_url=platform["token_endpoint"],
            jwks_url=platform["jwks_uri"],
            organisation_name=org.name,
            auth_audience=platform.get("authorization_server"),
            service_origins=[service_origin],
            adopt_new_deployments=registered.deployment_id is None,
        )
    except PlatformError as exc:
        raise RegistrationRefused("platform_refused", str(exc)) from exc
    invite.registration_id = saved.registration.id
    return saved.registration
