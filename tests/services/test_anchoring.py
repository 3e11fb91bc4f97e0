"""The audit chain anchored outside the database: signed checkpoints, and `audit verify
--checkpoints` catching what the chain alone cannot (a rewrite with every hash recomputed, a
truncated tail with its head moved back, a deleted chain) and forged checkpoints.

Every tampering goes through a connection of its own as the database's owner (on PostgreSQL
past the append-only triggers, as an owner who disables them would), never the app's session.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app.clock import utcnow
from app.db import db
from app.models import AuditCheckpoint, AuditEvent, AuditHead, AuditVerification, Organisation
from app.services import anchoring, audit
from tests.conftest import HISTORY_TABLES
from tests.web.test_gunicorn import free_port

KEY = "anchor-key-for-tests-0123456789abcdef"
OTHER_KEY = "another-key-a-forger-might-use-0123456789"


@pytest.fixture
def checkpoints(app: Flask, tmp_path: Path) -> Path:
    directory = tmp_path / "checkpoints"
    app.config.update(AUDIT_ANCHOR_KEY=KEY, AUDIT_CHECKPOINT_DIR=str(directory))
    return directory


def append(app: Flask, org: int, count: int) -> None:
    with app.app_context():
        start = utcnow()
        for n in range(count):
            audit.record(
                db.session(),
                org,
                "config_change",
                start + timedelta(seconds=n),
                actor="cli",
                details={"n": n, "setting": "due_days"},
            )
        db.session.commit()


@pytest.fixture
def chain(app: Flask) -> tuple[int, int]:
    """Ten events in North Shire's chain, one in South Shire's."""
    with app.app_context():
        org, other = Organisation(name="North Shire"), Organisation(name="South Shire")
        db.session.add_all([org, other])
        db.session.commit()
        ids = org.id, other.id
    append(app, ids[0], 10)
    append(app, ids[1], 1)
    return ids


def run(runner: FlaskCliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(args=list(args))
    return result.exit_code, result.output


def checkpoint(runner: FlaskCliRunner) -> Path:
    code, output = run(runner, "audit", "checkpoint")
    assert code == 0, output
    return Path(output.split("Wrote ", 1)[1].split("\n", 1)[0])


# -- tampering as the owner ------------------------------------------------------------------


class Owner:
    """The database's owner, on a connection of its own."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)

    def __call__(self, *statements: str, **params: Any) -> None:
        with self._past_triggers() as conn:
            for statement in statements:
                conn.execute(sa.text(statement), params)

    @contextmanager
    def _past_triggers(self) -> Iterator[sa.Connection]:
        """A transaction with history's append-only triggers disabled, as the owner (never
        the runtime role) may; enabled again before it commits."""
        with self.engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                for name in HISTORY_TABLES:
                    conn.execute(sa.text(f"ALTER TABLE {name} DISABLE TRIGGER USER"))
            yield conn
            if postgres:
                for name in HISTORY_TABLES:
                    conn.execute(sa.text(f"ALTER TABLE {name} ENABLE TRIGGER USER"))

    def rewrite(self, org: int, change: Any, *, keep: int | None = None) -> None:
        """Change events with `change(rows)` (a list of dicts, in seq order), renumber them,
        recompute every hash from the genesis, and move the head to the new end: what someone
        with the owner's login and this module's source can do."""
        events, heads = AuditEvent.__table__, AuditHead.__table__
        with self._past_triggers() as conn:
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    select(events).where(events.c.organisation_id == org).order_by(events.c.seq)
                )
            ]
            rows = change(rows)[:keep]
            conn.execute(sa.delete(events).where(events.c.organisation_id == org))
            prev = audit.GENESIS
            for seq, row in enumerate(rows, start=1):
                row.update(seq=seq, prev_hash=prev)
                row["hash"] = prev = audit.chain_hash(prev, audit.canonical(row))
                conn.execute(sa.insert(events).values(row))
            conn.execute(
                sa.update(heads)
                .where(heads.c.organisation_id == org)
                .values(seq=len(rows), hash=prev, prev_hash=rows[-2]["hash"] if rows else None)
            )

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture
def owner(database_url: str) -> Iterator[Owner]:
    conn = Owner(database_url)
    yield conn
    conn.dispose()


def edit_details(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows[3]["details"] = {"n": 99, "setting": "due_days"}
    return rows


def swap(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows[2], rows[3] = rows[3], rows[2]
    return rows


def drop_fifth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows[:4] + rows[5:]


# -- the checkpoint file ---------------------------------------------------------------------

VECTOR_BODY = {
    "format": "cpm-audit-checkpoint/1",
    "taken_at": "2026-12-04T06:00:00.000000+00:00",
    "organisations": [
        {
            "organisation_id": 1,
            "name": "North Shire",
            "seq": 10,
            "hash": "ab" * 32,
            "last_event_at": "2026-12-03T17:45:10.123456+00:00",
        }
    ],
}


def test_the_checkpoint_signature_is_pinned_by_a_fixed_test_vector() -> None:
    """Sorted compact JSON without the signature, HMAC-SHA256 under the key: a change of the
    format would make every checkpoint already kept fail, so it must fail here first. (The
    value was also computed with `openssl dgst -sha256 -hmac`.)"""
    assert anchoring.canonical_checkpoint({**VECTOR_BODY, "hmac_sha256": "x"}) == (
        b'{"format":"cpm-audit-checkpoint/1","organisations":[{"hash":"'
        + b"ab" * 32
        + b'","last_event_at":"2026-12-03T17:45:10.123456+00:00","name":"North Shire",'
        b'"organisation_id":1,"seq":10}],"taken_at":"2026-12-04T06:00:00.000000+00:00"}'
    )
    assert anchoring.sign(VECTOR_BODY, b"k" * 32) == (
        "6384b09206749547f51b0a6df53811ed0b37f242ca76adb9f148d01768a3c9e8"
    )


def test_a_checkpoint_file_holds_each_chain_end_signed(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner
) -> None:
    path = checkpoint(runner)
    assert path.parent == checkpoints and path.name.startswith("audit-checkpoint-")
    body = json.loads(path.read_text())
    with app.app_context():
        heads = {h.organisation_id: h for h in db.session.scalars(select(AuditHead))}
        tenth = db.session.scalars(
            select(AuditEvent).where(AuditEvent.organisation_id == chain[0], AuditEvent.seq == 10)
        ).one()
    assert body["format"] == "cpm-audit-checkpoint/1"
    assert [
        (o["organisation_id"], o["name"], o["seq"], o["hash"]) for o in body["organisations"]
    ] == [
        (chain[0], "North Shire", 10, heads[chain[0]].hash),
        (chain[1], "South Shire", 1, heads[chain[1]].hash),
    ]
    assert body["organisations"][0]["last_event_at"] == tenth.occurred_at.isoformat(
        timespec="microseconds"
    )
    assert body["hmac_sha256"] == anchoring.sign(body, KEY.encode())
    assert len(body["hmac_sha256"]) == 64
    # Recorded in the database for HR's pages, one row per organisation.
    with app.app_context():
        rows = db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).all()
        assert [(r.organisation_id, r.seq, r.file_name, r.emailed_to) for r in rows] == [
            (chain[0], 10, path.name, None),
            (chain[1], 1, path.name, None),
        ]


def test_a_checkpoint_never_replaces_a_file(
    app: Flask, chain: tuple[int, int], tmp_path: Path
) -> None:
    moment = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    with app.app_context():
        first = anchoring.take_checkpoint(db.session(), KEY.encode(), tmp_path, moment)
        original = first.path.read_text()
        second = anchoring.take_checkpoint(db.session(), KEY.encode(), tmp_path, moment)
    assert first.path.name == "audit-checkpoint-20261204T060000000000Z.json"
    assert second.path.name == "audit-checkpoint-20261204T060000000000Z-2.json"
    assert first.path.read_text() == original


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "AUDIT_ANCHOR_KEY is not set"),
        ("x" * 31, "at least 32 characters"),
        ("test-secret-key-not-for-production", "must differ from SECRET_KEY"),
    ],
    ids=["missing", "too short", "same as SECRET_KEY"],
)
def test_checkpoints_are_refused_without_a_proper_key(
    app: Flask,
    chain: tuple[int, int],
    checkpoints: Path,
    runner: FlaskCliRunner,
    key: str,
    message: str,
) -> None:
    checkpoint(runner)
    app.config["AUDIT_ANCHOR_KEY"] = key
    for args in (["audit", "checkpoint"], ["audit", "verify", "--checkpoints", str(checkpoints)]):
        code, output = run(runner, *args)
        assert code == 1
        assert message in output and "checkpoints cannot be made or checked" in output
    assert len(list(checkpoints.iterdir())) == 1  # nothing written
    # Without --checkpoints, verify needs no key and behaves as before.
    assert run(runner, "audit", "verify")[0] == 0


def test_the_key_of_exactly_32_characters_is_enough() -> None:
    assert anchoring.anchor_key("x" * 32, "secret") == b"x" * 32


def test_a_checkpoint_is_written_only_when_a_chain_has_moved_or_the_last_is_gone(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner
) -> None:
    """What lets two machines' cron take one checkpoint between them: the second run finds
    every chain where the first's checkpoint holds it, and writes nothing."""
    org, _ = chain
    first = checkpoint(runner)
    code, output = run(runner, "audit", "checkpoint")
    assert code == 0 and "Wrote" not in output
    assert f"No new checkpoint: every chain ends where {first.name}" in output
    assert sorted(checkpoints.iterdir()) == [first]
    with app.app_context():
        assert len(db.session.scalars(select(AuditCheckpoint)).all()) == 2  # one per chain
    append(app, org, 1)  # one event moves one chain: a new checkpoint of them all
    second = checkpoint(runner)
    first_body, second_body = (json.loads(p.read_text()) for p in (first, second))
    assert [o["seq"] for o in second_body["organisations"]] == [11, 1]
    assert [o["seq"] for o in first_body["organisations"]] == [10, 1]
    second.unlink()  # the latest file gone from the storage: anchored again
    third = checkpoint(runner)
    assert sorted(checkpoints.iterdir()) == sorted([first, third])


def test_checkpoint_needs_its_directory(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner
) -> None:
    app.config["AUDIT_CHECKPOINT_DIR"] = ""
    code, output = run(runner, "audit", "checkpoint")
    assert code == 1 and "Set AUDIT_CHECKPOINT_DIR" in output


# -- verify against checkpoints --------------------------------------------------------------


def test_a_clean_chain_extends_all_its_checkpoints(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner
) -> None:
    org, other = chain
    checkpoint(runner)
    append(app, org, 3)
    checkpoint(runner)
    append(app, org, 2)
    last = checkpoint(runner)
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 0, output
    assert f"OK organisation {org}: 15 events, extends its 3 checkpoints" in output
    assert f"OK organisation {other}: 1 events, extends its 3 checkpoints" in output
    assert f"Checked 3 checkpoint files at {checkpoints}" in output
    # One file works as well as the directory.
    code, output = run(runner, "audit", "verify", "--checkpoints", str(last))
    assert code == 0 and f"OK organisation {org}: 15 events, extends its 1 checkpoints" in output
    with app.app_context():
        results = db.session.scalars(select(AuditVerification).order_by(AuditVerification.id)).all()
        assert [(r.organisation_id, r.ok, r.events, r.checkpoints) for r in results] == [
            (org, True, 15, 3),
            (other, True, 1, 3),
            (org, True, 15, 1),
            (other, True, 1, 1),
        ]


REWRITES = [
    pytest.param(edit_details, None, id="event edited, later hashes and head recomputed"),
    pytest.param(swap, None, id="events reordered, hashes recomputed"),
    pytest.param(drop_fifth, None, id="event deleted, the rest renumbered and rehashed"),
]


@pytest.mark.parametrize(
    ("change", "keep"), [p.values for p in REWRITES], ids=[p.id for p in REWRITES]
)
def test_a_rewritten_chain_verifies_alone_but_not_against_its_checkpoint(
    app: Flask,
    chain: tuple[int, int],
    checkpoints: Path,
    runner: FlaskCliRunner,
    owner: Owner,
    change: Any,
    keep: int | None,
) -> None:
    org, other = chain
    checkpoint(runner)
    append(app, org, 2)  # the chain went on after the checkpoint, to seq 12
    owner.rewrite(org, change, keep=keep)
    # The chain alone cannot tell: every hash and the head were recomputed.
    code, output = run(runner, "audit", "verify")
    assert code == 0, output
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 1
    assert f"BROKEN organisation {org} at seq 10: the event's hash" in output
    assert "the chain up to here was rewritten" in output
    assert f"OK organisation {other}: 1 events, extends its 1 checkpoints" in output
    assert f"OK organisation {org}:" not in output


def test_a_truncated_tail_with_its_head_moved_back_is_caught(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner, owner: Owner
) -> None:
    org, _ = chain
    checkpoint(runner)
    owner.rewrite(org, lambda rows: rows, keep=7)  # events 8-10 gone, head at 7
    assert run(runner, "audit", "verify")[0] == 0  # consistent in itself
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 1
    assert f"BROKEN organisation {org} at seq 10: the chain's head is at seq 7" in output
    assert "cut short or its head moved back" in output


def test_a_head_moved_back_over_events_still_there_is_caught(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner, owner: Owner
) -> None:
    org, _ = chain
    checkpoint(runner)
    with app.app_context():
        seventh = db.session.scalars(
            select(AuditEvent).where(AuditEvent.organisation_id == org, AuditEvent.seq == 7)
        ).one()
    owner(
        "UPDATE audit_head SET seq = 7, hash = :hash WHERE organisation_id = :org",
        hash=seventh.hash,
        org=org,
    )
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 1
    assert f"BROKEN organisation {org}: the chain ends at seq 10 but its head says 7" in output
    assert f"BROKEN organisation {org} at seq 10: the chain's head is at seq 7" in output


def test_a_deleted_chain_is_caught(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner, owner: Owner
) -> None:
    org, _ = chain
    checkpoint(runner)
    owner(
        "DELETE FROM audit_event WHERE organisation_id = :org",
        "DELETE FROM audit_head WHERE organisation_id = :org",
        org=org,
    )
    code, output = run(runner, "audit", "verify")
    assert code == 0 and f"organisation {org}" not in output  # nothing left to walk
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 1
    assert f"BROKEN organisation {org} at seq 10: the chain was deleted" in output
    with app.app_context():
        result = db.session.scalars(
            select(AuditVerification)
            .where(AuditVerification.organisation_id == org)
            .order_by(AuditVerification.id.desc())
        ).first()
        assert result is not None and not result.ok and result.events == 0
        assert "the chain was deleted" in (result.problem or "")


def test_an_event_before_the_checkpoint_edited_in_place_is_caught(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner, owner: Owner
) -> None:
    org, _ = chain
    checkpoint(runner)
    owner(
        "UPDATE audit_event SET action = 'export' WHERE seq = 4 AND organisation_id = :org",
        org=org,
    )
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 1
    assert f"BROKEN organisation {org}:" in output and "(seq 4): its content was changed" in output


def test_the_event_at_the_checkpoint_missing_is_caught(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner, owner: Owner
) -> None:
    org, _ = chain
    checkpoint(runner)
    append(app, org, 2)
    owner("DELETE FROM audit_event WHERE seq = 10 AND organisation_id = :org", org=org)
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 1
    assert f"BROKEN organisation {org} at seq 10: the event the checkpoint" in output


def edit_file(path: Path, change: Any) -> None:
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body))


def resign(key: str) -> Any:
    def change(body: dict[str, Any]) -> None:
        body["organisations"][0]["seq"] = 5
        body["hmac_sha256"] = anchoring.sign(body, key.encode())

    return change


FORGERIES = [
    pytest.param(lambda b: b["organisations"][0].update(seq=5), id="seq edited, signature kept"),
    pytest.param(
        lambda b: b["organisations"][0].update(hash="0" * 64), id="hash edited, signature kept"
    ),
    pytest.param(resign(OTHER_KEY), id="re-signed under another key"),
    pytest.param(resign("test-secret-key-not-for-production"), id="re-signed under SECRET_KEY"),
    pytest.param(lambda b: b.pop("hmac_sha256"), id="signature removed"),
]


@pytest.mark.parametrize("change", [p.values[0] for p in FORGERIES], ids=[p.id for p in FORGERIES])
def test_a_forged_or_altered_checkpoint_is_reported_and_not_trusted(
    app: Flask,
    chain: tuple[int, int],
    checkpoints: Path,
    runner: FlaskCliRunner,
    owner: Owner,
    change: Any,
) -> None:
    """A forger who rewrote the chain would offer a checkpoint that matches the rewrite."""
    org, _ = chain
    path = checkpoint(runner)
    edit_file(path, change)
    code, output = run(runner, "audit", "verify", "--checkpoints", str(path))
    assert code == 1
    assert f"BROKEN organisation {org} at seq " in output
    assert "its HMAC does not match: forged or altered, not trusted" in output
    assert path.name in output


def test_a_checkpoint_that_is_not_json_is_reported(
    chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner
) -> None:
    checkpoints.mkdir()
    (checkpoints / "audit-checkpoint-x.json").write_text("{not json")
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 1 and "BROKEN checkpoints: cannot be read as a checkpoint" in output


def test_a_checkpoint_taken_but_gone_from_the_directory_is_reported(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner
) -> None:
    org, _ = chain
    first = checkpoint(runner)
    append(app, org, 1)
    checkpoint(runner)
    first.unlink()
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 1
    assert f"BROKEN organisation {org} at seq 10: recorded as taken on" in output
    assert first.name in output and "missing from" in output


def test_an_empty_checkpoint_directory_is_reported(
    chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner
) -> None:
    checkpoints.mkdir()
    code, output = run(runner, "audit", "verify", "--checkpoints", str(checkpoints))
    assert code == 1 and "no checkpoint files found" in output


# -- the head check is strict ----------------------------------------------------------------


def test_a_head_with_the_right_seq_but_another_hash_is_caught(
    app: Flask, chain: tuple[int, int], runner: FlaskCliRunner, owner: Owner
) -> None:
    org, _ = chain
    owner("UPDATE audit_head SET hash = :h WHERE organisation_id = :org", h="f" * 64, org=org)
    code, output = run(runner, "audit", "verify")
    assert code == 1
    assert f"BROKEN organisation {org}: the head's hash differs from the event at seq 10" in output


def test_events_without_their_head_are_still_verified(
    app: Flask, chain: tuple[int, int], runner: FlaskCliRunner, owner: Owner
) -> None:
    org, _ = chain
    owner("DELETE FROM audit_head WHERE organisation_id = :org", org=org)
    code, output = run(runner, "audit", "verify")
    assert code == 1
    assert f"BROKEN organisation {org}: the chain ends at seq 10 but has no head" in output


def test_a_head_without_its_events_is_still_verified(
    app: Flask, chain: tuple[int, int], runner: FlaskCliRunner, owner: Owner
) -> None:
    org, _ = chain
    owner("DELETE FROM audit_event WHERE organisation_id = :org", org=org)
    code, output = run(runner, "audit", "verify")
    assert code == 1
    assert f"BROKEN organisation {org}: the chain ends at seq 0 but its head says 10" in output


# -- the records address ---------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 4.3.0 Mailbox temporarily unavailable"
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


@pytest.fixture
def inbox(app: Flask) -> Iterator[Inbox]:
    box = Inbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        MAIL_FROM="cp@council.example",
        AUDIT_CHECKPOINT_EMAIL="records@council.example",
    )
    yield box
    controller.stop()


def test_each_checkpoint_is_e_mailed_to_the_records_address(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner, inbox: Inbox
) -> None:
    path = checkpoint(runner)
    [msg] = inbox.messages
    assert msg["To"] == "records@council.example"
    assert msg["Subject"].startswith("Audit checkpoint, ")
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and "North Shire (organisation" in body.get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == path.name
    assert attachment.get_content().decode() == path.read_text()
    # The copy in the records mailbox checks the chain as the file does.
    copy = checkpoints.parent / "from-mail" / path.name
    copy.parent.mkdir()
    copy.write_bytes(attachment.get_content())
    assert run(runner, "audit", "verify", "--checkpoints", str(copy))[0] == 0
    with app.app_context():
        rows = db.session.scalars(select(AuditCheckpoint)).all()
        assert {r.emailed_to for r in rows} == {"records@council.example"}


def test_a_checkpoint_whose_e_mail_failed_is_taken_again_and_e_mailed(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner, inbox: Inbox
) -> None:
    inbox.refuse = True
    assert run(runner, "audit", "checkpoint")[0] == 1
    inbox.refuse = False
    again = checkpoint(runner)  # nothing new in the chains, but no copy went out yet
    [msg] = inbox.messages
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == again.name
    code, output = run(runner, "audit", "checkpoint")
    assert code == 0 and "No new checkpoint" in output and len(inbox.messages) == 1
    assert len(list(checkpoints.iterdir())) == 2


def test_a_refused_e_mail_keeps_the_file_and_fails_the_job(
    app: Flask, chain: tuple[int, int], checkpoints: Path, runner: FlaskCliRunner, inbox: Inbox
) -> None:
    inbox.refuse = True
    code, output = run(runner, "audit", "checkpoint")
    assert code == 1 and "The checkpoint was written but not e-mailed" in output
    assert len(list(checkpoints.iterdir())) == 1
    with app.app_context():
        rows = db.session.scalars(select(AuditCheckpoint)).all()
        assert len(rows) == 2 and {r.emailed_to for r in rows} == {None}
