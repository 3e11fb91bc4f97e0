"""/metrics: off by default, behind a bearer token, scraped and parsed as Prometheus does,
after real launches, refusals, scores and e-mails; and through gunicorn's two workers."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.metrics import _observe, _Timer
from scripts.bench_common import gunicorn_pids
from scripts.demo_lms.platform import DemoPlatform
from tests.conftest import tool_client
from tests.lti_flow import Flow, parse_form
from tests.web.test_acceptance import accept, passed
from tests.web.test_grade_passback import lms  # noqa: F401 (a fixture)
from tests.web.test_gunicorn import served
from tests.web.test_team import Inbox, council, inbox, remind  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-" + "7" * 32
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def app(make_app: Any) -> Flask:
    """The app with metrics on (the scores are sent by `outbox run`, not by a thread)."""
    return make_app(  # type: ignore[no-any-return]
        METRICS_TOKEN_SHA256=hashlib.sha256(TOKEN.encode()).hexdigest(), OUTBOX_POLL_SECONDS=0
    )


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_are_off_unless_a_token_is_set_and_then_no_hook_runs(make_app: Any) -> None:
    plain = make_app()
    client = tool_client(plain)
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=AUTH).status_code == 404
    assert _observe not in plain.after_request_funcs.get(None, [])
    assert not isinstance(plain.wsgi_app, _Timer)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer"}, 403),
        ({"Authorization": "Bearer wrong"}, 403),
        ({"Authorization": f"Bearer {TOKEN[:-1]}"}, 403),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403),
        ({"Authorization": f"Basic {TOKEN}"}, 403),
        ({"Authorization": f"bearer {TOKEN}"}, 200),
        (AUTH, 200),
    ],
)
def test_a_scrape_needs_the_bearer_token(
    client: FlaskClient, headers: dict[str, str], status: int
) -> None:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    if status != 200:
        assert "cpm_" not in response.get_data(as_text=True)


def test_the_token_in_the_address_is_not_enough(client: FlaskClient) -> None:
    assert client.get("/metrics", query_string={"token": TOKEN}).status_code == 401


@pytest.mark.parametrize(("length", "accepted"), [(31, False), (32, True)])
def test_a_short_token_is_refused_at_start_up_and_only_its_hash_is_kept(
    tmp_path: Path, length: int, accepted: bool
) -> None:
    token = secrets.token_hex(32)[:length]
    env = {"SECRET_KEY": "x", "METRICS_TOKEN": token}
    if not accepted:
        with pytest.raises(ValueError, match="at least 32 characters"):
            Settings.from_env(tmp_path, env)
        return
    settings = Settings.from_env(tmp_path, env).as_dict()
    assert settings["METRICS_TOKEN_SHA256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(settings)


def test_launches_and_refusals_are_counted_by_code_and_stage(
    client: FlaskClient, registered: DemoPlatform, http: requests.Session
) -> None:
    before = scrape(client)
    flow = Flow(client, registered, http)
    form = flow.platform_answer(flow.auth_query("u-aisha"))
    assert flow.launch(form).status_code == 200  # the launch answers with the first page
    assert flow.launch_as("u-tom").status_code == 200
    assert flow.launch(form).status_code == 401  # the same id_token again
    refused = flow.login(iss="https://unknown-lms.example/" + secrets.token_hex(8))
    assert refused.status_code == 403
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("cpm_lti_launches_total") == 2
    assert delta("cpm_lti_refusals_total", stage="launch", code="replayed") == 1
    assert delta("cpm_lti_refusals_total", stage="login", code="unknown_issuer") == 1
    # Three launch requests answered, one of them with 401.
    route = {"route": "/lti/launch", "method": "POST"}
    assert delta("cpm_http_request_duration_seconds_count", **route, status="2xx") == 2
    assert delta("cpm_http_request_duration_seconds_count", **route, status="4xx") == 1


def test_labels_come_from_a_fixed_set_never_from_the_request(client: FlaskClient) -> None:
    before = scrape(client)
    secret = secrets.token_hex(8)
    assert client.get(f"/nowhere/{secret}").status_code == 404
    assert client.open("/lti/launch", method=f"X{secret}").status_code == 405
    assert client.get("/healthz").status_code == 200
    after = scrape(client)
    assert not any(secret in name or secret in str(labels) for name, labels in after)
    count = "cpm_http_request_duration_seconds_count"
    for labels, more in (
        ({"route": "unmatched", "method": "GET", "status": "4xx"}, 1),
        ({"route": "unmatched", "method": "other", "status": "4xx"}, 1),
        ({"route": "/healthz", "method": "GET", "status": "2xx"}, 1),
    ):
        assert value(after, count, **labels) - value(before, count, **labels) == more, labels
    # The histogram's buckets are cumulative, up to +Inf which holds every request.
    healthz = {"route": "/healthz", "method": "GET", "status": "2xx"}
    assert value(after, "cpm_http_request_duration_seconds_bucket", **healthz, le="+Inf") == (
        value(after, count, **healthz)
    )


def test_a_score_waiting_in_the_outbox_and_its_age(
    app: Flask,
    lms: DemoPlatform,  # noqa: F811
    launched: Any,
    client: FlaskClient,
    runner: FlaskCliRunner,
    travel: Any,
) -> None:
    empty = scrape(client)
    assert value(empty, "cpm_score_outbox_waiting", state="sending") == 0
    assert value(empty, "cpm_score_outbox_oldest_waiting_seconds", state="sending") == 0
    assert value(empty, "cpm_database_up") == 1
    learner = launched("u-aisha")
    passed(app, learner)
    assert accept(learner, "Aisha Khan").status_code == 302
    travel(minutes=10)
    waiting = scrape(client)
    assert value(waiting, "cpm_score_outbox_waiting", state="sending") == 1
    assert value(waiting, "cpm_score_outbox_waiting", state="refused") == 0
    age = value(waiting, "cpm_score_outbox_oldest_waiting_seconds", state="sending")
    assert 600 <= age < 900
    result = runner.invoke(args=["outbox", "run"])
    assert "Sent 1" in result.output, result.output
    sent = scrape(client)
    assert value(sent, "cpm_score_outbox_waiting", state="sending") == 0
    assert value(sent, "cpm_score_outbox_oldest_waiting_seconds", state="sending") == 0


def test_an_e_mail_the_smtp_server_refuses_is_counted(
    client: FlaskClient,
    council: dict[str, Any],  # noqa: F811
    launched: Any,
    inbox: Inbox,  # noqa: F811
) -> None:
    before = scrape(client)
    inbox.refuse = True
    tom = launched("u-tom")
    assert "451" in remind(tom, council["E1001"].id)
    after = scrape(client)
    assert value(after, "cpm_email_failures_total") - value(before, "cpm_email_failures_total") == 1
    assert value(after, "cpm_reminders_undelivered", outcome="retrying") == 1
    assert value(after, "cpm_reminders_undelivered", outcome="failed") == 0


def _workers(proc: subprocess.Popen[str]) -> set[int]:
    """gunicorn's worker processes: its master's children."""
    return set(gunicorn_pids(proc.pid)[1:])


def totals(tool_url: str) -> tuple[float, float, float]:
    """Launches, replayed launches and /healthz requests, as one scrape reports them."""
    answer = requests.get(tool_url + "/metrics", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    samples = parse(answer.text)
    healthz = {"route": "/healthz", "method": "GET", "status": "2xx"}
    return (
        value(samples, "cpm_lti_launches_total"),
        value(samples, "cpm_lti_refusals_total", stage="launch", code="replayed"),
        value(samples, "cpm_http_request_duration_seconds_count", **healthz),
    )


@pytest.mark.slow
def test_two_gunicorn_workers_counts_add_up_in_every_scrape(
    database_url: str, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")
    with served(
        database_url,
        runner,
        tmp_path,
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(directory),
    ) as (tool_url, platform, proc):
        assert not (directory / "counter_1.db").exists()  # emptied at start
        browser = requests.Session()
        start = browser.get(platform.login_initiation_url("u-aisha", "cp-2026"))
        action, fields = parse_form(start.text)
        assert browser.post(action, data=fields).status_code == 200
        assert requests.post(action, data=fields, timeout=10).status_code == 401  # replayed
        healthz = totals(tool_url)[2]
        for _ in range(40):  # a new connection each: both workers answer some
            assert requests.get(tool_url + "/healthz", timeout=10).status_code == 200
        pids = {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("histogram_*.db")}
        assert len(pids) == 2 and pids == _workers(proc)
        # Whichever worker answers the scrape, it reports both workers' counts.
        expected = (1, 1, healthz + 40)
        assert {totals(tool_url) for _ in range(6)} == {expected}
        # A worker that dies (gunicorn starts another) leaves its counts in the sum.
        os.kill(min(pids), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while not _workers(proc) - pids and time.monotonic() < deadline:
            time.sleep(0.1)
        assert totals(tool_url) == expected
