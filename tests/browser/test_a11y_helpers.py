"""The checks themselves: each catches what it is for, so a passing page test means something.

Small pages are opened as data: URLs; no server is needed.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.a11y import (
    assert_headings_in_order,
    assert_no_axe_violations,
    assert_reflows_at_320px,
    axe_violations,
    csp_violations,
    focus_style,
    focused_element_has_visible_focus,
    page_title,
    tab_until,
)
from tests.browser.conftest import WINDOW, _require_executable


def show(driver: WebDriver, body: str, head: str = "") -> None:
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Helper check</title>{head}</head><body>{body}</body></html>"
    )
    driver.get("data:text/html;charset=utf-8," + quote(html))


def test_axe_reports_wcag_violations_with_rule_and_element(chrome: WebDriver) -> None:
    show(chrome, '<main><h1>Page</h1><img src="x.png"><a href="/next"></a></main>')
    assert {"image-alt", "link-name"} <= {v["id"] for v in axe_violations(chrome)}
    with pytest.raises(AssertionError, match=r"(?s)image-alt \(critical\).*<img"):
        assert_no_axe_violations(chrome)


def test_axe_passes_a_clean_page(chrome: WebDriver) -> None:
    show(chrome, '<main><h1>Page</h1><p><a href="/next">Next</a></p></main>')
    assert_no_axe_violations(chrome)


@pytest.mark.parametrize(
    "body",
    [
        "<h1>One</h1><h2>Two</h2><h4>Four</h4>",
        "<h1>One</h1><h1>Another</h1>",
        "<h2>No h1</h2>",
        "<h3>Too deep before the h1</h3><h1>One</h1>",
    ],
)
def test_heading_check_catches_skips_and_h1_count(chrome: WebDriver, body: str) -> None:
    show(chrome, body)
    with pytest.raises(AssertionError):
        assert_headings_in_order(chrome)


def test_heading_check_accepts_going_back_up_and_ignores_hidden_headings(
    chrome: WebDriver,
) -> None:
    show(
        chrome,
        "<h2>Header</h2><h1>One</h1><h2>Two</h2><h3>Three</h3><h2>Two again</h2><h3>x</h3>"
        '<h5 style="display:none">hidden</h5><div hidden><h1>hidden</h1></div>',
    )
    assert_headings_in_order(chrome)


def test_reflow_check_catches_a_wide_element_and_restores_the_viewport(
    chrome: WebDriver,
) -> None:
    show(chrome, '<h1>Wide</h1><div id="wide" style="width: 600px">a wide box</div>')
    with pytest.raises(AssertionError, match='id="wide"'):
        assert_reflows_at_320px(chrome)
    assert chrome.execute_script("return window.innerWidth") == WINDOW[0]


def test_reflow_check_passes_a_narrow_page(chrome: WebDriver) -> None:
    show(chrome, "<h1>Narrow</h1><p>" + "Text that wraps. " * 50 + "</p>")
    assert_reflows_at_320px(chrome)


def _is_second(element: WebElement) -> bool:
    return element.text == "Second"


def test_tab_until_reaches_the_element_or_lists_where_focus_went(chrome: WebDriver) -> None:
    show(chrome, "<button>First</button><button>Second</button><p>Not focusable</p>")
    assert tab_until(chrome, _is_second).text == "Second"
    show(chrome, "<button>First</button><button>Third</button>")
    with pytest.raises(AssertionError, match=r'(?s)"First".*"Third"'):
        tab_until(chrome, _is_second, max_tabs=2)


def test_visible_focus_needs_an_outline_or_a_box_shadow(chrome: WebDriver) -> None:
    style = "<style>button:focus { outline: none; } #shadow:focus { box-shadow: 0 4px #0b0c0c; }"
    style += " #outline:focus { outline: 3px solid #fd0; } #clear:focus { outline: 3px solid"
    style += " transparent; }</style>"
    show(
        chrome,
        '<button id="none">None</button><button id="clear">Clear</button>'
        '<button id="shadow">Shadow</button><button id="outline">Outline</button>',
        style,
    )
    seen = {}
    for _ in range(4):
        element = tab_until(chrome, lambda _: True, max_tabs=1)
        seen[element.get_attribute("id")] = focused_element_has_visible_focus(chrome)
    assert seen == {"none": False, "clear": False, "shadow": True, "outline": True}


def test_visible_focus_of_a_hidden_radio_or_checkbox_is_read_from_its_label(
    chrome: WebDriver,
) -> None:
    # As GOV.UK Frontend does: the native control is invisible, its label's ::before draws it.
    style = (
        "<style>input { opacity: 0; } label::before { content: ''; display: inline-block;"
        " width: 20px; height: 20px; border: 2px solid; }"
        " #ring:focus + label::before { box-shadow: 0 0 0 4px #fd0; }</style>"
    )
    show(
        chrome,
        '<input type="checkbox" id="ring"><label for="ring">Ring</label>'
        '<input type="radio" id="bare" name="r"><label for="bare">Bare</label>',
        style,
    )
    seen = {}
    for _ in range(2):
        element = tab_until(chrome, lambda _: True, max_tabs=1)
        seen[element.get_attribute("id")] = focused_element_has_visible_focus(chrome)
        assert focus_style(chrome)["drawnOn"] == "label::before"
    assert seen == {"ring": True, "bare": False}


def test_csp_refusals_are_read_from_the_console(chrome: WebDriver) -> None:
    show(
        chrome,
        "<h1>CSP</h1><script>document.title = 'ran';</script>",
        '<meta http-equiv="Content-Security-Policy" content="script-src \'none\'">',
    )
    assert page_title(chrome) == "Helper check"
    refused = csp_violations(chrome)
    assert refused, "the inline script was refused, and the console should say so"
    # Chromium 156 says "Executing inline script violates the following Content Security
    # Policy directive ... The action has been blocked", older versions "Refused to execute".
    assert any("inline script" in message for message in refused), refused
    assert csp_violations(chrome) == []  # reading empties the log


def test_a_missing_browser_fails_rather_than_skips() -> None:
    with pytest.raises(pytest.fail.Exception, match="chromium-driver"):
        _require_executable("/nonexistent/chromedriver", "chromium-driver")
