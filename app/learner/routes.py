"""Learner views: overview, sections, quiz, acceptance and certificate.

Thin: each view reads the request, asks the services, commits, and renders or redirects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required

from app import score_sender
from app.auth import Visit
from app.clock import today, utcnow
from app.db import db
from app.learner.forms import (
    ConfirmForm,
    DeclarationForm,
    MoreTimeForm,
    StartQuizForm,
    attempt_form,
)
from app.models import (
    Acceptance,
    Deployment,
    Launch,
    Person,
    PolicySection,
    PolicyVersion,
    QuizAttempt,
    QuizBank,
)
from app.services import audit
from app.services.acceptance import (
    AlreadyAccepted,
    NameMismatch,
    NotReady,
    Where,
    declaration_text,
    format_code,
    names_match,
    record_acceptance,
)
from app.services.anchoring import printed_reference
from app.services.attempts import (
    AlreadySubmitted,
    AttemptError,
    BadAnswer,
    NotAllowed,
    Shown,
    TimeUp,
    allowance,
    deadline_of,
    draft_choices,
    extend,
    open_attempt,
    rules,
    save_draft,
    shown,
    start_attempt,
    submit,
)
from app.services.certificates import certificate_for
from app.services.content_pack import local_details, personalise
from app.services.organisations import OrganisationView, today_for, validity_rule
from app.services.outbox import enqueue, enqueue_for_placement, takes_scores
from app.services.policies import VersionCache, VersionView, sections_for
from app.services.progress import Progress, estimated_minutes, mark_read, progress
from app.services.question_bank import current_bank
from app.services.status import PersonStatus, State, person_status

bp = Blueprint("learner", __name__, template_folder="templates")


@bp.before_request
@login_required
def require_visit() -> None:
    """Every learner page needs a launch from the LMS (any role can take the module)."""


@dataclass(frozen=True)
class Reading:
    visit: Visit
    organisation: OrganisationView
    version: VersionView
    status: PersonStatus
    progress: Progress

    def html(self, stored: str) -> str:
        details = local_details(self.organisation.name, self.organisation.content_values)
        return personalise(stored, details, lambda key: url_for("learner.section", key=key))

    @property
    def due(self) -> date:
        return self.status.due_date or today()

    @property
    def overdue(self) -> bool:
        return self.status.overdue(today())

    @property
    def councillor(self) -> bool:
        """Elected members read their own sections and accept in words fitting their office."""
        return self.visit.info.elected_member

    @property
    def declaration(self) -> str:
        """The words shown, which are the words recorded (acceptance.py hashes the same)."""
        return declaration_text(self.version, self.councillor)


def versions() -> VersionCache:
    cache = current_app.extensions.get("cpm_versions")
    if cache is None:
        cache = current_app.extensions["cpm_versions"] = VersionCache()
    return cache


def _reading() -> Reading:
    visit: Visit = current_user
    version = versions().current(db.session(), current_app.config["POLICY_KEY"], today())
    if version is None:
        current_app.logger.error("no published version of %s", current_app.config["POLICY_KEY"])
        abort(503, "The policy has not been published yet. Please tell your administrator.")
    org = visit.organisation
    status = person_status(db.session(), org.id, visit.person_id, version, today_for(org, today()))
    sections = sections_for(version, visit.info.elected_member)
    if status.state is State.NOT_STARTED:  # by definition nothing is read in this journey
        done = Progress(sections, frozenset())
    else:
        done = progress(db.session(), visit.person_id, version.id, status.cycle, sections)
    return Reading(visit, org, version, status, done)


def _audit(reading: Reading, action: str, **details: Any) -> None:
    audit.record(
        db.session(),
        reading.organisation.id,
        action,
        utcnow(),
        actor_person_id=reading.visit.person_id,
        subject_person_id=reading.visit.person_id,
        details=details,
    )


def _minutes(reading: Reading, questions: int) -> int:
    """About how long the module takes this reader, as their reminder e-mails say it. Worked
    out from the sections' text once per process: a published version never changes."""
    known: dict[tuple[int, bool, int], int] = current_app.extensions.setdefault("cpm_minutes", {})
    key = (reading.version.id, reading.councillor, questions)
    if key not in known:
        version = db.session.get(PolicyVersion, reading.version.id)
        assert version is not None
        known[key] = estimated_minutes(sections_for(version, reading.councillor), questions)
    return known[key]


@bp.get("/")
def home() -> str:
    return _overview(_reading())


def _overview(reading: Reading, *, address: str | None = None) -> str:
    """The overview page. `address`: the page answers the launch's form post, and its script
    puts this, the overview's own address, in the browser's history in place of the post's."""
    status = reading.status
    # The quiz's rules come from its settings, so the overview promises what the quiz does.
    bank_settings = versions().bank_settings(db.session(), reading.version.policy_id)
    settings = rules(bank_settings, reading.organisation.quiz_settings) if bank_settings else None
    allowed = None
    if settings and status.journey_open and status.passed is None and reading.progress.all_read:
        allowed = allowance(
            db.session(),
            reading.visit.person_id,
            reading.version.id,
            status.cycle,
            settings,
            utcnow(),
        )
    return render_template(
        "learner/overview.html",
        reading=reading,
        progress=reading.progress,
        version=reading.version,
        status=status,
        state=State,
        intro=reading.html(reading.version.intro_html),
        minutes=_minutes(reading, settings["questions_per_attempt"] if settings else 0),
        settings=settings,
        wait_until=allowed.wait_until if allowed else None,
        code=format_code(status.acceptance.verification_code)
        if status.state is State.CERTIFIED and status.acceptance
        else None,
        address=address,
    )


@bp.get("/resume")
def resume() -> Any:
    """Where opening the module lands: the quiz while an attempt is under way (reloading the
    learning portal's page opens the module again, and must not leave the quiz), else the
    contents."""
    return redirect(_quiz_under_way(_reading()) or url_for("learner.home"))


def launch_page() -> Any:
    """The launch's answer (lti/routes.py), for the visit just signed in: where /resume
    leads, without its redirects, so a launch is one request less. The overview is
    rendered at once; the quiz under way is a redirect (See Other) as before."""
    reading = _reading()
    quiz = _quiz_under_way(reading)
    if quiz is not None:
        return redirect(quiz, 303)
    return _overview(reading, address=url_for("learner.home"))


def _quiz_under_way(reading: Reading) -> str | None:
    """The quiz's address while an attempt is under way; and for someone completed, the
    score queued for this placement (every opening of the module passes here)."""
    if reading.status.acceptance is not None and reading.status.state in COMPLETED:
        _score_for_this_placement(reading)
    if reading.status.journey_open and reading.progress.all_read:
        now = utcnow()
        person, version = reading.visit.person_id, reading.version.id
        if open_attempt(db.session(), person, version, reading.status.cycle, now) is not None:
            return url_for("learner.quiz")
    return None


# States in which the acceptance that counts is still valid.
COMPLETED = (State.CERTIFIED, State.DUE_FOR_RENEWAL)


def _score_for_this_placement(reading: Reading) -> None:
    """Someone already completed opens the module from an activity that has no score of
    theirs yet: queue it (services/outbox.py). Every launch passes here (_quiz_under_way)."""
    acceptance = reading.status.acceptance
    launch = db.session.get(Launch, reading.visit.launch_id)
    if acceptance is None or launch is None:
        return
    deployment = db.session.get(Deployment, launch.deployment_id)
    person = db.session.get(Person, reading.visit.person_id)
    if deployment is None or person is None:
        return
    registration_id = deployment.registration_id
    if not takes_scores(launch, person.subject, registration_id):
        return
    now = utcnow()
    item = enqueue_for_placement(
        db.session(), acceptance, launch, person.subject, registration_id, now
    )
    if item is None:
        return
    db.session.commit()
    current_app.logger.info(
        "score queued for acceptance %s in another activity (launch %s)", acceptance.id, launch.id
    )
    score_sender.wake()


@bp.get("/sections/<key>")
def section(key: str) -> str:
    reading = _reading()
    found: PolicySection | None = next((s for s in reading.progress.sections if s.key == key), None)
    if found is None:
        abort(404)
    now_read = reading.progress
    # While certified, reading again is for reference: it does not start the next renewal.
    if reading.status.journey_open:
        first = mark_read(
            db.session(),
            reading.visit.person_id,
            reading.version.id,
            reading.status.cycle,
            key,
            utcnow(),
        )
        if first:
            _audit(
                reading,
                "section_read",
                version=reading.version.version,
                section=key,
                cycle=reading.status.cycle,
            )
        db.session.commit()
        now_read = Progress(now_read.sections, now_read.read | {key})
    previous, following = now_read.neighbours(key)
    return render_template(
        "learner/section.html",
        section=found,
        body=reading.html(found.body_html),
        progress=now_read,
        previous=previous,
        following=following,
        version=reading.version,
        number=[s.key for s in now_read.sections].index(key) + 1,
        journey_open=reading.status.journey_open,
    )


# -- the quiz ------------------------------------------------------------------------------


def _quiz_context(reading: Reading) -> tuple[QuizBank, dict[str, Any]]:
    bank = current_bank(db.session(), reading.version.policy_id)
    if bank is None:
        abort(503, "The quiz has not been published yet. Please tell your administrator.")
    return bank, rules(bank.settings, reading.organisation.quiz_settings)


@bp.get("/quiz")
def quiz() -> Any:
    reading = _reading()
    if reading.status.state is State.CERTIFIED:
        return redirect(url_for("learner.home"))
    if reading.status.passed is not None:
        return redirect(url_for("learner.declaration"))
    if not reading.progress.all_read:
        return render_template("learner/quiz_locked.html", progress=reading.progress)
    _, settings = _quiz_context(reading)
    now = utcnow()
    person, cycle = reading.visit.person_id, reading.status.cycle
    attempt = open_attempt(db.session(), person, reading.version.id, cycle, now)
    if attempt is not None:
        return _attempt_page(attempt)
    allowed = allowance(db.session(), person, reading.version.id, cycle, settings, now)
    return render_template(
        "learner/quiz_start.html",
        form=StartQuizForm(),
        allowed=allowed,
        settings=settings,
        progress=reading.progress,
    )


@bp.post("/quiz/start")
def start_quiz() -> Any:
    reading = _reading()
    form = StartQuizForm()
    if (
        not form.validate_on_submit()
        or not reading.progress.all_read
        or reading.status.passed is not None
        or not reading.status.journey_open
    ):
        return redirect(url_for("learner.quiz"))
    bank, settings = _quiz_context(reading)
    try:
        attempt = start_attempt(
            db.session(),
            person_id=reading.visit.person_id,
            organisation_id=reading.organisation.id,
            version_id=reading.version.id,
            cycle=reading.status.cycle,
            bank=bank,
            section_keys=[s.key for s in reading.progress.sections],
            settings=settings,
            launch_id=reading.visit.launch_id,
            now=utcnow(),
        )
    except NotAllowed:
        db.session.rollback()
        return redirect(url_for("learner.quiz"))
    _audit(
        reading,
        "quiz_attempt_started",
        attempt=attempt.id,
        questions=[q["id"] for q in attempt.drawn],
    )
    db.session.commit()
    return redirect(url_for("learner.quiz"))


def _own_attempt(attempt_id: int) -> QuizAttempt:
    attempt = db.session.get(QuizAttempt, attempt_id)
    if attempt is None:
        abort(404)
    if attempt.person_id != current_user.person_id:
        current_app.logger.warning(
            "person %s tried attempt %s of another person", current_user.person_id, attempt_id
        )
        abort(403, "This quiz attempt belongs to someone else.")
    return attempt


# What a quiz post leaves for the next GET of the quiz page (Post/Redirect/Get): its errors,
# or that the answers were saved. The answers themselves are in the attempt's draft.
QUIZ_PROBLEM = "quiz_problem"
QUIZ_SAVED = "quiz_saved"
QUIZ_ALREADY_SUBMITTED = "quiz_already_submitted"
# The draft endpoint takes the quiz form, at most 12 questions of 5 short options each.
MAX_DRAFT_BODY = 4096


def _attempt_page(attempt: QuizAttempt) -> str:
    """The questions with the answers ticked so far, and what the last post left to say."""
    questions = shown(attempt)
    ticked = draft_choices(db.session(), attempt)
    form = attempt_form(
        questions,
        data={
            f"q{q.number}": [str(p) for p in ticked.get(q.number, [])]
            if q.multiple
            else next((str(p) for p in ticked.get(q.number, [])), None)
            for q in questions
        },
    )
    problem = session.pop(QUIZ_PROBLEM, None)
    mismatch = False
    if problem and problem.get("attempt") == attempt.id:
        mismatch = bool(problem.get("mismatch"))
        for name, errors in problem.get("errors", {}).items():
            if name in form:
                form[name].errors = list(errors)
    saved = session.pop(QUIZ_SAVED, None) == attempt.id
    return render_template(
        "learner/quiz_attempt.html",
        attempt=attempt,
        questions=questions,
        form=form,
        mismatch=mismatch,
        saved=saved,
        deadline=deadline_of(db.session(), attempt),
        more_time=MoreTimeForm(),
    )


def _posted_choices(questions: list[Shown]) -> dict[int, list[int]] | None:
    """The positions ticked in the posted form, or None when a value is not a position."""
    choices = {}
    for q in questions:
        raw = request.form.getlist(f"q{q.number}")
        if not all(v.isascii() and v.isdigit() and len(v) < 5 for v in raw):
            return None
        choices[q.number] = [int(v) for v in raw]
    return choices


def _back_to_quiz(attempt: QuizAttempt, **problem: Any) -> Any:
    session[QUIZ_PROBLEM] = {"attempt": attempt.id, **problem}
    return redirect(url_for("learner.quiz"))


@bp.post("/quiz/attempts/<int:attempt_id>")
def submit_quiz(attempt_id: int) -> Any:
    """Mark the answers; every outcome is a redirect, so Back and refresh never post again."""
    attempt = _own_attempt(attempt_id)
    if attempt.submission is not None:
        return _already_submitted(attempt)
    questions = shown(attempt)
    form = attempt_form(questions)
    choices = _posted_choices(questions)
    if choices is None:
        return _tampered(attempt)
    if not form.validate_on_submit():
        # Keep what was ticked (as the draft) and the errors, for the quiz page's next GET.
        refused = _save(attempt)
        if refused is not None:
            return _not_saved(attempt, refused)
        return _back_to_quiz(attempt, errors=form.errors)
    try:
        submission = submit(db.session(), attempt, current_user.person_id, choices, utcnow())
    except AlreadySubmitted:
        db.session.rollback()
        return _already_submitted(attempt)
    except BadAnswer:
        db.session.rollback()
        return _tampered(attempt)
    except TimeUp:
        db.session.rollback()
        return redirect(url_for("learner.time_up", attempt_id=attempt.id))
    audit.record(
        db.session(),
        attempt.organisation_id,
        "quiz_submitted",
        utcnow(),
        actor_person_id=attempt.person_id,
        subject_person_id=attempt.person_id,
        details={
            "attempt": attempt.id,
            "score": submission.score,
            "total": submission.total,
            "percent": submission.percent,
            "passed": submission.passed,
        },
    )
    db.session.commit()
    return redirect(url_for("learner.result", attempt_id=attempt.id))


def _save(attempt: QuizAttempt) -> str | None:
    """Save the posted ticks as the attempt's draft; None, or why they were not saved."""
    choices = _posted_choices(shown(attempt))
    if choices is None:
        return "mismatch"
    try:
        save_draft(db.session(), attempt, current_user.person_id, choices, utcnow())
    except AlreadySubmitted:
        db.session.rollback()
        return "submitted"
    except BadAnswer:
        db.session.rollback()
        return "mismatch"
    except TimeUp:
        db.session.rollback()
        return "time_up"
    db.session.commit()
    return None


@bp.post("/quiz/attempts/<int:attempt_id>/save")
def save_quiz(attempt_id: int) -> Any:
    """ "Save and come back later", for everyone (the script saves as they go, if it runs)."""
    attempt = _own_attempt(attempt_id)
    refused = _save(attempt)
    if refused is not None:
        return _not_saved(attempt, refused)
    session[QUIZ_SAVED] = attempt.id
    return redirect(url_for("learner.quiz"))


def _not_saved(attempt: QuizAttempt, why: str) -> Any:
    if why == "submitted":
        return _already_submitted(attempt)
    if why == "time_up":
        return redirect(url_for("learner.time_up", attempt_id=attempt.id))
    return _tampered(attempt)


@bp.post("/quiz/attempts/<int:attempt_id>/draft")
def save_draft_json(attempt_id: int) -> Any:
    """The quiz page's script sends the form here on each change (with its CSRF token)."""
    if (request.content_length or 0) > MAX_DRAFT_BODY:
        return jsonify(saved=False, reason="too_large"), 413
    attempt = _own_attempt(attempt_id)
    refused = _save(attempt)
    if refused is not None:
        return jsonify(saved=False, reason=refused), 409 if refused != "mismatch" else 400
    return jsonify(saved=True)


def _already_submitted(attempt: QuizAttempt) -> Any:
    """A second post of the same attempt (double click, second tab, Back): its result."""
    session[QUIZ_ALREADY_SUBMITTED] = attempt.id
    return redirect(url_for("learner.result", attempt_id=attempt.id))


def _tampered(attempt: QuizAttempt) -> Any:
    current_app.logger.warning(
        "attempt %s: answers that are not the question's options", attempt.id
    )
    return _back_to_quiz(attempt, mismatch=True)


@bp.get("/quiz/attempts/<int:attempt_id>/time-up")
def time_up(attempt_id: int) -> Any:
    attempt = _own_attempt(attempt_id)
    deadline = deadline_of(db.session(), attempt)
    if attempt.submission is not None or deadline is None or deadline >= utcnow():
        return redirect(url_for("learner.quiz"))
    return render_template("learner/quiz_time_up.html")


@bp.post("/quiz/attempts/<int:attempt_id>/more-time")
def more_time(attempt_id: int) -> Any:
    attempt = _own_attempt(attempt_id)
    if MoreTimeForm().validate_on_submit():
        try:
            extend(db.session(), attempt, current_user.person_id, utcnow())
        except AttemptError:
            db.session.rollback()
        else:
            db.session.commit()
    return redirect(url_for("learner.quiz"))


@bp.get("/quiz/attempts/<int:attempt_id>/result")
def result(attempt_id: int) -> Any:
    attempt = _own_attempt(attempt_id)
    if attempt.submission is None:
        return redirect(url_for("learner.quiz"))
    reading = _reading()
    _, settings = _quiz_context(reading)
    sections = {s.key: s for s in reading.version.sections}
    answers = attempt.submission.answers
    marked = {r["id"]: r["correct"] for r in attempt.submission.results}
    feedback = []
    for q in shown(attempt):
        text = {o.id: o.text for o in q.question.options}
        feedback.append(
            {
                "shown": q,
                "correct": marked[q.question.id],
                "chosen": [text[o] for o in answers.get(q.question.id, [])],
                "section": sections.get(q.question.section),
            }
        )
    allowed = allowance(
        db.session(),
        attempt.person_id,
        attempt.policy_version_id,
        attempt.cycle,
        settings,
        utcnow(),
    )
    return render_template(
        "learner/quiz_result.html",
        already_submitted=session.pop(QUIZ_ALREADY_SUBMITTED, None) == attempt.id,
        attempt=attempt,
        submission=attempt.submission,
        feedback=feedback,
        allowed=allowed,
        settings=settings,
    )


# -- acceptance ------------------------------------------------------------------------------


# What the declaration's post leaves for the next GET (Post/Redirect/Get): its errors and
# the answers given, or the name to show on the check page.
DECLARATION_PROBLEM = "declaration_problem"
DECLARATION_NAME = "declaration_name"


@bp.get("/accept")
def declaration() -> Any:
    reading = _reading()
    if reading.status.state is State.CERTIFIED and reading.status.acceptance:
        return redirect(url_for("learner.accepted", acceptance_id=reading.status.acceptance.id))
    if reading.status.passed is None:
        return redirect(url_for("learner.quiz"))
    problem = session.pop(DECLARATION_PROBLEM, None) or {}
    # Back from the check page ("Change your name") finds the name typed there.
    values = problem.get("values") or {"full_name": session.get(DECLARATION_NAME)}
    form = DeclarationForm(formdata=None, data=values)
    for name, errors in problem.get("errors", {}).items():
        if name in form:
            form[name].errors = list(errors)
    return render_template(
        "learner/declaration.html",
        form=form,
        reading=reading,
    )


@bp.post("/accept")
def check_declaration() -> Any:
    """Step one's answers: back to the form with its errors, or on to the check page."""
    reading = _reading()
    if reading.status.passed is None:
        return redirect(url_for("learner.declaration"))
    form = DeclarationForm()
    errors = _declaration_problem(form, reading)
    if errors:
        session[DECLARATION_PROBLEM] = {
            "errors": errors,
            # Cut to what the form takes (and one more, so a long name is still shown long):
            # the session is a cookie.
            "values": {
                "accept": bool(form.accept.data),
                "full_name": (form.full_name.data or "")[:301],
            },
        }
        return redirect(url_for("learner.declaration"))
    session[DECLARATION_NAME] = form.full_name.data
    return redirect(url_for("learner.check_page"))


@bp.get("/accept/check")
def check_page() -> Any:
    """Step two: show what is about to be signed, with a way back (WCAG 3.3.4)."""
    reading = _reading()
    if reading.status.state is State.CERTIFIED and reading.status.acceptance:
        return redirect(url_for("learner.accepted", acceptance_id=reading.status.acceptance.id))
    if reading.status.passed is None:
        return redirect(url_for("learner.quiz"))
    typed_name = session.get(DECLARATION_NAME)
    if not isinstance(typed_name, str):
        return redirect(url_for("learner.declaration"))
    confirm = ConfirmForm(formdata=None, accept=True, full_name=typed_name)
    return render_template(
        "learner/declaration_check.html",
        form=confirm,
        reading=reading,
        typed_name=typed_name,
    )


def _declaration_problem(form: DeclarationForm, reading: Reading) -> dict[str, list[str]]:
    """The form's errors, by field: none when the box is ticked and the name is theirs."""
    if not form.validate_on_submit():
        return {name: list(errors) for name, errors in form.errors.items()}
    person = db.session.get(Person, reading.visit.person_id)
    assert person is not None
    if not names_match(form.full_name.data or "", person.name):
        return {
            "full_name": [
                "Enter your full name as it appears in the learning portal: " + person.name
            ]
        }
    return {}


@bp.post("/accept/confirm")
def confirm_declaration() -> Any:
    reading = _reading()
    form = ConfirmForm()
    if not form.validate_on_submit():
        return redirect(url_for("learner.declaration"))
    person = db.session.get(Person, reading.visit.person_id)
    launch = db.session.get(Launch, reading.visit.launch_id)
    assert person is not None
    now = utcnow()
    deployment = db.session.get(Deployment, launch.deployment_id) if launch else None
    registration_id = deployment.registration_id if deployment else None
    try:
        acceptance = record_acceptance(
            db.session(),
            person,
            reading.version,
            reading.status,
            form.full_name.data or "",
            validity_rule(reading.organisation),
            now,
            Where(
                ip_address=request.remote_addr,
                user_agent=request.user_agent.string,
                launch_id=launch.id if launch else None,
                lms_context_id=launch.lms_context_id if launch else None,
                resource_link_id=launch.resource_link_id if launch else None,
            ),
            details={"score_queued": takes_scores(launch, person.subject, registration_id)},
        )
    except AlreadyAccepted as exc:
        db.session.rollback()
        return redirect(url_for("learner.accepted", acceptance_id=exc.acceptance.id))
    except NotReady:
        db.session.rollback()
        return redirect(url_for("learner.quiz"))
    except NameMismatch:
        db.session.rollback()
        return redirect(url_for("learner.declaration"))
    item = enqueue(db.session(), acceptance, launch, person.subject, registration_id, now)
    db.session.commit()
    session.pop(DECLARATION_NAME, None)
    current_app.logger.info("acceptance %s recorded for person %s", acceptance.id, person.id)
    if item is not None:
        # Sent by the process's sender thread, never in this request: the LMS may need this
        # tool to answer it (its JWKS) before it answers us (app/score_sender.py).
        score_sender.wake()
    return redirect(url_for("learner.accepted", acceptance_id=acceptance.id))


def _own_acceptance(acceptance_id: int) -> Acceptance:
    acceptance = db.session.get(Acceptance, acceptance_id)
    if acceptance is None or acceptance.person_id != current_user.person_id:
        abort(404)
    return acceptance


@bp.get("/accept/done/<int:acceptance_id>")
def accepted(acceptance_id: int) -> str:
    acceptance = _own_acceptance(acceptance_id)
    return render_template(
        "learner/accepted.html",
        acceptance=acceptance,
        version=acceptance.policy_version,
        reference=printed_reference(acceptance),
    )


@bp.get("/certificate/<int:acceptance_id>.pdf")
def certificate(acceptance_id: int) -> Response:
    acceptance = _own_acceptance(acceptance_id)
    return certificate_response(acceptance)


def certificate_response(acceptance: Acceptance) -> Response:
    pdf = certificate_for(db.session(), acceptance)
    name = f"corporate-parenting-certificate-{acceptance.verification_code}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
