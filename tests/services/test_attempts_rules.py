"""attempts.py at its boundaries: blocks of attempts and the exact second a cool-down ends,
the pass mark, time limits and their extensions (ten, each the full limit again), scoring."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.models import Person, QuizAttempt
from app.services import attempts
from app.services.attempts import (
    MAX_EXTENSIONS,
    AlreadySubmitted,
    AttemptError,
    BadAnswer,
    NotAllowed,
    NotYours,
    TimeUp,
)
from app.services.question_bank import DEFAULT_SETTINGS
from tests.services import records
from tests.services.records import NOON, Setup

TICK = timedelta(microseconds=1)


@pytest.fixture
def who(session: Session, s: Setup) -> Person:
    return records.person(session, s.org)


def settings(**kw: Any) -> dict[str, Any]:
    return {**DEFAULT_SETTINGS, "questions_per_attempt": 10, "shuffle_options": False, **kw}


def start(session: Session, s: Setup, who: Person, now: Any, **kw: Any) -> QuizAttempt:
    return attempts.start_attempt(
        session,
        person_id=who.id,
        organisation_id=s.org.id,
        version_id=s.version.id,
        cycle=1,
        bank=s.bank,
        section_keys=["intro"],
        settings=settings(**kw),
        launch_id=None,
        now=now,
        rng=random.Random(1),
    )


def choices(attempt: QuizAttempt, right: int) -> dict[int, list[int]]:
    """The first `right` questions answered correctly (option 1 unshuffled), the rest not."""
    return {n: [1 if n <= right else 2] for n in range(1, len(attempt.drawn) + 1)}


def allowance(session: Session, s: Setup, who: Person, now: Any, **kw: Any) -> Any:
    return attempts.allowance(session, who.id, s.version.id, 1, settings(**kw), now)


# --- the organisation's settings ---------------------------------------------------------------


def test_rules_take_the_organisations_settings_where_it_may_set_them() -> None:
    merged = attempts.rules(
        {"pass_mark": 70, "questions_per_attempt": 12},
        {
            "pass_mark": 90,
            "max_attempts": 5,
            "questions_per_attempt": 3,
            "min_per_section": 4,
            "x": 1,
        },
    )
    assert merged == {
        **DEFAULT_SETTINGS,
        "pass_mark": 90,
        "max_attempts": 5,
        "questions_per_attempt": 12,
    }
    assert attempts.rules({}, None) == DEFAULT_SETTINGS


# --- blocks of attempts and the cool-down --------------------------------------------------------


def test_attempts_come_in_blocks_and_the_cool_down_ends_to_the_second(
    session: Session, s: Setup, who: Person
) -> None:
    first = allowance(session, s, who, NOON)
    assert (first.passed, first.failed, first.attempts_left, first.wait_until) == (None, 0, 3, None)
    assert first.can_start
    for n in range(1, 3):
        records.submission(session, s, who, NOON + timedelta(minutes=n), passed=False)
        now = allowance(session, s, who, NOON + timedelta(minutes=n))
        assert (now.failed, now.attempts_left, now.wait_until) == (n, 3 - n, None)
    last = NOON + timedelta(minutes=3)
    records.submission(session, s, who, last, passed=False)
    ends = last + timedelta(minutes=60)
    waiting = allowance(session, s, who, ends - TICK)
    assert (waiting.failed, waiting.attempts_left, waiting.wait_until) == (3, 0, ends)
    assert not waiting.can_start
    again = allowance(session, s, who, ends)  # the exact moment it ends: a new block
    assert (again.failed, again.attempts_left, again.wait_until) == (3, 3, None)
    assert again.can_start
    records.submission(session, s, who, ends, passed=False)
    assert allowance(session, s, who, ends).attempts_left == 2


def test_the_cool_down_and_block_size_come_from_the_settings(
    session: Session, s: Setup, who: Person
) -> None:
    for n in range(2):
        records.submission(session, s, who, NOON + timedelta(minutes=n), passed=False)
    last = NOON + timedelta(minutes=1)
    short = allowance(session, s, who, last, max_attempts=2, cooldown_minutes=5)
    assert short.wait_until == last + timedelta(minutes=5)
    assert allowance(
        session, s, who, last + timedelta(minutes=5), max_attempts=2, cooldown_minutes=5
    ).can_start
    none = allowance(session, s, who, last, max_attempts=2, cooldown_minutes=0)
    assert none.wait_until is None and none.attempts_left == 2


def test_a_pass_ends_the_attempts(session: Session, s: Setup, who: Person) -> None:
    records.submission(session, s, who, NOON, passed=False)
    won = records.submission(session, s, who, NOON + timedelta(minutes=1))
    now = allowance(session, s, who, NOON + timedelta(minutes=2))
    assert now.passed is not None and now.passed.id == won.id
    assert (now.failed, now.attempts_left) == (1, 2)
    assert not now.can_start
    with pytest.raises(NotAllowed):
        start(session, s, who, NOON + timedelta(minutes=2))


def test_no_attempt_starts_during_the_cool_down(session: Session, s: Setup, who: Person) -> None:
    for _ in range(3):
        records.submission(session, s, who, NOON, passed=False)
    with pytest.raises(NotAllowed):
        start(session, s, who, NOON + timedelta(minutes=60) - TICK)
    assert start(session, s, who, NOON + timedelta(minutes=60)).person_id == who.id


# --- starting, and the attempt in progress ----------------------------------------------------


def test_a_started_attempt_is_the_one_shown_until_its_time_is_up(
    session: Session, s: Setup, who: Person
) -> None:
    attempt = start(session, s, who, NOON, time_limit_minutes=20)
    assert attempt.started_at == NOON and attempt.deadline == NOON + timedelta(minutes=20)
    assert attempt.settings["time_limit_minutes"] == 20
    assert (attempt.organisation_id, attempt.bank_id, attempt.cycle) == (s.org.id, s.bank.id, 1)
    assert len(attempt.drawn) == 10
    first = attempt.drawn[0]["id"]
    assert attempt.drawn[0]["options"] == [f"{first}a", f"{first}b"]  # not shuffled
    deadline = NOON + timedelta(minutes=20)
    assert start(session, s, who, deadline) is attempt  # a reload: same questions
    assert attempts.open_attempt(session, who.id, s.version.id, 1, deadline) is attempt
    assert attempts.open_attempt(session, who.id, s.version.id, 1, deadline + TICK) is None
    assert attempts.open_attempt(session, who.id, s.version.id, 2, NOON) is None
    fresh = start(session, s, who, deadline + TICK, time_limit_minutes=20)
    assert fresh is not attempt  # the timed-out one does not count; a new one starts


def test_without_a_limit_there_is_no_deadline(session: Session, s: Setup, who: Person) -> None:
    attempt = start(session, s, who, NOON)
    assert attempt.deadline is None and attempts.deadline_of(session, attempt) is None
    assert (
        attempts.open_attempt(session, who.id, s.version.id, 1, NOON + timedelta(days=365))
        is attempt
    )


def test_the_options_shown_are_the_drawn_ones_by_position(
    session: Session, s: Setup, who: Person
) -> None:
    attempt = start(session, s, who, NOON)
    shown = attempts.shown(attempt)
    assert [q.number for q in shown] == list(range(1, 11))
    assert [q.question.id for q in shown] == [d["id"] for d in attempt.drawn]
    assert shown[0].options == [(1, "right"), (2, "wrong")]
    assert not shown[0].multiple


# --- submitting: the pass mark and the guards ------------------------------------------------


@pytest.mark.parametrize(
    ("right", "pass_mark", "percent", "passed"),
    [
        (8, 80, 80, True),
        (7, 80, 70, False),
        (8, 81, 80, False),
        (10, 100, 100, True),
        (0, 1, 0, False),
    ],
)
def test_the_pass_mark_boundary(
    session: Session, s: Setup, who: Person, right: int, pass_mark: int, percent: int, passed: bool
) -> None:
    attempt = start(session, s, who, NOON, pass_mark=pass_mark)
    done = attempts.submit(session, attempt, who.id, choices(attempt, right), NOON)
    assert (done.score, done.total, done.percent, done.passed) == (right, 10, percent, passed)
    assert done.submitted_at == NOON and done.attempt_id == attempt.id
    first = attempt.drawn[0]["id"]
    assert done.answers[first] == [f"{first}a" if right else f"{first}b"]
    assert done.results[0] == {"id": first, "correct": right > 0}


def test_percent_is_rounded(session: Session) -> None:
    s = records.setup(session, questions=3)
    who = records.person(session, s.org)
    attempt = start(session, s, who, NOON, questions_per_attempt=3)
    done = attempts.submit(session, attempt, who.id, choices(attempt, 2), NOON)
    assert (done.score, done.total, done.percent) == (2, 3, 67)


def test_someone_elses_attempt_or_a_second_submit_is_refused(
    session: Session, s: Setup, who: Person
) -> None:
    other = records.person(session, s.org, "Tom Jones")
    attempt = start(session, s, who, NOON, time_limit_minutes=20)
    with pytest.raises(NotYours):
        attempts.submit(session, attempt, other.id, choices(attempt, 10), NOON)
    with pytest.raises(NotYours):
        attempts.extend(session, attempt, other.id, NOON)
    attempts.submit(session, attempt, who.id, choices(attempt, 10), NOON)
    session.refresh(attempt)
    with pytest.raises(AlreadySubmitted) as caught:
        attempts.submit(session, attempt, who.id, choices(attempt, 10), NOON)
    assert caught.value.attempt_id == attempt.id and caught.value.status == 409
    with pytest.raises(AlreadySubmitted):
        attempts.extend(session, attempt, who.id, NOON)


def test_answers_count_until_the_deadline_itself(session: Session, s: Setup, who: Person) -> None:
    late = start(session, s, who, NOON, time_limit_minutes=20)
    with pytest.raises(TimeUp):
        attempts.submit(
            session, late, who.id, choices(late, 10), NOON + timedelta(minutes=20) + TICK
        )
    done = attempts.submit(session, late, who.id, choices(late, 10), NOON + timedelta(minutes=20))
    assert done.passed


@pytest.mark.parametrize(
    "picked",
    [{}, {1: []}, {1: [0]}, {1: [3]}, {1: [-1]}, {1: [1, 2]}],
    ids=["none", "empty", "zero", "past-the-end", "negative", "two-on-a-single"],
)
def test_an_answer_that_is_not_an_option_is_refused(
    session: Session, s: Setup, who: Person, picked: dict[int, list[int]]
) -> None:
    attempt = start(session, s, who, NOON)
    with pytest.raises(BadAnswer):
        attempts.submit(
            session, attempt, who.id, {**choices(attempt, 10), **picked} if picked else {}, NOON
        )
    assert attempt.submission is None


def test_a_multiple_choice_question_needs_exactly_the_right_set(session: Session) -> None:
    q = records.question(1)
    q["type"] = "multiple"
    q["options"].append({"id": "q1c", "text": "also right"})
    q["correct"] = ["q1a", "q1c"]
    s = records.setup(session, questions=1, bank=[q])
    who = records.person(session, s.org)
    attempt = start(session, s, who, NOON, questions_per_attempt=1)
    assert attempts.shown(attempt)[0].multiple
    done = attempts.submit(session, attempt, who.id, {1: [3, 1, 1]}, NOON)
    assert done.answers == {"q1": ["q1a", "q1c"]} and done.passed
    other = records.person(session, s.org, "Tom Jones")
    attempt = attempts.start_attempt(
        session,
        person_id=other.id,
        organisation_id=s.org.id,
        version_id=s.version.id,
        cycle=1,
        bank=s.bank,
        section_keys=["intro"],
        settings=settings(questions_per_attempt=1),
        launch_id=None,
        now=NOON,
        rng=random.Random(1),
    )
    assert not attempts.submit(session, attempt, other.id, {1: [1]}, NOON).passed


# --- extensions ----------------------------------------------------------------------------


def test_each_extension_adds_the_full_limit_to_the_later_of_deadline_and_now(
    session: Session, s: Setup, who: Person
) -> None:
    attempt = start(session, s, who, NOON, time_limit_minutes=20)
    # Asked with 15 minutes left: the limit again on top of the deadline.
    assert attempts.extend(
        session, attempt, who.id, NOON + timedelta(minutes=5)
    ) == NOON + timedelta(minutes=40)
    assert attempts.deadline_of(session, attempt) == NOON + timedelta(minutes=40)
    # Asked after the deadline (a slow page): the limit from now.
    assert attempts.extend(
        session, attempt, who.id, NOON + timedelta(minutes=50)
    ) == NOON + timedelta(minutes=70)
    assert attempts.deadline_of(session, attempt) == NOON + timedelta(minutes=70)
    done = attempts.submit(
        session, attempt, who.id, choices(attempt, 10), NOON + timedelta(minutes=70)
    )
    assert done.passed


def test_ten_extensions_then_no_more(session: Session, s: Setup, who: Person) -> None:
    assert MAX_EXTENSIONS == 10
    attempt = start(session, s, who, NOON, time_limit_minutes=20)
    for n in range(1, 11):
        assert attempts.extend(session, attempt, who.id, NOON) == NOON + timedelta(
            minutes=20 * (n + 1)
        )
    with pytest.raises(NotAllowed):
        attempts.extend(session, attempt, who.id, NOON)
    assert attempts.deadline_of(session, attempt) == NOON + timedelta(minutes=220)


def test_an_attempt_without_a_limit_cannot_be_extended(
    session: Session, s: Setup, who: Person
) -> None:
    attempt = start(session, s, who, NOON)
    with pytest.raises(AttemptError) as caught:
        attempts.extend(session, attempt, who.id, NOON)
    assert type(caught.value) is AttemptError and caught.value.status == 400


# --- statistics ------------------------------------------------------------------------------


def test_question_statistics(session: Session) -> None:
    s = records.setup(session, questions=3)
    who = records.person(session, s.org)
    other = records.person(session, s.org, "Tom Jones")
    third = records.person(session, s.org, "Sam Lee")
    for person, right in ((who, 3), (other, 1), (third, 2)):
        attempt = start(session, s, person, NOON, questions_per_attempt=3)
        attempts.submit(session, attempt, person.id, choices(attempt, right), NOON)
    stats = {q.id: q for q in attempts.question_statistics(session, s.org.id, s.bank)}
    assert set(stats) == {"q1", "q2", "q3"}
    wrong = [q for q in stats.values() if q.correct < 3]
    assert sorted((q.attempts, q.correct) for q in stats.values()) == [(3, 1), (3, 2), (3, 3)]
    for q in stats.values():
        assert q.section == "intro" and q.stem == f"Question {q.id[1:]}?"
        assert q.percent_correct == round(100 * q.correct / 3)
    for q in wrong:
        assert (q.top_wrong, q.top_wrong_count) == ("wrong", 3 - q.correct)
    perfect = next(q for q in stats.values() if q.correct == 3)
    assert (perfect.top_wrong, perfect.top_wrong_count) == (None, 0)
    assert attempts.question_statistics(session, s.org.id + 1, s.bank)[0].percent_correct is None


# --- the small print -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (AttemptError("x"), 400),
        (BadAnswer("x"), 400),
        (NotAllowed("x"), 403),
        (NotYours("x"), 403),
        (AlreadySubmitted(7), 409),
        (TimeUp("x"), 409),
    ],
)
def test_each_refusal_has_its_http_status(error: AttemptError, status: int) -> None:
    assert error.status == status


def test_already_submitted_says_so() -> None:
    assert str(AlreadySubmitted(7)) == "already submitted"


def test_the_values_handed_out_cannot_be_changed(session: Session, s: Setup, who: Person) -> None:
    now = allowance(session, s, who, NOON)
    shown = attempts.shown(start(session, s, who, NOON))[0]
    stats = attempts.question_statistics(session, s.org.id, s.bank)[0]
    for value in (now, shown, stats):
        with pytest.raises(AttributeError):
            value.number = 0  # type: ignore[union-attr]


def test_the_draw_follows_the_given_random_source(session: Session, s: Setup) -> None:
    """Tests and benchmarks pass a seeded source; the tool passes none (the system's)."""
    one = start(session, s, records.person(session, s.org, "One"), NOON)
    two = start(session, s, records.person(session, s.org, "Two"), NOON)
    assert one.id is not None and two.id is not None  # flushed: the page links to it
    assert one.drawn == two.drawn
    assert [d["id"] for d in one.drawn] != [f"q{n}" for n in range(1, 11)]  # drawn, not listed


def test_an_attempt_with_no_questions_scores_nothing(
    session: Session, s: Setup, who: Person
) -> None:
    attempt = attempts.start_attempt(
        session,
        person_id=who.id,
        organisation_id=s.org.id,
        version_id=s.version.id,
        cycle=1,
        bank=s.bank,
        section_keys=["a-section-with-no-questions"],
        settings=settings(pass_mark=1),
        launch_id=None,
        now=NOON,
    )
    assert attempt.drawn == []
    done = attempts.submit(session, attempt, who.id, {}, NOON)
    assert (done.score, done.total, done.percent, done.passed) == (0, 0, 0, False)


def test_an_attempt_whose_settings_lost_the_limit_is_not_extended(
    session: Session, s: Setup, who: Person
) -> None:
    # A deadline whose settings say no limit (written as it is: attempts are append-only).
    attempt = QuizAttempt(
        person_id=who.id,
        organisation_id=s.org.id,
        policy_version_id=s.version.id,
        cycle=1,
        bank_id=s.bank.id,
        drawn=[],
        settings=settings(),
        started_at=NOON,
        deadline=NOON + timedelta(minutes=20),
    )
    session.add(attempt)
    session.flush()
    with pytest.raises(AttemptError):
        attempts.extend(session, attempt, who.id, NOON)
