"""The team view: a manager's people (direct reports, or the whole tree), their status,
and reminders; for a teacher, their course's learners. A manager never sees anyone outside
their tree or the courses they teach; HR sees everyone."""

from __future__ import annotations

import io
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select

from app.clock import today, utcnow
from app.db import MAX_ID, db
from app.manager.emails import lms_link, renderer, smtp_settings
from app.models import Person, Reminder, Role
from app.services import audit, exports, reminders
from app.services.courses import taught_by
from app.services.mail import Mailer
from app.services.reports import COLUMNS, OPEN, Filters, NoPolicy, Scope, people_frame, scope_for
from app.services.status import State
from app.services.teams import team_of

bp = Blueprint("manager", __name__, url_prefix="/team", template_folder="templates")
PAGE_SIZE = 100


class RemindForm(FlaskForm):
    """CSRF only: the people come as checkbox values, checked against the team below."""


@bp.before_request
@login_required
def require_team() -> None:
    if current_user.role in (Role.HR, Role.ADMIN, Role.MANAGER):
        return  # a manager nobody reports to yet is told so, and sees their course (team())
    if not current_user.manages_anyone:
        abort(403, "This page is for managers: nobody reports to you in HR's records.")


def _scope() -> Scope:
    try:
        return scope_for(
            db.session(), current_user.organisation_id, current_app.config["POLICY_KEY"], today()
        )
    except (LookupError, NoPolicy):
        abort(503, "The policy has not been published yet.")


def _team(whole_tree: bool) -> list[int] | None:
    """The ids this person may see; None means the whole organisation (HR)."""
    if current_user.role in (Role.HR, Role.ADMIN):
        return None
    return team_of(
        db.session(),
        current_user.organisation_id,
        current_user.person_id,
        current_user.launch_id,
        whole_tree,
    )


def _frame(whole_tree: bool, states: tuple[str, ...], overdue: bool) -> Any:
    team = _team(whole_tree)
    if team is not None and not team:
        return people_frame(db.session(), _scope(), Filters(person_ids=()))
    filters = Filters(
        statuses=states, overdue_only=overdue, person_ids=tuple(team) if team is not None else None
    )
    return people_frame(db.session(), _scope(), filters)


def _wanted() -> tuple[bool, tuple[str, ...], bool]:
    whole_tree = request.args.get("tree") == "1"
    states = tuple(s for s in request.args.getlist("status") if s in {x.value for x in State})
    return whole_tree, states, request.args.get("overdue") == "1"


def _courses() -> list[dict[str, Any]]:
    """The courses this person teaches, each with its learners' rows (from the membership
    `roster sync-lms` stored: this page never waits on the LMS)."""
    if current_user.role is not Role.MANAGER:
        return []
    courses = taught_by(db.session(), current_user.organisation_id, current_user.person_id)
    shown = []
    for course in courses:
        frame = people_frame(db.session(), _scope(), Filters(person_ids=course.learner_ids))
        shown.append({"course": course, "rows": frame.to_dict("records")})
    return shown


@bp.get("/")
def team() -> Any:
    hr = current_user.role in (Role.HR, Role.ADMIN)
    if not hr and not current_user.manages_anyone:
        return render_template("manager/no_team.html", courses=_courses())
    whole_tree, states, overdue = _wanted()
    if hr:  # HR has one list of people, among HR's pages: this page's old address leads there
        return redirect(url_for("hr.people", status=list(states), overdue="y" if overdue else None))
    frame = _frame(whole_tree, states, overdue)
    page = max(1, request.args.get("page", 1, type=int))
    rows = frame.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE].to_dict("records")
    return render_template(
        "manager/team.html",
        rows=rows,
        total=len(frame),
        page=page,
        page_size=PAGE_SIZE,
        whole_tree=whole_tree,
        states=states,
        overdue=overdue,
        all_states=list(State),
        form=RemindForm(),
        open_states=OPEN,
        hr=hr,
        courses=[] if hr else _courses(),
    )


@bp.get("/team.csv")
def team_csv() -> Response:
    whole_tree, states, overdue = _wanted()
    frame = _frame(whole_tree, states, overdue)
    buffer = io.StringIO()
    exports.to_csv(frame[COLUMNS], buffer)
    scope = _scope()
    # Like HR's exports: a file of people's records leaving the tool is an audit event.
    audit.record(
        db.session(),
        scope.organisation.id,
        "export",
        utcnow(),
        actor_person_id=current_user.person_id,
        details={
            "format": "csv",
            "team": "whole tree" if whole_tree else "direct reports",
            "filters": {"status": list(states), "overdue_only": overdue},
            "rows": len(frame),
        },
    )
    db.session.commit()
    org, day = exports.slug(scope.organisation.name), scope.when.today.isoformat()
    name = f"corporate-parenting-team-{org}-{day}.csv"
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/remind")
def remind() -> Any:
    form = RemindForm()
    if not form.validate_on_submit():
        abort(400, "The form has expired. Go back, reload the page and try again.")
    whole_tree = request.form.get("tree") == "1"
    team = _team(whole_tree=True)  # anyone in the tree may be reminded
    if request.form.get("everyone_overdue"):
        frame = _frame(whole_tree, (), overdue=True)
        chosen = [int(p) for p in frame["person_id"].tolist()]
    else:
        try:
            chosen = [int(p) for p in request.form.getlist("person")]
        except ValueError:
            abort(400, "The people chosen could not be read.")
        if any(not 0 < p <= MAX_ID for p in chosen):  # HR has no team to check them against
            abort(400, "The people chosen could not be read.")
    if team is not None and any(p not in team for p in chosen):
        current_app.logger.warning(
            "person %s tried to remind people outside their team", current_user.person_id
        )
        abort(403, "You can only remind people in your team.")
    if not chosen:
        return render_template(
            "manager/reminded.html", sent=[], skipped=[], failed=[], none_chosen=True
        ), 400
    scope = _scope()
    now = utcnow()
    selection = reminders.choose_manual(db.session(), scope, chosen, now)
    settings = reminders.settings_of(scope.organisation)
    created = reminders.record(
        db.session(),
        scope.organisation.id,
        selection.drafts,
        renderer(scope.organisation, lms_link(scope.organisation)),
        settings,
        now,
        sent_by=current_user.person_id,
    )
    db.session.commit()
    with Mailer(smtp_settings()) as mailer:
        reminders.deliver(db.session(), mailer, now, only=[r.id for r in created])
    done = db.session.scalars(select(Reminder).where(Reminder.id.in_([r.id for r in created])))
    names = dict(
        db.session.execute(select(Person.id, Person.name).where(Person.id.in_(chosen))).all()
    )
    sent: list[tuple[str, Reminder]] = []
    failed: list[tuple[str, Reminder]] = []
    for reminder in done:
        (sent if reminder.outcome == "sent" else failed).append(
            (names.get(reminder.person_id) or reminder.to_address, reminder)
        )
    return render_template(
        "manager/reminded.html",
        sent=sent,
        failed=failed,
        skipped=selection.skipped,
        none_chosen=False,
        back=url_for("manager.team", tree="1" if whole_tree else None),
    )
