"""Mapping LTI roles to the tool's roles, with an organisation's overrides."""

from __future__ import annotations

import pytest

from app.models import Role
from lti.roles import map_roles

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([LIS + "membership#Learner"], Role.LEARNER),
        ([LIS + "membership#Instructor"], Role.MANAGER),
        ([LIS + "membership#Mentor"], Role.MANAGER),
        ([LIS + "membership/Instructor#TeachingAssistant"], Role.MANAGER),
        (["Instructor"], Role.MANAGER),
        ([LIS + "membership#Administrator"], Role.HR),
        ([LIS + "institution/person#Administrator"], Role.HR),
        ([LIS + "system/person#Administrator"], Role.ADMIN),
        ([LIS + "membership#Learner", LIS + "institution/person#Administrator"], Role.HR),
        ([], Role.LEARNER),
        (["http://example.com/roles#Something"], Role.LEARNER),
    ],
)
def test_default_mapping_takes_the_most_capable_role(roles: list[str], expected: Role) -> None:
    assert map_roles(roles) is expected


def test_an_organisation_can_map_its_own_roles() -> None:
    custom = "http://totara.example/roles#TeamLeader"
    assert map_roles([custom], {custom: Role.MANAGER}) is Role.MANAGER
    # ...and can read a standard role differently (instructors who are only course builders).
    assert (
        map_roles([LIS + "membership#Instructor"], {LIS + "membership#Instructor": Role.LEARNER})
        is Role.LEARNER
    )
