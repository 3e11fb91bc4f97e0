"""Settings read from the environment, with defaults that run the tool locally.

Everything an operator can set is listed here and in the README's configuration table.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def normalise_database_url(url: str) -> str:
    """Accept the plain `postgres://`/`postgresql://` URLs hosting platforms hand out.

    SQLAlchemy would pick psycopg2 for those; this project ships psycopg 3.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _instance_secret(instance_path: Path) -> str:
    """A per-installation secret kept in instance/, for local use when SECRET_KEY is unset.

    Production sets SECRET_KEY so that every process (and every machine) shares it.
    """
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


@dataclass(frozen=True)
class Settings:
    SQLALCHEMY_DATABASE_URI: str
    SECRET_KEY: str
    # Public base URL of the tool (https://cp.example.gov.uk). Empty: taken from each request.
    TOOL_BASE_URL: str
    # Cookies must be Secure (and so SameSite=None; Partitioned) to work inside an LMS iframe.
    # Only a loopback demo over plain HTTP turns this off.
    SESSION_COOKIE_SECURE: bool
    SESSION_COOKIE_SAMESITE: str
    SESSION_COOKIE_PARTITIONED: bool
    SESSION_COOKIE_HTTPONLY: bool
    SESSION_COOKIE_NAME: str
    SESSION_HOURS: int
    # Clock skew allowed between the LMS and the tool when checking exp/iat.
    LTI_LEEWAY_SECONDS: int
    # How long a platform's key set is trusted before it is fetched again.
    LTI_JWKS_CACHE_SECONDS: int
    # An unknown kid re-fetches the key set, but not more often than this per platform.
    LTI_JWKS_MIN_REFETCH_SECONDS: float
    # Behind a reverse proxy that sets X-Forwarded-For/-Proto/-Host.
    TRUST_PROXY_HEADERS: bool
    LOG_LEVEL: str
    # The content packs (policy text) and question banks: data, published with the CLI.
    CONTENT_DIR: str
    QUIZ_DIR: str
    # The policy this tool teaches (a content pack's key).
    POLICY_KEY: str
    # Outgoing e-mail (reminders).
    SMTP_HOST: str
    SMTP_PORT: int
    SMTP_STARTTLS: bool
    SMTP_USERNAME: str
    SMTP_PASSWORD: str
    MAIL_FROM: str
    # HR systems' API: requests allowed per token (Flask-Limiter syntax), and where they are
    # counted ("memory://" counts in each process; a redis:// URL shares one count).
    API_RATE_LIMIT: str
    API_RATE_LIMIT_STORAGE_URI: str
    # The audit chain's anchors outside the database (app/services/anchoring.py): the HMAC
    # key of checkpoints, from the environment only and never the same as SECRET_KEY (someone
    # with the database and the app's settings must still not be able to forge one); the
    # directory they are written to (storage with a retention lock); and a records address
    # each is e-mailed to (optional).
    AUDIT_ANCHOR_KEY: str
    AUDIT_CHECKPOINT_DIR: str
    AUDIT_CHECKPOINT_EMAIL: str
    # The largest request body taken, in bytes, where a view allows no more (app/web.py):
    # forms and LTI launches (an id_token is a few KB) need far less.
    MAX_CONTENT_LENGTH: int
    # Each serving process sends queued scores from a thread of its own (app/score_sender.py),
    # woken by an acceptance and looking for due retries this often; 0: no thread, cron only.
    OUTBOX_POLL_SECONDS: float
    # Operations (README, "Metrics and logs"): /metrics exists only when METRICS_TOKEN is set,
    # and the tool keeps only the token's SHA-256; logs are "text" or "json" (one object a line).
    METRICS_TOKEN_SHA256: str
    LOG_FORMAT: str
    WTF_CSRF_TIME_LIMIT: int | None
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any]

    @classmethod
    def from_env(cls, instance_path: Path, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        default_db = f"sqlite:///{instance_path / 'corporate-parenting.sqlite3'}"
        url = normalise_database_url(env.get("DATABASE_URL") or default_db)
        secure = _bool(env.get("COOKIE_SECURE"), True)
        return cls(
            SQLALCHEMY_DATABASE_URI=url,
            SECRET_KEY=env.get("SECRET_KEY") or _instance_secret(instance_path),
            TOOL_BASE_URL=(env.get("TOOL_BASE_URL") or "").rstrip("/"),
            SESSION_COOKIE_SECURE=secure,
            SESSION_COOKIE_SAMESITE="None" if secure else "Lax",
            SESSION_COOKIE_PARTITIONED=secure,
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_NAME="cpm_session",
            SESSION_HOURS=int(env.get("SESSION_HOURS") or 8),
            LTI_LEEWAY_SECONDS=int(env.get("LTI_LEEWAY_SECONDS") or 60),
            LTI_JWKS_CACHE_SECONDS=int(env.get("LTI_JWKS_CACHE_SECONDS") or 3600),
            LTI_JWKS_MIN_REFETCH_SECONDS=float(env.get("LTI_JWKS_MIN_REFETCH_SECONDS") or 5),
            TRUST_PROXY_HEADERS=_bool(env.get("TRUST_PROXY_HEADERS"), False),
            LOG_LEVEL=env.get("LOG_LEVEL") or "INFO",
            CONTENT_DIR=env.get("CONTENT_DIR") or str(ROOT / "content"),
            QUIZ_DIR=env.get("QUIZ_DIR") or str(ROOT / "quizzes"),
            POLICY_KEY=env.get("POLICY_KEY") or "corporate-parenting",
            SMTP_HOST=env.get("SMTP_HOST") or "localhost",
            SMTP_PORT=int(env.get("SMTP_PORT") or 25),
            SMTP_STARTTLS=_bool(env.get("SMTP_STARTTLS"), False),
            SMTP_USERNAME=env.get("SMTP_USERNAME") or "",
            SMTP_PASSWORD=env.get("SMTP_PASSWORD") or "",
            MAIL_FROM=env.get("MAIL_FROM") or "corporate-parenting@localhost",
            API_RATE_LIMIT=env.get("API_RATE_LIMIT") or "60 per minute",
            API_RATE_LIMIT_STORAGE_URI=env.get("API_RATE_LIMIT_STORAGE_URI") or "memory://",
            AUDIT_ANCHOR_KEY=env.get("AUDIT_ANCHOR_KEY") or "",
            AUDIT_CHECKPOINT_DIR=env.get("AUDIT_CHECKPOINT_DIR") or "",
            AUDIT_CHECKPOINT_EMAIL=env.get("AUDIT_CHECKPOINT_EMAIL") or "",
            MAX_CONTENT_LENGTH=int(env.get("MAX_CONTENT_LENGTH") or 256 * 1024),
            OUTBOX_POLL_SECONDS=float(env.get("OUTBOX_POLL_SECONDS") or 60),
            METRICS_TOKEN_SHA256=metrics_token_hash(env.get("METRICS_TOKEN") or ""),
            LOG_FORMAT=_log_format(env.get("LOG_FORMAT") or "text"),
            # The form's lifetime is the session's: a learner reading slowly must not lose work.
            WTF_CSRF_TIME_LIMIT=None,
            SQLALCHEMY_ENGINE_OPTIONS=engine_options(url),
        )

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


METRICS_TOKEN_MIN_LENGTH = 32
LOG_FORMATS = ("text", "json")


def metrics_token_hash(token: str) -> str:
    """The SHA-256 of the metrics token ("" when unset: no /metrics). A short token could be
    guessed by anyone who can reach the tool, so it is refused at start-up."""
    if not token:
        return ""
    if len(token) < METRICS_TOKEN_MIN_LENGTH:
        raise ValueError(
            f"METRICS_TOKEN must be at least {METRICS_TOKEN_MIN_LENGTH} characters"
            " (for example: openssl rand -hex 32)"
        )
    return hashlib.sha256(token.encode()).hexdigest()


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {value!r}")
    return value


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Several threads (the dev server, tests' live servers) share one file.
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    # No pre-ping: it would cost a round trip on every request. A connection broken by a
    # database restart fails one request, and SQLAlchemy then discards the whole pool.
    # A connection attempt to an unreachable server gives up after 5 s (503) instead of
    # holding the request for the system's TCP timeout, minutes.
    return {
        "pool_recycle": 1800,
        "pool_size": 5,
        "max_overflow": 10,
        "connect_args": {"connect_timeout": 5},
    }
