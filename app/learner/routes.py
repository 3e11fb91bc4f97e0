"""Learner views: thin wrappers that read the request, call a service and render."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

bp = Blueprint("learner", __name__, template_folder="templates")


@bp.get("/")
@login_required
def home() -> str:
    return render_template("learner/home.html", visit=current_user)
