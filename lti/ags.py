"""Sending a score to the LMS with LTI Assignment and Grade Services (pylti1p3's client).

When the launch names no line item (only the course's line items container), the module's
line item is found by the `resource_link_id` and `tag` filters of AGS 2.0 (all pages, and
checked again here since a platform may ignore the filters) or created, then reused: a
find each time rather than a cache, so that a column the LMS deleted is made again. Two
senders that create at once (two processes) both list again after creating, keep the
first listed and delete their own extra one, so the gradebook ends with one column."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.registration import Registration
from pylti1p3.service_connector import ServiceConnector
from sqlalchemy.orm import Session

from app.models import PlatformRegistration
from app.services.outbox import SendFailed
from lti import paging
from lti.registry import Origin, RegistrationInfo, Registry, url_origin
from lti.tool_conf import DbToolConf

T = TypeVar("T")
LINEITEM_TAG = "corporate-parenting"
TIMEOUT_SECONDS = 10
LINEITEMS_PAGE_SIZE = 100
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
log = logging.getLogger("cpm.outbox")


__all__ = ["SendFailed", "registration_for", "send_score", "with_fresh_token"]

_tokens: dict[str, tuple[str, float]] = {}


class _Connector(ServiceConnector):
    """pylti1p3's service client with access tokens kept per process until shortly before
    they expire, and forgotten when the platform stops accepting them."""

    def _get_cached_access_token(self, scope_key: str) -> str | None:
        cached = _tokens.get(scope_key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        return None

    def _cache_access_token(self, scope_key: str, access_token: str, expires_in: float) -> None:
        _tokens[scope_key] = (access_token, time.monotonic() + max(0.0, expires_in - 60))

    def forget_tokens(self) -> None:
        issuer = self._registration.get_issuer() or ""
        for key in [k for k in _tokens if k.startswith(issuer)]:
            del _tokens[key]

    def _scope_key(self, scopes: Any) -> str:
        # Keyed by issuer and client, readable, so that one registration's can be forgotten.
        return f"{self._registration.get_issuer()}|{self._registration.get_client_id()}|" + (
            " ".join(sorted(scopes))
        )


class _TimeoutSession(requests.Session):
    """pylti1p3 sets no timeout; an LMS that hangs must not hang the tool."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        return super().request(*args, **kwargs)


def service_origins(session: Session, registration_id: int) -> frozenset[Origin]:
    """Where this platform's service URLs may point (as lti/registry.py reads them): the
    tool sends its access token there, so a URL a platform hands back (a next page, a new
    line item's id) is used only on these origins."""
    row = session.get(PlatformRegistration, registration_id)
    if row is None:
        raise SendFailed("the platform registration no longer exists")
    urls = (row.auth_login_url, row.auth_token_url, row.jwks_url, *row.service_origins.split())
    return frozenset(o for u in urls if (o := url_origin(u)) is not None)


def registration_for(session: Session, registration_id: int) -> Registration:
    """pylti1p3's view of a registration, with the tool's signing key, for service calls."""
    row = session.get(PlatformRegistration, registration_id)
    if row is None:
        raise SendFailed("the platform registration no longer exists")
    info = RegistrationInfo(
        id=row.id,
        issuer=row.issuer,
        client_id=row.client_id,
        auth_login_url=row.auth_login_url,
        auth_token_url=row.auth_token_url,
        auth_audience=row.auth_audience,
        jwks_url=row.jwks_url,
    )
    return DbToolConf(session, Registry()).to_registration(info)


def send_score(
    session: Session,
    *,
    registration_id: int,
    endpoint: dict[str, Any],
    resource_link_id: str,
    user_id: str,
    score_given: int,
    score_maximum: int,
    timestamp: datetime,
    label: str,
) -> None:
    registration = registration_for(session, registration_id)
    origins = service_origins(session, registration_id)
    connector = _Connector(registration, _TimeoutSession())
    service = AssignmentsGradesService(connector, endpoint)  # type: ignore[arg-type]
    grade = (
        Grade()
        .set_score_given(score_given)
        .set_score_maximum(score_maximum)
        .set_timestamp(timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        .set_activity_progress("Completed")
        .set_grading_progress("FullyGraded")
        .set_user_id(user_id)
    )
    try:
        with_fresh_token(
            connector,
            lambda: _put(
                service, connector, origins, grade, endpoint, resource_link_id, label, score_maximum
            ),
        )
    except (LtiServiceException, LtiException, requests.RequestException) as exc:
        raise _failure(exc, registration.get_auth_token_url()) from exc


def with_fresh_token(connector: _Connector, call: Callable[[], T]) -> T:
    """call(); if the platform refuses the cached access token (401: a token from before it
    rotated its keys or restarted), fetch a new one and call again, once."""
    try:
        return call()
    except LtiServiceException as exc:
        if getattr(exc, "response", None) is None or exc.response.status_code != 401:
            raise
        connector.forget_tokens()
        return call()


def _put(
    service: AssignmentsGradesService,
    connector: _Connector,
    origins: frozenset[Origin],
    grade: Grade,
    endpoint: dict[str, Any],
    resource_link_id: str,
    label: str,
    score_maximum: int,
) -> None:
    if endpoint.get("lineitem"):
        service.put_grade(grade)
        return
    # The platform gave no line item for this link: find ours, or create it.
    wanted = {
        "scoreMaximum": score_maximum,
        "label": label,
        "resourceLinkId": resource_link_id,
        "tag": LINEITEM_TAG,
    }
    item_id = find_or_create_lineitem(connector, origins, endpoint, wanted)
    service.put_grade(grade, LineItem({"id": item_id}))


def find_or_create_lineitem(
    connector: _Connector,
    origins: frozenset[Origin],
    endpoint: dict[str, Any],
    wanted: dict[str, Any],
) -> str:
    """The id (URL) of the line item with wanted's tag and resourceLinkId in the container
    endpoint["lineitems"], created with `wanted` if there is none."""
    container = endpoint["lineitems"]
    scopes = [s for s in endpoint.get("scope", []) if isinstance(s, str)]
    found = _ours(connector, origins, container, scopes, wanted)
    if found:
        return found[0]
    if AGS + "lineitem" not in scopes:
        raise SendFailed("the LMS offers no line item for this link and may not let us make one")
    answer = connector.make_service_request(
        scopes,
        container,
        is_post=True,
        data=json.dumps(wanted),
        content_type=LINEITEM_TYPE,
        accept=LINEITEM_TYPE,
    )
    body = answer["body"]
    created = body.get("id") if isinstance(body, dict) else None
    if not isinstance(created, str) or url_origin(created) not in origins:
        raise SendFailed("the LMS created a line item without an id on its own origins")
    # Another sender (another process) may have created one at the same moment.
    found = _ours(connector, origins, container, scopes, wanted)
    keep = found[0] if found else created
    if keep != created:
        _delete(connector, scopes, created)
    return keep


def _ours(
    connector: _Connector,
    origins: frozenset[Origin],
    container: str,
    scopes: list[str],
    wanted: dict[str, Any],
) -> list[str]:
    """Ids of the line items for wanted's link and tag, in the platform's order."""
    query = {
        "resource_link_id": wanted["resourceLinkId"],
        "tag": wanted["tag"],
        "limit": str(LINEITEMS_PAGE_SIZE),
    }
    url = container + ("&" if "?" in container else "?") + urlencode(query)
    ids = []
    for page in paging.pages(connector, scopes, url, LINEITEMS_TYPE, origins, TIMEOUT_SECONDS):
        if not isinstance(page.body, list):
            raise SendFailed("the LMS's line items are not a JSON list")
        for item in page.body:
            if (
                isinstance(item, dict)
                and item.get("tag") == wanted["tag"]
                and item.get("resourceLinkId") == wanted["resourceLinkId"]
                and isinstance(item.get("id"), str)
                and url_origin(item["id"]) in origins
            ):
                ids.append(item["id"])
    return ids


def _delete(connector: _Connector, scopes: list[str], url: str) -> None:
    """Remove the duplicate we just made (it holds no score); a failure only leaves an
    empty column, which is logged, never a reason to hold the score back."""
    try:
        token = connector.get_access_token(scopes)
        response = connector._requests_session.delete(
            url, headers={"Authorization": "Bearer " + token}
        )
        if not response.ok:
            log.warning("could not delete a duplicate line item: HTTP %s", response.status_code)
    except requests.RequestException as exc:
        log.warning("could not delete a duplicate line item: %s", exc.__class__.__name__)


def _failure(exc: Exception, token_url: str | None) -> SendFailed:
    """What the LMS answered, without our request (its Authorization header holds the token).

    The status counts only from the score and line item services: a token endpoint's 400
    (Moodle's when it could not fetch our JWKS in time, or a registration being fixed) may
    well change, so it is retried like an outage."""
    response = _response_of(exc)
    message = _describe(exc)
    if response is None:
        return SendFailed(message)
    if token_url and response.url.split("?")[0] == token_url.split("?")[0]:
        return SendFailed(message + " (the token endpoint)", answer=response.text)
    return SendFailed(message, status=response.status_code, answer=response.text)


def _describe(exc: Exception) -> str:
    response = _response_of(exc)
    if response is not None:
        return f"{exc.__class__.__name__}: HTTP {response.status_code} from {response.url}"
    return f"{exc.__class__.__name__}: {exc}"[:500]


def _response_of(exc: Exception) -> requests.Response | None:
    response = getattr(exc, "response", None)
    if response is None and exc.args and isinstance(exc.args[-1], requests.Response):
        response = exc.args[-1]
    return response if isinstance(response, requests.Response) else None
