"""Scores to the LMS (LTI AGS) through the outbox, against the independent platform."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app.db import db
from app.models import ScoreOutbox
from scripts.demo_lms.platform import DemoPlatform
from tests.web.test_acceptance import accept, passed


@pytest.fixture
def lms(registered: DemoPlatform, client: Any) -> Iterator[DemoPlatform]:
    """The LMS knows the tool's public keys (as after registration) and starts clean."""
    registered.tool_jwks = client.get("/lti/jwks").json
    registered.lineitems = {c: [] for c in registered.courses}
    registered.scores = []
    registered.down = False
    registered.offer_lineitem = False
    yield registered
    registered.tool_jwks = None
    registered.down = False
    registered.offer_lineitem = False


T = TypeVar("T")


def eventually(probe: Callable[[], T], seconds: float = 20) -> T:
    """probe()'s first truthy answer: scores are sent by the sender thread, after the
    request has answered, so a test waits for them (a bound, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not (answer := probe()):
        assert time.monotonic() < deadline, "nothing arrived in time"
        time.sleep(0.05)
    return answer


def outbox(app: Flask) -> list[ScoreOutbox]:
    with app.app_context():
        rows = list(db.session.scalars(select(ScoreOutbox).order_by(ScoreOutbox.id)))
        db.session.expunge_all()
        return rows


def test_acceptance_sends_the_score_as_completed_and_fully_graded(
    app: Flask, lms: DemoPlatform, launched: Any
) -> None:
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    [row] = eventually(lambda: [r for r in outbox(app) if r.sent_at])
    assert row.tries == 1 and row.last_error is None
    [score] = lms.scores
    assert score["userId"] == "u-aisha"
    assert score["scoreGiven"] == 100 and score["scoreMaximum"] == 100
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    # The launch named no line item, so the tool made one for its resource link.
    [item] = lms.lineitems["cp-2026"]
    assert item["tag"] == "corporate-parenting" and item["resourceLinkId"] == "cp-module"
    assert score["lineitem"] == item["id"]


def test_the_launch_line_item_is_used_when_the_lms_gives_one(
    app: Flask, lms: DemoPlatform, launched: Any
) -> None:
    lms.offer_lineitem = True
    client = launched("u-lee")
    passed(app, client)
    accept(client, "Lee Morgan")
    eventually(lambda: lms.scores)
    [item] = lms.lineitems["cp-2026"]
    [score] = lms.scores
    assert score["lineitem"] == item["id"] and score["userId"] == "u-lee"


def test_an_lms_that_is_down_gets_the_score_later_exactly_once(
    app: Flask, lms: DemoPlatform, launched: Any, runner: FlaskCliRunner, travel: Any
) -> None:
    lms.down = True
    client = launched("u-aisha")
    passed(app, client)
    page = accept(client, "Aisha Khan")
    assert page.status_code == 302  # the learner is not held up by the LMS
    [row] = eventually(lambda: [r for r in outbox(app) if r.tries])
    assert row.sent_at is None and row.tries == 1 and "503" in (row.last_error or "")
    assert lms.scores == []
    hr = launched("u-priya")
    assert "503" in hr.get("/hr/scores").get_data(as_text=True)

    result = runner.invoke(args=["outbox", "run"])
    assert "Sent 0" in result.output  # not due yet: back-off
    travel(minutes=2)
    result = runner.invoke(args=["outbox", "run"])
    assert "Sent 0; failed 1" in result.output  # still down
    assert outbox(app)[0].tries == 2

    lms.down = False
    travel(minutes=10)
    result = runner.invoke(args=["outbox", "run"])
    assert "Sent 1; failed 0" in result.output
    assert len(lms.scores) == 1
    travel(days=3)
    runner.invoke(args=["outbox", "run"])
    assert len(lms.scores) == 1  # never posted twice
    [row] = outbox(app)
    assert row.sent_at is not None and row.tries == 3
    listing = runner.invoke(args=["outbox", "list"])
    assert "Nothing waiting" in listing.output
