"""/metrics, in Prometheus's text format, for the people who run the tool.

Off unless METRICS_TOKEN is set: then nothing here is registered and no request pays for it.
When on, a scrape must carry the token (`Authorization: Bearer ...`); each request is timed
by its route, and the LTI endpoints count launches and refusals. Under gunicorn the counts of
all workers are added up (PROMETHEUS_MULTIPROC_DIR, gunicorn.conf.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

import lti.errors
from app.clock import utcnow
from app.db import DATABASE_UNAVAILABLE, db
from app.services import metrics
from lti.errors import LaunchError

bp = Blueprint("metrics", __name__)

STARTED = "cpm.metrics.started"
# The LTI endpoints whose refusals are counted, and the stage each is.
STAGES = {"lti.login": "login", "lti.launch": "launch", "lti.deep_link_choice": "deep_link"}


def init_app(app: Flask) -> None:
    if not app.config["METRICS_TOKEN_SHA256"]:
        return
    app.register_blueprint(bp)
    app.wsgi_app = _Timer(app.wsgi_app)  # type: ignore[method-assign]
    app.after_request(_observe)
    lti.errors.observer = _note_refusal


class _Timer:
    """Notes when a request arrives, before any other hook runs (one may refuse it)."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ[STARTED] = time.perf_counter()
        return self.wsgi_app(environ, start_response)


def _note_refusal(exc: LaunchError) -> None:
    # The class's code, not the instance's: the set of labels is the set of classes.
    if has_request_context():
        g.cpm_refusal = type(exc).code


def _observe(response: Response) -> Response:
    started = request.environ.get(STARTED)
    if started is not None:
        rule = request.url_rule
        metrics.REQUEST_SECONDS.labels(
            rule.rule if rule is not None else "unmatched",
            metrics.method_label(request.method),
            metrics.status_label(response.status_code),
        ).observe(time.perf_counter() - started)
    stage = STAGES.get(request.endpoint or "")
    if stage is not None:
        code = g.pop("cpm_refusal", None)
        if code is not None:
            metrics.REFUSALS.labels(stage, code).inc()
        elif stage == "launch" and response.status_code < 400:
            metrics.LAUNCHES.inc()
    return response


def _authorised(header: str) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    # Both sides are hashes of fixed length: the comparison takes the same time whatever
    # the token sent, and the token itself is kept nowhere.
    given = hashlib.sha256(token.strip().encode()).hexdigest()
    return hmac.compare_digest(given, current_app.config["METRICS_TOKEN_SHA256"])


@bp.get("/metrics")
def scrape() -> Response:
    header = request.headers.get("Authorization", "")
    if not _authorised(header):
        # 401 asks for the token; 403 says the one sent is wrong.
        status = 403 if header else 401
        answer = Response(
            "Forbidden\n" if header else "Unauthorised\n", status, mimetype="text/plain"
        )
        if status == 401:
            answer.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return answer
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every worker's files, the live and the exited
    else:
        registry.register(metrics.REGISTRY)
    families = list(_from_database())
    registry.register(_Families(families))
    response = Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


def _from_database() -> Iterable[Any]:
    """The database's figures, and whether it answered: while it is down the counts of
    requests are still worth a scrape (they show the outage)."""
    up = GaugeMetricFamily("cpm_database_up", "1 if the database answered this scrape.")
    try:
        families = list(metrics.DatabaseCollector(db.session(), utcnow()).collect())
    except DATABASE_UNAVAILABLE:
        with contextlib.suppress(*DATABASE_UNAVAILABLE):  # the pool replaces a lost connection
            db.session.rollback()
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    return [*families, up]


class _Families:
    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return self.families
