"""Conditional wording in the content format ({{#if key}}...{{else}}...{{/if}}): what the check
refuses (file and line), how the stored text is shaped, what a council that has or has not set
a detail reads, and that the shipped text reads well with nothing set."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner

from app.services.content_pack import (
    PLACEHOLDERS,
    PackError,
    load_pack,
    local_details,
    personalise,
    read_as,
    word_count,
)

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "content" / "corporate-parenting"
NOTHING_SET = local_details("Test Borough Council", {})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "content" / "corporate-parenting"
    shutil.copytree(PACK, copy)
    return copy


def add_to_partners(folder: Path, text: str) -> int:
    """Put text first in partners.md's body; returns the line it starts on."""
    path = folder / "partners.md"
    source = path.read_text()
    end = source.index("\n---\n", 3) + len("\n---\n")
    path.write_text(source[:end] + text + "\n\n" + source[end:])
    return source[:end].count("\n") + 1


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(PackError) as caught:
        load_pack(folder)
    return [str(p) for p in caught.value.problems]


def section(folder: Path, key: str = "partners") -> object:
    return next(s for s in load_pack(folder).sections if s.key == key)


@pytest.mark.parametrize(
    ("text", "offset", "reason"),
    [
        ("A {{#if nope}}x{{/if}}.", 0, "unknown placeholder 'nope' in {{#if nope}}"),
        ("A {{#if board_chair}}x.", 0, "{{#if board_chair}} is not closed with {{/if}}"),
        ("A {{/if}}.", 0, "{{/if}} without a {{#if ...}} before it"),
        ("A {{else}}.", 0, "{{else}} without a {{#if ...}} before it"),
        (
            "{{#if board_chair}}a{{else}}b{{else}}c{{/if}}",
            0,
            "a second {{else}} for the {{#if}} of line",
        ),
        (
            "{{#if board_chair}}\n\n{{#if board_meets}}x{{/if}}\n\n{{/if}}",
            0,
            "{{#if board_chair}} is not closed with {{/if}} before the {{#if board_meets}} of line",
        ),
        ("A {{ #if board_chair }}x{{/if}}.", 0, "unknown marker '{{ #if board_chair }}'"),
        ("A {{#unless board_chair}}x{{/if}}.", 0, "unknown marker '{{#unless board_chair}}'"),
        (
            "## {{#if board_name}}{{board_name}}{{/if}}",
            0,
            "a heading cannot hold conditional text",
        ),
        (
            "A {{#if board_chair}}x.\n\nB{{/if}}.",
            0,
            "the text after {{#if board_chair}} must stay inside one paragraph or list item",
        ),
        (
            "- {{#if board_chair}}a\n- b{{/if}}",
            0,
            "the text after {{#if board_chair}} must stay inside one paragraph or list item",
        ),
        (
            "A **b {{#if board_chair}}c** d{{/if}}.",
            0,
            "the text after {{#if board_chair}} must stay inside one paragraph or list item",
        ),
        ("Chaired by {{board_chair}}.", 0, "{{board_chair}} has no default, so it can only"),
        (
            "{{#if board_meets}}Chaired by {{board_chair}}.{{/if}}",
            0,
            "{{board_chair}} has no default, so it can only",
        ),
        (
            "{{#if board_chair}}Yes.{{else}}Chaired by {{board_chair}}.{{/if}}",
            0,
            "{{board_chair}} has no default, so it can only",
        ),
    ],
    ids=[
        "unknown placeholder",
        "not closed",
        "end without start",
        "else without start",
        "two elses",
        "nested",
        "spaces",
        "unless",
        "in a heading",
        "across paragraphs",
        "across list items",
        "across bold",
        "no default outside",
        "no default in another if",
        "no default in else",
    ],
)
def test_a_bad_conditional_is_a_problem_with_file_and_line(
    folder: Path, runner: FlaskCliRunner, text: str, offset: int, reason: str
) -> None:
    line = add_to_partners(folder, text) + offset
    found = [p for p in problems_of(folder) if "partners.md" in p]
    assert any(f"partners.md:{line}: {reason}" in p for p in found), found
    result = runner.invoke(args=["content", "check", "--path", str(folder.parent)])
    assert result.exit_code != 0 and f"partners.md:{line}: {reason}" in result.output


def test_good_conditionals_pass_and_are_stored_as_written(folder: Path) -> None:
    add_to_partners(
        folder,
        "A{{#if board_chair}} chaired by {{board_chair}}{{else}} with a chair{{/if}}.\n\n"
        "{{#if board_meets}}\n\nIt meets {{board_meets}}.\n\n- one\n- two\n\n{{/if}}",
    )
    stored = section(folder).body_html  # type: ignore[attr-defined]
    # Pinned: an inline conditional stays inside its paragraph; a block one stands bare
    # between the elements it chooses among (its paragraph is dropped).
    assert stored.startswith(
        '<p class="govuk-body">A{{#if board_chair}} chaired by {{board_chair}}{{else}} '
        "with a chair{{/if}}.</p>\n"
        '{{#if board_meets}}<p class="govuk-body">It meets {{board_meets}}.</p>\n'
        '<ul class="govuk-list govuk-list--bullet">\n<li>one</li>\n<li>two</li>\n</ul>\n'
        "{{/if}}<h2"
    )
    unset = re.sub(r"\n+", "\n", personalise(stored, NOTHING_SET, str))
    assert unset.startswith('<p class="govuk-body">A with a chair.</p>\n<h2')
    both = personalise(
        stored,
        local_details(
            "Test Borough Council", {"board_chair": "Cllr Evans", "board_meets": "monthly"}
        ),
        str,
    )
    assert both.startswith(
        '<p class="govuk-body">A chaired by Cllr Evans.</p>\n'
        '<p class="govuk-body">It meets monthly.</p>\n'
    )


def test_a_list_item_or_paragraph_left_empty_is_removed(folder: Path) -> None:
    add_to_partners(
        folder,
        "{{#if board_chair}}Only when set, {{board_chair}}.{{/if}}\n\n"
        "- kept\n- {{#if board_meets}}{{board_meets}}{{/if}}\n\n"
        "Text.\n\n* {{#if board_chair}}{{board_chair}}{{/if}}",
    )
    stored = section(folder).body_html  # type: ignore[attr-defined]
    unset = re.sub(r"\n+", "\n", personalise(stored, NOTHING_SET, str))
    assert unset.startswith(
        '<ul class="govuk-list govuk-list--bullet">\n<li>kept</li>\n</ul>\n'
        '<p class="govuk-body">Text.</p>\n<h2'
    )
    assert "Only when set" not in unset and "<li></li>" not in unset


def test_a_value_is_never_read_as_a_marker_or_markup() -> None:
    stored = '<p class="govuk-body">{{#if board_chair}}By {{board_chair}}.{{else}}No.{{/if}}</p>'
    value = "<b>x</b> {{/if}}{{else}} **y** {{board_name}} &"
    shown = personalise(stored, local_details("Org", {"board_chair": value}), str)
    assert shown == (
        '<p class="govuk-body">By &lt;b&gt;x&lt;/b&gt; {{/if}}{{else}} **y** {{board_name}} '
        "&amp;.</p>"
    )


def test_the_content_hash_covers_both_wordings(folder: Path) -> None:
    """The text accepted is the published source plus the council's details (each change of
    those audited): so the fingerprint must change with either branch's words."""
    add_to_partners(
        folder, "A{{#if board_chair}} by {{board_chair}}{{else}} by a councillor{{/if}}."
    )
    before = load_pack(folder).content_hash
    text = (folder / "partners.md").read_text()
    (folder / "partners.md").write_text(text.replace("by a councillor", "by someone"))
    assert load_pack(folder).content_hash != before


def test_words_are_counted_as_read_with_nothing_set() -> None:
    markdown = "One {{#if board_chair}}two three {{board_chair}}{{else}}four{{/if}} {{board_name}}."
    assert word_count(markdown) == 3  # "One", "four" and the placeholder


def test_the_shipped_text_reads_well_with_no_local_detail_set() -> None:
    pack = load_pack(PACK)
    for part in [pack.intro_markdown, *(s.body_markdown for s in pack.sections)]:
        text = read_as(part, NOTHING_SET)
        assert "{{" not in text and "}}" not in text
    html = "".join(personalise(s.body_html, NOTHING_SET, str) for s in pack.sections)
    assert "{{" not in html and "<li></li>" not in html
    # The sentences the walkthrough found, and every detail with no default, read well.
    for nonsense in (
        "at your manager",
        "through your manager",
        "is called the Children in Care Council",
        "chaired by a councillor chosen by the council",
        "Children in our care: a number",
    ):
        assert nonsense not in html
    for sentence in (
        "It is usually chaired by a councillor. Most boards meet several times a year.",
        "How many children we look after: ask the corporate parenting team.",
        "Ask how often it is reviewed.",
        "Ask the corporate parenting team whether Test Borough Council does.",
        "contact the corporate parenting team.</p>",
        '<h2 id="the-corporate-parenting-board" class="govuk-heading-m">'
        "The corporate parenting board</h2>",
    ):
        assert sentence in html, sentence


def test_every_detail_with_no_default_is_only_shown_where_set() -> None:
    pack = load_pack(PACK)
    everything = {key: f"<{key}>" for key in PLACEHOLDERS}
    all_set = local_details("Test Borough Council", everything)
    shown = "".join(personalise(s.body_html, all_set, str) for s in pack.sections)
    unset = "".join(personalise(s.body_html, NOTHING_SET, str) for s in pack.sections)
    for key, (_, default) in PLACEHOLDERS.items():
        if key in ("council_name", "data_protection_contact", "accessibility_contact"):
            continue  # the name is always set; the last two are used by the about pages
        assert f"&lt;{key}&gt;" in shown, key
        if not default:
            assert f"&lt;{key}&gt;" not in unset
    assert "Ours is called &lt;children_in_care_council&gt;." in shown
    assert "Ours is called" not in unset


def test_content_preview_shows_each_section_with_nothing_set(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["content", "preview"])
    assert result.exit_code == 0, result.output
    assert "{{" not in result.output
    assert "# Roles and responsibilities (roles-and-responsibilities, for all)" in result.output
    assert "It is usually chaired by a councillor. Most boards meet several times a year." in (
        result.output
    )
    assert "When a child comes into the care of (the council's name)," in result.output
    one = runner.invoke(args=["content", "preview", "--section", "voice-of-children"])
    assert one.exit_code == 0 and one.output.startswith("# The voice of children")
    assert "Ours is called" not in one.output and "# Roles" not in one.output
    missing = runner.invoke(args=["content", "preview", "--section", "nope"])
    assert missing.exit_code != 0 and "No section 'nope'" in missing.output


def test_content_preview_reads_an_organisations_details(
    runner: FlaskCliRunner, registered: object
) -> None:
    result = runner.invoke(
        args=["org", "set", "--org", "Test Borough Council", "children_in_care_council", "Voices"]
    )
    assert result.exit_code == 0, result.output
    shown = runner.invoke(
        args=[
            "content",
            "preview",
            "--org",
            "Test Borough Council",
            "--section",
            "voice-of-children",
        ]
    )
    assert shown.exit_code == 0, shown.output
    assert "Ours is called Voices." in shown.output
    assert "present their views to the corporate parenting board" in shown.output
    assert re.search(r"^# The voice of children", shown.output)
