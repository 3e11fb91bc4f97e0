"""The audit trail: append an event to an organisation's hash chain, and verify the chains.

hash = SHA-256(previous hash + canonical JSON of the event). The chain's head row is locked
while an event is appended, so concurrent events of one organisation queue in order.

An event is written on every launch, so on PostgreSQL one statement appends it: it moves the
head (which locks it), computes the hash there with sha256() from the previous hash and the
canonical JSON this module builds, and inserts the event. SQLite, with one writer and no
sha256(), takes three statements and hashes here. `verify` checks both the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import String, bindparam, cast, func, insert, literal, select, update
from sqlalchemy.orm import Session

from app.db import DIALECT_INSERT, dialect_name, table
from app.models import AuditEvent, AuditHead

GENESIS = "0" * 64
# What an event says, in the order its columns are written; its canonical JSON holds these.
FIELDS = (
    "organisation_id",
    "seq",
    "occurred_at",
    "action",
    "actor_person_id",
    "actor",
    "subject_person_id",
    "details",
)


def canonical(event: AuditEvent | dict[str, Any]) -> str:
    data = event if isinstance(event, dict) else {k: getattr(event, k) for k in FIELDS}
    get = data.get
    occurred: datetime = data["occurred_at"]
    return json.dumps(
        {
            "organisation_id": get("organisation_id"),
            "seq": get("seq"),
            "occurred_at": occurred.isoformat(timespec="microseconds"),
            "action": get("action"),
            "actor_person_id": get("actor_person_id"),
            "actor": get("actor"),
            "subject_person_id": get("subject_person_id"),
            "details": get("details") or {},
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


_SEQ_MARK = -918273645546372819  # stands in for the sequence number, which the database sets


def canonical_around_seq(event: dict[str, Any]) -> tuple[str, str]:
    """canonical(event) split where its sequence number goes: before + str(seq) + after.

    The keys are sorted, so the top-level "seq" is the last one (only subject_person_id, a
    number, follows it).
    """
    before, mark, after = canonical({**event, "seq": _SEQ_MARK}).rpartition(f'"seq":{_SEQ_MARK}')
    assert mark, "canonical JSON without its seq"
    return before + '"seq":', after


def chain_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


@dataclass(frozen=True)
class Appended:
    id: int
    seq: int
    prev_hash: str
    hash: str


# Built once per dialect: an event is written on every launch, and building and cache-keying
# these statements afresh cost more CPU than running them.
@cache
def _statements(dialect: str) -> tuple[Any, Any, Any]:
    heads, events = table(AuditHead), table(AuditEvent)
    # Creates the head if needed and locks it in one statement (ON CONFLICT DO UPDATE locks
    # the row, as FOR UPDATE would): SQLite has one writer anyway.
    stmt = DIALECT_INSERT[dialect](heads).values(
        organisation_id=bindparam("org"), seq=0, hash=GENESIS
    )
    lock_head = stmt.on_conflict_do_update(
        index_elements=[heads.c.organisation_id], set_={"seq": heads.c.seq}
    ).returning(heads.c.seq, heads.c.hash)
    append = insert(events).returning(events.c.id)
    move_head = (
        update(heads)
        .where(heads.c.organisation_id == bindparam("org"))
        .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"), prev_hash=bindparam("prev"))
    )
    return lock_head, append, move_head


def _sql_chain_hash(prev_hash: Any, seq: Any) -> Any:
    """chain_hash(prev_hash, before + str(seq) + after), computed by PostgreSQL."""
    content = prev_hash + bindparam("before", type_=String) + cast(seq, String)
    content = content + bindparam("after", type_=String)
    return func.encode(func.sha256(func.convert_to(content, literal("UTF8"))), literal("hex"))


@cache
def _append_postgresql() -> Any:
    """One statement: move (and so lock) the head, hash there, insert the event."""
    heads, events = table(AuditHead), table(AuditEvent)
    first = DIALECT_INSERT["postgresql"](heads).values(
        organisation_id=bindparam("org"),
        seq=1,
        hash=_sql_chain_hash(literal(GENESIS, String), literal(1)),
        prev_hash=GENESIS,
    )
    # SET reads the row as it was: the old hash becomes prev_hash, old seq + 1 the new seq.
    head = (
        first.on_conflict_do_update(
            index_elements=[heads.c.organisation_id],
            set_={
                "seq": heads.c.seq + 1,
                "prev_hash": heads.c.hash,
                "hash": _sql_chain_hash(heads.c.hash, heads.c.seq + 1),
            },
        )
        .returning(heads.c.seq, heads.c.hash, heads.c.prev_hash)
        .cte("head")
    )
    columns = ("occurred_at", "action", "actor_person_id", "actor", "subject_person_id", "details")
    return (
        insert(events)
        .from_select(
            ["organisation_id", "seq", *columns, "prev_hash", "hash"],
            select(
                bindparam("org", type_=events.c.organisation_id.type),
                head.c.seq,
                *(bindparam(c, type_=events.c[c].type) for c in columns),
                head.c.prev_hash,
                head.c.hash,
            ),
        )
        .returning(events.c.id, events.c.seq, events.c.prev_hash, events.c.hash)
    )


def record(
    session: Session,
    organisation_id: int,
    action: str,
    now: datetime,
    *,
    actor_person_id: int | None = None,
    actor: str | None = None,
    subject_person_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> Appended:
    """Append one event. The caller's transaction commits it with the change it records."""
    event = {
        "organisation_id": organisation_id,
        "occurred_at": now,
        "action": action,
        "actor_person_id": actor_person_id,
        "actor": actor,
        "subject_person_id": subject_person_id,
        "details": details or {},
    }
    dialect = dialect_name(session)
    if dialect == "postgresql":
        before, after = canonical_around_seq(event)
        row = session.execute(
            _append_postgresql(),
            {**event, "org": organisation_id, "before": before, "after": after},
        ).one()
        return Appended(row.id, row.seq, row.prev_hash, row.hash)
    lock_head, append, move_head = _statements(dialect)
    seq, prev_hash = session.execute(lock_head, {"org": organisation_id}).one()
    event["seq"] = seq + 1
    digest = chain_hash(prev_hash, canonical(event))
    event_id = session.execute(
        append, {**event, "prev_hash": prev_hash, "hash": digest}
    ).scalar_one()
    session.execute(
        move_head,
        {"org": organisation_id, "new_seq": seq + 1, "new_hash": digest, "prev": prev_hash},
    )
    return Appended(event_id, seq + 1, prev_hash, digest)


@dataclass(frozen=True)
class ChainReport:
    organisation_id: int
    events: int
    ok: bool
    problem: str | None = None


def verify(session: Session) -> list[ChainReport]:
    """Walk every organisation's chain; report the first event where it breaks."""
    reports = []
    heads = {h.organisation_id: h for h in session.scalars(select(AuditHead))}
    orgs = sorted(set(heads) | set(session.scalars(select(AuditEvent.organisation_id).distinct())))
    for org in orgs:
        prev = GENESIS
        expected_seq = 1
        count = 0
        problem = None
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.organisation_id == org)
            .order_by(AuditEvent.seq, AuditEvent.id)
            .execution_options(yield_per=1000)
        )
        for event in rows:
            count += 1
            if event.seq != expected_seq:
                problem = (
                    f"event {event.id}: sequence {event.seq} where {expected_seq} was "
                    "expected (an event was removed or reordered)"
                )
                break
            if event.prev_hash != prev:
                problem = f"event {event.id} (seq {event.seq}): does not follow the event before"
                break
            if chain_hash(prev, canonical(event)) != event.hash:
                problem = f"event {event.id} (seq {event.seq}): its content was changed"
                break
            prev = event.hash
            expected_seq += 1
        rows.close()  # a server-side cursor on PostgreSQL: do not leave it open
        if problem is None:
            problem = _head_problem(heads.get(org), count, prev)
        reports.append(ChainReport(org, count, problem is None, problem))
    return reports


def _head_problem(head: AuditHead | None, end_seq: int, end_hash: str) -> str | None:
    """The head must be exactly the chain's end: its seq and its hash (either alone can be
    forged back to an earlier event, or left behind by a rewritten last event)."""
    if head is None:
        return f"the chain ends at seq {end_seq} but has no head: the head was deleted"
    if head.seq > end_seq:
        return (
            f"the chain ends at seq {end_seq} but its head says {head.seq}: "
            "the latest events were removed"
        )
    if head.seq < end_seq:
        return (
            f"the chain ends at seq {end_seq} but its head says {head.seq}: the head was moved back"
        )
    if head.hash != end_hash:
        return (
            f"the head's hash differs from the event at seq {end_seq}: "
            "the last event or the head was rewritten"
        )
    return None
