"""The accessibility statement and the privacy notice: public (no launch), GET only.

Someone must be able to read both before they ever open the module, and from any page's
footer, so neither needs a visit; with one, they show the visitor's own council's details.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from app.db import db
from app.services.about import (
    PRIVACY_UPDATED,
    STATEMENT_PREPARED,
    STATEMENT_REVIEWED,
    AboutFacts,
    about_facts,
)

bp = Blueprint("about", __name__, template_folder="templates")


def _facts() -> AboutFacts:
    visiting = current_user and current_user.is_authenticated
    return about_facts(db.session(), current_user.organisation_id if visiting else None)


@bp.get("/accessibility")
def accessibility() -> str:
    return render_template(
        "about/accessibility.html",
        facts=_facts(),
        session_hours=current_app.config["SESSION_HOURS"],
        prepared=STATEMENT_PREPARED,
        reviewed=STATEMENT_REVIEWED,
    )


@bp.get("/privacy")
def privacy() -> str:
    return render_template("about/privacy.html", facts=_facts(), updated=PRIVACY_UPDATED)
