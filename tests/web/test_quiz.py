"""Quiz attempts through HTTP: fair draws, scoring on the server, and every tampering case."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from app.db import db
from app.models import QuizAttempt, QuizDraft, QuizSubmission
from app.services import attempts
from tests.learner_flow import answers, attempt_id, csrf, read_all, start_quiz, submit

ORG = "Test Borough Council"


def count(app: Flask, model: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def ready(launched: Any) -> Any:
    """A learner who has read every section."""

    def make(user: str = "u-aisha") -> Any:
        client = launched(user)
        read_all(client)
        return client

    return make


def test_draw_is_fresh_fair_and_stable_across_reloads(app: Flask, ready: Any) -> None:
    client = ready("u-aisha")
    action, page = start_quiz(client)
    again = client.get("/quiz").get_data(as_text=True)
    legends = re.findall(r"<legend[^>]*>\s*(.*?)\s*</legend>", page, re.S)
    assert len(legends) == 12
    assert legends == re.findall(r"<legend[^>]*>\s*(.*?)\s*</legend>", again, re.S)
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id(action))
        assert attempt is not None
        bank = {q["id"]: q for q in attempt.bank.questions}
        sections = [bank[item["id"]]["section"] for item in attempt.drawn]
    # At least one question from each of the ten sections this officer read.
    assert len(set(sections)) == 10
    assert "your-role-as-an-elected-member" not in sections
    assert len({item["id"] for item in attempt.drawn}) == 12


def test_the_page_never_says_which_option_is_right(app: Flask, ready: Any) -> None:
    client = ready()
    action, page = start_quiz(client)
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id(action))
        assert attempt is not None
        bank = {q["id"]: q for q in attempt.bank.questions}
        for item in attempt.drawn:
            assert bank[item["id"]]["explanation"] not in page
        # The questions' own words may say "correct" (a stem asks about a correction).
        shown = [bank[i["id"]]["stem"] for i in attempt.drawn]
        shown += [o["text"] for i in attempt.drawn for o in bank[i["id"]]["options"]]
    values = set(re.findall(r'name="q\d+"[^>]*value="([^"]*)"', page))
    values |= set(re.findall(r'value="([^"]*)"[^>]*name="q\d+"', page))
    assert values and values <= {"1", "2", "3", "4", "5"}
    rest = html.unescape(page)
    for text in shown:
        rest = rest.replace(text, "")
    assert "correct" not in rest.lower()


def test_fail_then_cool_down_then_pass(
    app: Flask, ready: Any, runner: FlaskCliRunner, travel: Any
) -> None:
    with app.app_context():
        from app.models import Organisation

        org = db.session.scalars(select(Organisation)).one()
        org.quiz_settings = {"max_attempts": 2, "cooldown_minutes": 60}
        db.session.commit()
    client = ready()
    for expected_left in (1, 0):
        action, page = start_quiz(client)
        result = submit(client, action, page, answers(app, attempt_id(action), right=6))
        assert result.status_code == 302
        html = client.get(result.location).get_data(as_text=True)
        assert "You did not pass this time" in html
        assert "6 out of 12 (50%)" in html
        assert "Read the section:" in html  # feedback links each question to its section
        if expected_left:
            assert "You have 1 attempt left" in html
    assert "You can try the quiz again from" in html
    wait = client.get("/quiz").get_data(as_text=True)
    assert "You can try the quiz again later" in wait
    assert client.post("/quiz/start", data={"csrf_token": csrf(page)}).status_code == 302
    assert count(app, QuizAttempt) == 2  # nothing started during the cool-down

    travel(minutes=61)
    action, page = start_quiz(client)
    result = submit(client, action, page, answers(app, attempt_id(action), right=10))
    html = client.get(result.location).get_data(as_text=True)
    assert "You passed the quiz" in html
    assert "10 out of 12 (83%)" in html
    assert "Continue to accept the policy" in html
    assert count(app, QuizSubmission) == 3
    # Passed: the quiz now leads to the acceptance, not to another attempt.
    assert client.get("/quiz").location == "/accept"


def test_double_submit_records_one_result(app: Flask, ready: Any) -> None:
    client = ready()
    action, page = start_quiz(client)
    data = answers(app, attempt_id(action))
    first = submit(client, action, page, data)
    assert first.status_code == 302
    again = submit(client, action, page, data)
    assert again.status_code == 302 and again.location == first.location  # its result
    html = client.get(again.location).get_data(as_text=True)
    assert "You have already submitted these answers" in html
    assert "You have already submitted" not in client.get(again.location).get_data(as_text=True)
    assert count(app, QuizSubmission) == 1


def test_stale_form_from_an_earlier_attempt_is_refused(app: Flask, ready: Any) -> None:
    client = ready()
    action, page = start_quiz(client)
    submit(client, action, page, answers(app, attempt_id(action), right=0))
    new_action, _new_page = start_quiz(client)
    assert new_action != action
    stale = submit(client, action, page, answers(app, attempt_id(action)))
    assert stale.status_code == 302 and stale.location == f"{action}/result"
    assert count(app, QuizSubmission) == 1


@pytest.mark.parametrize("bad", ["9", "0", "-1", "a", "1 OR 1=1", "\u00b2", "1" * 5000])
def test_an_option_that_is_not_the_questions_is_refused(app: Flask, ready: Any, bad: str) -> None:
    client = ready()
    action, page = start_quiz(client)
    data = answers(app, attempt_id(action))
    data["q3"] = [bad]
    response = submit(client, action, page, data)
    assert response.status_code == 302 and response.location == "/quiz"
    html = client.get("/quiz").get_data(as_text=True)
    assert "could not be marked" in html and "<title>Error:" in html
    assert count(app, QuizSubmission) == 0
    assert count(app, QuizDraft) == 0  # nothing of it kept either


def test_unanswered_questions_are_listed_in_an_error_summary(app: Flask, ready: Any) -> None:
    client = ready()
    action, page = start_quiz(client)
    data = answers(app, attempt_id(action))
    del data["q2"], data["q7"]
    response = submit(client, action, page, data)
    assert response.status_code == 302 and response.location == "/quiz"
    html = client.get("/quiz").get_data(as_text=True)
    assert "There is a problem" in html
    assert (
        "Select an answer to question 2" in html
        or "Select at least one answer to question 2" in html
    )
    assert 'href="#q7"' in html
    assert "<title>Error:" in html
    assert count(app, QuizSubmission) == 0


def test_someone_elses_attempt_cannot_be_submitted(app: Flask, ready: Any) -> None:
    aisha = ready("u-aisha")
    action, _page = start_quiz(aisha)
    lee = ready("u-lee")
    _, lee_page = start_quiz(lee)
    response = submit(lee, action, lee_page, answers(app, attempt_id(action)))
    assert response.status_code == 403
    assert "belongs to someone else" in response.get_data(as_text=True)
    assert lee.get(f"{action}/result").status_code == 403
    assert count(app, QuizSubmission) == 0


def test_a_form_without_its_csrf_token_is_refused(app: Flask, ready: Any) -> None:
    client = ready()
    action, _ = start_quiz(client)
    response = client.post(action, data=answers(app, attempt_id(action)))
    assert response.status_code == 400
    assert "Your form has expired" in response.get_data(as_text=True)
    assert count(app, QuizSubmission) == 0


def test_multiple_choice_needs_exactly_the_right_set(
    app: Flask, ready: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Draws are random; this one must include a multiple-choice question for the test to
    # mean anything, so the server's own draw is repeated until it does.
    real_draw = attempts.draw

    def draw_with_a_multiple(questions: list[Any], *args: Any) -> list[dict[str, Any]]:
        types = {q.id: q.type for q in questions}
        for _ in range(1000):
            drawn = real_draw(questions, *args)
            if any(types[item["id"]] == "multiple" for item in drawn):
                return drawn
        raise AssertionError("no draw had a multiple-choice question")

    monkeypatch.setattr(attempts, "draw", draw_with_a_multiple)
    client = ready()
    action, page = start_quiz(client)
    data = answers(app, attempt_id(action))
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id(action))
        assert attempt is not None
        bank = {q["id"]: q for q in attempt.bank.questions}
        multi = [
            n for n, item in enumerate(attempt.drawn, 1) if bank[item["id"]]["type"] == "multiple"
        ]
    assert multi
    data[f"q{multi[0]}"] = data[f"q{multi[0]}"][:1]  # only one of the right options
    submit(client, action, page, data)
    with app.app_context():
        sub = db.session.scalars(select(QuizSubmission)).one()
        assert sub.score == 11


def test_time_limit_can_be_extended_and_late_answers_do_not_count(
    app: Flask, ready: Any, travel: Any
) -> None:
    with app.app_context():
        from app.models import Organisation

        org = db.session.scalars(select(Organisation)).one()
        org.quiz_settings = {"time_limit_minutes": 20}
        db.session.commit()
    client = ready()
    action, page = start_quiz(client)
    assert "Submit your answers by" in page
    more = re.search(r'action="(/quiz/attempts/\d+/more-time)"', page)
    assert more
    travel(minutes=15)
    assert client.post(more.group(1), data={"csrf_token": csrf(page)}).status_code == 302
    travel(minutes=30)  # past the first limit, within the extended one
    assert submit(client, action, page, answers(app, attempt_id(action))).status_code == 302

    lee = ready("u-lee")
    action, page = start_quiz(lee)  # started 45 minutes on: its limit ends at 65
    travel(minutes=45 + 21)
    late = submit(lee, action, page, answers(app, attempt_id(action)))
    assert late.status_code == 302 and late.location == f"{action}/time-up"
    assert "Your time ran out" in lee.get(late.location).get_data(as_text=True)
    assert count(app, QuizSubmission) == 1


def test_question_statistics_for_hr(app: Flask, ready: Any, launched: Any) -> None:
    client = ready("u-aisha")
    action, page = start_quiz(client)
    data = answers(app, attempt_id(action), right=0)
    submit(client, action, page, data)
    with app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id(action))
        assert attempt is not None
        first = attempt.drawn[0]
        bank = {q["id"]: q for q in attempt.bank.questions}
        question = bank[first["id"]]
        wrong_text = next(
            o["text"]
            for o in question["options"]
            if o["id"] == first["options"][int(data["q1"][0]) - 1]
        )
    hr = launched("u-priya")
    html = hr.get("/hr/quiz-statistics").get_data(as_text=True)
    assert hr.get("/hr/quiz-statistics").status_code == 200
    row = html.split(f">{question['id']}<", 1)[1].split("</tr>", 1)[0]
    assert ">1<" in row  # answered once
    assert ">0%<" in row  # never right
    assert f"{wrong_text} (1)" in row.replace("&#39;", "'").replace("&quot;", '"')
    assert launched("u-aisha").get("/hr/quiz-statistics").status_code == 403


# -- answers saved as the learner goes -----------------------------------------------------------
def ticked(page: str) -> dict[str, set[str]]:
    """The options shown ticked, by question field: {"q1": {"2"}, ...}."""
    found: dict[str, set[str]] = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="(q\d+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and value and re.search(r"\schecked\b", tag):
            found.setdefault(name.group(1), set()).add(value.group(1))
    return found


def some_ticks(app: Flask, action: str) -> dict[str, list[str]]:
    """The right answers to questions 1 and 2 only, as the form sends them."""
    data = answers(app, attempt_id(action))
    return {"q1": data["q1"], "q2": data["q2"]}


def test_answers_ticked_so_far_are_kept_on_the_server_for_any_device(
    app: Flask, ready: Any, launched: Any
) -> None:
    client = ready()
    action, page = start_quiz(client)
    assert ticked(page) == {}
    partial = some_ticks(app, action)
    saved = client.post(f"{action}/draft", data={"csrf_token": csrf(page), **partial})
    assert saved.status_code == 200 and saved.get_json() == {"saved": True}
    expected = {name: set(values) for name, values in partial.items()}
    assert ticked(client.get("/quiz").get_data(as_text=True)) == expected  # a refresh
    other_device = launched("u-aisha")
    assert ticked(other_device.get("/quiz").get_data(as_text=True)) == expected
    with app.app_context():
        row = db.session.get(QuizAttempt, attempt_id(action))
        assert row is not None
        draft = db.session.get(QuizDraft, row.id)
        assert draft is not None
        assert list(draft.answers) == [row.drawn[0]["id"], row.drawn[1]["id"]]
        assert all(
            set(ids) <= set(item["options"])
            for ids, item in zip(draft.answers.values(), row.drawn, strict=False)
        )
    # What is marked is the final form, not the draft.
    final = answers(app, attempt_id(action), right=0)
    result = submit(client, action, page, final)
    assert result.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(QuizSubmission)).one().score == 0
    late = client.post(f"{action}/draft", data={"csrf_token": csrf(page), **partial})
    assert late.status_code == 409 and late.get_json() == {"saved": False, "reason": "submitted"}


def test_save_and_come_back_later_works_without_javascript(app: Flask, ready: Any) -> None:
    client = ready()
    action, page = start_quiz(client)
    assert f'formaction="{action}/save"' in page and "Save and come back later" in page
    partial = some_ticks(app, action)
    response = client.post(f"{action}/save", data={"csrf_token": csrf(page), **partial})
    assert response.status_code == 302 and response.location == "/quiz"
    shown = client.get("/quiz").get_data(as_text=True)
    assert "Your answers have been saved" in shown
    assert ticked(shown) == {name: set(values) for name, values in partial.items()}
    refreshed = client.get("/quiz").get_data(as_text=True)
    assert "Your answers have been saved" not in refreshed  # said once
    assert ticked(refreshed) == ticked(shown)
    assert count(app, QuizSubmission) == 0


def test_unanswered_questions_keep_the_answers_that_were_given(app: Flask, ready: Any) -> None:
    client = ready()
    action, page = start_quiz(client)
    data = answers(app, attempt_id(action))
    del data["q2"]
    assert submit(client, action, page, data).location == "/quiz"
    again = client.get("/quiz").get_data(as_text=True)
    assert ticked(again) == {name: set(values) for name, values in data.items()}
    assert 'href="#q2"' in again


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"q1": ["9"]}, 400),
        ({"q1": ["0"]}, 400),
        ({"q1": ["a"]}, 400),
        ({"q1": ["1" * 5000]}, 413),  # more than the draft endpoint takes
    ],
    ids=["past the last option", "option 0", "not a number", "too large"],
)
def test_a_draft_of_anything_but_the_attempts_options_is_refused(
    app: Flask, ready: Any, change: dict[str, list[str]], status: int
) -> None:
    client = ready()
    action, page = start_quiz(client)
    response = client.post(f"{action}/draft", data={"csrf_token": csrf(page), **change})
    assert response.status_code == status
    assert count(app, QuizDraft) == 0


def test_a_draft_needs_the_csrf_token_and_the_learners_own_attempt(app: Flask, ready: Any) -> None:
    aisha = ready("u-aisha")
    action, _page = start_quiz(aisha)
    assert aisha.post(f"{action}/draft", data={"q1": ["1"]}).status_code == 400
    lee = ready("u-lee")
    _, lee_page = start_quiz(lee)
    for where in ("draft", "save"):
        response = lee.post(f"{action}/{where}", data={"csrf_token": csrf(lee_page), "q1": "1"})
        assert response.status_code == 403
    assert count(app, QuizDraft) == 0


def test_opening_the_module_again_mid_quiz_lands_on_the_quiz(
    app: Flask, ready: Any, launched: Any
) -> None:
    """Reloading the learning portal's page opens the module again (a new launch): with an
    attempt under way it lands on the quiz, not the contents; otherwise on the contents."""
    client = ready()
    assert client.get("/resume").location == "/"
    action, page = start_quiz(client)
    client.post(f"{action}/draft", data={"csrf_token": csrf(page), **some_ticks(app, action)})
    again = launched("u-aisha")
    assert again.get("/resume").location == "/quiz"
    assert ticked(again.get("/quiz").get_data(as_text=True))
    submit(client, action, page, answers(app, attempt_id(action)))
    assert client.get("/resume").location == "/"
