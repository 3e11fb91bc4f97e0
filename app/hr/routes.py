"""HR views. Every one is for the HR (or admin) role, and shows its own organisation only."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required

from app.clock import today
from app.db import db
from app.models import Person, PolicyVersion, Role
from app.services.acceptance import by_code
from app.services.attempts import question_statistics
from app.services.outbox import pending
from app.services.policies import current_version
from app.services.question_bank import current_bank

bp = Blueprint("hr", __name__, url_prefix="/hr", template_folder="templates")


@bp.before_request
@login_required
def require_hr() -> None:
    if current_user.role not in (Role.HR, Role.ADMIN):
        abort(403, "This page is for HR. Open the module from your learning portal as HR.")


@bp.get("/quiz-statistics")
def quiz_statistics() -> str:
    version = current_version(db.session(), current_app.config["POLICY_KEY"], today())
    bank = current_bank(db.session(), version.policy_id) if version else None
    stats = question_statistics(db.session(), current_user.organisation_id, bank) if bank else []
    return render_template("hr/quiz_statistics.html", stats=stats, bank=bank)


@bp.get("/verify")
def verify() -> Any:
    code = request.args.get("code", "").strip()
    acceptance = by_code(db.session(), current_user.organisation_id, code) if code else None
    person = version = None
    if acceptance is not None:
        person = db.session.get(Person, acceptance.person_id)
        version = db.session.get(PolicyVersion, acceptance.policy_version_id)
    status = 404 if code and acceptance is None else 200
    return render_template(
        "hr/verify.html", code=code, acceptance=acceptance, person=person, version=version
    ), status


@bp.get("/scores")
def scores() -> str:
    """Scores the LMS has not yet taken: what is pending, and why it failed."""
    return render_template(
        "hr/scores.html", items=pending(db.session(), current_user.organisation_id)
    )
