"""API tokens for HR systems: created and revoked by HR, one organisation each.

The token is shown once, when it is made; only its SHA-256 hash and a short prefix (so that
people can tell tokens apart) are kept. A request's token is found by its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken
from app.services import audit

# Recognisable in logs, config files and secret scanners: "cpm_" + 43 URL-safe characters.
TOKEN_PREFIX = "cpm_"  # noqa: S105 (a label, not a secret)
PREFIX_LENGTH = 12  # what is kept and shown: cpm_ and the first 8 characters
NAME_MAX = 200
# last_used_at is written at most this often per token: API calls stay read-only mostly.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenError(Exception):
    pass


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create(
    session: Session,
    organisation_id: int,
    name: str,
    now: datetime,
    *,
    actor_person_id: int | None = None,
    actor: str | None = None,
) -> tuple[ApiToken, str]:
    """A new token; returns the row and the raw token, which is never available again."""
    name = " ".join(name.split())
    if not name:
        raise TokenError("Enter a name for the token")
    if len(name) > NAME_MAX:
        raise TokenError(f"The name must be {NAME_MAX} characters or fewer")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        organisation_id=organisation_id,
        name=name,
        prefix=raw[:PREFIX_LENGTH],
        token_hash=digest(raw),
        created_by_person_id=actor_person_id,
        created_at=now,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        organisation_id,
        "config_change",
        now,
        actor_person_id=actor_person_id,
        actor=actor,
        details={
            "change": "api_token_created",
            "token_id": token.id,
            "prefix": token.prefix,
            "name": name,
        },
    )
    return token, raw


def revoke(
    session: Session,
    organisation_id: int,
    token_id: int,
    now: datetime,
    *,
    actor_person_id: int | None = None,
    actor: str | None = None,
) -> ApiToken:
    """Stop a token working at once. Revoking a revoked token changes nothing."""
    token = get(session, organisation_id, token_id)
    if token is None:
        raise TokenError("No such token in your organisation")
    if token.revoked_at is not None:
        return token
    token.revoked_at = now
    audit.record(
        session,
        organisation_id,
        "config_change",
        now,
        actor_person_id=actor_person_id,
        actor=actor,
        details={"change": "api_token_revoked", "token_id": token.id, "prefix": token.prefix},
    )
    return token


def get(session: Session, organisation_id: int, token_id: int) -> ApiToken | None:
    """A token of this organisation (never another's)."""
    return session.scalars(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.organisation_id == organisation_id)
    ).first()


def list_tokens(session: Session, organisation_id: int) -> list[ApiToken]:
    """The organisation's tokens, newest first, revoked ones included."""
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.organisation_id == organisation_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def authenticate(session: Session, raw: str, now: datetime) -> ApiToken | None:
    """The live token with this value, or None. Marks it used (at most once a minute)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    hashed = digest(raw)
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == hashed)).first()
    # The lookup is by hash, so timing says nothing about the token; compare anyway.
    if token is None or not hmac.compare_digest(token.token_hash, hashed):
        return None
    if token.revoked_at is not None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        token.last_used_at = now
    return token
