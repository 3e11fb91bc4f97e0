"""/api/v1: people and statuses for HR systems, as JSON pages or CSV, and its OpenAPI.

Every call but the description needs `Authorization: Bearer <token>` (a token HR made for
this organisation). No cookies, so no CSRF; calls are not audit events (too many), but each
token's last use is kept.

Rate limit: API_RATE_LIMIT (default 60 per minute) per live token, or per address for calls
without one or with a token that is not recognised (else random tokens would each get a fresh
allowance, and a counter in memory), counted by Flask-Limiter in memory in each process
by default; with API_RATE_LIMIT_STORAGE_URI=redis://... every machine shares one count.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_limiter import Limiter, RateLimitExceeded

from app.api.openapi import DEFAULT_PER_PAGE, DEFAULT_RATE_LIMIT, MAX_PAGE, MAX_PER_PAGE, document
from app.clock import today, utcnow
from app.db import db
from app.models import ApiToken
from app.services import api_tokens, exports, reports
from app.services.reports import Filters, Scope
from lti.routes import base_url  # the tool's public address (TOOL_BASE_URL)

bp = Blueprint("api", __name__, url_prefix="/api/v1")

REALM = "corporate-parenting"
PUBLIC = {"api.openapi"}
PAGING = ("page", "per_page")


# -- rate limiting ---------------------------------------------------------------------------
def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


def _token() -> ApiToken | None:
    """The live token the call carries, looked up once per request (the limiter asks first)."""
    if "api_token" not in g:
        raw = _bearer()
        g.api_token = api_tokens.authenticate(db.session(), raw, utcnow()) if raw else None
    token: ApiToken | None = g.api_token
    return token


def _limit_key() -> str:
    token = _token()
    # Counted per live token (its hash, never the token); failed authentication per address,
    # so that inventing tokens buys no new allowance.
    return f"token:{token.token_hash}" if token else f"addr:{request.remote_addr}"


def _limit_value() -> str:
    return str(current_app.config.get("API_RATE_LIMIT") or DEFAULT_RATE_LIMIT)


@bp.record_once
def _bind_limiter(state: BlueprintSetupState) -> None:
    """One limiter per app, limiting this blueprint only."""
    app = state.app
    assert isinstance(app, Flask)
    limiter = Limiter(
        key_func=_limit_key,
        storage_uri=app.config.get("API_RATE_LIMIT_STORAGE_URI") or "memory://",
        # A shared store that cannot be reached: each process counts in memory meanwhile
        # (the limit still holds per process) and goes back to the store when it answers,
        # rather than the API failing with it. Not waiting long for it to connect.
        in_memory_fallback_enabled=True,
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1},
        strategy="sliding-window-counter",
        key_prefix="cpm-api",
    )
    limiter.limit(_limit_value)(bp)
    # Flask-Limiter looks at every request of the app; the rest of the app is waved through
    # at once (a launch's three requests each paid for the full check).
    limiter.request_filter(lambda: request.blueprint != bp.name)
    limiter.init_app(app)
    app.extensions["cpm_api_limiter"] = limiter


def _limiter() -> Limiter:
    limiter: Limiter = current_app.extensions["cpm_api_limiter"]
    return limiter


@bp.after_request
def _rate_limit_headers(response: Response) -> Response:
    current = _limiter().current_limit
    if current is not None:
        response.headers["X-RateLimit-Limit"] = str(current.limit.amount)
        response.headers["X-RateLimit-Remaining"] = str(current.remaining)
        response.headers["X-RateLimit-Reset"] = str(int(current.reset_at))
        if response.status_code == 429:
            wait = max(1, math.ceil(current.reset_at - time.time()))
            response.headers["Retry-After"] = str(wait)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(RateLimitExceeded)
def _too_many(exc: RateLimitExceeded) -> Response:
    return _error(429, "Too Many Requests", f"Rate limit exceeded: {exc.description}.")


# -- answers ---------------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> Response:
    # json.dumps keeps the documented column order (Flask's provider sorts keys).
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )


def _error(
    status: int,
    error: str,
    message: str,
    *,
    fields: dict[str, str] | None = None,
    authenticate: str | None = None,
) -> Response:
    body: dict[str, Any] = {"error": error, "status": status, "message": message}
    if fields:
        body["fields"] = fields
    response = _json(body, status)
    if authenticate is not None:
        response.headers["WWW-Authenticate"] = authenticate
    return response


@bp.before_request
def _authenticate() -> Response | None:
    """The token must be live and of the organisation in the path (401, then 403)."""
    if request.endpoint in PUBLIC:
        return None
    raw = _bearer()
    if raw is None:
        return _error(
            401,
            "Unauthorized",
            "Send an API token as: Authorization: Bearer <token>.",
            authenticate=f'Bearer realm="{REALM}"',
        )
    token = _token()
    if token is None:
        return _error(
            401,
            "Unauthorized",
            "The API token is not recognised or has been revoked.",
            authenticate=f'Bearer realm="{REALM}", error="invalid_token"',
        )
    organisation_id = token.organisation_id
    db.session.commit()  # its last use
    if (request.view_args or {}).get("org_id") != organisation_id:
        return _error(
            403,
            "Forbidden",
            "This API token belongs to another organisation.",
            authenticate=f'Bearer realm="{REALM}", error="insufficient_scope"',
        )
    return None


def _query(org_id: int) -> tuple[Filters, int, int] | Response:
    """Filters and paging from the query string, or a 400 saying what is wrong."""
    params = request.args.to_dict(flat=False)
    unknown = sorted(set(params) - set(exports.FILTER_PARAMS) - set(PAGING))
    fields: dict[str, str] = {name: "Unknown parameter" for name in unknown}
    try:
        filters = exports.parse_filters(db.session(), org_id, params)
    except exports.FilterError as exc:
        fields.update(exc.errors)
        filters = Filters()
    numbers = {}
    for name, default, top in (("page", 1, MAX_PAGE), ("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)):
        raw = request.args.get(name, str(default)).strip()
        # isdecimal, not isdigit: int() refuses "²"; the length bounds what int() is given.
        value = int(raw) if raw.isdecimal() and len(raw) <= 12 else 0
        if not 1 <= value <= top:
            fields[name] = f"{name} must be a whole number from 1 to {top:,}"
        numbers[name] = value
    if fields:
        return _error(400, "Bad Request", "Some query parameters are not valid.", fields=fields)
    return filters, numbers["page"], numbers["per_page"]


def _asked(org_id: int) -> tuple[Scope, Filters, int, int] | Response:
    """What a people endpoint was asked for: scope, filters and paging; or the error."""
    query = _query(org_id)
    if isinstance(query, Response):
        return query
    try:
        scope = reports.scope_for(db.session(), org_id, current_app.config["POLICY_KEY"], today())
    except reports.NoPolicy:
        return _error(409, "Conflict", "No version of the policy is in force yet.")
    return (scope, *query)


# -- the endpoints ---------------------------------------------------------------------------
@bp.get("/organisations/<int:org_id>/people")
def people(org_id: int) -> Response:
    asked = _asked(org_id)
    if isinstance(asked, Response):
        return asked
    scope, filters, number, per_page = asked
    result = exports.page(db.session(), scope, filters, number, per_page)
    following = None
    if number * per_page < result.total:
        args: dict[str, Any] = request.args.to_dict(flat=False)
        args.update(page=[str(number + 1)], per_page=[str(per_page)])
        following = base_url() + url_for("api.people", org_id=org_id, **args)
    return _json(
        {
            "data": result.rows,
            "page": number,
            "per_page": per_page,
            "total": result.total,
            "next": following,
        }
    )


@bp.get("/organisations/<int:org_id>/people.csv")
def people_csv(org_id: int) -> Response:
    asked = _asked(org_id)
    if isinstance(asked, Response):
        return asked
    scope, filters, number, per_page = asked
    if any(name in request.args for name in PAGING):
        result = exports.page(db.session(), scope, filters, number, per_page)
        frame, total = result.frame, result.total
    else:
        frame = exports.table(db.session(), scope, filters)
        total = len(frame)
    name = exports.filename(scope.organisation.name, scope.when.today, "csv")
    response = Response(exports.to_csv(frame), content_type=exports.CONTENT_TYPES["csv"])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Total-Count"] = str(total)
    return response


@bp.get("/openapi.json")
def openapi() -> Response:
    server = base_url() + url_for("api.openapi").removesuffix("/openapi.json")
    storage = current_app.config.get("API_RATE_LIMIT_STORAGE_URI") or "memory://"
    return _json(document(server, _limit_value(), shared_count=storage != "memory://"))
