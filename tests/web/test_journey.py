"""The learner's journey through HTTP: overview, sections, resume, the locked quiz."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from app.db import db
from app.models import AuditEvent, SectionRead
from tests.learner_flow import read_all, section_links


def test_overview_shows_sections_progress_status_and_due_date(launched: Any) -> None:
    client = launched("u-aisha")
    html = client.get("/").get_data(as_text=True)
    assert "Corporate Parenting Policy" in html
    assert "0 of 10 sections read" in html
    assert "Not started" in html
    assert "Complete by" in html
    assert "Start reading" in html
    assert "Cannot start yet" in html
    assert len(section_links(client)) == 10


def test_councillors_and_officers_each_get_their_own_section(launched: Any) -> None:
    staff = section_links(launched("u-aisha"))
    councillor = section_links(launched("u-jo"))
    assert "/sections/your-role-as-a-member-of-staff" in staff
    assert "/sections/your-role-as-an-elected-member" not in staff
    assert "/sections/your-role-as-an-elected-member" in councillor
    assert "/sections/your-role-as-a-member-of-staff" not in councillor
    assert launched("u-aisha").get("/sections/your-role-as-an-elected-member").status_code == 404


def test_reading_is_saved_on_the_server_and_resumed_on_the_next_launch(
    app: Flask, launched: Any
) -> None:
    first = launched("u-lee")
    links = section_links(first)
    page = first.get(links[0]).get_data(as_text=True)
    assert "Section 1 of 10" in page
    assert "Next section" in page and links[1] in page
    first.get(links[1])
    # A new launch (another day, another browser) carries on from the server's record.
    later = launched("u-lee")
    html = later.get("/").get_data(as_text=True)
    assert "2 of 10 sections read" in html
    assert "In progress" in html
    button = re.search(
        r'<a href="([^"]+)"[^>]*class="govuk-button[^"]*"[^>]*>\s*Continue reading', html
    )
    assert button and button.group(1) == links[2]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SectionRead)) == 2
        reads = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "section_read")
        )
        assert reads == 2


def test_opening_a_section_twice_counts_once(app: Flask, launched: Any) -> None:
    client = launched("u-aisha")
    link = section_links(client)[0]
    for _ in range(3):
        client.get(link)
    assert "1 of 10 sections read" in client.get("/").get_data(as_text=True)
    with app.app_context():
        reads = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "section_read")
        )
    assert reads == 1  # found by the page benchmark: PostgreSQL once logged every view


def test_quiz_stays_locked_with_the_reason_until_every_section_is_opened(launched: Any) -> None:
    client = launched("u-aisha")
    links = section_links(client)
    for link in links[:-1]:
        client.get(link)
    locked = client.get("/quiz").get_data(as_text=True)
    assert "The quiz is not open yet" in locked
    assert "You have read 9 of 10" in locked
    assert links[-1] in locked
    client.get(links[-1])
    opened = client.get("/quiz").get_data(as_text=True)
    assert "Check your understanding" in opened
    assert 'action="/quiz/start"' in opened


def test_local_details_come_from_the_organisation_and_are_escaped(
    launched: Any, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=[
            "org",
            "set",
            "--org",
            "Test Borough Council",
            "board_name",
            "Corporate Parenting <Committee>",
        ]
    )
    assert result.exit_code == 0, result.output
    client = launched("u-aisha")
    html = client.get("/sections/roles-and-responsibilities").get_data(as_text=True)
    assert "Corporate Parenting &lt;Committee&gt;" in html
    assert "<Committee>" not in html
    assert "{{" not in html
    intro = client.get("/").get_data(as_text=True)
    assert "care of Test Borough Council" in intro


def test_links_between_sections_lead_to_section_pages(launched: Any) -> None:
    client = launched("u-aisha")
    html = client.get("/sections/the-law").get_data(as_text=True)
    assert 'href="/sections/children-in-care-and-care-leavers"' in html
    assert "section:" not in html


def test_all_read_shows_the_quiz_as_ready(launched: Any) -> None:
    client = launched("u-aisha")
    read_all(client)
    html = client.get("/").get_data(as_text=True)
    assert "10 of 10 sections read" in html
    assert "Go to the quiz" in html
