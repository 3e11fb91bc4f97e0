"""Content packs and question banks: the shipped ones are sound, bad ones are refused with
the file, line and reason, and a published text cannot change without a new version."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskCliRunner

from app.models import Audience
from app.services.content_pack import PackError, load_pack, word_count
from app.services.question_bank import BankError, Question, load_bank

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "content" / "corporate-parenting"
BANK = ROOT / "quizzes" / "corporate-parenting.yaml"


# -- the shipped module -------------------------------------------------------------------


def test_the_shipped_module_meets_its_brief() -> None:
    pack = load_pack(PACK)
    assert len(pack.sections) == 12
    for audience, expected in ((Audience.MEMBERS, 11), (Audience.STAFF, 10)):
        seen = [s for s in pack.sections if s.audience in (Audience.ALL, audience)]
        assert len(seen) == expected, audience
    for section in pack.sections:
        words = word_count(section.body_markdown)  # as the check counts: read with nothing set
        assert 300 <= words <= 600, (section.key, words)
        assert "What this means for you" in section.body_markdown, section.key
        assert next(h.level for h in section.headings) == 2


def test_the_shipped_question_bank_meets_its_brief() -> None:
    pack = load_pack(PACK)
    bank = load_bank(BANK, pack)
    assert len(bank.questions) >= 40
    per_section = Counter(q.section for q in bank.questions)
    assert set(per_section) == {s.key for s in pack.sections}
    assert min(per_section.values()) >= bank.settings["min_per_section"]
    assert bank.settings["pass_mark"] == 80
    titles = {s.key: s.title for s in pack.sections}
    for question in bank.questions:
        assert titles[question.section] in question.explanation, question.id


# -- bad content packs --------------------------------------------------------------------


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


PACK_CASES: list[tuple[str, Callable[[Path], None], str, str]] = [
    (
        "missing field",
        lambda d: edit(d / "the-law.md", "title: What the law says\n", ""),
        "the-law.md",
        "missing field 'title'",
    ),
    (
        "unknown section in the order",
        lambda d: edit(d / "index.md", "  - partners\n", "  - partners\n  - no-such-section\n"),
        "index.md:",
        "unknown section 'no-such-section'",
    ),
    (
        "duplicate key in the order",
        lambda d: edit(d / "index.md", "  - partners\n", "  - partners\n  - partners\n"),
        "index.md:",
        "duplicate key 'partners'",
    ),
    (
        "duplicate field",
        lambda d: edit(d / "partners.md", "audience: all\n", "audience: all\naudience: staff\n"),
        "partners.md:",
        "duplicate field 'audience'",
    ),
    (
        "bad date",
        lambda d: edit(d / "index.md", "effective_date: 2026-12-01", "effective_date: 2026-13-45"),
        "index.md:5:",
        "bad date '2026-13-45'",
    ),
    (
        "broken internal link",
        lambda d: edit(d / "partners.md", "(the-law.md)", "(the-lw.md)"),
        "partners.md:",
        "broken link 'the-lw.md'",
    ),
    (
        "broken anchor",
        lambda d: edit(d / "partners.md", "(the-law.md)", "(the-law.md#nowhere)"),
        "partners.md:",
        "'the-law' has no heading '#nowhere'",
    ),
    (
        "unknown placeholder",
        lambda d: edit(d / "partners.md", "{{council_name}}", "{{councl_name}}"),
        "partners.md:",
        "unknown placeholder '{{councl_name}}'",
    ),
    (
        "version not quoted",
        lambda d: edit(d / "index.md", 'version: "2.0"', "version: 2.10"),
        "index.md:4:",
        "version must be in quotes",
    ),
    (
        "level-1 heading",
        lambda d: edit(
            d / "partners.md",
            "## ",
            "# ",
        ),
        "partners.md:",
        "do not use a '#' heading",
    ),
    (
        "unknown audience",
        lambda d: edit(d / "partners.md", "audience: all", "audience: everyone"),
        "partners.md:5:",
        "audience must be all, members or staff",
    ),
    (
        "section not in the order",
        lambda d: (d / "extra.md").write_text(
            "---\nkey: extra\ntitle: Extra\nsummary: x\naudience: all\n---\nText.\n"
        ),
        "extra.md:1:",
        "not listed in index.md's sections",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "file", "reason"), [pytest.param(m, f, r, id=i) for i, m, f, r in PACK_CASES]
)
def test_a_bad_content_pack_is_refused_with_file_line_and_reason(
    tmp_path: Path,
    runner: FlaskCliRunner,
    mutate: Callable[[Path], None],
    file: str,
    reason: str,
) -> None:
    folder = tmp_path / "content" / "corporate-parenting"
    shutil.copytree(PACK, folder)
    mutate(folder)
    with pytest.raises(PackError) as caught:
        load_pack(folder)
    found = [str(p) for p in caught.value.problems]
    assert any(file in p and reason in p for p in found), found
    result = runner.invoke(args=["content", "check", "--path", str(tmp_path / "content")])
    assert result.exit_code != 0
    assert reason in result.output
    published = runner.invoke(args=["content", "publish", "--path", str(tmp_path / "content")])
    assert published.exit_code != 0 and "Not published" in published.output


def test_markdown_cannot_inject_script(tmp_path: Path) -> None:
    folder = tmp_path / "corporate-parenting"
    shutil.copytree(PACK, folder)
    edit(
        folder / "partners.md",
        "## ",
        "<script>alert(1)</script> [x](javascript:alert(2)) <img src=x onerror=alert(3)>\n\n## ",
    )
    pack = load_pack(folder)
    html = next(s.body_html for s in pack.sections if s.key == "partners")
    assert "<script" not in html
    assert "<img" not in html
    assert 'href="javascript' not in html  # the link is refused and left as plain text
    assert "&lt;script&gt;" in html  # shown as text, as written


def test_check_command_reports_the_shipped_content_as_sound(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["content", "check"])
    assert result.exit_code == 0, result.output
    assert "OK corporate-parenting version 2.0: 12 sections" in result.output
    # `quiz check` on the shipped bank: tests/services/test_item_review.py.


def test_published_text_cannot_change_without_a_new_version(
    tmp_path: Path, runner: FlaskCliRunner
) -> None:
    content = tmp_path / "content"
    shutil.copytree(PACK, content / "corporate-parenting")
    first = runner.invoke(args=["content", "publish", "--path", str(content)])
    assert first.exit_code == 0 and "Published: Corporate Parenting Policy" in first.output
    again = runner.invoke(args=["content", "publish", "--path", str(content)])
    assert "Already published (unchanged)" in again.output
    edit(content / "corporate-parenting" / "partners.md", "health partners", "NHS partners")
    changed = runner.invoke(args=["content", "publish", "--path", str(content)])
    assert changed.exit_code != 0
    assert "cannot change: give the new text a new version number" in changed.output
    edit(content / "corporate-parenting" / "index.md", 'version: "2.0"', 'version: "2.1"')
    bumped = runner.invoke(args=["content", "publish", "--path", str(content)])
    assert bumped.exit_code == 0 and "version 2.1" in bumped.output


# -- bad question banks -------------------------------------------------------------------

# Each case breaks one question of the shipped bank, whichever questions it holds, and
# names the question the problem must be reported against.


def _questions(text: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load(text)["questions"])


def _in_question(text: str, qid: str, pattern: str, new: str) -> str:
    """Replace the first match of pattern inside one question's lines only."""
    start = text.index(f"  - id: {qid}\n")
    end = text.find("\n  - id: ", start + 1) + 1 or len(text)
    changed, count = re.subn(pattern, new, text[start:end], count=1)
    assert count == 1, (qid, pattern)
    return text[:start] + changed + text[end:]


def _first_single(text: str) -> dict[str, Any]:
    return next(q for q in _questions(text) if q["type"] == "single")


def _unknown_section(text: str) -> tuple[str, str]:
    qid = next(q["id"] for q in _questions(text) if q["section"] == "partners")
    return _in_question(text, qid, r"    section: partners\n", "    section: partnerz\n"), qid


def _duplicate_id(text: str) -> tuple[str, str]:
    first, second = (q["id"] for q in _questions(text)[:2])
    return text.replace(f"  - id: {second}\n", f"  - id: {first}\n", 1), first


def _correct(value: Callable[[dict[str, Any]], str]) -> Callable[[str], tuple[str, str]]:
    def mutate(text: str) -> tuple[str, str]:
        q = _first_single(text)
        return _in_question(text, q["id"], r"    correct: .*\n", f"    correct: {value(q)}\n"), q[
            "id"
        ]

    return mutate


def _empty_first_option(text: str) -> tuple[str, str]:
    q = _first_single(text)
    # The option's text, and its continuation lines if it is folded over several.
    emptied = _in_question(
        text, q["id"], r"        text: .*\n(?:          .*\n)*", "        text: ''\n"
    )
    return emptied, q["id"]


BANK_CASES: list[tuple[str, Callable[[str], tuple[str, str]], str]] = [
    ("unknown section", _unknown_section, "unknown section 'partnerz'"),
    ("duplicate id", _duplicate_id, "duplicate id"),
    ("no correct option", _correct(lambda q: "[]"), "no correct option"),
    (
        "several correct on single choice",
        _correct(lambda q: f"[{q['options'][0]['id']}, {q['options'][1]['id']}]"),
        "several correct options on a single-choice question",
    ),
    ("empty option", _empty_first_option, "empty option '"),
    (
        "correct option that does not exist",
        _correct(lambda q: "zz"),
        "correct option 'zz' is not one of the options",
    ),
]


@pytest.mark.parametrize(("mutate", "reason"), [pytest.param(m, r, id=i) for i, m, r in BANK_CASES])
def test_a_bad_question_bank_is_refused_with_file_question_and_reason(
    tmp_path: Path,
    runner: FlaskCliRunner,
    mutate: Callable[[str], tuple[str, str]],
    reason: str,
) -> None:
    quizzes = tmp_path / "quizzes"
    quizzes.mkdir()
    text, question = mutate(BANK.read_text())
    (quizzes / BANK.name).write_text(text)
    with pytest.raises(BankError) as caught:
        load_bank(quizzes / BANK.name, load_pack(PACK))
    found = [str(p) for p in caught.value.problems]
    assert any(
        f"question {question}:" in p
        and reason in p
        and re.search(r"corporate-parenting\.yaml:\d+:", p)
        for p in found
    ), found
    result = runner.invoke(args=["quiz", "check", "--path", str(quizzes)])
    assert result.exit_code != 0 and reason in result.output


def test_a_section_with_fewer_questions_than_its_minimum_is_refused(tmp_path: Path) -> None:
    path = tmp_path / BANK.name
    text = BANK.read_text()
    # Move every question of one section to another section.
    path.write_text(text.replace("section: partners\n", "section: the-law\n"))
    with pytest.raises(BankError) as caught:
        load_bank(path, load_pack(PACK))
    assert any(
        "section 'partners' has fewer questions than its minimum of 1: 0 for councillors "
        "and 0 for staff" in str(p)
        for p in caught.value.problems
    )


@pytest.mark.parametrize("new", ["", "    kind: quiz\n"], ids=["no kind", "unknown kind"])
def test_a_question_without_scenario_or_recall_as_its_kind_is_refused(
    tmp_path: Path, new: str
) -> None:
    text = BANK.read_text()
    first = re.search(r"  - id: (\S+)\n", text)
    assert first is not None
    path = tmp_path / BANK.name
    path.write_text(re.sub(r"    kind: \w+\n", new, text, count=1))
    with pytest.raises(BankError) as caught:
        load_bank(path, load_pack(PACK))
    assert [p.reason for p in caught.value.problems if p.question == first.group(1)] == [
        "kind must be scenario or recall"
    ]


def test_a_bank_published_before_kinds_and_audiences_existed_still_reads() -> None:
    stored = {
        "id": "q1",
        "section": "partners",
        "type": "true_false",
        "stem": "A statement.",
        "options": [{"id": "true", "text": "True"}, {"id": "false", "text": "False"}],
        "correct": ["true"],
        "explanation": "Because.",
    }
    question = Question.from_json(stored)
    assert question.kind is None
    assert question.audience is Audience.ALL  # asked of everyone, as it always was
    assert question.as_json() == {**stored, "kind": None, "audience": "all"}
    shipped = load_bank(BANK, load_pack(PACK)).questions[0]
    assert Question.from_json(shipped.as_json()) == shipped
    assert shipped.kind in ("scenario", "recall")
