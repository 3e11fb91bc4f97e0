"""What content check warns about without blocking a release (dated notes past their review,
the Children in Care Council's words not yet written, sections outside 300-600 words), and
how the council's own words become part of the text people read and accept."""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from app import clock
from app.services.content_pack import (
    OUR_WORDS_EMPTY,
    PackError,
    PolicyPack,
    Problem,
    load_pack,
    pack_warnings,
)

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "content" / "corporate-parenting"
TODAY = date(2026, 6, 1)

NOTE = (
    "> **Test change to the law (checked {checked}, review by {review})**\n"
    "> A Bill may change this. Check it before publishing.\n\n"
)
EMPTY_SENTENCE = (
    "This is the place for the words of the Children in Care Council. "
    "It has not written them yet. When it does, they will appear here."
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped pack, without the council's words file unless a test adds it."""
    copy = tmp_path / "content" / "corporate-parenting"
    shutil.copytree(PACK, copy)
    (copy / "our-words.md").unlink(missing_ok=True)
    return copy


def at_body_start(path: Path, text: str) -> int:
    """Put text first in a file's body; returns the line it starts on."""
    source = path.read_text()
    end = source.index("\n---\n", 3) + len("\n---\n")
    path.write_text(source[:end] + text + source[end:])
    return source[:end].count("\n") + 1


def add_note(folder: Path, checked: str, review: str) -> int:
    return at_body_start(folder / "partners.md", NOTE.format(checked=checked, review=review))


def our_words(folder: Path, body: str, section: str = "voice-of-children") -> None:
    (folder / "our-words.md").write_text(f"---\nsection: {section}\n---\n{body}")


def mine(warnings: list[Problem], file: str) -> list[str]:
    """The warnings about one file (the shipped text may carry warnings of its own)."""
    return [str(w) for w in warnings if w.file.endswith(file)]


def notes(warnings: list[Problem], file: str) -> list[str]:
    """The dated-note warnings about one file (adding a note may also tip its word count)."""
    return [w for w in mine(warnings, file) if ": the note '" in w]


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(PackError) as caught:
        load_pack(folder)
    return [str(p) for p in caught.value.problems]


def section_of(pack: PolicyPack, key: str) -> Any:
    return next(s for s in pack.sections if s.key == key)


# -- dated notes ------------------------------------------------------------------------------


def test_a_dated_note_warns_from_the_day_after_its_review_date(folder: Path) -> None:
    line = add_note(folder, "2025-03-31", "2026-06-01")
    pack = load_pack(folder)
    [note] = [n for n in pack.notes if n.name == "Test change to the law"]
    assert (note.line, note.checked, note.review_by) == (line, date(2025, 3, 31), date(2026, 6, 1))
    assert notes(pack_warnings(pack, date(2026, 6, 1)), "partners.md") == []
    assert notes(pack_warnings(pack, date(2026, 6, 2)), "partners.md") == [
        f"{note.file}:{line}: the note 'Test change to the law' was due for review by "
        "2026-06-01 (last checked 2025-03-31): check the law as it stands today, update "
        "the note's text, and change both dates"
    ]


def test_a_dated_note_changes_nothing_in_the_text(folder: Path) -> None:
    before = section_of(load_pack(folder), "partners").body_html
    add_note(folder, "2025-03-31", "2025-12-31")
    after = section_of(load_pack(folder), "partners").body_html
    assert after.endswith(before)
    assert after.startswith('<blockquote class="govuk-inset-text">\n<p class="govuk-body">')
    assert "Test change to the law (checked 2025-03-31, review by 2025-12-31)" in after


@pytest.mark.parametrize(
    ("checked", "review", "reason"),
    [
        ("2025-02-30", "2025-12-31", "bad checked date '2025-02-30' in a dated note"),
        ("2025-03-31", "31/12/2025", "bad review by date '31/12/2025' in a dated note"),
        ("20250331", "2025-12-31", "bad checked date '20250331' in a dated note"),
        (
            "2025-03-31",
            "2025-03-30",
            "the review date 2025-03-30 is before the checked date 2025-03-31",
        ),
    ],
)
def test_a_bad_dated_note_is_a_problem(
    folder: Path, runner: FlaskCliRunner, checked: str, review: str, reason: str
) -> None:
    line = add_note(folder, checked, review)
    found = problems_of(folder)
    assert any(f"partners.md:{line}: {reason}" in p for p in found), found
    result = runner.invoke(args=["content", "check", "--path", str(folder.parent)])
    assert result.exit_code != 0 and reason in result.output


def test_the_same_day_is_a_good_review_date_and_a_half_written_one_is_not(folder: Path) -> None:
    add_note(folder, "2025-03-31", "2025-03-31")
    assert any(n.name == "Test change to the law" for n in load_pack(folder).notes)
    line = at_body_start(folder / "the-law.md", "> **A note (checked 2025-03-31)**\n\n")
    assert any(
        f"the-law.md:{line}: a dated note's first line must hold "
        "'(checked YYYY-MM-DD, review by YYYY-MM-DD)'" in p
        for p in problems_of(folder)
    )


def test_check_and_publish_warn_by_the_apps_clock_and_still_succeed(
    folder: Path, runner: FlaskCliRunner, travel: Any
) -> None:
    line = add_note(folder, "2029-01-31", "2030-06-30")
    # To noon in London on each day: whole days from now would land on the next day when
    # run after 23:00 in winter (UTC+0), as the summer date is UTC+1 (CI met it).
    start = clock.utcnow()

    def noon(day: date) -> float:
        at = datetime.combine(day, time(12), tzinfo=ZoneInfo("Europe/London"))
        return (at - start).total_seconds()

    travel(seconds=noon(date(2030, 6, 30)))
    assert clock.today() == date(2030, 6, 30)
    checked = runner.invoke(args=["content", "check", "--path", str(folder.parent)])
    assert checked.exit_code == 0, checked.output
    assert "Test change to the law" not in checked.output
    travel(seconds=noon(date(2030, 7, 1)))
    assert clock.today() == date(2030, 7, 1)
    checked = runner.invoke(args=["content", "check", "--path", str(folder.parent)])
    assert checked.exit_code == 0, checked.output
    warning = re.search(
        rf"^warning: \S*partners\.md:{line}: the note 'Test change to the law' was due for "
        r"review by 2030-06-30 .*change both dates$",
        checked.output,
        re.M,
    )
    assert warning, checked.output
    assert re.search(
        r"^OK corporate-parenting version .*; \d+ warning\(s\) to see to$", checked.output, re.M
    )
    published = runner.invoke(args=["content", "publish", "--path", str(folder.parent)])
    assert published.exit_code == 0, published.output
    assert warning.group(0) in published.output
    assert "Published: Corporate Parenting Policy" in published.output


# -- the Children in Care Council's own words ----------------------------------------------


def test_no_words_file_leaves_the_text_as_it_was(folder: Path) -> None:
    pack = load_pack(folder)
    assert pack.our_words is None
    assert "In our own words" not in section_of(pack, "voice-of-children").body_markdown
    assert mine(pack_warnings(pack, TODAY), "our-words.md") == []


def test_an_empty_words_file_shows_a_fixed_sentence_and_warns(folder: Path) -> None:
    without = load_pack(folder)
    our_words(folder, "")
    pack = load_pack(folder)
    body = section_of(pack, "voice-of-children").body_markdown
    before = body.split("\n\n## What this means for you", 1)[0]
    assert before.endswith("\n\n" + OUR_WORDS_EMPTY)
    assert "In our own words" not in body
    html = section_of(pack, "voice-of-children").body_html
    assert (
        '<p class="govuk-body">This is the place for the words of {{children_in_care_council}}. '
        "It has not written them yet. When it does, they will appear here.</p>\n"
        '<h2 id="what-this-means-for-you"'
    ) in html
    assert pack.content_hash != without.content_hash
    assert pack.our_words is not None
    assert mine(pack_warnings(pack, TODAY), "our-words.md") == [
        f"{pack.our_words.file}:1: our-words.md is empty: ask the Children in Care Council "
        "to write their own words for 'voice-of-children', and put them in below the front "
        "matter as they wrote them"
    ]
    # Not a section of its own: it is neither listed nor refused for being unlisted.
    assert "our-words" not in [s.key for s in pack.sections]


def test_filled_words_sit_under_their_heading_before_what_this_means_for_you(
    folder: Path,
) -> None:
    our_words(folder, "")
    empty = load_pack(folder)
    our_words(folder, "We want to be asked.\n\n### Our top ten\n\n- Listen to us\n")
    pack = load_pack(folder)
    section = section_of(pack, "voice-of-children")
    assert (
        "\n\n## In our own words\n\nWe want to be asked.\n\n### Our top ten\n\n- Listen to us"
        "\n\n## What this means for you\n"
    ) in section.body_markdown
    assert OUR_WORDS_EMPTY not in section.body_markdown
    assert (
        '<h2 id="in-our-own-words" class="govuk-heading-m">In our own words</h2>\n'
        '<p class="govuk-body">We want to be asked.</p>'
    ) in section.body_html
    assert [h.anchor for h in section.headings][-3:] == [
        "in-our-own-words",
        "our-top-ten",
        "what-this-means-for-you",
    ]
    assert pack.content_hash != empty.content_hash
    assert mine(pack_warnings(pack, TODAY), "our-words.md") == []
    our_words(folder, "We want to be asked, please.\n")
    assert load_pack(folder).content_hash != pack.content_hash


def test_words_follow_the_same_rules_and_sanitising_as_sections(folder: Path) -> None:
    our_words(folder, "<script>alert(1)</script> [x](javascript:alert(2))\n")
    html = section_of(load_pack(folder), "voice-of-children").body_html
    assert "<script" not in html and 'href="javascript' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    our_words(folder, "Hello.\n\n# Our words\n\n{{council_nme}} and [them](the-lw.md)\n")
    found = problems_of(folder)
    for reason in (
        "our-words.md:6: do not use a '#' heading",
        "our-words.md:8: unknown placeholder '{{council_nme}}'",
        "our-words.md:8: broken link 'the-lw.md'",
    ):
        assert any(reason in p for p in found), (reason, found)


@pytest.mark.parametrize(
    ("front", "reason"),
    [
        ("section: no-such-section\n", "our-words.md:2: section 'no-such-section' is not a"),
        ("title: Our words\n", "our-words.md:2: unknown field 'title'"),
        ("author: us\nsection: partners\n", "our-words.md:2: unknown field 'author'"),
        ("section: ''\n", "missing field 'section'"),
    ],
)
def test_a_words_file_must_name_a_section_of_the_policy(
    folder: Path, runner: FlaskCliRunner, front: str, reason: str
) -> None:
    (folder / "our-words.md").write_text(f"---\n{front}---\nOur words.\n")
    found = problems_of(folder)
    assert any(reason in p for p in found), found
    result = runner.invoke(args=["content", "check", "--path", str(folder.parent)])
    assert result.exit_code != 0 and reason in result.output


def test_the_section_page_shows_the_sentence_then_the_words(
    app: Flask, launched: Any, runner: FlaskCliRunner, folder: Path
) -> None:
    def publish(version: str, words: str) -> str:
        our_words(folder, words)
        index = folder / "index.md"
        text = re.sub(r'version: "[^"]*"', f'version: "{version}"', index.read_text())
        text = re.sub(
            r"effective_date: \S+", f"effective_date: {clock.today() - timedelta(days=1)}", text
        )
        index.write_text(
            re.sub(r"requires_reacceptance: \w+", "requires_reacceptance: false", text)
        )
        result = runner.invoke(args=["content", "publish", "--path", str(folder.parent)])
        assert result.exit_code == 0, result.output
        return result.output

    output = publish("9.1", "")
    assert "warning: " in output and "our-words.md is empty" in output
    page = launched("u-aisha").get("/sections/voice-of-children").get_data(as_text=True)
    assert EMPTY_SENTENCE in page
    assert "In our own words" not in page

    output = publish("9.2", "Ask us first. <b>Listen</b> to {{council_name}}.\n")
    assert "our-words.md is empty" not in output
    page = launched("u-aisha").get("/sections/voice-of-children").get_data(as_text=True)
    assert EMPTY_SENTENCE not in page
    assert "In our own words</h2>" in page
    assert "Ask us first. &lt;b&gt;Listen&lt;/b&gt; to Test Borough Council." in page


# -- words per section ------------------------------------------------------------------------


def add_section(folder: Path, words: int) -> None:
    """A section of exactly that many words (as the check counts them), listed last."""
    body = "## What this means for you\n\n" + " ".join(["word"] * (words - 5)) + "\n"
    (folder / "extra.md").write_text(
        f"---\nkey: extra\ntitle: Extra\nsummary: A test section.\naudience: all\n---\n{body}"
    )
    index = folder / "index.md"
    text = index.read_text()
    index.write_text(text.replace("sections:\n", "sections:\n  - extra\n", 1))


@pytest.mark.parametrize(
    ("words", "warning"),
    [
        (299, "the section has 299 words: aim for 300 to 600 (say more, or join it to another)"),
        (300, None),
        (600, None),
        (601, "the section has 601 words: aim for 300 to 600 (split it)"),
    ],
)
def test_a_section_outside_300_to_600_words_is_a_warning(
    folder: Path, runner: FlaskCliRunner, words: int, warning: str | None
) -> None:
    add_section(folder, words)
    pack = load_pack(folder)
    expected = [] if warning is None else [f"{section_of(pack, 'extra').file}:7: {warning}"]
    assert mine(pack_warnings(pack, TODAY), "extra.md") == expected
    result = runner.invoke(args=["content", "check", "--path", str(folder.parent)])
    assert result.exit_code == 0, result.output
    assert (
        (f"warning: {expected[0]}" in result.output)
        if expected
        else "extra.md" not in (result.output)
    )


def test_the_words_count_includes_the_councils_words(folder: Path) -> None:
    add_section(folder, 598)
    our_words(folder, "Ask us.\n", section="extra")  # the heading and words add 6
    pack = load_pack(folder)
    assert mine(pack_warnings(pack, TODAY), "extra.md") == [
        f"{section_of(pack, 'extra').file}:7: the section has 604 words: aim for 300 to 600 "
        "(split it)"
    ]
