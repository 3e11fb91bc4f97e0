"""A minimal organisation, policy version, quiz bank and people, built straight from the
models, for tests that call the record's services (status, acceptance, attempts) directly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.models import (
    Acceptance,
    Organisation,
    Person,
    Policy,
    PolicyVersion,
    QuizAttempt,
    QuizBank,
    QuizSubmission,
)

# Noon in London in winter is noon UTC: a fixed instant on a fixed day.
NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def question(n: int) -> dict[str, Any]:
    return {
        "id": f"q{n}",
        "section": "intro",
        "type": "single",
        "stem": f"Question {n}?",
        "options": [{"id": f"q{n}a", "text": "right"}, {"id": f"q{n}b", "text": "wrong"}],
        "correct": [f"q{n}a"],
        "explanation": "",
    }


@dataclass
class Setup:
    org: Organisation
    version: PolicyVersion
    bank: QuizBank


def setup(
    session: Session,
    questions: int = 10,
    bank: list[dict[str, Any]] | None = None,
    **org_settings: Any,
) -> Setup:
    org = Organisation(name="Boundary Borough", **org_settings)
    policy = Policy(key="cp", title="Corporate Parenting Policy")
    session.add_all([org, policy])
    session.flush()
    version = PolicyVersion(
        policy_id=policy.id,
        version="1.0",
        title="Corporate Parenting Policy",
        summary="",
        effective_date=date(2026, 1, 1),
        requires_reacceptance=True,
        intro_markdown="",
        intro_html="",
        content_hash="c" * 64,
        published_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    quiz_bank = QuizBank(
        policy_id=policy.id,
        content_hash="b" * 64,
        settings={"questions_per_attempt": questions, "shuffle_options": False},
        # Written once: question banks are never changed once published.
        questions=bank or [question(n) for n in range(1, questions + 1)],
    )
    session.add_all([version, quiz_bank])
    session.flush()
    return Setup(org, version, quiz_bank)


def setup_org(session: Session, name: str) -> Organisation:
    org = Organisation(name=name)
    session.add(org)
    session.flush()
    return org


def person(session: Session, org: Organisation, name: str = "Aisha Khan", **kw: Any) -> Person:
    row = Person(organisation_id=org.id, name=name, **kw)
    session.add(row)
    session.flush()
    return row


def submission(
    session: Session,
    s: Setup,
    who: Person,
    at: datetime,
    passed: bool = True,
    cycle: int = 1,
    percent: int | None = None,
    results: list[dict[str, Any]] | None = None,
) -> QuizSubmission:
    """A finished attempt, recorded as the quiz would have left it."""
    attempt = QuizAttempt(
        person_id=who.id,
        organisation_id=s.org.id,
        policy_version_id=s.version.id,
        cycle=cycle,
        bank_id=s.bank.id,
        drawn=[],
        settings={},
        started_at=at,
    )
    session.add(attempt)
    session.flush()
    percent = (100 if passed else 50) if percent is None else percent
    row = QuizSubmission(
        attempt_id=attempt.id,
        submitted_at=at,
        answers={},
        results=results or [],
        score=percent // 10,
        total=10,
        percent=percent,
        passed=passed,
    )
    session.add(row)
    session.flush()
    return row


def acceptance(session: Session, s: Setup, who: Person, until: date, **kw: Any) -> Acceptance:
    """An acceptance valid until `until`, as the tool records one. kw: at (accepted_at),
    code (its verification code; unique per person by default), version_id, cycle, and any
    other column (accepted_on for a dated paper declaration, recorded_by_person_id...)."""
    row = Acceptance(
        person_id=who.id,
        organisation_id=s.org.id,
        policy_version_id=kw.pop("version_id", s.version.id),
        cycle=kw.pop("cycle", 1),
        content_hash="c" * 64,
        declaration_text="I accept",
        declaration_hash="d" * 64,
        typed_name=who.name,
        accepted_at=kw.pop("at", datetime(2025, 6, 30, 12, tzinfo=UTC)),
        valid_until=until,
        verification_code=kw.pop("code", f"CODE{who.id:06}"),
        **kw,
    )
    session.add(row)
    session.flush()
    return row
