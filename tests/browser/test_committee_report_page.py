"""The committee report's page in a real browser: WCAG 2.2 AA (axe-core), headings in order,
reflow at 320px, no Content-Security-Policy refusals, its two charts loaded as images drawn
into the page (data: addresses, which the CSP allows), and
the error summary taking the focus when the date cannot be used."""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from app.clock import today
from app.db import db
from app.models import Organisation, Person
from tests.browser.conftest import LiveTool, launch, wait_for_tool_page
from tests.browser.journey import next_page
from tests.browser.test_hr_pages import _people
from tests.browser.test_pages import assert_accessible, assert_no_csp_refusals, h1_text
from tests.conftest import ORG

# Each chart's image, once the browser has it: loaded, decoded, with a size of its own.
_CHARTS = """
return Array.from(document.querySelectorAll("img.app-chart")).map(
  img => ({src: img.getAttribute("src"), alt: img.alt, ok: img.complete && img.naturalWidth > 0}));
"""


def _report_people(live: LiveTool) -> None:
    """HR's usual people, and a councillor on the committee in a directorate with a long,
    hostile name; the councillors are listed by name."""
    _people(live)
    with live.app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.name == ORG)).one()
        org.report_councillor_names = "listed"
        db.session.add(
            Person(
                organisation_id=org.id,
                first_name="<script>alert(1)</script>",
                last_name="Councillor-With-A-Very-Long-Double-Barrelled-Name",
                elected_member=True,
                committee_member=True,
                directorate='<b>Democratic</b> Services & =HYPERLINK("http://x.example")',
                assigned_on=today(),
            )
        )
        db.session.commit()


def _open(chrome: WebDriver, live: LiveTool, path: str) -> None:
    chrome.get(live.tool_url + path)
    wait_for_tool_page(chrome, live.tool_url)


@pytest.mark.parametrize(
    "query", [pytest.param("", id="today"), pytest.param("?period=year", id="last-year")]
)
def test_the_report_page_is_accessible_and_its_charts_load(
    chrome: WebDriver, live_tool: LiveTool, query: str
) -> None:
    _report_people(live_tool)
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, "/hr/report" + query)
    assert h1_text(chrome) == "Committee report"
    WebDriverWait(chrome, 20).until(
        lambda d: all(chart["ok"] for chart in d.execute_script(_CHARTS))
    )
    charts = chrome.execute_script(_CHARTS)
    assert [c["src"].split(",")[0] for c in charts] == ["data:image/svg+xml;base64"] * 2
    assert all(c["alt"].startswith(("Completion ", "0 of ", "1 of ")) for c in charts), charts
    names = chrome.find_element(By.ID, "councillors-not-completed").text
    assert "<script>alert(1)</script> Councillor-With-A-Very-Long" in names
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


def test_a_date_in_the_future_is_an_error_that_takes_the_focus(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, "/hr/report")
    tomorrow = today() + timedelta(days=1)
    for part, value in (("day", tomorrow.day), ("month", tomorrow.month), ("year", tomorrow.year)):
        box = chrome.find_element(By.ID, f"date-{part}")
        box.clear()
        box.send_keys(str(value))
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.ID, "submit").click()
    assert chrome.title.startswith("Error: Committee report")
    # GOV.UK Frontend's error summary moves the focus to itself once its script has run.
    WebDriverWait(chrome, 10).until(
        lambda d: d.execute_script(
            "return document.activeElement.classList.contains('govuk-error-summary')"
        )
    )
    summary = chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    link = summary.find_element(By.LINK_TEXT, "The date must be today or in the past")
    assert link.get_attribute("href").endswith("#date-day")
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
