"""LTI Dynamic Registration pages: the LMS opens an invite's URL, the tool reads the LMS's
OpenID configuration, an administrator confirms, and the tool registers itself.

Every call to the LMS is made by a background thread (RegistrationWorker): the pages only
read and write the database, and refresh themselves until the thread has finished.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.clock import utcnow
from app.db import db
from app.extensions import csrf
from app.models import Organisation, RegistrationAttempt, RegistrationInvite
from app.services import registration as service
from app.services.registration import RegistrationRefused
from lti.registry import DEFAULT_PORTS, url_origin

bp = Blueprint("dynreg", __name__, url_prefix="/lti/register", template_folder="templates")
log = logging.getLogger("cpm.lti")

FORM_MAX_AGE = 3600
INVITE_STATUS = {
    "unknown_invite": 404,
    "used_invite": 410,
    "expired_invite": 410,
    "bad_request": 400,
}


class RegistrationWorker:
    """Runs each call to an LMS in its own short-lived thread, with its own app context and
    database session, so no person's request waits on the LMS (app/score_sender.py)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, job: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(
            target=self._run, args=(job, args), name="lti-registration", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def join(self, timeout: float = 30) -> None:
        """Wait for the jobs started so far (tests; process shutdown)."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)

    def _run(self, job: Callable[..., None], args: tuple[Any, ...]) -> None:
        with self.app.app_context():
            try:
                job(*args)
            except Exception:  # a database outage: the attempt stays where it was
                log.exception("registration job failed")
                db.session.rollback()
            finally:
                db.session.remove()


def init_app(app: Flask) -> None:
    app.extensions["cpm_registration_worker"] = RegistrationWorker(app)


def _worker() -> RegistrationWorker:
    return current_app.extensions["cpm_registration_worker"]


# -- the jobs (background thread) -------------------------------------------------------------
def _fail(attempt_id: int, exc: RegistrationRefused, release: bool) -> None:
    session = db.session()
    session.rollback()
    attempt = session.get(RegistrationAttempt, attempt_id)
    if attempt is None:
        return
    service.end_attempt(attempt, "failed", utcnow(), f"{exc.reason}: {exc.detail}")
    if release:
        service.release_invite(session, attempt.invite_id)
    session.commit()
    log.info(
        "registration outcome=refused attempt=%s reason=%s invite=%s",
        attempt_id,
        exc.reason,
        attempt.invite_id,
    )


def read_configuration(attempt_id: int) -> None:
    session = db.session()
    attempt = session.get(RegistrationAttempt, attempt_id)
    if attempt is None or attempt.status != "reading":
        return
    invite = session.get(RegistrationInvite, attempt.invite_id)
    assert invite is not None
    url = attempt.openid_configuration_url
    session.commit()  # no transaction held open while the LMS answers
    try:
        found = service.parse_configuration(service.fetch_configuration(url), url)
        if service.issuer_belongs_elsewhere(session, found["issuer"], invite.organisation_id):
            raise RegistrationRefused("issuer_elsewhere")
    except RegistrationRefused as exc:
        _fail(attempt_id, exc, release=False)
        return
    attempt = session.get(RegistrationAttempt, attempt_id)
    assert attempt is not None
    attempt.platform_configuration = found
    attempt.status = "ready"
    attempt.updated_at = utcnow()
    session.commit()
    log.info("registration outcome=read attempt=%s", attempt_id)


def register(attempt_id: int, body: dict[str, Any]) -> None:
    session = db.session()
    attempt = session.get(RegistrationAttempt, attempt_id)
    if attempt is None or attempt.status != "registering" or not attempt.platform_configuration:
        return
    platform = dict(attempt.platform_configuration)
    token = service.registration_token(attempt, current_app.config["SECRET_KEY"])
    session.commit()
    try:
        if token is None:
            raise RegistrationRefused("platform_refused", "The registration token was lost.")
        answer = service.send_registration(platform["registration_endpoint"], token, body)
        registered = service.parse_answer(answer)
        attempt = session.get(RegistrationAttempt, attempt_id)
        assert attempt is not None
        invite = session.get(RegistrationInvite, attempt.invite_id)
        assert invite is not None
        reg = service.save_registration(session, invite, platform, registered)
    except RegistrationRefused as exc:
        _fail(attempt_id, exc, release=True)
        return
    attempt.registration_id = reg.id
    service.end_attempt(attempt, "registered", utcnow())
    session.commit()
    # This process sees the new platform at once (others within their registry's refresh).
    for name in ("cpm_registry",):
        found = current_app.extensions.get(name)
        if found is not None:
            found.clear()
    current_app.extensions.pop("cpm_frame_ancestors", None)
    log.info(
        "registration outcome=registered attempt=%s registration=%s deployment=%s",
        attempt_id,
        reg.id,
        "given" if registered.deployment_id else "later",
    )


# -- the pages --------------------------------------------------------------------------------
_HOST = re.compile(r"[a-z0-9.-]{1,253}")


def plain_origin(url: str | None) -> str | None:
    """scheme://host[:port] of an http(s) URL whose host is a plain name or IPv4 address:
    it goes into a CSP header and a postMessage target, so nothing else is let through."""
    found = url_origin(url) if url else None
    if found is None or not _HOST.fullmatch(found[1]):
        return None
    scheme, host, port = found
    return f"{scheme}://{host}" + ("" if DEFAULT_PORTS[scheme] == port else f":{port}")


def _allow_framing_by(url: str | None) -> None:
    """The LMS that is registering is not registered yet, so the usual frame-ancestors list
    (registered platforms) does not name it: allow its origin on these pages."""
    found = plain_origin(url)
    if found:
        g.frame_ancestors_extra = [found]


def _refused(reason: str) -> tuple[str, int]:
    return render_template("lti/register_refused.html", reason=reason), INVITE_STATUS.get(
        reason, 400
    )


@bp.get("/<token>")
def invite_page(token: str) -> Any:
    """Where the LMS opens the invite, with openid_configuration and registration_token."""
    configuration_url = request.args.get("openid_configuration", "")
    registration_token = request.args.get("registration_token", "")
    _allow_framing_by(configuration_url)
    now = utcnow()
    try:
        invite = service.open_invite(db.session(), token, now)
        if not configuration_url and not registration_token:
            # Opened in a browser rather than pasted into the LMS.
            return render_template("lti/register_needed.html", have_url=True), 400
        attempt, page_key = service.start_attempt(
            db.session(),
            invite,
            configuration_url,
            registration_token,
            current_app.config["SECRET_KEY"],
            now,
        )
    except RegistrationRefused as exc:
        db.session.rollback()
        log.info("registration outcome=refused attempt=None reason=%s", exc.reason)
        return _refused(exc.reason)
    db.session.commit()
    log.info("registration outcome=started attempt=%s invite=%s", attempt.id, invite.id)
    _worker().start(read_configuration, attempt.id)
    return redirect(url_for("dynreg.attempt_page", key=page_key), code=303)


def _form_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="cpm-dynreg-register")


def _attempt(key: str) -> RegistrationAttempt:
    attempt = service.find_attempt(db.session(), key)
    if attempt is None:
        abort(404)
    _allow_framing_by(attempt.openid_configuration_url)
    return attempt


def _tool_description() -> service.ToolDescription:
    from lti.routes import AGS_SCOPES, NRPS_SCOPES, tool_configuration, tool_urls

    urls = tool_urls()
    config = tool_configuration()
    return service.ToolDescription(
        base_url=urls["base"],
        login_url=urls["login"],
        launch_url=urls["launch"],
        jwks_url=urls["jwks"],
        client_name=config["title"],
        description=config["description"],
        claims=tuple(config["claims"]),
        scopes=tuple(AGS_SCOPES + NRPS_SCOPES),
    )


# A job ends within two LMS timeouts (10 s each); one still "running" long after that died
# with its process (a restart): say so, and give the invite back, instead of waiting forever.
STALE_AFTER = timedelta(seconds=60)


def _end_if_stale(attempt: RegistrationAttempt) -> None:
    if attempt.status not in ("reading", "registering"):
        return
    now = utcnow()
    if now - attempt.updated_at < STALE_AFTER:
        return
    reason = "unreachable_configuration" if attempt.status == "reading" else "platform_refused"
    if attempt.status == "registering":
        service.release_invite(db.session(), attempt.invite_id)
    service.end_attempt(attempt, "failed", now, f"{reason}: The LMS took too long to answer.")
    db.session.commit()
    log.info("registration outcome=refused attempt=%s reason=stale", attempt.id)


@bp.get("/attempt/<key>")
def attempt_page(key: str) -> Any:
    attempt = _attempt(key)
    _end_if_stale(attempt)
    invite = db.session.get(RegistrationInvite, attempt.invite_id)
    assert invite is not None
    organisation = db.session.get(Organisation, invite.organisation_id)
    platform = attempt.platform_configuration or {}
    reason, _, detail = (attempt.error or "").partition(": ")
    return render_template(
        "lti/register_attempt.html",
        attempt=attempt,
        organisation=organisation,
        platform=platform,
        request_body=service.registration_request(_tool_description(), platform)
        if platform
        else None,
        reason=reason,
        detail=detail,
        form_token=_form_serializer().dumps(attempt.id),
    )


@bp.post("/attempt/<key>")
# The LMS shows this page in its own frame, where the browser may refuse the tool's cookies
# (third-party cookies), so the session's CSRF token cannot be relied on. The form carries a
# token signed by the tool and bound to this attempt instead; the attempt's page key is a
# secret of its own, and the attempt moves from "ready" once only (begin_registering).
@csrf.exempt
def register_page(key: str) -> Any:
    attempt = _attempt(key)
    try:
        signed_id = _form_serializer().loads(request.form.get("t", ""), max_age=FORM_MAX_AGE)
    except BadSignature:
        signed_id = None
    if signed_id != attempt.id:
        log.info("registration outcome=refused attempt=%s reason=bad_form", attempt.id)
        return render_template("lti/register_refused.html", reason="bad_form"), 400
    now = utcnow()
    session = db.session()
    if not service.begin_registering(session, attempt.id, now):
        session.rollback()  # pressed twice, or the page was out of date: show where it is
        return redirect(url_for("dynreg.attempt_page", key=key), code=303)
    if not service.claim_invite(session, attempt.invite_id, now):
        session.rollback()
        attempt = _attempt(key)
        invite = session.get(RegistrationInvite, attempt.invite_id)
        reason = "used_invite" if invite is None or invite.used_at else "expired_invite"
        service.end_attempt(attempt, "failed", now, f"{reason}: ")
        session.commit()
        log.info("registration outcome=refused attempt=%s reason=%s", attempt.id, reason)
        return redirect(url_for("dynreg.attempt_page", key=key), code=303)
    session.commit()
    body = service.registration_request(_tool_description(), attempt.platform_configuration or {})
    _worker().start(register, attempt.id, body)
    return redirect(url_for("dynreg.attempt_page", key=key), code=303)
