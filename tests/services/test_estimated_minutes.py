"""How long the module is said to take: 200 words a minute, a minute a question, rounded
up to 5 minutes (it is an "about"), at each boundary."""

from __future__ import annotations

import pytest

from app.models import PolicySection
from app.services.progress import estimated_minutes


def sections(*words: int) -> list[PolicySection]:
    return [PolicySection(body_markdown=" ".join(["word"] * n)) for n in words]


@pytest.mark.parametrize(
    ("words", "questions", "minutes"),
    [
        ((1000,), 10, 15),  # 5 + 10
        ((1001,), 10, 20),  # 6 + 10 = 16: up to 20
        ((600, 400), 0, 5),  # two sections, 1,000 words
        ((200,), 0, 5),  # never less than 5
        ((5332, 588), 12, 45),  # this policy for staff: 30 + 12 = 42
        ((5332, 1149), 12, 45),  # and for councillors: 33 + 12 = 45
    ],
)
def test_reading_at_200_words_a_minute_plus_a_minute_a_question(
    words: tuple[int, ...], questions: int, minutes: int
) -> None:
    assert estimated_minutes(sections(*words), questions) == minutes


def test_words_are_counted_as_a_reader_sees_them() -> None:
    text = "A child's carer - and the council\u2019s well-being team: **read** [this](https://x)."
    # A, child's, carer, and, the, council's (curly), well-being, team, read, this, https, x
    assert estimated_minutes([PolicySection(body_markdown=text * 100)], 0) == 10
