"""What goes into the audit hash, pinned by fixed test vectors, and verify's checks of the
head: a stored hash must never change meaning with an upgrade, and the head is compared.

Tampering goes through an owner's connection (on PostgreSQL past the append-only triggers,
as an owner disabling them would), never through the application's session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner

from app.db import db
from app.models import AuditEvent, AuditHead, Organisation, Person
from app.services import audit
from tests.conftest import tamper_as_owner

OCCURRED = datetime(2026, 3, 1, 9, 5, 7, 123456, tzinfo=UTC)
EVENT = {
    "organisation_id": 7,
    "seq": 1,
    "occurred_at": OCCURRED,
    "action": "acceptance",
    "actor_person_id": 11,
    "actor": "lti",
    "subject_person_id": 12,
    "details": {
        "name": 'Zoë "Jo" O\'Brien',
        "note": "line one\nline two",
        "version": {"label": "1.0 ✓", "id": 3},
        "a": [1, None, True],
    },
}
# Keys sorted at every level, no spaces, non-ASCII as itself, microseconds and the offset.
CANONICAL = (
    '{"action":"acceptance","actor":"lti","actor_person_id":11,'
    '"details":{"a":[1,null,true],"name":"Zoë \\"Jo\\" O\'Brien",'
    '"note":"line one\\nline two","version":{"id":3,"label":"1.0 ✓"}},'
    '"occurred_at":"2026-03-01T09:05:07.123456+00:00","organisation_id":7,"seq":1,'
    '"subject_person_id":12}'
)
# SHA-256 of GENESIS + CANONICAL (UTF-8): the first event's stored hash, on any database.
FIRST_HASH = "c0f4ec5b1497474196b0b69c6ec5c2e4efa4f6e4d328caddc29c08d2aefaeedd"
# The same event as seq 5 after a given previous hash.
PREVIOUS = "ab" * 32
FIFTH_HASH = "98790a62c3c8b2c20798d24d093338b23fdc407d209310ad16f63bce0492c5e4"


def test_the_canonical_json_of_a_fixed_event() -> None:
    assert audit.canonical(EVENT) == CANONICAL


def test_the_chain_hash_of_a_fixed_event() -> None:
    assert audit.GENESIS == "0" * 64
    assert audit.chain_hash(audit.GENESIS, CANONICAL) == FIRST_HASH
    assert audit.chain_hash(PREVIOUS, audit.canonical({**EVENT, "seq": 5})) == FIFTH_HASH


def test_absent_values_and_empty_details() -> None:
    event = {"organisation_id": 1, "seq": 2, "occurred_at": datetime(2026, 1, 1, tzinfo=UTC)}
    expected = (
        '{"action":null,"actor":null,"actor_person_id":null,"details":{},'
        '"occurred_at":"2026-01-01T00:00:00.000000+00:00","organisation_id":1,"seq":2,'
        '"subject_person_id":null}'
    )
    assert audit.canonical(event) == expected
    assert audit.canonical({**event, "details": None}) == expected


def test_the_split_around_the_sequence_number() -> None:
    before, after = audit.canonical_around_seq({k: v for k, v in EVENT.items() if k != "seq"})
    assert after == ',"subject_person_id":12}'
    assert before + "1" + after == CANONICAL


@pytest.fixture
def org7(app: Flask) -> Iterator[None]:
    with app.app_context():
        db.session.add(Organisation(id=7, name="Vector Borough"))
        db.session.flush()
        db.session.add_all([Person(id=n, organisation_id=7, name=f"Person {n}") for n in (11, 12)])
        db.session.commit()
        yield


def test_the_database_path_stores_the_same_known_hash(app: Flask, org7: None) -> None:
    """On PostgreSQL the one-statement append hashes in SQL; on SQLite, Python does."""
    with app.app_context():
        fields = {k: v for k, v in EVENT.items() if k not in ("organisation_id", "seq")}
        fields.pop("occurred_at")
        appended = audit.record(db.session(), 7, now=OCCURRED, **fields)  # type: ignore[arg-type]
        db.session.commit()
        assert (appended.seq, appended.prev_hash, appended.hash) == (1, audit.GENESIS, FIRST_HASH)
        stored = db.session.scalars(sa.select(AuditEvent)).one()
        assert (stored.seq, stored.prev_hash, stored.hash) == (1, audit.GENESIS, FIRST_HASH)
        assert audit.canonical(stored) == CANONICAL
        head = db.session.get_one(AuditHead, 7)
        assert (head.seq, head.hash) == (1, FIRST_HASH)
        second = audit.record(db.session(), 7, "export", OCCURRED, actor="cli")
        db.session.commit()
        expected = audit.chain_hash(
            FIRST_HASH,
            '{"action":"export","actor":"cli","actor_person_id":null,"details":{},'
            '"occurred_at":"2026-03-01T09:05:07.123456+00:00","organisation_id":7,"seq":2,'
            '"subject_person_id":null}',
        )
        assert (second.seq, second.prev_hash, second.hash) == (2, FIRST_HASH, expected)
        head = db.session.get_one(AuditHead, 7)
        db.session.refresh(head)
        assert (head.seq, head.hash) == (2, expected)
        assert [r.ok for r in audit.verify(db.session())] == [True]


# --- verify: the head and whole chains ------------------------------------------------------


tamper = tamper_as_owner  # rows changed with the owner's login, past the append-only triggers


@pytest.fixture
def chains(app: Flask) -> Iterator[tuple[int, int]]:
    """Five events in one organisation's chain, three in another's."""
    with app.app_context():
        one, two = Organisation(name="One Shire"), Organisation(name="Two Shire")
        db.session.add_all([one, two])
        db.session.flush()
        for n in range(5):
            audit.record(db.session(), one.id, "launch", OCCURRED + timedelta(seconds=n))
        for n in range(3):
            audit.record(db.session(), two.id, "launch", OCCURRED + timedelta(seconds=n))
        db.session.commit()
        yield one.id, two.id


def reports(app: Flask) -> dict[int, audit.ChainReport]:
    with app.app_context():
        return {r.organisation_id: r for r in audit.verify(db.session())}


def test_clean_chains_verify(app: Flask, chains: tuple[int, int]) -> None:
    one, two = chains
    assert reports(app) == {
        one: audit.ChainReport(one, 5, True),
        two: audit.ChainReport(two, 3, True),
    }


def test_a_rewritten_last_event_with_a_recomputed_hash_is_caught_by_the_head(
    app: Flask, chains: tuple[int, int], database_url: str
) -> None:
    one, two = chains
    with app.app_context():
        last = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.organisation_id == one, AuditEvent.seq == 5)
        ).one()
        forged = audit.chain_hash(
            last.prev_hash,
            audit.canonical({**{k: getattr(last, k) for k in audit.FIELDS}, "action": "export"}),
        )
    tamper(
        database_url,
        "UPDATE audit_event SET action = 'export', hash = :h "
        "WHERE organisation_id = :o AND seq = 5",
        h=forged,
        o=one,
    )
    found = reports(app)
    assert not found[one].ok and found[one].events == 5
    assert found[two].ok


def test_a_head_with_the_right_seq_and_a_wrong_hash_is_caught(
    app: Flask, chains: tuple[int, int], database_url: str
) -> None:
    one, two = chains
    tamper(
        database_url,
        "UPDATE audit_head SET hash = :h WHERE organisation_id = :o",
        h="f" * 64,
        o=one,
    )
    found = reports(app)
    assert not found[one].ok
    assert found[two].ok


def test_a_head_moved_back_is_caught(
    app: Flask, chains: tuple[int, int], database_url: str
) -> None:
    one, _ = chains
    tamper(database_url, "UPDATE audit_head SET seq = 4 WHERE organisation_id = :o", o=one)
    assert not reports(app)[one].ok


def test_an_organisation_whose_events_were_all_deleted_is_still_verified(
    app: Flask, chains: tuple[int, int], database_url: str
) -> None:
    one, two = chains
    tamper(database_url, "DELETE FROM audit_event WHERE organisation_id = :o", o=one)
    found = reports(app)
    assert set(found) == {one, two}
    assert found[one].events == 0 and not found[one].ok
    assert found[two].ok


def test_an_organisation_whose_head_was_deleted_is_still_walked(
    app: Flask, chains: tuple[int, int], database_url: str
) -> None:
    one, two = chains
    tamper(database_url, "DELETE FROM audit_head WHERE organisation_id = :o", o=one)
    found = reports(app)
    assert set(found) == {one, two}
    assert found[one].events == 5
    # Events whose head is gone are a broken chain: the head is what a tail cut short, or
    # rewritten, would be noticed by.
    assert not found[one].ok and found[two].ok
    assert found[one].problem == "the chain ends at seq 5 but has no head: the head was deleted"
    # Its events are walked: an edit among them is still found without a head.
    tamper(
        database_url,
        "UPDATE audit_event SET actor = 'x' WHERE organisation_id = :o AND seq = 2",
        o=one,
    )
    assert not reports(app)[one].ok


@pytest.mark.parametrize(
    ("statement", "seq"),
    [
        ("UPDATE audit_event SET prev_hash = :h WHERE organisation_id = :o AND seq = 3", "(seq 3)"),
        (
            "UPDATE audit_event SET seq = 9 WHERE organisation_id = :o AND seq = 1",
            "sequence 2 where 1",
        ),
        (
            "UPDATE audit_event SET occurred_at = occurred_at "
            "WHERE organisation_id = :o AND seq = 1",
            None,
        ),
    ],
    ids=["prev-hash", "first-renumbered", "untouched"],
)
def test_each_check_of_an_event(
    app: Flask, chains: tuple[int, int], database_url: str, statement: str, seq: str | None
) -> None:
    one, _ = chains
    tamper(database_url, statement, h="e" * 64, o=one)
    report = reports(app)[one]
    assert report.ok is (seq is None)
    if seq is not None:
        assert report.problem is not None and seq in report.problem


def test_the_cli_names_a_broken_organisation(
    app: Flask, chains: tuple[int, int], database_url: str, runner: FlaskCliRunner
) -> None:
    one, two = chains
    tamper(
        database_url,
        "UPDATE audit_head SET hash = :h WHERE organisation_id = :o",
        h="f" * 64,
        o=one,
    )
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"BROKEN organisation {one}" in result.output
    assert f"OK organisation {two}: 3 events" in result.output


@pytest.mark.parametrize(
    "value",
    [audit.Appended(1, 1, audit.GENESIS, FIRST_HASH), audit.ChainReport(1, 0, True)],
    ids=["Appended", "ChainReport"],
)
def test_what_the_chain_reports_cannot_be_changed_afterwards(value: object) -> None:
    with pytest.raises(AttributeError):
        value.hash = "0"  # type: ignore[attr-defined]
