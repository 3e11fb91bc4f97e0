"""Accessibility checks run in the real browser: axe-core's WCAG 2.2 AA rules, heading
structure, reflow at 320 CSS pixels, keyboard focus, and the page's title.

Each check works on the driver's current document: the top-level page, or a frame after
`switch_to.frame` (an LMS shows the tool in an iframe).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
REFLOW_WIDTH = 320


# -- axe-core ------------------------------------------------------------------------------------
@cache
def _axe_source() -> str:
    if not AXE_JS.is_file():
        raise AssertionError(f"{AXE_JS} is missing: run `npm ci` (axe-core is a dev dependency).")
    return AXE_JS.read_text(encoding="utf-8")


_RUN_AXE = """
const context = arguments[0], tags = arguments[1], done = arguments[arguments.length - 1];
axe.run(context || document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
  .then((results) => done({violations: results.violations}))
  .catch((error) => done({error: String(error && error.stack || error)}));
"""


def axe_violations(driver: WebDriver, context: Any = None) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.0/2.1/2.2 A and AA violations on the current document.

    `context` is what axe.run takes first (a selector, or {include, exclude}); the whole
    document when None. Scripts run through the DevTools protocol, which the page's
    Content-Security-Policy does not restrict, so no test relaxes it.
    """
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(_axe_source())
    outcome = driver.execute_async_script(_RUN_AXE, context, WCAG_TAGS)
    if "error" in outcome:
        raise AssertionError(f"axe-core failed to run: {outcome['error']}")
    return list(outcome["violations"])


def format_violations(violations: list[dict[str, Any]], nodes_each: int = 3) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v.get('impact')}): {v['help']} [{v.get('helpUrl', '')}]")
        for node in v["nodes"][:nodes_each]:
            lines.append(f"    at {json.dumps(node.get('target'))}: {node.get('html', '')[:300]}")
            summary = (node.get("failureSummary") or "").strip().replace("\n", " / ")
            if summary:
                lines.append(f"      {summary[:300]}")
        if len(v["nodes"]) > nodes_each:
            lines.append(f"    ... and {len(v['nodes']) - nodes_each} more element(s)")
    return "\n".join(lines)


def assert_no_axe_violations(driver: WebDriver, context: Any = None) -> None:
    violations = axe_violations(driver, context)
    if violations:
        raise AssertionError(
            f"axe-core found {len(violations)} WCAG violation(s) on "
            f"{driver.execute_script('return location.href')}:\n{format_violations(violations)}"
        )


# -- headings ------------------------------------------------------------------------------------
_HEADINGS = """
const shown = (el) => {
  if (el.closest("[hidden], [aria-hidden='true']")) return false;
  return el.checkVisibility({visibilityProperty: true, opacityProperty: false});
};
return Array.from(document.querySelectorAll("h1, h2, h3, h4, h5, h6"))
  .filter(shown)
  .map((el) => [Number(el.tagName[1]), el.textContent.trim().replace(/\\s+/g, " ")]);
"""


def headings(driver: WebDriver) -> list[tuple[int, str]]:
    """The current document's headings (level, text) that are rendered.

    Rendered includes GOV.UK's visually hidden headings (govuk-visually-hidden): screen
    reader users navigate by them. Headings in nested frames belong to other documents.
    """
    return [(int(level), text) for level, text in driver.execute_script(_HEADINGS)]


def assert_headings_in_order(driver: WebDriver) -> None:
    """Exactly one h1, and no skipped level going down (h2 then h4 fails; h4 then h2 is fine).

    Headings before the h1 (page furniture such as a header) may be h1 or h2 only.
    """
    found = headings(driver)
    outline = "\n".join(f"  {'  ' * (level - 1)}h{level} {text!r}" for level, text in found)
    h1s = [text for level, text in found if level == 1]
    assert len(h1s) == 1, f"expected exactly one visible h1, found {len(h1s)}:\n{outline}"
    previous = 1
    for level, text in found:
        assert level <= previous + 1, (
            f"heading h{level} {text!r} follows h{previous}: a level is skipped:\n{outline}"
        )
        previous = level


# -- reflow (WCAG 1.4.10) --------------------------------------------------------------------------
_WAIT_FOR_LAYOUT = """
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 50)));
"""

_OVERFLOW = """
const root = document.documentElement, limit = root.clientWidth;
const wide = [];
for (const el of document.body.querySelectorAll("*")) {
  const box = el.getBoundingClientRect();
  if (box.width > 0 && box.right > limit + 0.5) {
    wide.push({right: Math.round(box.right), width: Math.round(box.width),
               html: el.outerHTML.slice(0, 200)});
  }
}
wide.sort((a, b) => b.right - a.right);
return {scrollWidth: root.scrollWidth, clientWidth: limit, wide: wide.slice(0, 8)};
"""


def assert_reflows_at_320px(driver: WebDriver) -> None:
    """At 320 CSS pixels wide (WCAG 1.4.10), nothing needs horizontal scrolling.

    The whole tab's viewport is emulated; inside an LMS frame the frame is narrower still,
    and the frame's own document must fit the frame.
    """
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": REFLOW_WIDTH, "height": 640, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        driver.execute_async_script(_WAIT_FOR_LAYOUT)
        assert driver.execute_script("return window.innerWidth") <= REFLOW_WIDTH, (
            "the viewport did not narrow to 320px"
        )
        found = driver.execute_script(_OVERFLOW)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    if found["scrollWidth"] > found["clientWidth"]:
        widest = "\n".join(
            f"  right edge {w['right']}px (width {w['width']}px): {w['html']}"
            for w in found["wide"]
        )
        raise AssertionError(
            f"the page scrolls sideways at {REFLOW_WIDTH}px: scrollWidth {found['scrollWidth']}"
            f" > clientWidth {found['clientWidth']}. Widest elements:\n{widest}"
        )


# -- keyboard ------------------------------------------------------------------------------------
_DESCRIBE = """
const el = arguments[0];
const text = (el.innerText || el.value || el.getAttribute("aria-label") || "").trim();
const id = el.id ? "#" + el.id : "";
return `<${el.tagName.toLowerCase()}${id}> ${JSON.stringify(text.slice(0, 60))}`;
"""


def describe(driver: WebDriver, element: WebElement) -> str:
    return str(driver.execute_script(_DESCRIBE, element))


def press(driver: WebDriver, *keys: str) -> WebElement:
    """Press keys as a keyboard does (to whatever has focus); returns the focused element."""
    ActionChains(driver).send_keys(*keys).perform()
    return driver.switch_to.active_element


def tab_until(
    driver: WebDriver, predicate: Callable[[WebElement], bool], max_tabs: int = 60
) -> WebElement:
    """Press TAB until the focused element satisfies `predicate`; returns it."""
    visited = []
    for _ in range(max_tabs):
        element = press(driver, Keys.TAB)
        if predicate(element):
            return element
        visited.append(describe(driver, element))
    raise AssertionError(
        f"{max_tabs} TABs never reached the element; focus went to:\n  " + "\n  ".join(visited)
    )


_FOCUS_STYLE = """
const el = document.activeElement;
let drawn = el, pseudo = null, drawnOn = "the element";
if (el.matches("input[type=radio], input[type=checkbox]") && el.labels && el.labels.length
    && getComputedStyle(el).opacity === "0") {
  // GOV.UK Frontend hides the native control and draws it, and its focus ring, as its label's
  // ::before: the ring must be there.
  drawn = el.labels[0];
  pseudo = "::before";
  drawnOn = "label::before";
}
const s = getComputedStyle(drawn, pseudo);
return {element: el.outerHTML.slice(0, 200), drawnOn: drawnOn, outlineStyle: s.outlineStyle,
        outlineWidth: s.outlineWidth, outlineColor: s.outlineColor, boxShadow: s.boxShadow,
        backgroundColor: s.backgroundColor};
"""

_TRANSPARENT = {"transparent", "rgba(0, 0, 0, 0)"}


def focus_style(driver: WebDriver) -> dict[str, str]:
    """The focused element's computed outline, box-shadow and background.

    For a radio or checkbox that is invisible (opacity 0) and drawn by its label, as GOV.UK
    Frontend's are, the style of the label's ::before, where the control and its focus ring
    are drawn (`drawnOn` says which).
    """
    return dict(driver.execute_script(_FOCUS_STYLE))


def focused_element_has_visible_focus(driver: WebDriver) -> bool:
    """A visible focus indicator: a box-shadow, or an outline that is drawn and not transparent.

    GOV.UK Frontend's focus style is a yellow background with a black box-shadow underneath
    (its 3px outline is transparent, for forced-colours modes only). Its radios and checkboxes
    are drawn by their labels' ::before, which gains a yellow box-shadow ring on focus.
    """
    s = focus_style(driver)
    shadow = s["boxShadow"] not in ("", "none")
    outline = (
        s["outlineStyle"] not in ("", "none")
        and s["outlineWidth"] not in ("0px", "")
        and s["outlineColor"] not in _TRANSPARENT
    )
    return shadow or outline


# -- titles and console ----------------------------------------------------------------------------
def page_title(driver: WebDriver) -> str:
    """The current document's <title> (that of the frame when inside one)."""
    return str(driver.execute_script("return document.title")).strip()


CSP_MESSAGES = ("Refused to", "Content Security Policy", "Content-Security-Policy")


def csp_violations(driver: WebDriver) -> list[str]:
    """Content-Security-Policy refusals in Chromium's console since it was last read.

    Older Chromium writes "Refused to execute inline script because it violates ...";
    Chromium 156 writes "Executing inline script violates the following Content Security
    Policy directive ... The action has been blocked": both are caught.
    Needs the capability goog:loggingPrefs {"browser": "ALL"}; reading empties the log.
    """
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if any(marker in entry["message"] for marker in CSP_MESSAGES)
    ]
