"""Assignment and Grade Services 2.0 against the independent demo LMS, over real HTTP: the
exact score and line item JSON the LMS receives, the line item found by the spec's filters
(all pages, even from a platform that ignores the filters) or created once and reused, two
senders at once, line item ids off the platform's site ignored, and the demo LMS's own
checks of score and line item bodies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pylti1p3.exception import LtiServiceException
from sqlalchemy import select

from app.db import db
from app.models import Launch, PlatformRegistration
from lti import ags
from scripts.demo_lms.platform import (
    LINEITEM_TYPE,
    SCORE_TYPE,
    BadServiceRequest,
    DemoPlatform,
    check_lineitem,
    check_score,
)

WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
OURS = {
    "scoreMaximum": 100,
    "label": "Corporate Parenting",
    "resourceLinkId": "cp-module",
    "tag": "corporate-parenting",
}
SCORE = {
    "scoreGiven": 85,
    "scoreMaximum": 100,
    "activityProgress": "Completed",
    "gradingProgress": "FullyGraded",
    "timestamp": "2026-03-01T09:30:00.000Z",
    "userId": "u-aisha",
}


@pytest.fixture
def lms(registered: DemoPlatform, client: FlaskClient) -> Iterator[DemoPlatform]:
    registered.tool_jwks = client.get("/lti/jwks").json
    registered.lineitems = {c: [] for c in registered.courses}
    registered.scores = []
    registered.service_requests = []
    yield registered
    registered.before_create = None
    registered.ignore_filters = False
    registered.tool_jwks = None


@pytest.fixture
def endpoint(app: Flask, lms: DemoPlatform, launched: Any) -> dict[str, Any]:
    """The AGS claim of a real launch: the container only (the demo names no line item)."""
    launched("u-aisha")
    with app.app_context():
        claim = db.session.scalars(select(Launch.ags_endpoint)).one()
    assert claim is not None and "lineitem" not in claim
    return dict(claim)


def send(app: Flask, endpoint: dict[str, Any], user_id: str = "u-aisha", given: int = 85) -> None:
    with app.app_context():
        ags.send_score(
            db.session(),
            registration_id=db.session.scalars(select(PlatformRegistration.id)).one(),
            endpoint=endpoint,
            resource_link_id="cp-module",
            user_id=user_id,
            score_given=given,
            score_maximum=100,
            timestamp=WHEN,
            label="Corporate Parenting",
        )


def requests_to(lms: DemoPlatform, method: str) -> list[str]:
    return [url for m, url in lms.service_requests if m == method]


def test_the_lms_receives_exactly_this_line_item_and_this_score(
    app: Flask, lms: DemoPlatform, endpoint: dict[str, Any]
) -> None:
    send(app, endpoint)
    item_id = lms.lineitems_url("cp-2026") + "/1"
    assert lms.lineitems["cp-2026"] == [{**OURS, "id": item_id}]
    assert lms.scores == [{"lineitem": item_id, **SCORE}]
    # The find asked with the spec's filters and a page size.
    [find, *_] = requests_to(lms, "GET")
    assert parse_qs(urlsplit(find).query) == {
        "resource_link_id": ["cp-module"],
        "tag": ["corporate-parenting"],
        "limit": ["100"],
    }


def test_two_scores_for_two_learners_share_one_line_item(
    app: Flask, lms: DemoPlatform, endpoint: dict[str, Any]
) -> None:
    send(app, endpoint, "u-aisha", 85)
    send(app, endpoint, "u-lee", 90)
    [item] = lms.lineitems["cp-2026"]
    assert [(s["lineitem"], s["userId"], s["scoreGiven"]) for s in lms.scores] == [
        (item["id"], "u-aisha", 85),
        (item["id"], "u-lee", 90),
    ]
    assert len(requests_to(lms, "POST")) == 3  # one line item, two scores


def test_two_senders_at_once_end_with_one_line_item_holding_both_scores(
    app: Flask, lms: DemoPlatform, endpoint: dict[str, Any]
) -> None:
    errors: list[BaseException] = []

    def run(user_id: str) -> None:
        try:
            send(app, endpoint, user_id)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(u,)) for u in ("u-aisha", "u-lee")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    [item] = lms.lineitems["cp-2026"]
    assert sorted((s["lineitem"], s["userId"]) for s in lms.scores) == [
        (item["id"], "u-aisha"),
        (item["id"], "u-lee"),
    ]


def test_a_line_item_created_by_another_sender_meanwhile_is_kept_and_ours_deleted(
    app: Flask, lms: DemoPlatform, endpoint: dict[str, Any]
) -> None:
    def rival() -> None:  # another process's POST lands between our find and our create
        lms.before_create = None
        lms.create_lineitem("cp-2026", dict(OURS))

    lms.before_create = rival
    send(app, endpoint)
    first = lms.lineitems_url("cp-2026") + "/1"
    assert lms.lineitems["cp-2026"] == [{**OURS, "id": first}]
    assert requests_to(lms, "DELETE") == [lms.lineitems_url("cp-2026") + "/2"]
    assert [s["lineitem"] for s in lms.scores] == [first]


def test_the_line_item_is_found_on_a_later_page_of_a_platform_that_ignores_the_filters(
    app: Flask, lms: DemoPlatform, endpoint: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ags, "LINEITEMS_PAGE_SIZE", 2)
    # Items that each fail one of the two filters, then ours, fifth: page 3 of 2 each.
    for other in (
        {"tag": "another-tool"},
        {"resourceLinkId": "another-link"},
        {"tag": "another-tool", "resourceLinkId": "another-link"},
        {"tag": "quiz"},
        {},
    ):
        lms.create_lineitem("cp-2026", {**OURS, **other})
    lms.lineitems["cp-2026"].insert(4, lms.lineitems["cp-2026"].pop())  # ours is fifth
    ours = lms.lineitems["cp-2026"][4]["id"]
    lms.ignore_filters = True
    send(app, endpoint)
    assert len(lms.lineitems["cp-2026"]) == 5  # none created
    assert [s["lineitem"] for s in lms.scores] == [ours]
    pages = [parse_qs(urlsplit(u).query).get("page") for u in requests_to(lms, "GET")]
    assert pages == [None, ["2"], ["3"]]


def test_a_line_item_whose_id_is_off_the_platforms_site_is_not_used(
    app: Flask, lms: DemoPlatform, endpoint: dict[str, Any]
) -> None:
    # A matching item whose id would send our access token (and the score) elsewhere.
    lms.lineitems["cp-2026"].append({**OURS, "id": "http://lms.attacker.example/li/1"})
    send(app, endpoint)
    [created] = [i["id"] for i in lms.lineitems["cp-2026"] if "attacker" not in i["id"]]
    assert created.startswith(lms.lineitems_url("cp-2026") + "/")
    assert [s["lineitem"] for s in lms.scores] == [created]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"activityProgress": "Done"}, "activityProgress"),
        ({"gradingProgress": "Graded"}, "gradingProgress"),
        ({"timestamp": "2026-03-01T09:30:00"}, "timestamp"),
        ({"timestamp": None}, "timestamp"),
        ({"userId": ""}, "userId"),
        ({"scoreGiven": -1}, "scoreGiven"),
        ({"scoreMaximum": 0}, "scoreMaximum"),
        ({"scoreMaximum": None}, "scoreMaximum"),
    ],
)
def test_the_demo_lms_refuses_a_score_the_specification_does_not_allow(
    change: dict[str, Any], reason: str
) -> None:
    score = {k: v for k, v in {**SCORE, **change}.items() if v is not None}
    with pytest.raises(BadServiceRequest, match=reason):
        check_score(SCORE_TYPE, score)


def test_the_demo_lms_takes_the_tools_score_and_a_score_without_a_grade() -> None:
    check_score(SCORE_TYPE + "; charset=utf-8", SCORE)
    check_score(SCORE_TYPE, {k: v for k, v in SCORE.items() if k != "scoreGiven"})
    check_score(SCORE_TYPE, {**SCORE, "scoreGiven": 0})  # 0 is a score, the boundary


@pytest.mark.parametrize(
    ("content_type", "item", "reason"),
    [
        ("application/json", OURS, "Content-Type"),
        (LINEITEM_TYPE, {**OURS, "label": " "}, "label"),
        (LINEITEM_TYPE, {**OURS, "scoreMaximum": 0}, "scoreMaximum"),
        (LINEITEM_TYPE, {**OURS, "scoreMaximum": True}, "scoreMaximum"),
        (LINEITEM_TYPE, {**OURS, "tag": 5}, "tag"),
    ],
)
def test_the_demo_lms_refuses_a_line_item_the_specification_does_not_allow(
    content_type: str, item: dict[str, Any], reason: str
) -> None:
    with pytest.raises(BadServiceRequest, match=reason):
        check_lineitem(content_type, item)


def test_a_score_sent_with_the_wrong_media_type_is_refused_over_http(
    app: Flask, lms: DemoPlatform, endpoint: dict[str, Any]
) -> None:
    send(app, endpoint)
    item = lms.lineitems["cp-2026"][0]["id"]
    with app.app_context():
        reg_id = db.session.scalars(select(PlatformRegistration.id)).one()
        connector = ags._Connector(ags.registration_for(db.session(), reg_id))
        with pytest.raises(LtiServiceException) as refused:
            connector.make_service_request(
                [ags.AGS + "score"], item + "/scores", is_post=True, data='{"userId": "u-lee"}'
            )
    assert refused.value.response.status_code == 400
    assert "Content-Type" in refused.value.response.json()["reason"]
