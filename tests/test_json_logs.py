"""LOG_FORMAT=json: every line the tool and gunicorn write is one JSON object, the access
log's included, and the access log stays redacted."""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskCliRunner

from app.config import Settings
from app.logs import JsonFormatter
from tests.conftest import ORG
from tests.web.test_gunicorn import served
from tests.web.test_metrics import AUTH, TOKEN, totals


def lines(path: Path) -> list[dict[str, Any]]:
    """Each line of a log file, parsed: one that is not a JSON object fails the test."""
    parsed = []
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        assert isinstance(entry, dict), line
        parsed.append(entry)
    return parsed


def test_an_app_log_line_is_one_json_object_with_the_request_id_and_the_exception(
    make_app: Any,
) -> None:
    app: Flask = make_app(LOG_FORMAT="json")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("cpm.test")
    logger.addHandler(handler)
    try:
        with app.test_request_context(headers={"X-Request-Id": "req-4711"}):
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                logger.exception('failed for "%s"\non two lines', "Aisha")
        with app.test_request_context(headers={"X-Request-Id": "no spaces <allowed>"}):
            logger.warning("a client's made-up id is left out")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "ERROR" and first["logger"] == "cpm.test"
    assert first["message"] == 'failed for "Aisha"\non two lines'
    assert first["request_id"] == "req-4711"
    assert first["exception"].startswith("Traceback") and "RuntimeError: boom" in first["exception"]
    assert first["time"].endswith("+00:00")
    assert "request_id" not in second


@pytest.mark.parametrize("value", ["text", "json"])
def test_the_log_format_setting(tmp_path: Path, value: str) -> None:
    settings = Settings.from_env(tmp_path, {"SECRET_KEY": "x", "LOG_FORMAT": value})
    assert value == settings.LOG_FORMAT


def test_an_unknown_log_format_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of text, json"):
        Settings.from_env(tmp_path, {"SECRET_KEY": "x", "LOG_FORMAT": "xml"})


@pytest.mark.slow
def test_gunicorn_and_the_app_log_json_lines_and_the_access_log_stays_redacted(
    database_url: str, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(args=["lti", "registration-url", "--org", ORG])
    assert result.exit_code == 0, result.output
    invite_url = next(w for w in result.output.split() if "/lti/register/" in w)
    invite = invite_url.rsplit("/", 1)[1]
    # METRICS_TOKEN alone: gunicorn.conf.py makes the workers' shared directory itself.
    with served(database_url, runner, tmp_path, LOG_FORMAT="json", METRICS_TOKEN=TOKEN) as (
        tool_url,
        _,
        _proc,
    ):
        answer = requests.get(
            tool_url + "/lti/register/" + invite,
            params={"openid_configuration": "http://127.0.0.1:9/x", "registration_token": "r-99"},
            headers={"X-Request-Id": "req-reg"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 303, answer.text
        refused = requests.post(
            tool_url + "/lti/launch",
            data={"id_token": "not-a-jwt", "state": "s"},
            headers={"X-Request-Id": "req-launch"},
            timeout=10,
        )
        assert refused.status_code == 400
        scrapes = {totals(tool_url) for _ in range(4)}
        assert len(scrapes) == 1, scrapes  # both workers' counts in each
        access = tmp_path / "access.log"
        deadline = time.monotonic() + 10
        while access.read_text().count("/metrics") < 4 and time.monotonic() < deadline:
            time.sleep(0.1)  # gunicorn writes each line after its response
    errors = lines(tmp_path / "stderr.log")
    assert {"time", "level", "logger", "message"} <= set(errors[0])
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["message"] for e in errors)
    [launch] = [e for e in errors if e.get("request_id") == "req-launch"]
    assert launch["logger"] == "cpm.lti" and launch["level"] == "WARNING"
    assert "outcome=rejected code=malformed_jwt" in launch["message"]

    entries = lines(tmp_path / "access.log")
    [registration] = [e for e in entries if e.get("request_id") == "req-reg"]
    assert registration["method"] == "GET" and registration["status"] == 303
    assert registration["path"] == "/lti/register/[redacted]"
    assert "registration_token=[redacted]" in registration["query"]
    assert registration["message"].startswith("GET /lti/register/[redacted]?")
    [metrics] = [e for e in entries if e.get("path") == "/metrics"][:1]
    assert metrics["status"] == 200 and isinstance(metrics["duration_ms"], float)
    everything = (tmp_path / "access.log").read_text() + (tmp_path / "stderr.log").read_text()
    for secret in (invite, "r-99", TOKEN, AUTH["Authorization"]):
        assert secret not in everything
