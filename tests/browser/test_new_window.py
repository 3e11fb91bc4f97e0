"""A browser that keeps the tool's cookies out of the LMS's frame: the launch signs no one in
there; the person opens a new window, confirms their name, and only then has a visit.

The LMS is served as http://localhost:PORT and the tool as http://127.0.0.1:PORT: two sites,
as an LMS and a tool are. Chromium then keeps the demo's `SameSite=Lax` cookies out of the
LMS's cross-site frame and out of the platform's cross-site POST of the id_token, so the
launch arrives without its state cookie, as in a browser that blocks third-party cookies.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.a11y import assert_headings_in_order, assert_no_axe_violations, tab_until
from tests.browser.conftest import WAIT_SECONDS, LiveTool, launch, prepare_tool, wait_for_tool_page
from tests.browser.journey import h1_text, next_page, normal
from tests.browser.test_pages import assert_accessible, assert_no_csp_refusals
from tests.conftest import ORG


@pytest.fixture
def cross_site(live_tool: LiveTool) -> LiveTool:
    """The same tool and demo LMS, the LMS registered and reached as http://localhost:PORT."""
    platform = live_tool.platform
    platform.issuer = live_tool.lms_url.replace("127.0.0.1", "localhost")
    prepare_tool(live_tool.app, platform)
    return replace(live_tool, lms_url=platform.issuer)


REPOST = """
const form = document.createElement("form");
form.method = "post";
form.action = "/lti/continue";
const h = document.createElement("input");
h.type = "hidden"; h.name = "h"; h.value = arguments[0];
form.appendChild(h);
document.body.appendChild(form);
form.submit();
"""


def location(driver: WebDriver) -> str:
    return str(driver.execute_script("return location.href"))


def test_a_framed_launch_without_cookies_continues_only_after_the_person_confirms(
    chrome: WebDriver, cross_site: LiveTool
) -> None:
    live = cross_site
    launch(chrome, live, "u-aisha", in_iframe=True)

    # Inside the LMS's frame: the new-window page, and no visit.
    assert h1_text(chrome) == "Open the module in a new window"
    assert location(chrome) == live.tool_url + "/lti/launch"
    assert_no_axe_violations(chrome)
    assert_headings_in_order(chrome)
    assert_no_csp_refusals(chrome)
    lms_window = chrome.current_window_handle
    click_button = chrome.find_element("css selector", "form[action='/lti/continue'] button")
    assert normal(click_button.text) == "Open the module in a new window"
    click_button.click()

    WebDriverWait(chrome, WAIT_SECONDS).until(lambda d: len(d.window_handles) == 2)
    chrome.switch_to.window(next(h for h in chrome.window_handles if h != lms_window))
    wait_for_tool_page(chrome, live.tool_url)

    # The new window names the person; its address carries no link.
    assert h1_text(chrome) == "Continue as Aisha Khan?"
    assert location(chrome) == live.tool_url + "/lti/continue"
    text = str(chrome.execute_script("return document.body.innerText"))
    assert ORG in text
    assert "Not you?" in text
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)

    # Before the button: this browser has no visit (the window's own cookies, top level).
    chrome.switch_to.new_window("tab")
    chrome.get(live.tool_url + "/")
    wait_for_tool_page(chrome, live.tool_url)
    assert h1_text(chrome) == "Open the module from your learning portal"
    chrome.close()
    chrome.switch_to.window(next(h for h in chrome.window_handles if h != lms_window))

    handoff = chrome.find_element("css selector", "input[name=h]").get_attribute("value")
    assert handoff and handoff not in location(chrome)

    # By the keyboard alone: TAB to the button, ENTER.
    button = tab_until(chrome, lambda el: el.tag_name == "button" and normal(el.text) == "Continue")
    assert button.get_attribute("type") == "submit"
    with next_page(chrome, live.tool_url):
        chrome.switch_to.active_element.send_keys(Keys.ENTER)
    assert location(chrome) == live.tool_url + "/"
    assert h1_text(chrome) == "Corporate Parenting Policy"
    assert "Aisha Khan" in str(chrome.execute_script("return document.body.innerText"))

    # Posting the same link again (a reload, or another copy of the page) is refused.
    with next_page(chrome, live.tool_url):
        chrome.execute_script(REPOST, handoff)
    assert h1_text(chrome) == "This link has expired"
    assert_no_axe_violations(chrome)
