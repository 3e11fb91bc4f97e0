"""The form of the "new window" confirm step (WTForms, so Flask-WTF checks its CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput
from wtforms import HiddenField, SubmitField


class ContinueAsForm(FlaskForm):
    # The hand-off link travels in the form body, never in a URL that access logs keep.
    h = HiddenField()
    submit = SubmitField("Continue", widget=GovSubmitInput())
