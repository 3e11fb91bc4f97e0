"""The API answers what its OpenAPI document declares, and declares what it answers.

schemathesis runs every one of its checks (the CLI's `--checks all`) through all its phases
against the document the app serves, with a live HR token so that the authorised paths are
exercised; then the answers it found undeclared before (404, 405 without Allow) one by one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from flask import Flask
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from app.clock import utcnow
from app.db import db
from app.services import api_tokens
from tests.conftest import LiveServer, tool_client
from tests.web.test_api import api
from tests.web.test_exports import org_id

# A schema-valid query may still be refused with 400 for what a schema cannot say: a manager
# who is not in the organisation, or accepted_to before accepted_from (the document says so).
SEMANTIC_400 = {"manager", "accepted_to"}


@schemathesis.check
def refuses_valid_data_only_for_documented_reasons(ctx: Any, response: Any, case: Any) -> None:
    meta = case.meta
    if response.status_code != 400 or meta is None or not meta.generation.mode.is_positive:
        return
    fields = set(response.json().get("fields", {}))
    if not fields or not fields <= SEMANTIC_400:
        raise AssertionError(f"schema-valid query refused for {sorted(fields)}")


# Enough to reach every check on both operations; the run takes about 20-40 s.
MAX_EXAMPLES = 25


@pytest.fixture
def token(app: Flask, registered: Any, launched: Any) -> str:
    launched("u-aisha")  # someone to list
    with app.app_context():
        _, raw = api_tokens.create(db.session, org_id(app), "contract test", utcnow())
        db.session.commit()
    return raw


def _request(recorder: Any, case_id: str) -> str:
    interaction = recorder.interactions.get(case_id)
    if interaction is None:
        return "no request"
    status = interaction.response.status_code if interaction.response else None
    return f"{interaction.request.method} {interaction.request.uri} -> {status}"


@pytest.mark.slow
def test_schemathesis_with_all_checks_finds_no_5xx_and_no_contract_failure(
    make_app: Any, registered: Any, token: str, app: Flask
) -> None:
    # Its own app on the same database, with room for every generated case under the limit,
    # served over real HTTP (schemathesis's WSGI transport fails in its fuzzing phase).
    server = LiveServer(make_app(API_RATE_LIMIT="100000 per minute")).start()
    config = SchemathesisConfig.from_dict(
        {
            "seed": 12,
            "base-url": server.url + "/api/v1",
            "headers": {"Authorization": f"Bearer {token}"},
            # Our organisation's id, so the token is accepted and the 200s are checked too.
            "parameters": {"path.org_id": org_id(app)},
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429"]
                },
            },
            "generation": {"max-examples": MAX_EXAMPLES},
            "phases": {"stateful": {"enabled": False}},  # nothing to chain: all GETs
        }
    )
    cases: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    checks: Counter[str] = Counter()
    failures: list[str] = []
    errors: list[str] = []
    finished = None
    try:
        schema = schemathesis.openapi.from_url(server.url + "/api/v1/openapi.json", config=config)
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                cases[event.phase.value] += len(event.recorder.cases)
                for interaction in event.recorder.interactions.values():
                    if interaction.response is not None:
                        statuses[interaction.response.status_code] += 1
                for case_id, nodes in event.recorder.checks.items():
                    checks.update(c.name for c in nodes)
                    failures.extend(
                        f"{event.label} [{event.phase.value}] {c.name}: {c.failure_info.failure}"
                        f" ({_request(event.recorder, case_id)})"
                        for c in nodes
                        if c.status == Status.FAILURE and c.failure_info is not None
                    )
            elif isinstance(event, events.NonFatalError):
                errors.append(f"{event.label}: {event.value!r}")
            elif isinstance(event, events.FatalError):
                errors.append(repr(event.exception))
            elif isinstance(event, events.EngineFinished):
                finished = event
    finally:
        server.stop()
    assert finished is not None
    failures += [f"{f.operation}: {f.title}: {f.message}" for f in finished.failures]
    print(f"schemathesis cases per phase: {dict(cases)}; statuses: {dict(statuses)}")
    print(f"checks run: {dict(checks)}")
    assert not errors, errors
    assert not failures, "\n".join(failures)
    assert not [s for s in statuses if s >= 500]
    assert sum(cases.values()) >= 100
    assert statuses[200] > 0 and statuses[400] > 0 and statuses[401] > 0


def test_an_organisation_id_that_cannot_exist_is_a_declared_404(app: Flask, token: str) -> None:
    response = api(app, "/api/v1/organisations/-1/people", token)
    assert response.status_code == 404
    assert response.json == {"error": "Not Found", "status": 404}
    document = api(app, "/api/v1/openapi.json").json
    for path in ("/organisations/{org_id}/people", "/organisations/{org_id}/people.csv"):
        declared = document["paths"][path]["get"]["responses"]
        assert {"404", "413", "503"} <= set(declared)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/api/v1/organisations/1/people", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/api/v1/openapi.json", {"GET", "HEAD", "OPTIONS"}),
        ("PUT", "/lti/jwks", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/lti/launch", {"POST", "OPTIONS"}),
        ("PATCH", "/healthz", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_405_names_the_allowed_methods(app: Flask, method: str, path: str, allow: set[str]) -> None:
    """RFC 9110 15.5.6: a 405 carries Allow, on the API and on pages alike."""
    response = tool_client(app, use_cookies=False).open(path, method=method)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allow
    if path.startswith("/api/"):
        assert response.json == {"error": "Method Not Allowed", "status": 405}
    else:
        assert "This page cannot be used like that" in response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["department", "directorate", "manager", "accepted_to"])
def test_a_nul_byte_in_a_filter_is_a_400_not_a_500(app: Flask, token: str, name: str) -> None:
    """PostgreSQL refuses NUL in text: the query must not reach it with one."""
    response = api(app, f"/api/v1/organisations/{org_id(app)}/people?{name}=a%00b", token)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["fields"] == {name: "Must not contain a NUL character"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=1000001", "page"),
        ("page=2605553172472878071808", "page"),  # schemathesis's: an offset past 64 bits
        ("page=%C2%B2", "page"),  # "²" is a digit to isdigit() but not to int()
        ("page=0", "page"),
        ("per_page=1001", "per_page"),
        ("per_page=%C2%B9", "per_page"),
    ],
)
def test_paging_out_of_range_is_a_declared_400(
    app: Flask, token: str, query: str, field: str
) -> None:
    response = api(app, f"/api/v1/organisations/{org_id(app)}/people?{query}", token)
    assert response.status_code == 400, response.get_data(as_text=True)
    top = {"page": "1,000,000", "per_page": "1,000"}[field]
    assert response.json["fields"] == {field: f"{field} must be a whole number from 1 to {top}"}
    declared = app.test_client().get("/api/v1/openapi.json").json["components"]["parameters"]
    assert declared[field]["schema"]["maximum"] == {"page": 1_000_000, "per_page": 1000}[field]


def test_the_last_page_allowed_answers_with_no_rows(app: Flask, token: str) -> None:
    response = api(app, f"/api/v1/organisations/{org_id(app)}/people?page=1000000", token)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["data"] == [] and response.json["next"] is None
