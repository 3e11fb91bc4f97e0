"""A course editor places the module with the LMS's content picker, in Chromium: the demo
LMS's "Select content" frames the tool's choice page, the tool's answer posts itself back
to the LMS (allowed by that page's CSP alone), and the LMS shows the new activity."""

from __future__ import annotations

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.a11y import assert_no_axe_violations
from tests.browser.conftest import COURSE, WAIT_SECONDS, LiveTool, wait_for_tool_page
from tests.browser.journey import h1_text
from tests.browser.test_new_window import cross_site  # noqa: F401 - fixture
from tests.browser.test_pages import assert_accessible, assert_no_csp_refusals


def open_picker(chrome: WebDriver, live: LiveTool, user_id: str) -> None:
    """The LMS's "Add an activity: select content" page, the driver inside its frame."""
    chrome.switch_to.default_content()
    chrome.get(f"{live.lms_url}/course/{COURSE}/{user_id}/select")
    frame = WebDriverWait(chrome, WAIT_SECONDS).until(
        ec.presence_of_element_located((By.TAG_NAME, "iframe"))
    )
    chrome.switch_to.frame(frame)
    wait_for_tool_page(chrome, live.tool_url)


def lms_page_with(chrome: WebDriver, live: LiveTool, heading: str) -> None:
    """Until the frame shows the LMS's page with this heading."""

    def arrived(d: WebDriver) -> bool:
        return bool(
            d.execute_script(
                "return location.href.startsWith(arguments[0]) && document.readyState"
                " === 'complete' && document.querySelector('h1')?.textContent === arguments[1]",
                live.lms_url,
                heading,
            )
        )

    WebDriverWait(chrome, WAIT_SECONDS).until(arrived)


def test_tom_places_the_module_from_the_lms_picker_and_the_lms_shows_it(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    live = live_tool
    open_picker(chrome, live, "u-tom")
    assert h1_text(chrome) == "Add the Corporate Parenting module"
    assert_accessible(chrome)  # axe-core, headings, 320px reflow inside the LMS's frame

    # An empty title is shown back with the error summary, focused, and still axe-clean.
    title = chrome.find_element(By.ID, "title")
    title.clear()
    chrome.find_element(By.CSS_SELECTOR, "form button").click()
    WebDriverWait(chrome, WAIT_SECONDS).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".govuk-error-summary"))
    )
    assert "Enter a title for the activity" in chrome.find_element(By.TAG_NAME, "main").text
    assert_no_axe_violations(chrome)

    title = chrome.find_element(By.ID, "title")
    title.send_keys("Corporate Parenting (staff)")
    chrome.find_element(By.CSS_SELECTOR, "input[value='window']").click()
    chrome.find_element(By.CSS_SELECTOR, "form button").click()
    # The tool's answer posts itself (deep-link.mjs) to the LMS, inside the same frame.
    lms_page_with(chrome, live, "Activity added")
    assert "Corporate Parenting (staff)" in chrome.find_element(By.ID, "added").text
    [link] = live.platform.added_links[COURSE].values()
    assert link.target == "window" and link.lineitem is not None
    [item] = live.platform.lineitems[COURSE]
    assert item["scoreMaximum"] == 100 and item["resourceLinkId"] == link.link_id

    chrome.switch_to.default_content()
    chrome.get(live.lms_url + "/")
    assert (
        "Open Corporate Parenting (staff) as Aisha" in chrome.find_element(By.TAG_NAME, "main").text
    )
    chrome.switch_to.default_content()
    assert_no_csp_refusals(chrome)


def test_a_learner_in_the_picker_is_refused_and_the_lms_shows_why(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    live = live_tool
    open_picker(chrome, live, "u-aisha")
    assert h1_text(chrome) == "The module cannot be added here"
    assert_accessible(chrome)
    chrome.find_element(By.CSS_SELECTOR, "form button").click()
    lms_page_with(chrome, live, "Nothing was added")
    assert "Only a course editor" in chrome.find_element(By.ID, "message").text
    assert live.platform.added_links == {}


def test_the_picker_works_where_the_frame_gets_no_cookies(
    chrome: WebDriver,
    cross_site: LiveTool,  # noqa: F811 - the fixture
) -> None:
    """The LMS on another site (localhost vs 127.0.0.1): Chromium keeps the tool's Lax
    cookies out of the LMS's frame, and the choice form needs none."""
    live = cross_site
    open_picker(chrome, live, "u-tom")
    assert chrome.get_cookies() == []  # the frame holds none of the tool's cookies
    chrome.find_element(By.CSS_SELECTOR, "form button").click()
    lms_page_with(chrome, live, "Activity added")
    assert "Corporate Parenting Policy" in chrome.find_element(By.ID, "added").text
