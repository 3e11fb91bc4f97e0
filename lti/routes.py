"""LTI endpoints: /lti/login, /lti/launch, /lti/jwks, /lti/config and the new-window hand-off.

Paths are fixed: LMS administrators type them into their platform.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response as BaseResponse

from app.auth import NewVisit, load_visit
from app.clock import utcnow
from app.db import db
from app.extensions import csrf
from app.services.keys import PublishedKeys
from app.services.launches import hand_off, pending_hand_off, record_launch, renew_visit_token
from lti import deep_link_views
from lti.errors import LaunchError
from lti.forms import ContinueAsForm
from lti.jwks import JwksCache
from lti.launch import validate_launch
from lti.login import (
    STATE_COOKIE_PREFIX,
    PlatformStorage,
    origin_text,
    prove_stored_login,
    purge_login_states,
    start_login,
    state_digest,
    storage_keys,
    stored_login_proven,
)
from lti.registry import Registry

bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates")
log = logging.getLogger("cpm.lti")

HANDOFF_LIFETIME = timedelta(seconds=300)
# In the session cookie: which login's state the visit was launched with (state_digest).
LAUNCHED_STATE = "cpm_launched_state"
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


def _handoff_serializer() -> URLSafeSerializer:
    # Only proves the tool issued the link; its lifetime and single use are the launch row's.
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cpm-launch-handoff")


def _state_cookie(response: BaseResponse, state: str, max_age: int | None) -> None:
    """Set (max_age > 0) or delete (None) the state cookie: a deletion only takes if it
    names the same path, Secure, SameSite and Partitioned (CHIPS) as the cookie it ends."""
    secure = current_app.config["SESSION_COOKIE_SECURE"]
    attributes: dict[str, Any] = {
        "secure": secure,
        "httponly": True,
        "samesite": "None" if secure else "Lax",
        "partitioned": secure,
        "path": url_for("lti.launch"),
    }
    if max_age is None:
        response.delete_cookie(STATE_COOKIE_PREFIX + state, **attributes)
    else:
        response.set_cookie(STATE_COOKIE_PREFIX + state, state, max_age=max_age, **attributes)


@bp.route("/login", methods=["GET", "POST"])
@csrf.exempt
def login() -> Any:
    try:
        # Writes nothing: the state is signed (lti/login.py); registrations are cached.
        result = start_login(
            db.session(),
            registry(),
            request.values,
            launch_url=launch_url(),
            now=utcnow(),
            secret=current_app.config["SECRET_KEY"],
        )
    except LaunchError as exc:
        db.session.rollback()
        _log_rejection("login", exc)
        return _error_page(exc)
    if result.storage is None:
        response = redirect(result.url)
    else:
        # The platform offers its storage: a page keeps the state and nonce there first,
        # then goes on to the same URL (lti/templates/lti/login_storage.html).
        state_key, nonce_key = storage_keys(result.state)
        response = current_app.make_response(
            render_template(
                "lti/login_storage.html",
                storage=result.storage,
                auth_url=result.url,
                items={state_key: result.state, nonce_key: result.nonce},
            )
        )
    # Proves, at launch, that the same browser started this login (login CSRF). Browsers
    # that refuse the cookie in an iframe are sent to a new window instead of failing.
    _state_cookie(response, result.state, result.max_age)
    return response


@bp.post("/launch")
@csrf.exempt
def launch() -> Any:
    global _last_purge
    now = utcnow()
    state = request.form.get("state") or ""
    launched = session.get(LAUNCHED_STATE)
    if (
        isinstance(launched, str)
        and state
        and hmac.compare_digest(launched, state_digest(state))
        and current_user.is_authenticated
    ):
        # This browser's visit came from this very launch: the form posted again by a reload
        # or Back. Nothing is validated or written again; the visit goes on.
        log.info("launch outcome=reloaded launch=%s", current_user.launch_id)
        return redirect(url_for("learner.resume"), 303)
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
            secret=current_app.config["SECRET_KEY"],
        )
        if time.monotonic() - _last_purge > PURGE_EVERY_SECONDS:
            _last_purge = time.monotonic()
            purge_login_states(db.session(), now)
        if valid.deep_link is not None:  # a course editor choosing content: not a visit
            response = deep_link_views.answer_request(valid)
            db.session.commit()
            _state_cookie(response, request.form["state"], None)
            return response
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
    log.info(
        "launch outcome=ok org=%s person=%s role=%s launch=%s cookies=%s",
        recorded.organisation_id,
        recorded.person_id,
        valid.context.role.value,
        recorded.id,
        "yes" if valid.cookies_work else "no",
    )
    if valid.cookies_work:
        response = _first_page(recorded.token, request.form["state"])
    else:
        # No state cookie: this may be the browser that started the login but refuses
        # cookies in the LMS's frame, or a victim's browser made to post someone else's
        # id_token and state (login CSRF). Either way it gets no session here; the person
        # must confirm, in a new window, whose visit they continue. Where the login kept
        # its state in the platform's storage, the page first tries to prove it from there.
        response = current_app.make_response(
            _cookies_blocked_page(recorded.id, request.form["state"], valid.storage)
        )
    _state_cookie(response, request.form["state"], None)
    return response


def _first_page(token: str, state: str) -> BaseResponse:
    """Sign the visit in and answer with its first page: the launch is one request, not a
    redirect to /resume and another to the page."""
    visit = load_visit(token)
    if visit is None:  # ended or expired at once: cannot happen unless SESSION_HOURS is 0
        login_user(NewVisit(token))
        return redirect(url_for("learner.resume"), 303)
    login_user(visit)
    # A reload of the launch's page without JavaScript posts the form again: this browser,
    # and only it, then goes back to its visit (see launch()) instead of a refusal.
    session[LAUNCHED_STATE] = state_digest(state)
    from app.learner.routes import launch_page  # the learner's pages import the LTI blueprint

    return current_app.make_response(launch_page())


@bp.post("/deep-link")
@csrf.exempt  # the form carries a single-use token instead: see lti/deep_link_views.py
def deep_link_choice() -> Any:
    try:
        return deep_link_views.submit(launch_url())
    except LaunchError as exc:
        db.session.rollback()
        _log_rejection("deep_link", exc)
        return _error_page(exc)


def _storage_serializer() -> URLSafeSerializer:
    # Binds the proof to one launch and the state it used; a different salt from the
    # hand-off link, so neither can stand for the other.
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cpm-storage-proof")


def _window_serializer() -> URLSafeSerializer:
    # The key a proven frame hands to the new window it opens (storage_window below).
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cpm-storage-window")


def _cookies_blocked_page(launch_id: int, state: str, storage: PlatformStorage | None) -> str:
    handoff = _handoff_serializer().dumps(launch_id)
    if storage is None:
        return render_template("lti/cookies_blocked.html", handoff=handoff)
    state_key, nonce_key = storage_keys(state)
    return render_template(
        "lti/launch_storage.html",
        handoff=handoff,
        window_url=url_for("lti.storage_window_page"),
        storage=storage,
        keys=[state_key, nonce_key],
        proof=_storage_serializer().dumps([launch_id, state]),
    )


MAX_PROOF_CHARS = 300  # a signed [launch id, 43-character state] is about 110


def _proof_refused(reason: str, launch_id: int | None) -> tuple[Response, int]:
    db.session.rollback()
    log.info("storage_proof outcome=refused reason=%s launch=%s", reason, launch_id)
    return jsonify(proven=False), 403


@bp.post("/storage/proof")
@csrf.exempt  # from the LMS's frame, which may hold no session; guarded by same-origin below
def storage_proof() -> Any:
    """The launch page read its login's state and nonce back from platform storage and
    posts them here: if they are that login's, once and in time, the frame gets the visit.

    Proving it matters only if the values came from the platform's storage in this very
    browser, so only a script of the tool's own pages may post them: a form on another site
    (the attacker of login CSRF knows their own state and nonce) cannot send JSON without a
    CORS preflight the tool never answers, and browsers send a true Origin on every POST.
    """
    if not _same_origin_json():
        return _proof_refused("not_same_origin", None)
    body = request.get_json(silent=True)
    fields = body if isinstance(body, dict) else {}
    proof, state, nonce = (fields.get(k) for k in ("proof", "state", "nonce"))
    if not all(isinstance(v, str) and 0 < len(v) <= MAX_PROOF_CHARS for v in (proof, state, nonce)):
        return _proof_refused("malformed", None)
    try:
        launch_id, signed_state = _storage_serializer().loads(str(proof))
    except (BadSignature, TypeError, ValueError):
        return _proof_refused("bad_signature", None)
    if not isinstance(launch_id, int) or not isinstance(signed_state, str):
        return _proof_refused("bad_signature", None)
    if not hmac.compare_digest(signed_state.encode(), str(state).encode()):
        return _proof_refused("other_login", launch_id)
    now = utcnow()
    if not prove_stored_login(db.session(), signed_state, str(nonce), now):
        return _proof_refused("wrong_used_or_expired", launch_id)
    token = renew_visit_token(db.session(), launch_id, now, HANDOFF_LIFETIME)
    if token is None:
        return _proof_refused("launch_used_or_expired", launch_id)
    db.session.commit()
    # Try the session cookie in the frame; the page asks /lti/storage/visit whether it came back.
    login_user(NewVisit(token))
    log.info("storage_proof outcome=ok launch=%s", launch_id)
    # In the body of a same-origin fetch only: for the page to hand to a new window it opens
    # itself, should this frame refuse the session cookie.
    window = _window_serializer().dumps([launch_id, signed_state])
    return jsonify(proven=True, launch=launch_id, window=window)


def _same_origin_json() -> bool:
    return request.headers.get("Origin") == origin_text(base_url()) and request.is_json


@bp.get("/storage/window")
def storage_window_page() -> Any:
    """The new window a proven frame opens: it asks its opener for the key, then posts it."""
    g.deny_framing = True  # signs someone in: only ever a top-level window
    return render_template("lti/storage_window.html")


@bp.post("/storage/window")
@csrf.exempt  # this window has no session yet; guarded by same-origin, as the proof is
def storage_window() -> Any:
    """Sign in the new window of a launch proven from platform storage, without asking
    "Continue as ...?".

    Why no question is safe here: the question guards against a hand-off link posted to
    a victim's browser by another site (login CSRF). This key is never in a page or a URL:
    the proof's same-origin fetch returned it to the frame that read the login's state and
    nonce from the platform's storage in this browser; that frame gives it only to a window
    of the tool's own origin that it opened itself (lti-storage.mjs checks source and
    origin), and only a script of the tool's origin can post it here (Origin and JSON, as
    for the proof). An attacker holding their own key has no way to make a page of the
    tool's origin in the victim's browser post it.
    """
    if not _same_origin_json():
        return _window_refused("not_same_origin", None)
    body = request.get_json(silent=True)
    key = body.get("key") if isinstance(body, dict) else None
    if not isinstance(key, str) or not 0 < len(key) <= MAX_PROOF_CHARS:
        return _window_refused("malformed", None)
    try:
        launch_id, state = _window_serializer().loads(key)
    except (BadSignature, TypeError, ValueError):
        return _window_refused("bad_signature", None)
    if not isinstance(launch_id, int) or not isinstance(state, str):
        return _window_refused("bad_signature", None)
    if not stored_login_proven(db.session(), state):
        return _window_refused("not_proven", launch_id)
    token = hand_off(db.session(), launch_id, utcnow(), HANDOFF_LIFETIME)
    if token is None:
        return _window_refused("used_or_expired", launch_id)
    db.session.commit()
    login_user(NewVisit(token))
    log.info("handoff outcome=ok launch=%s via=platform_storage", launch_id)
    return jsonify(signed_in=True)


def _window_refused(reason: str, launch_id: int | None) -> tuple[Response, int]:
    db.session.rollback()
    log.info("handoff outcome=refused reason=%s launch=%s via=platform_storage", reason, launch_id)
    return jsonify(signed_in=False), 403


@bp.get("/storage/visit")
def storage_visit() -> Any:
    """Which launch this browser's session cookie (if it sent one) belongs to."""
    launch_id = current_user.launch_id if current_user.is_authenticated else None
    response = jsonify(launch=launch_id)
    response.cache_control.no_store = True
    return response


def _handoff_refused(launch_id: int | None, reason: str) -> tuple[str, int]:
    log.info("handoff outcome=refused reason=%s launch=%s", reason, launch_id)
    # 410: the link was real but is used up or out of time; 400: never a link of ours.
    return render_template("lti/handoff_expired.html"), 400 if launch_id is None else 410


def _handoff_launch_id(signed: str) -> int | None:
    try:
        launch_id = _handoff_serializer().loads(signed)
    except BadSignature:
        return None
    return launch_id if isinstance(launch_id, int) else None


# The one-time link, kept in the new window's session between its post and the GET that
# shows the question (Post/Redirect/Get: reloading the window posts nothing again). A cookie
# of this window only, never a URL that logs or history keep.
HANDOFF_SESSION_KEY = "lti_handoff"
MAX_HANDOFF_CHARS = 200  # a signed launch id is about 30


@bp.post("/continue")
@csrf.exempt  # posted from the LMS's frame, where this browser may have no session to check
def continue_in_new_window() -> Any:
    """The new window, opened by posting the one-time link: keeps it and shows the question.

    Signs no one in and does not use the link up, so a site that posts someone's link to
    a victim's browser gains nothing: only the button of the page that follows, which
    carries this window's own CSRF token, does.
    """
    session[HANDOFF_SESSION_KEY] = request.form.get("h", "")[:MAX_HANDOFF_CHARS]
    return redirect(url_for("lti.continue_page"), code=303)


@bp.get("/continue")
def continue_page() -> Any:
    """Asks who is continuing, for the link this window was given (never one in the URL)."""
    signed = session.get(HANDOFF_SESSION_KEY, "")
    launch_id = _handoff_launch_id(signed)
    if launch_id is None:
        return _handoff_refused(None, "bad_signature")
    pending = pending_hand_off(db.session(), launch_id, utcnow(), HANDOFF_LIFETIME)
    if pending is None:
        return _handoff_refused(launch_id, "used_or_expired")
    g.deny_framing = True  # one button that signs someone in: never inside another site
    form = ContinueAsForm(h=signed)
    return render_template("lti/continue_as.html", form=form, pending=pending)


@bp.post("/continue/confirm")
def confirm_new_window() -> Any:
    """The person confirmed it is them: this window gets the visit, and the link is spent.
    When it cannot be, back to the question's page, which says why."""
    form = ContinueAsForm()
    if not form.validate_on_submit():
        log.info("handoff outcome=refused reason=invalid_form launch=None")
        return redirect(url_for("lti.continue_page"))
    launch_id = _handoff_launch_id(form.h.data or "")
    if launch_id is None:
        log.info("handoff outcome=refused reason=bad_signature launch=None")
        return redirect(url_for("lti.continue_page"))
    token = hand_off(db.session(), launch_id, utcnow(), HANDOFF_LIFETIME)
    if token is None:
        db.session.rollback()
        log.info("handoff outcome=refused reason=used_or_expired launch=%s", launch_id)
        return redirect(url_for("lti.continue_page"))
    db.session.commit()
    login_user(NewVisit(token))
    log.info("handoff outcome=ok launch=%s", launch_id)
    return redirect(url_for("learner.resume"))


def _published_keys() -> PublishedKeys:
    found = current_app.extensions.get("cpm_published_keys")
    if found is None:
        found = current_app.extensions["cpm_published_keys"] = PublishedKeys()
    return found


@bp.get("/jwks")
def jwks() -> Response:
    # Served from memory while the database is down (LMSs verify our messages with it);
    # with no copy yet, the outage's 503 (app/web.py).
    keys, from_memory = _published_keys().read(db.session())
    response = jsonify(keys)
    # Platforms cache this; a rotated key is published before it signs anything.
    response.cache_control.public = True
    response.cache_control.max_age = 60 if from_memory else 300
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
        "messages": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
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
                            # Canvas's content pickers: a course editor places the module
                            # (with its grade column) from Modules or Assignments.
                            {
                                "placement": "link_selection",
                                "message_type": "LtiDeepLinkingRequest",
                                "target_link_uri": urls["launch"],
                            },
                            {
                                "placement": "assignment_selection",
                                "message_type": "LtiDeepLinkingRequest",
                                "target_link_uri": urls["launch"],
                            },
                        ]
                    },
                }
            ],
        },
    }


@bp.get("/config")
def config_page() -> Any:
    if "openid_configuration" in request.args:
        # An LMS administrator pasted this page's address into the LMS's Tool URL box:
        # registering needs an invite's URL (lti/dynreg.py), so explain how to get one.
        return render_template("lti/register_needed.html", have_url=False), 400
    config = tool_configuration()
    if request.args.get("format") == "json":
        return jsonify(config)
    return render_template("lti/config.html", config=config)
