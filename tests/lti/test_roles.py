"""Mapping LTI roles to the tool's roles, with an organisation's overrides."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskCliRunner

from app.models import Role
from lti.roles import map_roles
from scripts.demo_lms.platform import ROLE_ADMIN, DemoPerson, DemoPlatform
from tests.conftest import ORG

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([LIS + "membership#Learner"], Role.LEARNER),
        ([LIS + "membership#Instructor"], Role.MANAGER),
        ([LIS + "membership#Mentor"], Role.MANAGER),
        ([LIS + "membership/Instructor#TeachingAssistant"], Role.MANAGER),
        (["Instructor"], Role.MANAGER),
        # A course's administrator runs that course: a course role, never HR by default.
        ([LIS + "membership#Administrator"], Role.MANAGER),
        (["Administrator"], Role.MANAGER),
        ([LIS + "membership/Administrator#Developer"], Role.MANAGER),
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


# -- through real launches ------------------------------------------------------------------

COURSE_ADMIN = DemoPerson(
    "u-cadmin", "Chris Admin", "Chris", "Admin", "chris.admin@demo-council.example", [ROLE_ADMIN]
)


@pytest.fixture
def lms(registered: DemoPlatform) -> Iterator[DemoPlatform]:
    """The demo LMS with a course administrator (an LMS role a course's owner can give)."""
    registered.people[COURSE_ADMIN.user_id] = COURSE_ADMIN
    yield registered
    del registered.people[COURSE_ADMIN.user_id]


def test_a_course_administrator_is_not_hr_by_default(lms: DemoPlatform, launched: Any) -> None:
    client = launched(COURSE_ADMIN.user_id)
    assert client.get("/hr/").status_code == 403
    assert client.get("/hr/people").status_code == 403


def test_a_council_can_map_the_course_administrator_to_hr(
    lms: DemoPlatform, launched: Any, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=["lti", "map-role", "--org", ORG, "--lti-role", ROLE_ADMIN, "--role", "hr"]
    )
    assert result.exit_code == 0, result.output
    assert launched(COURSE_ADMIN.user_id).get("/hr/").status_code == 200
    # ...and undo it: the next launch is a course role again.
    result = runner.invoke(
        args=["lti", "map-role", "--org", ORG, "--lti-role", ROLE_ADMIN, "--role", "default"]
    )
    assert result.exit_code == 0, result.output
    assert launched(COURSE_ADMIN.user_id).get("/hr/").status_code == 403
