"""The committee report's settings on HR's Settings page, in a real browser: a day with no
one to send to is refused with an error summary linked to the recipients' box (what was typed
kept), then the report is scheduled; axe-clean and reflowing at 320px throughout."""

from __future__ import annotations

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from sqlalchemy import select

from app.db import db
from app.models import Organisation
from tests.browser.conftest import LiveTool, launch
from tests.browser.journey import next_page
from tests.browser.test_pages import assert_accessible, assert_no_csp_refusals, open_tool_page
from tests.conftest import ORG


def test_hr_schedules_the_committee_report(chrome: WebDriver, live_tool: LiveTool) -> None:
    launch(chrome, live_tool, "u-priya")
    open_tool_page(chrome, live_tool, "/hr/settings")
    warning = chrome.find_element(By.CSS_SELECTOR, "#committee-report ~ .govuk-warning-text")
    assert "often published" in warning.text
    assert_accessible(chrome)
    day = chrome.find_element(By.ID, "report_day")
    assert day.get_attribute("aria-describedby") == "report_day-hint"
    day.clear()
    day.send_keys("15")
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.CSS_SELECTOR, "form button.govuk-button").click()
    assert chrome.current_url == live_tool.tool_url + "/hr/settings"  # redirected: no resubmit
    assert chrome.title.startswith("Error:")
    summary = chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    link = summary.find_element(By.PARTIAL_LINK_TEXT, "Enter who the committee report is sent to")
    assert link.get_attribute("href").endswith("#report_recipients")
    assert chrome.find_element(By.ID, "report_day").get_attribute("value") == "15"
    assert_accessible(chrome)
    chrome.find_element(By.ID, "report_recipients").send_keys(
        "Clerk@Council.Example\nmonitoring.officer@council.example"
    )
    chrome.find_element(
        By.CSS_SELECTOR, "input[name=report_councillor_names][value=listed]"
    ).click()
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.CSS_SELECTOR, "form button.govuk-button").click()
    banner = chrome.find_element(By.CSS_SELECTOR, ".govuk-notification-banner")
    assert "Settings saved: 3 changes." in banner.text
    assert chrome.find_element(By.ID, "report_recipients").get_attribute("value") == (
        "Clerk@council.example, monitoring.officer@council.example"
    )
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
    with live_tool.app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.name == ORG)).one()
        assert (org.report_day, org.report_councillor_names) == (15, "listed")
