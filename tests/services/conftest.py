"""Fixtures of the service-level rule tests: a session on the test's database, and the
organisation, policy version and question bank of tests/services/records.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app.db import db
from tests.services import records
from tests.services.records import Setup


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield db.session()
        db.session.rollback()


@pytest.fixture
def s(session: Session) -> Setup:
    return records.setup(session)
