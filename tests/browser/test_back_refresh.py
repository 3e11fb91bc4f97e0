"""Back and refresh at each step of the learner's journey, in real headless Chromium inside the
LMS's course page (the tool in its iframe), as issue 14 saw them fail.

Every form post of the tool ends in a redirect (Post/Redirect/Get), so going Back or
reloading only ever loads a page again: never Chrome's "Confirm form resubmission" (which
headless Chromium shows as an error page, net::ERR_CACHE_MISS, that is not a page of the
tool), never a second post, never a second attempt, submission or acceptance. The answers
ticked so far are kept by the server, so a reload mid-quiz shows them again: a reload of the
tool's page, and a reload of the LMS's whole page (which opens the module afresh).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask, request
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import func, select

from app.db import db
from app.models import Acceptance, QuizAttempt, QuizDraft, QuizSubmission
from tests.browser.a11y import assert_no_axe_violations, assert_reflows_at_320px, page_title
from tests.browser.conftest import WAIT_SECONDS, LiveTool, launch, wait_for_tool_page
from tests.browser.journey import (
    BUTTON,
    Question,
    answer_key,
    attempt_on_page,
    checked_texts,
    choose_with_the_mouse,
    click_to_next_page,
    h1_text,
    next_page,
    path,
    where_the_browser_is,
)

WRONG_NAME = "Lee Morgan"
FULL_NAME = "Aisha Khan"  # u-aisha's name in the demo LMS


# -- what the tool was asked ---------------------------------------------------------------------
class Requests:
    """Every request the live tool handles, as (method, path), in order."""

    def __init__(self, app: Flask) -> None:
        self.seen: list[tuple[str, str]] = []

        def note() -> None:
            self.seen.append((request.method, request.path))

        app.before_request(note)

    @contextmanager
    def no_post(self, what: str) -> Iterator[None]:
        """Around a Back or a reload: the tool receives no form post at all."""
        before = len(self.seen)
        yield
        posted = [p for m, p in self.seen[before:] if m == "POST"]
        assert not posted, f"{what}: the browser posted again: {posted}"


def counts(app: Flask) -> tuple[int, int, int]:
    """(quiz attempts, submissions, acceptances) in the database."""
    with app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (QuizAttempt, QuizSubmission, Acceptance)
        )


# -- Back and reload -----------------------------------------------------------------------------
_ON_ANOTHER_TOOL_PAGE = """
const [tool, token] = arguments;
return window.__cpmBackFrom !== token
    && (location.href === tool || location.href.startsWith(tool + "/"))
    && document.readyState === "complete" && document.querySelector("h1") !== null;
"""


def _wait_for_another_tool_page(driver: WebDriver, live: LiveTool, token: str, what: str) -> None:
    """Until the frame holds a page of the tool other than the one marked with `token`:
    loaded again from the tool, or restored whole from the back/forward cache. Chromium's
    resubmission prompt (net::ERR_CACHE_MISS) is a chrome-error:// page, never the tool's."""
    try:
        WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=[WebDriverException]).until(
            lambda d: d.execute_script(_ON_ANOTHER_TOOL_PAGE, live.tool_url, token)
        )
    except TimeoutException:
        where, text = where_the_browser_is(driver)
        raise AssertionError(
            f"{what}: not a page of the tool after {WAIT_SECONDS}s (a resubmission prompt?); "
            f"the frame is at {where}:\n{str(text)[:600]}"
        ) from None


def _leave(driver: WebDriver, live: LiveTool, action: Callable[[], None], what: str) -> None:
    token = uuid.uuid4().hex
    driver.execute_script("window.__cpmBackFrom = arguments[0];", token)
    action()
    _wait_for_another_tool_page(driver, live, token, what)


def go_back(driver: WebDriver, live: LiveTool, requests: Requests, what: str) -> None:
    """The browser's Back button: the frame goes back one page in the tab's history."""

    def back() -> None:
        driver.back()  # WebDriver's Back leaves the driver at the top level: into the frame
        driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))

    with requests.no_post(f"Back {what}"):
        _leave(driver, live, back, f"Back {what}")


def reload_tool_page(driver: WebDriver, live: LiveTool, requests: Requests, what: str) -> None:
    """Reloading the tool's own page (F5 in a new window; "Reload frame" in the LMS)."""
    with requests.no_post(f"reloading {what}"):
        _leave(driver, live, lambda: driver.execute_script("location.reload()"), what)


def reload_lms_page(driver: WebDriver, live: LiveTool, requests: Requests) -> None:
    """F5 on the LMS's course page: the LMS launches the module again in a new iframe. The
    only post is the LMS's launch; none of the tool's own forms is sent again."""
    before = len(requests.seen)
    driver.switch_to.default_content()
    driver.refresh()
    frame = WebDriverWait(driver, WAIT_SECONDS).until(
        ec.presence_of_element_located((By.TAG_NAME, "iframe"))
    )
    driver.switch_to.frame(frame)
    wait_for_tool_page(driver, live.tool_url)
    posted = [p for m, p in requests.seen[before:] if m == "POST"]
    assert posted == ["/lti/launch"], f"reloading the LMS's page posted {posted}"


def go_to(driver: WebDriver, live: LiveTool, where: str) -> None:
    """A link followed inside the frame (driver.get would leave the LMS's page)."""
    with next_page(driver, live.tool_url):
        driver.execute_script("location.assign(arguments[0])", where)


# -- pages ---------------------------------------------------------------------------------------
def assert_page(driver: WebDriver, h1: str, where: str | None = None) -> None:
    assert h1_text(driver) == h1, f"expected {h1!r}; {path(driver)} shows {h1_text(driver)!r}"
    if where is not None:
        assert path(driver) == where, f"expected to be at {where}, at {path(driver)}"


def assert_accessible(driver: WebDriver, what: str) -> None:
    try:
        assert_no_axe_violations(driver)
        assert_reflows_at_320px(driver)
    except AssertionError as exc:
        raise AssertionError(f"{what} ({path(driver)}): {exc}") from None


def ticks(driver: WebDriver, key: list[Question]) -> dict[int, frozenset[str]]:
    return {q.number: checked_texts(driver, q) for q in key if checked_texts(driver, q)}


def wait_for_draft(app: Flask, attempt: int, answered: int) -> None:
    """Until the server holds a draft with `answered` questions (the page's script saves
    each change as it happens)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        with app.app_context():
            draft = db.session.get(QuizDraft, attempt)
            if draft is not None and len(draft.answers) == answered:
                return
        time.sleep(0.1)
    raise AssertionError(f"the server never had a draft of {answered} answers for {attempt}")


def error_summary(driver: WebDriver) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, ".govuk-error-summary").text)


def test_back_and_refresh_at_each_step_inside_the_lms_frame(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    live = live_tool
    requests = Requests(live.app)
    launch(chrome, live, "u-aisha", in_iframe=True)

    # Sections: reloading one, and going Back to the one before.
    click_to_next_page(chrome, live, "a.govuk-button", "Start reading")
    first = path(chrome)
    click_to_next_page(chrome, live, "a[rel=next]", "Next")
    second, title = path(chrome), h1_text(chrome)
    reload_tool_page(chrome, live, requests, "a section")
    assert_page(chrome, title, second)
    go_back(chrome, live, requests, "from the second section")
    assert path(chrome) == first
    while path(chrome).startswith("/sections/"):
        click_to_next_page(chrome, live, "a[rel=next]", "Next")
    assert_page(chrome, "Check your understanding", "/quiz")

    # The quiz, mid-way: ticks saved as they are made, and there after each kind of reload.
    click_to_next_page(chrome, live, BUTTON, "Start the quiz")
    attempt = attempt_on_page(chrome)
    key = answer_key(live.app, attempt)
    go_back(chrome, live, requests, "just after starting the quiz")
    assert_page(chrome, "Quiz: check your understanding", "/quiz")  # the same attempt
    assert attempt_on_page(chrome) == attempt
    for question in key[:5]:
        choose_with_the_mouse(chrome, question, question.a_wrong_one)
    wait_for_draft(live.app, attempt, 5)
    chosen = {q.number: q.a_wrong_one for q in key[:5]}
    reload_tool_page(chrome, live, requests, "the quiz mid-way")
    assert_page(chrome, "Quiz: check your understanding", "/quiz")
    assert ticks(chrome, key) == chosen
    reload_lms_page(chrome, live, requests)
    assert_page(chrome, "Quiz: check your understanding", "/quiz")
    assert ticks(chrome, key) == chosen, "the LMS's page reloaded: the ticks are gone"
    assert_accessible(chrome, "the quiz with answers ticked again")

    # "Save and come back later" (the way without JavaScript): a page that says so.
    click_to_next_page(chrome, live, BUTTON, "Save and come back later")
    assert_page(chrome, "Quiz: check your understanding", "/quiz")
    assert "Your answers have been saved" in chrome.find_element(By.TAG_NAME, "main").text
    assert ticks(chrome, key) == chosen
    assert_accessible(chrome, "the quiz, saved")
    reload_tool_page(chrome, live, requests, "the quiz after saving")
    assert ticks(chrome, key) == chosen

    # Submitted with questions unanswered: the errors, the ticks kept; then a reload.
    click_to_next_page(chrome, live, BUTTON, "Submit my answers")
    assert_page(chrome, "Quiz: check your understanding", "/quiz")
    assert page_title(chrome).startswith("Error: "), page_title(chrome)
    assert f"question {key[5].number}" in error_summary(chrome)
    assert ticks(chrome, key) == chosen
    assert_accessible(chrome, "the quiz with errors")
    reload_tool_page(chrome, live, requests, "the quiz with errors")
    assert ticks(chrome, key) == chosen
    assert counts(live.app) == (1, 0, 0)

    # Failed: Back, reload, and the result again.
    for question in key[5:]:
        choose_with_the_mouse(chrome, question, question.a_wrong_one)
    click_to_next_page(chrome, live, BUTTON, "Submit my answers")
    assert_page(chrome, "You did not pass this time")
    result = path(chrome)
    reload_tool_page(chrome, live, requests, "a failed result")
    assert_page(chrome, "You did not pass this time", result)
    go_back(chrome, live, requests, "after a failed quiz")
    assert_page(chrome, "Check your understanding", "/quiz")  # a new attempt may start
    assert counts(live.app) == (1, 1, 0)

    # The failed attempt's form sent again (as from a second tab): its result, once more.
    chrome.execute_script(
        """
        const [action, token] = arguments;
        const form = document.createElement("form");
        form.method = "post";
        form.action = action;
        for (const [name, value] of [["csrf_token", token], ["q1", "1"]]) {
          const input = document.createElement("input");
          input.type = "hidden"; input.name = name; input.value = value;
          form.append(input);
        }
        document.body.append(form);
        """,
        f"/quiz/attempts/{attempt}",
        chrome.find_element(By.NAME, "csrf_token").get_attribute("value"),
    )
    with next_page(chrome, live.tool_url):
        chrome.execute_script("document.forms[document.forms.length - 1].submit()")
    assert_page(chrome, "You did not pass this time", result)
    assert (
        "You have already submitted these answers" in chrome.find_element(By.TAG_NAME, "main").text
    )
    assert_accessible(chrome, "a result, submitted again")
    assert counts(live.app) == (1, 1, 0)

    # Passed: Back leads on to the acceptance, not to the quiz's form again.
    go_to(chrome, live, "/quiz")
    click_to_next_page(chrome, live, BUTTON, "Start the quiz")
    for question in answer_key(live.app, attempt_on_page(chrome)):
        choose_with_the_mouse(chrome, question, question.right)
    click_to_next_page(chrome, live, BUTTON, "Submit my answers")
    assert_page(chrome, "You passed the quiz")
    passed_at = path(chrome)
    reload_tool_page(chrome, live, requests, "a pass")
    assert_page(chrome, "You passed the quiz", passed_at)
    go_back(chrome, live, requests, "after passing")
    assert_page(chrome, "Accept the policy", "/accept")
    assert counts(live.app) == (2, 2, 0)

    # The declaration with an error: shown after a redirect, the name typed kept.
    chrome.find_element(By.CSS_SELECTOR, "label[for=accept]").click()
    chrome.find_element(By.ID, "full_name").send_keys(WRONG_NAME)
    click_to_next_page(chrome, live, BUTTON, "Continue")
    assert_page(chrome, "Accept the policy", "/accept")
    assert "Enter your full name as it appears" in error_summary(chrome)
    assert chrome.find_element(By.ID, "full_name").get_attribute("value") == WRONG_NAME
    assert chrome.find_element(By.ID, "accept").is_selected()
    assert_accessible(chrome, "the declaration with an error")
    reload_tool_page(chrome, live, requests, "the declaration with an error")
    assert_page(chrome, "Accept the policy", "/accept")
    go_back(chrome, live, requests, "from the declaration with an error")
    assert_page(chrome, "Accept the policy", "/accept")  # the page before it, loaded again

    # The check page: a page of its own, reloaded, left with Back and come back to.
    name = chrome.find_element(By.ID, "full_name")
    name.clear()
    name.send_keys(FULL_NAME)
    if not chrome.find_element(By.ID, "accept").is_selected():
        chrome.find_element(By.CSS_SELECTOR, "label[for=accept]").click()
    click_to_next_page(chrome, live, BUTTON, "Continue")
    assert_page(chrome, "Check before you accept", "/accept/check")
    assert_accessible(chrome, "the check page")
    reload_tool_page(chrome, live, requests, "the check page")
    assert_page(chrome, "Check before you accept", "/accept/check")
    go_back(chrome, live, requests, "from the check page")
    assert_page(chrome, "Accept the policy", "/accept")
    assert chrome.find_element(By.ID, "full_name").get_attribute("value") == FULL_NAME
    go_to(chrome, live, "/accept/check")

    # Accepted: Back (twice) and a reload show the confirmation; one acceptance.
    click_to_next_page(chrome, live, BUTTON, "Accept the policy")
    assert_page(chrome, "You have accepted the policy")
    done = path(chrome)
    reload_tool_page(chrome, live, requests, "the confirmation")
    assert_page(chrome, "You have accepted the policy", done)
    go_back(chrome, live, requests, "after accepting")
    assert_page(chrome, "You have accepted the policy", done)
    go_back(chrome, live, requests, "twice after accepting")
    assert_page(chrome, "You have accepted the policy", done)
    assert counts(live.app) == (2, 2, 1)

    # All of it inside the LMS's page.
    chrome.switch_to.default_content()
    assert chrome.current_url.startswith(f"{live.lms_url}/course/"), chrome.current_url


def test_going_back_to_the_answer_to_a_post_is_caught(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    """The checks above can fail: a form refused for its missing CSRF token is still answered
    with a page, not a redirect, so Back to it is Chromium's resubmission error page (or a
    post sent again), and go_back says so."""
    live = live_tool
    requests = Requests(live.app)
    launch(chrome, live, "u-aisha", in_iframe=True)
    with next_page(chrome, live.tool_url):
        chrome.execute_script(
            """
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/quiz/start";
            document.body.append(form);
            form.submit();
            """
        )
    assert path(chrome) == "/quiz/start"
    go_to(chrome, live, "/")
    with pytest.raises(AssertionError, match=r"not a page of the tool"):
        go_back(chrome, live, requests, "to a refused form")
