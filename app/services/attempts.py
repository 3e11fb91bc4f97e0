"""Quiz attempts: who may start one, the draw, scoring on the server, and the statistics.

The browser only ever sees question text and option text with positions (1, 2, 3...);
which options are right lives here and in the database. A submission is recorded once.
A draft (the answers ticked so far) is kept per open attempt and only restores the page.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, String, column, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.db import dialect_name
from app.models import (
    Audience,
    Person,
    QuizAttempt,
    QuizBank,
    QuizDraft,
    QuizExtension,
    QuizSubmission,
)
from app.services.question_bank import DEFAULT_SETTINGS, RANGES, Question, draw

_rng = secrets.SystemRandom()

MAX_EXTENSIONS = 10  # WCAG 2.2.1: at least ten extensions of a time limit


class AttemptError(Exception):
    status = 400


class NotAllowed(AttemptError):
    status = 403


class NotYours(AttemptError):
    status = 403


class AlreadySubmitted(AttemptError):
    status = 409

    def __init__(self, attempt_id: int) -> None:
        super().__init__("already submitted")
        self.attempt_id = attempt_id


class TimeUp(AttemptError):
    status = 409


class BadAnswer(AttemptError):
    """An answer that is not one of the question's options: a changed or stale form."""


def rules(bank_settings: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The bank's settings with the organisation's own, where it has set them."""
    merged = {**DEFAULT_SETTINGS, **bank_settings}
    for key, value in (overrides or {}).items():
        if key in RANGES and key not in ("questions_per_attempt", "min_per_section"):
            merged[key] = value
    return merged


@dataclass(frozen=True)
class Allowance:
    passed: QuizSubmission | None
    failed: int
    attempts_left: int
    wait_until: datetime | None

    @property
    def can_start(self) -> bool:
        return self.passed is None and self.wait_until is None


def submissions(
    session: Session, person_id: int, version_id: int, cycle: int
) -> list[QuizSubmission]:
    return list(
        session.scalars(
            select(QuizSubmission)
            .join(QuizAttempt)
            .where(
                QuizAttempt.person_id == person_id,
                QuizAttempt.policy_version_id == version_id,
                QuizAttempt.cycle == cycle,
            )
            .order_by(QuizSubmission.submitted_at)
        )
    )


def allowance(
    session: Session,
    person_id: int,
    version_id: int,
    cycle: int,
    settings: dict[str, Any],
    now: datetime,
) -> Allowance:
    """Attempts come in blocks of max_attempts; a block used up without a pass means
    waiting cooldown_minutes from the last attempt, then a new block starts."""
    done = submissions(session, person_id, version_id, cycle)
    passed = next((s for s in reversed(done) if s.passed), None)
    failed = [s for s in done if not s.passed]
    per_block = settings["max_attempts"]
    used = len(failed) % per_block
    wait_until = None
    if failed and used == 0:
        ends = failed[-1].submitted_at + timedelta(minutes=settings["cooldown_minutes"])
        if ends > now:
            wait_until = ends
    left = per_block - used if wait_until is None else 0
    return Allowance(passed, len(failed), left, wait_until)


def deadline_of(session: Session, attempt: QuizAttempt) -> datetime | None:
    if attempt.deadline is None:
        return None
    extended = session.scalar(
        select(func.max(QuizExtension.new_deadline)).where(QuizExtension.attempt_id == attempt.id)
    )
    return max(attempt.deadline, extended) if extended else attempt.deadline


def open_attempt(
    session: Session, person_id: int, version_id: int, cycle: int, now: datetime
) -> QuizAttempt | None:
    """The attempt in progress, if any: a reload or second tab shows the same questions."""
    attempt = session.scalars(
        select(QuizAttempt)
        .outerjoin(QuizSubmission)
        .where(
            QuizAttempt.person_id == person_id,
            QuizAttempt.policy_version_id == version_id,
            QuizAttempt.cycle == cycle,
            QuizSubmission.id.is_(None),
        )
        .order_by(QuizAttempt.started_at.desc(), QuizAttempt.id.desc())
        .options(selectinload(QuizAttempt.bank))
        .limit(1)
    ).first()
    if attempt is None:
        return None
    deadline = deadline_of(session, attempt)
    if deadline is not None and deadline < now:
        return None  # ran out of time: it does not count, a new attempt can start
    return attempt


def start_attempt(
    session: Session,
    *,
    person_id: int,
    organisation_id: int,
    version_id: int,
    cycle: int,
    bank: QuizBank,
    section_keys: list[str],
    settings: dict[str, Any],
    launch_id: int | None,
    now: datetime,
    rng: random.Random | None = None,
) -> QuizAttempt:
    existing = open_attempt(session, person_id, version_id, cycle, now)
    if existing is not None:
        return existing
    if not allowance(session, person_id, version_id, cycle, settings, now).can_start:
        raise NotAllowed("no attempt may be started now")
    questions = [Question.from_json(q) for q in bank.questions]
    # The person's record says whether they are a councillor, as it does for their sections:
    # the draw asks them only what was written for them.
    elected_member = session.scalar(select(Person.elected_member).where(Person.id == person_id))
    reader = Audience.of_reader(bool(elected_member))
    limit = settings.get("time_limit_minutes")
    attempt = QuizAttempt(
        person_id=person_id,
        organisation_id=organisation_id,
        policy_version_id=version_id,
        cycle=cycle,
        bank_id=bank.id,
        launch_id=launch_id,
        drawn=draw(questions, section_keys, reader, settings, rng or _rng),
        settings=settings,
        started_at=now,
        deadline=now + timedelta(minutes=limit) if limit else None,
    )
    session.add(attempt)
    session.flush()
    return attempt


@dataclass(frozen=True)
class Shown:
    """A question as the learner sees it: position, text and options in the drawn order."""

    number: int
    question: Question
    options: list[tuple[int, str]]  # (position, option text)

    @property
    def multiple(self) -> bool:
        return self.question.type == "multiple"


def shown(attempt: QuizAttempt) -> list[Shown]:
    by_id = {q["id"]: Question.from_json(q) for q in attempt.bank.questions}
    result = []
    for number, item in enumerate(attempt.drawn, start=1):
        question = by_id[item["id"]]
        text = {o.id: o.text for o in question.options}
        result.append(
            Shown(
                number, question, [(pos, text[oid]) for pos, oid in enumerate(item["options"], 1)]
            )
        )
    return result


def chosen_options(attempt: QuizAttempt, choices: dict[int, list[int]]) -> dict[str, list[str]]:
    """Positions the browser sent -> {question id: [option ids]}, for the attempt's own drawn
    questions only; anything else (another question, a position out of range, two answers
    to a one-answer question) is a changed or stale form. Unanswered questions are left out."""
    drawn = {number: item for number, item in enumerate(attempt.drawn, start=1)}
    questions = {q.number: q for q in shown(attempt)}
    answers: dict[str, list[str]] = {}
    for number, picked in choices.items():
        item = drawn.get(number)
        if item is None:
            raise BadAnswer(f"question {number} is not in this attempt")
        if any(not 1 <= p <= len(item["options"]) for p in picked):
            raise BadAnswer(f"question {number}")
        if not questions[number].multiple and len(picked) > 1:
            raise BadAnswer(f"question {number} takes one answer")
        if picked:
            answers[item["id"]] = sorted({item["options"][p - 1] for p in picked})
    return answers


def _still_open(session: Session, attempt: QuizAttempt, person_id: int, now: datetime) -> None:
    """Answers (saved or submitted) only for one's own attempt, unmarked, within its time."""
    if attempt.person_id != person_id:
        raise NotYours("attempt belongs to someone else")
    if attempt.submission is not None:
        raise AlreadySubmitted(attempt.id)
    deadline = deadline_of(session, attempt)
    if deadline is not None and now > deadline:
        raise TimeUp("the time limit has passed")


def save_draft(
    session: Session,
    attempt: QuizAttempt,
    person_id: int,
    choices: dict[int, list[int]],
    now: datetime,
) -> QuizDraft:
    """Keep the answers ticked so far (replacing the last ones) while the attempt is open."""
    _still_open(session, attempt, person_id, now)
    answers = chosen_options(attempt, choices)
    draft = session.get(QuizDraft, attempt.id)
    if draft is None:
        try:
            with session.begin_nested():  # a second tab may save the first draft too
                draft = QuizDraft(attempt_id=attempt.id, answers=answers, saved_at=now)
                session.add(draft)
            return draft
        except IntegrityError:
            draft = session.get(QuizDraft, attempt.id, populate_existing=True)
            assert draft is not None
    draft.answers = answers
    draft.saved_at = now
    session.flush()
    return draft


def draft_choices(session: Session, attempt: QuizAttempt) -> dict[int, list[int]]:
    """The saved draft as question number -> option positions, to tick them again. Option
    ids that are not in the draw (there should be none) are dropped, never shown."""
    draft = session.get(QuizDraft, attempt.id)
    if draft is None:
        return {}
    choices = {}
    for number, item in enumerate(attempt.drawn, start=1):
        ticked = set(draft.answers.get(item["id"], []))
        positions = [p for p, oid in enumerate(item["options"], start=1) if oid in ticked]
        if positions:
            choices[number] = positions
    return choices


def submit(
    session: Session,
    attempt: QuizAttempt,
    person_id: int,
    choices: dict[int, list[int]],
    now: datetime,
) -> QuizSubmission:
    """Score the attempt once. choices: question number -> chosen option positions."""
    _still_open(session, attempt, person_id, now)
    chosen = chosen_options(attempt, choices)
    answers: dict[str, list[str]] = {}
    results = []
    for shown_q in shown(attempt):
        qid = shown_q.question.id
        if qid not in chosen:
            raise BadAnswer(f"question {shown_q.number} is not answered")
        answers[qid] = chosen[qid]
        results.append({"id": qid, "correct": set(chosen[qid]) == set(shown_q.question.correct)})
    score = sum(1 for r in results if r["correct"])
    percent = round(100 * score / len(results)) if results else 0
    submission = QuizSubmission(
        attempt_id=attempt.id,
        submitted_at=now,
        answers=answers,
        results=results,
        score=score,
        total=len(results),
        percent=percent,
        passed=percent >= attempt.settings["pass_mark"],
    )
    try:
        with session.begin_nested():
            session.add(submission)
    except IntegrityError as exc:  # a second tab won the race
        raise AlreadySubmitted(attempt.id) from exc
    return submission


def extend(session: Session, attempt: QuizAttempt, person_id: int, now: datetime) -> datetime:
    """More time, as often as WCAG asks (at least ten times), each the full limit again."""
    if attempt.person_id != person_id:
        raise NotYours("attempt belongs to someone else")
    if attempt.submission is not None:
        raise AlreadySubmitted(attempt.id)
    deadline = deadline_of(session, attempt)
    limit = attempt.settings.get("time_limit_minutes")
    if deadline is None or not limit:
        raise AttemptError("this attempt has no time limit")
    count = (
        session.scalar(
            select(func.count())
            .select_from(QuizExtension)
            .where(QuizExtension.attempt_id == attempt.id)
        )
        or 0
    )
    if count >= MAX_EXTENSIONS:
        raise NotAllowed("no more extensions")
    new_deadline = max(deadline, now) + timedelta(minutes=limit)
    session.add(QuizExtension(attempt_id=attempt.id, extended_at=now, new_deadline=new_deadline))
    session.flush()
    return new_deadline


# Below this many passed and failed attempts that drew a question, one person more or less
# swings its discrimination by 20 points or more: too noisy to judge the question by.
MIN_FOR_DISCRIMINATION = 5


@dataclass(frozen=True)
class QuestionStats:
    id: str
    section: str
    stem: str
    attempts: int
    correct: int
    top_wrong: str | None
    top_wrong_count: int
    kind: str | None = None
    passed_attempts: int = 0  # attempts that passed and drew this question
    passed_correct: int = 0  # ... and got it right
    failed_attempts: int = 0
    failed_correct: int = 0

    @property
    def percent_correct(self) -> int | None:
        return round(100 * self.correct / self.attempts) if self.attempts else None

    @property
    def discrimination(self) -> int | None:
        """How much better people who passed did on this question than people who failed,
        in percentage points: near zero or below, the question does not tell them apart."""
        if min(self.passed_attempts, self.failed_attempts) < MIN_FOR_DISCRIMINATION:
            return None
        return round(
            100 * self.passed_correct / self.passed_attempts
            - 100 * self.failed_correct / self.failed_attempts
        )


def answered_correctly(
    session: Session, organisation_id: int, bank_id: int, since: datetime, until: datetime
) -> dict[str, tuple[int, int]]:
    """Per question of a bank: (times answered, times right) in the answers submitted in
    [since, until), as question_statistics counts them (each submission's `results`), but
    counted by the database: a quarter of a large council's answers is tens of thousands
    of documents that Python would otherwise parse one by one."""
    result: Any
    if dialect_name(session) == "postgresql":
        # Typed records straight from the JSON: a quarter faster than ->> on each element.
        result = (
            func.json_to_recordset(QuizSubmission.results)
            .table_valued(column("id", String), column("correct", Boolean), joins_implicitly=True)
            .render_derived(with_types=True)
        )
        question = result.c.id
        right = result.c.correct.is_(True)
    else:
        result = func.json_each(QuizSubmission.results).table_valued("value", joins_implicitly=True)
        question = func.json_extract(result.c.value, "$.id")
        right = func.json_extract(result.c.value, "$.correct") == 1
    rows = session.execute(
        select(question, func.count(), func.count().filter(right))
        .select_from(QuizSubmission)
        .join(QuizAttempt, QuizAttempt.id == QuizSubmission.attempt_id)
        .where(
            QuizAttempt.organisation_id == organisation_id,
            QuizAttempt.bank_id == bank_id,
            QuizSubmission.submitted_at >= since,
            QuizSubmission.submitted_at < until,
        )
        .group_by(question)
    )
    return {qid: (asked, correct) for qid, asked, correct in rows}


def question_statistics(
    session: Session, organisation_id: int, bank: QuizBank
) -> list[QuestionStats]:
    """Per question of a bank: how often asked, how often right, the wrong answer most
    chosen, and how well it tells those who passed from those who failed, so content owners
    can improve weak questions. One organisation's attempts."""
    rows = session.execute(
        select(QuizSubmission.answers, QuizSubmission.results, QuizSubmission.passed)
        .join(QuizAttempt, QuizAttempt.id == QuizSubmission.attempt_id)
        .where(QuizAttempt.organisation_id == organisation_id, QuizAttempt.bank_id == bank.id)
    ).all()
    questions = {q["id"]: q for q in bank.questions}
    asked: Counter[str] = Counter()
    right: Counter[str] = Counter()
    # (passed, question id) -> attempts, and how many of them got it right
    by_outcome: Counter[tuple[bool, str]] = Counter()
    right_by_outcome: Counter[tuple[bool, str]] = Counter()
    wrong: dict[str, Counter[str]] = {qid: Counter() for qid in questions}
    for answers, results, passed in rows:
        for result in results:
            qid = result["id"]
            asked[qid] += 1
            by_outcome[passed, qid] += 1
            if result["correct"]:
                right[qid] += 1
                right_by_outcome[passed, qid] += 1
                continue
            correct = set(questions[qid]["correct"])
            wrong[qid].update(o for o in answers.get(qid, []) if o not in correct)
    stats = []
    for qid, q in questions.items():
        option_text = {o["id"]: o["text"] for o in q["options"]}
        top = wrong[qid].most_common(1)
        stats.append(
            QuestionStats(
                id=qid,
                section=q["section"],
                stem=q["stem"],
                attempts=asked[qid],
                correct=right[qid],
                top_wrong=option_text.get(top[0][0]) if top else None,
                top_wrong_count=top[0][1] if top else 0,
                kind=q.get("kind"),
                passed_attempts=by_outcome[True, qid],
                passed_correct=right_by_outcome[True, qid],
                failed_attempts=by_outcome[False, qid],
                failed_correct=right_by_outcome[False, qid],
            )
        )
    return stats
