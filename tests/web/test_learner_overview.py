"""The overview through HTTP: how long the module takes (from this reader's sections and the
quiz's own settings), who the person is taking it as, the verification code once Completed,
the end of a lock-out, and the note for colleagues who were in care themselves."""

from __future__ import annotations

import html as markup
import re
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from app.clock import long_datetime, utcnow
from app.db import db
from app.models import Acceptance, Organisation, PolicyVersion, QuizSubmission
from app.services.content_pack import PLACEHOLDERS
from app.services.policies import sections_for
from app.services.progress import estimated_minutes
from tests.learner_flow import answers, attempt_id, csrf, read_all, start_quiz, submit


def text_of(client: FlaskClient, url: str = "/") -> str:
    """The page as a person reads it: tags gone, entities decoded, spaces collapsed."""
    page = client.get(url).get_data(as_text=True)
    return " ".join(markup.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def set_quiz_settings(app: Flask, **settings: Any) -> None:
    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        org.quiz_settings = settings
        db.session.commit()


def minutes_for(app: Flask, elected_member: bool, questions: int = 12) -> int:
    """As the reminder e-mails work it out (the estimate's edges: its own service tests)."""
    with app.app_context():
        version = db.session.scalars(select(PolicyVersion)).one()
        return estimated_minutes(sections_for(version, elected_member), questions)


def fail(app: Flask, client: FlaskClient) -> None:
    action, page = start_quiz(client)
    response = submit(client, action, page, answers(app, attempt_id(action), right=0))
    assert response.status_code == 302


def complete(app: Flask, client: FlaskClient, name: str) -> None:
    read_all(client)
    action, page = start_quiz(client)
    assert submit(client, action, page, answers(app, attempt_id(action))).status_code == 302
    form = client.get("/accept").get_data(as_text=True)
    check = client.post(
        "/accept", data={"csrf_token": csrf(form), "accept": "y", "full_name": name}
    )
    # The check page, whether shown in answer to the post or after a redirect to it.
    html = (client.get(check.location) if check.status_code == 302 else check).get_data(
        as_text=True
    )
    done = client.post(
        "/accept/confirm", data={"csrf_token": csrf(html), "accept": "y", "full_name": name}
    )
    assert done.status_code == 302 and "/accept/done/" in done.location


def test_overview_says_up_front_how_long_the_staff_reading_and_the_quiz_take(
    app: Flask, launched: Any
) -> None:
    text = text_of(launched("u-aisha"))
    minutes = minutes_for(app, elected_member=False)
    # The 10 staff sections are about 6,000 words: some 30 minutes at 200 words a minute,
    # and a minute for each of the quiz's 12 questions.
    assert 40 <= minutes <= 50
    assert "How long it takes" in text
    assert (
        f"It takes about {minutes} minutes: reading the 10 sections, then a quiz of 12 "
        "questions. You pass with 80% or more. If you do not pass in 3 attempts, you can try "
        "again after 1 hour."
    ) in text
    assert "You can stop at any time and come back: the sections you have read are saved." in text
    # Dropped: rows that told people nothing they did not know.
    assert "Organisation" not in text
    assert "Your role in this module" not in text
    assert "Learner" not in text
    assert "Taking the module as Staff member" in text


def test_the_quiz_promise_follows_the_quiz_settings_not_fixed_words(
    app: Flask, launched: Any
) -> None:
    set_quiz_settings(app, pass_mark=70, max_attempts=2, cooldown_minutes=90)
    text = text_of(launched("u-aisha"))
    assert "You pass with 70% or more." in text
    assert "If you do not pass in 2 attempts, you can try again after 90 minutes." in text
    set_quiz_settings(app, max_attempts=1, cooldown_minutes=2880, time_limit_minutes=60)
    text = text_of(launched("u-aisha"))
    assert "You have 1 hour for each attempt, and can ask for more time." in text
    assert "If you do not pass in 1 attempt, you can try again after 2 days." in text
    set_quiz_settings(app, cooldown_minutes=0)
    assert "If you do not pass, you can try again straight away." in text_of(launched("u-aisha"))


def test_a_councillor_is_labelled_councillor_and_timed_on_their_own_sections(
    app: Flask, launched: Any
) -> None:
    text = text_of(launched("u-jo"))
    minutes = minutes_for(app, elected_member=True)
    assert f"It takes about {minutes} minutes: reading the 11 sections, then a quiz" in text
    assert "Taking the module as Councillor" in text
    assert "Staff member" not in text and "Learner" not in text


def test_once_completed_the_overview_shows_the_code_hr_can_verify(
    app: Flask, launched: Any
) -> None:
    client = launched("u-aisha")
    complete(app, client, "Aisha Khan")
    with app.app_context():
        code = db.session.scalars(select(Acceptance.verification_code)).one()
    shown = f"{code[:5]}-{code[5:]}"
    text = text_of(client)
    assert "Your status Completed" in text
    assert "Your verification code If someone asks you to show that you have completed" in text
    assert shown in text
    # The to-do parts are gone: no time estimate, no button, nothing left to do.
    assert "How long it takes" not in text
    assert "To do" not in text and "Start reading" not in text
    # Nor the introduction, with its steps to complete (shown to anyone who has not).
    assert 'class="app-policy-text"' not in client.get("/").get_data(as_text=True)
    assert 'class="app-policy-text"' in launched("u-lee").get("/").get_data(as_text=True)
    # HR's verify page finds the acceptance by the code exactly as the overview shows it.
    verify = launched("u-priya").get(f"/hr/verify?code={shown}")
    assert verify.status_code == 200
    assert "Aisha Khan" in verify.get_data(as_text=True)


def test_a_lock_out_shows_on_the_overview_with_when_the_quiz_opens_again(
    app: Flask, launched: Any, travel: Any
) -> None:
    set_quiz_settings(app, max_attempts=2, cooldown_minutes=60)
    client = launched("u-aisha")
    read_all(client)
    fail(app, client)
    after_one = text_of(client)
    assert "You can try the quiz again from" not in after_one  # one attempt is still left
    assert "Go to the quiz" in after_one
    fail(app, client)
    with app.app_context():
        last = db.session.scalars(
            select(QuizSubmission.submitted_at).order_by(QuizSubmission.id.desc())
        ).first()
    assert last is not None
    opens = long_datetime(last + timedelta(minutes=60))
    text = text_of(client)
    assert (
        "You did not reach the pass mark in your last 2 attempts. "
        f"You can try the quiz again from {opens}."
    ) in text
    assert f"You can try again from {opens}." in text  # the quiz's line in the contents
    assert "Go to the quiz" not in text
    travel(minutes=59)
    assert "You can try the quiz again from" in text_of(client)
    travel(minutes=61)  # the shift from now, not added to the last one
    reopened = text_of(client)
    assert "You can try the quiz again from" not in reopened
    assert "Go to the quiz" in reopened
    assert utcnow() > last + timedelta(minutes=60)


def test_care_experienced_note_names_the_councils_support_contact_escaped(
    launched: Any, runner: FlaskCliRunner
) -> None:
    text = text_of(launched("u-aisha"))
    assert (
        "If you were in care yourself: some sections talk about abuse, neglect and trauma"
    ) in text
    default = PLACEHOLDERS["staff_support"][1]  # until the council sets its own
    assert f"If you would like to talk or want support, contact {default}." in text
    result = runner.invoke(
        args=[
            "org",
            "set",
            "--org",
            "Test Borough Council",
            "staff_support",
            "Care Experienced <Staff> Network",
        ]
    )
    assert result.exit_code == 0, result.output
    page = launched("u-jo").get("/").get_data(as_text=True)
    assert "contact Care Experienced &lt;Staff&gt; Network." in page
    assert "<Staff>" not in page
    assert 'class="govuk-inset-text"' in page
