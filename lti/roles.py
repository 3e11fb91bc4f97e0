"""LTI roles -> the tool's roles, with an organisation's own overrides applied first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app.models import Role

_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"

# Default reading of the LIS vocabulary. Only institution and system roles reach HR or admin:
# a course (membership) Administrator runs one course, so it is a course role like Instructor
# and must not open every staff record. A council that wants otherwise says so with
# `lti map-role`.
DEFAULT_MAP: dict[str, Role] = {
    _LIS + "system/person#Administrator": Role.ADMIN,
    _LIS + "system/person#SysAdmin": Role.ADMIN,
    _LIS + "institution/person#Administrator": Role.HR,
    _LIS + "membership#Administrator": Role.MANAGER,
    _LIS + "membership#Instructor": Role.MANAGER,
    _LIS + "membership#Mentor": Role.MANAGER,
    _LIS + "institution/person#Instructor": Role.MANAGER,
    _LIS + "institution/person#Mentor": Role.MANAGER,
    _LIS + "institution/person#Faculty": Role.MANAGER,
    _LIS + "membership#Learner": Role.LEARNER,
    _LIS + "institution/person#Learner": Role.LEARNER,
    _LIS + "institution/person#Student": Role.LEARNER,
    _LIS + "institution/person#Staff": Role.LEARNER,
    _LIS + "institution/person#Member": Role.LEARNER,
}

# LTI 1.3 allows context roles as short names ("Instructor") for older platforms.
_SHORT = {
    "Administrator": "membership#Administrator",
    "Instructor": "membership#Instructor",
    "Mentor": "membership#Mentor",
    "Learner": "membership#Learner",
}

# Course roles that teach or run a course: their holder may see the course's learners.
_TEACHING = {_LIS + "membership#Instructor", _LIS + "membership#Administrator"}

_RANK = {Role.LEARNER: 0, Role.MANAGER: 1, Role.HR: 2, Role.ADMIN: 3}


def normalise(role: str) -> str:
    role = role.strip()
    if role in _SHORT:
        return _LIS + _SHORT[role]
    # Sub-roles (membership/Instructor#TeachingAssistant) count as their principal role.
    if role.startswith(_LIS + "membership/") and "#" in role:
        principal = role[len(_LIS + "membership/") :].split("#", 1)[0]
        return _LIS + "membership#" + principal
    return role


def map_roles(lti_roles: Iterable[str], overrides: Mapping[str, Role] | None = None) -> Role:
    """The most capable role the person holds. Everyone can at least do the module."""
    overrides = overrides or {}
    best = Role.LEARNER
    for raw in lti_roles:
        role = (
            overrides.get(raw) or overrides.get(normalise(raw)) or DEFAULT_MAP.get(normalise(raw))
        )
        if role is not None and _RANK[role] > _RANK[best]:
            best = role
    return best


def teaches_course(lti_roles: Iterable[str]) -> bool:
    """Whether a launch's roles teach or run its course (Instructor, Administrator and
    their sub-roles, such as TeachingAssistant). A Mentor sees only their mentees."""
    return any(normalise(r) in _TEACHING for r in lti_roles)


def course_learner(lti_roles: Iterable[str]) -> bool:
    """Whether a course member is one of its learners (membership Learner, or a sub-role):
    the only people an LMS keeps a grade for. Moodle answers 400 to a teacher's or an
    administrator's score; Instructor, Administrator, Mentor, ContentDeveloper and
    TeachingAssistant (a sub-role of Instructor) have no place in the gradebook."""
    return any(normalise(r) == _LIS + "membership#Learner" for r in lti_roles)
