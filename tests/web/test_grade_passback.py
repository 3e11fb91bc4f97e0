"""Scores to the LMS (LTI AGS) through the outbox, against the independent platform."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from app.clock import utcnow
from app.db import db
from app.models import AuditEvent, Person, ScoreOutbox
from app.services import audit
from app.services.outbox import RunResult, SendFailed, send_due
from lti import ags
from lti.roles import course_learner
from scripts.demo_lms.platform import ROLE_STAFF, DemoCourse, DemoPlatform
from tests.conftest import tool_client
from tests.learner_flow import csrf, read_all
from tests.lti_flow import Flow
from tests.web.test_acceptance import accept, acceptances, passed


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


def test_a_score_the_lms_refuses_is_not_tried_again_and_hr_sees_whose_and_why(
    app: Flask,
    lms: DemoPlatform,
    launched: Any,
    runner: FlaskCliRunner,
    travel: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.WARNING, logger="cpm.outbox")
    client = launched("u-aisha")  # launched as a learner, so her score is queued ...
    passed(app, client)
    # ... but the course no longer grades her (as Moodle, for a user who is not a student).
    monkeypatch.setattr(lms.people["u-aisha"], "roles", [ROLE_STAFF])
    assert accept(client, "Aisha Khan").status_code == 302
    [row] = eventually(lambda: [r for r in outbox(app) if r.tries])
    assert row.refused_at is not None and row.lms_status == 400 and row.tries == 1
    assert "Incorrect score received" in (row.lms_answer or "")
    assert "HTTP 400" in (row.last_error or "") and lms.scores == []

    # Logged once, at WARNING, with the outbox id and the status; never the access token.
    [record] = [r for r in caplog.records if r.name == "cpm.outbox"]
    assert record.levelno == logging.WARNING
    assert f"outbox {row.id}:" in record.getMessage() and "HTTP 400" in record.getMessage()
    tokens = [token for token, _ in ags._tokens.values()]
    assert tokens  # the token the score went with
    for token in tokens:
        assert token not in caplog.text and token not in (row.lms_answer or "")

    travel(days=3)
    assert "refused 0" in runner.invoke(args=["outbox", "run"]).output  # not tried again
    assert outbox(app)[0].tries == 1

    hr = launched("u-priya")
    page = hr.get("/hr/scores").get_data(as_text=True)
    for shown in (
        "Aisha Khan",  # whose score
        "Mandatory: Corporate Parenting (2026)",  # which course
        "Corporate Parenting Policy",  # which activity
        "Refused",
        "HTTP 400",
        "Incorrect score received",  # the LMS's answer
    ):
        assert shown in page, shown
    listing = runner.invoke(args=["outbox", "list"]).output
    assert "Aisha Khan" in listing and "REFUSED" in listing and "HTTP 400" in listing
    assert "Incorrect score received" in listing

    # The LMS is put right; HR sends it again.
    monkeypatch.undo()
    refused = hr.post(f"/hr/scores/{row.id}/retry", data={})
    assert refused.status_code == 400  # no CSRF token
    again = hr.post(f"/hr/scores/{row.id}/retry", data={"csrf_token": csrf(page)})
    assert again.status_code == 302
    [sent] = eventually(lambda: [r for r in outbox(app) if r.sent_at])
    assert sent.refused_at is None and sent.tries == 2
    [score] = lms.scores
    assert score["userId"] == "u-aisha"
    with app.app_context():  # HR's action is in Aisha's audit trail, naming who and what
        by_subject = {p.subject: p.id for p in db.session.scalars(select(Person))}
        sent_again = select(AuditEvent).where(AuditEvent.action == "score_sent_again")
        [event] = db.session.scalars(sent_again)
        assert event.subject_person_id == by_subject["u-aisha"]
        assert event.actor_person_id == by_subject["u-priya"]
        assert event.details == {
            "outbox": row.id,
            "acceptance": row.acceptance_id,
            "refused_at": row.refused_at.isoformat(),
            "lms_status": 400,
        }
        assert all(r.ok for r in audit.verify(db.session()))
    trail = hr.get(f"/hr/people/{by_subject['u-aisha']}").get_data(as_text=True)
    assert "Score sent to the learning portal again by HR" in trail


def test_sending_again_is_for_hr_and_only_for_a_refused_score(
    app: Flask, lms: DemoPlatform, launched: Any
) -> None:
    lms.down = True  # Lee's score waits for the LMS: pending, not refused
    lee = launched("u-lee")
    passed(app, lee)
    accept(lee, "Lee Morgan")
    [row] = eventually(lambda: [r for r in outbox(app) if r.tries])
    hr = launched("u-priya")
    token = csrf(hr.get("/hr/api-tokens").get_data(as_text=True))
    for item_id in (row.id, row.id + 1):
        answer = hr.post(f"/hr/scores/{item_id}/retry", data={"csrf_token": token})
        assert answer.status_code == 404
    assert outbox(app)[0].next_try_at == row.next_try_at
    learner = launched("u-aisha")
    read_all(learner)  # then the quiz page has a form, and so a CSRF token
    token = csrf(learner.get("/quiz").get_data(as_text=True))
    assert learner.post(f"/hr/scores/{row.id}/retry", data={"csrf_token": token}).status_code == 403


def test_the_token_endpoints_400_is_tried_again_not_refused(
    app: Flask, lms: DemoPlatform, launched: Any
) -> None:
    """Moodle answers 400 at its token endpoint when it could not fetch the tool's JWKS
    (here: the tool's address does not resolve): that may change, so it is retried."""
    lms.tool_jwks = None
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    [row] = eventually(lambda: [r for r in outbox(app) if r.tries])
    assert row.refused_at is None and row.sent_at is None and row.lms_status is None
    assert "token endpoint" in (row.last_error or "")
    assert lms.tool_jwks_fetches >= 1


@pytest.mark.parametrize(
    ("status", "refused"),
    [
        (None, False),  # no answer: network error, timeout
        (399, False),
        (400, True),
        (401, False),  # already retried once with a new token; the registration may be fixed
        (403, True),
        (404, True),
        (405, True),
        (408, False),
        (409, True),
        (410, True),
        (413, True),
        (422, True),
        (425, False),
        (429, False),
        (499, True),
        (500, False),
        (503, False),
    ],
)
def test_which_answers_stop_the_retries(status: int | None, refused: bool) -> None:
    assert SendFailed("x", status=status).refused is refused


LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ([LIS + "membership#Learner"], True),
        (["Learner"], True),
        ([LIS + "membership/Learner#Learner"], True),
        ([LIS + "membership#Instructor", LIS + "membership#Learner"], True),
        ([LIS + "membership#Instructor"], False),
        ([LIS + "membership#Administrator"], False),
        ([LIS + "membership#Mentor"], False),
        ([LIS + "membership#ContentDeveloper"], False),
        ([LIS + "membership/Instructor#TeachingAssistant"], False),
        ([LIS + "institution/person#Administrator"], False),
        ([LIS + "institution/person#Student"], False),  # not a role in the course
        ([], False),
    ],
)
def test_only_learners_in_the_course_are_graded(roles: list[str], expected: bool) -> None:
    assert course_learner(roles) is expected


def test_a_teachers_acceptance_queues_no_score(
    app: Flask, lms: DemoPlatform, launched: Any
) -> None:
    client = launched("u-tom")  # membership#Instructor
    passed(app, client)
    assert accept(client, "Tom Price").status_code == 302
    assert len(acceptances(app)) == 1
    assert outbox(app) == []
    assert lms.scores == []


def test_two_runners_at_once_send_each_score_exactly_once(
    app: Flask, make_app: Any, lms: DemoPlatform, launched: Any
) -> None:
    """Two processes' runners (sender threads, cron) find the same due rows at the same
    moment, and the LMS is slow to answer: each score still goes once (on SQLite, which has
    no row locks, both runners used to send both)."""
    app.extensions["score_sender"].interval = 0  # the two runners below do the sending
    for user, name in (("u-aisha", "Aisha Khan"), ("u-lee", "Lee Morgan")):
        client = launched(user)
        passed(app, client)
        accept(client, name)
    assert len(outbox(app)) == 2 and lms.scores == []

    def slow_lms(*args: Any, **kwargs: Any) -> None:
        time.sleep(0.3)
        ags.send_score(*args, **kwargs)

    together = threading.Barrier(2)
    results: list[RunResult] = []

    def runner_in(process: Flask) -> None:
        with process.app_context():
            together.wait()
            results.append(send_due(db.session(), slow_lms, utcnow()))

    threads = [threading.Thread(target=runner_in, args=(make_app(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(s["userId"] for s in lms.scores) == ["u-aisha", "u-lee"]
    assert sum(r.sent for r in results) == 2 and sum(r.failed for r in results) == 0
    assert all(row.sent_at is not None and row.tries == 1 for row in outbox(app))


def test_a_second_activity_gets_the_score_of_an_earlier_acceptance(
    app: Flask, lms: DemoPlatform, launched: Any, http: Any
) -> None:
    """Accepted through one activity, then opened from another (a second course, or the
    module placed again): that activity's column gets the same score, once (seen missing
    in a real Moodle, whose completion for the second activity then never followed)."""
    client = launched("u-aisha")
    passed(app, client)
    accept(client, "Aisha Khan")
    [first] = eventually(lambda: [r for r in outbox(app) if r.sent_at])
    lms.add_course(
        DemoCourse("cp-refresh", "Refresher", "CPR", "cp-refresh-link", "Corporate Parenting")
    )
    try:
        other = tool_client(app)
        flow = Flow(other, lms, http)
        launch = flow.launch(flow.platform_answer(flow.auth_query(context_id="cp-refresh")))
        # The launch's own page queues the score (no further request needed).
        assert launch.status_code == 200, launch.get_data(as_text=True)
        rows = eventually(lambda: [r for r in outbox(app) if r.sent_at][1:] and outbox(app))
        assert [(r.acceptance_id, r.resource_link_id) for r in rows] == [
            (first.acceptance_id, "cp-module"),
            (first.acceptance_id, "cp-refresh-link"),
        ]
        [item] = lms.lineitems["cp-refresh"]
        assert item["resourceLinkId"] == "cp-refresh-link"
        again = lms.scores[1]
        assert (again["lineitem"], again["userId"], again["scoreGiven"]) == (
            item["id"],
            "u-aisha",
            lms.scores[0]["scoreGiven"],
        )
        assert again["timestamp"] == lms.scores[0]["timestamp"]  # the acceptance's own time
        # Opening either activity again queues nothing more.
        for visit in (other, client):
            assert visit.get("/resume").status_code == 302
        assert len(outbox(app)) == 2
    finally:
        lms.remove_course("cp-refresh")
