"""HR's roster page: check a roster file, then import it (all or only the good rows)."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from govuk_frontend_wtf.wtforms_widgets import GovFileInput, GovRadioInput, GovSubmitInput
from wtforms import RadioField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from app.clock import utcnow
from app.db import db
from app.hr.routes import bp
from app.services import audit, roster, sheets
from app.web import large_body

MAX_BYTES = sheets.MAX_FILE_BYTES
# The request around the file: the file at its limit, plus room for the form's other fields.
MAX_REQUEST_BYTES = MAX_BYTES + 64 * 1024


class RosterForm(FlaskForm):
    file = FileField(
        "Roster file",
        widget=GovFileInput(),
        # Which files are accepted is sheets.py's to say, alike for this page and the command.
        validators=[FileRequired("Choose the roster file")],
        description="Columns: employee id, first name, last name, email, directorate, "
        "department, manager (employee id or email) and start date. Other "
        "columns are ignored.",
    )
    action = RadioField(
        "What do you want to do?",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("check", "Check the file and show what would change"),
            SelectChoice("import", "Import it, if every row is right"),
            SelectChoice("import-good", "Import the good rows, and skip rows with problems"),
        ],
        default="check",
        validators=[InputRequired("Choose what you want to do")],
    )
    submit = SubmitField("Continue", widget=GovSubmitInput())


@bp.route("/roster", methods=["GET", "POST"])
@large_body(MAX_REQUEST_BYTES)
def roster_page() -> Any:
    form = RosterForm()
    if not form.validate_on_submit():
        status = 400 if form.errors else 200
        return render_template("hr/roster.html", form=form), status
    data = form.file.data.read(MAX_BYTES + 1)  # enough for read_file to refuse it
    try:
        frame = roster.read_file(data, form.file.data.filename or "roster.csv")
    except roster.RosterFileError as exc:
        form.file.errors = [str(exc)]
        return render_template("hr/roster.html", form=form), 400
    org_id = current_user.organisation_id
    planned = roster.plan(db.session(), org_id, frame)
    applied = None
    refused = False
    if form.action.data in ("import", "import-good"):
        if planned.problems and form.action.data == "import":
            refused = True
        else:
            now = utcnow()
            applied = roster.apply(db.session(), org_id, planned, now)
            audit.record(
                db.session(),
                org_id,
                "roster_import",
                now,
                actor_person_id=current_user.person_id,
                details={"file": form.file.data.filename, **applied.__dict__},
            )
            db.session.commit()
    return render_template(
        "hr/roster_result.html",
        planned=planned,
        applied=applied,
        refused=refused,
        form=RosterForm(formdata=None),
    )
