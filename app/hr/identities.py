"""HR's page of identities to review: LMS accounts joined to roster entries by a key their
users can set (awaiting confirmation), and launches that matched an already-linked entry."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from app.clock import utcnow
from app.db import db
from app.hr.routes import bp
from app.services import identities


class ReviewForm(FlaskForm):
    """CSRF only: the person comes in the URL and is checked against the organisation."""


@bp.get("/identities")
def identities_page() -> str:
    review = identities.to_review(db.session(), current_user.organisation_id)
    return render_template(
        "hr/identities.html",
        review=review,
        form=ReviewForm(),
        done=request.args.get("done"),
        kept=request.args.get("kept", type=int),
    )


_ACTIONS = {
    "confirm": identities.confirm_join,
    "undo": identities.undo_join,
    "reviewed": identities.clash_reviewed,
}


@bp.post("/identities/<int:person_id>/<action>")
def identity_action(person_id: int, action: str) -> Any:
    if action not in _ACTIONS:
        abort(404)
    if not ReviewForm().validate_on_submit():
        abort(400, "The form has expired. Go back, reload the page and try again.")
    try:
        _ACTIONS[action](
            db.session(),
            current_user.organisation_id,
            person_id,
            utcnow(),
            actor_person_id=current_user.person_id,
        )
    except identities.NotForReview:
        abort(404)
    except identities.HasRecords:
        db.session.rollback()
        return redirect(url_for("hr.identities_page", done="has-records", kept=person_id))
    db.session.commit()
    return redirect(url_for("hr.identities_page", done=action))
