"""The tool's signing keys: create, rotate, retire, publish.

Parsing a PEM private key costs tens of milliseconds, so each process parses a key once.
The published set is also kept in memory (PublishedKeys), for when the database is down.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import DATABASE_UNAVAILABLE
from app.models import ToolKey


class KeyError_(Exception):
    """A key operation that cannot be done (e.g. retiring the signing key)."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key_pem: str
    public_key_pem: str
    key: rsa.RSAPrivateKey


_parsed: dict[str, SigningKey] = {}
_lock = threading.Lock()


def _new_key_material() -> tuple[str, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    jwk = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    return pem, jwk


def create_key(session: Session, now: datetime) -> ToolKey:
    """A new signing key; the previous one stays published so launches in flight still verify."""
    pem, jwk = _new_key_material()
    # The RFC 7638 thumbprint, which is also what pylti1p3 computes when it signs.
    members = json.dumps(
        {k: jwk[k] for k in ("e", "kty", "n")}, sort_keys=True, separators=(",", ":")
    )
    kid = base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    session.execute(update(ToolKey).where(ToolKey.active.is_(True)).values(active=False))
    key = ToolKey(kid=kid, private_key_pem=pem, public_jwk=jwk, created_at=now, active=True)
    session.add(key)
    session.flush()
    return key


def ensure_key(session: Session, now: datetime) -> tuple[ToolKey, bool]:
    key = session.scalars(select(ToolKey).where(ToolKey.active.is_(True))).first()
    if key is not None:
        return key, False
    return create_key(session, now), True


def retire_key(session: Session, kid: str, now: datetime) -> ToolKey:
    key = session.scalars(select(ToolKey).where(ToolKey.kid == kid)).first()
    if key is None:
        raise KeyError_(f"No key with kid {kid!r}.")
    if key.active:
        raise KeyError_("That key is the one signing now: rotate first, then retire it.")
    if key.retired_at is None:
        key.retired_at = now
    return key


def list_keys(session: Session) -> list[ToolKey]:
    return list(session.scalars(select(ToolKey).order_by(ToolKey.created_at, ToolKey.id)))


def published_jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    keys = session.scalars(
        select(ToolKey.public_jwk).where(ToolKey.retired_at.is_(None)).order_by(ToolKey.id.desc())
    )
    return {"keys": list(keys)}


class PublishedKeys:
    """The published set as last read, for serving /lti/jwks through a database outage.

    LMSs verify the tool's messages (and its token requests) with this set, so it must not
    vanish while the database restarts. It is read from the database on every call while
    the database answers, so a rotated key is published at once; after a failure the copy
    in memory is served, and the database tried again after `retry_seconds`.
    """

    def __init__(self, retry_seconds: float = 5.0) -> None:
        self.retry_seconds = retry_seconds
        self._keys: dict[str, list[dict[str, Any]]] | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def read(self, session: Session) -> tuple[dict[str, list[dict[str, Any]]], bool]:
        """(the set, whether it came from memory); raises when the database is down and
        the set was never read."""
        now = time.monotonic()
        with self._lock:
            keys, failed_at = self._keys, self._failed_at
        if keys is not None and failed_at is not None and now - failed_at < self.retry_seconds:
            return keys, True
        try:
            keys = published_jwks(session)
        except DATABASE_UNAVAILABLE:
            session.rollback()
            with self._lock:
                self._failed_at = now
                if self._keys is None:
                    raise
                return self._keys, True
        with self._lock:
            self._keys, self._failed_at = keys, None
        return keys, False


def signing_key(session: Session) -> SigningKey | None:
    """The active key, parsed once per process."""
    row = session.execute(
        select(ToolKey.kid, ToolKey.private_key_pem).where(ToolKey.active.is_(True))
    ).first()
    if row is None:
        return None
    kid, pem = row
    cached = _parsed.get(kid)
    if cached is not None:
        return cached
    with _lock:
        if kid not in _parsed:
            private = serialization.load_pem_private_key(pem.encode(), password=None)
            assert isinstance(private, rsa.RSAPrivateKey)
            public_pem = (
                private.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
            _parsed[kid] = SigningKey(
                kid=kid, private_key_pem=pem, public_key_pem=public_pem, key=private
            )
        return _parsed[kid]
