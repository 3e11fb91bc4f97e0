"""The certificate's words: one name for the thing ("Certificate of completion"), and a time
only where one was really recorded (HR's record of a paper acceptance has a date alone)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

from pypdf import PdfReader

from app.services.certificates import CertificateData, render_certificate

DATA = CertificateData(
    person_name="Jo Evans",
    organisation="Test Borough Council",
    policy_title="Corporate Parenting Policy",
    version="2.0",
    effective_date=date(2026, 12, 1),
    accepted_at=datetime(2026, 12, 4, 14, 5, tzinfo=UTC),
    valid_until=date(2027, 12, 4),
    quiz_score=90,
    verification_code="ABCDEFGHJK",
)


def words(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return " ".join(reader.pages[0].extract_text().split())


def test_the_certificate_is_a_certificate_of_completion_with_the_time_it_was_completed() -> None:
    pdf = render_certificate(DATA)
    text = words(pdf)
    assert "Certificate of completion" in text
    assert "Certificate of completion and acceptance" not in text
    assert "certified" not in text.lower() and "certifies" not in text.lower()
    assert "This confirms that" in text
    assert "Completed on 4 December 2026 at 2:05pm (UK time)" in text
    assert "Verification code: ABCDE-FGHJK" in text
    title = PdfReader(io.BytesIO(pdf)).metadata.title
    assert title == "Certificate of completion: Corporate Parenting Policy - Jo Evans"


def test_a_paper_acceptance_recorded_by_hr_shows_its_date_alone() -> None:
    recorded = CertificateData(**{**DATA.__dict__, "recorded_by": "Priya Shah", "quiz_score": None})
    text = words(render_certificate(recorded))
    assert "Completed on 4 December 2026 Recorded on the person's behalf by Priya Shah" in text
    assert "2:05pm" not in text and "UK time" not in text
