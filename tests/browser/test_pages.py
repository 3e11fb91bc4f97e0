"""The tool's pages in a real browser: WCAG 2.2 AA (axe-core), headings, reflow at 320px,
keyboard access, page titles, and no Content-Security-Policy refusals.

The tool's CSP has no 'unsafe-inline'; nothing here relaxes it.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.a11y import (
    assert_headings_in_order,
    assert_no_axe_violations,
    assert_reflows_at_320px,
    csp_violations,
    describe,
    focus_style,
    focused_element_has_visible_focus,
    page_title,
    press,
    tab_until,
)
from tests.browser.conftest import WAIT_SECONDS, LiveTool, launch, wait_for_tool_page
from tests.conftest import ORG


def assert_accessible(driver: WebDriver) -> None:
    """The checks every page gets, on the driver's current document."""
    assert_no_axe_violations(driver)
    assert_headings_in_order(driver)
    assert_reflows_at_320px(driver)


def assert_no_csp_refusals(driver: WebDriver) -> None:
    refused = csp_violations(driver)
    assert not refused, "Chromium refused something under the tool's CSP:\n" + "\n".join(refused)


def open_tool_page(driver: WebDriver, live: LiveTool, path: str) -> None:
    driver.get(live.tool_url + path)
    wait_for_tool_page(driver, live.tool_url)


def h1_text(driver: WebDriver) -> str:
    return str(driver.execute_script("return document.querySelector('h1').textContent.trim()"))


PUBLIC_PAGES = [
    pytest.param("/lti/config", 200, "Register the tool in your LMS", id="lti-config"),
    pytest.param("/no-such-page", 404, "Page not found", id="not-found-404"),
    pytest.param("/", 401, "Open the module from your learning portal", id="no-launch-401"),
]


@pytest.mark.parametrize(("path", "status", "heading"), PUBLIC_PAGES)
def test_pages_without_a_launch_are_accessible(
    chrome: WebDriver, live_tool: LiveTool, path: str, status: int, heading: str
) -> None:
    assert requests.get(live_tool.tool_url + path, timeout=10).status_code == status
    open_tool_page(chrome, live_tool, path)
    assert h1_text(chrome) == heading
    assert_no_axe_violations(chrome)
    assert_headings_in_order(chrome)
    assert_no_csp_refusals(chrome)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/lti/config", id="lti-config"),
        pytest.param("/no-such-page", id="not-found-404"),
        pytest.param("/", id="no-launch-401"),
    ],
)
def test_pages_without_a_launch_reflow_at_320px(
    chrome: WebDriver, live_tool: LiveTool, path: str
) -> None:
    open_tool_page(chrome, live_tool, path)
    assert_reflows_at_320px(chrome)


def test_a_refused_launch_page_with_its_command_as_code_is_accessible(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    query = urlencode(
        {
            "iss": live_tool.platform.issuer,
            "client_id": "nobody",
            "login_hint": "u-aisha",
            "target_link_uri": live_tool.tool_url + "/lti/launch",
        }
    )
    path = "/lti/login?" + query
    assert requests.get(live_tool.tool_url + path, timeout=10).status_code == 403
    open_tool_page(chrome, live_tool, path)
    assert h1_text(chrome) == "The module could not be opened"
    chrome.find_element("css selector", "details summary").click()  # the administrator's part
    code = chrome.find_elements("css selector", "details p code")
    assert [c.text for c in code] == ["unknown_client_id", "flask --app app lti list-platforms"]
    assert_no_axe_violations(chrome)
    assert_headings_in_order(chrome)
    assert_no_csp_refusals(chrome)


def test_learners_first_page_after_a_launch_in_a_new_window_is_accessible(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    launch(chrome, live_tool, "u-aisha")
    assert chrome.current_url == live_tool.tool_url + "/"
    # The council's name in the title: this is the launched visit's page, not an error.
    assert page_title(chrome).endswith(ORG), page_title(chrome)
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


def test_learners_first_page_inside_the_lms_iframe_is_accessible(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    launch(chrome, live_tool, "u-aisha", in_iframe=True)
    # The top-level page is the LMS's; the checks run on the tool's document in its frame.
    assert chrome.current_url.startswith(live_tool.lms_url + "/course/")
    assert chrome.execute_script("return location.href") == live_tool.tool_url + "/"
    assert page_title(chrome).endswith(ORG), page_title(chrome)
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


def is_skip_link(element: WebElement) -> bool:
    return (
        element.tag_name == "a"
        and (element.get_attribute("href") or "").endswith("#main-content")
        and element.text.strip() == "Skip to main content"
    )


def test_first_tab_reaches_the_skip_link_and_enter_moves_focus_to_main_content(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    launch(chrome, live_tool, "u-aisha")
    tab_until(chrome, is_skip_link, max_tabs=1)
    assert focused_element_has_visible_focus(chrome), (
        f"the focused skip link has no visible focus style: {focus_style(chrome)}"
    )
    press(chrome, Keys.ENTER)
    try:
        WebDriverWait(chrome, WAIT_SECONDS).until(
            lambda d: d.switch_to.active_element.get_attribute("id") == "main-content"
        )
    except Exception as exc:
        focused = describe(chrome, chrome.switch_to.active_element)
        raise AssertionError(f"ENTER on the skip link left focus on {focused}") from exc
    assert chrome.switch_to.active_element.tag_name == "main"
    assert_no_csp_refusals(chrome)


def test_every_page_has_its_own_title(chrome: WebDriver, live_tool: LiveTool) -> None:
    titles: list[tuple[str, str]] = []
    for path in ("/lti/config", "/no-such-page", "/"):
        open_tool_page(chrome, live_tool, path)
        titles.append((path, page_title(chrome)))
    launch(chrome, live_tool, "u-aisha")
    titles.append(("first page after a launch", page_title(chrome)))

    listing = "\n".join(f"  {where}: {title!r}" for where, title in titles)
    assert all(title for _, title in titles), f"a page has no title:\n{listing}"
    assert len({title for _, title in titles}) == len(titles), f"titles repeat:\n{listing}"
    assert_no_csp_refusals(chrome)


def test_a_teachers_page_is_accessible_before_and_after_the_course_is_read(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    """An Instructor whom the roster names as nobody's manager: the page saying so, with
    their course's learners once `roster sync-lms` has read the course (by its cron)."""
    launch(chrome, live_tool, "u-tom")
    open_tool_page(chrome, live_tool, "/team/")
    assert h1_text(chrome) == "Your team"
    assert "has not been read yet" in chrome.find_element(By.TAG_NAME, "main").text
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
    result = live_tool.app.test_cli_runner().invoke(args=["roster", "sync-lms", "--org", ORG])
    assert result.exit_code == 0 and "members" in result.output, result.output
    open_tool_page(chrome, live_tool, "/team/")
    assert "Aisha Khan" in chrome.find_element(By.CSS_SELECTOR, "main table").text
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
