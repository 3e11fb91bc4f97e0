"""Sending e-mail over SMTP (host, port, STARTTLS and login from configuration)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from app.services.metrics import EMAIL_FAILURES


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "corporate-parenting@localhost"
    sender_name: str = "Corporate Parenting module"
    timeout: float = 10.0


class MailError(Exception):
    """The message was not accepted by the SMTP server; or, with `refused`, not for those
    recipients, while the server took it for the others (it has gone to them)."""

    def __init__(self, text: str, refused: tuple[str, ...] = ()) -> None:
        super().__init__(text)
        self.refused = refused


def message(
    settings: SmtpSettings, to: str, subject: str, text: str, html: str, cc: str | None = None
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((settings.sender_name, settings.sender))
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=settings.sender.rsplit("@", 1)[-1])
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


class Mailer:
    """One SMTP connection for a batch of messages; opened on first use."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except smtplib.SMTPException:
                self._smtp.close()
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        if s.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if s.username:
            smtp.login(s.username, s.password or "")
        return smtp

    def send(self, msg: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            # Start afresh next time: after an error the connection's state is unknown.
            if self._smtp is not None:
                self._smtp.close()
            self._smtp = None
            EMAIL_FAILURES.inc()
            raise MailError(f"{exc.__class__.__name__}: {exc}"[:500]) from exc
        if refused:
            EMAIL_FAILURES.inc()
            raise MailError(f"refused recipients: {', '.join(refused)}", tuple(refused))
