"""Learner forms (WTForms with CSRF, rendered by GOV.UK Frontend widgets)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovRadioInput,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import BooleanField, RadioField, SelectMultipleField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from app.services.attempts import Shown


class StartQuizForm(FlaskForm):
    submit = SubmitField("Start the quiz", widget=GovSubmitInput())


class MoreTimeForm(FlaskForm):
    submit = SubmitField("I need more time", widget=GovSubmitInput())


class AttemptForm(FlaskForm):
    """One field per drawn question, named q1, q2...: values are option positions only."""

    submit = SubmitField("Submit my answers", widget=GovSubmitInput())
    save = SubmitField("Save and come back later", widget=GovSubmitInput())

    def question_fields(self) -> list[object]:
        return [f for f in self if f.name.startswith("q")]


def attempt_form(questions: list[Shown], data: dict[str, object] | None = None) -> AttemptForm:
    """`data`: the answers to tick (a saved draft) when the page is shown, not posted."""

    class _Form(AttemptForm):
        pass

    for q in questions:
        choices = [SelectChoice(str(pos), text) for pos, text in q.options]
        if q.multiple:
            field = SelectMultipleField(
                q.question.stem,
                choices=choices,
                widget=GovCheckboxesInput(),
                validate_choice=False,
                validators=[InputRequired(f"Select at least one answer to question {q.number}")],
                description="Select all that apply.",
            )
        else:
            field = RadioField(
                q.question.stem,
                choices=choices,
                widget=GovRadioInput(),
                validate_choice=False,
                validators=[InputRequired(f"Select an answer to question {q.number}")],
            )
        setattr(_Form, f"q{q.number}", field)
    return _Form(data=data)


class DeclarationForm(FlaskForm):
    accept = BooleanField(
        "I have read, understood and accept the policy",
        widget=GovCheckboxInput(),
        validators=[DataRequired("Select the box to confirm that you accept the policy")],
    )
    full_name = StringField(
        "Your full name",
        widget=GovTextInput(),
        validators=[
            InputRequired("Enter your full name"),
            Length(max=300, message="Your name must be 300 characters or fewer"),
        ],
        description=(
            "Type your name as it appears in the learning portal. You can put a title such as"
            " Cllr or Dr before it."
        ),
    )
    submit = SubmitField("Continue", widget=GovSubmitInput())


class ConfirmForm(DeclarationForm):
    """The same answers, carried through the check page as hidden fields."""

    accept = BooleanField(validators=[DataRequired()])
    full_name = StringField(validators=[InputRequired(), Length(max=300)])
    submit = SubmitField("Accept the policy", widget=GovSubmitInput())
