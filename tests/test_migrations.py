"""Migrations: from empty, and over a database that already holds data, on both databases."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
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


def _row(table: sa.Table, **values: object) -> dict[str, object]:
    """`values`, plus a plain value for every other column that must have one."""
    plain: dict[type, object] = {
        sa.Integer: 1,
        sa.String: "x",
        sa.Text: "x",
        sa.Boolean: False,
        sa.DateTime: datetime(2026, 1, 5, tzinfo=UTC),
        sa.Date: date(2026, 1, 5),
    }
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        if column.server_default is not None:
            continue
        kind = next((v for t, v in plain.items() if isinstance(column.type, t)), None)
        row[column.name] = "[]" if isinstance(column.type, sa.JSON) else kind
    return row


def test_0016_gives_each_acceptance_recorded_by_hr_its_london_day_and_no_other(
    migrating_app: Flask,
) -> None:
    """Every acceptance HR recorded came from a dated declaration: it gets that day (in
    London: 23:30 UTC in summer is the next day), past the append-only trigger; one made in
    the module keeps its time and no day alone."""
    with migrating_app.app_context():
        upgrade(revision="0015")
        tables = sa.MetaData()
        tables.reflect(db.engine)
        t = tables.tables
        with db.engine.begin() as conn:
            conn.execute(t["organisation"].insert().values(_row(t["organisation"], id=1)))
            for pid in (1, 2):
                conn.execute(t["person"].insert().values(_row(t["person"], id=pid, name="P")))
            conn.execute(t["policy"].insert().values(_row(t["policy"], id=1)))
            conn.execute(
                t["policy_version"].insert().values(_row(t["policy_version"], id=1, policy_id=1))
            )
            for n, (at, recorded_by) in enumerate(
                [
                    (datetime(2026, 7, 1, 11, tzinfo=UTC), 2),  # midday in London
                    (datetime(2026, 7, 1, 23, 30, tzinfo=UTC), 2),  # 00:30 on 2 July there
                    (datetime(2026, 7, 1, 23, 30, tzinfo=UTC), None),  # in the module
                ],
                start=1,
            ):
                conn.execute(
                    t["acceptance"]
                    .insert()
                    .values(
                        _row(
                            t["acceptance"],
                            id=n,
                            person_id=1,
                            organisation_id=1,
                            policy_version_id=1,
                            cycle=n,
                            accepted_at=at,
                            verification_code=f"CODE{n}",
                            recorded_by_person_id=recorded_by,
                        )
                    )
                )
        upgrade()
        with db.engine.connect() as conn:
            days = conn.execute(sa.text("SELECT id, accepted_on FROM acceptance ORDER BY id")).all()
    assert [(i, str(d) if d else None) for i, d in days] == [
        (1, "2026-07-01"),
        (2, "2026-07-02"),
        (3, None),
    ]
