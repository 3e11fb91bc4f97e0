"""A councillor's quiz in real Chromium, launched from the demo LMS (which marks Jo as an
elected member): the page asks only questions written for everyone or for councillors, and
it passes axe-core and reflows at 320px. Issue 14: a councillor was asked "You work in the
waste and recycling team...".

Which questions were drawn is read from the database; the page's text is then checked for
every staff-only stem. The draw is seeded so that this very draw, were audiences ignored,
would include staff-only questions: the test checks that too, so it cannot pass by luck.
"""

from __future__ import annotations

import dataclasses
import random

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver

from app.db import db
from app.models import Audience, QuizAttempt
from app.services import attempts
from app.services.question_bank import Question, draw
from tests.browser.a11y import assert_no_axe_violations, assert_reflows_at_320px
from tests.browser.conftest import LiveTool, launch
from tests.browser.journey import (
    BUTTON,
    attempt_on_page,
    click_to_next_page,
    h1_text,
    normal,
    open_page,
)

SEED = 2034  # without the audience rule, this draw would ask a councillor 3 staff questions
MEMBERS_SECTIONS = {"your-role-as-an-elected-member", "scrutiny-and-challenge"}


@pytest.fixture
def seeded_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live tool (in this process) draws from a seeded generator; it still draws, stores
    and shows the attempt itself."""
    monkeypatch.setattr(attempts, "_rng", random.Random(SEED))


def test_a_councillors_quiz_shows_only_questions_for_councillors(
    chrome: WebDriver, live_tool: LiveTool, seeded_draws: None
) -> None:
    live = live_tool
    launch(chrome, live, "u-jo")
    sections = chrome.execute_script(
        "return Array.from(new Set(Array.from("
        "document.querySelectorAll('a[href^=\"/sections/\"]'), (a) => a.getAttribute('href'))))"
    )
    assert {f"/sections/{key}" for key in MEMBERS_SECTIONS} <= set(sections), sections
    for section in sections:
        open_page(chrome, live, section)
    open_page(chrome, live, "/quiz")
    click_to_next_page(chrome, live, BUTTON, "Start the quiz")
    attempt_id = attempt_on_page(chrome)

    with live.app.app_context():
        attempt = db.session.get(QuizAttempt, attempt_id)
        assert attempt is not None
        bank = [Question.from_json(q) for q in attempt.bank.questions]
        drawn_ids = [item["id"] for item in attempt.drawn]
        settings = attempt.settings
    by_id = {q.id: q for q in bank}
    keys = [s.removeprefix("/sections/") for s in sections]

    # Were the audience ignored, the same seeded draw would have asked staff questions.
    blind = [dataclasses.replace(q, audience=Audience.ALL) for q in bank]
    unfiltered = draw(blind, keys, Audience.MEMBERS, settings, random.Random(SEED))
    assert any(by_id[d["id"]].audience is Audience.STAFF for d in unfiltered), (
        f"SEED {SEED} no longer tests anything: choose one whose unfiltered draw for a "
        "councillor includes a staff-only question"
    )

    # The stored draw: only questions for everyone or for councillors, their sections too.
    assert all(by_id[qid].audience.includes(Audience.MEMBERS) for qid in drawn_ids), [
        (qid, by_id[qid].audience.value) for qid in drawn_ids
    ]
    assert {by_id[qid].section for qid in drawn_ids} >= MEMBERS_SECTIONS

    # The page shows every drawn question and no staff-only one.
    assert h1_text(chrome)
    shown = normal(chrome.execute_script("return document.querySelector('main').innerText"))
    legends = chrome.execute_script(
        "return Array.from(document.querySelectorAll('main legend'), (l) => l.innerText)"
    )
    assert len(legends) == len(drawn_ids)
    for qid in drawn_ids:
        assert normal(by_id[qid].stem) in shown, qid
    staff_only = [q for q in bank if q.audience is Audience.STAFF]
    assert len(staff_only) >= 7
    assert [q.id for q in staff_only if normal(q.stem) in shown] == []

    assert_no_axe_violations(chrome)
    assert_reflows_at_320px(chrome)
