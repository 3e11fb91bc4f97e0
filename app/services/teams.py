"""A manager's team: their direct reports, or their whole reporting tree, from the roster
(once their join to it is trusted: see identities.py); or, for an LMS Mentor, the people the
LMS says they mentor. Nobody else, ever."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Launch, Person


def reports_of(
    session: Session, organisation_id: int, manager_id: int, whole_tree: bool
) -> list[int]:
    """Ids of the people who report to the manager (directly, or at any depth)."""
    links = session.execute(
        select(Person.id, Person.manager_id).where(
            Person.organisation_id == organisation_id,
            Person.manager_id.isnot(None),
            Person.active.is_(True),
            Person.anonymised_at.is_(None),
        )
    ).all()
    children: dict[int, list[int]] = defaultdict(list)
    for person_id, boss in links:
        if boss is not None:
            children[boss].append(person_id)
    team: list[int] = []
    seen = {manager_id}
    frontier = [manager_id]
    while frontier:
        nxt = []
        for boss in frontier:
            for person_id in children.get(boss, []):
                if person_id not in seen:  # a loop in HR's data must not loop here
                    seen.add(person_id)
                    team.append(person_id)
                    nxt.append(person_id)
        frontier = nxt if whole_tree else []
    return team


def mentees_of(session: Session, organisation_id: int, launch_id: int) -> list[int]:
    """People named in the LMS's Mentor role scope of this launch (same platform)."""
    launch = session.get(Launch, launch_id)
    if launch is None or not launch.mentee_subs:
        return []
    mentor = session.get(Person, launch.person_id)
    if mentor is None or mentor.issuer is None:
        return []
    return list(
        session.scalars(
            select(Person.id).where(
                Person.organisation_id == organisation_id,
                Person.issuer == mentor.issuer,
                Person.subject.in_(launch.mentee_subs),
            )
        )
    )


def roster_rights(session: Session, person_id: int) -> bool:
    """Whether the roster's rights (their reports) are theirs: not while their LMS identity
    was joined to the roster entry by a key a user can set and HR has not confirmed it."""
    joined_by, confirmed = session.execute(
        select(Person.joined_by, Person.join_confirmed_at).where(Person.id == person_id)
    ).one()
    return joined_by is None or confirmed is not None


def team_of(
    session: Session, organisation_id: int, person_id: int, launch_id: int, whole_tree: bool
) -> list[int]:
    team = (
        reports_of(session, organisation_id, person_id, whole_tree)
        if roster_rights(session, person_id)
        else []
    )
    for mentee in mentees_of(session, organisation_id, launch_id):
        if mentee not in team and mentee != person_id:
            team.append(mentee)
    return team
