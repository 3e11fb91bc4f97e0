"""The accessibility statement and the privacy notice in a real browser: WCAG 2.2 AA
(axe-core), headings in order, reflow at 320 CSS pixels and no Content-Security-Policy
refusals, without a launch and inside the LMS's iframe; and reached from the footer by
keyboard alone."""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.keys import Keys

from tests.browser.a11y import (
    focus_style,
    focused_element_has_visible_focus,
    page_title,
    press,
    tab_until,
)
from tests.browser.conftest import LiveTool, launch
from tests.browser.journey import next_page
from tests.browser.test_pages import (
    assert_accessible,
    assert_no_csp_refusals,
    h1_text,
    open_tool_page,
)
from tests.conftest import ORG

DASH = "\N{EN DASH}"  # the layout's title separator

PAGES = [
    pytest.param(
        "/accessibility",
        "Accessibility statement for the Corporate Parenting module",
        "Accessibility statement",
        id="accessibility",
    ),
    pytest.param(
        "/privacy",
        "Privacy notice for the Corporate Parenting module",
        "Privacy notice",
        id="privacy",
    ),
]


@pytest.mark.parametrize(("path", "heading", "link"), PAGES)
def test_the_page_is_accessible_without_a_launch(
    chrome: WebDriver, live_tool: LiveTool, path: str, heading: str, link: str
) -> None:
    assert requests.get(live_tool.tool_url + path, timeout=10).status_code == 200
    open_tool_page(chrome, live_tool, path)
    assert h1_text(chrome) == heading
    assert page_title(chrome) == f"{link} {DASH} Corporate Parenting"
    assert_accessible(chrome)  # axe-core, headings, reflow at 320px
    assert_no_csp_refusals(chrome)


@pytest.mark.parametrize(("path", "heading", "link"), PAGES)
def test_the_footer_link_inside_the_lms_iframe_opens_an_accessible_page_by_keyboard(
    chrome: WebDriver, live_tool: LiveTool, path: str, heading: str, link: str
) -> None:
    """From a learner's first page in the LMS's frame: TAB to the footer's link, ENTER, and
    the page with the visitor's own council's details, still inside the frame."""
    launch(chrome, live_tool, "u-aisha", in_iframe=True)
    found = tab_until(
        chrome,
        lambda el: el.tag_name == "a" and el.text.strip() == link,
        max_tabs=80,
    )
    assert found.get_attribute("href") == live_tool.tool_url + path
    assert focused_element_has_visible_focus(chrome), (
        f"the focused footer link has no visible focus style: {focus_style(chrome)}"
    )
    with next_page(chrome, live_tool.tool_url):
        press(chrome, Keys.ENTER)
    assert chrome.execute_script("return location.href") == live_tool.tool_url + path
    assert h1_text(chrome) == heading
    assert ORG in chrome.execute_script("return document.querySelector('main').innerText")
    assert page_title(chrome) == f"{link} {DASH} Corporate Parenting {DASH} {ORG}"
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
