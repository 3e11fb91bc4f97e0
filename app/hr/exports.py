"""HR's exports (filters, CSV and Excel downloads, the column set) and API tokens.

Registered on the HR blueprint, so its role check (HR or admin) covers every view here, and
each view reads and changes the visitor's own organisation only.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput, GovTextInput
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from app.clock import today, utcnow
from app.db import db
from app.hr.forms import no_control_characters
from app.hr.routes import attachment, bp
from app.services import api_tokens, reports
from app.services import exports as export_service
from app.services.reports import COLUMNS, HEADINGS, Filters
from lti.routes import base_url  # the tool's public address (TOOL_BASE_URL)

# The export page's own parameters: the filters, and the GOV.UK date inputs' parts.
FORM_PARAMS = {
    *export_service.FILTER_PARAMS,
    *(
        f"{name}-{part}"
        for name in ("accepted_from", "accepted_to")
        for part in export_service.DATE_PARTS
    ),
}


class DownloadForm(FlaskForm):
    """The download buttons (name="format"); the filters ride along as hidden fields."""

    format = SelectField(
        choices=[SelectChoice("xlsx", "Excel"), SelectChoice("csv", "CSV")],
        validators=[InputRequired()],
    )


class TokenForm(FlaskForm):
    name = StringField(
        "Name",
        widget=GovTextInput(),
        validators=[
            InputRequired("Enter a name for the token"),
            Length(max=api_tokens.NAME_MAX, message="The name must be 200 characters or fewer"),
            no_control_characters,
        ],
        description="Say which system uses it, for example: iTrent nightly import.",
    )
    submit = SubmitField("Create token", widget=GovSubmitInput())


class RevokeForm(FlaskForm):
    pass


def _filters(params: dict[str, list[str]]) -> tuple[Filters, dict[str, str]]:
    try:
        return export_service.parse_filters(db.session(), current_user.organisation_id, params), {}
    except export_service.FilterError as exc:
        return Filters(), exc.errors


def _form_params(source: Any) -> dict[str, list[str]]:
    return {k: v for k, v in source.to_dict(flat=False).items() if k in FORM_PARAMS}


@bp.get("/exports")
def exports() -> Any:
    params = _form_params(request.args)
    filters, errors = _filters(params)
    session = db.session()
    try:
        scope = reports.scope_for(
            session, current_user.organisation_id, current_app.config["POLICY_KEY"], today()
        )
    except reports.NoPolicy:
        scope = None
    count = reports.count_people(session, scope, filters) if scope and not errors else None
    return render_template(
        "hr/exports.html",
        params=params,
        values={k: v[-1] for k, v in params.items() if v},
        errors=errors,
        choices=export_service.choices(session, current_user.organisation_id),
        count=count,
        has_policy=scope is not None,
        hidden=[(k, v) for k, values in params.items() for v in values],
        form=DownloadForm(),
        columns=[(c, HEADINGS[c]) for c in COLUMNS],
    ), 400 if errors else 200


@bp.post("/exports/download")
def export_download() -> Response:
    form = DownloadForm()
    if not form.validate_on_submit():
        abort(400, "Choose Excel or CSV.")
    params = _form_params(request.form)
    filters, errors = _filters(params)
    if errors:
        query: dict[str, Any] = dict(params)
        return redirect(url_for("hr.exports", **query))
    try:
        result = export_service.export(
            db.session(),
            current_user.organisation_id,
            current_app.config["POLICY_KEY"],
            filters,
            form.format.data or "",
            utcnow(),
            actor_person_id=current_user.person_id,
        )
    except reports.NoPolicy:
        abort(409, "No version of the policy is in force yet, so there is nothing to export.")
    db.session.commit()
    return attachment(result)


# -- API tokens ------------------------------------------------------------------------------
def _tokens_page(form: TokenForm, status: int = 200, **extra: Any) -> tuple[str, int]:
    org = current_user.organisation_id
    return render_template(
        "hr/tokens.html",
        form=form,
        tokens=api_tokens.list_tokens(db.session(), org),
        organisation_id=org,
        people_url=base_url() + url_for("api.people", org_id=org),
        openapi_url=base_url() + url_for("api.openapi"),
        **extra,
    ), status


@bp.get("/api-tokens")
def api_tokens_page() -> Any:
    revoked = request.args.get("revoked", type=int)
    token = api_tokens.get(db.session(), current_user.organisation_id, revoked) if revoked else None
    return _tokens_page(TokenForm(formdata=None), revoked=token)


@bp.post("/api-tokens")
def create_api_token() -> Any:
    form = TokenForm()
    if not form.validate_on_submit():
        return _tokens_page(form, 400)
    try:
        token, raw = api_tokens.create(
            db.session(),
            current_user.organisation_id,
            form.name.data or "",
            utcnow(),
            actor_person_id=current_user.person_id,
        )
    except api_tokens.TokenError as exc:
        db.session.rollback()
        form.name.errors = [str(exc)]
        return _tokens_page(form, 400)
    db.session.commit()
    # Shown on this answer only: it is not kept anywhere, so there is no page to go back to.
    return _tokens_page(TokenForm(formdata=None), created=token, raw_token=raw)


@bp.get("/api-tokens/<int:token_id>/revoke")
def revoke_api_token_confirm(token_id: int) -> Any:
    token = api_tokens.get(db.session(), current_user.organisation_id, token_id)
    if token is None:
        abort(404)
    return render_template("hr/tokens_revoke.html", token=token, form=RevokeForm())


@bp.post("/api-tokens/<int:token_id>/revoke")
def revoke_api_token(token_id: int) -> Any:
    form = RevokeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        api_tokens.revoke(
            db.session(),
            current_user.organisation_id,
            token_id,
            utcnow(),
            actor_person_id=current_user.person_id,
        )
    except api_tokens.TokenError:
        abort(404)
    db.session.commit()
    return redirect(url_for("hr.api_tokens_page", revoked=token_id))
