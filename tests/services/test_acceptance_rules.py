"""acceptance.py's guards at the service: no pass, another person's name, already
certified, HR's on-behalf record, what the record holds, and a real double-submit race
between two database connections."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import db
from app.models import Acceptance, AuditEvent, Person, PolicyVersion, SectionRead
from app.services import acceptance as acc
from app.services import audit
from app.services.acceptance import (
    AcceptanceError,
    AlreadyAccepted,
    NameMismatch,
    NotReady,
    Where,
    record_acceptance,
    record_on_behalf,
)
from app.services.status import PersonStatus, State, Today, Validity, person_status
from tests.services import records
from tests.services.records import NOON, Setup

RULE = Validity(months=12, window_days=30, basis="expiry")
DECLARATION = (
    "I have read, understood and accept the Corporate Parenting Policy, version 1.0, "
    "effective 1 January 2026."
)


def status(session: Session, s: Setup, who: Person, day: date = date(2026, 1, 15)) -> PersonStatus:
    return person_status(session, s.org.id, who.id, s.version, Today(day, RULE, 28))


def ready(session: Session, s: Setup, name: str = "Aisha Khan") -> tuple[Person, PersonStatus]:
    """A person with a quiz pass awaiting acceptance."""
    who = records.person(session, s.org, name)
    records.submission(session, s, who, NOON - timedelta(minutes=5), percent=90)
    now = status(session, s, who)
    assert now.state is State.QUIZ_PASSED
    return who, now


def accept(
    session: Session, s: Setup, who: Person, st: PersonStatus, name: str, **kw: object
) -> Acceptance:
    return record_acceptance(
        session,
        who,
        s.version,
        st,
        name,
        RULE,
        kw.pop("now", NOON),
        kw.pop("where", Where()),  # type: ignore[arg-type]
    )


def count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Acceptance)) or 0


# --- the guards ------------------------------------------------------------------------------


def test_acceptances_take_the_next_ids_and_their_events_name_them(
    session: Session, s: Setup
) -> None:
    """The id is taken before the row is written (its audit event names it first)."""
    ids = []
    for name in ("Aisha Khan", "Tom Jones"):
        who, st = ready(session, s, name)
        ids.append(accept(session, s, who, st, name).id)
    assert ids == [1, 2]
    events = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [(e.action, e.details["acceptance"]) for e in events] == [
        ("acceptance", 1),
        ("acceptance", 2),
    ]


def test_no_quiz_pass_is_not_ready(session: Session, s: Setup) -> None:
    who = records.person(session, s.org)
    session.add(SectionRead(person_id=who.id, version_id=s.version.id, section_key="intro"))
    records.submission(session, s, who, NOON, passed=False)
    st = status(session, s, who)
    assert st.state is State.IN_PROGRESS
    with pytest.raises(NotReady):
        accept(session, s, who, st, "Aisha Khan")
    assert count(session) == 0


@pytest.mark.parametrize(
    "typed", ["Tom Jones", "Aisha", "Aisha Khann", "Aisha-Khan", "", "   ", "Khan Aisha"]
)
def test_another_name_is_refused(session: Session, s: Setup, typed: str) -> None:
    who, st = ready(session, s)
    with pytest.raises(NameMismatch) as caught:
        accept(session, s, who, st, typed)
    assert caught.value.expected == "Aisha Khan"
    assert count(session) == 0


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Aisha Khan", "Aisha Khan"),
        ("  aisha   KHAN  ", "aisha   KHAN"),
        ("Aisha\tKhan\n", "Aisha\tKhan"),
        (
            "\uff21\uff29\uff33\uff28\uff21 \uff2b\uff28\uff21\uff2e",
            "\uff21\uff29\uff33\uff28\uff21 \uff2b\uff28\uff21\uff2e",
        ),  # full-width AISHA KHAN: NFKC makes it ASCII
    ],
)
def test_case_space_and_unicode_forms_of_the_name_are_accepted(
    session: Session, s: Setup, typed: str, stored: str
) -> None:
    who, st = ready(session, s)
    row = accept(session, s, who, st, typed)
    assert row.typed_name == stored


def test_names_match_is_not_fooled_by_an_empty_record() -> None:
    assert not acc.names_match("", "")
    assert not acc.names_match("  ", " ")
    assert acc.names_match("ǅ", "Dž")  # one letter, or two: NFKC
    assert acc.normalise_name("  Zoë\u00a0 O'BRIEN ") == "zoë o'brien"


@pytest.mark.parametrize(
    "typed",
    [
        "Cllr Aisha Khan",
        "Cllr. Aisha Khan",
        "CLLR aisha khan",
        "Councillor Aisha Khan",
        "Dr Aisha Khan",
        "dr. Aisha Khan",
        "Mr Aisha Khan",
        "Mrs Aisha Khan",
        "Ms Aisha Khan",
        "Miss Aisha Khan",
        "Mx Aisha Khan",
        "Prof. Aisha Khan",
        "Sir Aisha Khan",
        "Dame Aisha Khan",
        "Rev Aisha Khan",
        "  Cllr   Aisha  Khan ",
    ],
)
def test_a_title_before_the_name_is_accepted_and_kept_as_typed(
    session: Session, s: Setup, typed: str
) -> None:
    who, st = ready(session, s)
    row = accept(session, s, who, st, typed)
    assert row.typed_name == typed.strip()


@pytest.mark.parametrize(
    "typed",
    [
        "Cllr",  # a title alone is not a name
        "Cllr.",
        "Dr ",
        "Cllr Aisha",  # title + part of the name
        "Cllr Aisha Khann",  # title + another name
        "Cllr Tom Jones",
        "Cllr Dr Aisha Khan",  # one title, not a string of them
        "Cllr.Aisha Khan",  # the title run into the name
        "Lord Aisha Khan",  # not a title on the list
        "Aisha Khan Cllr",  # after the name
        "Cllr, Aisha Khan",
    ],
)
def test_a_title_does_not_excuse_a_wrong_name(session: Session, s: Setup, typed: str) -> None:
    who, st = ready(session, s)
    with pytest.raises(NameMismatch):
        accept(session, s, who, st, typed)
    assert count(session) == 0


def test_a_title_in_the_record_itself_still_has_to_be_typed() -> None:
    assert acc.names_match("Dr Aisha Khan", "Dr Aisha Khan")
    assert acc.names_match("Cllr Dr Aisha Khan", "Dr Aisha Khan")
    assert not acc.names_match("Aisha Khan", "Dr Aisha Khan")  # as before titles were allowed


COUNCILLOR_DECLARATION = (
    "I have read, understood and accept the Corporate Parenting Policy, version 1.0, "
    "effective 1 January 2026, as part of my duties as an elected member of the council."
)


def test_a_councillor_accepts_in_words_fitting_their_office_and_the_hash_is_pinned(
    session: Session, s: Setup
) -> None:
    who, st = ready(session, s, "Jo Evans")
    who.elected_member = True
    row = accept(session, s, who, st, "Cllr Jo Evans")
    assert row.declaration_text == COUNCILLOR_DECLARATION
    assert acc.declaration_text(s.version, elected_member=True) == COUNCILLOR_DECLARATION
    # Pinned, not recomputed: a change of wording must show up here.
    assert row.declaration_hash == (
        "cfa2b7159c96a3eb9b47386274160bfd3f8388e0ab1d91eceb637f69325cc955"
    )
    assert row.typed_name == "Cllr Jo Evans"


def test_the_staff_wording_and_its_hash_are_unchanged(session: Session, s: Setup) -> None:
    who, st = ready(session, s)
    row = accept(session, s, who, st, "Aisha Khan")
    assert row.declaration_text == DECLARATION == acc.declaration_text(s.version)
    assert row.declaration_hash == (
        "cd36e992c28c1ffda037e8c4c19264d73b2fd0c278a51da79db0a71d16c0c55a"
    )


def test_already_certified_is_refused_with_the_acceptance_that_counts(
    session: Session, s: Setup
) -> None:
    who, st = ready(session, s)
    first = accept(session, s, who, st, "Aisha Khan")
    again = status(session, s, who)
    assert again.state is State.CERTIFIED
    with pytest.raises(AlreadyAccepted) as caught:
        accept(session, s, who, again, "Aisha Khan")
    assert caught.value.acceptance.id == first.id
    assert count(session) == 1


# --- what is recorded --------------------------------------------------------------------


def test_the_record_holds_the_evidence(session: Session, s: Setup) -> None:
    who, st = ready(session, s)
    where = Where(
        ip_address="2001:db8::" + "1" * 60,
        user_agent="U" * 600,
        resource_link_id="cp-module",
    )
    row = accept(session, s, who, st, " Aisha Khan ", where=where)
    session.flush()
    assert (row.person_id, row.organisation_id, row.policy_version_id) == (
        who.id,
        s.org.id,
        s.version.id,
    )
    assert row.cycle == 1
    assert row.content_hash == "c" * 64
    assert row.declaration_text == DECLARATION
    assert row.declaration_hash == acc.sha256(DECLARATION)
    assert acc.sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert row.quiz_submission_id == st.passed.id  # type: ignore[union-attr]
    assert row.quiz_score == 90
    assert row.typed_name == "Aisha Khan"
    assert row.accepted_at == NOON
    assert row.valid_until == date(2027, 1, 15)
    assert row.ip_address == ("2001:db8::" + "1" * 60)[:64]
    assert row.user_agent == "U" * 500
    assert row.resource_link_id == "cp-module"
    assert row.launch_id is None and row.lms_context_id is None
    assert row.recorded_by_person_id is None and row.recorded_note is None
    assert len(row.verification_code) == 10
    assert set(row.verification_code) <= set(acc.CODE_ALPHABET)


def test_empty_where_values_are_stored_as_none(session: Session, s: Setup) -> None:
    who, st = ready(session, s)
    row = accept(session, s, who, st, "Aisha Khan", where=Where(ip_address="", user_agent=""))
    assert row.ip_address is None and row.user_agent is None


def test_validity_counts_from_the_london_day(session: Session, s: Setup) -> None:
    """23:30 UTC on 30 June is 00:30 on 1 July in London (BST)."""
    who, st = ready(session, s)
    row = accept(session, s, who, st, "Aisha Khan", now=datetime(2026, 6, 30, 23, 30, tzinfo=UTC))
    assert row.valid_until == date(2027, 7, 1)


def test_renewing_on_the_expiry_day_keeps_the_anniversary(session: Session, s: Setup) -> None:
    who, st = ready(session, s)
    first = accept(session, s, who, st, "Aisha Khan")
    assert first.valid_until == date(2027, 1, 15)
    records.submission(session, s, who, NOON, cycle=2)
    renewing = status(session, s, who, date(2027, 1, 15))
    assert renewing.state is State.DUE_FOR_RENEWAL and renewing.cycle == 2
    second = accept(
        session, s, who, renewing, "Aisha Khan", now=datetime(2027, 1, 15, 16, tzinfo=UTC)
    )
    assert (second.cycle, second.valid_until) == (2, date(2028, 1, 15))


def test_codes_are_read_back_however_they_are_typed(session: Session, s: Setup) -> None:
    who, st = ready(session, s)
    row = accept(session, s, who, st, "Aisha Khan")
    session.flush()
    code = row.verification_code
    assert acc.format_code(code) == f"{code[:5]}-{code[5:]}"
    assert acc.format_code("ABCDEFGHJK") == "ABCDE-FGHJK"
    typed = f" {acc.format_code(code).lower()} "
    assert acc.by_code(session, s.org.id, typed) is row
    assert acc.by_code(session, s.org.id + 1, code) is None
    assert acc.by_code(session, s.org.id, "") is None


def test_a_code_collision_is_an_error_not_an_earlier_acceptance(
    session: Session, s: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the same person, version and period is "already accepted"; a clash of the
    (random) verification code must not be passed off as one."""
    who, st = ready(session, s)
    first = accept(session, s, who, st, "Aisha Khan")
    session.flush()
    other, other_st = ready(session, s, "Tom Jones")
    monkeypatch.setattr(acc, "new_code", lambda: first.verification_code)
    with pytest.raises(IntegrityError):
        accept(session, s, other, other_st, "Tom Jones")


# --- on behalf ---------------------------------------------------------------------------


@pytest.mark.parametrize("note", ["", "   ", "\n"])
def test_on_behalf_needs_a_note(session: Session, s: Setup, note: str) -> None:
    hr = records.person(session, s.org, "Harriet HR")
    who = records.person(session, s.org)
    with pytest.raises(AcceptanceError):
        record_on_behalf(session, who, s.version, status(session, s, who), hr, note, NOON, RULE)
    assert count(session) == 0


def test_on_behalf_records_a_paper_declaration(session: Session, s: Setup) -> None:
    hr = records.person(session, s.org, "Harriet HR")
    who = records.person(session, s.org)
    st = status(session, s, who)
    assert st.state is State.NOT_STARTED  # no quiz is needed on paper
    on = datetime(2026, 1, 10, 9, tzinfo=UTC)
    row = record_on_behalf(session, who, s.version, st, hr, "  signed form, file 12 ", on, RULE)
    assert row.recorded_by_person_id == hr.id
    assert row.recorded_note == "signed form, file 12"
    assert row.typed_name == "Aisha Khan"
    assert row.quiz_submission_id is None and row.quiz_score is None
    assert row.accepted_at == on and row.valid_until == date(2027, 1, 10)
    assert row.ip_address is None and row.user_agent is None


def test_on_behalf_for_someone_already_certified_is_refused(session: Session, s: Setup) -> None:
    hr = records.person(session, s.org, "Harriet HR")
    who, st = ready(session, s)
    first = accept(session, s, who, st, "Aisha Khan")
    with pytest.raises(AlreadyAccepted) as caught:
        record_on_behalf(session, who, s.version, status(session, s, who), hr, "paper", NOON, RULE)
    assert caught.value.acceptance.id == first.id
    assert count(session) == 1


def test_on_behalf_renews_someone_due_for_renewal(session: Session, s: Setup) -> None:
    hr = records.person(session, s.org, "Harriet HR")
    who, st = ready(session, s)
    accept(session, s, who, st, "Aisha Khan")
    due = status(session, s, who, date(2027, 1, 1))
    assert due.state is State.DUE_FOR_RENEWAL
    on = datetime(2027, 1, 1, 12, tzinfo=UTC)
    row = record_on_behalf(session, who, s.version, due, hr, "paper", on, RULE)
    assert (row.cycle, row.valid_until) == (2, date(2028, 1, 15))


# --- the double submit, for real --------------------------------------------------------


def test_a_double_submit_from_two_connections_records_one_acceptance(
    make_app: object, app: Flask
) -> None:
    """Two processes (two apps, two connection pools) confirm the same acceptance at the
    same moment: both saw "quiz passed"; the database lets one through."""
    with app.app_context():
        s = records.setup(db.session())
        who, _ = ready(db.session(), s)
        db.session.commit()
        ids = (s.org.id, s.version.id, who.id)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []
    lock = threading.Lock()

    def confirm() -> None:
        tab = make_app()  # type: ignore[operator]
        org_id, version_id, person_id = ids
        with tab.app_context():
            session = db.session()
            try:
                person = session.get_one(Person, person_id)
                version = session.get_one(PolicyVersion, version_id)
                st = person_status(
                    session, org_id, person_id, version, Today(date(2026, 1, 15), RULE, 28)
                )
                assert st.state is State.QUIZ_PASSED
                session.commit()  # end the read: each side now writes from what it saw
                barrier.wait(timeout=30)
                row = record_acceptance(
                    session, person, version, st, "Aisha Khan", RULE, NOON, Where()
                )
                session.commit()
                outcome: object = row.id
            except AlreadyAccepted as exc:
                outcome = ("already accepted", exc.acceptance.id)
                session.rollback()
            except BaseException as exc:  # reported below: a thread's failure fails the test
                session.rollback()
                outcome = exc
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    won = [o for o in outcomes if isinstance(o, int)]
    lost = [o for o in outcomes if isinstance(o, tuple)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert lost == [("already accepted", won[0])]
    with app.app_context():
        rows = db.session.scalars(sa.select(Acceptance)).all()
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "acceptance")
        ).all()
        assert [r.id for r in rows] == won
        assert len(events) == 1 and events[0].details["acceptance"] == won[0]
        assert all(r.ok for r in audit.verify(db.session()))


def test_the_errors_say_what_went_wrong() -> None:
    assert str(NameMismatch("Aisha Khan")) == "typed name does not match"
    assert str(AlreadyAccepted(Acceptance())) == "already accepted"
    with pytest.raises(AttributeError):
        Where().ip_address = "10.0.0.1"  # type: ignore[misc]
