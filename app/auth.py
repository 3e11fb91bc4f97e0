"""Who is visiting: flask-login backed by the launch (visit) rows in the database."""

from __future__ import annotations

from flask import current_app, render_template
from flask_login import LoginManager

from app.db import db, utcnow
from app.models import Launch, Role
from app.services.launches import visit_for_token

login_manager = LoginManager()
# The tool has no sign-in page: people arrive from their LMS.
login_manager.login_view = None
login_manager.session_protection = "basic"


class Visit:
    """The current user: a person in one role, from one launch."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, launch: Launch, token: str) -> None:
        self.launch = launch
        self.token = token
        self.person = launch.person
        self.organisation = launch.organisation
        self.role: Role = launch.role

    def get_id(self) -> str:
        return self.token

    @property
    def name(self) -> str:
        return self.person.name


@login_manager.user_loader
def load_visit(token: str) -> Visit | None:
    launch = visit_for_token(db.session(), token, utcnow())
    return Visit(launch, token) if launch else None


@login_manager.unauthorized_handler
def unauthorised() -> tuple[str, int]:
    current_app.logger.info("unauthenticated request refused")
    return render_template("errors/not_signed_in.html"), 401
