"""A councillor's acceptance through HTTP: the declaration in words fitting their office,
recorded and hashed exactly as shown, and their name typed with a title."""

from __future__ import annotations

import html as markup
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import db
from app.models import Acceptance
from tests.learner_flow import answers, attempt_id, csrf, read_all, start_quiz, submit

COUNCILLOR_DECLARATION = (
    "I have read, understood and accept the Corporate Parenting Policy, version 2.0, "
    "effective 1 December 2026, as part of my duties as an elected member of the council."
)


def passed(app: Flask, client: FlaskClient) -> None:
    read_all(client)
    action, page = start_quiz(client)
    assert submit(client, action, page, answers(app, attempt_id(action))).status_code == 302


def declare(client: FlaskClient, name: str) -> str:
    """Send the declaration; the page that follows, whether answered directly or after a
    redirect (Post/Redirect/Get)."""
    page = client.get("/accept").get_data(as_text=True)
    response = client.post(
        "/accept", data={"csrf_token": csrf(page), "accept": "y", "full_name": name}
    )
    if response.status_code == 302:
        response = client.get(response.location)
    return str(response.get_data(as_text=True))


def plain(page: str) -> str:
    return " ".join(markup.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def acceptances(app: Flask) -> list[Acceptance]:
    with app.app_context():
        rows = list(db.session.scalars(select(Acceptance)))
        db.session.expunge_all()
        return rows


def test_a_councillor_declares_as_an_elected_member_and_exactly_that_is_recorded(
    app: Flask, launched: Any
) -> None:
    client = launched("u-jo")
    passed(app, client)
    page = plain(client.get("/accept").get_data(as_text=True))
    assert COUNCILLOR_DECLARATION in page
    assert "part of your duties as an elected member, not a request for consent" in page
    assert "condition of your role" not in page  # employment wording is for staff
    assert "You can put a title such as Cllr or Dr before it." in page

    check = declare(client, "Cllr. Jo Evans")
    assert "Check before you accept" in check
    assert COUNCILLOR_DECLARATION in plain(check)
    done = client.post(
        "/accept/confirm",
        data={"csrf_token": csrf(check), "accept": "y", "full_name": "Cllr. Jo Evans"},
    )
    assert done.status_code == 302 and "/accept/done/" in done.location
    [row] = acceptances(app)
    assert row.declaration_text == COUNCILLOR_DECLARATION
    assert row.declaration_hash == (
        "2e925fa62909165703d73b2eb9fdc5d4d914f21f3c78771771bf87b7e37dcec4"
    )
    assert row.typed_name == "Cllr. Jo Evans"


def test_staff_keep_the_employment_wording(app: Flask, launched: Any) -> None:
    client = launched("u-aisha")
    passed(app, client)
    page = plain(client.get("/accept").get_data(as_text=True))
    assert "It is a condition of your role, not a request for consent." in page
    assert "elected member" not in page
    assert (
        "I have read, understood and accept the Corporate Parenting Policy, version 2.0, "
        "effective 1 December 2026."
    ) in page


@pytest.mark.parametrize(
    "typed",
    ["Cllr", "Cllr.", "Cllr Jo Evan", "Councillor Aisha Khan"],
    ids=["title alone", "title and full stop alone", "title and wrong name", "someone else"],
)
def test_a_title_with_no_name_or_the_wrong_name_is_refused(
    app: Flask, launched: Any, typed: str
) -> None:
    client = launched("u-jo")
    passed(app, client)
    page = declare(client, typed)
    assert "There is a problem" in page
    assert "Enter your full name as it appears in the learning portal" in page
    assert "Check before you accept" not in page
    assert acceptances(app) == []


@pytest.mark.parametrize("typed", ["Cllr Jo Evans", "councillor jo evans", "Cllr. Jo Evans"])
def test_a_councillor_may_type_their_title(app: Flask, launched: Any, typed: str) -> None:
    client = launched("u-jo")
    passed(app, client)
    assert "Check before you accept" in declare(client, typed)
