"""The accessibility statement and the privacy notice over HTTP: public, GET only, with the
visitor's own council's contacts and retention rules (escaped), or general words and the
labelled defaults when the council is not known; and linked from every page's footer."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app.db import db
from app.models import Organisation
from scripts.demo_lms.platform import DemoPlatform
from tests.conftest import ORG
from tests.lti_flow import Flow

PAGES = ("/accessibility", "/privacy")
OTHER = "Other Shire Council"


def text_of(page: str) -> str:
    """The page's words as a reader meets them: tags dropped (inline ones with no space in
    their place), entities decoded, spaces collapsed."""
    inline_gone = re.sub(r"</?(?:a|strong|em|code)\b[^>]*>", "", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", inline_gone)).split())


def main(page: str) -> str:
    return page.split('<main class="govuk-main-wrapper" id="main-content"', 1)[1].split(
        "</main>", 1
    )[0]


def set_detail(runner: FlaskCliRunner, org: str, key: str, value: str) -> None:
    result = runner.invoke(args=["org", "set", "--org", org, key, value])
    assert result.exit_code == 0, result.output


def add_other_council(app: Flask) -> None:
    """A second organisation with contacts and rules of its own, none of which may show
    to anyone else."""
    with app.app_context():
        db.session.add(
            Organisation(
                name=OTHER,
                content_values={
                    "data_protection_contact": "dpo@other-shire.example",
                    "accessibility_contact": "access@other-shire.example",
                },
                retention_years=9,
                retention_years_childrens=40,
            )
        )
        db.session.commit()


def assert_general(client: FlaskClient) -> None:
    """No council is named: the general words, and the retention defaults labelled so."""
    privacy = client.get("/privacy")
    assert privacy.status_code == 200
    words = text_of(main(privacy.get_data(as_text=True)))
    assert "Your council is the controller of your information." in words
    assert "Send questions about this notice to your council's data protection officer." in words
    assert (
        "The figures below are the module's default settings, which your council may have "
        "changed." in words
    )
    assert "are kept for 6 years from the day you left (the default)" in words
    assert "they are kept for 25 years (the default)" in words
    # What Article 13 asks for that comes from no setting: the basis, and what is recorded.
    assert "Public task (UK GDPR Article 6(1)(e))." in words
    assert "Your contract of employment, for staff (UK GDPR Article 6(1)(b))." in words
    assert "We do not rely on your consent." in words
    assert (
        "the policy version and a fingerprint (hash) of its text, your quiz result, your IP "
        "address and browser (user agent)" in words
    )
    statement = text_of(main(client.get("/accessibility").get_data(as_text=True)))
    assert "The module is run by your council." in statement
    assert (
        "think we are not meeting accessibility requirements, contact the corporate "
        "parenting team at your council." in statement
    )
    for page in (words, statement):
        assert ORG not in page and OTHER not in page
        assert "other-shire" not in page and "mailto:" not in page


# -- public, and GET only ------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_need_no_launch_and_name_no_council_when_there_is_none(
    client: FlaskClient, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert_general(client)


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_only_answer_get(client: FlaskClient, path: str) -> None:
    response = client.post(path)
    assert response.status_code == 405
    assert sorted(response.headers["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS"]


def test_with_several_councils_and_no_visit_none_is_named(
    app: Flask, client: FlaskClient, registered: DemoPlatform, runner: FlaskCliRunner
) -> None:
    set_detail(runner, ORG, "data_protection_contact", "dpo@test-borough.example")
    add_other_council(app)
    assert_general(client)
    assert "dpo@test-borough.example" not in client.get("/privacy").get_data(as_text=True)


# -- the council's own details ---------------------------------------------------------------------


def test_with_one_council_and_no_visit_its_details_and_settings_are_shown(
    client: FlaskClient, registered: DemoPlatform, runner: FlaskCliRunner
) -> None:
    set_detail(runner, ORG, "data_protection_contact", "dpo@test-borough.example")
    set_detail(runner, ORG, "accessibility_contact", "Digital team, 01632 960000")
    set_detail(runner, ORG, "retention_years", "7")
    set_detail(runner, ORG, "retention_years_childrens", "30")

    page = main(client.get("/privacy").get_data(as_text=True))
    words = text_of(page)
    assert f"{ORG} is the controller of your information." in words
    assert (
        '<a class="govuk-link" href="mailto:dpo@test-borough.example">dpo@test-borough.example</a>'
        in page
    )
    assert "Send questions about this notice to dpo@test-borough.example." in words
    assert "are kept for 7 years from the day you left." in words
    assert "they are kept for 30 years." in words
    assert "(the default)" not in words and "default settings" not in words

    statement = main(client.get("/accessibility").get_data(as_text=True))
    assert f"The module is run by {ORG}." in text_of(statement)
    # Not one e-mail address: shown as text, not as a link.
    assert "contact Digital team, 01632 960000." in text_of(statement)
    assert "mailto:" not in statement


def test_an_unset_contact_falls_back_to_the_placeholders_default(
    client: FlaskClient, registered: DemoPlatform
) -> None:
    words = text_of(main(client.get("/privacy").get_data(as_text=True)))
    assert "Send questions about this notice to the council's data protection officer." in words
    assert "are kept for 6 years from the day you left." in words  # the council's own value
    statement = text_of(main(client.get("/accessibility").get_data(as_text=True)))
    assert "accessibility requirements, contact the corporate parenting team." in statement


def test_a_visitor_sees_their_own_council_not_another(
    app: Flask,
    registered: DemoPlatform,
    runner: FlaskCliRunner,
    launched: Callable[[str], FlaskClient],
) -> None:
    set_detail(runner, ORG, "data_protection_contact", "dpo@test-borough.example")
    set_detail(runner, ORG, "retention_years", "8")
    add_other_council(app)
    visitor = launched("u-aisha")

    words = text_of(main(visitor.get("/privacy").get_data(as_text=True)))
    assert f"{ORG} is the controller of your information." in words
    assert "Send questions about this notice to dpo@test-borough.example." in words
    assert "are kept for 8 years from the day you left." in words
    assert "they are kept for 25 years." in words
    assert OTHER not in words and "other-shire" not in words and "9 years" not in words
    statement = text_of(main(visitor.get("/accessibility").get_data(as_text=True)))
    assert f"The module is run by {ORG}." in statement and OTHER not in statement


@pytest.fixture
def other_first(app: Flask) -> None:
    add_other_council(app)


@pytest.fixture
def registered_second(other_first: None, registered: DemoPlatform) -> DemoPlatform:
    """The launching council made after the other one, so it is not the first there is."""
    return registered


def test_a_visitor_sees_their_own_council_when_it_is_not_the_first(
    app: Flask,
    registered_second: DemoPlatform,
    runner: FlaskCliRunner,
    launched: Callable[[str], FlaskClient],
) -> None:
    with app.app_context():
        ids = dict(db.session.query(Organisation.name, Organisation.id).all())
    assert ids[OTHER] < ids[ORG]
    set_detail(runner, ORG, "data_protection_contact", "dpo@test-borough.example")
    visitor = launched("u-aisha")
    words = text_of(main(visitor.get("/privacy").get_data(as_text=True)))
    assert f"{ORG} is the controller of your information." in words
    assert "Send questions about this notice to dpo@test-borough.example." in words
    assert "are kept for 6 years from the day you left." in words
    assert OTHER not in words and "other-shire" not in words and "40 years" not in words


def test_contacts_are_escaped(
    client: FlaskClient, registered: DemoPlatform, runner: FlaskCliRunner
) -> None:
    set_detail(runner, ORG, "data_protection_contact", "<script>alert('dpo')</script>")
    set_detail(runner, ORG, "accessibility_contact", '"><img src=x onerror=alert(1)>')
    privacy = client.get("/privacy").get_data(as_text=True)
    assert "<script>alert" not in privacy
    assert "&lt;script&gt;alert(&#39;dpo&#39;)&lt;/script&gt;" in privacy
    assert "Send questions about this notice to <script>alert('dpo')</script>." in text_of(
        main(privacy)
    )
    statement = client.get("/accessibility").get_data(as_text=True)
    assert "<img src=x" not in statement
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in statement


# -- the statement's facts -------------------------------------------------------------------------


def test_the_statement_gives_the_visits_time_limit_and_its_dates(make_app: Callable) -> None:
    app = make_app(SESSION_HOURS=5)
    words = text_of(main(app.test_client().get("/accessibility").get_data(as_text=True)))
    assert "your visit ends 5 hours after you open the module, without a warning" in words
    assert "Your visit to the module ends 5 hours after you open it" in words
    assert "success criterion 2.2.1 (Timing Adjustable)" in words
    assert "success criterion 1.3.1 (Info and Relationships)" in words
    assert (
        "This statement was prepared on 5 December 2026. It was last reviewed on "
        "5 December 2026." in words
    )
    privacy = text_of(main(app.test_client().get("/privacy").get_data(as_text=True)))
    assert "This notice was last updated on 5 December 2026." in privacy


# -- every page's footer ---------------------------------------------------------------------------

FOOTER_LINKS = [
    ("/accessibility", "Accessibility statement"),
    ("/privacy", "Privacy notice"),
    ("/lti/config", "For learning portal administrators"),
]


def footer_links(page: str) -> list[tuple[str, str]]:
    footer = page.split('<div class="govuk-footer">', 1)[1]
    return re.findall(r'<a class="govuk-footer__link" href="([^"]+)">([^<]+)</a>', footer)


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        pytest.param("u-aisha", "/", 200, id="learner"),
        pytest.param("u-tom", "/team/", 200, id="manager"),
        pytest.param("u-priya", "/hr/people", 200, id="hr-people"),
        pytest.param("u-priya", "/hr/", 200, id="hr"),
        pytest.param("u-priya", "/hr/settings", 200, id="hr-settings"),
        pytest.param(None, "/", 401, id="not-signed-in"),
        pytest.param(None, "/no-such-page", 404, id="not-found"),
        pytest.param(None, "/lti/config", 200, id="lti-config"),
        pytest.param(None, "/accessibility", 200, id="accessibility"),
        pytest.param(None, "/privacy", 200, id="privacy"),
    ],
)
def test_every_page_links_to_both_from_its_footer(
    client: FlaskClient,
    launched: Callable[[str], FlaskClient],
    who: str | None,
    path: str,
    status: int,
) -> None:
    browser = launched(who) if who else client
    response = browser.get(path)
    assert response.status_code == status
    assert footer_links(response.get_data(as_text=True)) == FOOTER_LINKS


def test_a_refused_launchs_error_page_links_to_both(
    client: FlaskClient, registered: DemoPlatform, http: requests.Session
) -> None:
    response = Flow(client, registered, http).login(client_id="nobody")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "The module could not be opened" in page
    assert footer_links(page) == FOOTER_LINKS
