"""The Corporate Parenting Committee's report in HR's pages: the page, with its charts drawn
into it, and its PDF download.

Registered on the HR blueprint, so its role check (HR or admin) covers every view here; each
report is built for the visitor's own organisation only (committee.build takes its id).
"""

from __future__ import annotations

import base64
from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from app.clock import today, utcnow
from app.db import db
from app.hr.forms import ReportForm
from app.hr.routes import _scope, bp
from app.services import audit, committee
from app.services.committee import CommitteeReport
from app.services.reports import NoPolicy


class ReportPdfForm(FlaskForm):
    """CSRF only; the date and period ride along as hidden fields. The PDF is a POST, as the
    exports are, because each download is recorded in the audit trail: a GET that writes
    could be set off by another site's link or image, and a record of downloads nobody
    asked for would be worthless."""


def _read(source: MultiDict[str, str]) -> ReportForm:
    """The date and period sent, each defaulting when it was not sent at all (today in
    London, the last quarter): HR's menu links to the page with neither. A date sent with
    its boxes empty is an error, as on every date input."""
    values = MultiDict(source)
    day = today()
    if "date" not in values:
        values.setlist("date", [str(day.day), str(day.month), str(day.year)])
    values.setdefault("period", "quarter")
    form = ReportForm(formdata=values)
    form.check(day)
    return form


def _build(form: ReportForm) -> CommitteeReport | None:
    """The report for the form's date and period; None, with the reason on the date, when
    no version of the policy was in force on that day (the policy is published: _scope())."""
    assert form.date.data is not None and form.period.data is not None
    try:
        return committee.build(
            db.session(),
            current_user.organisation_id,
            current_app.config["POLICY_KEY"],
            form.date.data,
            form.period.data,
            utcnow(),
        )
    except NoPolicy:
        form.date.errors = [
            "No version of the policy was in force on that date: choose a later one"
        ]
        return None


def _params(report: CommitteeReport) -> dict[str, Any]:
    """The date and period that ask for this report again (the PDF button's fields)."""
    day = report.day
    return {"date": [day.day, day.month, day.year], "period": report.period}


@bp.get("/report")
def report_page() -> Any:
    _scope()  # no policy published: the same 503 page as the dashboard's
    form = _read(request.args)
    report = None if form.errors else _build(form)
    if report is None:
        # As the people list and the exports answer a filter they cannot use.
        return render_template("hr/report.html", form=form, report=None), 400
    return render_template(
        "hr/report.html",
        form=form,
        report=report,
        params=_params(report),
        pdf_form=ReportPdfForm(),
        charts=_charts(report),
        min_answers=committee.MIN_ANSWERS,
    )


def _charts(report: CommitteeReport) -> dict[str, dict[str, str]]:
    """Each chart as an image in the page itself (a data: address, which the CSP's img-src
    allows), with its text alternative. Drawn from the report the page shows: a chart served
    at an address of its own would build the report again for each image (about a second
    each for a hundred thousand people), and could show figures taken at another moment."""
    from app.services import committee_charts  # matplotlib: loaded once a chart is drawn

    def data(svg: bytes) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")

    return {
        "trend": {
            "src": data(committee_charts.trend_chart(report, "svg")),
            "alt": committee_charts.trend_alt(report),
        },
        "directorate": {
            "src": data(committee_charts.directorate_chart(report, "svg")),
            "alt": committee_charts.directorate_alt(report),
        },
    }


@bp.post("/report.pdf")
def report_pdf() -> Response:
    if not ReportPdfForm().validate_on_submit():
        abort(400, "The form has expired. Go back, reload the page and try again.")
    _scope()
    form = _read(request.form)
    report = None if form.errors else _build(form)
    if report is None:  # shown, with what is wrong, on the page itself
        sent: dict[str, Any] = {k: request.form.getlist(k) for k in ("date", "period")}
        return redirect(url_for("hr.report_page", **sent))
    from app.services import committee_pdf  # matplotlib: loaded once a chart is drawn

    pdf = committee_pdf.render(report)
    audit.record(
        db.session(),
        current_user.organisation_id,
        "committee_report",
        utcnow(),
        actor_person_id=current_user.person_id,
        details={
            "date": report.day.isoformat(),
            "period": report.period,
            "councillors_named": report.councillors_not_completed is not None,
        },
    )
    # Recorded before a byte leaves the tool: a download that could not be recorded is
    # refused (the commit raises) rather than sent.
    db.session.commit()
    name = f"corporate-parenting-report-{report.day.isoformat()}-{report.period}.pdf"
    response = Response(pdf, mimetype="application/pdf")
    # Quoted as written (its characters are a date, a period and hyphens: nothing to escape).
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
