"""Dynamic registration in Chromium: the demo LMS's administrator pastes the tool's registration
URL, the LMS shows the tool's pages in its frame, the administrator confirms there, the tool's
close message reaches the LMS (origin-checked), and the tool is listed as Pending.

The LMS is http://localhost:PORT and the tool http://127.0.0.1:PORT (two sites), and the LMS is
not registered with the tool beforehand, so the frame shows only if the registration pages
let that LMS frame them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from app.db import db
from app.models import PlatformRegistration
from scripts.demo_lms.dynreg import DynamicRegistrar
from scripts.demo_lms.platform import DemoPlatform
from scripts.demo_lms.server import create_platform_app
from tests.browser.a11y import assert_headings_in_order, assert_no_axe_violations
from tests.browser.conftest import (
    WAIT_SECONDS,
    LiveTool,
    _stop,
    launch,
    plain_http_tool,
    wait_for_tool_page,
)
from tests.browser.test_pages import assert_accessible, assert_no_csp_refusals, h1_text
from tests.conftest import ORG, LiveServer


@dataclass(frozen=True)
class Unregistered:
    tool_url: str
    lms_url: str
    platform: DemoPlatform
    registrar: DynamicRegistrar
    app: Flask


@pytest.fixture
def unregistered(make_app: Callable[..., Flask]) -> Iterator[Unregistered]:
    """The tool and a demo LMS on two sites, the LMS not yet registered with the tool."""
    late, tool_server, app = plain_http_tool(make_app)
    platform = DemoPlatform(issuer="http://placeholder", tool_base_url=tool_server.url)
    lms_server = LiveServer(create_platform_app(platform))
    platform.issuer = lms_server.url.replace("127.0.0.1", "localhost")
    runner = app.test_cli_runner()
    for args in (["lti", "ensure-key"], ["content", "publish"]):
        assert runner.invoke(args=args).exit_code == 0
    tool_server.start()
    lms_server.start()
    try:
        yield Unregistered(
            tool_server.url,
            platform.issuer,
            platform,
            lms_server.server.app.extensions["demo_registrar"],
            app,
        )
    finally:
        app.extensions["cpm_registration_worker"].join()
        late.close()
        for server in (tool_server, lms_server):
            _stop(server, True)


def registration_url(live: Unregistered) -> str:
    result = live.app.test_cli_runner().invoke(
        args=["lti", "registration-url", "--org", ORG, "--hours", "1"]
    )
    assert result.exit_code == 0, result.output
    [url] = [line for line in result.output.splitlines() if "/lti/register/" in line]
    return url.strip()


def wait_for_h1(driver: WebDriver, text: str) -> None:
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: (
            d.execute_script(
                "const h = document.querySelector('h1'); return h && h.textContent.trim()"
            )
            == text
        )
    )


def test_the_lms_registers_the_tool_in_its_frame_and_lists_it_pending(
    chrome: WebDriver, unregistered: Unregistered
) -> None:
    live = unregistered
    chrome.get(live.lms_url + "/admin/tools")
    chrome.find_element(By.ID, "tool_url").send_keys(registration_url(live))
    chrome.find_element(By.CSS_SELECTOR, "form button").click()
    frame = WebDriverWait(chrome, WAIT_SECONDS).until(
        ec.presence_of_element_located((By.ID, "registration"))
    )
    chrome.switch_to.frame(frame)
    wait_for_tool_page(chrome, live.tool_url)
    # "Reading your LMS's settings" refreshes itself until the tool has read them.
    wait_for_h1(chrome, "Register the Corporate Parenting module")
    attempt_url = str(chrome.execute_script("return location.href"))
    page = chrome.find_element(By.TAG_NAME, "main").text
    assert ORG in page and live.lms_url in page and "demo_lms 1.0" in page
    assert_no_axe_violations(chrome)
    assert_headings_in_order(chrome)
    assert_no_csp_refusals(chrome)

    chrome.find_element(By.CSS_SELECTOR, "form button").click()
    # The tool's last page posts org.imsglobal.lti.close to the LMS, which leaves the frame
    # and lists the tool.
    chrome.switch_to.default_content()
    WebDriverWait(chrome, WAIT_SECONDS).until(ec.presence_of_element_located((By.ID, "closed")))
    assert chrome.find_element(By.CSS_SELECTOR, "#tools .status").text == "Pending"
    [tool] = live.registrar.tools.values()
    with live.app.app_context():
        reg = db.session.scalars(select(PlatformRegistration)).one()
        assert (reg.issuer, reg.client_id) == (live.lms_url, tool.client_id)

    chrome.find_element(By.CSS_SELECTOR, "#tools button").click()
    # Activate reloads the page: read the status by script, so that an element of the page
    # being replaced is never asked for its text (Chromium: "Node ... does not belong").
    WebDriverWait(chrome, WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(
        lambda d: (
            d.execute_script(
                "const s = document.querySelector('#tools .status');"
                "return s ? s.textContent.trim() : null"
            )
            == "Active"
        )
    )

    # The last page, on its own, for its accessibility (outside a frame it sends nothing).
    chrome.get(attempt_url)
    wait_for_tool_page(chrome, live.tool_url)
    assert h1_text(chrome) == "The module is registered"
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


def test_a_refusal_page_in_the_frame_is_accessible(
    chrome: WebDriver, unregistered: Unregistered
) -> None:
    live = unregistered
    live.registrar.configuration_overrides = {"issuer": "http://elsewhere.invalid"}
    chrome.get(live.lms_url + "/admin/tools")
    chrome.find_element(By.ID, "tool_url").send_keys(registration_url(live))
    chrome.find_element(By.CSS_SELECTOR, "form button").click()
    chrome.switch_to.frame(
        WebDriverWait(chrome, WAIT_SECONDS).until(
            ec.presence_of_element_located((By.ID, "registration"))
        )
    )
    wait_for_tool_page(chrome, live.tool_url)
    wait_for_h1(chrome, "Your LMS's configuration names another site as its own")
    assert_no_axe_violations(chrome)
    assert_headings_in_order(chrome)
    assert live.registrar.tools == {}


def test_hr_makes_a_registration_url_on_an_accessible_page(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    launch(chrome, live_tool, "u-priya")
    chrome.get(live_tool.tool_url + "/hr/settings")
    wait_for_tool_page(chrome, live_tool.tool_url)
    button = chrome.find_element(By.XPATH, "//form[contains(@action, 'registration-url')]//button")
    chrome.execute_script("arguments[0].scrollIntoView()", button)
    button.click()
    wait_for_h1(chrome, "Registration URL")
    url = chrome.find_element(By.ID, "registration-url").get_attribute("value") or ""
    assert url.startswith(live_tool.tool_url + "/lti/register/")
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
