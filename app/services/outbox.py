"""The score outbox: each acceptance's score, kept until the LMS has taken it.

Sent once, in order of creation; on failure tried again after 1, 5, 15 minutes, 1, 4 and
12 hours, then daily, for as long as it takes; never dropped. A row is marked sent only
after the LMS answered with success, and each row is locked while one runner sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Acceptance, Launch, ScoreOutbox

BACKOFF_MINUTES = [1, 5, 15, 60, 240, 720, 1440]

Sender = Callable[..., None]


class Failed(Exception):
    pass


def takes_scores(launch: Launch | None, user_id: str | None, registration_id: int | None) -> bool:
    """Whether an acceptance made through this launch has a score to send to the LMS."""
    if launch is None or not launch.ags_endpoint or registration_id is None or not user_id:
        return False
    return bool(launch.ags_endpoint.get("lineitem") or launch.ags_endpoint.get("lineitems"))


def enqueue(
    session: Session,
    acceptance: Acceptance,
    launch: Launch | None,
    user_id: str | None,
    registration_id: int | None,
    now: datetime,
) -> ScoreOutbox | None:
    """Queue the score, if the acceptance came through a launch that offers AGS."""
    if launch is None or not takes_scores(launch, user_id, registration_id):
        return None
    assert launch.ags_endpoint is not None and registration_id is not None and user_id
    item = ScoreOutbox(
        organisation_id=acceptance.organisation_id,
        acceptance_id=acceptance.id,
        registration_id=registration_id,
        endpoint=launch.ags_endpoint,
        resource_link_id=launch.resource_link_id,
        user_id=user_id,
        score_given=acceptance.quiz_score or 0,
        score_maximum=100,
        timestamp=acceptance.accepted_at,
        created_at=now,
        next_try_at=now,
    )
    session.add(item)
    session.flush()
    return item


def backoff(tries: int) -> timedelta:
    return timedelta(minutes=BACKOFF_MINUTES[min(tries, len(BACKOFF_MINUTES)) - 1])


@dataclass
class RunResult:
    sent: int = 0
    failed: int = 0


def send_due(
    session: Session,
    send: Sender,
    now: datetime,
    *,
    only_id: int | None = None,
    limit: int = 100,
    label: str = "Corporate Parenting",
) -> RunResult:
    """Send what is due. Each row is committed on its own, so a crash loses nothing."""
    result = RunResult()
    query = (
        select(ScoreOutbox)
        .where(ScoreOutbox.sent_at.is_(None), ScoreOutbox.next_try_at <= now)
        .order_by(ScoreOutbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if only_id is not None:
        query = query.where(ScoreOutbox.id == only_id)
    ids = [row.id for row in session.scalars(query)]
    session.commit()
    for item_id in ids:
        item = session.scalars(
            select(ScoreOutbox)
            .where(ScoreOutbox.id == item_id, ScoreOutbox.sent_at.is_(None))
            .with_for_update(skip_locked=True)
        ).first()
        if item is None:  # another runner has it
            session.commit()
            continue
        try:
            send(
                session,
                registration_id=item.registration_id,
                endpoint=item.endpoint,
                resource_link_id=item.resource_link_id,
                user_id=item.user_id,
                score_given=item.score_given,
                score_maximum=item.score_maximum,
                timestamp=item.timestamp,
                label=label,
            )
        except Exception as exc:  # any failure: keep it, try later, show it to admins
            item.tries += 1
            item.last_error = str(exc)[:1000] or exc.__class__.__name__
            item.next_try_at = now + backoff(item.tries)
            result.failed += 1
        else:
            item.tries += 1
            item.sent_at = now
            item.last_error = None
            result.sent += 1
        session.commit()
    return result


def pending(session: Session, organisation_id: int | None = None) -> list[dict[str, Any]]:
    """Scores not yet taken by the LMS, for the admin page and `outbox list`."""
    query = (
        select(ScoreOutbox, Acceptance)
        .join(Acceptance, Acceptance.id == ScoreOutbox.acceptance_id)
        .where(ScoreOutbox.sent_at.is_(None))
        .order_by(ScoreOutbox.id)
    )
    if organisation_id is not None:
        query = query.where(ScoreOutbox.organisation_id == organisation_id)
    return [{"item": item, "acceptance": acc} for item, acc in session.execute(query)]
