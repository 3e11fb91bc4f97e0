"""Real-browser fixtures: headless Chromium driven by Selenium, the tool and a demo LMS on
loopback over real HTTP, and a helper that launches the tool from the LMS.

Chromium and chromedriver come from Debian's `chromium` and `chromium-driver` packages. They
are required: without them these tests fail (they never skip), because CI installs them.
The machine may have no internet, so Chromium runs with its background network use off and
Selenium is given both binaries (Selenium Manager never runs, so never downloads).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from scripts.demo_lms.platform import DemoPlatform
from scripts.demo_lms.server import create_platform_app
from tests.conftest import ORG, LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WINDOW = (1280, 900)
COURSE = "cp-2026"
WAIT_SECONDS = 20

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
]


# -- the browser -------------------------------------------------------------------------------
def _require_executable(path: str, package: str) -> None:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"{path} is missing: the browser tests need Debian's {package!r} package "
            f"(apt-get install chromium chromium-driver).",
            pytrace=False,
        )


@contextmanager
def chromium(
    extra_flags: Iterable[str] = (), prefs: dict[str, Any] | None = None
) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile, 1280x900, with its console log kept.

    `extra_flags` are added to CHROMIUM_FLAGS; `prefs` become the profile's Preferences file
    before Chromium starts, as if the person had chosen them in its settings.
    """
    _require_executable(CHROMIUM, "chromium")
    _require_executable(CHROMEDRIVER, "chromium-driver")
    with tempfile.TemporaryDirectory(prefix="cpm-chromium-", ignore_cleanup_errors=True) as prof:
        if prefs is not None:
            (Path(prof) / "Default").mkdir()
            (Path(prof) / "Default" / "Preferences").write_text(json.dumps(prefs))
        options = Options()
        options.binary_location = CHROMIUM
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={prof}", *extra_flags]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER)
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except WebDriverException as exc:
            pytest.fail(f"Chromium did not start through {CHROMEDRIVER}: {exc}", pytrace=False)
        try:
            driver.set_window_size(*WINDOW)
            driver.set_script_timeout(60)
            driver.set_page_load_timeout(WAIT_SECONDS)
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="session")
def chrome() -> Iterator[WebDriver]:
    """One headless Chromium for the whole session, as it ships."""
    with chromium() as driver:
        yield driver


def reset_browser(driver: WebDriver) -> None:
    """A blank page, one window, no cookies, no console messages, the normal viewport."""
    handles = driver.window_handles
    for handle in handles[1:]:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(handles[0])
    driver.switch_to.default_content()
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    driver.set_window_size(*WINDOW)
    driver.get_log("browser")  # reading the log empties it


@pytest.fixture(autouse=True)
def _fresh_browser(request: pytest.FixtureRequest) -> None:
    """Before each browser test: the session's Chromium as if just opened."""
    if "chrome" in request.fixturenames:
        reset_browser(request.getfixturevalue("chrome"))


# -- the tool and its LMS on real ports --------------------------------------------------------
class _LateApp:
    """The WSGI app a LiveServer serves, set once the port (so the tool's URL) is known.

    It counts requests inside the app, so that the fixture waits for them (a favicon fetched
    after the test, say) before the test's database goes, and refuses any that come later.
    """

    def __init__(self) -> None:
        self.app: Flask | None = None
        self._idle = threading.Condition()
        self._active = 0
        self._closed = False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._idle:
            app = None if self._closed else self.app
            if app is not None:
                self._active += 1
        if app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"The tool is not serving.\n"]
        try:
            # Flask has released the request's database session when this returns; only the
            # body (a rendered page or a file) is left to send. (Counting until the body's
            # close() would not work: werkzeug skips it when the browser resets the socket.)
            return app(environ, start_response)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def open(self, app: Flask) -> None:
        """Serve `app` (again, after close()): one server on a fixed port, an app per test."""
        with self._idle:
            self.app, self._closed = app, False

    def close(self, timeout: float = 10) -> None:
        with self._idle:
            self._closed = True
            self._idle.wait_for(lambda: self._active == 0, timeout)


@dataclass(frozen=True)
class LiveTool:
    tool_url: str
    lms_url: str
    platform: DemoPlatform
    app: Flask


def prepare_tool(app: Flask, platform: DemoPlatform) -> None:
    """The operator's set-up before anyone launches, through the tool's real CLI.

    The one place to add a set-up step: every browser test's tool goes through it.
    """
    steps: Iterable[list[str]] = (
        platform.register_command(ORG),
        ["lti", "ensure-key"],
        # The learner's pages need a published policy (`flask content publish`).
        ["content", "publish"],
    )
    runner = app.test_cli_runner()
    for args in steps:
        result = runner.invoke(args=args)
        assert result.exit_code == 0, (
            f"flask {' '.join(args)} exited {result.exit_code}:\n{result.output}"
            f"{result.exception!r}"
        )


def _stop(server: LiveServer, started: bool) -> None:
    if started:
        server.stop()
    else:  # shutdown() would wait for a serve_forever() that never ran
        server.server.server_close()


def plain_http_tool(make_app: Callable[..., Flask]) -> tuple[_LateApp, LiveServer, Flask]:
    """The tool's app on a loopback server of its own, over plain HTTP as in the demo (so its
    cookies are neither Secure nor Partitioned); the server is not started yet."""
    late = _LateApp()
    tool_server = LiveServer(late)
    app = make_app(
        TOOL_BASE_URL=tool_server.url,
        SESSION_COOKIE_SECURE=False,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PARTITIONED=False,
    )
    late.app = app
    return late, tool_server, app


@pytest.fixture
def live_tool(make_app: Callable[..., Flask]) -> Iterator[LiveTool]:
    """The tool (plain HTTP on loopback, like the demo) and its own demo LMS, registered."""
    late, tool_server, app = plain_http_tool(make_app)
    lms_server: LiveServer | None = None
    started: list[LiveServer] = []
    try:
        platform = DemoPlatform(issuer="http://placeholder", tool_base_url=tool_server.url)
        lms_server = LiveServer(create_platform_app(platform))
        platform.issuer = lms_server.url
        prepare_tool(app, platform)
        for server in (tool_server, lms_server):
            server.start()
            started.append(server)
        yield LiveTool(tool_server.url, lms_server.url, platform, app)
    finally:
        late.close()
        for server in (tool_server, lms_server):
            if server is not None:
                _stop(server, server in started)


# -- launching from the LMS --------------------------------------------------------------------
_ON_TOOL_PAGE = """
const tool = arguments[0];
return (location.href === tool || location.href.startsWith(tool + "/"))
    && document.readyState === "complete" && document.querySelector("h1") !== null;
"""


def wait_for_tool_page(driver: WebDriver, tool_url: str) -> None:
    """Until the current document (top level or frame) is a loaded page of the tool."""

    def arrived(d: WebDriver) -> bool:
        return bool(d.execute_script(_ON_TOOL_PAGE, tool_url))

    try:
        WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=[WebDriverException]).until(arrived)
    except TimeoutException:
        try:
            where = driver.execute_script("return location.href")
            text = driver.execute_script("return document.body ? document.body.innerText : ''")
        except WebDriverException as exc:
            where, text = "(unknown)", repr(exc)
        pytest.fail(
            f"no page of the tool ({tool_url}) with an h1 after {WAIT_SECONDS}s; "
            f"the browser is at {where}:\n{str(text)[:1000]}"
        )


def launch(
    chrome: WebDriver, live: LiveTool, user_id: str = "u-aisha", in_iframe: bool = False
) -> None:
    """Launch the tool from the demo LMS as `user_id`: the real OIDC login, the LMS's signed
    id_token (its auth page posts it with inline JavaScript), the tool's launch.

    `in_iframe`: from the LMS's course page, which shows the tool in an iframe; the driver is
    left inside that frame. Otherwise as the LMS's "new window" link, at the top level.
    """
    chrome.switch_to.default_content()
    if in_iframe:
        chrome.get(f"{live.lms_url}/course/{COURSE}/{user_id}")
        frame = WebDriverWait(chrome, WAIT_SECONDS).until(
            ec.presence_of_element_located((By.TAG_NAME, "iframe"))
        )
        chrome.switch_to.frame(frame)
    else:
        chrome.get(f"{live.lms_url}/start/{user_id}/{COURSE}")
    wait_for_tool_page(chrome, live.tool_url)
