"""HR forms: the people filters, an acceptance recorded on someone's behalf, legal holds,
subject access exports and the organisation's settings (WTForms, GOV.UK widgets)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovDateInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    Field,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Regexp

from app.services.committee import PERIODS
from app.services.content_pack import PLACEHOLDERS
from app.services.organisations import MAX_DETAIL
from app.services.status import State

# Text HR types and the tool stores: control characters (other than line breaks and tabs)
# and lone surrogates cannot be typed, and PostgreSQL refuses a NUL with an error.
no_control_characters = Regexp(
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]*$",
    message="Remove the characters that cannot be typed (control characters)",
)


class DayMonthYearField(Field):
    """A GOV.UK date input (day, month, year boxes of one name). All three empty is no date;
    anything else must be a real date."""

    widget = GovDateInput()

    def __init__(self, label: str, required_message: str | None = None, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.required_message = required_message
        self.data: date | None = None

    def process_formdata(self, valuelist: list[Any]) -> None:
        parts = [str(v).strip() for v in valuelist]
        # The widget shows back exactly three boxes, or the date when nothing was sent.
        self.raw_data = [*parts, "", "", ""][:3] if any(parts) else None
        self.data = None
        if not any(parts):
            if self.required_message:
                raise ValueError(self.required_message)
            return
        message = f"{self.label.text} must be a real date, like 27 3 2026"
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(message)
        try:
            self.data = datetime.strptime(" ".join(parts), "%d %m %Y").date()
        except ValueError as exc:
            raise ValueError(message) from exc

    def _value(self) -> str:
        return self.data.strftime("%d %m %Y") if self.data else ""


class PeopleFilterForm(FlaskForm):
    """The people list's filters, the one set HR filters people by (the dashboard's figures
    link here with theirs): a GET form (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    status = SelectMultipleField(
        "Status",
        widget=GovCheckboxesInput(),
        choices=[SelectChoice(s.value, s.label) for s in State],
        validate_choice=False,
        description="Select all that apply.",
    )
    overdue = BooleanField("Overdue only", widget=GovCheckboxInput())
    role = RadioField(
        "Staff or councillors",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("", "Everyone"),
            SelectChoice("staff", "Staff only"),
            SelectChoice("councillors", "Councillors only"),
        ],
        default="",
        validate_choice=False,
    )
    childrens = RadioField(
        "Children's workforce",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("", "Everyone"),
            SelectChoice("yes", "Only the children's workforce"),
            SelectChoice("no", "Only people outside the children's workforce"),
        ],
        default="",
        validate_choice=False,
        description="As marked in HR's roster (the Children's workforce column).",
    )
    directorate = SelectField("Directorate", widget=GovSelect(), validate_choice=False)
    department = SelectField("Department", widget=GovSelect(), validate_choice=False)
    manager = SelectField("Manager", widget=GovSelect(), validate_choice=False)
    accepted_from = DayMonthYearField("Completed on or after", description="For example, 1 4 2026")
    accepted_to = DayMonthYearField("Completed on or before", description="For example, 30 4 2026")
    leavers = BooleanField("Include leavers", widget=GovCheckboxInput())
    submit = SubmitField("Apply filters", widget=GovSubmitInput())

    PARAMS = (
        "status",
        "overdue",
        "role",
        "childrens",
        "directorate",
        "department",
        "manager",
        "accepted_from",
        "accepted_to",
        "leavers",
    )
    # The values a role or children's workforce choice means for reports.Filters.
    ROLES = {"staff": False, "councillors": True}
    CHILDRENS = {"yes": True, "no": False}


class DownloadListForm(FlaskForm):
    """CSRF only, with the list's filters as hidden fields: a download is an audit event."""

    format = SelectField(
        choices=[SelectChoice("csv", "CSV"), SelectChoice("xlsx", "Excel")],
        validators=[InputRequired()],
    )


class UnitFilterForm(FlaskForm):
    """The dashboard's filters: which part of the organisation the figures cover."""

    class Meta:
        csrf = False

    directorate = SelectField("Directorate", widget=GovSelect(), validate_choice=False)
    department = SelectField("Department", widget=GovSelect(), validate_choice=False)
    leavers = BooleanField("Include leavers", widget=GovCheckboxInput())
    submit = SubmitField("Show figures", widget=GovSubmitInput())


_Day = date  # ReportForm's field `date` hides the type inside its class


class ReportForm(FlaskForm):
    """The committee report's day and period: a GET form (no CSRF: showing a report changes
    nothing; its PDF download, which is recorded, posts these values with a token)."""

    class Meta:
        csrf = False

    # The figures go back as far as the module could have been used: earlier is a typo.
    EARLIEST = date(2000, 1, 1)

    date = DayMonthYearField(
        "Date of the figures",
        required_message="Enter the date of the figures",
        description="The figures are as they stood at the end of this day. For example, 31 3 2026",
    )
    period = RadioField(
        "Period",
        widget=GovRadioInput(),
        description="The figures are compared with those at the start of the period: "
        "3 months, 1 month or 12 months before the date.",
        choices=[
            SelectChoice("quarter", "Last quarter"),
            SelectChoice("month", "Last month"),
            SelectChoice("year", "Last year"),
        ],
        default="quarter",
        validate_choice=False,  # checked below, with a message in plain English
    )
    submit = SubmitField("Show the report", widget=GovSubmitInput())

    def check(self, today: _Day) -> bool:
        """The values can be used: a real date from 1 January 2000 to `today` (London's
        date: the figures of a day still to come do not exist), and one of the periods."""
        valid = self.validate()
        day = self.date.data
        if valid and day is not None and day > today:
            self.date.errors = ["The date must be today or in the past"]
            valid = False
        elif valid and day is not None and day < self.EARLIEST:
            self.date.errors = ["The date must be 1 January 2000 or later"]
            valid = False
        if (self.period.data or "") not in PERIODS:
            self.period.errors = ["Select the period to compare with"]
            valid = False
        return valid


class PaperAcceptanceForm(FlaskForm):
    declared_on = DayMonthYearField(
        "Date of the declaration",
        required_message="Enter the date of the declaration",
        description="The date the person signed it, for example 27 3 2026",
    )
    note = TextAreaField(
        "How was the policy accepted?",
        widget=GovTextArea(),
        validators=[
            InputRequired("Enter a note saying how the policy was accepted"),
            Length(max=2000, message="The note must be 2000 characters or fewer"),
            no_control_characters,
        ],
        description="For example: signed paper declaration, held in the personnel file. "
        "Do not include health or other sensitive details.",
    )
    confirm = BooleanField(
        "I have seen the person's signed declaration accepting this version of the policy",
        widget=GovCheckboxInput(),
        validators=[DataRequired("Confirm that you have seen the signed declaration")],
    )
    submit = SubmitField("Continue", widget=GovSubmitInput())


class RecordPaperAcceptanceForm(FlaskForm):
    """CSRF only: record the acceptance just checked."""

    submit = SubmitField("Record the acceptance", widget=GovSubmitInput())


class LegalHoldForm(FlaskForm):
    reason = TextAreaField(
        "Reason",
        widget=GovTextArea(),
        validators=[
            InputRequired("Enter the reason"),
            Length(max=1000, message="The reason must be 1000 characters or fewer"),
            no_control_characters,
        ],
        description="For example, the reference of the claim or investigation.",
    )
    submit = SubmitField("Save", widget=GovSubmitInput())


class RetryScoreForm(FlaskForm):
    """CSRF only: send a score the learning portal refused once more."""

    submit = SubmitField("Send again", widget=GovSubmitInput())


class SubjectAccessForm(FlaskForm):
    """CSRF only: the export is a POST because it is recorded in the audit trail."""

    submit = SubmitField("Download their data (JSON)", widget=GovSubmitInput())


def _number(label: str, hint: str, message: str) -> StringField:
    return StringField(
        label,
        widget=GovTextInput(),
        validators=[InputRequired(message)],
        description=hint,
    )


class SettingsForm(FlaskForm):
    validity_months = _number(
        "How long an acceptance lasts, in months",
        "Usually 12. From 1 to 120.",
        "Enter how many months an acceptance lasts",
    )
    renewal_window_days = _number(
        "How many days before it expires renewal opens",
        "People are asked to renew from this many days before their acceptance ends.",
        "Enter how many days before expiry renewal opens",
    )
    renewal_basis = RadioField(
        "What a renewed acceptance's period counts from",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("expiry", "The previous expiry date, so the renewal date stays put"),
            SelectChoice("completion", "The day the person renews"),
        ],
        validators=[InputRequired("Select what a renewed period counts from")],
        validate_choice=False,  # the choices are checked with the other rules (settings.py)
    )
    due_from = RadioField(
        "What the due date counts from",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("assignment", "When the module was assigned to the person"),
            SelectChoice("start_date", "The start date in HR's roster, where there is one"),
        ],
        validators=[InputRequired("Select what the due date counts from")],
        validate_choice=False,
    )
    due_days = _number(
        "Days to complete the module",
        "The due date is this many days after the date above. From 1 to 3650.",
        "Enter how many days people have to complete the module",
    )
    retention_years = _number(
        "Years to keep a leaver's records",
        "After this many years from the day someone left, their personal details are "
        "removed. From 1 to 100.",
        "Enter how many years to keep a leaver's records",
    )
    retention_years_childrens = _number(
        "Years to keep a leaver's records if they worked with children",
        "For the children's workforce, commonly 25. At least as long as for everyone else.",
        "Enter how many years to keep the records of the children's workforce",
    )
    roster_join = RadioField(
        "How a first launch is joined to the roster",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("sourcedid", "By the learning portal's ID number (recommended)"),
            SelectChoice("email", "By e-mail address, confirmed by HR"),
            SelectChoice("employee_id", "By a custom parameter employee_id, confirmed by HR"),
            SelectChoice("never", "Never: HR links people by importing the roster"),
        ],
        validators=[InputRequired("Select how a first launch is joined to the roster")],
        validate_choice=False,
    )
    lms_url = StringField(
        "The module's address in your learning portal (optional)",
        widget=GovTextInput(),
        description=(
            "Reminder e-mails link to it, so use the course or activity page as anyone "
            "sees it, starting with https://. Leave it empty and e-mails ask people to open "
            "the module in the learning portal, with no link."
        ),
    )
    report_target_percent = _number(
        "Completion target, in per cent",
        "The report forecasts when each directorate reaches it. Usually 95. From 1 to 100.",
        "Enter the completion target, in per cent",
    )
    report_councillor_names = RadioField(
        "Name the councillors who have not completed the module",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("hidden", "No, only count them (recommended)"),
            SelectChoice("listed", "Yes, list them by name for the Monitoring Officer"),
        ],
        validators=[InputRequired("Select whether the report names councillors")],
        validate_choice=False,
    )
    report_period = RadioField(
        "The period each scheduled report covers",
        widget=GovRadioInput(),
        choices=[
            SelectChoice("quarter", "The last quarter (3 months)"),
            SelectChoice("month", "The last month"),
            SelectChoice("year", "The last year"),
        ],
        validators=[InputRequired("Select the period the report covers")],
        validate_choice=False,
    )
    report_day = _number(
        "Day of the month the report is sent",
        "From 1 to 28. If the day is missed, the report is sent on the next day the schedule "
        "runs that month. Enter 0 to send no scheduled report.",
        "Enter the day of the month the report is sent, or 0",
    )
    report_recipients = TextAreaField(
        "Who the report is sent to (optional if it is not sent)",
        widget=GovTextArea(),
        description=(
            "E-mail addresses only, separated by commas or on separate lines, up to 20. "
            "For example, the committee's clerk and the Monitoring Officer."
        ),
    )
    submit = SubmitField("Save settings", widget=GovSubmitInput())

    NUMBERS = (
        "due_days",
        "validity_months",
        "renewal_window_days",
        "retention_years",
        "retention_years_childrens",
        "report_target_percent",
        "report_day",
    )
    CHOICES = (
        "renewal_basis",
        "due_from",
        "roster_join",
        "report_councillor_names",
        "report_period",
    )
    TEXTS = ("lms_url", "report_recipients")
    DETAILS = tuple(PLACEHOLDERS)  # the policy text's local details, one box each


# One box per local detail, labelled as `flask org show` describes it; the page gives each
# its hint (what the text says while the box is empty). The service checks them again.
for _key, (_label, _default) in PLACEHOLDERS.items():
    setattr(
        SettingsForm,
        _key,
        StringField(
            _label,
            widget=GovTextInput(),
            validators=[
                Length(max=MAX_DETAIL, message=f"{_label} must be {MAX_DETAIL} characters or fewer")
            ],
        ),
    )


class RegistrationUrlForm(FlaskForm):
    """Makes a registration URL for connecting the council's LMS (LTI Dynamic Registration)."""

    submit = SubmitField("Make a registration URL", widget=GovSubmitInput())
