"""The course editor's side of Deep Linking: the choice page, and the pages that post the
signed answer (or a refusal) back to the LMS. lti/routes.py routes here.

The choice form cannot rely on the session's CSRF token: the LMS's frame may refuse the
tool's cookies. It carries instead a signed token naming the stored request and a secret
whose hash only the request row holds; the request is used up by the first answer. A
forged post needs that token, which only the editor's launch page ever showed.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, g, render_template, request
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextInput
from itsdangerous import BadSignature, URLSafeSerializer
from pylti1p3.registration import Registration
from werkzeug.wrappers import Response as BaseResponse
from wtforms import HiddenField, RadioField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp

from app.clock import utcnow
from app.db import db
from app.services import deep_linking as requests_
from lti import errors
from lti.ags import registration_for
from lti.deep_linking import (
    MAX_TITLE,
    DeepLinkSettings,
    Placement,
    placement_response,
    refusal_response,
)
from lti.launch import ValidLaunch
from lti.registry import url_origin

log = logging.getLogger("cpm.lti")

DEFAULT_TITLE = "Corporate Parenting Policy"
MAX_TOKEN_CHARS = 300  # a signed [id, secret] is about 80


class NoSigningKey(errors.LaunchError):
    status = 503
    code = "no_signing_key"
    message = "The module cannot answer your learning portal yet."
    admin_hint = "Make the tool's signing key with `flask --app app lti ensure-key`."


class PlacementForm(FlaskForm):
    class Meta:
        csrf = False  # the single-use request token below stands in for it (module docstring)

    token = HiddenField()
    title = StringField(
        "Title of the activity",
        widget=GovTextInput(),
        default=DEFAULT_TITLE,
        validators=[
            DataRequired("Enter a title for the activity"),
            Length(max=MAX_TITLE, message=f"Title must be {MAX_TITLE} characters or fewer"),
            Regexp(r"^[^\x00-\x1f\x7f\ud800-\udfff]*$", message="Title must be plain text"),
        ],
        description="Learners see this in the course.",
    )
    target = RadioField(
        "Where should the module open?",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("iframe", "Inside the course page"),
            SelectChoice("window", "In a new window"),
        ],
        default="iframe",
        # Moodle (4.3 and later) takes the tool's own launch container setting instead.
        description="Some learning portals, Moodle among them, use their own setting for this.",
    )
    submit = SubmitField("Add the module to the course", widget=GovSubmitInput())


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cpm-deep-link")


def _registration(registration_id: int) -> Registration:
    registration = registration_for(db.session(), registration_id)
    if registration.get_tool_private_key() is None:
        raise NoSigningKey()
    return registration


def _post_to_lms(
    template: str, settings: DeepLinkSettings, jwt: str, status: int, **kw: Any
) -> Any:
    """A page whose form posts the signed answer to the LMS's return URL. The page's CSP
    lets forms post to that origin only (app/web.py): nowhere else, and only here."""
    origin = url_origin(settings.return_url)
    assert origin is not None  # checked when the request came in (lti/deep_linking.py)
    scheme, host, port = origin
    default = {"http": 80, "https": 443}[scheme]
    g.form_action = f"{scheme}://{host}" + ("" if port == default else f":{port}")
    page = render_template(template, return_url=settings.return_url, jwt=jwt, **kw)
    return current_app.make_response((page, status))


def _refuse(
    registration: Registration, settings: DeepLinkSettings, reason: str, status: int
) -> Any:
    """The refusal page; its button tells the LMS why (errormsg), so its picker closes."""
    message = render_template("lti/deep_link_errormsg.txt", reason=reason).strip()
    jwt = refusal_response(registration, settings, message, f"corporate-parenting: {reason}")
    log.info("deep_link outcome=refused reason=%s", reason)
    return _post_to_lms(
        "lti/deep_link_refused.html", settings, jwt, status, reason=reason, message=message
    )


def answer_request(valid: ValidLaunch) -> BaseResponse:
    """A valid LtiDeepLinkingRequest: the choice page, or a refusal the LMS is told of.
    Nothing of a visit starts: no person, no launch row, no session. The caller commits.

    The state cookie is not needed here (the LMS's frame may refuse it): the page signs no
    one in and can only answer the LMS request it came with, so a request posted into
    someone else's browser gains its sender nothing."""
    assert valid.deep_link is not None
    context, settings = valid.context, valid.deep_link.settings
    registration = _registration(context.registration_id)
    if not valid.deep_link.may_place:
        return _refuse(registration, settings, "not_editor", 403)
    if not settings.accepts_links:
        return _refuse(registration, settings, "no_resource_links", 422)
    stored = requests_.create_request(
        db.session(),
        organisation_id=context.organisation_id,
        registration_id=context.registration_id,
        deployment_pk=context.deployment_pk,
        settings=settings.to_json(),
        editor_name=context.name,
        now=utcnow(),
    )
    log.info("deep_link outcome=asked org=%s request=%s", context.organisation_id, stored.id)
    form = PlacementForm(token=_serializer().dumps([stored.id, stored.secret]), formdata=None)
    return current_app.make_response(_choice_page(form, settings, 200))


def _choice_page(form: PlacementForm, settings: DeepLinkSettings, status: int) -> Any:
    return (
        render_template(
            "lti/deep_link_choose.html",
            form=form,
            settings=settings,
            offer_target=settings.offers_target_choice,
        ),
        status,
    )


def _token(signed: str) -> tuple[int, str] | None:
    try:
        value = _serializer().loads(signed[:MAX_TOKEN_CHARS])
    except BadSignature:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    ):
        return value[0], value[1]
    return None


def _gone() -> tuple[str, int]:
    log.info("deep_link outcome=refused reason=bad_token")
    return render_template("lti/deep_link_unknown.html"), 400


def submit(launch_url: str) -> Any:
    """The editor's choice: check it, use the request up, post the signed answer."""
    token = _token(request.form.get("token", ""))
    if token is None:
        return _gone()
    now = utcnow()
    session = db.session()
    try:
        row = requests_.usable_request(session, *token, now)
    except requests_.UnknownRequest:
        return _gone()
    except requests_.RequestUnusable as exc:
        settings = DeepLinkSettings.from_json(exc.request.settings)
        return _refuse(_registration(exc.request.registration_id), settings, exc.reason, 410)
    settings = DeepLinkSettings.from_json(row.settings)
    form = PlacementForm(meta={"csrf": False})
    if not settings.offers_target_choice:
        del form.target
    if not form.validate():
        form.token.data = request.form.get("token", "")
        return _choice_page(form, settings, 400)
    registration = _registration(row.registration_id)
    try:
        row = requests_.use_request(session, *token, now)
    except requests_.RequestUnusable as exc:  # another tab answered first
        session.rollback()
        return _refuse(registration, settings, exc.reason, 410)
    target = form.target.data if settings.offers_target_choice else _only_target(settings)
    placement = Placement(
        title=(form.title.data or "").strip(),
        launch_url=launch_url,
        target=target,
    )
    jwt = placement_response(registration, settings, placement)
    session.commit()
    log.info("deep_link outcome=placed org=%s request=%s", row.organisation_id, row.id)
    return _post_to_lms("lti/deep_link_return.html", settings, jwt, 200, placement=placement)


def _only_target(settings: DeepLinkSettings) -> str | None:
    """The one place to open the platform accepts, if it named one we can use."""
    usable = [t for t in settings.accept_targets if t in ("iframe", "window")]
    return usable[0] if len(usable) == 1 else None
