"""HR's export and API token pages in a real browser: WCAG 2.2 AA (axe-core), headings in
order, reflow at 320px and no Content-Security-Policy refusals, with and without errors."""

from __future__ import annotations

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.browser.conftest import LiveTool, launch, wait_for_tool_page
from tests.browser.journey import next_page
from tests.browser.test_hr_pages import _people
from tests.browser.test_pages import assert_accessible, assert_no_csp_refusals, h1_text


def _open(chrome: WebDriver, live: LiveTool, path: str) -> None:
    chrome.get(live.tool_url + path)
    wait_for_tool_page(chrome, live.tool_url)


def _submit(chrome: WebDriver, live: LiveTool, selector: str) -> None:
    with next_page(chrome, live.tool_url):  # not the old page, still there after the click
        chrome.find_element(By.CSS_SELECTOR, selector).click()


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/hr/exports", id="exports"),
        pytest.param("/hr/exports?status=certified&overdue_only=true", id="exports-filtered"),
        pytest.param(
            "/hr/exports?status=bogus&accepted_from-day=31&accepted_from-month=2"
            "&accepted_from-year=2026&accepted_to-day=1&manager=nobody",
            id="exports-with-errors",
        ),
    ],
)
def test_the_export_page_is_accessible(chrome: WebDriver, live_tool: LiveTool, path: str) -> None:
    _people(live_tool)
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, path)
    assert h1_text(chrome) == "Export people and statuses"
    if "bogus" in path:
        assert chrome.title.startswith("Error:")
        assert chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


def test_the_api_token_pages_are_accessible(chrome: WebDriver, live_tool: LiveTool) -> None:
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, "/hr/api-tokens")
    assert h1_text(chrome) == "API tokens"
    assert_accessible(chrome)
    _submit(chrome, live_tool, "form button.govuk-button")  # no name: an error
    assert chrome.title.startswith("Error:")
    assert "Enter a name" in chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary").text
    assert_accessible(chrome)
    chrome.find_element(By.ID, "name").send_keys("Payroll nightly import")
    _submit(chrome, live_tool, "form button.govuk-button")
    assert chrome.find_element(By.ID, "new-token").text.startswith("cpm_")
    assert_accessible(chrome)  # the token shown once, with its warning, and the table
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.PARTIAL_LINK_TEXT, "Revoke").click()
    assert h1_text(chrome) == "Revoke the token Payroll nightly import?"
    assert_accessible(chrome)
    _submit(chrome, live_tool, "form button.govuk-button--warning")
    assert (
        "no longer works" in chrome.find_element(By.CSS_SELECTOR, ".govuk-notification-banner").text
    )
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
