"""The overview in each state a person meets it, in real headless Chromium: a member of staff
locked out after failed attempts, a councillor before starting, at the declaration and once
Completed. Each passes axe-core's WCAG 2.x A and AA rules, has its headings in order, reflows
at 320 CSS pixels and breaks no Content-Security-Policy rule.

The quiz's answers come from the database (the server's truth), never from the page.
"""

from __future__ import annotations

from flask import Flask
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from sqlalchemy import select

from app.db import db
from app.models import Organisation
from tests.browser.a11y import (
    assert_headings_in_order,
    assert_no_axe_violations,
    assert_reflows_at_320px,
    csp_violations,
)
from tests.browser.conftest import LiveTool, launch
from tests.browser.journey import (
    BUTTON,
    answer_key,
    attempt_on_page,
    choose_with_the_mouse,
    click_to_next_page,
    h1_text,
    open_page,
    verification_code,
)

OVERVIEW = "Corporate Parenting Policy"


def assert_accessible(driver: WebDriver) -> None:
    assert_no_axe_violations(driver)
    assert_headings_in_order(driver)
    assert_reflows_at_320px(driver)
    refused = csp_violations(driver)
    assert not refused, "Chromium refused something under the tool's CSP:\n" + "\n".join(refused)


def main_text(driver: WebDriver) -> str:
    return " ".join(driver.find_element(By.TAG_NAME, "main").text.split())


def read_every_section(driver: WebDriver, live: LiveTool) -> None:
    open_page(driver, live, "/")
    sections = driver.execute_script(
        "return Array.from(new Set(Array.from("
        "document.querySelectorAll('a[href^=\"/sections/\"]'), (a) => a.getAttribute('href'))))"
    )
    for section in sections:
        open_page(driver, live, section)


def take_the_quiz(driver: WebDriver, live: LiveTool, *, right: bool) -> None:
    open_page(driver, live, "/quiz")
    click_to_next_page(driver, live, BUTTON, "Start the quiz")
    for question in answer_key(live.app, attempt_on_page(driver)):
        choose_with_the_mouse(driver, question, question.right if right else question.a_wrong_one)
    click_to_next_page(driver, live, BUTTON, "Submit my answers")


def one_attempt_then_a_day(app: Flask) -> None:
    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        org.quiz_settings = {"max_attempts": 1, "cooldown_minutes": 1440}
        db.session.commit()


def test_a_staff_members_overview_when_locked_out_is_accessible(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    live = live_tool
    one_attempt_then_a_day(live.app)
    launch(chrome, live, "u-aisha")
    text = main_text(chrome)
    assert "Taking the module as Staff member" in text
    assert "If you do not pass in 1 attempt, you can try again after 1 day." in text
    assert "If you were in care yourself" in text
    read_every_section(chrome, live)
    take_the_quiz(chrome, live, right=False)
    assert h1_text(chrome) == "You did not pass this time"
    open_page(chrome, live, "/")
    assert h1_text(chrome) == OVERVIEW
    text = main_text(chrome)
    assert "You did not reach the pass mark in your last attempt." in text
    assert "You can try the quiz again from" in text
    assert "Go to the quiz" not in text
    assert_accessible(chrome)


def test_a_councillors_overview_declaration_and_completed_overview_are_accessible(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    live = live_tool
    launch(chrome, live, "u-jo")
    assert h1_text(chrome) == OVERVIEW
    text = main_text(chrome)
    assert "Taking the module as Councillor" in text
    assert "How long it takes" in text
    assert "Learner" not in text and "Organisation" not in text
    assert_accessible(chrome)

    read_every_section(chrome, live)
    take_the_quiz(chrome, live, right=True)
    click_to_next_page(chrome, live, "a.govuk-button", "Continue to accept the policy")
    assert h1_text(chrome) == "Accept the policy"
    assert "as part of my duties as an elected member of the council" in main_text(chrome)
    assert_accessible(chrome)

    chrome.find_element(By.CSS_SELECTOR, "label[for=accept]").click()
    chrome.find_element(By.ID, "full_name").send_keys("Cllr. Jo Evans")
    click_to_next_page(chrome, live, BUTTON, "Continue")
    assert h1_text(chrome) == "Check before you accept"
    assert "as part of my duties as an elected member" in main_text(chrome)
    assert_accessible(chrome)
    click_to_next_page(chrome, live, BUTTON, "Accept the policy")
    code = verification_code(chrome, live)

    click_to_next_page(chrome, live, "a", "Back to the module")
    assert h1_text(chrome) == OVERVIEW
    text = main_text(chrome)
    assert "Your verification code" in text
    assert f"{code[:5]}-{code[5:]}" in text
    assert "How long it takes" not in text
    assert_accessible(chrome)
