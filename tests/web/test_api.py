"""The API for HR systems through HTTP: tokens made and revoked on HR's page (shown once,
kept hashed), 401/403 for wrong, revoked and other councils' tokens, JSON pages and filters,
the CSV endpoint, the OpenAPI description, and the rate limit."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.clock import utcnow
from app.db import db
from app.models import ApiToken, AuditEvent, Organisation
from app.services import api_tokens
from app.services.exports import FILTER_PARAMS
from app.services.reports import COLUMNS
from tests.conftest import tool_client
from tests.learner_flow import csrf, read_all
from tests.web.test_acceptance import accept, passed
from tests.web.test_exports import DOCUMENTED, HOSTILE, add_roster_people, org_id

D = "demo-council.example"


@pytest.fixture
def hr(app: Flask, launched: Any) -> FlaskClient:
    """Priya (HR); Aisha completed, Lee in progress, and the roster-only people."""
    client = launched("u-priya")
    aisha = launched("u-aisha")
    passed(app, aisha)
    assert accept(aisha, "Aisha Khan").status_code == 302
    read_all(launched("u-lee"))
    add_roster_people(app)
    return client


def create_token(hr: FlaskClient, name: str = "iTrent nightly import") -> str:
    page = hr.get("/hr/api-tokens").get_data(as_text=True)
    response = hr.post("/hr/api-tokens", data={"csrf_token": csrf(page), "name": name})
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    match = re.search(r'id="new-token">(cpm_[A-Za-z0-9_-]{43})<', html)
    assert match, html
    assert "You will not be able to see this token again" in html
    return match.group(1)


def revoke(hr: FlaskClient, token: str) -> None:
    html = hr.get("/hr/api-tokens").get_data(as_text=True)
    [card] = [c for c in html.split('class="govuk-summary-card"') if token[:12] in c]
    link = re.search(r'href="(/hr/api-tokens/\d+/revoke)"', card)
    assert link
    page = hr.get(link.group(1))
    assert "Any system using this token will stop" in page.get_data(as_text=True)
    done = hr.post(link.group(1), data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert done.status_code == 302
    listed = hr.get(done.location).get_data(as_text=True)
    assert "revoked. It no longer works" in listed and "Revoked on" in listed


def api(app: Flask, path: str, token: str | None = None, **kw: Any) -> Any:
    """An HR system: no cookies, only the token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))
    return tool_client(app, use_cookies=False).get(path, headers=headers, **kw)


def people_url(app: Flask) -> str:
    return f"/api/v1/organisations/{org_id(app)}/people"


# -- tokens ----------------------------------------------------------------------------------
def test_a_token_is_shown_once_kept_hashed_then_only_its_prefix(
    app: Flask, hr: FlaskClient
) -> None:
    token = create_token(hr)
    listed = hr.get("/hr/api-tokens").get_data(as_text=True)
    assert token not in listed
    assert token[:12] in listed and "iTrent nightly import" in listed and "Never" in listed
    with app.app_context():
        [row] = db.session.scalars(select(ApiToken)).all()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.prefix == token[:12] and row.revoked_at is None
        stored = json.dumps({c.name: str(getattr(row, c.name)) for c in ApiToken.__table__.c})
        assert token not in stored
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "config_change")
        ).one()
        assert event.details["change"] == "api_token_created"
        assert token not in json.dumps(event.details)
    assert api(app, people_url(app), token).status_code == 200


def test_a_tokens_name_is_shown_as_text(hr: FlaskClient) -> None:
    create_token(hr, "<b>Payroll</b>")
    html = hr.get("/hr/api-tokens").get_data(as_text=True)
    assert "&lt;b&gt;Payroll&lt;/b&gt;" in html and "<b>Payroll" not in html


def test_a_token_needs_a_name(hr: FlaskClient) -> None:
    page = hr.get("/hr/api-tokens").get_data(as_text=True)
    response = hr.post("/hr/api-tokens", data={"csrf_token": csrf(page), "name": "   "})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in html and "Enter a name for the token" in html
    assert "cpm_" not in html


def test_creating_a_token_needs_the_forms_csrf_token(app: Flask, hr: FlaskClient) -> None:
    assert hr.post("/hr/api-tokens", data={"name": "x"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer cpm_notarealtoken", "Basic dXNlcjpwYXNz", "Bearer revoked"],
    ids=["none", "empty", "unknown", "not bearer", "revoked"],
)
def test_a_missing_wrong_or_revoked_token_gets_401(
    app: Flask, hr: FlaskClient, header: str | None
) -> None:
    if header == "Bearer revoked":
        token = create_token(hr)
        assert api(app, people_url(app), token).status_code == 200
        revoke(hr, token)
        header = f"Bearer {token}"
    headers = {"Authorization": header} if header else {}
    for path in (people_url(app), people_url(app) + ".csv"):
        response = api(app, path, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="')
        body = response.get_json()
        assert body["status"] == 401 and body["error"] == "Unauthorized" and body["message"]
        assert "Set-Cookie" not in response.headers


def test_revoking_is_recorded_and_only_in_ones_own_organisation(
    app: Flask, hr: FlaskClient
) -> None:
    token = create_token(hr)
    revoke(hr, token)
    with app.app_context():
        changes = [
            e.details["change"]
            for e in db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "config_change")
                .order_by(AuditEvent.seq)
            )
        ]
        assert changes == ["api_token_created", "api_token_revoked"]
        other = Organisation(name="Other Council")
        db.session.add(other)
        db.session.flush()
        theirs, _ = api_tokens.create(db.session, other.id, "theirs", utcnow())
        db.session.commit()
        their_id = theirs.id
    page = hr.get("/hr/api-tokens").get_data(as_text=True)
    assert "theirs" not in page
    assert hr.get(f"/hr/api-tokens/{their_id}/revoke").status_code == 404
    response = hr.post(f"/hr/api-tokens/{their_id}/revoke", data={"csrf_token": csrf(page)})
    assert response.status_code == 404
    with app.app_context():
        row = db.session.get(ApiToken, their_id)
        assert row is not None and row.revoked_at is None


def test_another_organisations_token_gets_403(app: Flask, hr: FlaskClient) -> None:
    ours = create_token(hr)
    with app.app_context():
        other = Organisation(name="Other Council")
        db.session.add(other)
        db.session.flush()
        _, theirs = api_tokens.create(db.session, other.id, "theirs", utcnow())
        db.session.commit()
        other_id = other.id
    for path in (people_url(app), people_url(app) + ".csv"):
        response = api(app, path, theirs)
        assert response.status_code == 403
        assert response.get_json()["status"] == 403
        assert "Aisha" not in response.get_data(as_text=True)
    response = api(app, f"/api/v1/organisations/{other_id}/people", ours)
    assert response.status_code == 403
    assert api(app, f"/api/v1/organisations/{other_id}/people", theirs).status_code == 200


def test_last_use_is_kept_at_most_once_a_minute_and_calls_are_not_audited(
    app: Flask, hr: FlaskClient, travel: Any
) -> None:
    token = create_token(hr)

    def state() -> tuple[Any, int]:
        with app.app_context():
            row = db.session.scalars(select(ApiToken)).one()
            events = db.session.scalar(select(func.count()).select_from(AuditEvent))
            return row.last_used_at, events or 0

    before = state()
    assert before[0] is None
    assert api(app, people_url(app), token).status_code == 200
    first = state()
    assert first[0] is not None and first[1] == before[1]
    assert api(app, people_url(app) + ".csv", token).status_code == 200
    assert state() == first
    travel(minutes=2)
    assert api(app, people_url(app), token).status_code == 200
    later = state()
    assert later[0] > first[0] and later[1] == before[1]
    assert "Never" not in hr.get("/hr/api-tokens").get_data(as_text=True)


# -- data ------------------------------------------------------------------------------------
def test_json_pages_through_everyone_in_a_stable_order(app: Flask, hr: FlaskClient) -> None:
    token = create_token(hr)
    url: str | None = people_url(app) + "?per_page=2"
    seen: list[dict[str, Any]] = []
    pages = 0
    while url:
        response = api(app, url, token)
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert set(body) == {"data", "page", "per_page", "total", "next"}
        assert body["per_page"] == 2 and body["page"] == pages + 1 and len(body["data"]) <= 2
        seen += body["data"]
        pages += 1
        url = body["next"]
        if url:
            assert url.startswith("https://tool.test/api/v1/") and "per_page=2" in url
    total = body["total"]
    assert total == 5 and pages == 3 and len(seen) == total  # Priya, Aisha, Lee, Maria, E001
    assert len({r["person_id"] for r in seen}) == total
    assert list(seen[0]) == ["person_id", *COLUMNS, "state", "overdue"]
    aisha = next(r for r in seen if r["email"] == f"aisha.khan@{D}")
    assert aisha["status"] == "Completed" and aisha["state"] == "certified"
    assert aisha["quiz_score"] == 100 and aisha["attempts"] == 1
    assert aisha["employee_id"] == "E010" and aisha["manager_name"] == "Maria Lopez"
    assert date.fromisoformat(aisha["valid_until"]) > date.fromisoformat(aisha["assigned_date"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", aisha["accepted_at_utc"])
    assert aisha["days_overdue"] is None and aisha["overdue"] is False
    late = next(r for r in seen if r["employee_id"] == "E001")
    assert late["days_overdue"] == 32 and late["overdue"] is True
    assert late["first_name"] == HOSTILE["first_name"]  # JSON is data, not a spreadsheet
    assert api(app, people_url(app) + "?page=9", token).get_json()["data"] == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=certified", {"E010"}),
        ("status=in_progress,certified", {"E010", None}),
        ("manager=E002", {"E010", "E001"}),
        ("overdue_only=true", {"E001"}),
        ("directorate=Housing", {"E010"}),
        ("include_leavers=true&directorate=Resources", {"E003"}),
        ("accepted_from=2000-01-01&accepted_to=2099-12-31", {"E010"}),
        ("accepted_from=2099-01-01", set()),
    ],
)
def test_json_filters_are_the_dashboards(
    app: Flask, hr: FlaskClient, query: str, expected: set[str | None]
) -> None:
    token = create_token(hr)
    body = api(app, f"{people_url(app)}?{query}", token).get_json()
    assert {r["employee_id"] for r in body["data"]} == expected
    assert body["total"] == len(body["data"])


def test_bad_query_parameters_get_400_saying_what_is_wrong(app: Flask, hr: FlaskClient) -> None:
    token = create_token(hr)
    for suffix in ("", ".csv"):
        response = api(
            app,
            f"{people_url(app)}{suffix}?status=bogus&page=0&per_page=5000&accepted_from=2026-02-31"
            "&overdue_only=maybe&statuses=certified",
            token,
        )
        assert response.status_code == 400
        fields = response.get_json()["fields"]
        assert set(fields) == {
            "status",
            "page",
            "per_page",
            "accepted_from",
            "overdue_only",
            "statuses",
        }


def test_the_csv_endpoint_gives_every_row_or_a_page_neutralised(
    app: Flask, hr: FlaskClient
) -> None:
    token = create_token(hr)
    response = api(app, people_url(app) + ".csv", token)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "corporate-parenting-test-borough-council-" in response.headers["Content-Disposition"]
    assert response.headers["X-Total-Count"] == "5"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"), newline="")))
    assert rows[0] == DOCUMENTED and len(rows) == 6
    hostile = dict(zip(DOCUMENTED, next(r for r in rows if r[0] == "E001"), strict=True))
    assert hostile["First name"] == "'" + HOSTILE["first_name"]
    assert hostile["Last name"] == "'+1" and hostile["Email"] == "'-2@evil.example"
    assert hostile["Job title"] == "'@SUM(A1)" and hostile["Department"] == "'\t=1"
    page = api(app, people_url(app) + ".csv?per_page=2&page=3&status=", token)
    assert page.headers["X-Total-Count"] == "5"
    assert len(list(csv.reader(io.StringIO(page.get_data().decode("utf-8-sig"))))) == 2
    filtered = api(app, people_url(app) + ".csv?status=certified", token)
    assert filtered.get_data().decode("utf-8-sig").count("\r\n") == 2


# -- the description and the limit -----------------------------------------------------------
def test_the_openapi_description_is_valid_json_with_paths_filters_and_errors(
    app: Flask, registered: Any
) -> None:
    response = api(app, "/api/v1/openapi.json")  # no token needed
    assert response.status_code == 200
    doc = json.loads(response.get_data())
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": "https://tool.test/api/v1"}]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    paths = doc["paths"]
    assert set(paths) == {
        "/organisations/{org_id}/people",
        "/organisations/{org_id}/people.csv",
        "/openapi.json",
    }
    for path in ("/organisations/{org_id}/people", "/organisations/{org_id}/people.csv"):
        op = paths[path]["get"]
        names = {p["$ref"].rsplit("/", 1)[1] for p in op["parameters"]}
        assert names == {"org_id", "page", "per_page", *FILTER_PARAMS}
        assert {"200", "400", "401", "403", "429"} <= set(op["responses"])
    person = doc["components"]["schemas"]["Person"]["properties"]
    assert list(person) == ["person_id", *COLUMNS, "state", "overdue"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if "$ref" in node else []
            return own + [r for v in node.values() for r in refs(v)]
        if isinstance(node, list):
            return [r for v in node for r in refs(v)]
        return []

    for ref in refs(doc):  # every reference resolves
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]


def test_over_the_rate_limit_gets_429_with_retry_after(
    make_app: Any, app: Flask, hr: FlaskClient
) -> None:
    token, other = create_token(hr), create_token(hr, "Payroll")
    limited = make_app(API_RATE_LIMIT="3 per minute")
    url = people_url(app)
    for _ in range(3):
        response = api(limited, url, token)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert "Retry-After" not in response.headers
    response = api(limited, url, token)
    assert response.status_code == 429
    # The window is a minute; the limits library reckons its reset in whole seconds, so the
    # wait said can be one more (61 was seen).
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.get_json()["status"] == 429
    assert api(limited, url, other).status_code == 200  # counted per token


def test_invented_tokens_are_limited_per_address_and_live_ones_keep_their_own_limit(
    make_app: Any, app: Flask, hr: FlaskClient
) -> None:
    token = create_token(hr)
    # 60 per hour, not the default's minute: 300 refused calls can outlast a minute on a
    # busy machine (CI met it), and the window's length is not what is tested here.
    limited = make_app(API_RATE_LIMIT="60 per hour")
    url = people_url(limited)
    statuses = [
        api(limited, url, f"cpm_{secrets.token_urlsafe(32)}").status_code for _ in range(300)
    ]
    # Each invented token once, all from one address: refused as such up to the limit, then
    # limited, the 61st included.
    assert statuses[:60] == [401] * 60
    assert statuses[60:] == [429] * 240
    assert api(limited, url).status_code == 429  # no token: the same address's count
    response = api(limited, url, token)  # a live token from that address has its own
    assert response.status_code == 200
    assert response.headers["X-RateLimit-Limit"] == "60"
    assert response.headers["X-RateLimit-Remaining"] == "59"
    elsewhere = tool_client(limited, use_cookies=False).get(
        url,
        headers={"Authorization": "Bearer cpm_invented"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert elsewhere.status_code == 401  # another address is counted apart
