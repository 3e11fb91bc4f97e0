"""The learner's journey as a council deploys the tool: over HTTPS (nginx terminating TLS
with a CA made here), the LMS and the tool on two sites (`lms.test`, `tool.test`), the
tool's cookies Secure, SameSite=None and Partitioned, the tool framed by the LMS's page.

One Chromium (fresh profile) per cookie setting a person can choose:
  (a) as it ships;
  (b) third-party cookies blocked;
  (c) every cookie of the tool's site refused inside the LMS's site.
(a) and (b) complete inside the LMS's frame (Partitioned cookies); (c) through the tool's
new-window flow. Each first shows, with nginx's cookie probes, what that browser does with
a cookie set in the frame, then where the journey happened and that the acceptance is
recorded. Run just these: `.venv/bin/python -m pytest tests/browser/test_cross_site.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from app.config import Settings
from app.db import db
from app.models import Acceptance, Person
from scripts.demo_lms.platform import DemoPlatform
from scripts.demo_lms.server import create_platform_app
from tests.browser.conftest import (
    WAIT_SECONDS,
    LiveTool,
    _LateApp,
    chromium,
    launch,
    prepare_tool,
    wait_for_tool_page,
)
from tests.browser.cross_site import (
    LMS_HOST,
    TOOL_HOST,
    CertificateAuthority,
    Nginx,
    blocked_third_party_prefs,
    chromium_flags,
    make_ca,
    parse_probe,
    resolve_test_hosts,
    run_nginx,
    tool_cookies_refused_in_lms_prefs,
)
from tests.browser.journey import (
    BUTTON,
    answer_key,
    attempt_on_page,
    choose_with_the_mouse,
    click_to_next_page,
    h1_text,
    path,
    verification_code,
    where_the_browser_is,
)
from tests.browser.test_pages import assert_no_csp_refusals
from tests.conftest import LiveServer

pytestmark = pytest.mark.slow

USER = "u-aisha"
FULL_NAME = "Aisha Khan"
# What COOKIE_SECURE=1, TRUST_PROXY_HEADERS=1 and TOOL_BASE_URL set (app/config.py).
DEPLOYED_SETTINGS = (
    "TOOL_BASE_URL",
    "TRUST_PROXY_HEADERS",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_SAMESITE",
    "SESSION_COOKIE_PARTITIONED",
)


# -- the deployment: one nginx for the module, the tool and the LMS behind it ------------------
@dataclass(frozen=True)
class Deployment:
    ca: CertificateAuthority
    nginx: Nginx
    tool: _LateApp  # the tool's port serves each test's app in turn
    lms: _LateApp


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tool, lms = _LateApp(), _LateApp()
    servers = [LiveServer(tool).start(), LiveServer(lms).start()]
    directory = tmp_path_factory.mktemp("cross-site")
    try:
        ca = make_ca(directory)
        upstreams = {TOOL_HOST: servers[0].port, LMS_HOST: servers[1].port}
        with run_nginx(directory, ca, upstreams) as nginx:
            yield Deployment(ca, nginx, tool, lms)
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def deployed(
    deployment: Deployment, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveTool]:
    """The tool configured as in production behind nginx, and its demo LMS registered."""
    # The tool fetches the LMS's keys and sends scores, the LMS fetches the tool's keys:
    # over HTTPS through nginx, trusting only the system's CAs and this test's.
    resolve_test_hosts(monkeypatch)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(deployment.ca.ca_pem))
    tool_url = deployment.nginx.url(TOOL_HOST)
    lms_url = deployment.nginx.url(LMS_HOST)
    env = {
        "COOKIE_SECURE": "1",
        "TRUST_PROXY_HEADERS": "1",
        "TOOL_BASE_URL": tool_url,
        "SECRET_KEY": "unused here",
    }
    settings = Settings.from_env(Path("unused"), env).as_dict()
    app = make_app(**{name: settings[name] for name in DEPLOYED_SETTINGS})
    platform = DemoPlatform(issuer=lms_url, tool_base_url=tool_url)
    prepare_tool(app, platform)
    deployment.tool.open(app)
    deployment.lms.open(create_platform_app(platform))
    try:
        yield LiveTool(tool_url, lms_url, platform, app)
    finally:
        deployment.tool.close()
        deployment.lms.close()


# -- what the browser does with cookies --------------------------------------------------------
_LOAD_FRAME = """
const src = arguments[0], done = arguments[arguments.length - 1];
document.querySelectorAll("iframe.probe").forEach((f) => f.remove());
const frame = document.createElement("iframe");
frame.className = "probe";
frame.title = "cookie probe";
frame.onload = () => done(true);
frame.src = src;
document.body.appendChild(frame);
"""


def _framed_text(driver: WebDriver, url: str) -> str:
    driver.switch_to.default_content()
    driver.execute_async_script(_LOAD_FRAME, url)
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe.probe"))
    text = str(driver.execute_script("return document.body.innerText"))
    driver.switch_to.default_content()
    return text


@dataclass(frozen=True)
class CookieProbe:
    framed: dict[str, str]  # set and read by the tool's site inside an LMS page
    top_level: dict[str, str]  # set and read by the tool's site in a window of its own


def probe_cookies(driver: WebDriver, live: LiveTool) -> CookieProbe:
    """nginx's probe sets `probe_plain` (SameSite=None; Secure) and `probe_chips` (the same,
    Partitioned) and reads back what the browser sent; inside the LMS, then top level."""
    driver.get(live.lms_url + "/")
    _framed_text(driver, live.tool_url + "/probe/set")
    framed = parse_probe(_framed_text(driver, live.tool_url + "/probe/read"))
    lms_window = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(live.tool_url + "/probe/set")
    driver.get(live.tool_url + "/probe/read")
    top_level = parse_probe(str(driver.execute_script("return document.body.innerText")))
    driver.close()
    driver.switch_to.window(lms_window)
    return CookieProbe(framed, top_level)


def tool_cookies(driver: WebDriver) -> list[dict[str, Any]]:
    """The browser's own record of the tool's cookies (with their partition), by DevTools."""
    found = driver.execute_cdp_cmd("Storage.getCookies", {})["cookies"]
    return [c for c in found if c["domain"] == TOOL_HOST and not c["name"].startswith("probe")]


def partition(cookie: dict[str, Any]) -> str | None:
    key = cookie.get("partitionKey")
    return key.get("topLevelSite") if isinstance(key, dict) else key


# -- the journey -------------------------------------------------------------------------------
def read_quiz_accept(driver: WebDriver, live: LiveTool) -> str:
    """From the module's overview, in the current document (frame or window), with the mouse:
    every section, the quiz passed, the policy accepted; returns the verification code."""
    assert path(driver) == "/", path(driver)
    click_to_next_page(driver, live, "a.govuk-button", "Start reading")
    for _ in range(20):
        if not path(driver).startswith("/sections/"):
            break
        click_to_next_page(driver, live, "a[rel=next]", "Next")
    assert (path(driver), h1_text(driver)) == ("/quiz", "Check your understanding")
    click_to_next_page(driver, live, BUTTON, "Start the quiz")
    for question in answer_key(live.app, attempt_on_page(driver)):
        choose_with_the_mouse(driver, question, question.right)
    click_to_next_page(driver, live, BUTTON, "Submit my answers")
    assert h1_text(driver) == "You passed the quiz", h1_text(driver)
    click_to_next_page(driver, live, "a.govuk-button", "Continue to accept the policy")
    driver.find_element(By.CSS_SELECTOR, "label[for=accept]").click()
    driver.find_element(By.ID, "full_name").send_keys(FULL_NAME)
    click_to_next_page(driver, live, BUTTON, "Continue")
    click_to_next_page(driver, live, BUTTON, "Accept the policy")
    assert h1_text(driver) == "You have accepted the policy", h1_text(driver)
    return verification_code(driver, live)


@contextmanager
def saying_where_the_browser_was(driver: WebDriver) -> Iterator[None]:
    """A failure's message ends with every window's address and the document in use."""
    try:
        yield
    except (AssertionError, WebDriverException) as exc:
        where, text = where_the_browser_is(driver)
        windows = []
        try:
            current = driver.current_window_handle
            for handle in driver.window_handles:
                driver.switch_to.window(handle)
                windows.append(f"{handle}: {driver.current_url}")
            driver.switch_to.window(current)
        except WebDriverException as lost:
            windows.append(repr(lost))
        raise AssertionError(
            f"{exc}\n-- the browser's windows:\n  " + "\n  ".join(windows) + f"\n-- the document "
            f"in use: {where}\n{text[:1000]}"
        ) from exc


def location(driver: WebDriver) -> dict[str, Any]:
    return dict(
        driver.execute_script(
            "return {href: location.href, host: location.host, secure: window.isSecureContext,"
            " top: window.top === window}"
        )
    )


def assert_recorded(live: LiveTool, code: str) -> None:
    """The acceptance is in the database, the learner's, from this LMS."""
    with live.app.app_context():
        rows = db.session.execute(
            select(Acceptance.verification_code, Person.issuer, Person.subject).join(
                Person, Person.id == Acceptance.person_id
            )
        ).all()
    assert [tuple(r) for r in rows] == [(code, live.lms_url, USER)]


def launch_lines(nginx: Nginx, since: int) -> list[str]:
    """nginx's record of the browser's launch and hand-off requests since line `since`."""
    wanted = (" POST /lti/launch ", " POST /lti/continue ", " /lti/storage/", " /lti/login?")
    return [line for line in nginx.access_log()[since:] if any(w in line for w in wanted)]


def wait_for_score(platform: DemoPlatform) -> dict[str, Any]:
    """The score the tool sends in the background (its JWKS fetched by the LMS, the LMS's
    token and line items, all through nginx over HTTPS) as the LMS received it."""
    WebDriverWait(platform, WAIT_SECONDS).until(lambda p: p.scores)
    [score] = platform.scores
    return score


# -- the three settings ------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    prefs: dict[str, Any] | None
    in_frame: bool  # the journey completes inside the LMS's frame


SETTINGS = {
    "as_it_ships": Setting(None, in_frame=True),
    "third_party_cookies_blocked": Setting(blocked_third_party_prefs(), in_frame=True),
    "tool_cookies_refused_in_the_lms": Setting(tool_cookies_refused_in_lms_prefs(), False),
}


@pytest.mark.parametrize("storage", [False, True], ids=["state_cookie", "platform_storage"])
@pytest.mark.parametrize("name", SETTINGS)
def test_the_learner_journey_completes_across_sites_over_https(
    name: str, storage: bool, deployment: Deployment, deployed: LiveTool
) -> None:
    setting = SETTINGS[name]
    live, nginx = deployed, deployment.nginx
    live.platform.platform_storage = storage  # the demo LMS offers its storage, or not
    since = len(nginx.access_log())
    flags = chromium_flags(deployment.ca, nginx.port)
    with chromium(flags, setting.prefs) as driver, saying_where_the_browser_was(driver):
        probe = probe_cookies(driver, live)
        # Two sites: the browser says so in every framed request of the tool.
        assert probe.framed["site"] == "cross-site", probe
        # A window of the tool's own keeps both cookies in every setting.
        assert probe.top_level == {"plain": "1", "chips": "1", "site": "none"}, probe
        if name == "third_party_cookies_blocked":
            assert probe.framed["plain"] == "", f"the setting blocked nothing: {probe}"
        if setting.in_frame:
            assert probe.framed["chips"] == "1", f"no Partitioned cookie in the frame: {probe}"
        else:
            assert (probe.framed["plain"], probe.framed["chips"]) == ("", ""), probe

        launch(driver, live, USER, in_iframe=True)
        framed = location(driver)
        assert framed["host"] == f"{TOOL_HOST}:{nginx.port}" and not framed["top"], framed
        assert framed["secure"] is True, "the tool's frame is not a secure context"

        if setting.in_frame:
            code = read_quiz_accept(driver, live)
            assert len(driver.window_handles) == 1
            done = location(driver)
            assert done["href"].startswith(live.tool_url + "/accept/done/"), done
            driver.switch_to.default_content()
            top = location(driver)
            assert top["href"] == f"{live.lms_url}/course/cp-2026/{USER}", top
            # The visit is a Partitioned cookie, kept for the tool inside the LMS's site.
            [session] = [c for c in tool_cookies(driver) if c["name"] == "cpm_session"]
            assert session["secure"] and session["sameSite"] == "None", session
            assert partition(session) == f"https://{LMS_HOST}", session
            launches = [x for x in launch_lines(nginx, since) if " POST /lti/launch " in x]
            # The launch answers with the first page itself (no redirect).
            assert launches == [f"{TOOL_HOST} POST /lti/launch 200 site=cross-site dest=iframe"]
        else:
            assert h1_text(driver) == "Open the module in a new window"
            assert path(driver) == "/lti/launch"
            if storage:
                # The page proves the login from the LMS's storage first; proven, its
                # button opens a window that needs no "Continue as ...?" question.
                WebDriverWait(driver, WAIT_SECONDS).until(
                    lambda d: (
                        d.find_element(By.ID, "lti-storage").get_attribute("data-outcome")
                        == "new-window"
                    )
                )
            lms_window = driver.current_window_handle
            driver.find_element(By.CSS_SELECTOR, "form[action='/lti/continue'] button").click()
            WebDriverWait(driver, WAIT_SECONDS).until(lambda d: len(d.window_handles) == 2)
            driver.switch_to.window(next(h for h in driver.window_handles if h != lms_window))
            if storage:
                WebDriverWait(driver, WAIT_SECONDS).until(
                    lambda d: path(d) not in ("/lti/storage/window", "blank")
                )
                wait_for_tool_page(driver, live.tool_url)
                assert h1_text(driver) != f"Continue as {FULL_NAME}?"
            else:
                wait_for_tool_page(driver, live.tool_url)
                assert h1_text(driver) == f"Continue as {FULL_NAME}?"
                click_to_next_page(driver, live, BUTTON, "Continue")
            code = read_quiz_accept(driver, live)
            window = location(driver)
            assert window["top"] and window["host"] == f"{TOOL_HOST}:{nginx.port}", window
            assert window["href"].startswith(live.tool_url + "/accept/done/"), window
            # The visit is the tool's own (partitioned by its own site), none in the LMS's.
            partitions = {partition(c) for c in tool_cookies(driver) if c["name"] == "cpm_session"}
            assert partitions == {f"https://{TOOL_HOST}"}, tool_cookies(driver)
            # The LMS's page still shows the new-window page in its frame.
            driver.switch_to.window(lms_window)
            assert location(driver)["href"] == f"{live.lms_url}/course/cp-2026/{USER}"
            driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
            assert h1_text(driver) == "Open the module in a new window"
            lines = launch_lines(nginx, since)
            assert f"{TOOL_HOST} POST /lti/launch 200 site=cross-site dest=iframe" in lines
            handed_off = (
                f"{TOOL_HOST} POST /lti/storage/window 200 site=same-origin dest=empty"
                if storage
                else f"{TOOL_HOST} POST /lti/continue 303 site=same-origin dest=document"
            )
            assert handed_off in lines
        # Framed by the LMS's origin with its port (frame-ancestors), scripts, styles: no
        # refusal on any page, in either window.
        assert_no_csp_refusals(driver)
        # With storage offered, the login first kept its state in the LMS's page (a 200
        # page, not the redirect); in Chromium the frame never needs it back: (a) and (b)
        # keep the Partitioned state cookie, and in (c) the proof from storage succeeds but
        # the visit's cookie is refused in the frame all the same.
        login = next(line for line in launch_lines(nginx, since) if "/lti/login?" in line)
        assert ("lti_storage_target=_parent" in login, login.split()[3]) == (
            (True, "200") if storage else (False, "302")
        ), login
        storage_lines = [line for line in launch_lines(nginx, since) if "/lti/storage/" in line]
        if storage and not setting.in_frame:
            # Proven, but the frame's cookie refused: the window it opens signs in itself.
            assert storage_lines == [
                f"{TOOL_HOST} POST /lti/storage/proof 200 site=same-origin dest=empty",
                f"{TOOL_HOST} GET /lti/storage/visit 200 site=same-origin dest=empty",
                f"{TOOL_HOST} GET /lti/storage/window 200 site=same-origin dest=document",
                f"{TOOL_HOST} POST /lti/storage/window 200 site=same-origin dest=empty",
            ]
        else:
            assert storage_lines == []
        assert_recorded(live, code)
        score = wait_for_score(live.platform)
        assert (score["userId"], score["scoreGiven"]) == (USER, 100), score


def test_the_probe_sees_a_third_party_cookie_where_the_profile_allows_them(
    deployment: Deployment, deployed: LiveTool
) -> None:
    """The probe can tell: with third-party cookies allowed in the profile (cookie_controls_mode
    0), the plain cookie reaches the framed tool site, so its absence above is the setting's."""
    flags = chromium_flags(deployment.ca, deployment.nginx.port)
    allowed = {"profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False}}
    with chromium(flags, allowed) as driver, saying_where_the_browser_was(driver):
        probe = probe_cookies(driver, deployed)
    assert probe.framed == {"plain": "1", "chips": "1", "site": "cross-site"}, probe
