"""A database outage under requests: every page answers 503 with Retry-After (JSON for the
API), never a 500; /lti/jwks keeps being served from memory; everything recovers after.

The outage is real and the shared PostgreSQL server is left alone:
- PostgreSQL: the app connects through a TCP forwarder that the test cuts (every open
  connection closed, new ones refused, as while the server restarts), then restores.
- SQLite: the database file is moved away and a directory put in its place, so it cannot be
  opened (whoever runs the tests: root ignores file permissions). Pooled SQLite connections
  keep the old file open and would never notice, so this app opens one per request (NullPool).
Other threads keep sending requests while the database goes away and comes back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.pool import NullPool

from app.clock import utcnow
from app.db import db
from app.services import api_tokens
from scripts.demo_lms.platform import DemoPlatform
from tests.conftest import app_url, tool_client
from tests.web.test_exports import org_id


class Forwarder:
    """A TCP forwarder on a loopback port that can be cut and restored."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> Forwarder:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        assert self._listener is not None
        # shutdown wakes the thread blocked in accept(); close alone would leave it listening.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def stop(self) -> None:
        if self._listener is not None:
            self.cut()


class Outage:
    def __init__(self, cut: Any, restore: Any) -> None:
        self.cut, self.restore = cut, restore


@pytest.fixture
def outage(database_url: str, tmp_path: Path) -> Iterator[tuple[dict[str, Any], Outage]]:
    """App settings that reach the database through something the test can break."""
    url = app_url(database_url)
    if url.startswith("postgresql"):
        parsed = sa.make_url(url)
        forwarder = Forwarder((parsed.host or "127.0.0.1", parsed.port or 5432)).start()
        proxied = parsed.set(host="127.0.0.1", port=forwarder.port)
        settings = {"SQLALCHEMY_DATABASE_URI": proxied.render_as_string(hide_password=False)}
        yield settings, Outage(forwarder.cut, forwarder.start)
        forwarder.stop()
        return
    path = Path(sa.make_url(url).database or "")
    aside = tmp_path / "moved-away"
    aside.mkdir()

    def cut() -> None:
        # The WAL stays: connections open at that moment finish with it, on the same file.
        os.rename(path, aside / path.name)
        while True:  # where the file was, a directory: SQLite cannot open it, even as root
            try:
                path.mkdir()
                return
            except FileExistsError:  # a request connected in between, creating an empty file
                path.unlink(missing_ok=True)

    def restore() -> None:
        path.rmdir()
        os.rename(aside / path.name, path)

    settings = {
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "connect_args": {"check_same_thread": False, "timeout": 30},
            "poolclass": NullPool,
        }
    }
    yield settings, Outage(cut, restore)
    if path.is_dir():
        restore()


@pytest.fixture
def app(make_app: Any, outage: tuple[dict[str, Any], Outage]) -> Flask:
    settings, _ = outage
    return make_app(API_RATE_LIMIT="1000 per minute", **settings)  # type: ignore[no-any-return]


def pages(
    app: Flask,
    lms_platform: DemoPlatform,
    learner: FlaskClient,
    hr: FlaskClient,
    token: str,
    org: int,
) -> dict[str, Any]:
    """One real request to each kind of page, by whoever uses it."""
    api = tool_client(app, use_cookies=False)
    lms = tool_client(app, use_cookies=False)
    return {
        "learner": lambda: learner.get("/"),
        "hr": lambda: hr.get("/hr/"),
        "api": lambda: api.get(
            f"/api/v1/organisations/{org}/people", headers={"Authorization": f"Bearer {token}"}
        ),
        "jwks": lambda: lms.get("/lti/jwks"),
        "login": lambda: lms.get(
            "/lti/login", query_string=lms_platform.login_params("u-aisha", "cp-2026")
        ),
        "healthz": lambda: lms.get("/healthz"),
    }


class Load:
    """Threads that keep calling the pages nobody signs in for, recording each status."""

    def __init__(self, app: Flask, lms_platform: DemoPlatform, token: str, org: int) -> None:
        self.app, self.lms_platform, self.token, self.org = app, lms_platform, token, org
        self.seen: dict[str, list[int]] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _run(self) -> None:
        client = tool_client(self.app, use_cookies=False)
        check = pages(self.app, self.lms_platform, client, client, self.token, self.org)
        while not self._stop.is_set():
            for name in ("api", "jwks", "login", "healthz"):
                self.seen.setdefault(name, []).append(check[name]().status_code)

    def start(self) -> Load:
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(3)]
        for thread in self._threads:
            thread.start()
        return self

    def wait_for_requests(self) -> None:
        """Until each page was called during the outage a few times."""
        for _ in range(400):
            if all(s.count(503) >= 3 for n, s in self.seen.items() if n != "jwks"):
                return
            self._stop.wait(0.05)

    def stop(self) -> dict[str, list[int]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return self.seen


def test_a_database_outage_answers_503_with_retry_after_and_jwks_from_memory(
    app: Flask,
    registered: DemoPlatform,
    launched: Any,
    outage: tuple[dict[str, Any], Outage],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, broken = outage
    learner, hr = launched("u-aisha"), launched("u-priya")
    org = org_id(app)
    with app.app_context():
        _, token = api_tokens.create(db.session, org, "iTrent", utcnow())
        db.session.commit()
    check = pages(app, registered, learner, hr, token, org)
    before = {name: call() for name, call in check.items()}
    assert {name: r.status_code for name, r in before.items()} == {
        "learner": 200,
        "hr": 200,
        "api": 200,
        "jwks": 200,
        "login": 302,  # to the LMS's auth endpoint, once the registration is read
        "healthz": 200,
    }
    keys = before["jwks"].json
    assert len(keys["keys"]) == 1

    # Requests keep coming while the database goes away and comes back: some are cut off
    # half-way (a query sent, the connection closed under it).
    caplog.clear()
    load = Load(app, registered, token, org).start()
    broken.cut()
    try:
        for _ in range(3):  # the first failure and the ones after it alike
            for name, call in check.items():
                response = call()
                body = response.get_data(as_text=True)
                if name == "jwks":
                    assert response.status_code == 200, body
                    assert response.json == keys
                    continue
                if name == "login":
                    # The login writes nothing (its state is signed) and the registration
                    # is kept in memory: it goes on to the LMS; the launch then answers 503.
                    assert response.status_code == 302, body
                    continue
                assert response.status_code == 503, (name, body)
                assert response.headers["Retry-After"] == "30"
                if name in ("api", "healthz"):
                    assert response.mimetype == "application/json"
                    assert response.json["status"] in (503, "unavailable")
                else:
                    assert response.mimetype == "text/html"
                    assert "Sorry, the service is unavailable" in body
                    assert "Aisha" not in body  # nobody is signed in on this page
        load.wait_for_requests()
    finally:
        broken.restore()
    seen = load.stop()
    assert set(seen["jwks"]) == {200}, seen
    for name in ("api", "healthz"):
        assert set(seen[name]) <= {200, 302, 503} and 503 in seen[name], (name, seen[name])
    assert set(seen["login"]) == {302}, seen["login"]

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    # One line when the outage begins, no traceback per request.
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "database unavailable, answering 503" in errors[0].getMessage()
    assert errors[0].exc_info is None

    after = {name: call() for name, call in check.items()}
    assert {name: r.status_code for name, r in after.items()} == {
        name: r.status_code for name, r in before.items()
    }
    assert "Welcome, Aisha Khan" in after["learner"].get_data(as_text=True)
    assert after["api"].json["total"] == before["api"].json["total"]


def test_jwks_before_the_first_read_during_an_outage_is_503(
    app: Flask, outage: tuple[dict[str, Any], Outage]
) -> None:
    """A process that never read the keys has nothing to serve: it says so, with Retry-After."""
    _, broken = outage
    lms = tool_client(app, use_cookies=False)
    broken.cut()
    try:
        response = lms.get("/lti/jwks")
    finally:
        broken.restore()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert lms.get("/lti/jwks").status_code == 200


def test_a_rotated_key_is_published_at_once_while_the_database_answers(
    app: Flask, client: FlaskClient, runner: Any
) -> None:
    """The copy in memory is only for outages: it never hides a rotation."""
    assert runner.invoke(args=["lti", "ensure-key"]).exit_code == 0
    first = [k["kid"] for k in client.get("/lti/jwks").json["keys"]]
    assert runner.invoke(args=["lti", "rotate-key"]).exit_code == 0
    second = [k["kid"] for k in client.get("/lti/jwks").json["keys"]]
    assert len(second) == 2 and first[0] in second
