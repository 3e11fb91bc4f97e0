"""LTI endpoints: /lti/login, /lti/launch, /lti/jwks, /lti/config and the new-window hand-off.

Paths are fixed: LMS administrators type them into their platform.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.auth import NewVisit
from app.clock import utcnow
from app.db import db
from app.extensions import csrf
from app.services.keys import published_jwks
from app.services.launches import hand_off, record_launch
from lti.errors import LaunchError
from lti.jwks import JwksCache
from lti.launch import validate_launch
from lti.login import STATE_COOKIE_PREFIX, purge_login_states, start_login
from lti.registry import Registry

bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates")
log = logging.getLogger("cpm.lti")

HANDOFF_SECONDS = 300
PURGE_EVERY_SECONDS = 600
_last_purge = 0.0


def registry() -> Registry:
    found = current_app.extensions.get("cpm_registry")
    if found is None:
        found = current_app.extensions["cpm_registry"] = Registry()
    return found


def _jwks_cache() -> JwksCache:
    cache = current_app.extensions.get("cpm_jwks")
    if cache is None:
        cache = current_app.extensions["cpm_jwks"] = JwksCache(
            current_app.config["LTI_JWKS_CACHE_SECONDS"],
            current_app.config["LTI_JWKS_MIN_REFETCH_SECONDS"],
        )
    return cache


def base_url() -> str:
    return current_app.config["TOOL_BASE_URL"] or request.url_root.rstrip("/")


def launch_url() -> str:
    return base_url() + url_for("lti.launch")


def tool_urls() -> dict[str, str]:
    root = base_url()
    return {
        "base": root,
        "login": root + url_for("lti.login"),
        "launch": launch_url(),
        "jwks": root + url_for("lti.jwks"),
        "config": root + url_for("lti.config_page"),
    }


_UNSAFE = re.compile(r"[^\w.:/@+=-]")


def _clean(value: Any) -> str:
    """Log values come from outside: keep them on one line and short."""
    return _UNSAFE.sub("_", str(value))[:200]


def _log_rejection(stage: str, exc: LaunchError) -> None:
    facts = " ".join(f"{k}={_clean(v)}" for k, v in sorted(exc.facts.items()))
    log.warning(
        "%s outcome=rejected code=%s status=%s %s detail=%s ip=%s",
        stage,
        exc.code,
        exc.status,
        facts,
        _clean(exc.detail or exc.message),
        _clean(request.remote_addr),
    )


def _error_page(exc: LaunchError) -> tuple[str, int]:
    return render_template("lti/launch_error.html", error=exc), exc.status


def _handoff_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="cpm-launch-handoff")


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt
def login() -> Any:
    global _last_purge
    now = utcnow()
    try:
        result = start_login(
            db.session(),
            registry(),
            request.values,
            launch_url=launch_url(),
            now=now,
        )
        if time.monotonic() - _last_purge > PURGE_EVERY_SECONDS:
            _last_purge = time.monotonic()
            purge_login_states(db.session(), now)
        db.session.commit()
    except LaunchError as exc:
        db.session.rollback()
        _log_rejection("login", exc)
        return _error_page(exc)
    response = redirect(result.url)
    # Proves, at launch, that the same browser started this login (login CSRF). Browsers
    # that refuse the cookie in an iframe are sent to a new window instead of failing.
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    response.set_cookie(
        STATE_COOKIE_PREFIX + result.state,
        result.state,
        max_age=result.max_age,
        secure=secure,
        httponly=True,
        samesite="None" if secure else "Lax",
        partitioned=secure,
        path=url_for("lti.launch"),
    )
    return response


@bp.post("/launch")
@csrf.exempt
def launch() -> Any:
    now = utcnow()
    try:
        valid = validate_launch(
            db.session(),
            registry(),
            request.form,
            request.cookies,
            secure=request.is_secure,
            now=now,
            leeway=current_app.config["LTI_LEEWAY_SECONDS"],
            jwks=_jwks_cache(),
        )
        recorded = record_launch(
            db.session(),
            valid.context,
            now=now,
            session_hours=current_app.config["SESSION_HOURS"],
            ip_address=request.remote_addr,
            user_agent=request.user_agent.string,
        )
        db.session.commit()
    except LaunchError as exc:
        db.session.rollback()
        _log_rejection("launch", exc)
        return _error_page(exc)
    login_user(NewVisit(recorded.token))
    log.info(
        "launch outcome=ok org=%s person=%s role=%s launch=%s cookies=%s",
        recorded.organisation_id,
        recorded.person_id,
        valid.context.role.value,
        recorded.id,
        "yes" if valid.cookies_work else "no",
    )
    if valid.cookies_work:
        response = redirect(url_for("learner.home"))
    else:
        handoff = _handoff_serializer().dumps(recorded.id)
        response = redirect(url_for("lti.landing", h=handoff))
    response.delete_cookie(STATE_COOKIE_PREFIX + request.form["state"], path=url_for("lti.launch"))
    return response


@bp.get("/landing")
def landing() -> Any:
    """Reached when the launch arrived without our state cookie: are cookies refused here?"""
    handoff = request.args.get("h", "")
    try:
        launch_id = _handoff_serializer().loads(handoff, max_age=HANDOFF_SECONDS)
    except (BadSignature, SignatureExpired):
        return render_template("lti/handoff_expired.html"), 400
    if current_user.is_authenticated and current_user.launch_id == launch_id:
        return redirect(url_for("learner.home"))
    return render_template("lti/cookies_blocked.html", handoff=handoff)


@bp.get("/continue")
def continue_in_new_window() -> Any:
    """The one-time link from the cookies page, opened as a top-level window."""
    try:
        launch_id = _handoff_serializer().loads(request.args.get("h", ""), max_age=HANDOFF_SECONDS)
    except (BadSignature, SignatureExpired):
        return render_template("lti/handoff_expired.html"), 400
    token = hand_off(db.session(), launch_id, utcnow())
    if token is None:
        db.session.rollback()
        return render_template("lti/handoff_expired.html"), 400
    db.session.commit()
    login_user(NewVisit(token))
    log.info("handoff outcome=ok launch=%s", launch_id)
    return redirect(url_for("learner.home"))


@bp.get("/jwks")
def jwks() -> Response:
    response = jsonify(published_jwks(db.session()))
    # Platforms cache this; a rotated key is published before it signs anything.
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]
NRPS_SCOPES = ["https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"]


def tool_configuration() -> dict[str, Any]:
    urls = tool_urls()
    return {
        "title": "Corporate Parenting module",
        "description": (
            "Teaches the council's Corporate Parenting Policy, checks understanding and records"
            " each person's acceptance."
        ),
        "lti_version": "1.3.0",
        "initiate_login_url": urls["login"],
        "redirect_uris": [urls["launch"]],
        "target_link_uri": urls["launch"],
        "jwks_url": urls["jwks"],
        "public_key_type": "Keyset URL",
        "scopes": AGS_SCOPES + NRPS_SCOPES,
        "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
        "privacy": "Send the user's name and e-mail address: they identify people for HR.",
        "messages": ["LtiResourceLinkRequest"],
        "canvas": {
            "title": "Corporate Parenting module",
            "description": "Corporate Parenting Policy: learn, check, accept.",
            "oidc_initiation_url": urls["login"],
            "target_link_uri": urls["launch"],
            "public_jwk_url": urls["jwks"],
            "scopes": AGS_SCOPES + NRPS_SCOPES,
            "extensions": [
                {
                    "platform": "canvas.instructure.com",
                    "privacy_level": "public",
                    "settings": {
                        "placements": [
                            {
                                "placement": "link_selection",
                                "message_type": "LtiResourceLinkRequest",
                                "target_link_uri": urls["launch"],
                            }
                        ]
                    },
                }
            ],
        },
    }


@bp.get("/config")
def config_page() -> Any:
    config = tool_configuration()
    if request.args.get("format") == "json":
        return jsonify(config)
    return render_template("lti/config.html", config=config)
