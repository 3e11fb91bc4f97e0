"""The production server: gunicorn with two workers, a launch through real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskCliRunner

from scripts.demo_lms.platform import DemoPlatform
from scripts.demo_lms.server import create_platform_app
from tests.conftest import ORG, LiveServer, app_url
from tests.learner_flow import csrf
from tests.lti_flow import parse_form
from tests.web.test_acceptance import passed

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(
    database_url: str, runner: FlaskCliRunner, tmp_path: Path, **env: str
) -> Iterator[tuple[str, DemoPlatform, subprocess.Popen[str]]]:
    """gunicorn.conf.py's server with two workers, a platform registered, and `env` set;
    stderr goes to tmp_path/stderr.log and the access log to tmp_path/access.log."""
    port = free_port()
    tool_url = f"http://127.0.0.1:{port}"
    platform = DemoPlatform(issuer="http://placeholder", tool_base_url=tool_url)
    lms_server = LiveServer(create_platform_app(platform))
    platform.issuer = lms_server.url
    lms_server.start()
    assert runner.invoke(args=platform.register_command(ORG)).exit_code == 0
    assert runner.invoke(args=["lti", "ensure-key"]).exit_code == 0
    assert runner.invoke(args=["content", "publish"]).exit_code == 0
    stderr = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(tmp_path / "access.log"),
            "app:create_app()",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": app_url(database_url),
            "TOOL_BASE_URL": tool_url,
            "COOKIE_SECURE": "0",
            "SECRET_KEY": "gunicorn-test-secret",
            **env,
        },
        stdout=stderr,
        stderr=stderr,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(tool_url + "/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("gunicorn did not start:\n" + (tmp_path / "stderr.log").read_text())
            time.sleep(0.2)
        yield tool_url, platform, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        stderr.close()
        lms_server.stop()


@pytest.fixture
def gunicorn(
    database_url: str, runner: FlaskCliRunner, tmp_path: Path
) -> Iterator[tuple[str, DemoPlatform]]:
    with served(database_url, runner, tmp_path) as (tool_url, platform, _):
        yield tool_url, platform


@pytest.mark.slow
def test_launch_through_gunicorn_and_the_platform_over_real_http(
    gunicorn: tuple[str, DemoPlatform],
) -> None:
    tool_url, platform = gunicorn
    browser = requests.Session()
    for user, name in (("u-aisha", "Aisha Khan"), ("u-tom", "Tom Price")):
        start = browser.get(platform.login_initiation_url(user, "cp-2026"), allow_redirects=True)
        action, fields = parse_form(start.text)
        assert action == tool_url + "/lti/launch"
        # A new connection for the form_post, as after a trip through the LMS.
        page = browser.post(action, data=fields, headers={"Connection": "close"})
        # The launch answers with the first page itself, no redirect.
        assert page.status_code == 200
        assert not page.history
        assert f"Welcome, {name}" in page.text
    replay = requests.post(action, data=fields)
    assert replay.status_code == 401


@pytest.mark.slow
def test_gunicorn_refuses_a_1_gb_roster_upload_before_it_is_sent(
    gunicorn: tuple[str, DemoPlatform],
) -> None:
    tool_url, _ = gunicorn
    host, port = tool_url.removeprefix("http://").split(":")
    # Only the headers and a few bytes of the announced gigabyte: the answer must come anyway.
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /hr/roster HTTP/1.1\r\n"
            + f"Host: {host}:{port}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=x\r\n"
            + f"Content-Length: {1024**3}\r\n\r\n".encode()
            + b"--x\r\n"
        )
        answer = sock.recv(65536).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413 ")


@pytest.mark.slow
def test_gunicorn_refuses_a_chunked_body_over_the_limit(
    gunicorn: tuple[str, DemoPlatform],
) -> None:
    tool_url, _ = gunicorn
    limit = 256 * 1024  # MAX_CONTENT_LENGTH's default; a chunked body announces no length

    def chunks(size: int) -> Iterator[bytes]:
        yield b"name="
        yield b"n" * (size - len(b"name="))

    url = tool_url + "/hr/api-tokens"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = requests.post(url, data=chunks(limit + 1), headers=headers, timeout=10)
    assert refused.status_code == 413
    assert "(256 KB at most), so nothing was saved" in refused.text
    taken = requests.post(url, data=chunks(limit), headers=headers, timeout=10)
    assert taken.status_code == 400  # read whole, then refused by CSRF protection
    assert "Your form has expired" in taken.text


class Browser:
    """A learner's browser on the served tool, shaped like the Flask test client that the
    learner helpers (tests/learner_flow.py) drive: no redirects followed."""

    def __init__(self, tool_url: str) -> None:
        self.tool_url = tool_url
        self.http = requests.Session()

    def launch(self, platform: DemoPlatform, user_id: str) -> None:
        start = self.http.get(platform.login_initiation_url(user_id, "cp-2026"))
        action, fields = parse_form(start.text)
        assert action is not None
        page = self.http.post(action, data=fields)
        assert page.status_code == 200 and "Welcome," in page.text

    def _wrap(self, response: requests.Response) -> Any:
        response.get_data = lambda as_text=False: response.text if as_text else response.content  # type: ignore[attr-defined]
        response.location = response.headers.get("Location")  # type: ignore[attr-defined]
        return response

    def get(self, path: str) -> Any:
        return self._wrap(self.http.get(self.tool_url + path, allow_redirects=False))

    def post(self, path: str, data: dict[str, Any]) -> Any:
        return self._wrap(self.http.post(self.tool_url + path, data=data, allow_redirects=False))


@pytest.mark.slow
def test_accepting_answers_at_once_with_both_workers_busy_and_the_lms_fetching_our_jwks(
    gunicorn: tuple[str, DemoPlatform], app: Flask
) -> None:
    """Two learners accept at the same moment, one on each of gunicorn's two sync workers,
    and the LMS has no copy of the tool's keys, so its token endpoint calls /lti/jwks first.
    Sent inside the request, each worker waited on the LMS while the LMS waited for a worker
    (until its 5 s fetch timed out, and the score was refused). Now each POST only queues
    the score: it answers in a fraction of a second (2 s is a generous bound on a loaded
    test machine, well under the old hang), and the scores reach the LMS afterwards."""
    tool_url, platform = gunicorn
    assert platform.tool_jwks is None  # the LMS's cache is empty
    learners = {"u-aisha": "Aisha Khan", "u-lee": "Lee Morgan"}
    confirm: dict[str, tuple[Browser, dict[str, str]]] = {}
    for user, name in learners.items():
        browser = Browser(tool_url)
        browser.launch(platform, user)
        passed(app, browser)  # type: ignore[arg-type]
        page = browser.get("/accept").text
        sent = browser.post("/accept", {"csrf_token": csrf(page), "accept": "y", "full_name": name})
        assert sent.status_code == 302
        check = browser.get("/accept/check")
        assert check.status_code == 200
        fields = {"csrf_token": csrf(check.text), "accept": "y", "full_name": name}
        confirm[user] = (browser, fields)

    together = threading.Barrier(len(confirm))
    answers: dict[str, tuple[int, float]] = {}

    def accept(user: str) -> None:
        browser, fields = confirm[user]
        together.wait()
        started = time.monotonic()
        response = browser.post("/accept/confirm", fields)
        answers[user] = (response.status_code, time.monotonic() - started)

    threads = [threading.Thread(target=accept, args=(user,)) for user in confirm]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for user, (status, seconds) in answers.items():
        assert status == 302, user
        assert seconds < 2, f"{user}'s acceptance took {seconds:.1f} s"

    deadline = time.monotonic() + 30
    while len(platform.scores) < len(learners) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(s["userId"] for s in platform.scores) == sorted(learners)
    assert platform.tool_jwks_fetches >= 1  # the LMS did fetch the tool's keys


@pytest.mark.slow
def test_the_access_log_holds_no_registration_secret(
    gunicorn: tuple[str, DemoPlatform], runner: FlaskCliRunner, tmp_path: Path
) -> None:
    """gunicorn.conf.py's logger: the one-time registration link, the LMS's
    registration_token and the attempt page's key never reach the access log."""
    tool_url, _ = gunicorn
    result = runner.invoke(args=["lti", "registration-url", "--org", ORG])
    assert result.exit_code == 0, result.output
    invite_url = next(w for w in result.output.split() if "/lti/register/" in w)
    invite = invite_url.rsplit("/", 1)[1]
    answer = requests.get(
        invite_url.replace(invite_url.split("/lti/")[0], tool_url),
        params={
            "openid_configuration": "http://127.0.0.1:9/openid",
            "registration_token": "reg-secret-4711",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 303, answer.text
    attempt_path = answer.headers["Location"].split(tool_url)[-1]
    attempt_key = attempt_path.rsplit("/", 1)[1]
    assert requests.get(tool_url + attempt_path, timeout=10).status_code == 200
    log = tmp_path / "access.log"
    deadline = time.monotonic() + 10
    while log.read_text().count("/lti/register/") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # gunicorn writes each line after its response
    text = log.read_text()
    for secret in (invite, "reg-secret-4711", attempt_key):
        assert secret not in text, text
    assert "GET /lti/register/[redacted]?openid_configuration=" in text, text
    assert "&registration_token=[redacted]" in text, text
    assert "GET /lti/register/attempt/[redacted]" in text, text
