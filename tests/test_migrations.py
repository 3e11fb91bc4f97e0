"""Migrations: from empty, and over a database that already holds data, on both databases."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from app import create_app
from app.config import normalise_database_url
from app.db import db


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    pg = os.environ.get("TEST_DATABASE_URL")
    if not pg:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    pg = normalise_database_url(pg)
    schema = f"test_mig_{secrets.token_hex(4)}"
    admin = sa.create_engine(pg)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg}{'&' if '?' in pg else '?'}options={quote('-csearch_path=' + schema)}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def migrating_app(empty_database: str) -> Iterator[Flask]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "x"})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_upgrade_over_existing_data_keeps_it(migrating_app: Flask) -> None:
    with migrating_app.app_context():
        upgrade(revision="0001")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO organisation (name, created_at) "
                    "VALUES ('North Shire', '2026-01-05')"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO platform_registration (issuer, client_id, auth_login_url, "
                    "auth_token_url, jwks_url, frame_origins, created_at, updated_at) VALUES "
                    "('https://lms', 'c', 'https://lms/a', 'https://lms/t', 'https://lms/j', '', "
                    "'2026-01-05', '2026-01-05')"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO deployment (registration_id, deployment_id, organisation_id, "
                    "created_at) VALUES (1, 'd1', 1, '2026-01-05')"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO person (organisation_id, issuer, subject, name, last_lti_roles, "
                    "first_seen_at) VALUES (1, 'https://lms', 's1', 'Ann Example', '[]', "
                    "'2026-01-05')"
                )
            )
        upgrade()
        with db.engine.connect() as conn:
            org = conn.execute(sa.text("SELECT name, due_days FROM organisation")).one()
            person = conn.execute(sa.text("SELECT name, elected_member FROM person")).one()
            deployments = conn.execute(sa.text("SELECT count(*) FROM deployment")).scalar()
        assert tuple(org) == ("North Shire", 28)
        assert person[0] == "Ann Example" and not person[1]
        assert deployments == 1


def test_downgrade_to_empty_and_up_again(migrating_app: Flask) -> None:
    with migrating_app.app_context():
        upgrade()
        downgrade(revision="base")
        with db.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        assert tables == set()
        upgrade()
        with db.engine.connect() as conn:
            assert "policy_version" in sa.inspect(conn).get_table_names()


def test_migrations_build_the_schema_the_models_describe(migrating_app: Flask) -> None:
    """A model changed without its migration (a column, an index) shows up here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with migrating_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert differences == []


@pytest.mark.parametrize(
    ("before", "kept"),
    [
        ("https://learning.north-shire.gov.uk/course/view.php", True),
        ("https://learning.north-shire.gov.uk/mod/lti/return.php?sesskey=abc", False),
        ("http://learning.north-shire.gov.uk/", False),
    ],
)
def test_0015_moves_a_safe_lms_address_out_of_the_reminder_settings(
    migrating_app: Flask, before: str, kept: bool
) -> None:
    """The address that was a reminder setting becomes the checked `lms_url` setting; one
    that could carry a secret is dropped (HR sets it again), never mailed."""
    with migrating_app.app_context():
        upgrade(revision="0014")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO organisation (name, created_at, reminder_settings) "
                    "VALUES ('North Shire', '2026-01-05', :settings)"
                ),
                {"settings": json.dumps({"lms_url": before, "min_interval_days": 3})},
            )
        upgrade()
        with db.engine.connect() as conn:
            url, settings = conn.execute(
                sa.text("SELECT lms_url, reminder_settings FROM organisation")
            ).one()
    settings = json.loads(settings) if isinstance(settings, str) else settings
    assert url == (before if kept else "")
    assert settings == {"min_interval_days": 3}
