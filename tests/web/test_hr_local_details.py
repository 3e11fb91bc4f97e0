"""HR's Settings page sets the policy text's local details, through HTTP: one labelled box per
placeholder, blank for unset, length-limited, audited, Post/Redirect/Get (errors too), and the
values shown in the policy text as literal text, whatever they hold."""

from __future__ import annotations

import html
import random
import re
import string
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.db import db
from app.models import AuditEvent, Organisation
from app.services.content_pack import PLACEHOLDERS
from tests.learner_flow import csrf
from tests.web.test_people_records import GOOD_SETTINGS

# The rules as they are by default, so a post changes only the local details.
RULES_AS_THEY_ARE = {
    "validity_months": "12",
    "renewal_window_days": "30",
    "renewal_basis": "expiry",
    "due_from": "assignment",
    "due_days": "28",
    "retention_years": "6",
    "retention_years_childrens": "25",
    "roster_join": "sourcedid",
    "report_target_percent": "95",
    "report_councillor_names": "hidden",
    "report_day": "0",
    "report_period": "quarter",
}


def content_values(app: Flask) -> dict[str, str]:
    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        return dict(org.content_values or {})


def detail_events(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "config_change").order_by(AuditEvent.seq)
        )
        return [e.details for e in rows if e.details["setting"] in PLACEHOLDERS]


def post(hr: Any, **details: str) -> Any:
    page = hr.get("/hr/settings").get_data(as_text=True)
    return hr.post("/hr/settings", data={"csrf_token": csrf(page), **RULES_AS_THEY_ARE, **details})


def test_every_local_detail_has_a_labelled_box_with_what_the_text_says_while_empty(
    launched: Any,
) -> None:
    page = launched("u-priya").get("/hr/settings").get_data(as_text=True)
    assert '<h2 class="govuk-heading-m" id="local-details">Local details</h2>' in page
    for key, (label, default) in PLACEHOLDERS.items():
        label_tag = rf'<label class="govuk-label" for="{key}">\s*{re.escape(label)}\s*</label>'
        assert re.search(label_tag, html.unescape(page)), key
        box = re.search(rf'<input[^>]*\sid="{key}"[^>]*>', page)
        assert box and f'name="{key}"' in box.group(0), key
        assert f'aria-describedby="{key}-hint"' in box.group(0), key
        hint = re.search(rf'<div id="{key}-hint" class="govuk-hint">\s*(.*?)\s*</div>', page, re.S)
        assert hint, key
        said = html.unescape(hint.group(1))
        if key == "council_name":
            assert said == 'While empty, the text says "Test Borough Council".'
        elif default:
            assert said == f'While empty, the text says "{default}".'
        else:
            assert said.startswith("The text "), (key, said)
    board = re.search(r'<div id="board_chair-hint" class="govuk-hint">\s*(.*?)\s*</div>', page)
    assert board and html.unescape(board.group(1)) == (
        'The text says the board "is usually chaired by a councillor".'
    )


def test_setting_details_saves_them_audited_and_the_text_reads_them(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    response = post(
        hr, board_chair="the Lead Member", board_meets="four times a year", board_name=""
    )
    assert response.status_code == 302 and response.location == "/hr/settings?saved=2"
    assert "Settings saved: 2 changes." in hr.get(response.location).get_data(as_text=True)
    assert content_values(app) == {
        "board_chair": "the Lead Member",
        "board_meets": "four times a year",
    }
    assert detail_events(app) == [
        {"setting": "board_chair", "from": "", "to": "the Lead Member"},
        {"setting": "board_meets", "from": "", "to": "four times a year"},
    ]
    page = launched("u-aisha").get("/sections/roles-and-responsibilities").get_data(as_text=True)
    assert "It is chaired by the Lead Member. It meets four times a year." in page
    assert "usually chaired by a councillor" not in page
    assert "Most boards meet" not in page
    # The same again changes nothing; a blank box unsets the detail (audited) and the text
    # goes back to the wording for a council that has not set it.
    again = post(hr, board_chair="the Lead Member", board_meets="four times a year")
    assert again.location == "/hr/settings?saved=0"
    unset = post(hr, board_chair="  ", board_meets="four times a year")
    assert unset.location == "/hr/settings?saved=1"
    assert content_values(app) == {"board_meets": "four times a year"}
    assert detail_events(app)[-1] == {"setting": "board_chair", "from": "the Lead Member", "to": ""}
    page = launched("u-aisha").get("/sections/roles-and-responsibilities").get_data(as_text=True)
    assert "It is usually chaired by a councillor. It meets four times a year." in page


@pytest.mark.parametrize(
    "value",
    ["<script>alert(1)</script>", "**bold**", "{{board_name}}", "{{/if}}{{else}}", "a & b"],
    ids=["script", "markdown", "placeholder", "markers", "ampersand"],
)
def test_a_detail_is_shown_as_literal_text_whatever_it_holds(
    app: Flask, launched: Any, value: str
) -> None:
    hr = launched("u-priya")
    assert post(hr, board_chair=value).location == "/hr/settings?saved=1"
    page = launched("u-aisha").get("/sections/roles-and-responsibilities").get_data(as_text=True)
    assert f"It is chaired by {html.escape(value)}. Most boards meet" in page
    assert "<script>alert" not in page and "<strong>bold" not in page
    settings = hr.get("/hr/settings").get_data(as_text=True)
    assert f'value="{html.escape(value)}"' in settings


def test_a_detail_over_300_characters_is_refused_with_a_redirect_keeping_what_was_typed(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    assert post(hr, board_chair="x" * 300).location == "/hr/settings?saved=1"
    response = post(hr, board_chair="y" * 301, board_meets="monthly")
    assert response.status_code == 302 and response.location == "/hr/settings"  # PRG
    page = hr.get(response.location).get_data(as_text=True)
    assert "<title>Error:" in page and "There is a problem" in page
    assert "Who chairs the board must be 300 characters or fewer" in page
    assert f'value="{"y" * 301}"' in page and 'value="monthly"' in page  # kept for correcting
    assert "Settings saved" not in page
    assert content_values(app) == {"board_chair": "x" * 300}
    assert len(detail_events(app)) == 1
    # Refreshing shows the saved values again: the error was for one visit only.
    page = hr.get("/hr/settings").get_data(as_text=True)
    assert "There is a problem" not in page and f'value="{"x" * 300}"' in page


def test_a_rule_error_saves_no_detail_either(app: Flask, launched: Any) -> None:
    hr = launched("u-priya")
    page = hr.get("/hr/settings").get_data(as_text=True)
    response = hr.post(
        "/hr/settings",
        data={
            "csrf_token": csrf(page),
            **GOOD_SETTINGS,
            "retention_years_childrens": "2",
            "board_chair": "the Lead Member",
        },
    )
    assert response.location == "/hr/settings"
    shown = hr.get("/hr/settings").get_data(as_text=True)
    assert "at least as long as everyone else" in html.unescape(shown)
    assert 'value="the Lead Member"' in shown
    assert content_values(app) == {}
    assert detail_events(app) == []


def test_org_set_goes_through_the_same_audited_service(
    app: Flask, runner: Any, launched: Any
) -> None:
    launched("u-priya")  # the organisation exists
    result = runner.invoke(
        args=[
            "org",
            "set",
            "--org",
            "Test Borough Council",
            "corporate_parenting_email",
            "cp@x.example",
        ]
    )
    assert result.exit_code == 0, result.output
    assert detail_events(app) == [
        {"setting": "corporate_parenting_email", "from": "", "to": "cp@x.example"}
    ]
    refused = runner.invoke(
        args=["org", "set", "--org", "Test Borough Council", "board_chair", "z" * 301]
    )
    assert refused.exit_code != 0
    assert "Who chairs the board must be 300 characters or fewer" in refused.output
    page = (
        launched("u-aisha").get("/sections/your-role-as-a-member-of-staff").get_data(as_text=True)
    )
    assert "You can e-mail them at cp@x.example." in page


def test_many_long_wrong_boxes_keep_the_messages_and_the_session_cookie_small(
    app: Flask, launched: Any
) -> None:
    """The failed save waits in the session cookie: it must stay under a browser's 4 KB or
    the browser drops it, and HR with it."""
    hr = launched("u-priya")
    # Text that does not compress (the cookie is zlib-compressed when that makes it shorter).
    long = {
        key: "".join(random.Random(key).choices(string.ascii_letters, k=301))
        for key in PLACEHOLDERS
    }
    response = post(hr, **long)
    assert response.location == "/hr/settings"
    cookie = hr.get_cookie(app.config["SESSION_COOKIE_NAME"], domain="tool.test")
    assert cookie is not None and len(cookie.value) < 4000
    page = html.unescape(hr.get("/hr/settings").get_data(as_text=True))
    for label, _ in PLACEHOLDERS.values():
        assert f"{label} must be 300 characters or fewer" in page
    assert content_values(app) == {}
