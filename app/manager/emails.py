"""The wording of reminder e-mails (templates under app/templates/email) and the SMTP
settings, for the team pages and `flask reminders run` alike."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import current_app, render_template

from app.clock import long_date
from app.models import Organisation
from app.services.about import Contact
from app.services.mail import SmtpSettings
from app.services.reminders import Renderer


def smtp_settings() -> SmtpSettings:
    c = current_app.config
    return SmtpSettings(
        host=c["SMTP_HOST"],
        port=c["SMTP_PORT"],
        starttls=c["SMTP_STARTTLS"],
        username=c["SMTP_USERNAME"] or None,
        password=c["SMTP_PASSWORD"] or None,
        sender=c["MAIL_FROM"],
    )


def lms_link(org: Organisation) -> str | None:
    """The module's address in the LMS as HR set it, or None (the e-mail says it in words).

    Never a launch's return URL: the LMS made that for one person, and it can carry their
    session (Moodle's sesskey); it serves only that person's own way back to the course."""
    return org.lms_url or None


def renderer(org: Organisation, link: str | None) -> Renderer:
    def render(kind: str, facts: dict[str, Any], settings: dict[str, Any]) -> tuple[str, str, str]:
        facts = dict(facts)
        for name in ("due_date", "valid_until"):
            if facts.get(name):
                facts[f"{name}_text"] = long_date(date.fromisoformat(facts[name]))
        local = org.content_values or {}
        context = {
            "kind": kind,
            "facts": facts,
            "name": facts.get("name"),
            "council": org.name,
            "link": link,
            "message": settings.get("message"),
            # Whom to ask: the council's own local details, as the policy's text names them.
            "contact_team": str(local.get("corporate_parenting_team") or "").strip(),
            "contact_email": Contact(str(local.get("corporate_parenting_email") or "").strip()),
        }
        subject = render_template("email/subjects.txt", **context).strip()
        if settings.get("subject") and kind not in ("digest", "attempts_used"):
            subject = str(settings["subject"])
        context["subject"] = subject
        return (
            subject,
            render_template("email/reminder.txt", **context),
            render_template("email/reminder.html", **context),
        )

    return render
