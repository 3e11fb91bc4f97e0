"""Publishing policy versions and finding the one in force.

A published version is immutable: it is the record of the exact words people accepted.
Publishing the same version again with the same text is a no-op; with different text it
is refused, so a change always carries a new version number.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.clock import long_date
from app.models import Audience, Policy, PolicySection, PolicyVersion
from app.services.content_pack import PolicyPack
from app.services.question_bank import current_bank_settings


class PublishError(Exception):
    """A pack that must not be published as it is."""


@dataclass(frozen=True)
class Published:
    version: PolicyVersion
    created: bool


def publish(session: Session, pack: PolicyPack, now: datetime) -> Published:
    policy = session.scalars(select(Policy).where(Policy.key == pack.key)).first()
    if policy is None:
        policy = Policy(key=pack.key, title=pack.title)
        session.add(policy)
        session.flush()
    existing = session.scalars(
        select(PolicyVersion).where(
            PolicyVersion.policy_id == policy.id, PolicyVersion.version == pack.version
        )
    ).first()
    if existing is not None:
        if existing.content_hash == pack.content_hash:
            return Published(existing, created=False)
        raise PublishError(
            f"Version {pack.version} of '{pack.key}' was published on "
            f"{long_date(existing.published_at)} with different text. People may have accepted "
            "that text, so it cannot change: give the new text a new version number."
        )
    policy.title = pack.title
    version = PolicyVersion(
        policy_id=policy.id,
        version=pack.version,
        title=pack.title,
        summary=pack.summary,
        effective_date=pack.effective_date,
        requires_reacceptance=pack.requires_reacceptance,
        intro_markdown=pack.intro_markdown,
        intro_html=pack.intro_html,
        content_hash=pack.content_hash,
        published_at=now,
        sections=[
            PolicySection(
                key=s.key,
                position=i,
                title=s.title,
                summary=s.summary,
                audience=s.audience,
                body_markdown=s.body_markdown,
                body_html=s.body_html,
            )
            for i, s in enumerate(pack.sections)
        ],
    )
    session.add(version)
    session.flush()
    return Published(version, created=True)


def current_version(session: Session, policy_key: str, today: date) -> PolicyVersion | None:
    """The latest published version already in force, with its sections."""
    return session.scalars(
        select(PolicyVersion)
        .join(Policy)
        .where(Policy.key == policy_key, PolicyVersion.effective_date <= today)
        .order_by(PolicyVersion.published_at.desc(), PolicyVersion.id.desc())
        .options(selectinload(PolicyVersion.sections))
        .limit(1)
    ).first()


def versions(session: Session) -> list[PolicyVersion]:
    return list(
        session.scalars(
            select(PolicyVersion)
            .options(selectinload(PolicyVersion.policy))
            .order_by(PolicyVersion.published_at, PolicyVersion.id)
        )
    )


def sections_for(version: Any, elected_member: bool) -> list[Any]:
    """The sections this reader gets: everyone's, plus councillors' or officers' own."""
    own = Audience.of_reader(elected_member)
    return [s for s in version.sections if s.audience.includes(own)]


@dataclass(frozen=True)
class SectionView:
    key: str
    position: int
    title: str
    summary: str
    audience: Audience
    body_html: str


@dataclass(frozen=True)
class VersionView:
    """A published version as plain values: safe to keep between requests (it never changes)."""

    id: int
    policy_id: int
    version: str
    title: str
    summary: str
    effective_date: date
    requires_reacceptance: bool
    intro_html: str
    content_hash: str
    published_at: datetime
    sections: tuple[SectionView, ...]
    counting: tuple[int, ...]  # this and the earlier versions whose acceptances still count


class VersionCache:
    """The version in force, per process: read on every learner page, changed only by
    publishing. A new version is seen within `ttl` seconds by other processes (at once by
    the one that published it, which clears this)."""

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._current: dict[str, tuple[float, date, int | None]] = {}
        self._views: dict[int, VersionView] = {}
        self._bank_settings: dict[int, tuple[float, dict[str, Any] | None]] = {}

    def clear(self) -> None:
        self._current.clear()
        self._views.clear()
        self._bank_settings.clear()

    def bank_settings(self, session: Session, policy_id: int) -> dict[str, Any] | None:
        """The policy's current question bank's settings (the overview's promises about the
        quiz): published with the content, so kept as long as the version in force."""
        entry = self._bank_settings.get(policy_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        found = current_bank_settings(session, policy_id)
        self._bank_settings[policy_id] = (time.monotonic() + self.ttl, found)
        return found

    def current(self, session: Session, policy_key: str, today: date) -> VersionView | None:
        entry = self._current.get(policy_key)
        if entry is not None and entry[0] > time.monotonic() and entry[1] == today:
            return self._views.get(entry[2]) if entry[2] is not None else None
        row = current_version(session, policy_key, today)
        view = None
        if row is not None:
            view = self._views.get(row.id) or self._snapshot(session, row)
            self._views[row.id] = view
        self._current[policy_key] = (time.monotonic() + self.ttl, today, view.id if view else None)
        return view

    @staticmethod
    def _snapshot(session: Session, row: PolicyVersion) -> VersionView:
        from app.services.status import counting_versions

        return VersionView(
            id=row.id,
            policy_id=row.policy_id,
            version=row.version,
            title=row.title,
            summary=row.summary,
            effective_date=row.effective_date,
            requires_reacceptance=row.requires_reacceptance,
            intro_html=row.intro_html,
            content_hash=row.content_hash,
            published_at=row.published_at,
            sections=tuple(
                SectionView(s.key, s.position, s.title, s.summary, s.audience, s.body_html)
                for s in row.sections
            ),
            counting=tuple(counting_versions(session, row)),
        )
