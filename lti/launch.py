"""Validating a launch (the id_token form_post) and turning it into a LaunchContext.

pylti1p3 checks the token's shape and runs its message validators; registrations come from
our DbToolConf's registry. What it leaves to the tool is done here: the state must be one the
login signed (lti/login.py), in time, bound to the browser by its cookie, and its nonce is
used once (recorded here); `azp` is checked, exp/iat get a small leeway, the platform's keys
come from a per-process cache that re-fetches on an unknown kid, and every failure is a
LaunchError with its own code. Nothing is written unless the launch is valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from pylti1p3.cookie import CookieService
from pylti1p3.exception import LtiException
from pylti1p3.message_launch import MessageLaunch
from pylti1p3.message_validators.deep_link import DeepLinkMessageValidator
from pylti1p3.request import Request
from pylti1p3.session import SessionService
from sqlalchemy.orm import Session

from lti import errors
from lti.context import LaunchContext
from lti.deep_linking import DEEP_LINKING_REQUEST, DeepLinkContext, deep_link_context
from lti.jwks import JwksCache
from lti.login import (
    STATE_COOKIE_PREFIX,
    PlatformStorage,
    login_used,
    origin_text,
    read_state,
    record_login_used,
)
from lti.registry import RegistrationInfo, Registry, url_origin
from lti.roles import map_roles
from lti.tool_conf import DbToolConf

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
SUPPORTED_MESSAGES = {"LtiResourceLinkRequest", DEEP_LINKING_REQUEST}

ALLOWED_ALGS = {"RS256", "RS384", "RS512"}
# C0 and C1 control characters (NUL included: PostgreSQL refuses it in text) and lone
# surrogates (JSON can carry them; no database encoding can). Whitespace ones become a space.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_SPACE = re.compile("[\t\n\r]+")
MAX_CUSTOM = 100
MAX_ROLES = 100


class _Request(Request):
    """The few request facts pylti1p3 reads, without tying it to Flask's globals."""

    def __init__(self, params: Mapping[str, str], cookies: Mapping[str, str], secure: bool):
        self._params = params
        self._cookies = cookies
        self._secure = secure

    @property
    def session(self) -> dict[str, Any]:
        return {}

    def get_param(self, key: str) -> str:
        return self._params.get(key) or ""

    def get_cookie(self, key: str) -> str | None:
        return self._cookies.get(key)

    def is_secure(self) -> bool:
        return self._secure


class _Cookies(CookieService):
    def __init__(self, request: _Request) -> None:
        self._request = request

    def get_cookie(self, name: str) -> str | None:
        return self._request.get_cookie(name)

    def set_cookie(self, name: str, value: str | int, exp: int | None = 3600) -> None:
        raise NotImplementedError("the launch sets no pylti1p3 cookies")


@dataclass(frozen=True)
class ValidLaunch:
    context: LaunchContext
    # False when the browser did not send back the state cookie set at login: it refuses
    # cookies in this frame, so the visit must continue in a new window.
    cookies_work: bool
    # Set for an LtiDeepLinkingRequest: a course editor choosing content, not a visit.
    deep_link: DeepLinkContext | None = None
    # Without the state cookie, where the login kept its state and nonce in the platform's
    # storage (for the launch page to read back); None with the cookie, or without storage.
    storage: PlatformStorage | None = None


def _storage_for(target: str | None, reg: RegistrationInfo) -> PlatformStorage | None:
    origin = origin_text(reg.auth_login_url) if target else None
    return PlatformStorage(target, origin) if target and origin else None


class ToolMessageLaunch(MessageLaunch):
    def __init__(self, request: _Request, conf: DbToolConf) -> None:
        super().__init__(
            request, conf, session_service=SessionService(request), cookie_service=_Cookies(request)
        )

    def _get_request_param(self, key: str) -> str:
        return self._request.get_param(key)

    def save_launch_data(self) -> MessageLaunch:
        # The launch is kept as our own Launch row, not as pylti1p3 session data.
        return self


def _clean(value: str) -> str:
    """The text without control characters, trimmed: safe to show, log and store."""
    return _CONTROL.sub("", _CONTROL_SPACE.sub(" ", value)).strip()


def _str(value: Any) -> str | None:
    cleaned = _clean(value) if isinstance(value, str) else ""
    return cleaned or None


def _has_control(value: str) -> bool:
    return _clean(value) != value.strip()


def _ags_endpoint(claim: Mapping[str, Any]) -> dict[str, Any] | None:
    """The parts of the AGS claim the tool uses, cleaned; the URLs were checked already."""
    endpoint: dict[str, Any] = {}
    for key in ("lineitems", "lineitem"):
        if (url := _cut(_str(claim.get(key)), 1000)) is not None:
            endpoint[key] = url
    scope = claim.get("scope")
    if isinstance(scope, list):
        endpoint["scope"] = [s[:255] for s in map(_str, scope[:20]) if s]
    return endpoint or None


def _check_service_urls(
    reg: RegistrationInfo, body: Mapping[str, Any], facts: dict[str, str]
) -> None:
    """Refuse AGS/NRPS URLs off the platform's own origins: the tool would call them later."""
    ags, nrps = _obj(body, AGS_CLAIM), _obj(body, NRPS_CLAIM)
    for name, url in (
        ("lineitems", ags.get("lineitems")),
        ("lineitem", ags.get("lineitem")),
        ("context_memberships_url", nrps.get("context_memberships_url")),
    ):
        if url is None:
            continue
        found = url_origin(url) if isinstance(url, str) else None
        if found is None or found not in reg.service_origins:
            # The URL itself is attacker-chosen: log its origin only, cut short.
            where = "://".join(found[:2]) + f":{found[2]}" if found else "not an http(s) URL"
            raise errors.ForeignServiceUrl(f"{name} on {where[:200]}", **facts)


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    value = value.strip().lower()
    if value in {"true", "yes", "1"}:
        return True
    if value in {"false", "no", "0"}:
        return False
    return None


def _obj(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    return value if isinstance(value, list) else []


def _cut(value: str | None, length: int) -> str | None:
    return value[:length] if value else value


def validate_launch(
    session: Session,
    registry: Registry,
    params: Mapping[str, str],
    cookies: Mapping[str, str],
    *,
    secure: bool,
    now: datetime,
    leeway: int,
    jwks: JwksCache,
    secret: str,
) -> ValidLaunch:
    id_token = params.get("id_token")
    state = params.get("state")
    if not id_token:
        raise errors.MalformedRequest("launch without id_token")
    if not state:
        raise errors.BadState("launch without state")
    if _has_control(state):
        raise errors.BadState("unknown state")  # never issued by us, and no text column holds it

    launch = ToolMessageLaunch(_Request(params, cookies, secure), DbToolConf(session, registry))
    # Our checks below replace pylti1p3's validate(); only its pieces are called.
    launch.set_auto_validation(enable=False)
    try:
        launch.validate_jwt_format()
    except LtiException as exc:
        raise errors.MalformedToken(str(exc)) from exc
    header = launch._jwt.get("header") or {}
    unverified = launch._jwt.get("body")
    if not isinstance(header, dict) or not isinstance(unverified, dict):
        raise errors.MalformedToken("header or body is not a JSON object")

    # -- the login this launch answers: signed by the tool, in time ---------------------------
    login = read_state(secret, state)
    if now > login.expires_at:
        if login_used(session, state):
            raise errors.Replayed("state already used")
        raise errors.Expired("login state expired")
    cookie = cookies.get(STATE_COOKIE_PREFIX + state)
    if cookie is not None and cookie != state:
        raise errors.BadState("state cookie does not match")

    # -- the registration: issuer, audience, authorised party --------------------------------
    iss = _str(unverified.get("iss"))
    if iss is None:
        raise errors.MissingClaim("iss")
    if iss != unverified["iss"]:
        raise errors.UnknownIssuer("issuer with control characters or spaces", iss=iss)
    aud = unverified.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not audiences or not all(isinstance(a, str) for a in audiences):
        raise errors.MissingClaim("aud", iss=iss)
    azp = unverified.get("azp")
    if azp is not None:
        if not isinstance(azp, str):
            raise errors.MalformedToken("azp is not a string", iss=iss)
        if azp not in audiences:
            raise errors.UnknownClient("azp is not one of the audiences", iss=iss, client_id=azp)
        client_id = azp
    elif len(audiences) == 1:
        client_id = audiences[0]
    else:
        raise errors.MissingClaim("azp is required when aud has several values", iss=iss)
    registrations = registry.registrations_for(session, iss)
    if not registrations:
        raise errors.UnknownIssuer(iss=iss, client_id=client_id)
    reg = next((r for r in registrations if r.client_id == client_id), None)
    if reg is None:
        raise errors.UnknownClient(iss=iss, client_id=client_id)
    if reg.id != login.registration_id:
        raise errors.BadState("launch is not from the platform the login came from", iss=iss)
    facts = {"iss": iss, "client_id": client_id}

    # -- signature and times ---------------------------------------------------------------------
    alg = header.get("alg")
    kid = header.get("kid")
    if alg not in ALLOWED_ALGS:
        raise errors.BadSignature(f"algorithm {alg!r} not accepted", **facts)
    if not isinstance(kid, str) or not kid:
        raise errors.UnknownKey("no kid in the token header", **facts)
    key_alg, key = jwks.key_for(reg.jwks_url, kid)
    if key_alg != alg:
        raise errors.BadSignature(f"token alg {alg} but key alg {key_alg}", kid=kid, **facts)
    try:
        body = jwt.decode(
            id_token,
            key,
            algorithms=[alg],
            audience=client_id,
            issuer=iss,
            leeway=leeway,
            options={"require": ["exp", "iat", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise errors.Expired(str(exc), **facts) from exc
    except jwt.ImmatureSignatureError as exc:
        raise errors.NotYetValid(str(exc), **facts) from exc
    except jwt.MissingRequiredClaimError as exc:
        raise errors.MissingClaim(str(exc), **facts) from exc
    except jwt.InvalidSignatureError as exc:
        raise errors.BadSignature(str(exc), **facts) from exc
    except jwt.DecodeError as exc:
        raise errors.MalformedToken(str(exc), **facts) from exc
    except jwt.InvalidTokenError as exc:
        raise errors.BadSignature(str(exc), **facts) from exc

    # -- nonce: the one issued with this state, so a token can never be used twice ------------
    nonce = body.get("nonce")
    if not nonce:
        raise errors.MissingClaim("nonce", **facts)
    if nonce != login.nonce:
        # An old token posted with a fresh state: the nonce was issued for another login.
        raise errors.BadState("nonce was not issued with this state", **facts)
    # Used once: recorded now, so that a refusal below (rolled back) leaves it unused.
    if not record_login_used(session, state, login, now):
        raise errors.Replayed("state already used", **facts)

    # -- deployment and message ------------------------------------------------------------------
    deployment_id = _str(body.get(CLAIM + "deployment_id"))
    if deployment_id is None:
        raise errors.MissingClaim("deployment_id", **facts)
    deployment = registry.deployment(session, reg, deployment_id, create=True)
    if deployment is None:
        raise errors.UnknownDeployment(deployment_id=deployment_id, **facts)
    message_type = body.get(CLAIM + "message_type")
    if not message_type:
        raise errors.MissingClaim("message_type", **facts)
    if not isinstance(message_type, str) or message_type not in SUPPORTED_MESSAGES:
        raise errors.UnsupportedMessage(f"message type {str(message_type)[:100]!r}", **facts)
    if body.get(CLAIM + "version") != "1.3.0":
        raise errors.MissingClaim("version must be 1.3.0", **facts)
    roles = body.get(CLAIM + "roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise errors.MissingClaim("roles", **facts)
    resource_link = body.get(CLAIM + "resource_link")
    link_id = _str(resource_link.get("id")) if isinstance(resource_link, dict) else None
    deep_linking = message_type == DEEP_LINKING_REQUEST
    if link_id is None and not deep_linking:  # a deep linking request need not name a link
        raise errors.MissingClaim("resource_link.id", **facts)
    subject = _str(body.get("sub"))
    if subject is None:
        raise errors.MissingClaim("sub (anonymous launches are not supported)", **facts)
    _check_service_urls(reg, body, facts)
    deep_link = _deep_link(reg, body, deployment_id, roles, facts) if deep_linking else None
    launch.set_jwt({"header": header, "body": body})  # type: ignore[typeddict-item]
    _validate_message(launch, body, deep_linking, facts)

    overrides = registry.role_overrides(session, deployment.organisation_id)
    context = _obj(body, CLAIM + "context")
    custom = {
        _clean(str(k))[:255]: _clean(str(v))[:1000]
        for k, v in list(_obj(body, CLAIM + "custom").items())[:MAX_CUSTOM]
    }
    roles = [r for r in (_cut(_str(r), 500) for r in roles[:MAX_ROLES]) if r]
    presentation = _obj(body, CLAIM + "launch_presentation")
    given, family = _str(body.get("given_name")), _str(body.get("family_name"))
    name = _str(body.get("name")) or " ".join(p for p in (given, family) if p)
    email = _str(body.get("email"))
    return ValidLaunch(
        context=LaunchContext(
            organisation_id=deployment.organisation_id,
            registration_id=reg.id,
            deployment_pk=deployment.id,
            issuer=iss,
            subject=subject[:255],
            name=_cut(name, 300) or "",
            given_name=_cut(given, 150),
            family_name=_cut(family, 150),
            email=_cut(email, 320) if email and "@" in email else None,
            role=map_roles(roles, overrides),
            lti_roles=tuple(roles),
            message_type=message_type,
            resource_link_id=(link_id or "")[:255],
            resource_link_title=_cut(_str(_obj(body, CLAIM + "resource_link").get("title")), 500),
            context_id=_cut(_str(context.get("id")), 255),
            context_title=_cut(_str(context.get("title")), 500),
            context_label=_cut(_str(context.get("label")), 255),
            ags_endpoint=_ags_endpoint(_obj(body, AGS_CLAIM)),
            nrps_url=_cut(_str(_obj(body, NRPS_CLAIM).get("context_memberships_url")), 1000),
            return_url=_cut(_str(presentation.get("return_url")), 1000),
            document_target=_cut(_str(presentation.get("document_target")), 20),
            person_sourcedid=_cut(_str(_obj(body, CLAIM + "lis").get("person_sourcedid")), 255),
            custom=custom,
            elected_member=_flag(custom.get("elected_member")),
            mentees=tuple(
                m[:255] for m in map(_str, _list(body, CLAIM + "role_scope_mentor")) if m
            )[:5000],
        ),
        cookies_work=cookie is not None,
        deep_link=deep_link,
        storage=None if cookie is not None else _storage_for(login.storage_target, reg),
    )


def _deep_link(
    reg: RegistrationInfo,
    body: Mapping[str, Any],
    deployment_id: str,
    roles: list[str],
    facts: dict[str, str],
) -> DeepLinkContext:
    cleaned = tuple(r for r in (_cut(_str(r), 500) for r in roles[:MAX_ROLES]) if r)
    return deep_link_context(reg, body, deployment_id, cleaned, facts)


def _validate_message(
    launch: ToolMessageLaunch, body: Mapping[str, Any], deep_linking: bool, facts: dict[str, str]
) -> None:
    """pylti1p3's message validators. For deep linking only its common ones: its own refuses
    accept_types without ltiResourceLink, which the tool answers to the LMS instead (a
    response saying why), and lti/deep_linking.py checks the settings."""
    try:
        if deep_linking:
            DeepLinkMessageValidator().run_common_validators(body)
        else:
            launch.validate_message()
    except LtiException as exc:
        raise errors.MissingClaim(str(exc), **facts) from exc
