"""The score outbox: each acceptance's score, kept until the LMS has taken it.

Sent once, in order of creation; on failure tried again after 1, 5, 15 minutes, 1, 4 and
12 hours, then daily, for as long as it takes; never dropped. A row is marked sent only
after the LMS answered with success. An answer that will not change if the same score is
sent again (a 4xx such as Moodle's 400 for a user it does not grade) stops the retries: the
row is kept as refused, for HR to see and, once the LMS is put right, to send again.

Runners (each process's sender thread, `flask outbox run` from cron) may overlap: one claims
a row with a conditional UPDATE before sending it, so no score is sent twice, on SQLite as
on PostgreSQL, and no transaction stays open while the LMS is called.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import Acceptance, Launch, LmsContext, Person, ScoreOutbox
from app.services import audit, jobs
from lti.roles import course_learner

BACKOFF_MINUTES = [1, 5, 15, 60, 240, 720, 1440]
# A claimed row is not due again for this long: longer than any send takes (each HTTP call
# times out after 10 s), so that a runner that died mid-send leaves it to the next one.
LEASE = timedelta(minutes=10)
# 4xx answers worth trying again: 401 (a token the LMS has forgotten; lti/ags.py also asks
# for a new one at once), 408 Request Timeout, 425 Too Early, 429 Too Many Requests.
RETRIABLE_4XX = frozenset({401, 408, 425, 429})
ANSWER_CHARS = 2000

Sender = Callable[..., None]
log = logging.getLogger("cpm.outbox")


class SendFailed(Exception):
    """The LMS did not take the score. `status` is the HTTP status of its score service's
    answer (None: no answer, or from its token endpoint), `answer` the start of its body."""

    def __init__(self, message: str, status: int | None = None, answer: str | None = None):
        super().__init__(message)
        self.status = status
        self.answer = answer[:ANSWER_CHARS] if answer else answer

    @property
    def refused(self) -> bool:
        """An answer that sending the same score again will not change."""
        return (
            self.status is not None
            and 400 <= self.status < 500
            and (self.status not in RETRIABLE_4XX)
        )


def takes_scores(launch: Launch | None, user_id: str | None, registration_id: int | None) -> bool:
    """Whether an acceptance made through this launch has a score to send to the LMS: it
    offers AGS, and the person is a learner there (LMSs grade only learners)."""
    if launch is None or not launch.ags_endpoint or registration_id is None or not user_id:
        return False
    if not course_learner(launch.lti_roles or []):
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


def enqueue_for_placement(
    session: Session,
    acceptance: Acceptance,
    launch: Launch | None,
    user_id: str | None,
    registration_id: int | None,
    now: datetime,
) -> ScoreOutbox | None:
    """Queue the score of an acceptance made earlier for the activity this launch came from,
    if it has none yet: someone who accepted through one activity and opens another (a
    second course, the module placed again) gets their score in its column too, so the
    LMS's completion for it follows. A paper acceptance has no quiz score: nothing to send
    (a 0 would read as a fail)."""
    if acceptance.quiz_score is None or launch is None or registration_id is None:
        return None
    queued = session.scalar(
        select(ScoreOutbox.id).where(
            ScoreOutbox.acceptance_id == acceptance.id,
            ScoreOutbox.registration_id == registration_id,
            ScoreOutbox.resource_link_id == launch.resource_link_id,
        )
    )
    if queued is not None:
        return None
    try:
        with session.begin_nested():  # two tabs opening it at once: the unique key picks one
            return enqueue(session, acceptance, launch, user_id, registration_id, now)
    except IntegrityError:
        return None


def backoff(tries: int) -> timedelta:
    return timedelta(minutes=BACKOFF_MINUTES[min(tries, len(BACKOFF_MINUTES)) - 1])


@dataclass
class RunResult:
    sent: int = 0
    failed: int = 0
    refused: int = 0


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
    due = (ScoreOutbox.sent_at.is_(None), ScoreOutbox.refused_at.is_(None))
    query = (
        select(ScoreOutbox.id)
        .where(*due, ScoreOutbox.next_try_at <= now)
        .order_by(ScoreOutbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL: pass over rows another runner holds
    )
    if only_id is not None:
        query = query.where(ScoreOutbox.id == only_id)
    ids = list(session.scalars(query))
    session.commit()
    for item_id in ids:
        item = jobs.claim(
            session, ScoreOutbox, item_id, [*due, ScoreOutbox.next_try_at <= now], now + LEASE
        )
        if item is None:
            continue  # another runner has it, or has sent it
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
        except Exception as exc:  # any failure: keep it, and show it to HR
            item.tries += 1
            failure = exc if isinstance(exc, SendFailed) else SendFailed(str(exc))
            item.last_error = str(exc)[:1000] or exc.__class__.__name__
            item.lms_status = failure.status
            item.lms_answer = failure.answer
            if failure.refused:
                item.refused_at = now
                result.refused += 1
                log.warning(
                    "outbox %s: score refused by the LMS (HTTP %s), not tried again: %s",
                    item.id,
                    failure.status,
                    item.last_error,
                )
            else:
                item.next_try_at = now + backoff(item.tries)
                result.failed += 1
                log.warning(
                    "outbox %s: score not sent (HTTP %s), tried again from %s: %s",
                    item.id,
                    failure.status or "none",
                    item.next_try_at.isoformat(),
                    item.last_error,
                )
        else:
            item.tries += 1
            item.sent_at = now
            item.last_error = None
            result.sent += 1
        session.commit()
    return result


def retry(
    session: Session, organisation_id: int, item_id: int, now: datetime, actor_person_id: int
) -> bool:
    """HR's "send again" for a refused score, once the LMS has been put right; recorded in
    the person's audit trail with what the LMS had answered."""
    item = session.get(ScoreOutbox, item_id)
    if item is None or item.organisation_id != organisation_id or item.refused_at is None:
        return False
    acceptance = session.get(Acceptance, item.acceptance_id)
    audit.record(
        session,
        organisation_id,
        "score_sent_again",
        now,
        actor_person_id=actor_person_id,
        subject_person_id=acceptance.person_id if acceptance else None,
        details={
            "outbox": item.id,
            "acceptance": item.acceptance_id,
            "refused_at": item.refused_at.isoformat(),
            "lms_status": item.lms_status,
        },
    )
    item.refused_at = None
    item.next_try_at = now
    session.flush()
    return True


def pending(session: Session, organisation_id: int | None = None) -> list[dict[str, Any]]:
    """Scores not yet taken by the LMS (refused ones first), with whose they are and which
    course, for HR's page and `outbox list`."""
    query = (
        select(ScoreOutbox, Acceptance, Person, LmsContext, Launch.resource_link_title)
        .join(Acceptance, Acceptance.id == ScoreOutbox.acceptance_id)
        .join(Person, Person.id == Acceptance.person_id)
        .outerjoin(LmsContext, LmsContext.id == Acceptance.lms_context_id)
        .outerjoin(Launch, Launch.id == Acceptance.launch_id)
        .where(ScoreOutbox.sent_at.is_(None))
        .order_by(ScoreOutbox.refused_at.is_(None), ScoreOutbox.id)  # refused first
    )
    if organisation_id is not None:
        query = query.where(ScoreOutbox.organisation_id == organisation_id)
    return [
        {
            "item": item,
            "acceptance": acc,
            "person": person,
            "course": (course.title or course.context_id) if course else None,
            "activity": link_title or item.resource_link_id,
        }
        for item, acc, person, course, link_title in session.execute(query)
    ]
