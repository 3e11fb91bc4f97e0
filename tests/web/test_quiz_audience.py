"""Whose questions a quiz asks, through HTTP: a councillor (marked by the LMS or by HR's
roster) is asked only questions for everyone and for councillors, a member of staff only
those for everyone and for staff; and HR's statistics count each question's own answers."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app.clock import today, utcnow
from app.db import db
from app.models import Audience, Organisation, Person, QuizAttempt
from app.services import attempts
from app.services.policies import current_version
from app.services.question_bank import DEFAULT_SETTINGS, Bank, Option, Question, publish_bank
from tests.learner_flow import attempt_id, read_all, start_quiz

ORG = "Test Borough Council"
STAFF_SECTION = "your-role-as-a-member-of-staff"
MEMBERS_SECTIONS = {"your-role-as-an-elected-member", "scrutiny-and-challenge"}


def drawn_questions(app: Flask, action: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the attempt's drawn questions, the whole bank) as the database holds them."""
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id(action))
        assert attempt is not None
        bank = {q["id"]: q for q in attempt.bank.questions}
        return [bank[item["id"]] for item in attempt.drawn], list(bank.values())


def text_of(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def assert_asked_only_their_own(
    page: str, drawn: list[dict[str, Any]], bank: Any, reader: Audience
) -> None:
    assert all(Audience(q["audience"]).includes(reader) for q in drawn), [
        (q["id"], q["audience"]) for q in drawn
    ]
    shown = text_of(page)
    for q in drawn:
        assert re.sub(r"\s+", " ", q["stem"]) in shown, q["id"]
    others = [q for q in bank if not Audience(q["audience"]).includes(reader)]
    assert others  # there are questions this reader must not see
    assert [q["id"] for q in others if re.sub(r"\s+", " ", q["stem"]) in shown] == []


def test_a_councillor_from_the_lms_is_asked_only_questions_for_councillors(
    app: Flask, launched: Any
) -> None:
    client = launched("u-jo")  # the LMS sends elected_member=true
    read_all(client)
    action, page = start_quiz(client)
    drawn, bank = drawn_questions(app, action)
    assert_asked_only_their_own(page, drawn, bank, Audience.MEMBERS)
    sections = {q["section"] for q in drawn}
    assert sections >= MEMBERS_SECTIONS and STAFF_SECTION not in sections


def test_a_member_of_staff_is_asked_only_questions_for_staff(app: Flask, launched: Any) -> None:
    client = launched("u-aisha")
    read_all(client)
    action, page = start_quiz(client)
    drawn, bank = drawn_questions(app, action)
    assert_asked_only_their_own(page, drawn, bank, Audience.STAFF)
    sections = {q["section"] for q in drawn}
    assert STAFF_SECTION in sections and not MEMBERS_SECTIONS & sections


def test_a_councillor_marked_in_hrs_roster_is_asked_questions_for_councillors(
    app: Flask, launched: Any, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    # Lee's LMS says nothing about being a councillor; the roster's Elected member column does.
    assert runner.invoke(args=["org", "set", "--org", ORG, "roster_join", "email"]).exit_code == 0
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Employee ID,First name,Last name,Email,Directorate,Department,Manager,Start date,"
        "Elected member\n"
        "M1,Lee,Morgan,lee.morgan@demo-council.example,Members,Members' services,,"
        "05/05/2022,Yes\n"
    )
    result = runner.invoke(args=["roster", "import", str(roster), "--org", ORG])
    assert result.exit_code == 0, result.output
    client = launched("u-lee")
    with app.app_context():
        lee = db.session.scalars(select(Person).where(Person.employee_id == "M1")).one()
        assert lee.subject == "u-lee" and lee.elected_member
    read_all(client)
    action, page = start_quiz(client)
    drawn, bank = drawn_questions(app, action)
    assert_asked_only_their_own(page, drawn, bank, Audience.MEMBERS)


# -- HR's statistics ----------------------------------------------------------------------------

SECTION = "what-is-corporate-parenting"
QUESTIONS = {"d1": Audience.ALL, "s1": Audience.STAFF, "m1": Audience.MEMBERS}


def question(qid: str) -> Question:
    return Question(
        qid,
        SECTION,
        "single",
        f"Question {qid}?",
        (Option("a", f"Right answer to {qid}"), Option("b", f"Wrong answer to {qid}")),
        frozenset({"a"}),
        "Because. See 'What corporate parenting is'.",
        "scenario",
        QUESTIONS[qid],
    )


def take(app: Flask, councillors: int, staff: int) -> None:
    """Two questions an attempt. Councillors get both right (d1 and m1); staff get d1 right
    and s1 wrong. The quiz's own service draws and marks every attempt."""
    with app.app_context():
        session = db.session()
        org = session.scalars(select(Organisation).where(Organisation.name == ORG)).one()
        version = current_version(session, "corporate-parenting", today())
        assert version is not None
        settings = {**DEFAULT_SETTINGS, "questions_per_attempt": 2, "pass_mark": 100}
        row, _ = publish_bank(
            session, Bank("corporate-parenting", settings, tuple(map(question, QUESTIONS)))
        )
        people = [True] * councillors + [False] * staff
        for n, elected in enumerate(people):
            person = Person(organisation_id=org.id, name=f"Person {n}", elected_member=elected)
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
            assert sorted(i["id"] for i in attempt.drawn) == ["d1", "m1" if elected else "s1"]
            choices = {
                number: [item["options"].index("b" if item["id"] == "s1" else "a") + 1]
                for number, item in enumerate(attempt.drawn, start=1)
            }
            attempts.submit(session, attempt, person.id, choices, utcnow())
        session.commit()


def cells(page: str, qid: str) -> list[str]:
    row = page.split(f">{qid}<", 1)[1].split("</tr>", 1)[0]
    return [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


@pytest.mark.parametrize(("councillors", "staff"), [(4, 3), (1, 0), (0, 2)])
def test_hr_statistics_count_each_question_only_where_it_was_asked(
    app: Flask, launched: Any, councillors: int, staff: int
) -> None:
    hr = launched("u-priya")
    take(app, councillors, staff)
    page = hr.get("/hr/quiz-statistics").get_data(as_text=True)
    # Columns: text, section, kind, times answered, % right, discrimination, top wrong answer.
    assert cells(page, "d1")[3:5] == [str(councillors + staff), "100%"]
    if councillors:
        assert cells(page, "m1")[3:5] == [str(councillors), "100%"]
    else:
        assert cells(page, "m1")[3:5] == ["0", "Not asked yet"]
    if staff:
        assert cells(page, "s1")[3:5] == [str(staff), "0%"]
        assert cells(page, "s1")[6] == f"Wrong answer to s1 ({staff})"
    else:
        assert cells(page, "s1")[3:5] == ["0", "Not asked yet"]
