"""Publishing policy versions and finding the one in force.

A published version is immutable: it is the record of the exact words people accepted.
Publishing the same version again with the same text is a no-op; with different text it
is refused, so a change always carries a new version number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.clock import long_date
from app.models import Audience, Policy, PolicySection, PolicyVersion
from app.services.content_pack import PolicyPack


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


def sections_for(version: PolicyVersion, elected_member: bool) -> list[PolicySection]:
    """The sections this reader gets: everyone's, plus councillors' or officers' own."""
    own = Audience.MEMBERS if elected_member else Audience.STAFF
    return [s for s in version.sections if s.audience in (Audience.ALL, own)]
