"""HR's pages in a real browser: WCAG 2.2 AA (axe-core), headings in order, reflow at 320px
and no Content-Security-Policy refusals, with enough people for every table to be drawn."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from sqlalchemy import select

from app.clock import today, utcnow
from app.db import db
from app.models import Organisation, Person, PlatformRegistration, ScoreOutbox
from app.services.organisations import today_for
from app.services.people import record_paper_acceptance
from app.services.policies import current_version
from tests.browser.conftest import LiveTool, launch, wait_for_tool_page
from tests.browser.journey import next_page
from tests.browser.test_pages import assert_accessible, assert_no_csp_refusals, h1_text
from tests.conftest import ORG


def _people(live: LiveTool) -> dict[str, int]:
    """A few roster people across units, one overdue, one manager with a long name."""
    with live.app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.name == ORG)).one()
        boss = Person(
            organisation_id=org.id,
            first_name="Mina",
            last_name="Patel-Montgomery-Featherstonehaugh",
            email="mina.patel-montgomery-featherstonehaugh@a-very-long-council-domain.example",
            directorate="Children's Services and Education",
            department="Fostering and Adoption",
            assigned_on=today(),
        )
        db.session.add(boss)
        db.session.flush()
        late = Person(
            organisation_id=org.id,
            first_name="Olu",
            last_name="Ade",
            email="olu.ade@demo-council.example",
            directorate="Place",
            department="Housing",
            manager_id=boss.id,
            assigned_on=today() - timedelta(days=60),
        )
        db.session.add(late)
        # Identities to review: a join by e-mail and a launch that clashed with it.
        joined = Person(
            organisation_id=org.id,
            employee_id="E900",
            name="Kai Long",
            given_name="Kai",
            family_name="Long-Name-In-The-Learning-Portal",
            email="kai.long@demo-council.example",
            issuer="https://lms.a-very-long-council-domain.example",
            subject="u-kai",
            joined_by="email",
            joined_at=utcnow(),
            assigned_on=today(),
        )
        db.session.add(joined)
        db.session.flush()
        db.session.add(
            Person(
                organisation_id=org.id,
                name="Kai Other",
                email="kai.other@demo-council.example",
                issuer="https://lms.a-very-long-council-domain.example",
                subject="u-kai-2",
                clash_with_id=joined.id,
                assigned_on=today(),
            )
        )
        db.session.commit()
        _scores(org, boss)
        return {"boss": boss.id, "late": late.id}


def _scores(org: Organisation, recorder: Person) -> None:
    """Two scores for the learning portal: one waiting, one it refused (a long answer)."""
    version = current_version(db.session(), "corporate-parenting", today())
    registration = db.session.scalars(select(PlatformRegistration)).first()
    assert version is not None and registration is not None
    for number, refused in ((1, False), (2, True)):
        person = Person(
            organisation_id=org.id,
            name=f"Score Person{number}",
            email=f"score{number}@demo-council.example",
            assigned_on=today(),
        )
        db.session.add(person)
        db.session.flush()
        accepted = record_paper_acceptance(
            db.session(),
            org,
            person,
            version,
            today_for(org, today()),
            recorder,
            today(),
            "Signed paper declaration",
            utcnow(),
        )
        db.session.add(
            ScoreOutbox(
                organisation_id=org.id,
                acceptance_id=accepted.id,
                registration_id=registration.id,
                endpoint={"lineitems": "https://lms.example/lineitems"},
                resource_link_id="cp-module",
                user_id=f"u-score-{number}",
                score_given=100,
                score_maximum=100,
                timestamp=accepted.accepted_at,
                next_try_at=utcnow(),
                tries=1,
                last_error="LtiServiceException: HTTP 400 from https://lms.example/scores"
                if refused
                else "LtiServiceException: HTTP 503 from https://lms.example/scores",
                refused_at=utcnow() if refused else None,
                lms_status=400 if refused else 503,
                lms_answer='{"error": "invalid_request", "reason": "Incorrect score received '
                + "x" * 300
                + '"}',
            )
        )
    db.session.commit()


def _open(chrome: WebDriver, live: LiveTool, path: str) -> None:
    chrome.get(live.tool_url + path)
    wait_for_tool_page(chrome, live.tool_url)


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        pytest.param("/hr/", "Completion dashboard", id="dashboard"),
        pytest.param("/hr/people", "People", id="people"),
        pytest.param(
            "/hr/people?accepted_from=31&accepted_from=2&accepted_from=2026",
            "People",
            id="people-with-an-error",
        ),
        pytest.param("/hr/people/{late}", "Olu Ade", id="person"),
        pytest.param(
            "/hr/people/{late}/record-acceptance",
            "Record an acceptance on their behalf",
            id="record-acceptance",
        ),
        pytest.param("/hr/people/{boss}/legal-hold", "Place a legal hold", id="legal-hold"),
        pytest.param("/hr/settings", "Settings", id="settings"),
        pytest.param("/hr/roster", "Import the roster", id="roster"),
        pytest.param("/hr/identities", "Identities to review", id="identities"),
        pytest.param("/hr/scores", "Scores waiting for the learning portal", id="scores"),
        pytest.param("/hr/audit-trail", "Audit trail", id="audit-trail"),
        pytest.param(
            "/hr/verify?code=AAAAA-BBBBB&seq=x&hash=z", "Verify a certificate", id="verify-errors"
        ),
        pytest.param("/hr/verify?code=", "Verify a certificate", id="verify-empty-box"),
        pytest.param(
            "/hr/people?role=councillors&childrens=yes&overdue=y", "People", id="people-empty"
        ),
    ],
)
def test_hr_pages_are_accessible(
    chrome: WebDriver, live_tool: LiveTool, path: str, heading: str
) -> None:
    ids = _people(live_tool)
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, path.format(**ids))
    assert h1_text(chrome) == heading
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


def test_hr_forms_with_errors_are_accessible(chrome: WebDriver, live_tool: LiveTool) -> None:
    ids = _people(live_tool)
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, f"/hr/people/{ids['late']}/record-acceptance")
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.CSS_SELECTOR, "form button.govuk-button").click()
    assert chrome.title.startswith("Error:")
    assert chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    assert_accessible(chrome)
    _open(chrome, live_tool, "/hr/settings")
    field = chrome.find_element(By.ID, "retention_years_childrens")
    field.clear()
    field.send_keys("2")
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.CSS_SELECTOR, "form button.govuk-button").click()
    assert "at least as long" in chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary").text
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


def test_local_details_are_set_on_the_settings_page_and_read_as_typed(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    """A detail over the limit: an error summary linked to its box, what was typed kept; a
    good one is saved, and the policy text shows it as literal text (axe-clean throughout)."""
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, "/hr/settings")
    chair = chrome.find_element(By.ID, "board_chair")
    assert chair.get_attribute("aria-describedby") == "board_chair-hint"
    chair.send_keys("x" * 301)
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.CSS_SELECTOR, "form button.govuk-button").click()
    assert chrome.current_url == live_tool.tool_url + "/hr/settings"  # redirected: no resubmit
    summary = chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    link = summary.find_element(
        By.LINK_TEXT, "Who chairs the board must be 300 characters or fewer"
    )
    assert link.get_attribute("href").endswith("#board_chair")
    assert chrome.find_element(By.ID, "board_chair").get_attribute("value") == "x" * 301
    assert_accessible(chrome)
    chair = chrome.find_element(By.ID, "board_chair")
    chair.clear()
    chair.send_keys("<script>alert(1)</script> **Cllr** {{board_name}}")
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.CSS_SELECTOR, "form button.govuk-button").click()
    banner = chrome.find_element(By.CSS_SELECTOR, ".govuk-notification-banner")
    assert "Settings saved: 1 change." in banner.text
    assert_accessible(chrome)
    launch(chrome, live_tool, "u-aisha")
    _open(chrome, live_tool, "/sections/roles-and-responsibilities")
    text = chrome.find_element(By.TAG_NAME, "main").text
    assert "It is chaired by <script>alert(1)</script> **Cllr** {{board_name}}." in text
    assert "Most boards meet several times a year." in text
    assert_accessible(chrome)
    # The note for colleagues who were in care, with the support contact's default wording.
    _open(chrome, live_tool, "/sections/children-in-care-and-care-leavers")
    note = chrome.find_element(By.CSS_SELECTOR, "main .govuk-inset-text").text
    assert note.startswith("If you were in care yourself, parts of this module about abuse")
    assert note.endswith("contact your manager or HR (or, for councillors, member services).")
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)


# -- the roster: check, page through, import ---------------------------------------------------

ROSTER_HEADER = (
    "Employee ID,First name,Last name,Email,Directorate,Department,Manager,Start date,Job title\n"
)
ROSTER_BEFORE = (
    "R1,Aisha,Khan,aisha.k@demo-council.example,Place,Housing,,04/01/2021,Officer\n"
    "R2,Tom,Leaver,tom.l@demo-council.example,Place,Housing,,01/03/2015,Manager\n"
)


def _import_roster(live: LiveTool, body: str) -> None:
    """The roster as it stands before HR checks a new file (through the roster service)."""
    from app.services import roster

    with live.app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.name == ORG)).one()
        frame = roster.read_file((ROSTER_HEADER + body).encode(), "before.csv")
        roster.apply(db.session(), org.id, roster.plan(db.session(), org.id, frame), utcnow())
        db.session.commit()


def test_the_roster_check_names_names_pages_them_and_imports_with_one_button(
    chrome: WebDriver, live_tool: LiveTool, tmp_path: Path
) -> None:
    _import_roster(live_tool, ROSTER_BEFORE)
    # Aisha moves to Planning, Tom leaves, and 27 arrive: one whose name is markup.
    new = "".join(
        f"N{n:02},New,Starter {n:02},n{n}@demo-council.example,Place,Housing,R1,01/12/2026,\n"
        for n in range(26)
    )
    file = tmp_path / "roster.csv"
    file.write_text(
        ROSTER_HEADER
        + "R1,Aisha,Khan,aisha.k@demo-council.example,Place,Planning,,04/01/2021,Officer\n"
        + new
        + 'N99,<img src=x onerror="document.title=1">,Jones,j@demo-council.example,'
        "Place,Housing,,01/12/2026,\n"
    )
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, "/hr/roster")
    chrome.find_element(By.ID, "file").send_keys(str(file))
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.CSS_SELECTOR, "form button.govuk-button").click()
    assert h1_text(chrome) == "Check the roster"
    new_people = chrome.find_element(By.ID, "new").find_element(
        By.XPATH, "following-sibling::table"
    )
    assert '<img src=x onerror="document.title=1"> Jones' in new_people.text  # shown, not run
    assert "New Starter 00" in new_people.text and "New Starter 24" not in new_people.text
    leaving = chrome.find_element(By.ID, "leaving").find_element(
        By.XPATH, "following-sibling::table"
    )
    assert "Tom Leaver" in leaving.text
    changed = chrome.find_element(By.ID, "changed").find_element(
        By.XPATH, "following-sibling::table"
    )
    # Seen as "Housing → Planning"; a screen reader hears "Housing changes to Planning".
    assert "Aisha Khan" in changed.text
    assert "Department: Housing → changes to Planning" in " ".join(changed.text.split())
    assert chrome.find_element(By.CSS_SELECTOR, 'nav[aria-label="Pages of new people"]')
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(
            By.CSS_SELECTOR, 'nav[aria-label="Pages of new people"] a[rel="next"]'
        ).click()
    new_people = chrome.find_element(By.ID, "new").find_element(
        By.XPATH, "following-sibling::table"
    )
    assert "New Starter 25" in new_people.text and "New Starter 00" not in new_people.text
    assert_accessible(chrome)
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Import the roster']").click()
    assert h1_text(chrome) == "Roster imported"
    assert (
        "27 new, 1 updated, 1 marked as leavers"
        in chrome.find_element(By.CSS_SELECTOR, ".govuk-panel").text
    )
    assert_accessible(chrome)
    with live_tool.app.app_context():
        assert db.session.scalars(select(Person).where(Person.employee_id == "N99")).one()


def test_a_paper_acceptance_is_checked_before_it_is_recorded(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    ids = _people(live_tool)
    launch(chrome, live_tool, "u-priya")
    form = f"/hr/people/{ids['late']}/record-acceptance"
    _open(chrome, live_tool, form)
    day = today() - timedelta(days=1)
    for part, value in (("day", day.day), ("month", day.month), ("year", day.year)):
        chrome.find_element(By.ID, f"declared_on-{part}").send_keys(str(value))
    chrome.find_element(By.ID, "note").send_keys("Signed paper declaration, personnel file")
    chrome.find_element(By.ID, "confirm").click()
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Continue']").click()
    assert h1_text(chrome) == "Check the acceptance before you record it"
    summary = chrome.find_element(By.CSS_SELECTOR, ".govuk-summary-list").text
    assert f"{day.day} {day:%B %Y}" in summary and " at " not in summary
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
    # Change the date: the form again, as it was filled in.
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.PARTIAL_LINK_TEXT, "Change").click()
    assert chrome.find_element(By.ID, "declared_on-day").get_attribute("value") == f"{day.day:02}"
    assert chrome.find_element(By.ID, "confirm").is_selected()
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Continue']").click()
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Record the acceptance']").click()
    assert h1_text(chrome) == "Olu Ade"
    assert (
        "The acceptance has been recorded"
        in chrome.find_element(By.CSS_SELECTOR, ".govuk-notification-banner").text
    )
    assert_accessible(chrome)


def test_the_list_of_people_is_filtered_from_its_folded_filters(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    _people(live_tool)
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, "/hr/people")
    overdue = chrome.find_element(By.ID, "overdue")
    assert not overdue.is_displayed()  # folded away until asked for
    chrome.find_element(By.CSS_SELECTOR, "#filters summary").click()
    overdue.click()
    chrome.find_element(By.CSS_SELECTOR, "label[for='childrens-3']").click()  # outside it
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Apply filters']").click()
    assert "overdue=y" in chrome.current_url and "childrens=no" in chrome.current_url
    main = chrome.find_element(By.TAG_NAME, "main").text
    assert "1 person matches the filters" in main and "Olu Ade" in main
    assert "Overdue only" in chrome.find_element(By.ID, "applied").text
    assert chrome.find_element(By.XPATH, "//button[normalize-space()='Download this list (CSV)']")
    assert_accessible(chrome)
    # Narrowed to nobody: the page says why and offers the way back.
    chrome.find_element(By.CSS_SELECTOR, "#filters summary").click()
    chrome.find_element(By.CSS_SELECTOR, "label[for='role-3']").click()  # councillors only
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Apply filters']").click()
    assert "Nobody matches all of these filters." in chrome.find_element(By.ID, "empty").text
    assert_accessible(chrome)
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.LINK_TEXT, "clear the filters to see everyone").click()
    assert chrome.current_url.endswith("/hr/people")
    assert_no_csp_refusals(chrome)


def test_verify_with_an_empty_box_shows_the_error_summary(
    chrome: WebDriver, live_tool: LiveTool
) -> None:
    launch(chrome, live_tool, "u-priya")
    _open(chrome, live_tool, "/hr/verify")
    with next_page(chrome, live_tool.tool_url):
        chrome.find_element(By.XPATH, "//button[normalize-space()='Check the certificate']").click()
    assert chrome.title.startswith("Error:")
    summary = chrome.find_element(By.CSS_SELECTOR, ".govuk-error-summary")
    assert "Enter the verification code printed on the certificate" in summary.text
    assert chrome.switch_to.active_element == summary  # GOV.UK Frontend moves focus to it
    assert chrome.find_element(By.ID, "code-error").is_displayed()
    assert_accessible(chrome)
    assert_no_csp_refusals(chrome)
