"""The certificate: a one-page PDF (fpdf2) that names the person, organisation, policy,
version, dates and a verification code HR can look up.

Names come from the LMS and may be in any script: the text uses DejaVu Sans (Unicode), the
font Debian installs as fonts-dejavu-core.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from fpdf import FPDF
from sqlalchemy.orm import Session

from app.clock import long_date, long_datetime
from app.models import Acceptance, Organisation, Person, PolicyVersion
from app.services.anchoring import printed_reference

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True)
class CertificateData:
    person_name: str
    organisation: str
    policy_title: str
    version: str
    effective_date: date
    accepted_at: datetime
    valid_until: date
    quiz_score: int | None
    verification_code: str
    recorded_by: str | None = None
    # The acceptance's audit event (seq, hash prefix): each copy kept anchors the audit chain.
    audit_reference: tuple[int, str] | None = None


def render_certificate(data: CertificateData, font_dir: Path = FONT_DIR) -> bytes:
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_title(f"Certificate of completion: {data.policy_title} - {data.person_name}")
    pdf.set_author(data.organisation)
    pdf.set_lang("en-GB")
    pdf.add_font("DejaVu", "", str(font_dir / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(font_dir / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    pdf.set_line_width(1.5)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
    width = pdf.w - 40

    def line(text: str, size: int, style: str = "", space: float = 4) -> None:
        pdf.set_font("DejaVu", style, size)
        pdf.set_x(20)
        pdf.multi_cell(width, size * 0.5, text, align="C")
        pdf.ln(space)

    pdf.set_y(30)
    line(data.organisation, 16, "B", 8)
    line("Certificate of completion", 26, "B", 10)
    line("This confirms that", 14, "", 4)
    line(data.person_name, 24, "B", 8)
    line(
        f"completed the e-learning module and quiz on the {data.policy_title}, version "
        f"{data.version} (in force from {long_date(data.effective_date)}), and accepted the "
        "policy.",
        14,
        "",
        8,
    )
    # A time only where one was really recorded: HR records a paper acceptance by its date.
    when = (
        long_date(data.accepted_at)
        if data.recorded_by
        else f"{long_datetime(data.accepted_at)} (UK time)"
    )
    line(f"Completed on {when}", 13, "", 3)
    if data.quiz_score is not None:
        line(f"Quiz score: {data.quiz_score}%", 13, "", 3)
    if data.recorded_by:
        line(f"Recorded on the person's behalf by {data.recorded_by}", 13, "", 3)
    line(f"Valid until {long_date(data.valid_until)}", 13, "B", 12)
    code = f"{data.verification_code[:5]}-{data.verification_code[5:]}"
    line(f"Verification code: {code}", 12, "", 2)
    if data.audit_reference:
        seq, prefix = data.audit_reference
        line(f"Audit record: seq {seq}, hash {prefix}", 10, "", 2)
    line(
        "HR can confirm this certificate with the code (and audit record) in the Corporate "
        "Parenting module.",
        10,
        "",
        0,
    )
    return bytes(pdf.output())


def certificate_for(session: Session, acceptance: Acceptance) -> bytes:
    person = session.get(Person, acceptance.person_id)
    org = session.get(Organisation, acceptance.organisation_id)
    version = session.get(PolicyVersion, acceptance.policy_version_id)
    assert person is not None and org is not None and version is not None
    recorder = (
        session.get(Person, acceptance.recorded_by_person_id)
        if acceptance.recorded_by_person_id
        else None
    )
    return render_certificate(
        CertificateData(
            person_name=person.name or acceptance.typed_name,
            organisation=org.name,
            policy_title=version.title,
            version=version.version,
            effective_date=version.effective_date,
            accepted_at=acceptance.accepted_at,
            valid_until=acceptance.valid_until,
            quiz_score=acceptance.quiz_score,
            verification_code=acceptance.verification_code,
            recorded_by=recorder.name if recorder else None,
            audit_reference=printed_reference(acceptance),
        )
    )
