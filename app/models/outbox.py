"""Scores waiting to be sent to the LMS (LTI Assignment and Grade Services).

Kept in the database so that a score survives an LMS that is down, a process restart or a
deploy: it is retried with back-off until the LMS takes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import utcnow
from app.db import Base, UtcDateTime


class ScoreOutbox(Base):
    __tablename__ = "score_outbox"
    # One score per acceptance and placement (activity): a person who accepted through one
    # activity and opens another (a second course, the module placed again) has a score for
    # it too, so that its gradebook column and completion follow (services/outbox.py).
    __table_args__ = (UniqueConstraint("acceptance_id", "registration_id", "resource_link_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    acceptance_id: Mapped[int] = mapped_column(ForeignKey("acceptance.id"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("platform_registration.id"))
    # The AGS endpoint claim of the launch (lineitem and/or lineitems URL, scopes).
    endpoint: Mapped[dict[str, Any]] = mapped_column(JSON)
    resource_link_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))  # the LTI sub
    score_given: Mapped[int]
    score_maximum: Mapped[int]
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    tries: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # An answer from the LMS that will not change on retry (a 4xx such as 400 for a user it
    # does not grade): no more tries until HR sends it again.
    refused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lms_status: Mapped[int | None]  # the HTTP status of the LMS's last answer
    lms_answer: Mapped[str | None] = mapped_column(Text)  # the start of its body
