"""LTI roles -> the tool's roles, with an organisation's own overrides applied first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app.models import Role

_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"

# Default reading of the LIS vocabulary. Context (membership) roles and institution roles
# both count: councils' LMSs use either for their HR and managers.
DEFAULT_MAP: dict[str, Role] = {
    _LIS + "system/person#Administrator": Role.ADMIN,
    _LIS + "system/person#SysAdmin": Role.ADMIN,
    _LIS + "institution/person#Administrator": Role.HR,
    _LIS + "membership#Administrator": Role.HR,
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


def graded(lti_roles: Iterable[str]) -> bool:
    """Whether the LMS keeps a grade for this person in the course: only its learners
    (membership#Learner, or a sub-role of it). Moodle answers 400 to a teacher's or an
    administrator's score; Instructor, Administrator, Mentor, ContentDeveloper and
    TeachingAssistant (a sub-role of Instructor) have no place in the gradebook."""
    return any(normalise(role) == _LIS + "membership#Learner" for role in lti_roles)


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
