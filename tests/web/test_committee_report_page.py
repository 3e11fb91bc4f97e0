"""The committee report in HR's pages, through HTTP after real launches: the figures that
committee.build gives (and the dashboard agrees with), the date and period and their
boundaries, the charts as SVG drawn into the page (the report built once a view), the PDF
download and its audit event, who may see it, and
never another council's figures."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest
import requests
from defusedxml import ElementTree
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import event, func, select
from werkzeug.datastructures import MultiDict

from app.clock import today, utcnow
from app.db import db
from app.models import AuditEvent, Organisation, PolicyVersion
from app.services import committee, committee_charts
from scripts.demo_lms.platform import DemoPlatform
from scripts.demo_lms.server import create_platform_app
from tests.conftest import ORG, TOOL_BASE_URL, LiveServer, tool_client
from tests.learner_flow import csrf, read_all
from tests.lti_flow import Flow
from tests.web.test_acceptance import accept, passed
from tests.web.test_hr_dashboard import add_person, org_id, table, text_of, update_person

OTHER = "Other Shire Council"
HOSTILE_UNIT = '<b>Place</b> & =HYPERLINK("http://x.example")'
HOSTILE_NAME = "<script>alert(1)</script>"
SVG = "{http://www.w3.org/2000/svg}"
DATA_SVG = "data:image/svg+xml;base64,"
# A chart in the page: <img class="app-chart" src="data:image/svg+xml;base64,..." alt="...">.
CHART = re.compile(r'<img class="app-chart" src="([^"]*)" alt="([^"]*)">')


def date_args(day: date, period: str | None = "quarter") -> list[tuple[str, str]]:
    args = [("date", str(day.day)), ("date", str(day.month)), ("date", str(day.year))]
    return [*args, ("period", period)] if period is not None else args


def build(app: Flask, day: date, period: str = "quarter", name: str = ORG) -> Any:
    """The report as committee.build gives it, to compare the page with."""
    with app.app_context():
        return committee.build(
            db.session(), org_id(app, name), app.config["POLICY_KEY"], day, period, utcnow()
        )


def charts_of(html: str) -> dict[str, bytes]:
    """The page's two charts (the trend, then by directorate), each an SVG drawn into the page
    as a data: address, decoded, and checked to be an SVG document (parsed by defusedxml)."""
    found = CHART.findall(html)
    assert len(found) == 2, found
    charts = {}
    for name, (src, _) in zip(("trend", "directorate"), found, strict=True):
        assert src.startswith(DATA_SVG), src[:60]
        svg = base64.b64decode(src.removeprefix(DATA_SVG), validate=True)
        assert svg.startswith(b"<?xml")
        assert ElementTree.fromstring(svg).tag == f"{SVG}svg"
        charts[name] = svg
    return charts


def svg_texts(svg: bytes) -> list[str]:
    return [element.text or "" for element in ElementTree.fromstring(svg).iter(f"{SVG}text")]


def set_organisation(app: Flask, name: str = ORG, **fields: Any) -> None:
    with app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.name == name)).one()
        for key, value in fields.items():
            setattr(org, key, value)
        db.session.commit()


def report_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        events = list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "committee_report")
                .order_by(AuditEvent.id)
            )
        )
        db.session.expunge_all()
        return events


@pytest.fixture
def council(app: Flask, launched: Any) -> dict[str, Any]:
    """Aisha (staff, in a directorate with a hostile name) completes through the real
    journey; Jo, a councillor on the committee, launches and has not; a roster councillor
    with a hostile name and two roster staff in Children's Services have not either."""
    hr = launched("u-priya")
    aisha = launched("u-aisha")
    passed(app, aisha)
    assert accept(aisha, "Aisha Khan").status_code == 302
    launched("u-jo")
    update_person(app, "aisha.khan@demo-council.example", directorate=HOSTILE_UNIT)
    update_person(app, "priya.shah@demo-council.example", directorate="Resources")
    update_person(app, "cllr.jo.evans@demo-council.example", committee_member=True)
    add_person(app, first_name=HOSTILE_NAME, last_name="Smith", elected_member=True)
    for number in (1, 2):
        add_person(
            app,
            first_name=f"Mina{number}",
            last_name="Patel",
            directorate="Children's Services",
            employee_id=f"E10{number}",
        )
    return {"hr": hr, "aisha": aisha}


# -- the page --------------------------------------------------------------------------------


def test_the_page_opens_on_today_and_the_last_quarter(council: dict[str, Any]) -> None:
    html = council["hr"].get("/hr/report").get_data(as_text=True)
    day = today()
    for part, value in (("day", day.day), ("month", day.month), ("year", day.year)):
        assert f'id="date-{part}" name="date" type="text" value="{value}"' in html
    assert 'id="period" name="period" type="radio" value="quarter" checked' in html
    assert f'<h2 class="govuk-heading-m">Completion on {day.day} {day:%B %Y}</h2>' in html
    assert 'href="/hr/report"' in html  # in HR's menu


def test_the_page_shows_the_figures_build_gives_and_the_dashboard_agrees(
    app: Flask, council: dict[str, Any]
) -> None:
    hr = council["hr"]
    html = hr.get("/hr/report").get_data(as_text=True)
    words = text_of(html)
    report = build(app, today())
    now = report.overall.now
    # Active people: Priya, Aisha (completed), Jo, the roster councillor, Mina1, Mina2.
    assert (now.people, now.completed) == (6, 1)
    assert "17% of everyone in Test Borough Council had completed" in words
    assert "1 of 6 people" in words
    dashboard = text_of(hr.get("/hr/").get_data(as_text=True))
    assert "17% of everyone have completed the module and are in date: 1 of 6 people" in dashboard

    rows = {row[0]: row[1:] for row in table(html, "Completion by directorate on")}
    expected = {
        line.label: [str(line.now.people), str(line.now.completed)]
        for line in [*report.by_directorate, report.overall]
    }
    assert {label: cells[:2] for label, cells in rows.items()} == expected
    assert rows["Children's Services"][:4] == ["2", "0", "0%", "0"]
    assert rows[HOSTILE_UNIT][:3] == ["1", "1", "100%"]
    # The dashboard counts the same people in each directorate.
    units = table(hr.get("/hr/").get_data(as_text=True), "Completion by directorate")
    people = {}
    for unit, done, _ in units:
        directorate = unit.rsplit(", ", 1)[0]
        people[directorate] = people.get(directorate, 0) + int(done.split(" of ")[1].split()[0])
    assert people == {label: int(cells[0]) for label, cells in rows.items() if label != "Everyone"}

    groups = {row[0]: row[1:4] for row in table(html, "Completion of councillors and staff")}
    assert groups == {
        line.label: [str(line.now.people), str(line.now.completed), _percent(line.now)]
        for line in report.groups
    }
    assert "The names of councillors who have not completed the module are not listed." in words
    assert "An administrator can list them" in words
    trend = table(html, "The chart's figures: share completed and in date at the end")
    assert len(trend) == 13 and trend[-1][0] == f"{today().day} {today():%B %Y}"
    assert trend[-1][1:] == [
        _percent(report.trend[-1].overall),
        *(_percent(c) for c in (report.trend[-1].councillors, report.trend[-1].staff)),
    ]
    forecast = table(html, "Forecast at the last 8 weeks' rate")
    assert [row[0] for row in forecast] == [f.label for f in report.forecasts]
    assert [row[-1] for row in forecast] == [f.text for f in report.forecasts]
    renewals = table(html, "People whose completion runs out in the next 90 days")
    assert [row[0] for row in renewals] == [r.label for r in report.renewals]
    assert "How the figures were taken" in words
    assert f"Policy version {report.methods.policy_version}" in words


def _percent(count: committee.Count) -> str:
    """As the dashboard writes a share (hr/_hr.html): whole percent, Python's rounding."""
    return f"{round(count.completed * 100 / count.people)}%" if count.people else "No one"


def test_councillors_who_have_not_completed_are_listed_when_the_organisation_says(
    app: Flask, council: dict[str, Any]
) -> None:
    set_organisation(app, report_councillor_names="listed")
    html = council["hr"].get("/hr/report").get_data(as_text=True)
    listed = html.split('id="councillors-not-completed">', 1)[1].split("</ul>", 1)[0]
    assert "Jo Evans" in listed
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Smith" in listed
    assert "<script>alert" not in html


def test_hostile_directorate_and_person_names_are_escaped_in_the_page_and_the_charts(
    app: Flask, council: dict[str, Any]
) -> None:
    set_organisation(app, report_councillor_names="listed")
    hr = council["hr"]
    html = hr.get("/hr/report").get_data(as_text=True)
    assert "<b>Place</b>" not in html and "<script>alert" not in html
    assert "&lt;b&gt;Place&lt;/b&gt; &amp; =HYPERLINK(&#34;http://x.example&#34;)" in html
    charts = charts_of(html)
    for svg in charts.values():
        assert b"<b>" not in svg and b"<script" not in svg
        assert not list(ElementTree.fromstring(svg).iter(f"{SVG}script"))
    assert b"&lt;b&gt;Place&lt;/b&gt; &amp; =HYPERLINK(" in charts["directorate"]
    # As text, once parsed: the name as written, wrapped at 28 characters.
    texts = set(svg_texts(charts["directorate"]))
    assert {'<b>Place</b> & =HYPERLINK("h', 'ttp://x.example")'} <= texts


# -- the date and the period -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "status"), [(0, 200), (-1, 200), (1, 400)], ids=["today", "yesterday", "tomorrow"]
)
def test_the_date_may_be_today_but_not_tomorrow(
    council: dict[str, Any], days: int, status: int
) -> None:
    day = today() + timedelta(days=days)
    response = council["hr"].get("/hr/report", query_string=date_args(day))
    html = response.get_data(as_text=True)
    assert response.status_code == status, html
    if status == 400:
        assert "<title>Error: Committee report" in html
        assert 'href="#date-day">The date must be today or in the past</a>' in html
        assert 'class="govuk-error-message"' in html
        assert "Download as PDF" not in html
    else:
        assert f"Completion on {day.day} {day:%B %Y}" in html


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        (["29", "2", "2027"], "Date of the figures must be a real date, like 27 3 2026"),
        (["31", "4", "2026"], "Date of the figures must be a real date, like 27 3 2026"),
        (["1", "", "2026"], "Date of the figures must be a real date, like 27 3 2026"),
        (["a", "b", "c"], "Date of the figures must be a real date, like 27 3 2026"),
        (["", "", ""], "Enter the date of the figures"),
        (["31", "12", "1999"], "The date must be 1 January 2000 or later"),
    ],
    ids=["29-feb-2027", "31-april", "no-month", "letters", "empty", "1999"],
)
def test_dates_that_cannot_be_used_are_errors_with_their_reason(
    council: dict[str, Any], sent: list[str], message: str
) -> None:
    args = [*(("date", part) for part in sent), ("period", "quarter")]
    response = council["hr"].get("/hr/report", query_string=args)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'href="#date-day">{message}</a>' in html
    # What was typed is shown back as typed.
    if sent[0]:
        assert f'id="date-day" name="date" type="text" value="{sent[0]}"' in html


def test_the_29th_of_february_of_a_leap_year_is_a_date(
    council: dict[str, Any], launched: Any, travel: Any
) -> None:
    travel(days=(date(2028, 3, 1) - today()).days)
    response = launched("u-priya").get("/hr/report", query_string=date_args(date(2028, 2, 29)))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Completion on 29 February 2028" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("period", "start"),
    [("quarter", date(2026, 9, 30)), ("month", date(2026, 11, 30)), ("year", date(2025, 12, 31))],
)
def test_each_period_compares_with_its_own_start(
    app: Flask, council: dict[str, Any], launched: Any, period: str, start: date, travel: Any
) -> None:
    travel(days=(date(2026, 12, 31) - today()).days)
    hr = launched("u-priya")  # the session ended as the days went by
    html = hr.get("/hr/report", query_string=date_args(date(2026, 12, 31), period))
    html = html.get_data(as_text=True)
    assert build(app, date(2026, 12, 31), period).period_start == start
    assert f"At the start of the {period} ({start.day} {start:%B %Y})" in text_of(html)
    assert f'name="period" type="radio" value="{period}" checked' in html


def test_a_period_that_is_not_offered_is_an_error(council: dict[str, Any]) -> None:
    response = council["hr"].get("/hr/report", query_string=date_args(today(), "week"))
    assert response.status_code == 400
    assert 'href="#period">Select the period to compare with</a>' in response.get_data(as_text=True)


# -- the charts ------------------------------------------------------------------------------


def test_the_charts_are_svg_images_in_the_page_of_its_date_and_period(
    app: Flask, council: dict[str, Any]
) -> None:
    hr = council["hr"]
    day = today()
    response = hr.get("/hr/report", query_string=date_args(day, "year"))
    html = response.get_data(as_text=True)
    # The CSP lets the page show images from data: addresses; the page is never cached.
    assert "img-src 'self' data:;" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    report = build(app, day, "year")
    charts = charts_of(html)
    assert charts == {
        # The same drawing as that of the report for the date and period (the SVG has no
        # date in it).
        name: getattr(committee_charts, f"{name}_chart")(report, "svg")
        for name in ("trend", "directorate")
    }
    # Each with its text alternative.
    assert [unescape(alt) for _, alt in CHART.findall(html)] == [
        committee_charts.trend_alt(report),
        committee_charts.directorate_alt(report),
    ]
    assert "Children's Services" in committee_charts.directorate_alt(report)
    texts = svg_texts(charts["trend"])
    assert {"All people", "Councillors", "Staff", "Target (95%)"} <= set(texts)
    texts = svg_texts(charts["directorate"])
    assert {"Children's Services", "Resources"} <= set(texts)


def test_the_charts_have_no_address_of_their_own_and_a_bad_date_has_none(
    council: dict[str, Any],
) -> None:
    hr = council["hr"]
    assert hr.get("/hr/report/chart/trend.svg").status_code == 404
    tomorrow = today() + timedelta(days=1)
    response = hr.get("/hr/report", query_string=date_args(tomorrow))
    assert response.status_code == 400
    assert CHART.findall(response.get_data(as_text=True)) == []


def test_one_page_view_builds_the_report_once(
    app: Flask, council: dict[str, Any], launched: Any, travel: Any
) -> None:
    """A browser asks for the page, then for each image in it that is not drawn into it.
    Counted: the statements of a year's trend (status.completion_over_days, run once by
    each committee.build), recognised by a label only that statement has; run once the
    policy was in force on some of the trend's earlier days, so months on."""
    travel(days=(date(2027, 6, 30) - today()).days)
    hr = launched("u-priya")  # the session ended as the days went by
    trend_statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "superseded_0" in statement:
            trend_statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = hr.get("/hr/report")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        images = [unescape(src) for src in re.findall(r'<img [^>]*src="([^"]*)"', html)]
        assert len(images) == 2
        for src in images:
            if not src.startswith("data:"):
                assert hr.get(src).status_code == 200, src
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(trend_statements) == 1


# -- the PDF ---------------------------------------------------------------------------------


def test_the_pdf_download_is_recorded_in_the_audit_trail(
    app: Flask, council: dict[str, Any]
) -> None:
    hr = council["hr"]
    day = today()
    page = hr.get("/hr/report", query_string=date_args(day, "month")).get_data(as_text=True)
    assert 'action="/hr/report.pdf"' in page
    # The page's button posts the date and period it shows.
    hidden = "".join(
        f'<input type="hidden" name="date" value="{p}">' for p in (day.day, day.month, day.year)
    )
    assert hidden + '\n      <input type="hidden" name="period" value="month">' in page
    response = hr.post(
        "/hr/report.pdf", data=MultiDict([("csrf_token", csrf(page)), *date_args(day, "month")])
    )
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="corporate-parenting-report-{day.isoformat()}-month.pdf"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    [event] = report_events(app)
    assert event.details == {"date": day.isoformat(), "period": "month", "councillors_named": False}
    assert event.organisation_id == org_id(app)
    assert event.actor_person_id is not None

    set_organisation(app, report_councillor_names="listed")
    response = hr.post(
        "/hr/report.pdf", data=MultiDict([("csrf_token", csrf(page)), *date_args(today())])
    )
    assert response.status_code == 200
    assert report_events(app)[-1].details == {
        "date": today().isoformat(),
        "period": "quarter",
        "councillors_named": True,
    }


def test_the_pdf_is_refused_without_a_csrf_token_and_nothing_is_recorded(
    app: Flask, council: dict[str, Any]
) -> None:
    hr = council["hr"]
    response = hr.post("/hr/report.pdf", data=MultiDict(date_args(today())))
    assert response.status_code == 400
    response = hr.post(
        "/hr/report.pdf", data=MultiDict([("csrf_token", "forged"), *date_args(today())])
    )
    assert response.status_code == 400
    assert report_events(app) == []


def test_a_pdf_of_a_date_that_cannot_be_used_goes_back_to_the_page_with_it(
    app: Flask, council: dict[str, Any]
) -> None:
    hr = council["hr"]
    page = hr.get("/hr/settings").get_data(as_text=True)  # for its CSRF token
    tomorrow = today() + timedelta(days=1)
    response = hr.post(
        "/hr/report.pdf", data=MultiDict([("csrf_token", csrf(page)), *date_args(tomorrow)])
    )
    assert response.status_code == 302
    assert response.location == (
        f"/hr/report?date={tomorrow.day}&date={tomorrow.month}&date={tomorrow.year}&period=quarter"
    )
    assert report_events(app) == []
    assert hr.get(response.location).status_code == 400


# -- who may see it --------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["u-aisha", "u-tom"], ids=["learner", "manager"])
def test_learners_and_managers_cannot_see_the_report(app: Flask, launched: Any, user: str) -> None:
    client = launched(user)
    assert client.get("/hr/report").status_code == 403
    # A token of their own (from their quiz's start page), so the refusal is the role's,
    # not CSRF's.
    read_all(client)
    token = csrf(client.get("/quiz").get_data(as_text=True))
    response = client.post(
        "/hr/report.pdf", data=MultiDict([("csrf_token", token), *date_args(today())])
    )
    assert response.status_code == 403
    assert report_events(app) == []


@pytest.fixture
def other_platform(app: Flask, runner: FlaskCliRunner) -> Iterator[DemoPlatform]:
    """A second LMS, registered to another council, with the same demo people."""
    platform = DemoPlatform(issuer="http://placeholder", tool_base_url=TOOL_BASE_URL)
    server = LiveServer(create_platform_app(platform))
    platform.issuer = server.url
    server.start()
    try:
        result = runner.invoke(args=platform.register_command(OTHER))
        assert result.exit_code == 0, result.output
        yield platform
    finally:
        server.stop()


def test_another_councils_hr_sees_their_own_figures_only(
    app: Flask,
    council: dict[str, Any],
    other_platform: DemoPlatform,
    http: requests.Session,
) -> None:
    client = tool_client(app)
    assert Flow(client, other_platform, http).launch_as("u-priya").status_code == 200
    other = org_id(app, OTHER)
    add_person(app, organisation_id=other, first_name="Zed", directorate="Secret Directorate")
    html = client.get("/hr/report").get_data(as_text=True)
    words = text_of(html)
    assert "0% of everyone in Other Shire Council had completed" in words
    assert "0 of 2 people" in words
    rows = {row[0] for row in table(html, "Completion by directorate on")}
    assert "Secret Directorate" in rows
    assert "Children's Services" not in html and "&lt;b&gt;Place" not in html
    for svg in charts_of(html).values():
        assert b"Children" not in svg and b"Place" not in svg
    assert "Secret Directorate" in svg_texts(charts_of(html)["directorate"])
    ours = council["hr"].get("/hr/report").get_data(as_text=True)
    assert "Secret Directorate" not in ours and "Other Shire" not in ours
    page = client.get("/hr/report").get_data(as_text=True)
    client.post("/hr/report.pdf", data=MultiDict([("csrf_token", csrf(page)), *date_args(today())]))
    assert [e.organisation_id for e in report_events(app)] == [other]


def test_without_a_published_policy_the_report_is_unavailable(
    app: Flask, council: dict[str, Any]
) -> None:
    hr = council["hr"]
    page = hr.get("/hr/settings").get_data(as_text=True)  # for its CSRF token
    app.config["POLICY_KEY"] = "no-such-policy"
    response = hr.get("/hr/report")
    assert response.status_code == 503
    assert "The policy has not been published yet" in response.get_data(as_text=True)
    response = hr.post(
        "/hr/report.pdf", data=MultiDict([("csrf_token", csrf(page)), *date_args(today())])
    )
    assert response.status_code == 503
    assert report_events(app) == []


def test_a_date_before_the_policy_came_into_force_is_an_error(
    app: Flask, council: dict[str, Any]
) -> None:
    with app.app_context():
        first = db.session.scalars(select(func.min(PolicyVersion.effective_date))).one()
    hr = council["hr"]
    assert hr.get("/hr/report", query_string=date_args(first)).status_code == 200
    response = hr.get("/hr/report", query_string=date_args(first - timedelta(days=1)))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert (
        'href="#date-day">No version of the policy was in force on that date: choose a later one'
        in html
    )
    assert CHART.findall(html) == []


def test_a_day_before_anyone_was_counted_still_has_its_charts(council: dict[str, Any]) -> None:
    """Everyone in the council fixture was added today: yesterday, nobody was counted."""
    response = council["hr"].get("/hr/report", query_string=date_args(today() - timedelta(days=1)))
    assert response.status_code == 200
    assert set(charts_of(response.get_data(as_text=True))) == {"trend", "directorate"}
