"""Drafts of quiz answers (attempts.save_draft / draft_choices) at their boundaries: the stored
format, only the attempt's own questions and options, one answer where one is asked, and
no draft once the attempt is marked, is someone else's or is out of time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import Person, QuizAttempt, QuizDraft, QuizSubmission
from app.services import attempts
from app.services.attempts import AlreadySubmitted, BadAnswer, NotYours, TimeUp
from tests.services import records
from tests.services.records import NOON, Setup

TICK = timedelta(microseconds=1)

MULTIPLE = {
    "id": "m1",
    "section": "intro",
    "type": "multiple",
    "stem": "Which apply?",
    "options": [
        {"id": "m1a", "text": "one"},
        {"id": "m1b", "text": "two"},
        {"id": "m1c", "text": "three"},
    ],
    "correct": ["m1a", "m1b"],
    "explanation": "",
}


@pytest.fixture
def s(session: Session) -> Setup:
    return records.setup(session, bank=[records.question(1), records.question(2), MULTIPLE])


@pytest.fixture
def who(session: Session, s: Setup) -> Person:
    return records.person(session, s.org)


def attempt(session: Session, s: Setup, who: Person, deadline: Any = None) -> QuizAttempt:
    """Two questions drawn in a fixed order, options shuffled: q2 (b, a), then m1 (c, a, b)."""
    row = QuizAttempt(
        person_id=who.id,
        organisation_id=s.org.id,
        policy_version_id=s.version.id,
        cycle=1,
        bank_id=s.bank.id,
        drawn=[
            {"id": "q2", "options": ["q2b", "q2a"]},
            {"id": "m1", "options": ["m1c", "m1a", "m1b"]},
        ],
        settings={"pass_mark": 80},
        started_at=NOON,
        deadline=deadline,
    )
    session.add(row)
    session.flush()
    return row


def test_a_draft_is_stored_as_question_ids_and_option_ids(
    session: Session, s: Setup, who: Person
) -> None:
    row = attempt(session, s, who)
    attempts.save_draft(session, row, who.id, {1: [2], 2: [3, 1]}, NOON)
    stored = session.execute(
        sa.text("SELECT CAST(answers AS TEXT), saved_at FROM quiz_draft WHERE attempt_id = :a"),
        {"a": row.id},
    ).one()
    # Positions on the page are never stored: the ids are, as a submission's answers are.
    assert stored[0] == '{"q2": ["q2a"], "m1": ["m1b", "m1c"]}'
    assert attempts.draft_choices(session, row) == {1: [2], 2: [1, 3]}


def test_saving_again_replaces_the_draft_and_unanswered_questions_are_left_out(
    session: Session, s: Setup, who: Person
) -> None:
    row = attempt(session, s, who)
    attempts.save_draft(session, row, who.id, {1: [1], 2: [1]}, NOON)
    attempts.save_draft(session, row, who.id, {1: [], 2: [2]}, NOON + timedelta(minutes=1))
    [draft] = session.scalars(sa.select(QuizDraft)).all()
    assert draft.answers == {"m1": ["m1a"]}
    assert draft.saved_at == NOON + timedelta(minutes=1)
    assert attempts.draft_choices(session, row) == {2: [2]}


def test_no_draft_means_nothing_ticked(session: Session, s: Setup, who: Person) -> None:
    assert attempts.draft_choices(session, attempt(session, s, who)) == {}


def test_option_ids_not_in_the_draw_are_never_ticked_again(
    session: Session, s: Setup, who: Person
) -> None:
    row = attempt(session, s, who)
    session.add(QuizDraft(attempt_id=row.id, answers={"q2": ["q1a", "q2a"], "q9": ["x"]}))
    session.flush()
    assert attempts.draft_choices(session, row) == {1: [2]}


@pytest.mark.parametrize(
    "choices",
    [
        {3: [1]},  # a third question: the attempt drew two
        {0: [1]},
        {1: [0]},  # positions start at 1
        {1: [3]},  # q2 shows two options
        {2: [4]},  # m1 shows three
        {1: [1, 2]},  # q2 takes one answer
    ],
    ids=["no such question", "question 0", "position 0", "past q2's last", "past m1's last", "two"],
)
def test_anything_but_the_attempts_own_options_is_refused(
    session: Session, s: Setup, who: Person, choices: dict[int, list[int]]
) -> None:
    row = attempt(session, s, who)
    with pytest.raises(BadAnswer):
        attempts.save_draft(session, row, who.id, choices, NOON)
    assert session.scalars(sa.select(QuizDraft)).all() == []


def test_the_last_option_and_every_option_of_a_multiple_are_accepted(
    session: Session, s: Setup, who: Person
) -> None:
    row = attempt(session, s, who)
    attempts.save_draft(session, row, who.id, {1: [2], 2: [1, 2, 3]}, NOON)
    assert attempts.draft_choices(session, row) == {1: [2], 2: [1, 2, 3]}


def test_someone_elses_attempt_takes_no_draft(session: Session, s: Setup, who: Person) -> None:
    other = records.person(session, s.org, name="Lee Morgan", subject="u-lee")
    with pytest.raises(NotYours):
        attempts.save_draft(session, attempt(session, s, who), other.id, {1: [1]}, NOON)


def test_a_marked_attempt_takes_no_draft(session: Session, s: Setup, who: Person) -> None:
    row = attempt(session, s, who)
    attempts.submit(session, row, who.id, {1: [2], 2: [2, 3]}, NOON)
    session.refresh(row)
    assert isinstance(row.submission, QuizSubmission)
    with pytest.raises(AlreadySubmitted):
        attempts.save_draft(session, row, who.id, {1: [1]}, NOON)


def test_a_draft_is_taken_up_to_the_deadline_and_not_after(
    session: Session, s: Setup, who: Person
) -> None:
    row = attempt(session, s, who, deadline=NOON)
    attempts.save_draft(session, row, who.id, {1: [1]}, NOON)
    with pytest.raises(TimeUp):
        attempts.save_draft(session, row, who.id, {1: [2]}, NOON + TICK)
    assert attempts.draft_choices(session, row) == {1: [1]}
