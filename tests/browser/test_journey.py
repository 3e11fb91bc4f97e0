"""The learner's whole journey in real headless Chromium: every page a learner meets passes
axe-core's WCAG 2.x A and AA rules, has its headings in order, reflows at 320 CSS pixels and
breaks no Content-Security-Policy rule, and no two pages share a title; and the whole
journey can be done with the keyboard alone, inside the LMS's iframe.

The quiz's right answers come from the database (the server's truth), never from the page.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.a11y import (
    assert_headings_in_order,
    assert_no_axe_violations,
    assert_reflows_at_320px,
    csp_violations,
    page_title,
)
from tests.browser.conftest import LiveTool, launch
from tests.browser.journey import (
    BUTTON,
    Keyboard,
    Question,
    answer_key,
    attempt_on_page,
    choose_with_the_mouse,
    click_to_next_page,
    complete_the_module,
    h1_text,
    next_page,
    open_page,
    path,
    verification_code,
)

STAFF_SECTIONS = 10  # a member of staff reads every section but the councillors' own
FULL_NAME = "Aisha Khan"  # u-aisha's name in the demo LMS
SEED = 2026


@pytest.fixture
def known_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quiz draws its questions from a seeded generator (in this process, where the live
    tool runs), so that every run meets the same questions: radios and checkboxes both.

    Nothing else changes: the tool still draws, stores and marks each attempt itself.
    """
    from app.services import attempts

    monkeypatch.setattr(attempts, "_rng", random.Random(SEED))


def assert_both_kinds(key: list[Question]) -> None:
    kinds = {q.multiple for q in key}
    assert kinds == {True, False}, (
        f"the draw has {'only checkbox' if True in kinds else 'only radio'} questions; both "
        f"kinds are to be checked: change SEED in {__name__} to one whose first draw has both"
    )


# -- every page a learner meets ----------------------------------------------------------------
class PageChecks:
    """Runs every page's checks, collecting failures so one page does not hide the others."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver
        self.failures: list[str] = []
        self.titles: list[tuple[str, str, str]] = []  # (what, which page, title)

    def check(self, what: str, h1: str, page: str | None = None) -> None:
        """`page` names the page when it is one already seen in another state (the overview
        not started and completed; a form shown again with its errors): it keeps its title."""
        shown = h1_text(self.driver)
        assert shown == h1, f"{what}: expected the h1 {h1!r}; {path(self.driver)} has {shown!r}"
        self.titles.append((what, page or what, page_title(self.driver)))
        checks: list[tuple[str, Callable[[WebDriver], None]]] = [
            ("axe-core", assert_no_axe_violations),
            ("headings", assert_headings_in_order),
            ("reflow at 320px", assert_reflows_at_320px),
            ("CSP", assert_no_csp_refusals),
        ]
        for name, run in checks:
            try:
                run(self.driver)
            except AssertionError as exc:
                self.failures.append(f"[{what}] {path(self.driver)}: {name}:\n{exc}")

    def note_title(self, what: str, h1: str) -> None:
        """Only the title, for a page whose checks another test runs."""
        shown = h1_text(self.driver)
        assert shown == h1, f"{what}: expected the h1 {h1!r}; {path(self.driver)} has {shown!r}"
        self.titles.append((what, what, page_title(self.driver)))

    def assert_passed(self) -> None:
        assert not self.failures, f"{len(self.failures)} failed check(s):\n\n" + "\n\n".join(
            self.failures
        )

    def assert_titles_distinct(self) -> None:
        """Every page has a title of its own; a page shown in another state keeps it, with
        "Error: " before it when it shows errors (GOV.UK's pattern)."""
        listing = "\n".join(f"  {what}: {title!r}" for what, _, title in self.titles)
        assert all(title for _, _, title in self.titles), f"a page has no title:\n{listing}"
        per_page: dict[str, set[str]] = defaultdict(set)
        for _, page, title in self.titles:
            per_page[page].add(title.removeprefix("Error: "))
        changing = {page: titles for page, titles in per_page.items() if len(titles) > 1}
        assert not changing, f"a page changes its title between states: {changing}\n{listing}"
        pages_of: dict[str, list[str]] = defaultdict(list)
        for page, (title,) in per_page.items():
            pages_of[title].append(page)
        shared = {title: pages for title, pages in pages_of.items() if len(pages) > 1}
        assert not shared, f"pages share a title: {shared}\n{listing}"


def assert_no_csp_refusals(driver: WebDriver) -> None:
    refused = csp_violations(driver)
    assert not refused, "Chromium refused something under the tool's CSP:\n" + "\n".join(refused)


OVERVIEW = "Corporate Parenting Policy"


def test_every_page_of_the_journey_is_accessible_and_titled_apart(
    chrome: WebDriver, live_tool: LiveTool, known_draws: None
) -> None:
    live, checks = live_tool, PageChecks(chrome)

    # A member of staff, in a new window (the LMS's iframe is the keyboard test's).
    launch(chrome, live, "u-aisha")
    checks.check("overview, not started", OVERVIEW, page="overview")
    open_page(chrome, live, "/quiz")
    checks.check("quiz, locked", "The quiz is not open yet")

    # Every section, each with its own content; the overview once reading has begun.
    open_page(chrome, live, "/")
    click_to_next_page(chrome, live, "a.govuk-button", "Start reading")
    checks.check("section 1", h1_text(chrome))
    open_page(chrome, live, "/")
    checks.check("overview, in progress", OVERVIEW, page="overview")
    click_to_next_page(chrome, live, "a.govuk-button", "Continue reading")
    for number in range(2, STAFF_SECTIONS + 1):
        assert path(chrome).startswith("/sections/"), path(chrome)
        checks.check(f"section {number}", h1_text(chrome))
        click_to_next_page(chrome, live, "a[rel=next]", "Next")
    assert path(chrome) == "/quiz"
    checks.check("quiz, start", "Check your understanding")

    # A first attempt: submitted with questions unanswered, then failed.
    click_to_next_page(chrome, live, BUTTON, "Start the quiz")
    key = answer_key(live.app, attempt_on_page(chrome))
    assert len(key) == 12
    assert_both_kinds(key)
    checks.check("quiz, attempt", "Quiz: check your understanding")
    for question in key[:7]:
        choose_with_the_mouse(chrome, question, question.a_wrong_one)
    click_to_next_page(chrome, live, BUTTON, "Submit my answers")
    summary = chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary").text
    for question in key[7:]:
        assert f"question {question.number}" in summary, summary
    assert page_title(chrome).startswith("Error: "), page_title(chrome)
    checks.check(
        "quiz, attempt with errors", "Quiz: check your understanding", page="quiz, attempt"
    )
    for question in key:
        choose_with_the_mouse(chrome, question, question.a_wrong_one)
    click_to_next_page(chrome, live, BUTTON, "Submit my answers")
    checks.check("quiz, failed", "You did not pass this time")

    # A second attempt, passed.
    click_to_next_page(chrome, live, "a.govuk-button", "Try the quiz again")
    click_to_next_page(chrome, live, BUTTON, "Start the quiz")
    for question in answer_key(live.app, attempt_on_page(chrome)):
        choose_with_the_mouse(chrome, question, question.right)
    click_to_next_page(chrome, live, BUTTON, "Submit my answers")
    checks.check("quiz, passed", "You passed the quiz")

    # The declaration: sent empty first, then ticked and signed; the check; the record.
    click_to_next_page(chrome, live, "a.govuk-button", "Continue to accept the policy")
    checks.check("declaration", "Accept the policy")
    click_to_next_page(chrome, live, BUTTON, "Continue")
    summary = chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary").text
    assert "Select the box to confirm that you accept the policy" in summary, summary
    assert page_title(chrome).startswith("Error: "), page_title(chrome)
    checks.check("declaration with errors", "Accept the policy", page="declaration")
    chrome.find_element(By.CSS_SELECTOR, "label[for=accept]").click()
    chrome.find_element(By.ID, "full_name").send_keys(FULL_NAME)
    click_to_next_page(chrome, live, BUTTON, "Continue")
    checks.check("check before accepting", "Check before you accept")
    click_to_next_page(chrome, live, BUTTON, "Accept the policy")
    code = verification_code(chrome, live)  # the confirmation page of a recorded acceptance
    checks.check("confirmation", "You have accepted the policy")
    click_to_next_page(chrome, live, "a", "Back to the module")
    assert "Completed" in chrome.find_element(By.TAG_NAME, "main").text
    checks.check("overview, completed", OVERVIEW, page="overview")

    # A councillor's overview: their own section in the contents.
    launch(chrome, live, "u-jo")
    contents = chrome.execute_script(
        "return Array.from(document.querySelectorAll('a[href^=\"/sections/\"]'),"
        " (a) => a.getAttribute('href'))"
    )
    assert "/sections/your-role-as-an-elected-member" in contents, contents
    assert "/sections/your-role-as-a-member-of-staff" not in contents, contents
    checks.check("overview, a councillor", OVERVIEW, page="overview")

    # HR's pages (checked in test_hr_pages_are_accessible): their titles are not the same.
    launch(chrome, live, "u-priya")
    open_page(chrome, live, "/hr/quiz-statistics")
    checks.note_title("HR, quiz statistics", "Quiz question statistics")
    open_page(chrome, live, f"/hr/verify?code={code[:5]}-{code[5:]}")
    checks.note_title("HR, verify a code", "Verify a certificate")

    checks.assert_passed()
    checks.assert_titles_distinct()


def test_hr_pages_are_accessible(chrome: WebDriver, live_tool: LiveTool, known_draws: None) -> None:
    live, checks = live_tool, PageChecks(chrome)
    launch(chrome, live, "u-aisha")
    code = complete_the_module(chrome, live, FULL_NAME)  # answers and a code to verify

    launch(chrome, live, "u-priya")
    open_page(chrome, live, "/hr/quiz-statistics")
    checks.check("HR, quiz statistics", "Quiz question statistics")
    open_page(chrome, live, f"/hr/verify?code={code[:5]}-{code[5:]}")
    assert "This certificate is genuine" in chrome.find_element(By.TAG_NAME, "main").text
    checks.check("HR, verify a code", "Verify a certificate")

    checks.assert_passed()
    checks.assert_titles_distinct()


# -- the keyboard alone ------------------------------------------------------------------------
def is_next_page_link(element: WebElement) -> bool:
    return element.tag_name == "a" and element.get_attribute("rel") == "next"


def test_the_whole_journey_with_the_keyboard_alone_inside_the_lms_iframe(
    chrome: WebDriver, live_tool: LiveTool, known_draws: None
) -> None:
    """From the LMS's course page to the confirmation: TAB, ENTER, SPACE, ARROW DOWN and
    typing, sent to whatever has focus; no mouse, no element.click()."""
    live = live_tool
    launch(chrome, live, "u-aisha", in_iframe=True)
    keys = Keyboard(chrome)
    tool = live.tool_url

    with next_page(chrome, tool):
        keys.tab_to_text("a", "Start reading")
        keys.activate()
    read = []
    while path(chrome).startswith("/sections/"):
        read.append(path(chrome))
        with next_page(chrome, tool):
            keys.tab_to("the link to the next page", is_next_page_link)
            keys.activate()
    assert len(set(read)) == STAFF_SECTIONS, read
    assert (path(chrome), h1_text(chrome)) == ("/quiz", "Check your understanding")

    with next_page(chrome, tool):
        keys.tab_to_text("button", "Start the quiz")
        keys.activate()
    key = answer_key(live.app, attempt_on_page(chrome))
    assert_both_kinds(key)
    for question in key:
        keys.answer(question, question.right)
    with next_page(chrome, tool):
        keys.tab_to_text("button", "Submit my answers")
        keys.activate()
    assert h1_text(chrome) == "You passed the quiz"

    with next_page(chrome, tool):
        keys.tab_to_text("a", "Continue to accept the policy")
        keys.activate()
    assert h1_text(chrome) == "Accept the policy"
    box = keys.tab_to("the acceptance box", lambda el: el.get_attribute("name") == "accept")
    keys.press(Keys.SPACE)
    assert box.is_selected(), "SPACE did not tick the acceptance box"
    keys.tab_to("the full-name box", lambda el: el.get_attribute("name") == "full_name")
    keys.press(FULL_NAME)
    with next_page(chrome, tool):
        keys.tab_to_text("button", "Continue")
        keys.activate()
    assert h1_text(chrome) == "Check before you accept", h1_text(chrome)
    with next_page(chrome, tool):
        keys.tab_to_text("button", "Accept the policy")
        keys.activate()
    assert h1_text(chrome) == "You have accepted the policy"
    code = verification_code(chrome, live)
    assert code[:5] + "-" + code[5:] in chrome.find_element(By.TAG_NAME, "main").text

    # All of it happened inside the LMS's page, in its iframe.
    assert chrome.current_url.startswith(f"{live.lms_url}/course/"), chrome.current_url
    assert keys.focused > 30, f"focus landed only {keys.focused} times in the tool's pages"
    assert not keys.unseen_focus, "focus was not visible on:\n" + "\n".join(keys.unseen_focus)
