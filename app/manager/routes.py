"""The team view: a manager's people (direct reports, or the whole tree), their status,
and reminders; for a teacher, their course's learners. A manager never sees anyone outside
their tree or the courses they teach; HR sees everyone."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import pandas as pd
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

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
NOTICE = "team_notice"  # why nobody was reminded, for the team page after a redirect
SKIPPED = "team_reminder_skipped"  # who was left out of the last batch sent


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
        rows = frame.to_dict("records")
        for row in rows:
            row["completed_on"] = _completed_on(row["accepted_on"])
        shown.append({"course": course, "rows": rows})
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
    settings = reminders.settings_of(_scope().organisation)
    last = reminders.last_reminded(db.session(), [int(r["person_id"]) for r in rows])
    now = utcnow()
    for row in rows:
        when = last.get(int(row["person_id"]))
        row["reminded_at"] = when
        row["again_on"] = (
            reminders.remindable_from(when, settings)
            if when is not None and reminders.too_soon(when, now, settings)
            else None
        )
        row["completed_on"] = _completed_on(row["accepted_on"])
    # The whole team, whatever the filters: whether anyone is overdue decides the button.
    unfiltered = not states and not overdue
    summary = reminders.overdue_summary(frame if unfiltered else _frame(whole_tree, (), False))
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
        summary=summary,
        notice=session.pop(NOTICE, None),
        open_states=OPEN,
        hr=hr,
        courses=[] if hr else _courses(),
    )


def _completed_on(accepted_on: Any) -> date | None:
    """The frame's London date of the acceptance (a paper one has no time): NaT when none."""
    return accepted_on if isinstance(accepted_on, date) and pd.notna(accepted_on) else None


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


def _chosen(values: MultiDict[str, str], whole_tree: bool, checked: bool) -> list[int]:
    """The people a reminder is for: those ticked, or everyone in the view who is overdue
    now; once `checked`, only those of them the check page named. Anyone outside the
    person's tree is refused outright."""
    try:
        ticked = [int(p) for p in values.getlist("person")]
    except ValueError:
        abort(400, "The people chosen could not be read.")
    if any(not 0 < p <= MAX_ID for p in ticked):  # HR has no team to check them against
        abort(400, "The people chosen could not be read.")
    team = _team(whole_tree=True)  # anyone in the tree may be reminded
    if team is not None and any(p not in team for p in ticked):
        current_app.logger.warning(
            "person %s tried to remind people outside their team", current_user.person_id
        )
        abort(403, "You can only remind people in your team.")
    if values.get("everyone_overdue"):
        frame = _frame(whole_tree, (), overdue=True)
        overdue = [int(p) for p in frame["person_id"].tolist()]
        return [p for p in overdue if p in ticked] if checked and ticked else overdue
    return ticked


def _sender() -> str:
    me = db.session.get(Person, current_user.person_id)
    return me.display_name if me is not None else ""


def _is_hr() -> bool:
    return current_user.role in (Role.HR, Role.ADMIN)


def _list_page(whole_tree: bool) -> str:
    """Where the reminder pages lead back to: HR's one list of people, or the team."""
    if _is_hr():
        return url_for("hr.people")
    return url_for("manager.team", tree="1" if whole_tree else None)


def _back_text() -> str:
    return "Back to People" if _is_hr() else "Back to your team"


def _nobody(everyone_overdue: bool, whole_tree: bool) -> Any:
    """Back to the list, saying why nobody was reminded (Post/Redirect/Get)."""
    session[NOTICE] = "nobody_overdue" if everyone_overdue else "none_chosen"
    return redirect(_list_page(whole_tree))


@bp.get("/remind")
def check() -> Any:
    """The e-mail as it will be sent, and to whom, before anything is sent."""
    whole_tree = request.args.get("tree") == "1"
    everyone = bool(request.args.get("everyone_overdue"))
    chosen = _chosen(request.args, whole_tree, checked=False)  # ticks beside the button: moot
    if not chosen:
        return _nobody(everyone, whole_tree)
    scope = _scope()
    selection = reminders.choose_manual(db.session(), scope, chosen, utcnow(), _sender())
    preview = None
    if selection.drafts:
        first = selection.drafts[0]
        render = renderer(scope.organisation, lms_link(scope.organisation))
        subject, text, _ = render(
            first.kind,
            {**first.facts, "name": first.name},
            reminders.settings_of(scope.organisation),
        )
        preview = {"name": first.name, "subject": subject, "text": text}
    return render_template(
        "manager/check.html",
        drafts=selection.drafts,
        skipped=selection.skipped,
        preview=preview,
        everyone_overdue=everyone,
        whole_tree=whole_tree,
        form=RemindForm(),
        back=_list_page(whole_tree),
        back_text=_back_text(),
    )


@bp.post("/remind")
def remind() -> Any:
    form = RemindForm()
    if not form.validate_on_submit():
        abort(400, "The form has expired. Go back, reload the page and try again.")
    whole_tree = request.form.get("tree") == "1"
    everyone = bool(request.form.get("everyone_overdue"))
    chosen = _chosen(request.form, whole_tree, checked=True)
    if not chosen:
        return _nobody(everyone, whole_tree)
    scope = _scope()
    now = utcnow()
    selection = reminders.choose_manual(db.session(), scope, chosen, now, _sender())
    if not selection.drafts:  # completed or reminded since the check page: nothing to send
        session[NOTICE] = "nobody_to_remind"
        return redirect(_list_page(whole_tree))
    created = reminders.record(
        db.session(),
        scope.organisation.id,
        selection.drafts,
        renderer(scope.organisation, lms_link(scope.organisation)),
        reminders.settings_of(scope.organisation),
        now,
        sent_by=current_user.person_id,
    )
    db.session.commit()
    with Mailer(smtp_settings()) as mailer:
        reminders.deliver(db.session(), mailer, now, only=[r.id for r in created])
    # The results page finds this batch again by its moment; those left out since the
    # check page are few, and said by name.
    session[SKIPPED] = {"at": now.isoformat(), "names": [s.name for s in selection.skipped][:50]}
    return redirect(
        url_for("manager.reminded", at=now.isoformat(), tree="1" if whole_tree else None)
    )


@bp.get("/reminded")
def reminded() -> Any:
    try:
        at = datetime.fromisoformat(request.args.get("at", ""))
    except ValueError:
        abort(404)
    if at.tzinfo is None:
        abort(404)
    done = db.session.scalars(
        select(Reminder)
        .where(
            Reminder.organisation_id == current_user.organisation_id,
            Reminder.sent_by_person_id == current_user.person_id,
            Reminder.created_at == at,
        )
        .order_by(Reminder.id)
    ).all()
    if not done:
        abort(404)
    ids = [r.person_id for r in done]
    names = {
        p.id: p.display_name for p in db.session.scalars(select(Person).where(Person.id.in_(ids)))
    }
    sent: list[tuple[str, Reminder]] = []
    failed: list[tuple[str, Reminder]] = []
    for reminder in done:
        name = names.get(reminder.person_id) or reminder.to_address
        (sent if reminder.outcome == "sent" else failed).append((name, reminder))
    return render_template(
        "manager/reminded.html",
        sent=sent,
        failed=failed,
        skipped=left["names"]
        if (left := session.get(SKIPPED)) and left["at"] == at.isoformat()
        else [],
        back=_list_page(request.args.get("tree") == "1"),
        back_text=_back_text(),
    )
