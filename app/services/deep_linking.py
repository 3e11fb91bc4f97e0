"""Pending deep linking requests: stored when a course editor's LMS asks for content, used
up once when the editor's choice is answered. No LTI here: lti/ checks and reads the
claims; this module keeps what it was given."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app.models import DeepLinkRequest

LIFETIME = timedelta(minutes=30)
# Kept a day past expiry, so that a late answer is told "expired", not "unknown".
KEEP_AFTER_EXPIRY = timedelta(days=1)


class RequestUnusable(Exception):
    """The request exists but can no longer be answered with content."""

    def __init__(self, request: DeepLinkRequest, reason: str) -> None:
        super().__init__(reason)
        self.request = request
        self.reason = reason  # "used" or "expired"


class UnknownRequest(Exception):
    """No such request, or the secret does not match it."""


@dataclass(frozen=True)
class NewRequest:
    id: int
    secret: str  # goes into the choice form's signed token; only its hash is stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_request(
    session: Session,
    *,
    organisation_id: int,
    registration_id: int,
    deployment_pk: int,
    settings: dict[str, Any],
    editor_name: str,
    now: datetime,
) -> NewRequest:
    session.execute(
        delete(DeepLinkRequest).where(DeepLinkRequest.expires_at < now - KEEP_AFTER_EXPIRY)
    )
    secret = secrets.token_urlsafe(24)
    row = DeepLinkRequest(
        organisation_id=organisation_id,
        registration_id=registration_id,
        deployment_id=deployment_pk,
        settings=settings,
        editor_name=editor_name[:300],
        secret_hash=_hash(secret),
        created_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(row)
    session.flush()
    return NewRequest(row.id, secret)


def find_request(session: Session, request_id: int, secret: str) -> DeepLinkRequest:
    row = session.get(DeepLinkRequest, request_id)
    if row is None or not secrets.compare_digest(row.secret_hash, _hash(secret)):
        raise UnknownRequest()
    return row


def usable_request(
    session: Session, request_id: int, secret: str, now: datetime
) -> DeepLinkRequest:
    """The request, if it may still be answered (for showing the choice page)."""
    row = find_request(session, request_id, secret)
    if row.used_at is not None:
        raise RequestUnusable(row, "used")
    if now > row.expires_at:
        raise RequestUnusable(row, "expired")
    return row


def use_request(session: Session, request_id: int, secret: str, now: datetime) -> DeepLinkRequest:
    """Mark the request answered, once: of two submissions racing, one wins (the update's
    conditions are checked by the database), the other is told it was used."""
    row = find_request(session, request_id, secret)
    done = session.execute(
        update(DeepLinkRequest)
        .where(
            DeepLinkRequest.id == request_id,
            DeepLinkRequest.used_at.is_(None),
            DeepLinkRequest.expires_at >= now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(row)
        raise RequestUnusable(row, "used" if row.used_at is not None else "expired")
    session.refresh(row)
    return row
