"""A learner in a test: read the sections, start the quiz, answer it as told.

Right answers come from the database (the server's truth), never from the page: the
tests check separately that the page does not give them away.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import db
from app.models import QuizAttempt

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def section_links(client: FlaskClient) -> list[str]:
    html = client.get("/").get_data(as_text=True)
    return list(dict.fromkeys(re.findall(r'href="(/sections/[a-z0-9-]+)"', html)))


def read_all(client: FlaskClient) -> None:
    for link in section_links(client):
        assert client.get(link).status_code == 200


def start_quiz(client: FlaskClient) -> tuple[str, str]:
    """Start an attempt; return (form action, the attempt page's HTML)."""
    page = client.get("/quiz").get_data(as_text=True)
    if 'action="/quiz/start"' in page:
        response = client.post("/quiz/start", data={"csrf_token": csrf(page)})
        assert response.status_code == 302, response.get_data(as_text=True)
        page = client.get("/quiz").get_data(as_text=True)
    match = re.search(r'action="(/quiz/attempts/\d+)"', page)
    assert match, page
    return match.group(1), page


def attempt_id(action: str) -> int:
    return int(action.rsplit("/", 1)[1])


def answers(app: Flask, attempt: int, right: int | None = None) -> dict[str, Any]:
    """Form data answering the first `right` questions correctly and the rest wrongly."""
    with app.app_context():
        row = db.session.scalars(select(QuizAttempt).where(QuizAttempt.id == attempt)).one()
        bank = {q["id"]: q for q in row.bank.questions}
        data: dict[str, Any] = {}
        for number, item in enumerate(row.drawn, start=1):
            correct = set(bank[item["id"]]["correct"])
            positions = [p for p, oid in enumerate(item["options"], 1) if oid in correct]
            wrong = [p for p, oid in enumerate(item["options"], 1) if oid not in correct]
            good = right is None or number <= right
            data[f"q{number}"] = [str(p) for p in positions] if good else [str(wrong[0])]
        return data


def submit(client: FlaskClient, action: str, page: str, data: dict[str, Any]) -> Any:
    return client.post(action, data={"csrf_token": csrf(page), **data})
