"""One run at a time of a scheduled job, when several machines start it at the same moment.

The jobs whose work is not a queue of rows to claim (the audit checkpoint, anonymisation, the
LMS membership sync, recording the day's reminders) first take a PostgreSQL advisory lock
named after the job and organisation. It is a transaction lock: held until the caller's
commit or rollback, and released by PostgreSQL if the process dies. A second run waits for
the first to commit, then reads what the first wrote and so finds nothing left to do.

SQLite is the single-machine database: there is no second machine to exclude, so this is
a no-op there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, text, update
from sqlalchemy.orm import Session

from app.db import dialect_name

# Two 32-bit keys: the schema and job's name hashed by PostgreSQL, and the organisation (0:
# all). Advisory locks are per database, not per schema: the schema keeps installations (and
# test runs) that share a database apart. This key space (two int4) is apart from the
# single-bigint one other code may use.
_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ' ' || :job), :organisation_id)"
)


def run_alone(session: Session, job: str, organisation_id: int | None = None) -> None:
    """Wait until no other transaction runs `job` for this organisation, then hold it until
    this transaction ends. Rows this session read before are expired: the run waited for
    may have changed them, and the job must decide on what it wrote."""
    if dialect_name(session) != "postgresql":
        return
    session.flush()
    session.execute(_LOCK, {"job": job, "organisation_id": organisation_id or 0})
    session.expire_all()


def claim(
    session: Session, model: Any, row_id: int, due: list[ColumnElement[bool]], until: datetime
) -> Any | None:
    """The row, freshly read, if this run took it: `next_try_at` moved to `until` while it
    is still `due`, committed before the work, so a second run skips it and a run that dies
    leaves it due again when the lease ends. None: another run has it, or has done it."""
    taken = session.execute(
        update(model)
        .where(model.id == row_id, *due)
        .values(next_try_at=until)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if not isinstance(taken, CursorResult) or taken.rowcount != 1:
        return None
    return session.get(model, row_id, populate_existing=True)
