"""An acceptance HR records from a signed paper declaration: entered, checked on a check
page (with Change links), then recorded, every step ending in a redirect; stored and shown
by its date alone, wherever it appears."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.learner_flow import csrf
from tests.web.test_acceptance import accept, passed
from tests.web.test_exports import download, read_csv
from tests.web.test_hr_dashboard import add_person, text_of
from tests.web.test_people_records import (
    ROSTER_ONLY,
    acceptances_of,
    date_fields,
    events,
    person_id,
    record_on_paper,
)

# A fixed day, after the policy version came into force (1 December 2026).
DECLARED = date(2026, 12, 2)


def entered(hr: FlaskClient, pat: int, note: str = "Signed paper declaration") -> dict[str, Any]:
    page = hr.get(f"/hr/people/{pat}/record-acceptance").get_data(as_text=True)
    return {
        "csrf_token": csrf(page),
        **date_fields("declared_on", DECLARED),
        "note": note,
        "confirm": "y",
    }


def test_the_check_page_shows_what_was_entered_with_change_links_then_records_it(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    pat = add_person(app, **ROSTER_ONLY)
    form = f"/hr/people/{pat}/record-acceptance"
    response = hr.post(form, data=entered(hr, pat, "Signed at <b>induction</b>"))
    assert response.status_code == 302 and response.location == f"{form}/check"
    check = hr.get(f"{form}/check").get_data(as_text=True)
    words = text_of(check)
    assert "Check the acceptance before you record it" in words
    assert "Date of the declaration 2 December 2026 Change the date of the declaration" in words
    assert "Signed at &lt;b&gt;induction&lt;/b&gt;" in check
    assert "Valid until 2 December 2027" in words and "with no time" in words
    assert acceptances_of(app, pat) == []  # nothing recorded by checking
    # Change: the form again, filled in as it was.
    assert f'href="{form}#declared_on-day"' in check and f'href="{form}#note"' in check
    again = hr.get(form).get_data(as_text=True)
    assert re.search(r'id="declared_on-day" name="declared_on" type="text" value="02"', again)
    assert "Signed at &lt;b&gt;induction&lt;/b&gt;</textarea>" in again
    assert re.search(r'name="confirm"[^>]*checked', again)
    done = hr.post(f"{form}/check", data={"csrf_token": csrf(check)})
    assert done.status_code == 302
    assert done.location == f"/hr/people/{pat}?done=acceptance#acceptances"
    [row] = acceptances_of(app, pat)
    assert row.accepted_on == DECLARED and row.recorded_note == "Signed at <b>induction</b>"
    # Back, refresh or a second press after recording: nothing more is recorded.
    assert hr.get(f"{form}/check").location == form
    assert hr.post(f"{form}/check", data={"csrf_token": csrf(check)}).location == form
    assert len(acceptances_of(app, pat)) == 1


def test_a_check_page_is_only_for_what_was_entered_for_that_person(
    app: Flask, launched: Any
) -> None:
    hr = launched("u-priya")
    pat = add_person(app, **ROSTER_ONLY)
    other = add_person(app, first_name="Lou", last_name="Other", email="lou@x.example")
    assert hr.get(f"/hr/people/{pat}/record-acceptance/check").location == (
        f"/hr/people/{pat}/record-acceptance"
    )
    hr.post(f"/hr/people/{pat}/record-acceptance", data=entered(hr, pat))
    response = hr.get(f"/hr/people/{other}/record-acceptance/check")
    assert response.status_code == 302
    assert response.location == f"/hr/people/{other}/record-acceptance"


def test_a_paper_acceptance_is_stored_and_shown_by_its_date_alone(
    app: Flask, launched: Any
) -> None:
    aisha = launched("u-aisha")
    passed(app, aisha)
    accept(aisha, "Aisha Khan")  # in the module: a real time, for contrast
    hr = launched("u-priya")
    pat = add_person(app, **ROSTER_ONLY)
    assert record_on_paper(hr, pat, entered(hr, pat)).status_code == 302
    [row] = acceptances_of(app, pat)
    assert row.accepted_on == DECLARED  # the record says: a day, no time

    record = text_of(hr.get(f"/hr/people/{pat}").get_data(as_text=True))
    assert "Completed on 2 December 2026 " in record
    assert "Accepted 2 December 2026 Valid until" in record
    # The audit trail: when HR recorded it (a real time), and the declaration's date.
    assert "Acceptance recorded on their behalf: declaration dated 2 December 2026" in record
    [event] = events(app, "acceptance_recorded_by_hr")
    assert event.details["declared_on"] == "2026-12-02"

    code = f"{row.verification_code[:5]}-{row.verification_code[5:]}"
    verified = text_of(hr.get(f"/hr/verify?code={code}").get_data(as_text=True))
    assert "Completed on 2 December 2026 Valid until" in verified

    rows = {r["Email"]: r for r in read_csv(download(hr, "csv"))}
    paper = rows["pat.paper@demo-council.example"]
    assert (paper["Accepted on"], paper["Accepted at (UTC)"]) == ("2026-12-02", "")
    online = rows["aisha.khan@demo-council.example"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", online["Accepted at (UTC)"])
    assert online["Accepted on"] == online["Accepted at (UTC)"][:10]  # December: London is UTC
    aisha_id = person_id(app, "aisha.khan@demo-council.example")
    aisha_record = text_of(hr.get(f"/hr/people/{aisha_id}").get_data(as_text=True))
    assert re.search(r"Accepted \d+ \w+ \d{4} at \d+:\d\d[ap]m Valid until", aisha_record)
