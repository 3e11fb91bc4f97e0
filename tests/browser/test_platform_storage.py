"""Platform storage in Chromium: the demo LMS's course page keeps the tool's login state and
nonce (LTI Client Side postMessages), and a framed launch whose cookies the browser refuses
proves its login from there and carries on in a new window without asking who it is.

As in test_new_window.py, the LMS is http://localhost:PORT and the tool http://127.0.0.1:PORT:
two sites, so Chromium keeps the demo's SameSite=Lax cookies out of the LMS's frame (neither
the state cookie nor the session cookie works there), as a browser that refuses them would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from app.db import db
from app.models import Launch, LoginState
from tests.browser.a11y import assert_headings_in_order, assert_no_axe_violations
from tests.browser.conftest import COURSE, WAIT_SECONDS, LiveTool, prepare_tool, wait_for_tool_page
from tests.browser.journey import h1_text, normal
from tests.browser.test_pages import assert_accessible, assert_no_csp_refusals
from tests.conftest import LiveServer


def _cross_site(live_tool: LiveTool, storage: bool) -> LiveTool:
    platform = live_tool.platform
    platform.issuer = live_tool.lms_url.replace("127.0.0.1", "localhost")
    platform.platform_storage = storage
    prepare_tool(live_tool.app, platform)
    return replace(live_tool, lms_url=platform.issuer)


@pytest.fixture
def with_storage(live_tool: LiveTool) -> LiveTool:
    """The LMS on another site, offering its storage as Canvas does."""
    return _cross_site(live_tool, storage=True)


@pytest.fixture
def without_storage(live_tool: LiveTool) -> LiveTool:
    return _cross_site(live_tool, storage=False)


def location(driver: WebDriver) -> str:
    return str(driver.execute_script("return location.href"))


def open_course_frame(chrome: WebDriver, live: LiveTool, user_id: str = "u-aisha") -> None:
    chrome.get(f"{live.lms_url}/course/{COURSE}/{user_id}")
    frame = WebDriverWait(chrome, WAIT_SECONDS).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[src^='/start/']"))
    )
    chrome.switch_to.frame(frame)


def wait_for_launch_page(chrome: WebDriver, live: LiveTool) -> None:
    """Until the frame shows the launch's answer (past the login page, which has an h1 too)."""
    WebDriverWait(chrome, WAIT_SECONDS).until(
        lambda d: (
            location(d) == live.tool_url + "/lti/launch"
            and d.execute_script("return document.readyState") == "complete"
        )
    )
    wait_for_tool_page(chrome, live.tool_url)


def outcome(chrome: WebDriver) -> str:
    """Which way the launch page's platform-storage script went (data-outcome)."""
    found = WebDriverWait(chrome, WAIT_SECONDS).until(
        lambda d: d.execute_script(
            "const b = document.getElementById('lti-storage'); return b && b.dataset.outcome"
        )
    )
    return str(found)


def login_rows(live: LiveTool) -> list[Any]:
    with live.app.app_context():
        return list(db.session.execute(select(LoginState)).scalars())


def test_with_platform_storage_the_login_is_proven_and_the_new_window_asks_nothing(
    chrome: WebDriver, with_storage: LiveTool
) -> None:
    live = with_storage
    open_course_frame(chrome, live)
    wait_for_launch_page(chrome, live)

    # The frame refused the state cookie, but the LMS's page had kept state and nonce.
    assert outcome(chrome) == "new-window"
    (login,) = login_rows(live)
    assert login.storage_target == "_parent"
    assert login.used_at is not None and login.storage_proven_at is not None
    # The frame refused the session cookie too: it stays on the new-window page.
    assert h1_text(chrome) == "Open the module in a new window"
    assert_no_axe_violations(chrome)
    assert_headings_in_order(chrome)
    assert_no_csp_refusals(chrome)

    lms_window = chrome.current_window_handle
    button = chrome.find_element(By.CSS_SELECTOR, "form#new-window button")
    assert normal(button.text) == "Open the module in a new window"
    button.click()
    WebDriverWait(chrome, WAIT_SECONDS).until(lambda d: len(d.window_handles) == 2)
    chrome.switch_to.window(next(h for h in chrome.window_handles if h != lms_window))

    # No "Continue as ...?": the window got the key from the proven frame and is signed in.
    WebDriverWait(chrome, WAIT_SECONDS).until(lambda d: location(d) == live.tool_url + "/")
    wait_for_tool_page(chrome, live.tool_url)
    assert h1_text(chrome) == "Corporate Parenting Policy"
    assert "Aisha Khan" in str(chrome.execute_script("return document.body.innerText"))
    assert_no_csp_refusals(chrome)
    with live.app.app_context():
        launch = db.session.scalars(select(Launch)).one()
        assert launch.handed_off_at is not None


def test_the_window_page_alone_signs_no_one_in(chrome: WebDriver, with_storage: LiveTool) -> None:
    """Opened by anything but a proven frame of the tool (here: typed in), it only says so."""
    live = with_storage
    chrome.get(live.tool_url + "/lti/storage/window")
    wait_for_tool_page(chrome, live.tool_url)
    WebDriverWait(chrome, WAIT_SECONDS).until(
        lambda d: d.find_element(By.ID, "lti-storage-failed").is_displayed()
    )
    assert h1_text(chrome) == "Opening the module"
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
    chrome.get(live.tool_url + "/")
    wait_for_tool_page(chrome, live.tool_url)
    assert h1_text(chrome) == "Open the module from your learning portal"


def test_the_login_page_is_accessible_and_goes_on_by_itself(
    chrome: WebDriver, with_storage: LiveTool
) -> None:
    """Seen for a moment in the frame; checked here with a platform that never answers."""
    live = with_storage
    live.platform.platform_storage = False  # the course page answers nothing...
    params = live.platform.login_params("u-aisha", COURSE)
    params["lti_storage_target"] = "_parent"  # ...though the login says it would
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    chrome.get(live.lms_url + "/")  # an LMS page with no frame of its own, and one added
    chrome.execute_script(
        "const f = document.createElement('iframe'); f.title = 'The module';"
        "f.src = arguments[0]; document.body.append(f);",
        f"{live.tool_url}/lti/login?{query}",
    )
    chrome.switch_to.frame(chrome.find_element(By.TAG_NAME, "iframe"))
    wait_for_tool_page(chrome, live.tool_url)
    assert h1_text(chrome) == "Opening the module"
    assert_no_axe_violations(chrome)
    assert_headings_in_order(chrome)
    assert_no_csp_refusals(chrome)
    # After waiting for answers in vain, it goes on to the LMS anyway.
    wait_for_launch_page(chrome, live)
    (login,) = login_rows(live)
    assert login.storage_target == "_parent" and login.storage_proven_at is None
    assert outcome(chrome) == "not-proven"
    assert h1_text(chrome) == "Open the module in a new window"


def test_without_platform_storage_the_new_window_asks_who_continues(
    chrome: WebDriver, without_storage: LiveTool
) -> None:
    live = without_storage
    open_course_frame(chrome, live)
    wait_for_launch_page(chrome, live)

    assert h1_text(chrome) == "Open the module in a new window"
    assert not chrome.find_elements(By.ID, "lti-storage")
    (login,) = login_rows(live)
    assert login.storage_target is None
    lms_window = chrome.current_window_handle
    chrome.find_element(By.CSS_SELECTOR, "form[action='/lti/continue'] button").click()
    WebDriverWait(chrome, WAIT_SECONDS).until(lambda d: len(d.window_handles) == 2)
    chrome.switch_to.window(next(h for h in chrome.window_handles if h != lms_window))
    wait_for_tool_page(chrome, live.tool_url)
    assert h1_text(chrome) == "Continue as Aisha Khan?"


# A page of another origin (another port) framed in the LMS's course page: it asks the LMS's
# storage as a tool would, and records every message that reaches it.
HOSTILE = b"""<!DOCTYPE html><html lang="en"><title>Other</title><script>
window.received = [];
window.addEventListener("message", (e) => window.received.push([e.origin, e.data]));
for (const subject of ["lti.capabilities", "lti.put_data", "lti.get_data"]) {
  parent.postMessage({subject, message_id: "hostile-" + subject, key: "cpm_state_x",
                      value: "planted"}, "*");
}
</script></html>"""


@pytest.fixture
def hostile() -> Iterator[str]:
    def page(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [HOSTILE]

    server = LiveServer(page).start()
    yield server.url
    server.stop()


def test_messages_from_another_origin_get_no_answer(
    chrome: WebDriver, with_storage: LiveTool, hostile: str
) -> None:
    live = with_storage
    chrome.get(f"{live.lms_url}/course/{COURSE}/u-aisha")
    chrome.execute_script(
        "const f = document.createElement('iframe'); f.id = 'hostile'; f.title = 'Other';"
        "f.src = arguments[0]; document.body.append(f);",
        hostile + "/",
    )
    tool_frame = chrome.find_element(By.CSS_SELECTOR, "iframe[src^='/start/']")
    chrome.switch_to.frame(tool_frame)
    wait_for_launch_page(chrome, live)
    # The tool's own login was kept and proven, in the same page, at the same time.
    assert outcome(chrome) == "new-window"
    (login,) = login_rows(live)
    assert login.storage_proven_at is not None

    chrome.switch_to.default_content()
    chrome.switch_to.frame(chrome.find_element(By.ID, "hostile"))
    WebDriverWait(chrome, WAIT_SECONDS).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    time.sleep(0.5)  # not a timing assertion: answers would have come long before
    # The LMS answered none of the other origin's messages (its storage is the tool's only).
    assert chrome.execute_script("return window.received") == []
