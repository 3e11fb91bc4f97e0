"""The one place where the database is set up: declarative base, naming convention, session."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, Table, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so that migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Every id column is a 32-bit integer (PostgreSQL's "integer"): a larger number from a request
# can name no row, and PostgreSQL refuses it outright ("integer out of range").
MAX_ID = 2**31 - 1


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Objects stay usable after commit: a request's session ends with the request anyway, and
# re-reading every row after each commit would double the queries of a launch.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


# What a database that cannot be reached raises (stopped, restarting, refusing or dropping
# connections, no connection free in the pool), as opposed to a bug: the web answers 503.
# The drivers' own classes too, for code that talks to a driver directly.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
    sqlite3.InterfaceError,
)


# INSERT with ON CONFLICT, for each database we run on (both have it).
DIALECT_INSERT: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def table(model: type[Base]) -> Table:
    """A model's Table, for Core statements built once and reused on hot paths."""
    return cast(Table, model.__table__)


def dialect_name(session: Session) -> str:
    return session.get_bind().dialect.name


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite keeps no time zone, so it is added back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC time is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@event.listens_for(Engine, "connect")
def _connection_settings(dbapi_connection: Any, connection_record: Any) -> None:
    module = type(dbapi_connection).__module__
    if module.startswith("sqlite3"):
        # Foreign keys are off by default in SQLite; WAL lets readers run while one process
        # writes.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
    elif module.startswith("psycopg"):
        # PostgreSQL's JIT compiler took 0.8 s to compile the status statement over 100,000
        # people, longer than running it; our statements are short OLTP ones throughout.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        dbapi_connection.commit()


def more_memory_for_reports(session: Session) -> None:
    """Let this transaction's sorts and groupings use 32 MB each on PostgreSQL (the default
    4 MB sends the committee report's groupings over a hundred thousand people to disk,
    which doubled their time). SET LOCAL: it ends with the transaction."""
    if dialect_name(session) == "postgresql":
        session.execute(text("SET LOCAL work_mem = '32MB'"))
