"""Hostile id_tokens, signed for real by the independent platform, through the real launch.

Whatever a registered platform puts in its claims (any unicode, wrong JSON types, missing
claims, huge arrays, odd service URLs), the tool answers a clean 4xx page or launches with
every stored value cleaned and cut to length, and no page shows a claim unescaped.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app.db import db
from app.models import Launch, LmsContext, Person
from scripts.demo_lms.platform import DemoPlatform
from tests.conftest import tool_client
from tests.fuzz.hostile import (
    assert_answer_is_safe,
    assert_stored_clean,
    fuzz_settings,
    hostile_text,
    json_value,
)
from tests.lti_flow import Flow

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
ROLES = [
    LIS + "membership#Learner",
    LIS + "membership#Instructor",
    LIS + "membership#Administrator",
    LIS + "institution/person#Administrator",
    LIS + "institution/person#Staff",
    LIS + "system/person#Administrator",
    "Learner",
]

# Where each claim lives: a top-level key, or (object claim, member).
TEXT_CLAIMS: list[tuple[str, ...]] = [
    ("name",),
    ("given_name",),
    ("family_name",),
    ("email",),
    ("sub",),
    (CLAIM + "context", "id"),
    (CLAIM + "context", "title"),
    (CLAIM + "context", "label"),
    (CLAIM + "resource_link", "id"),
    (CLAIM + "resource_link", "title"),
    (CLAIM + "launch_presentation", "return_url"),
    (CLAIM + "launch_presentation", "document_target"),
    (CLAIM + "lis", "person_sourcedid"),
    (CLAIM + "custom", "employee_id"),
    (CLAIM + "custom", "elected_member"),
    (CLAIM + "deployment_id",),
    (CLAIM + "target_link_uri",),
]
URL_CLAIMS: list[tuple[str, ...]] = [
    (AGS, "lineitems"),
    (AGS, "lineitem"),
    (NRPS, "context_memberships_url"),
]
ANY_CLAIMS: list[tuple[str, ...]] = [
    *TEXT_CLAIMS,
    *URL_CLAIMS,
    (CLAIM + "roles",),
    (CLAIM + "context",),
    (CLAIM + "resource_link",),
    (CLAIM + "custom",),
    (CLAIM + "launch_presentation",),
    (CLAIM + "lis",),
    (CLAIM + "role_scope_mentor",),
    (CLAIM + "message_type",),
    (CLAIM + "version",),
    (AGS,),
    (AGS, "scope"),
    (NRPS,),
    (NRPS, "service_versions"),
    ("azp",),
]


def _urls(origin: str) -> st.SearchStrategy[Any]:
    odd = st.sampled_from(
        [
            "",
            "javascript:alert(1)",
            "http://[::1]:80/x",
            "http://user:pass@127.0.0.1/x",
            "http://127.0.0.1:99999/x",
            "http://%00/",
            "//evil.example/x",
            "http:/x",
            "http://" + "a" * 3000 + ".example/",
        ]
    )
    own = hostile_text.map(lambda path: origin + "/" + path)
    return st.one_of(own, odd, json_value)


def _huge_list(items: list[str]) -> st.SearchStrategy[list[str]]:
    return st.builds(lambda n, item: [item] * n, st.integers(200, 4000), st.sampled_from(items))


def _operations(origin: str) -> st.SearchStrategy[list[tuple[str, tuple[str, ...], Any]]]:
    text_set = st.tuples(st.just("set"), st.sampled_from(TEXT_CLAIMS), hostile_text)
    url_set = st.tuples(st.just("set"), st.sampled_from(URL_CLAIMS), _urls(origin))
    roles = st.tuples(
        st.just("set"),
        st.just((CLAIM + "roles",)),
        st.one_of(
            st.lists(st.one_of(st.sampled_from(ROLES), hostile_text), max_size=8),
            _huge_list(ROLES),
        ),
    )
    mentees = st.tuples(
        st.just("set"),
        st.just((CLAIM + "role_scope_mentor",)),
        st.one_of(st.lists(hostile_text, max_size=5), _huge_list(["u-lee", "x\x00"])),
    )
    custom = st.tuples(
        st.just("set"),
        st.just((CLAIM + "custom",)),
        st.dictionaries(hostile_text, hostile_text, max_size=150),
    )
    delete = st.tuples(st.just("del"), st.sampled_from(ANY_CLAIMS), st.none())
    return st.lists(
        st.one_of(text_set, url_set, roles, mentees, custom, delete),
        min_size=1,
        max_size=6,
    )


def _apply(claims: dict[str, Any], operations: list[tuple[str, tuple[str, ...], Any]]) -> None:
    for op, path, value in operations:
        parent: Any = claims
        for key in path[:-1]:
            if not isinstance(parent.get(key), dict):
                parent[key] = {}
            parent = parent[key]
        if op == "del":
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value


def _check(app: Flask, client: Any, response: Any) -> None:
    html = assert_answer_is_safe(response, "launch")
    if response.status_code == 200:  # the first page, rendered by the launch itself
        page = client.get("/", follow_redirects=True)
        assert_answer_is_safe(page, "the page after the launch")
        with app.app_context():
            assert_stored_clean(db.session, [Person, Launch, LmsContext])
    else:
        assert 400 <= response.status_code < 500, response.status_code
        assert "<h1" in html


PEOPLE = st.sampled_from(["u-aisha", "u-tom", "u-priya", "u-jo"])


def test_hostile_text_urls_and_huge_arrays_in_claims(
    app: Flask, registered: DemoPlatform, http: requests.Session
) -> None:
    @fuzz_settings(60)
    @given(user=PEOPLE, operations=_operations(registered.issuer))
    def launch(user: str, operations: list[tuple[str, tuple[str, ...], Any]]) -> None:
        client = tool_client(app)
        response, _ = Flow(client, registered, http).forged(
            user, lambda claims: _apply(claims, operations)
        )
        _check(app, client, response)

    launch()


def test_every_claim_with_a_value_of_the_wrong_type(
    app: Flask, registered: DemoPlatform, http: requests.Session
) -> None:
    @fuzz_settings(80)
    @given(user=PEOPLE, path=st.sampled_from(ANY_CLAIMS), value=json_value)
    def launch(user: str, path: tuple[str, ...], value: Any) -> None:
        client = tool_client(app)
        response, _ = Flow(client, registered, http).forged(
            user, lambda claims: _apply(claims, [("set", path, value)])
        )
        _check(app, client, response)

    launch()


# -- what the fuzzing found, kept as plain cases -------------------------------------------------


@pytest.mark.parametrize("value", [["LtiResourceLinkRequest"], {"a": 1}])
def test_a_message_type_that_is_not_a_string_is_refused_not_a_server_error(
    app: Flask, registered: DemoPlatform, http: requests.Session, value: Any
) -> None:
    flow = Flow(tool_client(app), registered, http)
    response, _ = flow.forged("u-aisha", lambda c: c.update({CLAIM + "message_type": value}))
    assert response.status_code == 400
    assert "unsupported_message_type" in response.get_data(as_text=True)


@pytest.mark.parametrize("value", [5, 1.5, True, "u-lee", {"u-lee": 1}])
def test_mentees_that_are_not_a_list_are_ignored(
    app: Flask, registered: DemoPlatform, http: requests.Session, value: Any
) -> None:
    flow = Flow(tool_client(app), registered, http)
    response, _ = flow.forged("u-tom", lambda c: c.update({CLAIM + "role_scope_mentor": value}))
    assert response.status_code == 200, response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Launch.mentee_subs)).one() in (None, [])
