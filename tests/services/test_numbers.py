"""One rounding of shares for every page, chart and PDF."""

from __future__ import annotations

import pytest
from flask import Flask

from app.numbers import percent, points, whole_percent


@pytest.mark.parametrize(
    ("part", "whole", "shown"),
    [
        (169, 200, 85),  # 84.5%: halves up (round() would give 84)
        (1689, 2000, 84),  # 84.45%
        (171, 200, 86),  # 85.5%
        (1, 8, 13),  # 12.5%
        (1, 3, 33),
        (2, 3, 67),
        (1, 200, 1),  # 0.5%
        (0, 7, 0),
        (7, 7, 100),
        (19, 20, 95),
    ],
)
def test_a_share_is_shown_as_a_whole_percentage_halves_up(
    part: int, whole: int, shown: int
) -> None:
    assert whole_percent(part / whole) == shown


def test_hr_pages_round_shares_the_same_way(app: Flask) -> None:
    with app.test_request_context():
        template = app.jinja_env.from_string(
            '{% from "hr/_hr.html" import percent %}{{ percent(169, 200) }} {{ percent(0, 0) }}'
        )
        assert template.render().split() == ["85", "0"]


@pytest.mark.parametrize(
    ("rate", "text"),
    [(None, "-"), (0.0, "0%"), (169 / 200, "85%"), (1689 / 2000, "84%"), (1.0, "100%")],
)
def test_a_percentage_is_whole_with_halves_rounded_up(rate: float | None, text: str) -> None:
    assert percent(rate) == text


@pytest.mark.parametrize(
    ("change", "text"),
    [(None, "-"), (0.0, "0.0"), (-0.04, "0.0"), (14.0, "+14.0"), (-0.25, "-0.3"), (0.75, "+0.8")],
)
def test_a_change_is_signed_points_to_one_place(change: float | None, text: str) -> None:
    assert points(change) == text
