"""How long the sections take to read: words in the HTML, at 200 a minute, to the nearest
5 minutes (halves up), never under 5."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.services.progress import reading_minutes, words_in


@dataclass(frozen=True)
class Section:
    body_html: str


def of(words: int) -> Section:
    return Section("<p>" + " ".join(["word"] * words) + "</p>")


def test_tags_are_not_words_and_entities_are_read_as_text() -> None:
    html = (
        '<h2 id="x">The law</h2>\n'
        '<p>A <a href="section:the-law">child&rsquo;s</a> plan &amp; care.</p>'
    )
    assert words_in(html) == 7  # The law A child's plan & care.
    assert words_in("") == 0
    assert words_in("<p></p><ul><li>one</li><li>two</li></ul>") == 2


@pytest.mark.parametrize(
    ("words", "minutes"),
    [
        (0, 5),  # never "about 0 minutes"
        (1, 5),
        (1499, 5),  # 7.495 minutes
        (1500, 10),  # 7.5 minutes: halves go up
        (5499, 25),
        (5500, 30),
        (6000, 30),
        (6499, 30),
        (6500, 35),
    ],
)
def test_rounded_to_the_nearest_five_minutes_at_each_edge(words: int, minutes: int) -> None:
    assert reading_minutes([of(words)]) == minutes


def test_the_sections_are_added_together() -> None:
    assert reading_minutes([of(2750), of(2750)]) == 30
    assert reading_minutes([of(2749), of(2750)]) == 25
    assert reading_minutes([]) == 5
