"""The configuration page tells LMS administrators and course editors each way in: one
registration URL, values by hand, the content picker, restricted cookies, the services, and
how Moodle's grade to pass and activity completion follow the module."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import yaml
from flask.testing import FlaskClient

from lti import nrps, paging


def text_of(client: FlaskClient) -> str:
    html = client.get("/lti/config").get_data(as_text=True)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_page_explains_registration_by_one_url_and_what_is_refused(
    client: FlaskClient,
) -> None:
    page = text_of(client)
    for text in (
        'flask --app app lti registration-url --org "Your Council"',
        "default 24 hours",
        "Each URL works once, until it expires.",
        "HR Settings page",
        "Site administration > Plugins > Activity modules > External tool > Manage tools. "
        'Paste the URL into the "Tool URL" box and select "Add LTI Advantage".',
        'Moodle keeps a tool registered this way "Pending" until you activate it',
        "Nobody can register an LMS without a registration URL",
        "a registration URL already used, or expired;",
        "not on the same site as the issuer it declares;",
        "an LMS that refuses the registration;",
        "already registered to another council.",
    ):
        assert text in page, text


def test_the_page_explains_the_content_picker_cookies_and_services(client: FlaskClient) -> None:
    page = text_of(client)
    for text in (
        '"Select content"',
        "its grade column, out of 100",
        "a partitioned cookie",
        "platform storage, offered by Canvas",
        '"Open the module in a new window"',
        # The figures are the code's own bounds.
        f"asks for {nrps.PAGE_SIZE} members a page",
        f"It stops at {paging.MAX_PAGES} pages, {nrps.MAX_MEMBERS:,} members or a page over "
        f"{paging.MAX_PAGE_BYTES // 1_000_000} MB",
        "the tag corporate-parenting",
    ):
        assert text in page, text


def test_the_page_tells_moodle_administrators_the_grade_to_pass_and_completion(
    client: FlaskClient,
) -> None:
    page = text_of(client)
    quiz = Path(__file__).parents[2] / "quizzes" / "corporate-parenting.yaml"
    mark = yaml.safe_load(quiz.read_text())["settings"]["pass_mark"]  # the quiz as shipped
    for text in (
        'marked "Completed" and "FullyGraded"',
        f'set "Grade to pass" to {mark} (the quiz\'s pass mark)',
        f"at least the quiz's pass mark: {mark}, as the module ships",
        '"Receive a grade", or "Receive a passing grade"',
        'accept grades from the tool "Always"',
    ):
        assert text in page, text
