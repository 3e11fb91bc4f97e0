"""A manager's pages in a real browser: the team table first and readable on a phone
(390px and 320px: rows become cards, nothing scrolls sideways, no word is cut), the state
where nobody is overdue, and the check page before a reminder is sent; axe-clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.browser.a11y import assert_reflows_at_320px
from tests.browser.conftest import LiveTool, launch, wait_for_tool_page
from tests.browser.journey import next_page
from tests.browser.test_pages import assert_accessible, assert_no_csp_refusals, h1_text
from tests.conftest import ORG
from tests.web.test_gunicorn import free_port
from tests.web.test_team import ROSTER, Inbox

D = "demo-council.example"
# Tom's team with a long name and department, as a phone must show them.
LONG = (
    f"E1020,Mina,Patel-Montgomery-Featherstonehaugh,mina.pmf@{D},Children's Services and "
    "Education,Fostering and Adoption Support Services,E1003,01/01/2020\n"
)


@pytest.fixture
def team(live_tool: LiveTool, tmp_path: Path) -> LiveTool:
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER + LONG)
    runner = live_tool.app.test_cli_runner()
    result = runner.invoke(args=["roster", "import", str(path), "--org", ORG])
    assert result.exit_code == 0, result.output
    return live_tool


@pytest.fixture
def inbox(team: LiveTool) -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller

    box = Inbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    team.app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, MAIL_FROM=f"cp@{D}")
    yield box
    controller.stop()


def _open(chrome: WebDriver, live: LiveTool, path: str) -> None:
    chrome.get(live.tool_url + path)
    wait_for_tool_page(chrome, live.tool_url)


def _main(chrome: WebDriver) -> str:
    return str(chrome.find_element(By.TAG_NAME, "main").text)


_FITS = r"""
const width = arguments[0];
const doc = document.scrollingElement;
const cells = [...document.querySelectorAll("main table td")]
  .filter(c => getComputedStyle(c).display !== "none");
return {
  inner: window.innerWidth,
  page: [doc.scrollWidth, doc.clientWidth],
  // a cell cut or squeezed: wider inside than its box, or narrower than a card
  cut: cells.filter(c => c.offsetWidth && c.scrollWidth > c.clientWidth + 1).map(c => c.innerText),
  narrow: cells.filter(c => c.offsetWidth && !c.classList.contains("app-table-stack__tick")
                            && c.getBoundingClientRect().width < width / 2).map(c => c.innerText),
  stacked: cells.length > 0 && cells.every(c => getComputedStyle(c).display === "block"),
  broken: broken(cells),
};

// Words (split at spaces and after hyphens, where lines may break) wider than their cell:
// such a word is cut in the middle to fit.
function broken(cells) {
  const found = [];
  for (const cell of cells) {
    const style = getComputedStyle(cell);
    const room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const texts = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let text = texts.nextNode(); text; text = texts.nextNode()) {
      const part = text.parentElement;
      if (!part.offsetWidth || part.closest(".govuk-visually-hidden")) continue;
      const words = text.textContent.split(/\s+|(?<=-)/).filter(Boolean);
      for (const word of words) {
        const probe = document.createElement("span");
        probe.style.whiteSpace = "nowrap";
        probe.textContent = word;
        part.appendChild(probe);
        const wide = probe.getBoundingClientRect().width;
        probe.remove();
        if (wide > room + 1) found.push(`${word} (${Math.round(wide)}px in ${room}px)`);
      }
    }
  }
  return found;
}
"""


def assert_fits_a_phone(chrome: WebDriver, width: int) -> None:
    chrome.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 844, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        chrome.execute_async_script(
            "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));"
        )
        found: dict[str, Any] = chrome.execute_script(_FITS, width)
    finally:
        chrome.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert found["inner"] <= width
    assert found["page"][0] <= found["page"][1], f"scrolls sideways at {width}px: {found}"
    assert found["stacked"], f"the table's rows are not cards at {width}px"
    assert not found["cut"] and not found["narrow"] and not found["broken"], found


def test_the_team_page_when_nobody_is_overdue_is_accessible_and_fits_a_phone(
    chrome: WebDriver, team: LiveTool
) -> None:
    launch(chrome, team, "u-tom")
    _open(chrome, team, "/team/")
    assert h1_text(chrome) == "Your team"
    text = _main(chrome)
    assert "Nobody in your team is overdue; the first due date is" in text
    assert "Remind everyone who is overdue" not in text
    # The table comes first; the filters are folded away below it.
    table_y = chrome.find_element(By.CSS_SELECTOR, "main table").location["y"]
    details = chrome.find_element(By.CSS_SELECTOR, "main details")
    assert details.get_attribute("open") is None and details.location["y"] > table_y
    assert chrome.find_element(By.ID, "status").is_displayed() is False
    assert "Patel-Montgomery-Featherstonehaugh" in text
    assert_accessible(chrome)
    for width in (390, 320):
        assert_fits_a_phone(chrome, width)
    assert_no_csp_refusals(chrome)


def test_choosing_nobody_shows_an_accessible_error(chrome: WebDriver, team: LiveTool) -> None:
    launch(chrome, team, "u-tom")
    _open(chrome, team, "/team/")
    with next_page(chrome, team.tool_url):
        chrome.find_element(
            By.XPATH, "//button[normalize-space()='Remind the people ticked']"
        ).click()
    assert chrome.title.startswith("Error:")
    summary = chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    assert "Select the people you want to remind" in summary.text
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


def test_the_check_page_then_the_results_are_accessible_on_a_phone_too(
    chrome: WebDriver, team: LiveTool, inbox: Inbox
) -> None:
    launch(chrome, team, "u-tom")
    _open(chrome, team, "/team/")
    box = chrome.find_element(By.XPATH, "//label[contains(., 'Remind Mina')]")
    box.click()
    with next_page(chrome, team.tool_url):
        chrome.find_element(
            By.XPATH, "//button[normalize-space()='Remind the people ticked']"
        ).click()
    assert h1_text(chrome) == "Check the reminder before you send it"
    text = _main(chrome)
    assert "Mina Patel-Montgomery-Featherstonehaugh" in text
    assert "Subject: Reminder: the mandatory Corporate Parenting module" in text
    assert "Tom Price has asked for this reminder to be sent to you." in text
    assert inbox.messages == []
    assert_accessible(chrome)
    assert_reflows_at_320px(chrome)
    with next_page(chrome, team.tool_url):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Send the reminder']").click()
    assert h1_text(chrome) == "Reminders sent"
    assert "Sent (1)" in _main(chrome)
    assert [str(m["To"]) for m in inbox.messages] == [f"mina.pmf@{D}"]
    assert_accessible(chrome)
    chrome.refresh()  # a GET: nothing is sent again
    wait_for_tool_page(chrome, team.tool_url)
    assert len(inbox.messages) == 1
    _open(chrome, team, "/team/")
    assert "Can be reminded again from" in _main(chrome)
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


def test_when_people_are_overdue_the_button_leads_to_an_accessible_check_page(
    chrome: WebDriver, team: LiveTool, inbox: Inbox, travel: Any
) -> None:
    travel(days=40)  # past everyone's due date (28 days from the import)
    launch(chrome, team, "u-tom")
    _open(chrome, team, "/team/")
    assert "Nobody in your team is overdue" not in _main(chrome)
    assert_accessible(chrome)
    for width in (390, 320):
        assert_fits_a_phone(chrome, width)
    with next_page(chrome, team.tool_url):
        chrome.find_element(
            By.XPATH, "//button[normalize-space()='Remind everyone who is overdue (4)']"
        ).click()
    assert h1_text(chrome) == "Check the reminder before you send it"
    text = _main(chrome)
    assert "It will go to 4 people" in text
    assert "Please complete the mandatory Corporate Parenting module: it was due on" in text
    assert "Send 4 reminders" in text
    assert_accessible(chrome)
    assert inbox.messages == []
    assert_no_csp_refusals(chrome)
