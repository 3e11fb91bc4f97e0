"""The committee report's five settings: their rules at the boundaries (settings.py), the
recipients' list normalised and refused where it could inject a header, HR's settings page
(HTTP, PRG, audited) and `flask org set`."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clock import utcnow
from app.db import db
from app.models import AuditEvent, Organisation
from app.services.settings import SettingsInvalid, change_settings, validate
from tests.conftest import ORG
from tests.learner_flow import csrf
from tests.services.records import Setup
from tests.web.test_people_records import GOOD_SETTINGS


def problems(org: Organisation, **values: str) -> dict[str, str]:
    try:
        validate(org, values)
    except SettingsInvalid as exc:
        return exc.problems
    return {}


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("report_target_percent", ["1", "95", "100"], ["0", "101", "", "9.5", "95%", "²"]),
        ("report_day", ["0", "1", "28"], ["29", "31", "-1", "", "x"]),
        ("report_councillor_names", ["hidden", "listed"], ["Listed", "shown", ""]),
        ("report_period", ["quarter", "month", "year"], ["week", "Quarter", ""]),
    ],
)
def test_numbers_and_choices_at_their_boundaries(
    s: Setup, key: str, good: list[str], bad: list[str]
) -> None:
    # A day needs someone to send to; the day's own rule is what is tested here.
    org = s.org
    org.report_recipients = "clerk@council.example"
    for value in good:
        assert problems(org, **{key: value}) == {}, value
    for value in bad:
        assert key in problems(org, **{key: value}), value


def test_the_defaults_are_valid_and_are_what_the_model_says(session: Session, s: Setup) -> None:
    session.flush()
    session.refresh(s.org)
    assert (
        s.org.report_target_percent,
        s.org.report_councillor_names,
        s.org.report_day,
        s.org.report_period,
        s.org.report_recipients,
    ) == (95, "hidden", 0, "quarter", "")
    assert problems(s.org) == {}


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("clerk@council.example", "clerk@council.example"),
        ("  ", ""),
        ("", ""),
        ("Clerk@Council.EXAMPLE", "Clerk@council.example"),  # the domain lower-cased only
        (
            "a@x.example; b@y.example\nc@z.example\r\n,, d.e+f@sub.x-y.example ,",
            "a@x.example, b@y.example, c@z.example, d.e+f@sub.x-y.example",
        ),
        ("a@x.example, A@X.example, a@x.EXAMPLE", "a@x.example"),  # each once
    ],
)
def test_recipients_are_kept_in_one_form(s: Setup, typed: str, kept: str) -> None:
    parsed = validate(s.org, {"report_recipients": typed})
    assert parsed["report_recipients"] == kept


@pytest.mark.parametrize(
    "typed",
    [
        "Clerk <clerk@council.example>",  # a display name
        '"clerk"@council.example',
        "clerk@council",  # no dot in the domain
        "clerk@@council.example",
        "clerk council@x.example",
        "clerk@council.example\x0bBcc: all@x.example",  # a control character
        "clerk@council.example Bcc: all@x.example",
        "clerk@-council.example",
        "clerk@council..example",
        ".clerk@council.example",
        "clérk@council.example",
        "clerk@cöuncil.example",
        '=HYPERLINK("x")@council.example',
        ("x" * 65) + "@council.example",  # a local part over 64
        "x@" + ".".join(["a" * 60] * 5) + ".example",  # over 254
    ],
)
def test_a_recipient_that_is_not_a_plain_address_is_refused(s: Setup, typed: str) -> None:
    found = problems(s.org, report_recipients=f"ok@council.example, {typed}")
    assert "is not an e-mail address" in found["report_recipients"], typed


def test_a_line_break_only_separates_addresses_it_never_starts_a_header(s: Setup) -> None:
    found = problems(s.org, report_recipients="a@x.example\r\nBcc: b@y.example")
    assert found == {
        "report_recipients": "Who the committee report is sent to: 'Bcc: b@y.example' is "
        "not an e-mail address. Enter addresses only, like clerk@council.gov.uk, separated "
        "by commas"
    }


def test_at_most_20_recipients_and_2000_characters(s: Setup) -> None:
    twenty = [f"person{n:02d}@council.example" for n in range(20)]
    assert validate(s.org, {"report_recipients": ",".join(twenty)})["report_recipients"] == (
        ", ".join(twenty)
    )
    found = problems(s.org, report_recipients=",".join([*twenty, "one.more@council.example"]))
    assert found == {
        "report_recipients": "Who the committee report is sent to must be 20 addresses or fewer"
    }
    # 20 long addresses: 19 of 100 characters and one that brings the total to 2,000 exactly.
    long = [("x" * 64) + f"@{n:02d}" + ("y" * 25) + ".example" for n in range(19)]
    assert all(len(a) == 100 for a in long)
    last = "z" * (2000 - 19 * 102 - 16) + "@council.example"
    at_limit = ", ".join([*long, last])
    assert len(at_limit) == 2000
    assert validate(s.org, {"report_recipients": at_limit})["report_recipients"] == at_limit
    over = ", ".join([*long, "z" + last])
    assert problems(s.org, report_recipients=over) == {
        "report_recipients": "Who the committee report is sent to must be 2000 characters or fewer"
    }


def test_a_day_with_no_one_to_send_to_is_refused_naming_both(s: Setup) -> None:
    expected = {
        "report_recipients": "Enter who the committee report is sent to, or set the day of "
        "the month it is sent to 0 (not sent): it is set to 1"
    }
    assert problems(s.org, report_day="1") == expected
    assert problems(s.org, report_day="1", report_recipients=" ,; ") == expected
    assert problems(s.org, report_day="0") == {}
    assert problems(s.org, report_day="1", report_recipients="clerk@council.example") == {}
    s.org.report_day, s.org.report_recipients = 5, "clerk@council.example"
    # Emptying the list while a day is set is refused the same way.
    assert "set to 5" in problems(s.org, report_recipients="")["report_recipients"]


def test_each_change_is_one_audit_event(session: Session, s: Setup) -> None:
    changes = change_settings(
        session,
        s.org,
        {
            "report_target_percent": "90",
            "report_councillor_names": "listed",
            "report_day": "3",
            "report_period": "month",
            "report_recipients": "Clerk@Council.example;mo@council.example",
        },
        utcnow(),
        actor="test",
    )
    assert [(c.key, c.old, c.new) for c in changes] == [
        ("report_target_percent", "95", "90"),
        ("report_councillor_names", "hidden", "listed"),
        ("report_day", "0", "3"),
        ("report_period", "quarter", "month"),
        ("report_recipients", "", "Clerk@council.example, mo@council.example"),
    ]
    events = session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "config_change")
    ).all()
    assert events == [{"setting": c.key, "from": c.old, "to": c.new} for c in changes]
    assert (s.org.report_day, s.org.report_recipients) == (
        3,
        "Clerk@council.example, mo@council.example",
    )
    # The same list typed another way changes nothing.
    again = {"report_recipients": "Clerk@council.EXAMPLE\nmo@council.example"}
    assert change_settings(session, s.org, again, utcnow(), actor="test") == []


def test_org_set_takes_the_report_settings(
    app: Flask, runner: FlaskCliRunner, registered: Any
) -> None:
    def org_set(key: str, value: str) -> Any:
        return runner.invoke(args=["org", "set", "--org", ORG, key, value])

    refused = org_set("report_day", "7")
    assert refused.exit_code != 0 and "Enter who the committee report is sent to" in (
        refused.output
    )
    assert org_set("report_recipients", "clerk@council.example").exit_code == 0
    assert org_set("report_day", "7").output == f"{ORG}: report_day = 7\n"
    assert org_set("report_councillor_names", "listed").exit_code == 0
    bad = org_set("report_target_percent", "0")
    assert bad.exit_code != 0 and "between 1 and 100" in bad.output
    shown = runner.invoke(args=["org", "show", "--org", ORG]).output
    assert re.search(r"^report_day +7 ", shown, re.M), shown
    assert re.search(r"^report_recipients +clerk@council.example ", shown, re.M), shown
    with app.app_context():
        actors = db.session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "config_change")
        ).all()
    assert actors == ["cli"] * 3


REPORT_AS_IS = {
    "report_target_percent": "95",
    "report_councillor_names": "hidden",
    "report_day": "0",
    "report_period": "quarter",
    "report_recipients": "",
}


def test_hr_sets_the_report_on_the_settings_page(app: Flask, launched: Any) -> None:
    hr = launched("u-priya")
    page = hr.get("/hr/settings").get_data(as_text=True)
    for name in REPORT_AS_IS:
        assert f'name="{name}"' in page
    assert 'value="hidden" checked' in page and 'value="quarter" checked' in page
    assert "Monitoring Officer" in page and "govuk-warning-text" in page
    form = {"csrf_token": csrf(page), **GOOD_SETTINGS, **REPORT_AS_IS}
    # A day with no recipients: refused as a whole (PRG), the message on the page once.
    refused = hr.post("/hr/settings", data={**form, "report_day": "10"})
    assert refused.status_code == 302 and refused.location == "/hr/settings"
    shown = html.unescape(hr.get("/hr/settings").get_data(as_text=True))
    assert "govuk-error-summary" in shown
    assert "Enter who the committee report is sent to, or set the day" in shown
    assert re.search(r'<input[^>]+name="report_day"[^>]+value="10"', shown)  # as typed
    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        assert org.report_day == 0 and org.validity_months == 12  # nothing saved
    # Recipients with a hostile "address": refused, shown back escaped.
    hostile = "<script>alert(1)</script>@x.example"
    refused = hr.post("/hr/settings", data={**form, "report_recipients": hostile})
    assert refused.location == "/hr/settings"
    raw = hr.get("/hr/settings").get_data(as_text=True)
    assert "<script>alert(1)" not in raw and "&lt;script&gt;alert(1)" in raw
    recipients = "\n".join(f"member{n:02d}@Council.Example" for n in range(20))
    saved = hr.post(
        "/hr/settings",
        data={
            **form,
            "report_target_percent": "90",
            "report_councillor_names": "listed",
            "report_day": "28",
            "report_period": "year",
            "report_recipients": recipients,
        },
    )
    assert saved.location == "/hr/settings?saved=12"  # GOOD_SETTINGS' 7 and these 5
    with app.app_context():
        org = db.session.scalars(select(Organisation)).one()
        assert (
            org.report_target_percent,
            org.report_councillor_names,
            org.report_day,
            org.report_period,
        ) == (90, "listed", 28, "year")
        assert org.report_recipients == ", ".join(
            f"member{n:02d}@council.example" for n in range(20)
        )
        settings = db.session.scalars(
            select(AuditEvent.details["setting"].as_string()).where(
                AuditEvent.action == "config_change"
            )
        ).all()
    assert len(settings) == 12 and set(REPORT_AS_IS) <= set(settings)
    page = hr.get("/hr/settings").get_data(as_text=True)
    assert 'value="listed" checked' in page and 'value="year" checked' in page
    assert "member19@council.example</textarea>" in page


def test_a_long_refused_list_is_shown_back_whole(app: Flask, launched: Any) -> None:
    hr = launched("u-priya")
    page = hr.get("/hr/settings").get_data(as_text=True)
    typed = ", ".join(f"member{n:02d}@council.example" for n in range(21))  # one too many
    refused = hr.post(
        "/hr/settings",
        data={
            "csrf_token": csrf(page),
            **GOOD_SETTINGS,
            **REPORT_AS_IS,
            "report_recipients": typed,
        },
    )
    assert refused.location == "/hr/settings"
    shown = hr.get("/hr/settings").get_data(as_text=True)
    assert "must be 20 addresses or fewer" in shown
    assert f">{typed}</textarea>" in shown


def test_the_settings_page_needs_its_csrf_token(app: Flask, launched: Any) -> None:
    hr = launched("u-priya")
    posted = hr.post("/hr/settings", data={**GOOD_SETTINGS, **REPORT_AS_IS, "report_day": "1"})
    assert posted.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(Organisation.report_day)).one() == 0
