"""HR's roster pages: choose a file, read its check (who is new, who leaves, what changes
for whom), then import exactly that file with one button. The file is kept server-side
between the two (services/roster.py: keep, kept, import_kept)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from flask import abort, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import GovFileInput, GovSubmitInput
from wtforms import SubmitField

from app.clock import utcnow
from app.db import db
from app.hr.routes import _page_items, bp
from app.models import RosterUpload
from app.services import audit, roster, sheets
from app.web import large_body

MAX_BYTES = sheets.MAX_FILE_BYTES
# The request around the file: the file at its limit, plus room for the form's other fields.
MAX_REQUEST_BYTES = MAX_BYTES + 64 * 1024
# People per page in each of the check page's lists.
PER_PAGE = 25
LISTS = ("new", "leaving", "changed")
# Kept in the (signed cookie) session across the redirect after a post: short texts only.
ERRORS_KEY = "roster_errors"
IMPORTED_KEY = "roster_imported"


class RosterForm(FlaskForm):
    # Which files are accepted is sheets.py's to say, alike for this page and the command.
    file = FileField(
        "Roster file", widget=GovFileInput(), validators=[FileRequired("Choose the roster file")]
    )
    submit = SubmitField("Check the file", widget=GovSubmitInput())


class ImportRosterForm(FlaskForm):
    """CSRF only: import the checked file."""

    submit = SubmitField("Import the roster", widget=GovSubmitInput())


@bp.get("/roster")
def roster_page() -> Any:
    form = RosterForm(formdata=None)
    errors = session.pop(ERRORS_KEY, None)
    if errors:
        form.file.errors = list(errors)
    return render_template("hr/roster.html", form=form)


@bp.post("/roster")
@large_body(MAX_REQUEST_BYTES)
def roster_upload() -> Any:
    form = RosterForm()
    if not form.validate_on_submit():
        session[ERRORS_KEY] = form.file.errors or ["Choose the roster file"]
        return redirect(url_for("hr.roster_page"))
    data = form.file.data.read(MAX_BYTES + 1)  # enough for read_file to refuse it
    filename = form.file.data.filename or "roster.csv"
    try:
        table = roster.read_file(data, filename)
    except roster.RosterFileError as exc:
        session[ERRORS_KEY] = [str(exc)]
        return redirect(url_for("hr.roster_page"))
    org_id = current_user.organisation_id
    planned = roster.plan(db.session(), org_id, table)
    upload = roster.keep(
        db.session(), org_id, current_user.person_id, filename, data, planned, utcnow()
    )
    db.session.commit()
    return redirect(url_for("hr.roster_check", token=upload.token))


def _kept_or_gone(token: str) -> RosterUpload | None:
    try:
        return roster.kept(
            db.session(), current_user.organisation_id, current_user.person_id, token, utcnow()
        )
    except roster.UploadGone:
        return None


def _paged(name: str, entries: list[roster.Entry], token: str) -> dict[str, Any]:
    """One list's page: the entries shown and govukPagination's parameters."""
    last = max(1, math.ceil(len(entries) / PER_PAGE))
    page = min(max(1, request.args.get(name, 1, type=int) or 1), last)
    others = {k: request.args.get(k, type=int) for k in LISTS if k != name}

    def href(number: int) -> str:
        args: dict[str, Any] = {k: v for k, v in others.items() if v and v > 1}
        args[name] = number
        return url_for("hr.roster_check", token=token, **args) + f"#{name}"

    return {
        "entries": entries[(page - 1) * PER_PAGE : page * PER_PAGE],
        "total": len(entries),
        "page": page,
        "last": last,
        "first_shown": (page - 1) * PER_PAGE + 1,
        "last_shown": min(page * PER_PAGE, len(entries)),
        "items": _page_items(page, last, href),
        "previous": href(page - 1) if page > 1 else None,
        "next": href(page + 1) if page < last else None,
    }


@bp.get("/roster/check/<token>")
def roster_check(token: str) -> Any:
    upload = _kept_or_gone(token)
    if upload is None:
        return render_template("hr/roster_gone.html"), 404
    planned = roster.plan_kept(db.session(), upload)
    listed = roster.review(planned)
    return render_template(
        "hr/roster_check.html",
        upload=upload,
        planned=planned,
        lists={name: _paged(name, getattr(listed, name), token) for name in LISTS},
        unchanged=len(planned.rows) - len(listed.new) - len(listed.changed),
        changed_since=not roster.unchanged_since_check(upload, planned),
        problem_rows=len({p.row for p in planned.problems}),
        form=ImportRosterForm(),
    )


@bp.post("/roster/check/<token>")
def roster_import(token: str) -> Any:
    form = ImportRosterForm()
    if not form.validate_on_submit():
        abort(400)
    upload = _kept_or_gone(token)
    if upload is None:
        return redirect(url_for("hr.roster_check", token=token))
    filename = upload.filename
    now = utcnow()
    try:
        # The page offers to skip the rows with problems whenever there are any: the
        # button says so, and the file cannot have changed since (it is the kept one).
        applied = roster.import_kept(db.session(), upload, now, skip_problems=True)
    except (roster.UploadGone, roster.RosterChanged):
        db.session.rollback()
        return redirect(url_for("hr.roster_check", token=token))
    audit.record(
        db.session(),
        current_user.organisation_id,
        "roster_import",
        now,
        actor_person_id=current_user.person_id,
        details={"file": filename, **asdict(applied)},
    )
    db.session.commit()
    session[IMPORTED_KEY] = asdict(applied)
    return redirect(url_for("hr.roster_imported"))


@bp.get("/roster/imported")
def roster_imported() -> Any:
    applied = session.get(IMPORTED_KEY)
    if not applied:
        return redirect(url_for("hr.roster_page"))
    return render_template("hr/roster_result.html", applied=applied)
