"""Who is visiting: flask-login backed by the launch (visit) rows in the database."""

from __future__ import annotations

from functools import cached_property

from flask import current_app, render_template
from flask_login import LoginManager

from app.clock import utcnow
from app.db import db
from app.models import Role
from app.services.launches import VisitInfo, visit_for_token
from app.services.teams import mentees_of

login_manager = LoginManager()
# The tool has no sign-in page: people arrive from their LMS.
login_manager.login_view = None
login_manager.session_protection = "basic"


class Visit:
    """The current user: a person in one role, from one launch."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, info: VisitInfo, token: str) -> None:
        self.info = info
        self.token = token
        self.launch_id = info.launch_id
        self.person_id = info.person_id
        self.organisation = info.organisation
        self.organisation_id = info.organisation.id
        self.organisation_name = info.organisation.name
        self.name = info.name
        self.role: Role = info.role

    def get_id(self) -> str:
        return self.token

    @cached_property
    def manages_anyone(self) -> bool:
        """Someone reports to them in HR's roster, or they mentor someone known here."""
        if self.info.has_reports:
            return True
        if not self.info.mentor_scope:
            return False
        return bool(mentees_of(db.session(), self.organisation_id, self.launch_id))


class NewVisit:
    """What login_user needs at launch: the session token. Later requests load a Visit."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, token: str) -> None:
        self.token = token

    def get_id(self) -> str:
        return self.token


@login_manager.user_loader
def load_visit(token: str) -> Visit | None:
    info = visit_for_token(db.session(), token, utcnow())
    return Visit(info, token) if info else None


@login_manager.unauthorized_handler
def unauthorised() -> tuple[str, int]:
    current_app.logger.info("unauthenticated request refused")
    return render_template("errors/not_signed_in.html"), 401
