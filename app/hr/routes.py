"""HR views. Every one is for the HR (or admin) role, and shows its own organisation only."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import date
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
from werkzeug.datastructures import MultiDict

from app import score_sender
from app.clock import long_date, long_datetime, today, utcnow
from app.db import db
from app.hr.forms import (
    DownloadListForm,
    LegalHoldForm,
    PaperAcceptanceForm,
    PeopleFilterForm,
    RecordPaperAcceptanceForm,
    RegistrationUrlForm,
    RetryScoreForm,
    SettingsForm,
    SubjectAccessForm,
    UnitFilterForm,
)
from app.manager.routes import NOTICE as REMINDER_NOTICE
from app.models import Acceptance, Organisation, Person, PolicyVersion, Role
from app.services import anchoring, organisations
from app.services import people as people_service
from app.services.acceptance import AlreadyAccepted, by_code, declaration_text
from app.services.attempts import MIN_FOR_DISCRIMINATION, question_statistics
from app.services.content_pack import when_unset
from app.services.exports import export
from app.services.organisations import MAX_DETAIL
from app.services.outbox import pending, retry
from app.services.policies import current_version
from app.services.question_bank import current_bank
from app.services.reports import (
    Filters,
    NoPolicy,
    Scope,
    count_people,
    people_frame,
    scope_for,
    units,
)
from app.services.reports import dashboard as dashboard_figures
from app.services.settings import (
    MAX_RECIPIENTS_TEXT,
    SettingsInvalid,
    change_settings,
    settings_of,
)
from app.services.status import State, person_status

bp = Blueprint("hr", __name__, url_prefix="/hr", template_folder="templates")
PAGE_SIZE = 50
HR_ROLES = (Role.HR, Role.ADMIN)

# HR's pages, shown in the service navigation on HR's pages in place of the one "HR" link
# that app/web.py gives HR people everywhere else (see hr/layout.html): (endpoint, text,
# the endpoints that count as inside it). A new HR page joins by adding a line here.
HR_PAGES: list[tuple[str, str, tuple[str, ...]]] = [
    ("hr.dashboard", "Dashboard", ()),
    ("hr.report_page", "Committee report", ()),
    (
        "hr.people",
        "People",
        ("hr.person", "hr.record_acceptance", "hr.check_paper_acceptance", "hr.legal_hold"),
    ),
    ("hr.roster_page", "Roster", ("hr.roster_check", "hr.roster_imported")),
    ("hr.identities_page", "Identities to review", ()),
    ("hr.exports", "Exports", ()),
    ("hr.api_tokens_page", "API tokens", ("hr.revoke_api_token_confirm",)),
    ("hr.verify", "Verify a certificate", ()),
    ("hr.audit_trail", "Audit trail", ()),
    ("hr.quiz_statistics", "Quiz statistics", ()),
    ("hr.scores", "Scores for the portal", ()),
    ("hr.settings", "Settings", ()),
]


@bp.before_request
@login_required
def require_hr() -> None:
    if current_user.role not in HR_ROLES:
        abort(403, "This page is for HR. Open the module from your learning portal as HR.")


@bp.context_processor
def hr_navigation() -> dict[str, Any]:
    items = [
        {
            "href": url_for(endpoint),
            "text": text,
            "current": request.endpoint == endpoint,
            "active": request.endpoint in inside,
        }
        for endpoint, text, inside in HR_PAGES
        if endpoint in current_app.view_functions
    ]
    return {"hr_navigation": items}


@bp.app_template_filter("accepted_when")
def accepted_when(acceptance: Acceptance) -> str:
    """When an acceptance was made: "4 December 2026" where only the day is known (a paper
    declaration), else with its time, "4 December 2026 at 2:05pm"."""
    if acceptance.accepted_on is not None:
        return long_date(acceptance.accepted_on)
    return long_datetime(acceptance.accepted_at)


@bp.app_template_filter("iso_long_date")
def iso_long_date(value: str) -> str:
    """A date stored as text (YYYY-MM-DD, as audit events hold them) the way pages show it."""
    try:
        return long_date(date.fromisoformat(value))
    except (TypeError, ValueError):
        return str(value)


def _scope() -> Scope:
    try:
        return scope_for(
            db.session(), current_user.organisation_id, current_app.config["POLICY_KEY"], today()
        )
    except (LookupError, NoPolicy):
        abort(503, "The policy has not been published yet. Please tell your administrator.")


def _person_or_404(person_id: int) -> Person:
    person = people_service.person_in(db.session(), current_user.organisation_id, person_id)
    if person is None:
        abort(404)
    return person


def _choices(everything: str, values: list[str]) -> list[tuple[str, str]]:
    return [("", everything), *((v, v) for v in values)]


# -- figures and people ----------------------------------------------------------------------


@bp.get("/")
def dashboard() -> Any:
    scope = _scope()
    directorates, departments = units(db.session(), scope.organisation.id)
    form = UnitFilterForm(formdata=request.args)
    form.directorate.choices = _choices("All directorates", directorates)
    form.department.choices = _choices("All departments", departments)
    filters = Filters(
        directorate=form.directorate.data or None,
        department=form.department.data or None,
        include_leavers=bool(form.leavers.data),
    )
    figures = dashboard_figures(db.session(), scope, filters)
    return render_template(
        "hr/dashboard.html",
        figures=figures,
        form=form,
        filters=filters,
        states=list(State),
        most_weekly=max((n for _, n in figures.weekly), default=0),
    )


def _page_items(page: int, last: int, href: Callable[[int], str]) -> list[dict[str, Any]]:
    """govukPagination's items: first, last, and the pages either side of this one."""
    items: list[dict[str, Any]] = []
    previous = 0
    for number in sorted({1, last, page - 1, page, page + 1}):
        if not 1 <= number <= last:
            continue
        if previous and number - previous > 1:
            items.append({"ellipsis": True})
        items.append({"number": number, "href": href(number), "current": number == page})
        previous = number
    return items


def _list_filters(source: Any) -> tuple[PeopleFilterForm, Filters, bool]:
    """The people list's filters from a query string (the list) or a form (its download):
    the form to show back, the Filters it means, and whether every value could be read."""
    session = db.session()
    organisation_id = current_user.organisation_id
    directorates, departments = units(session, organisation_id)
    form = PeopleFilterForm(formdata=source)
    form.directorate.choices = _choices("All directorates", directorates)
    form.department.choices = _choices("All departments", departments)
    form.manager.choices = [
        ("", "Any manager"),
        *(
            (str(m.id), m.display_name or f"Person {m.id}")
            for m in people_service.managers(session, organisation_id)
        ),
    ]
    valid = form.validate()
    states = {s.value for s in State}
    manager = form.manager.data or ""
    filters = Filters(
        statuses=tuple(s for s in (form.status.data or []) if s in states),
        directorate=form.directorate.data or None,
        department=form.department.data or None,
        manager_id=int(manager) if manager.isdecimal() and len(manager) < 10 else None,
        overdue_only=bool(form.overdue.data),
        elected_member=form.ROLES.get(form.role.data or ""),
        childrens_workforce=form.CHILDRENS.get(form.childrens.data or ""),
        accepted_from=form.accepted_from.data,
        accepted_to=form.accepted_to.data,
        include_leavers=bool(form.leavers.data),
    )
    return form, filters, valid


def _list_args(source: Any) -> dict[str, Any]:
    """The list's own parameters that are set: kept on its pages, links and download."""
    return {
        k: values
        for k, values in source.to_dict(flat=False).items()
        if k in PeopleFilterForm.PARAMS and any(values)
    }


@bp.get("/people")
def people() -> Any:
    """Everyone HR looks after, filtered: the one list of people (the dashboard's figures and
    the old "Everyone's progress" page lead here)."""
    scope = _scope()
    dbs = db.session()
    form, filters, valid = _list_filters(request.args)
    total = count_people(dbs, scope, filters)
    last = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), last)
    chosen = people_frame(dbs, scope, filters, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    rows = chosen.astype(object).where(pd.notna(chosen), None).to_dict("records")
    args = _list_args(request.args)

    # Reminders start here for HR (the team pages' check-and-send flow, organisation-wide).
    overdue_total = count_people(dbs, scope, Filters(overdue_only=True))

    def href(number: int) -> str:
        return url_for("hr.people", **args, page=number)

    return render_template(
        "hr/people.html",
        form=form,
        rows=rows,
        total=total,
        page=page,
        last=last,
        first_shown=(page - 1) * PAGE_SIZE + 1,
        last_shown=min(page * PAGE_SIZE, total),
        items=_page_items(page, last, href),
        previous=href(page - 1) if page > 1 else None,
        following=href(page + 1) if page < last else None,
        filtered=bool(args),
        hidden=[(k, v) for k, values in args.items() for v in values],
        download_form=DownloadListForm(),
        overdue_total=overdue_total,
        notice=session.pop(REMINDER_NOTICE, None),
    ), (200 if valid else 400)


@bp.post("/people/download")
def people_download() -> Any:
    """The list as it is filtered, as a CSV or Excel file (recorded in the audit trail)."""
    form = DownloadListForm()
    if not form.validate_on_submit():
        abort(400, "The form has expired. Go back, reload the page and try again.")
    _, filters, valid = _list_filters(request.form)
    if not valid:  # shown, with what is wrong, on the list itself
        return redirect(url_for("hr.people", **_list_args(request.form)))
    try:
        result = export(
            db.session(),
            current_user.organisation_id,
            current_app.config["POLICY_KEY"],
            filters,
            form.format.data or "",
            utcnow(),
            actor_person_id=current_user.person_id,
        )
    except NoPolicy:
        abort(503, "The policy has not been published yet. Please tell your administrator.")
    db.session.commit()
    return attachment(result)


def attachment(result: Any) -> Response:
    """An export as a download: people's records, so never cached. Streamed from its file a
    block at a time; the file is closed (and, being temporary, removed) at the end, or when
    the download is abandoned."""

    def blocks() -> Iterator[bytes]:
        with result.file:
            while block := result.file.read(64 * 1024):
                yield block

    response = Response(blocks(), mimetype=result.content_type)
    response.headers.set("Content-Disposition", "attachment", filename=result.filename)
    response.content_length = result.size
    response.headers["Cache-Control"] = "no-store"
    return response


# -- one person ------------------------------------------------------------------------------


@bp.get("/people/<int:person_id>")
def person(person_id: int) -> str:
    found = _person_or_404(person_id)
    scope = _scope()
    record = people_service.person_record(
        db.session(), scope.organisation, found, scope.version, scope.when
    )
    return render_template(
        "hr/person.html",
        record=record,
        person=found,
        state=State,
        version=scope.version,
        done=request.args.get("done", ""),
        today=scope.when.today,
        access_form=SubjectAccessForm(),
    )


# An acceptance recorded from a paper declaration: enter -> check -> record. What was entered
# (and any errors) waits in the session between the steps, so every POST redirects.
PAPER_KEY = "paper_acceptance"
NOTE_LIMIT = 2000


def _paper_saved(person_id: int) -> dict[str, Any]:
    saved = session.get(PAPER_KEY)
    return saved if isinstance(saved, dict) and saved.get("person") == person_id else {}


def _paper_target(person_id: int) -> tuple[Person, Scope, Any]:
    found = _person_or_404(person_id)
    if found.anonymised_at is not None:
        abort(404)
    scope = _scope()
    status = person_status(db.session(), found.organisation_id, found.id, scope.version, scope.when)
    return found, scope, status


def _declaration_error(exc: Exception, scope: Scope) -> str:
    if isinstance(exc, people_service.DeclarationInFuture):
        return "The date of the declaration must be today or in the past"
    if isinstance(exc, people_service.DeclarationBeforeVersion):
        return (
            f"The date of the declaration must be on or after "
            f"{long_date(scope.version.effective_date)}, when version {scope.version.version} "
            "of the policy came into force"
        )
    assert isinstance(exc, people_service.DeclarationExpired)
    return (
        f"A declaration made on that date would have run out on {long_date(exc.valid_until)}. "
        "Ask the person to accept the policy again"
    )


def _back_to_paper_form(person_id: int, entered: dict[str, Any], errors: dict[str, Any]) -> Any:
    # The session is a cookie (about 4 KB): what was entered is kept up to the note's limit.
    clipped = {
        k: [str(v)[:NOTE_LIMIT] for v in values][:3]
        for k, values in entered.items()
        if k in ("declared_on", "note", "confirm")
    }
    session[PAPER_KEY] = {"person": person_id, "form": clipped, "errors": errors}
    return redirect(url_for("hr.record_acceptance", person_id=person_id))


@bp.route("/people/<int:person_id>/record-acceptance", methods=["GET", "POST"])
def record_acceptance(person_id: int) -> Any:
    found, scope, status = _paper_target(person_id)
    if request.method == "POST":
        if status.state is State.CERTIFIED:
            return redirect(url_for("hr.record_acceptance", person_id=found.id))
        form = PaperAcceptanceForm()
        entered = {k: v for k, v in request.form.lists() if k not in ("csrf_token", "submit")}
        if not form.validate_on_submit():
            return _back_to_paper_form(found.id, entered, form.errors)
        declared_on: date = form.declared_on.data  # type: ignore[assignment]  # validated
        try:
            people_service.check_paper_declaration(
                db.session(),
                scope.organisation,
                found,
                scope.version,
                scope.when,
                declared_on,
                utcnow(),
            )
        except people_service.AcceptanceError as exc:
            return _back_to_paper_form(
                found.id, entered, {"declared_on": [_declaration_error(exc, scope)]}
            )
        session[PAPER_KEY] = {
            "person": found.id,
            "checked": {"declared_on": declared_on.isoformat(), "note": form.note.data or ""},
        }
        return redirect(url_for("hr.check_paper_acceptance", person_id=found.id))
    saved = _paper_saved(found.id)
    if "form" in saved:
        # Shown once with its errors; what was entered stays for a refresh of the page.
        session[PAPER_KEY] = {"person": found.id, "form": saved["form"], "errors": {}}
        form = PaperAcceptanceForm(formdata=MultiDict(saved["form"]))
        for name, messages in (saved.get("errors") or {}).items():
            if name in form:
                form[name].errors = list(messages)
    elif "checked" in saved:  # back from the check page's Change links
        checked = saved["checked"]
        form = PaperAcceptanceForm(
            formdata=None,
            data={
                "declared_on": date.fromisoformat(checked["declared_on"]),
                "note": checked["note"],
                "confirm": True,
            },
        )
    else:
        form = PaperAcceptanceForm(formdata=None)
    return render_template(
        "hr/record_acceptance.html",
        form=form,
        person=found,
        version=scope.version,
        status=status,
        declaration=declaration_text(scope.version, found.elected_member),
        certified=status.state is State.CERTIFIED,
    )


@bp.route("/people/<int:person_id>/record-acceptance/check", methods=["GET", "POST"])
def check_paper_acceptance(person_id: int) -> Any:
    found, scope, status = _paper_target(person_id)
    checked = _paper_saved(found.id).get("checked")
    if not checked or status.state is State.CERTIFIED:
        return redirect(url_for("hr.record_acceptance", person_id=found.id))
    declared_on = date.fromisoformat(checked["declared_on"])
    try:
        valid_until = people_service.check_paper_declaration(
            db.session(),
            scope.organisation,
            found,
            scope.version,
            scope.when,
            declared_on,
            utcnow(),
        )
    except people_service.AcceptanceError as exc:  # the day has turned since it was entered
        entered = {
            "declared_on": [str(declared_on.day), str(declared_on.month), str(declared_on.year)],
            "note": [checked["note"]],
            "confirm": ["y"],
        }
        return _back_to_paper_form(
            found.id, entered, {"declared_on": [_declaration_error(exc, scope)]}
        )
    form = RecordPaperAcceptanceForm()
    if request.method == "GET":
        return render_template(
            "hr/record_acceptance_check.html",
            form=form,
            person=found,
            version=scope.version,
            declared_on=declared_on,
            note=checked["note"],
            valid_until=valid_until,
            declaration=declaration_text(scope.version, found.elected_member),
        )
    if not form.validate_on_submit():
        abort(400)
    recorder = db.session.get(Person, current_user.person_id)
    assert recorder is not None
    try:
        people_service.record_paper_acceptance(
            db.session(),
            scope.organisation,
            found,
            scope.version,
            scope.when,
            recorder,
            declared_on,
            checked["note"],
            utcnow(),
        )
    except AlreadyAccepted:
        db.session.rollback()
        session.pop(PAPER_KEY, None)
        return redirect(url_for("hr.person", person_id=found.id))
    db.session.commit()
    session.pop(PAPER_KEY, None)
    return redirect(url_for("hr.person", person_id=found.id, done="acceptance") + "#acceptances")


@bp.route("/people/<int:person_id>/legal-hold", methods=["GET", "POST"])
def legal_hold(person_id: int) -> Any:
    found = _person_or_404(person_id)
    form = LegalHoldForm()
    if not form.validate_on_submit():
        return render_template("hr/legal_hold.html", form=form, person=found), (
            400 if form.errors else 200
        )
    place = not found.legal_hold
    people_service.set_legal_hold(
        db.session(),
        found,
        place,
        form.reason.data or "",
        utcnow(),
        actor_person_id=current_user.person_id,
    )
    db.session.commit()
    done = "hold-placed" if place else "hold-removed"
    return redirect(url_for("hr.person", person_id=found.id, done=done))


@bp.post("/people/<int:person_id>/subject-access")
def subject_access(person_id: int) -> Response:
    found = _person_or_404(person_id)
    if not SubjectAccessForm().validate_on_submit():
        abort(400, "The form has expired. Go back, reload the page and try again.")
    org = db.session.get(Organisation, current_user.organisation_id)
    assert org is not None
    now = utcnow()
    export = people_service.subject_access_export(
        db.session(), org, found, now, current_user.person_id
    )
    db.session.commit()
    name = f"subject-access-person-{found.id}-{now:%Y-%m-%d}.json"
    return Response(
        json.dumps(export, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


# -- the organisation's settings -------------------------------------------------------------


# A failed save is kept here for the next GET (Post/Redirect/Get): the messages, and what was
# typed into the boxes that differ from what is saved. The session is a cookie (about 4 KB):
# a long stash keeps only the boxes in error, each cut to just over the limit, or else only
# the messages, rather than lose the whole session.
_SETTINGS_STASH = "hr_settings_failed"
_STASH_BUDGET = 2500


def _stash_failed(form: SettingsForm, saved: dict[str, str]) -> None:
    entered = {
        # The recipients' box may hold 2,000 characters: kept whole, to be corrected.
        name: str(form[name].data or "")[
            : (MAX_RECIPIENTS_TEXT if name == "report_recipients" else MAX_DETAIL) + 20
        ]
        for name in (*form.NUMBERS, *form.CHOICES, *form.TEXTS, *form.DETAILS)
        if str(form[name].data or "") != saved.get(name, "")
    }
    errors = {name: list(messages) for name, messages in form.errors.items() if name}
    stash = {"entered": entered, "errors": errors}
    if len(json.dumps(stash)) > _STASH_BUDGET:
        stash["entered"] = {n: v for n, v in entered.items() if n in errors}
    if len(json.dumps(stash)) > _STASH_BUDGET:  # many long wrong boxes: the messages only
        stash["entered"] = {}
    session[_SETTINGS_STASH] = stash


def _saved_settings(org: Organisation) -> dict[str, str]:
    return {**settings_of(org), **organisations.settings_of(org)}


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Any:
    org = db.session.get(Organisation, current_user.organisation_id)
    assert org is not None
    saved_values = _saved_settings(org)
    if request.method == "GET":
        failed = session.pop(_SETTINGS_STASH, None) or {}
        form = SettingsForm(formdata=None, data={**saved_values, **failed.get("entered", {})})
        for name, messages in failed.get("errors", {}).items():
            if name in form:
                form[name].errors = list(messages)
        hints = {key: when_unset(key, org.name) for key in form.DETAILS}
        saved = request.args.get("saved", type=int) if not failed else None
        return render_template(
            "hr/settings.html",
            form=form,
            saved=saved,
            hints=hints,
            registration_form=RegistrationUrlForm(formdata=None),
        )
    form = SettingsForm()
    if not form.validate_on_submit():
        _stash_failed(form, saved_values)
        return redirect(url_for("hr.settings"))
    rules = {key: str(form[key].data or "") for key in (*form.NUMBERS, *form.CHOICES, *form.TEXTS)}
    details = {key: str(form[key].data or "") for key in form.DETAILS}
    now, actor = utcnow(), current_user.person_id
    # Both are checked before anything is kept, so one wrong box saves nothing at all.
    problems: dict[str, str] = {}
    changes = []
    try:
        changes += change_settings(db.session(), org, rules, now, actor_person_id=actor)
    except SettingsInvalid as exc:
        problems.update(exc.problems)
    try:
        changes += organisations.change_details(
            db.session(), org, details, now, actor_person_id=actor
        )
    except SettingsInvalid as exc:
        problems.update(exc.problems)
    if problems:
        db.session.rollback()
        for key, message in problems.items():
            form[key].errors = [message]
        _stash_failed(form, saved_values)
        return redirect(url_for("hr.settings"))
    db.session.commit()
    return redirect(url_for("hr.settings", saved=len(changes)))


@bp.post("/settings/registration-url")
def registration_url() -> Any:
    """A single-use URL that registers the council's LMS with the module; shown once, here
    (no redirect: only its hash is kept, so the page after this one cannot show it again)."""
    from app.services.registration import create_invite

    form = RegistrationUrlForm()
    if not form.validate_on_submit():
        return redirect(url_for("hr.settings"))
    org = db.session.get(Organisation, current_user.organisation_id)
    assert org is not None
    invite, token = create_invite(
        db.session(),
        org,
        REGISTRATION_URL_HOURS,
        f"HR: {current_user.name}",
        utcnow(),
        actor_person_id=current_user.person_id,
    )
    db.session.commit()
    base = current_app.config["TOOL_BASE_URL"] or request.url_root.rstrip("/")
    return render_template(
        "hr/registration_url.html",
        url=f"{base}{url_for('dynreg.invite_page', token=token)}",
        expires_at=invite.expires_at,
    )


REGISTRATION_URL_HOURS = 24


# -- other HR pages --------------------------------------------------------------------------


@bp.get("/quiz-statistics")
def quiz_statistics() -> str:
    version = current_version(db.session(), current_app.config["POLICY_KEY"], today())
    bank = current_bank(db.session(), version.policy_id) if version else None
    stats = question_statistics(db.session(), current_user.organisation_id, bank) if bank else []
    return render_template(
        "hr/quiz_statistics.html",
        stats=stats,
        bank=bank,
        min_group=MIN_FOR_DISCRIMINATION,
    )


@bp.get("/verify")
def verify() -> Any:
    """A certificate's code, and the audit record printed on it: do the acceptance, its audit
    event and that event's recomputed hash agree with each other and with the copy?"""
    code = request.args.get("code", "").strip()
    seq_text = request.args.get("seq", "").strip()
    hash_text = request.args.get("hash", "").strip()
    # Pressing the button with the box empty sends code= (a look-up by GET changes nothing,
    # so there is nothing to resubmit): say what is missing.
    missing = "code" in request.args and not code
    acceptance = by_code(db.session(), current_user.organisation_id, code) if code else None
    person = version = check = None
    bad_seq = bool(seq_text) and not (seq_text.isascii() and seq_text.isdigit())
    bad_hash = bool(hash_text) and not anchoring.looks_like_hash_prefix(hash_text)
    if acceptance is not None:
        person = db.session.get(Person, acceptance.person_id)
        version = db.session.get(PolicyVersion, acceptance.policy_version_id)
        if not (bad_seq or bad_hash):
            check = anchoring.check_certificate(
                db.session(), acceptance, int(seq_text) if seq_text else None, hash_text or None
            )
    status = 200
    if code and acceptance is None:
        status = 404
    elif missing or bad_seq or bad_hash:
        status = 400
    elif check is not None and not check.ok:
        status = 409
    return render_template(
        "hr/verify.html",
        code=code,
        missing=missing,
        seq=seq_text,
        hash=hash_text,
        bad_seq=bad_seq,
        bad_hash=bad_hash,
        acceptance=acceptance,
        check=check,
        person=person,
        version=version,
        prefix=anchoring.PRINTED_HASH_LENGTH,
    ), status


@bp.get("/audit-trail")
def audit_trail() -> str:
    """The latest checkpoint of this organisation's audit chain, and the last verify."""
    return render_template(
        "hr/audit_trail.html",
        anchors=anchoring.anchor_status(db.session(), current_user.organisation_id),
        prefix=anchoring.PRINTED_HASH_LENGTH,
    )


@bp.get("/scores")
def scores() -> str:
    """Scores the LMS has not yet taken: what is pending, and why it failed."""
    return render_template(
        "hr/scores.html",
        items=pending(db.session(), current_user.organisation_id),
        retry_form=RetryScoreForm(),
        retried=request.args.get("retried", type=int),
    )


@bp.post("/scores/<int:item_id>/retry")
def retry_score(item_id: int) -> Any:
    """Send a refused score again, once the learning portal has been put right."""
    if not RetryScoreForm().validate_on_submit():
        abort(400, "The form has expired. Go back, reload the page and try again.")
    if not retry(
        db.session(), current_user.organisation_id, item_id, utcnow(), current_user.person_id
    ):
        abort(404)
    db.session.commit()
    score_sender.wake()
    return redirect(url_for("hr.scores", retried=item_id))
