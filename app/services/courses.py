"""A teacher's courses and their learners: the LMS courses someone launched the module from
with a teaching role, and who the course's membership (read by `roster sync-lms`, never
during a request) says its learners are. Nobody outside those courses, ever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import CourseMember, Launch, LmsContext, Role
from lti.roles import teaches_course


@dataclass(frozen=True)
class Course:
    id: int
    title: str
    synced_at: datetime | None  # when its membership was last read; None: not yet
    learner_ids: tuple[int, ...]


def taught_by(session: Session, organisation_id: int, person_id: int) -> list[Course]:
    """The courses this person teaches, as their latest launch from each says (a teacher
    who became a learner of the course stops seeing it), less any course whose membership
    no longer lists them."""
    latest = (
        select(Launch.lms_context_id, func.max(Launch.id).label("launch_id"))
        .where(
            Launch.organisation_id == organisation_id,
            Launch.person_id == person_id,
            Launch.lms_context_id.isnot(None),
        )
        .group_by(Launch.lms_context_id)
        .subquery()
    )
    launches = session.execute(
        select(Launch.role, Launch.lti_roles, LmsContext)
        .join(latest, latest.c.launch_id == Launch.id)
        .join(LmsContext, LmsContext.id == Launch.lms_context_id)
        .where(LmsContext.organisation_id == organisation_id)
    ).all()
    contexts = [
        ctx
        for role, lti_roles, ctx in launches
        if role is Role.MANAGER and teaches_course(lti_roles or [])
    ]
    if not contexts:
        return []
    rows = session.execute(
        select(CourseMember.lms_context_id, CourseMember.person_id, CourseMember.learner).where(
            CourseMember.organisation_id == organisation_id,
            CourseMember.lms_context_id.in_([c.id for c in contexts]),
        )
    ).all()
    courses = []
    for ctx in sorted(contexts, key=lambda c: (c.title or c.context_id, c.id)):
        members = [(pid, learner) for cid, pid, learner in rows if cid == ctx.id]
        if ctx.members_synced_at is not None and all(pid != person_id for pid, _ in members):
            continue  # the LMS no longer lists them in this course
        learners = tuple(pid for pid, learner in members if learner and pid != person_id)
        courses.append(Course(ctx.id, ctx.title or ctx.context_id, ctx.members_synced_at, learners))
    return courses
