"""HR's quiz statistics through HTTP, over real attempts scored by the quiz's own service:
each question's kind and its discrimination, shown only from 5 passed and 5 failed attempts."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.clock import today, utcnow
from app.db import db
from app.models import Organisation, Person
from app.services import attempts
from app.services.policies import current_version
from app.services.question_bank import DEFAULT_SETTINGS, Bank, Option, Question, publish_bank

ORG = "Test Borough Council"
SECTION = "what-is-corporate-parenting"
KINDS = {"d1": "scenario", "d2": "recall", "d3": "recall", "d4": None, "d5": "recall"}


def question(qid: str) -> Question:
    return Question(
        qid,
        SECTION,
        "single",
        f"Question {qid}?",
        (Option("a", f"Right answer to {qid}"), Option("b", f"Wrong answer to {qid}")),
        frozenset({"a"}),
        "Because. See 'What corporate parenting is'.",
        KINDS[qid],  # d4 has none, as in a bank published before kinds
    )


def record_attempts(app: Flask, passed: int, passed_d1: int, failed: int, failed_d1: int) -> None:
    """Five questions, 3 right to pass (60%). Every pass gets d2-d4 right and d5 wrong; every
    fail gets d5 right and d2-d4 wrong; d1 is right in the first passed_d1 / failed_d1."""
    with app.app_context():
        session = db.session()
        org = session.scalars(select(Organisation).where(Organisation.name == ORG)).one()
        version = current_version(session, "corporate-parenting", today())
        assert version is not None
        settings = {**DEFAULT_SETTINGS, "questions_per_attempt": 5, "pass_mark": 60}
        row, _ = publish_bank(
            session,
            Bank("corporate-parenting", settings, tuple(question(q) for q in KINDS)),
        )
        plan = [(True, n < passed_d1) for n in range(passed)]
        plan += [(False, n < failed_d1) for n in range(failed)]
        for n, (to_pass, d1_right) in enumerate(plan):
            person = Person(organisation_id=org.id, name=f"Learner {n}")
            session.add(person)
            session.flush()
            attempt = attempts.start_attempt(
                session,
                person_id=person.id,
                organisation_id=org.id,
                version_id=version.id,
                cycle=1,
                bank=row,
                section_keys=[SECTION],
                settings=attempts.rules(row.settings, None),
                launch_id=None,
                now=utcnow(),
            )
            right = {"d2", "d3", "d4"} if to_pass else {"d5"}
            if d1_right:
                right.add("d1")
            choices = {
                number: [item["options"].index("a" if item["id"] in right else "b") + 1]
                for number, item in enumerate(attempt.drawn, start=1)
            }
            submission = attempts.submit(session, attempt, person.id, choices, utcnow())
            assert submission.passed is to_pass
        session.commit()


def cells(html: str, qid: str) -> list[str]:
    row = html.split(f">{qid}<", 1)[1].split("</tr>", 1)[0]
    return [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


@pytest.mark.parametrize(
    ("passed", "passed_d1", "failed", "failed_d1", "d1", "d2", "d5"),
    [
        # 5/6 of passes and 2/7 of fails got d1 right: 83.3 - 28.6 = 54.8 points.
        (6, 5, 7, 2, "+55", "+100", "-100"),
        (5, 4, 5, 1, "+60", "+100", "-100"),  # exactly 5 and 5: shown
        (5, 4, 4, 1, "Too few attempts", "Too few attempts", "Too few attempts"),
        (4, 3, 5, 1, "Too few attempts", "Too few attempts", "Too few attempts"),
        (5, 1, 5, 1, "0", "+100", "-100"),  # no better than those who failed
    ],
)
def test_each_questions_discrimination_needs_five_passed_and_five_failed_attempts(
    app: Flask,
    launched: Any,
    passed: int,
    passed_d1: int,
    failed: int,
    failed_d1: int,
    d1: str,
    d2: str,
    d5: str,
) -> None:
    hr = launched("u-priya")
    record_attempts(app, passed, passed_d1, failed, failed_d1)
    response = hr.get("/hr/quiz-statistics")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Discrimination is the percentage of passed attempts that got a question right" in html
    assert "at least 5 passed and 5 failed attempts" in html
    total = passed + failed
    # Columns: text, section, kind, times answered, % right, discrimination, top wrong answer.
    first = cells(html, "d1")
    assert first[2:6] == [
        "Scenario",
        str(total),
        f"{round(100 * (passed_d1 + failed_d1) / total)}%",
        d1,
    ]
    assert cells(html, "d2")[2] == "Recall"
    assert cells(html, "d2")[5] == d2
    assert cells(html, "d4")[2] == "Not given"
    assert cells(html, "d5")[5] == d5
