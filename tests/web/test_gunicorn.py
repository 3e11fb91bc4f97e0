"""The production server: gunicorn with two workers, a launch through real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskCliRunner

from scripts.demo_lms.platform import DemoPlatform
from scripts.demo_lms.server import create_platform_app
from tests.conftest import ORG, LiveServer, app_url
from tests.lti_flow import parse_form

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gunicorn(database_url: str, runner: FlaskCliRunner) -> Iterator[tuple[str, DemoPlatform]]:
    port = free_port()
    tool_url = f"http://127.0.0.1:{port}"
    platform = DemoPlatform(issuer="http://placeholder", tool_base_url=tool_url)
    lms = LiveServer(create_platform_app(platform))
    platform.issuer = lms.url
    lms.start()
    assert runner.invoke(args=platform.register_command(ORG)).exit_code == 0
    assert runner.invoke(args=["lti", "ensure-key"]).exit_code == 0
    assert runner.invoke(args=["content", "publish"]).exit_code == 0
    env = {
        **os.environ,
        "DATABASE_URL": app_url(database_url),
        "TOOL_BASE_URL": tool_url,
        "COOKIE_SECURE": "0",
        "SECRET_KEY": "gunicorn-test-secret",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
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
                pytest.fail(
                    "gunicorn did not start:\n" + (proc.stdout.read() if proc.stdout else "")
                )
            time.sleep(0.2)
        yield tool_url, platform
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
        lms.stop()


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
        assert page.status_code == 200
        assert page.url == tool_url + "/"
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
