"""Cross-cutting web concerns: security headers, static assets, health check, error pages."""

from __future__ import annotations

import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user
from flask_login.mixins import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy import text
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from app.clock import long_date, long_datetime
from app.db import DATABASE_UNAVAILABLE, MAX_ID, db
from app.govuk import init_govuk
from app.numbers import percent, points, whole_percent
from app.services.platforms import frame_ancestors

FRAME_ANCESTORS_TTL = 30.0
# During a database outage: when to try again (a PostgreSQL restart takes seconds), and how
# often each process logs that it is still answering 503 (not once per request).
RETRY_AFTER_SECONDS = 30
OUTAGE_LOG_SECONDS = 60.0
V = TypeVar("V", bound=Callable[..., Any])


class DatabaseId(IntegerConverter):
    """`<int:...>` in every route: ids are 32-bit integer columns, so a larger number in a
    path is a 404, never a query that PostgreSQL refuses with "integer out of range"."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


assets = Blueprint("assets", __name__)
ops = Blueprint("ops", __name__)


def govuk_dist() -> Path:
    return Path(current_app.config["GOVUK_FRONTEND_DIST"])


def _whole(response: Response) -> Response:
    """Read a sent file into the response and close it, so that it can be compressed."""
    response.direct_passthrough = False
    response.make_sequence()
    return response


@assets.get("/assets/dist/<path:filename>")
def dist(filename: str) -> Response:
    """GOV.UK Frontend's compiled CSS and JavaScript, installed from npm by the set-up."""
    return _whole(send_from_directory(govuk_dist(), filename, max_age=86400))


@assets.get("/assets/<path:filename>")
def govuk(filename: str) -> Response:
    """GOV.UK Frontend's fonts and images (its CSS refers to them under /assets)."""
    return _whole(send_from_directory(govuk_dist() / "assets", filename, max_age=86400))


@ops.get("/healthz")
def healthz() -> Any:
    """For load balancers: 200 when the database answers."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "take this process out of rotation"
        _log_outage(exc)
        _rollback()
        response = jsonify(status="unavailable", database="unreachable")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response, 503
    return jsonify(status="ok", database="ok")


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection is gone already; the pool replaces it
        current_app.logger.debug("rollback after a database error failed", exc_info=True)


class _OutageLog:
    """One ERROR line when a process first meets the outage, then one a minute with the
    count, rather than a traceback per request (threads of a worker share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at: float | None = None
        self._since = 0

    def report(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self._since += 1
            if self._at is not None and now - self._at < OUTAGE_LOG_SECONDS:
                return
            self._at, count, self._since = now, self._since, 0
        first_line = (str(exc).strip().splitlines() or [""])[0]
        current_app.logger.error(
            "database unavailable, answering 503 (%d request(s) since the last report): %s: %s",
            count,
            type(exc).__name__,
            first_line,
        )


def _log_outage(exc: BaseException) -> None:
    log: _OutageLog = current_app.extensions["cpm_outage_log"]
    log.report(exc)


def _caused_by_outage(exc: BaseException) -> bool:
    """Whether an error was raised while handling a database outage (a library re-raising)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, DATABASE_UNAVAILABLE):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def database_unavailable(exc: Exception) -> Any:
    """503 with Retry-After, never a 500, while the database cannot be reached."""
    _log_outage(exc)
    _rollback()
    # The page must not touch the database again: the signed-in person is loaded from it.
    g._login_user = AnonymousUserMixin()
    g.database_unavailable = True
    if request.path.startswith("/api/"):
        response = jsonify(
            error="Service Unavailable",
            status=503,
            message="The service cannot reach its database. Try again shortly.",
        )
        response.status_code = 503
    else:
        title, status = _error(
            "Sorry, the service is unavailable",
            "The service cannot reach its database at the moment. Nothing you did caused "
            "this. Try again in a minute.",
            503,
        )
        response = current_app.make_response((title, status))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _frame_ancestors() -> list[str]:
    cached = current_app.extensions.get("cpm_frame_ancestors")
    now = time.monotonic()
    if cached is None or cached[0] < now:
        ttl = FRAME_ANCESTORS_TTL
        try:
            origins = frame_ancestors(db.session())
        except Exception as exc:  # headers must not turn a healthy response into a 500
            if isinstance(exc, DATABASE_UNAVAILABLE):
                _rollback()  # the outage is reported by the request's own 503
            else:
                current_app.logger.exception("could not read frame ancestors")
            # Keep the LMSs we knew (pages stay frameable), and look again soon.
            origins, ttl = (cached[1] if cached else []), 5.0
        cached = (now + ttl, origins)
        current_app.extensions["cpm_frame_ancestors"] = cached
    return cached[1]


def _set_nonce() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)


def _security_headers(response: Response) -> Response:
    nonce = getattr(g, "csp_nonce", "")
    # A view that must only ever be a top-level page (clickjacking) sets g.deny_framing.
    if getattr(g, "deny_framing", False):
        ancestors = "'none'"
    else:
        # g.frame_ancestors_extra: an LMS not registered yet, registering (lti/dynreg.py).
        extra = getattr(g, "frame_ancestors_extra", [])
        ancestors = " ".join(["'self'", *_frame_ancestors(), *extra])
    # A deep linking answer posts to the LMS's return URL: that page alone (g.form_action,
    # one checked origin) may send a form there.
    form_action = " ".join(["'self'", *([g.form_action] if g.get("form_action") else [])])
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; "
        f"form-action {form_action}; "
        f"frame-ancestors {ancestors}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Same-origin: addresses within the tool never leak to other sites.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    if response.mimetype == "text/html" and "Cache-Control" not in response.headers:
        # Pages carry people's names and records: never keep them in shared caches.
        response.headers["Cache-Control"] = "no-store"
    return response


def _navigation() -> list[dict[str, Any]]:
    """The service navigation: the module for everyone, the team for managers, HR's pages
    for HR."""
    if g.get("database_unavailable") or not current_user or not current_user.is_authenticated:
        return []
    from app.models import Role

    items = [("Your module", url_for("learner.home"), request.blueprint == "learner")]
    hr = current_user.role in (Role.HR, Role.ADMIN)
    # HR's list of everyone is among HR's pages ("People"), not a team page.
    if not hr and (current_user.role is Role.MANAGER or current_user.manages_anyone):
        items.append(("Your team", url_for("manager.team"), request.blueprint == "manager"))
    if hr:
        items.append(
            (
                "HR",
                url_for("hr.quiz_statistics")
                if "hr.dashboard" not in current_app.view_functions
                else url_for("hr.dashboard"),
                request.blueprint == "hr",
            )
        )
    return [{"href": href, "text": text, "active": active} for text, href, active in items]


def large_body(limit: int) -> Callable[[V], V]:
    """Let a view take a request body up to `limit` bytes, above MAX_CONTENT_LENGTH."""

    def mark(view: V) -> V:
        view.max_request_bytes = limit  # type: ignore[attr-defined]
        return view

    return mark


def limit_request_size() -> None:
    """Refuse a request body over its view's limit before anything reads it.

    Run before CSRF, which reads the form: otherwise a 1 GB anonymous upload was spooled to
    disk before being refused.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    limit = getattr(view, "max_request_bytes", None) or current_app.config["MAX_CONTENT_LENGTH"]
    request.max_content_length = limit
    if request.content_length is None and _chunked():
        _take_chunked_body(limit)
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(_too_large(limit))


def _chunked() -> bool:
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _take_chunked_body(limit: int) -> None:
    """Read a body sent without a length, up to one byte over the limit, and refuse it if over.

    Werkzeug would otherwise cut it off at the limit silently and parse what it had.
    """
    source = request.environ["wsgi.input"]
    body = tempfile.SpooledTemporaryFile(max_size=512 * 1024)  # noqa: SIM115 (the request's)
    size = 0
    while size <= limit:
        chunk = source.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            break
        body.write(chunk)
        size += len(chunk)
    if size > limit:
        body.close()
        raise RequestEntityTooLarge(_too_large(limit))
    body.seek(0)
    request.environ["wsgi.input"] = body
    request.environ["CONTENT_LENGTH"] = str(size)
    del request.environ["HTTP_TRANSFER_ENCODING"]  # the body is now of known length


def _too_large(limit: int) -> str:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    return (
        f"What you sent is larger than this page accepts ({size} at most), so nothing was "
        "saved. If you were uploading a file, go back and choose a smaller one."
    )


def _error(title: str, message: str, status: int) -> tuple[str, int]:
    return render_template("errors/error.html", title=title, message=message), status


def init_web(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseId  # before any blueprint adds its routes
    app.register_blueprint(assets)
    app.register_blueprint(ops)
    app.extensions["cpm_outage_log"] = _OutageLog()
    init_govuk(app)
    app.before_request(_set_nonce)
    app.after_request(_security_headers)

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"cspNonce": getattr(g, "csp_nonce", ""), "navigation": _navigation()}

    app.add_template_filter(long_date, "long_date")
    app.add_template_filter(long_datetime, "long_datetime")
    app.add_template_filter(whole_percent, "whole_percent")
    app.add_template_filter(percent, "percent_text")
    app.add_template_filter(points, "points_text")

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> tuple[str, int]:
        return _error(
            "Your form has expired",
            "The page was open too long or was sent twice. Go back, reload the page and try again.",
            400,
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        # The exception's own headers, such as a 405's Allow (RFC 9110), go with our body.
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        if request.path.startswith("/api/"):
            if exc.code == 413:
                return jsonify(error=exc.name, status=413, message=exc.description), 413, headers
            return jsonify(error=exc.name, status=exc.code), exc.code, headers
        titles = {
            404: "Page not found",
            403: "You cannot see this page",
            405: "This page cannot be used like that",
            413: "What you sent is too large",
        }
        page, status = _error(
            titles.get(exc.code or 0, exc.name), exc.description or "", exc.code or 500
        )
        return page, status, headers

    for unavailable in DATABASE_UNAVAILABLE:
        app.register_error_handler(unavailable, database_unavailable)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if _caused_by_outage(exc):
            return database_unavailable(exc)
        app.logger.exception("unexpected error on %s %s", request.method, request.path)
        _rollback()
        if request.path.startswith("/api/"):  # an HR system reads JSON, even from a bug
            return jsonify(error="Internal Server Error", status=500), 500
        return _error(
            "Sorry, there is a problem with the service",
            "Try again later. If it keeps happening, tell your learning portal's administrator.",
            500,
        )
