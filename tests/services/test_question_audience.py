"""Questions' audiences: the bank is refused when a question's audience does not fit its
section or leaves a reader's pool too small for the draw, and every draw, for councillors
and for staff, asks only what was written for that reader."""

from __future__ import annotations

import dataclasses
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Audience, QuizAttempt
from app.services import attempts
from app.services import item_review as review
from app.services.content_pack import PolicyPack, load_pack
from app.services.question_bank import (
    READERS,
    Bank,
    BankError,
    Option,
    Question,
    draw,
    load_bank,
    pool,
    sections_read_by,
)
from tests.services import records
from tests.services.records import NOON

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "content" / "corporate-parenting"
BANK = ROOT / "quizzes" / "corporate-parenting.yaml"
KIDS = "children-in-care-and-care-leavers"  # a section everyone reads
STAFF_SECTION = "your-role-as-a-member-of-staff"
MEMBERS_SECTION = "your-role-as-an-elected-member"

# Words that put the reader in an officer's job, or in a councillor's seat. A question with
# them must be for that audience only (the councillor in issue 14 was asked "You work in the
# waste and recycling team...").
OFFICERS_WORDS = re.compile(
    r"\byou work (in|for)\b|\byou manage\b|\byour (team|department|manager|service)\b"
    r"|\byou are (the )?director\b|\bstaff newsletter\b|\bcabinet report\b"
    r"|\bequality impact assessment\b",
    re.I,
)
COUNCILLORS_WORDS = re.compile(
    r"\byour (ward|committee|board papers|councillor page)\b|\bas a councillor\b", re.I
)


@pytest.fixture(scope="module")
def pack() -> PolicyPack:
    return load_pack(PACK)


@pytest.fixture(scope="module")
def bank(pack: PolicyPack) -> Bank:
    return load_bank(BANK, pack)


def words_of(q: Question) -> str:
    return " ".join([q.stem, *(o.text for o in q.options), q.explanation])


# -- the shipped bank ---------------------------------------------------------------------------


def test_every_question_on_a_one_audience_section_is_for_that_audience(
    pack: PolicyPack, bank: Bank
) -> None:
    audience_of = {s.key: s.audience for s in pack.sections}
    narrowed = []
    for q in bank.questions:
        if audience_of[q.section] is not Audience.ALL:
            assert q.audience is audience_of[q.section], q.id
        elif q.audience is not Audience.ALL:
            narrowed.append(q.id)
    # The questions on sections everyone reads that were written for one audience.
    assert sorted(narrowed) == [
        "fair-13",  # writing an equality impact assessment
        "kid-13",  # a mother asks "your team"
        "kid-15",  # the report to "your committee"
        "kid-17",  # a colleague in the staff newsletter
        "law-13",  # writing a cabinet report
        "rol-15",  # "You are director of environment services"
        "voi-11",  # "Your department wants..."
        "what-18",  # "You manage the council's housing service"
    ]


def test_no_councillor_is_asked_to_act_as_an_officer_nor_staff_as_a_councillor(
    pack: PolicyPack, bank: Bank
) -> None:
    members = pool(bank.questions, sections_read_by(pack, Audience.MEMBERS), Audience.MEMBERS)
    staff = pool(bank.questions, sections_read_by(pack, Audience.STAFF), Audience.STAFF)
    assert [q.id for q in members if OFFICERS_WORDS.search(words_of(q))] == []
    assert [q.id for q in staff if COUNCILLORS_WORDS.search(words_of(q))] == []
    # The patterns do find what they are for: they are not simply blind.
    assert {q.id for q in bank.questions if OFFICERS_WORDS.search(words_of(q))} >= {
        "what-18",
        "voi-11",
        "law-13",
    }
    assert "kid-15" in {q.id for q in bank.questions if COUNCILLORS_WORDS.search(words_of(q))}


def test_quiz_check_prints_each_readers_pool(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["quiz", "check"])
    assert result.exit_code == 0, result.output
    assert (
        "  audience: all 54, members 15, staff 14; each reader's pool (what they can be "
        "asked): councillors 69, staff 68\n"
    ) in result.output
    # Each section's share for each reader who reads it, which min_per_section applies to.
    assert (
        f"  {KIDS}: 7 (scenario 5, recall 2; single 5, multiple 1, true_false 1; asked of "
        "councillors 5, staff 6)\n"
    ) in result.output
    assert "  scrutiny-and-challenge: 7 (scenario 4, recall 3; single 4, multiple 1, " in (
        result.output
    )
    assert "true_false 2; asked of councillors 7)\n" in result.output
    assert "true_false 1; asked of staff 7)\n" in result.output


# -- the check, rule by rule --------------------------------------------------------------------


def in_question(text: str, qid: str, old: str, new: str) -> str:
    """Replace `old` (a whole line or more) inside one question's lines only."""
    start = text.index(f"  - id: {qid}\n")
    end = text.find("\n  - id: ", start + 1) + 1 or len(text)
    assert text[start:end].count(old) == 1, (qid, old)
    return text[:start] + text[start:end].replace(old, new) + text[end:]


def set_audience(text: str, qid: str, audience: str | None) -> str:
    """Give a question this audience line (None: no line, so the default, all)."""
    start = text.index(f"  - id: {qid}\n")
    end = text.find("\n  - id: ", start + 1) + 1 or len(text)
    body = re.sub(r"    audience: \S+\n", "", text[start:end])
    if audience is not None:
        body = re.sub(r"(    section: \S+\n)", rf"\1    audience: {audience}\n", body, count=1)
    return text[:start] + body + text[end:]


def setting(text: str, name: str, value: int) -> str:
    changed, count = re.subn(rf"(?m)^  {name}: .*$", f"  {name}: {value}", text, count=1)
    if not count:
        changed = text.replace("settings:\n", f"settings:\n  {name}: {value}\n", 1)
    return changed


def problems_of(tmp_path: Path, text: str, pack: PolicyPack) -> list[str]:
    path = tmp_path / BANK.name
    path.write_text(text)
    try:
        load_bank(path, pack)
    except BankError as exc:
        return [str(p) for p in exc.problems]
    return []


def line_of(text: str, qid: str, what: str) -> int:
    start = text.index(f"  - id: {qid}\n")
    return text.count("\n", 0, text.index(what, start)) + 1


@pytest.mark.parametrize(
    ("qid", "audience", "reason"),
    [
        ("what-11", "councillors", "audience must be all, members or staff, not 'councillors'"),
        ("what-11", "[staff]", "audience must be all, members or staff, not '['staff']'"),
        (
            "stf-11",
            "all",
            "section 'your-role-as-a-member-of-staff' is read only by staff, so the question "
            "needs audience: staff (not all)",
        ),
        (
            "mem-14",
            "staff",
            "section 'your-role-as-an-elected-member' is read only by councillors, so the "
            "question needs audience: members (not staff)",
        ),
        (
            "scr-11",
            "all",
            "section 'scrutiny-and-challenge' is read only by councillors, so the question "
            "needs audience: members (not all)",
        ),
    ],
)
def test_an_audience_that_does_not_fit_is_refused_at_its_line(
    tmp_path: Path, pack: PolicyPack, qid: str, audience: str, reason: str
) -> None:
    text = set_audience(BANK.read_text(), qid, audience)
    found = problems_of(tmp_path, text, pack)
    where = f"{tmp_path / BANK.name}:{line_of(text, qid, '    audience: ')}"
    assert found == [f"{where}: question {qid}: {reason}"]


def test_a_one_audience_question_with_no_audience_is_refused_at_the_question(
    tmp_path: Path, pack: PolicyPack
) -> None:
    # No audience line means all, the default, as for sections.
    text = set_audience(BANK.read_text(), "stf-12", None)
    assert problems_of(tmp_path, text, pack) == [
        f"{tmp_path / BANK.name}:{line_of(text, 'stf-12', '  - id: stf-12')}: question "
        "stf-12: section 'your-role-as-a-member-of-staff' is read only by staff, so the "
        "question needs audience: staff (not all)"
    ]


@pytest.mark.parametrize("audience", ["members", "staff", "all", None])
def test_a_question_on_a_section_everyone_reads_may_be_for_anyone(
    tmp_path: Path, pack: PolicyPack, audience: str | None
) -> None:
    text = set_audience(BANK.read_text(), "kid-16", audience)
    assert problems_of(tmp_path, text, pack) == []


def test_each_readers_pool_must_hold_questions_per_attempt(
    tmp_path: Path, pack: PolicyPack
) -> None:
    text = BANK.read_text()
    questions_line = text[: text.index("\nquestions:\n") + 1].count("\n") + 1
    where = f"{tmp_path / BANK.name}:{questions_line}"
    # Staff can be asked 68 questions, councillors 69.
    assert problems_of(tmp_path, setting(text, "questions_per_attempt", 68), pack) == []
    assert problems_of(tmp_path, setting(text, "questions_per_attempt", 69), pack) == [
        f"{where}: only 68 questions for staff, fewer than questions_per_attempt (69)"
    ]
    assert problems_of(tmp_path, setting(text, "questions_per_attempt", 70), pack) == [
        f"{where}: only 69 questions for councillors, fewer than questions_per_attempt (70)",
        f"{where}: only 68 questions for staff, fewer than questions_per_attempt (70)",
    ]


def test_each_section_needs_its_minimum_in_each_readers_pool(
    tmp_path: Path, pack: PolicyPack
) -> None:
    text = BANK.read_text()
    questions_line = text[: text.index("\nquestions:\n") + 1].count("\n") + 1
    # Councillors are asked 5 of the section's 7: kid-11, kid-12, kid-14, kid-15, kid-16.
    for qid in ("kid-11", "kid-12", "kid-14"):
        text = set_audience(text, qid, "staff")
    assert problems_of(tmp_path, text, pack) == []  # 2 left for councillors
    text = set_audience(text, "kid-16", "staff")
    assert problems_of(tmp_path, text, pack) == []  # 1 left: exactly the minimum
    text = set_audience(text, "kid-15", "staff")
    assert problems_of(tmp_path, text, pack) == [
        f"{tmp_path / BANK.name}:{questions_line}: section '{KIDS}' has fewer questions than "
        "its minimum of 1: 0 for councillors"
    ]
    # And with a higher minimum, the shortfall is counted in each pool the section is in.
    both = setting(setting(BANK.read_text(), "min_per_section", 6), "questions_per_attempt", 66)
    assert (
        f"{tmp_path / BANK.name}:{questions_line}: section '{KIDS}' has fewer questions than "
        "its minimum of 6: 5 for councillors"
    ) in problems_of(tmp_path, both, pack)


def test_each_reader_needs_room_for_the_minimum_from_each_of_their_sections(
    tmp_path: Path, pack: PolicyPack
) -> None:
    # Councillors read 11 sections, staff 10: with 2 from each, 22 and 20 questions.
    text = setting(BANK.read_text(), "min_per_section", 2)
    assert problems_of(tmp_path, setting(text, "questions_per_attempt", 22), pack) == []
    found = problems_of(tmp_path, setting(text, "questions_per_attempt", 21), pack)
    assert [p.split(": ", 1)[1] for p in found] == [
        "questions_per_attempt (21) is less than min_per_section x 11 sections read by councillors"
    ]


def question(qid: str, kind: str, audience: Audience) -> Question:
    return Question(
        qid,
        "s1",
        "single",
        f"Question {qid}?",
        (Option("a", "One"), Option("b", "Two")),
        frozenset({"a"}),
        "Because.",
        kind,
        audience,
    )


def test_half_of_each_readers_pool_must_be_scenarios() -> None:
    at = review.Places("bank.yaml", 3, {})
    everyone = [
        question("a1", "scenario", Audience.ALL),
        question("a2", "recall", Audience.ALL),
    ]
    staff = [
        question("s1", "scenario", Audience.STAFF),
        question("s2", "scenario", Audience.STAFF),
    ]
    members = [
        question("m1", "recall", Audience.MEMBERS),
        question("m2", "scenario", Audience.MEMBERS),
    ]
    # Councillors: 2 of 4 are scenarios, exactly half; the whole bank 4 of 6.
    sound = Bank("p", {}, (*everyone, *staff, *members))
    assert review.scenario_flaws(sound, at) == []
    # One scenario fewer: councillors' 1 of 4, though the bank is still half (3 of 6).
    members[1] = dataclasses.replace(members[1], kind="recall")
    short = Bank("p", {}, (*everyone, *staff, *members))
    assert [str(p) for p in review.scenario_flaws(short, at)] == [
        "bank.yaml:3: only 1 of 4 questions councillors can be asked are scenarios (25%): "
        "at least half must be"
    ]


# -- the draw -----------------------------------------------------------------------------------

DRAWS = 2000


@pytest.mark.parametrize("reader", READERS)
def test_every_draw_asks_only_the_readers_own_questions(
    pack: PolicyPack, bank: Bank, reader: Audience
) -> None:
    sections = sections_read_by(pack, reader)
    by_id = {q.id: q for q in bank.questions}
    rng = random.Random(14)
    seen: Counter[str] = Counter()
    for _ in range(DRAWS):
        ids = [
            item["id"] for item in draw(list(bank.questions), sections, reader, bank.settings, rng)
        ]
        assert len(ids) == len(set(ids)) == bank.settings["questions_per_attempt"]
        assert all(by_id[qid].audience.includes(reader) for qid in ids), ids
        per_section = Counter(by_id[qid].section for qid in ids)
        assert all(per_section[key] >= bank.settings["min_per_section"] for key in sections)
        assert set(per_section) <= set(sections)
        seen.update(ids)
    # Every question of the reader's pool comes up, and nothing else ever does.
    assert set(seen) == {q.id for q in pool(bank.questions, sections, reader)}
    other = Audience.STAFF if reader is Audience.MEMBERS else Audience.MEMBERS
    assert not {q.id for q in bank.questions if q.audience is other} & set(seen)


def test_a_draw_with_too_few_for_a_reader_takes_what_their_pool_holds(pack: PolicyPack) -> None:
    qs = [
        question("a1", "scenario", Audience.ALL),
        question("s1", "scenario", Audience.STAFF),
        question("m1", "scenario", Audience.MEMBERS),
    ]
    settings = {"questions_per_attempt": 3, "min_per_section": 1, "shuffle_options": False}
    rng = random.Random(1)
    assert sorted(d["id"] for d in draw(qs, ["s1"], Audience.MEMBERS, settings, rng)) == [
        "a1",
        "m1",
    ]
    assert sorted(d["id"] for d in draw(qs, ["s1"], Audience.STAFF, settings, rng)) == [
        "a1",
        "s1",
    ]


# -- an attempt, stored ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elected_member", "reader"), [(True, Audience.MEMBERS), (False, Audience.STAFF)]
)
def test_an_attempt_stores_a_draw_from_the_pool_the_persons_record_gives(
    session: Session, pack: PolicyPack, bank: Bank, elected_member: bool, reader: Audience
) -> None:
    s = records.setup(session, bank=[q.as_json() for q in bank.questions])
    settings = attempts.rules(bank.settings, None)
    allowed = {q.id for q in pool(bank.questions, sections_read_by(pack, reader), reader)}
    for n in range(40):
        who = records.person(session, s.org, f"Person {n}", elected_member=elected_member)
        attempts.start_attempt(
            session,
            person_id=who.id,
            organisation_id=s.org.id,
            version_id=s.version.id,
            cycle=1,
            bank=s.bank,
            # Even given every section, the record decides whose questions are drawn.
            section_keys=[section.key for section in pack.sections],
            settings=settings,
            launch_id=None,
            now=NOON,
            rng=random.Random(n),
        )
    session.expire_all()
    stored = session.scalars(select(QuizAttempt)).all()
    assert len(stored) == 40
    for attempt in stored:
        ids = {item["id"] for item in attempt.drawn}
        assert len(ids) == 12
        assert ids <= allowed, ids - allowed
