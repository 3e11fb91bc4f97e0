"""Shared fixtures: a fresh database per test (SQLite file or PostgreSQL schema), the app,
its client and CLI runner, and an independent LTI platform served over real HTTP.

The schema is built once per test run by the real Alembic migrations, never by create_all,
so every test also exercises the migrations on the database it runs on.
Set TEST_DATABASE_URL=postgresql://... to run the whole suite on PostgreSQL.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from werkzeug.serving import make_server

from app import create_app
from app.config import normalise_database_url
from app.db import Base, db
from scripts.demo_lms.platform import DemoPlatform
from scripts.demo_lms.server import create_platform_app

TOOL_BASE_URL = "https://tool.test"
ORG = "Test Borough Council"


def events(app: Flask, action: str) -> list[Any]:
    """The audit events of one action, oldest first, detached from the session."""
    from app.models import AuditEvent

    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
        db.session.expunge_all()
        return rows


def _postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    return normalise_database_url(url) if url else None


def _app_config(url: str) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url.startswith("sqlite")
        else {"pool_size": 2, "max_overflow": 5},
        "SECRET_KEY": "test-secret-key-not-for-production",
        "TOOL_BASE_URL": TOOL_BASE_URL,
        "TESTING": True,
    }


# On PostgreSQL the tests play production's two roles (README, "Database roles"): the owner
# runs the migrations and `db grant-runtime`; the app connects as the runtime role, so the
# whole suite shows its grants are enough. Roles are cluster-wide and shared by every run.
OWNER_ROLE = "cpm_test_owner"
RUNTIME_ROLE = "cpm_test_runtime"


def as_role(url: str, role: str) -> str:
    """The same database (and schema) as another role."""
    return sa.make_url(url).set(username=role).render_as_string(hide_password=False)


def _ensure_roles(admin: sa.Engine) -> None:
    with admin.begin() as conn:
        # Two xdist workers may start at once: one creates, the other waits and finds them.
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('cpm test roles'))"))
        for role in (OWNER_ROLE, RUNTIME_ROLE):
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
            ).first()
            if not exists:
                conn.execute(sa.text(f"CREATE ROLE {role} LOGIN NOSUPERUSER"))


@pytest.fixture(scope="session")
def schema_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database to copy (SQLite) or to empty between tests (PostgreSQL): on
    PostgreSQL, the owner role's URL of a schema it owns."""
    pg = _postgres_url()
    if pg is None:
        path = tmp_path_factory.mktemp("schema") / "template.sqlite3"
        app = create_app(_app_config(f"sqlite:///{path}"))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield str(path)
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    schema = f"test_{re.sub(r'[^a-z0-9]', '', worker)}_{secrets.token_hex(4)}"
    admin = sa.create_engine(pg)
    _ensure_roles(admin)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}" AUTHORIZATION {OWNER_ROLE}'))
    sep = "&" if "?" in pg else "?"
    url = as_role(f"{pg}{sep}options={quote('-csearch_path=' + schema)}", OWNER_ROLE)
    app = create_app(_app_config(url))
    with app.app_context():
        upgrade()
        result = app.test_cli_runner().invoke(args=["db", "grant-runtime", RUNTIME_ROLE])
        assert result.exit_code == 0, result.output
        db.engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def superuser_url(owner_url: str) -> str:
    """The test schema as the superuser of TEST_DATABASE_URL (to empty it between tests)."""
    pg = _postgres_url()
    assert pg is not None
    return as_role(owner_url, sa.make_url(pg).username or "postgres")


@pytest.fixture
def database_url(schema_source: str, tmp_path: Path) -> str:
    """The test's database, as its owner (tests that tamper behind the app's back use it)."""
    if schema_source.startswith("postgresql"):
        engine = sa.create_engine(superuser_url(schema_source))
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            # History refuses TRUNCATE by trigger; replication mode skips triggers.
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return schema_source
    path = tmp_path / "tool.sqlite3"
    shutil.copyfile(schema_source, path)
    return f"sqlite:///{path}"


def app_url(database_url: str) -> str:
    """The URL the app connects with: the runtime role's on PostgreSQL."""
    if database_url.startswith("postgresql"):
        return as_role(database_url, RUNTIME_ROLE)
    return database_url


@pytest.fixture
def make_app(database_url: str) -> Iterator[Any]:
    """Build app instances on the test's database (several, to play several processes)."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        app = create_app({**_app_config(app_url(database_url)), **overrides})
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["score_sender"].stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app()  # type: ignore[no-any-return]


class ToolClient(FlaskClient):
    """A browser on the tool's public HTTPS address (https://tool.test)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if not args or isinstance(args[0], str):
            kwargs.setdefault("base_url", TOOL_BASE_URL)
            # Browsers send the page's own address with a same-origin form; Flask-WTF
            # checks it on HTTPS (WTF_CSRF_SSL_STRICT).
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("Referer", TOOL_BASE_URL + "/")
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


def tool_client(app: Flask, *, use_cookies: bool = True) -> FlaskClient:
    app.test_client_class = ToolClient
    return app.test_client(use_cookies=use_cookies)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return tool_client(app)


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class LiveServer:
    """A WSGI app on a real loopback port, in a thread, for the duration of a test session."""

    def __init__(self, wsgi_app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def platform_server() -> Iterator[tuple[DemoPlatform, LiveServer]]:
    platform = DemoPlatform(issuer="http://placeholder", tool_base_url=TOOL_BASE_URL)
    server = LiveServer(create_platform_app(platform))
    platform.issuer = server.url
    server.start()
    yield platform, server
    server.stop()


@pytest.fixture
def platform(platform_server: tuple[DemoPlatform, LiveServer]) -> Iterator[DemoPlatform]:
    """The independent LMS. Tests may rotate its key; each test starts from a fresh one."""
    lms, _ = platform_server
    lms.rotate_key()
    yield lms


@pytest.fixture
def registered(app: Flask, runner: FlaskCliRunner, platform: DemoPlatform) -> DemoPlatform:
    """The platform registered with the tool through the real CLI, plus a tool key."""
    result = runner.invoke(args=platform.register_command(ORG))
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["lti", "ensure-key"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["content", "publish"])
    assert result.exit_code == 0, result.output
    return platform


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def travel() -> Iterator[Any]:
    """Move the tool's clock forward (renewals, cool-downs); always put back."""
    from datetime import timedelta

    from app import clock

    def go(**delta: float) -> None:
        clock.travel(timedelta(**delta))

    yield go
    clock.travel(timedelta(0))


@pytest.fixture
def launched(app: Flask, registered: DemoPlatform, http: requests.Session) -> Any:
    """launched("u-aisha") -> a client signed in through a real LTI launch as that person."""
    from tests.lti_flow import Flow

    def launch(user_id: str = "u-aisha") -> FlaskClient:
        client = tool_client(app)
        response = Flow(client, registered, http).launch_as(user_id)
        # The first page; or, with a quiz under way, a redirect to it (See Other).
        assert response.status_code == 200 or (
            response.status_code == 303 and response.location == "/quiz"
        ), response.get_data(as_text=True)
        return client

    return launch


HISTORY_TABLES = (
    "acceptance",
    "quiz_attempt",
    "quiz_submission",
    "quiz_extension",
    "audit_event",
    "audit_head",
    "audit_checkpoint",
    "audit_verification",
)


def tamper_as_owner(database_url: str, *statements: str, **params: Any) -> None:
    """Change history behind the app's back, as someone with the owner's login could: on
    PostgreSQL past the append-only triggers, which the owner (never the runtime role) may
    disable. They are enabled again before the transaction commits."""
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            postgres = engine.dialect.name == "postgresql"
            if postgres:
                for name in HISTORY_TABLES:
                    conn.execute(sa.text(f"ALTER TABLE {name} DISABLE TRIGGER USER"))
            for statement in statements:
                conn.execute(sa.text(statement), params)
            if postgres:
                for name in HISTORY_TABLES:
                    conn.execute(sa.text(f"ALTER TABLE {name} ENABLE TRIGGER USER"))
    finally:
        engine.dispose()
