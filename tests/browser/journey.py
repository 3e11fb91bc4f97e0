"""Moving a learner through the module in the browser: waiting for the next page, the quiz's
right answers (read from the database, never from the page), and choosing options by their
label text, with the mouse or with the keyboard alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from app.db import db
from app.models import Acceptance, QuizAttempt
from tests.browser.a11y import describe, focus_style, focused_element_has_visible_focus, press
from tests.browser.conftest import WAIT_SECONDS, LiveTool, wait_for_tool_page

# -- pages -------------------------------------------------------------------------------------
_MARK_LEFT = "window.__cpmPageLeft = true;"

_ARRIVED = """
const tool = arguments[0];
return window.__cpmPageLeft !== true
    && (location.href === tool || location.href.startsWith(tool + "/"))
    && document.readyState === "complete" && document.querySelector("h1") !== null;
"""


def where_the_browser_is(driver: WebDriver) -> tuple[str, str]:
    """The current document's address and text, for a failure's message."""
    try:
        where = driver.execute_script("return location.href")
        text = driver.execute_script("return document.body ? document.body.innerText : ''")
    except WebDriverException as exc:
        return "(unknown)", repr(exc)
    return str(where), str(text)


@contextmanager
def next_page(driver: WebDriver, tool_url: str) -> Iterator[None]:
    """Around an action that loads another page of the tool (a link, a form, a redirect):
    waits until the current document (top level or frame) is a new, loaded page of the tool.

    The old page is marked first, so a page that has not yet gone is never taken for the
    next one, even when both have the same address (a form shown again with its errors).
    """
    driver.execute_script(_MARK_LEFT)
    yield

    def arrived(d: WebDriver) -> bool:
        return bool(d.execute_script(_ARRIVED, tool_url))

    try:
        WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=[WebDriverException]).until(arrived)
    except TimeoutException:
        where, text = where_the_browser_is(driver)
        raise AssertionError(
            f"no new page of the tool after {WAIT_SECONDS}s; the browser is at {where}:\n"
            f"{str(text)[:1000]}"
        ) from None


BUTTON = "button, input[type=submit], a.govuk-button"


def open_page(driver: WebDriver, live: LiveTool, where: str) -> None:
    driver.get(live.tool_url + where)
    wait_for_tool_page(driver, live.tool_url)


def click_to_next_page(driver: WebDriver, live: LiveTool, selector: str, text: str) -> None:
    """Click (with the mouse) the element found by `element_by_text`; wait for the next page."""
    element = element_by_text(driver, selector, text)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    with next_page(driver, live.tool_url):
        element.click()


def h1_text(driver: WebDriver) -> str:
    return str(driver.execute_script("return document.querySelector('h1').textContent.trim()"))


def path(driver: WebDriver) -> str:
    return str(driver.execute_script("return location.pathname + location.search"))


def element_by_text(driver: WebDriver, selector: str, text: str) -> WebElement:
    """The first element matching `selector` whose text (spaces collapsed) starts with `text`."""
    found = driver.execute_script(
        """
        const [selector, text] = arguments;
        return Array.from(document.querySelectorAll(selector)).find(
          (el) => (el.innerText || el.value || "").trim().replace(/\\s+/g, " ").startsWith(text)
        ) || null;
        """,
        selector,
        text,
    )
    assert found is not None, f"no {selector} whose text starts with {text!r} on {path(driver)}"
    assert isinstance(found, WebElement)
    return found


# -- the quiz's answers ------------------------------------------------------------------------
_SPACES = re.compile(r"\s+")


def normal(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class Question:
    """A drawn question as the database has it: option texts in the order shown."""

    number: int
    multiple: bool
    options: tuple[str, ...]
    right: frozenset[str]

    @property
    def name(self) -> str:
        return f"q{self.number}"

    @property
    def a_wrong_one(self) -> frozenset[str]:
        return frozenset([next(o for o in self.options if o not in self.right)])


def attempt_on_page(driver: WebDriver) -> int:
    """The attempt the quiz page's answer form submits to (the form's address, not answers)."""
    actions = driver.execute_script(
        "return Array.from(document.forms, (f) => f.getAttribute('action'))"
    )
    ids = [int(m.group(1)) for a in actions if (m := re.fullmatch(r"/quiz/attempts/(\d+)", a))]
    assert len(ids) == 1, f"expected one answer form on {path(driver)}, found actions {actions}"
    return ids[0]


def answer_key(app: Flask, attempt: int) -> list[Question]:
    """The attempt's questions and right answers, from the database (as tests/learner_flow.py)."""
    with app.app_context():
        row = db.session.get(QuizAttempt, attempt)
        assert row is not None, f"no quiz attempt {attempt} in the database"
        bank = {q["id"]: q for q in row.bank.questions}
        key = []
        for number, item in enumerate(row.drawn, start=1):
            question = bank[item["id"]]
            text = {o["id"]: normal(o["text"]) for o in question["options"]}
            correct = question["correct"]
            correct = [correct] if isinstance(correct, str) else correct
            key.append(
                Question(
                    number,
                    question["type"] == "multiple",
                    tuple(text[oid] for oid in item["options"]),
                    frozenset(text[oid] for oid in correct),
                )
            )
        return key


_OPTIONS = """
const name = arguments[0];
return Array.from(document.querySelectorAll(`input[name="${name}"]`), (input) => ({
  input: input,
  label: input.labels.length ? input.labels[0] : null,
  text: input.labels.length ? input.labels[0].textContent.trim().replace(/\\s+/g, " ") : "",
  checked: input.checked,
  type: input.type,
}));
"""


def options_on_page(driver: WebDriver, question: Question) -> list[dict[str, object]]:
    options: list[dict[str, object]] = driver.execute_script(_OPTIONS, question.name)
    shown = tuple(o["text"] for o in options)
    assert shown == question.options, (
        f"question {question.number}: the page shows {shown}, the attempt drew {question.options}"
    )
    kind = "checkbox" if question.multiple else "radio"
    assert {o["type"] for o in options} == {kind}, f"question {question.number}: not {kind}es"
    return options


def checked_texts(driver: WebDriver, question: Question) -> frozenset[str]:
    options = driver.execute_script(_OPTIONS, question.name)
    return frozenset(str(o["text"]) for o in options if o["checked"])


def choose_with_the_mouse(driver: WebDriver, question: Question, chosen: frozenset[str]) -> None:
    """Click the labels needed so that exactly `chosen` is selected."""
    for option in options_on_page(driver, question):
        want = option["text"] in chosen
        if want != option["checked"] and (want or question.multiple):
            label = option["label"]
            assert isinstance(label, WebElement)
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
            label.click()
    assert checked_texts(driver, question) == chosen, f"question {question.number}"


# -- the keyboard ------------------------------------------------------------------------------
def label_text(driver: WebDriver) -> str:
    """The text of the focused element's label ("" when it has none)."""
    return normal(
        driver.execute_script(
            "const el = document.activeElement;"
            "return el.labels && el.labels.length ? el.labels[0].textContent : '';"
        )
    )


_FOCUS_IN_THIS_DOCUMENT = (
    "return document.hasFocus() && document.activeElement !== null"
    " && document.activeElement !== document.body"
)


class Keyboard:
    """Only key presses, sent to whatever has focus. Every element that focus lands on in the
    current document is checked for a visible focus indicator; failures are collected in
    `unseen_focus` so the journey goes on and all of them are reported."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver
        self.unseen_focus: list[str] = []
        self.focused = 0

    def press(self, *keys: str) -> WebElement:
        element = press(self.driver, *keys)
        if self.driver.execute_script(_FOCUS_IN_THIS_DOCUMENT):
            self.focused += 1
            if not focused_element_has_visible_focus(self.driver):
                self.unseen_focus.append(
                    f"{path(self.driver)}: {describe(self.driver, element)} "
                    f"{focus_style(self.driver)}"
                )
        return element

    def tab_to(
        self, what: str, predicate: Callable[[WebElement], bool], max_tabs: int = 150
    ) -> WebElement:
        """TAB until `predicate(element)`; `what` names the target for the failure message."""
        visited = []
        for _ in range(max_tabs):
            element = self.press(Keys.TAB)
            if predicate(element):
                return element
            visited.append(describe(self.driver, element))
        raise AssertionError(
            f"on {path(self.driver)}, {max_tabs} TABs never reached {what}; focus went to:\n  "
            + "\n  ".join(visited[-30:])
        )

    def activate(self) -> None:
        """ENTER on the focused link or button, which leaves the page (so nothing is read
        from it afterwards: wrap it in `next_page`)."""
        press(self.driver, Keys.ENTER)

    def tab_to_text(self, tag: str, text: str) -> WebElement:
        def matches(element: WebElement) -> bool:
            shown = normal(element.text or element.get_attribute("value") or "")
            return element.tag_name == tag and shown.startswith(text)

        return self.tab_to(f"<{tag}> {text!r}", matches)

    def answer(self, question: Question, chosen: frozenset[str]) -> None:
        """TAB into the question; radios: ARROW DOWN to the option, SPACE if it is the first
        (arrows select as they move); checkboxes: SPACE on each to tick, TAB between them."""
        self.tab_to(
            f"question {question.number}",
            lambda el: el.tag_name == "input" and el.get_attribute("name") == question.name,
        )
        options = options_on_page(self.driver, question)
        if question.multiple:
            for i, option in enumerate(options):
                focused = self.driver.switch_to.active_element
                assert focused == option["input"], (
                    f"question {question.number}: focus is on {describe(self.driver, focused)}, "
                    f"not option {i + 1}"
                )
                if (option["text"] in chosen) != option["checked"]:
                    self.press(Keys.SPACE)
                if i < len(options) - 1:
                    self.press(Keys.TAB)
        else:
            [target] = chosen
            for _ in range(len(options)):
                if label_text(self.driver) == target:
                    break
                self.press(Keys.ARROW_DOWN)
            else:
                raise AssertionError(f"question {question.number}: ARROW DOWN never reached it")
            if not self.driver.switch_to.active_element.is_selected():
                self.press(Keys.SPACE)
        assert checked_texts(self.driver, question) == chosen, (
            f"question {question.number}: chose {set(chosen)} with the keyboard, the page has "
            f"{set(checked_texts(self.driver, question))}"
        )


# -- the quick way through ---------------------------------------------------------------------
def complete_the_module(driver: WebDriver, live: LiveTool, full_name: str) -> str:
    """The launched learner reads every section, passes the quiz and accepts the policy, with
    the mouse and no checks on the way; returns the acceptance's verification code."""
    open_page(driver, live, "/")
    sections = driver.execute_script(
        "return Array.from(new Set(Array.from("
        "document.querySelectorAll('a[href^=\"/sections/\"]'), (a) => a.getAttribute('href'))))"
    )
    for section in sections:
        open_page(driver, live, section)
    open_page(driver, live, "/quiz")
    click_to_next_page(driver, live, BUTTON, "Start the quiz")
    attempt = attempt_on_page(driver)
    for question in answer_key(live.app, attempt):
        choose_with_the_mouse(driver, question, question.right)
    click_to_next_page(driver, live, BUTTON, "Submit my answers")
    assert h1_text(driver) == "You passed the quiz", h1_text(driver)
    click_to_next_page(driver, live, "a.govuk-button", "Continue to accept the policy")
    driver.find_element(By.CSS_SELECTOR, "label[for=accept]").click()
    driver.find_element(By.ID, "full_name").send_keys(full_name)
    click_to_next_page(driver, live, BUTTON, "Continue")
    click_to_next_page(driver, live, BUTTON, "Accept the policy")
    assert h1_text(driver) == "You have accepted the policy", h1_text(driver)
    return verification_code(driver, live)


def verification_code(driver: WebDriver, live: LiveTool) -> str:
    """The code of the acceptance whose confirmation page is shown, from the database."""
    found = re.fullmatch(r"/accept/done/(\d+)", path(driver))
    assert found, f"not a confirmation page: {path(driver)}"
    with live.app.app_context():
        acceptance = db.session.get(Acceptance, int(found.group(1)))
        assert acceptance is not None
        return acceptance.verification_code
