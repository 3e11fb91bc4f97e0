"""The item review behind `quiz check`: each flaw it reports, at its threshold and just inside
it, and the test-wise guesser's exact chances on banks small enough to work out on paper."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskCliRunner

from app.models import Audience
from app.services import item_review as review
from app.services.content_pack import PolicyPack, Section, load_pack
from app.services.question_bank import DEFAULT_SETTINGS, Bank, Option, Question, load_bank

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "content" / "corporate-parenting"
BANK = ROOT / "quizzes" / "corporate-parenting.yaml"
AT = review.Places("bank.yaml", 3, {})


def single(
    qid: str,
    options: list[str],
    key: int = 0,
    stem: str | None = None,
    kind: str = "scenario",
    section: str = "s1",
) -> Question:
    ids = "abcde"
    return Question(
        qid,
        section,
        "single",
        stem or f"Question {qid} about topic {qid}?",
        tuple(Option(ids[n], text) for n, text in enumerate(options)),
        frozenset({ids[key]}),
        "Because.",
        kind,
    )


def multiple(qid: str, options: list[str], keys: list[int], stem: str | None = None) -> Question:
    ids = "abcde"
    return Question(
        qid,
        "s1",
        "multiple",
        stem or f"Question {qid} about topic {qid}?",
        tuple(Option(ids[n], text) for n, text in enumerate(options)),
        frozenset(ids[k] for k in keys),
        "Because.",
        "scenario",
    )


def true_false(qid: str, key: bool, stem: str | None = None, section: str = "s1") -> Question:
    return Question(
        qid,
        section,
        "true_false",
        stem or f"Statement {qid} about topic {qid}.",
        (Option("true", "True"), Option("false", "False")),
        frozenset({"true" if key else "false"}),
        "Because.",
        "recall",
    )


def bank(*questions: Question, **settings: Any) -> Bank:
    return Bank("p", {**DEFAULT_SETTINGS, **settings}, questions)


def reasons(found: list[Any]) -> list[str]:
    return [str(p) for p in found]


# Options with nothing sweeping in them; two sets, so that two items do not share a list.
PLAIN = ["Ask the team lead", "Call the duty desk", "Write to the board", "Tell the director"]
OTHER = ["Phone the head office", "Email the manager", "Visit the home"]


# -- a. absolute words ---------------------------------------------------------------------


def test_absolute_words_only_in_wrong_options_are_a_flaw() -> None:
    q = single("q1", ["Ask the team lead", "ONLY call the duty desk", "Never write", "Tell me"])
    found = reasons(review.absolute_word_flaws(bank(q), review.Places("b.yaml", 3, {"q1": 7})))
    assert found == [
        "b.yaml:7: question q1: absolute words only in wrong options (never, only): "
        "a guesser rules those options out"
    ]


@pytest.mark.parametrize(
    "options",
    [
        # the same kind of word in the key too: no cue
        ["Always ask the team lead", "Only call the duty desk", "Write", "Tell"],
        # whole words only: "allowed", "anyway" and "nevertheless" are not absolute
        ["Ask the team lead", "It is allowed", "Nevertheless write", "Anyway tell"],
    ],
)
def test_absolute_words_in_a_key_or_inside_other_words_are_not_a_flaw(options: list[str]) -> None:
    assert review.absolute_word_flaws(bank(single("q1", options)), AT) == []


# -- b. the key is the longest option --------------------------------------------------------


def _long_key(qid: str, longest: bool) -> Question:
    """A key of 22 letters beside a wrong option of 21 (the key is the unique longest) or 22."""
    return single(qid, ["k" * 22, "w" * (21 if longest else 22), "Write", "Tell"])


def test_key_longest_in_more_than_40_percent_of_single_items_is_a_flaw() -> None:
    three_of_five = bank(*(_long_key(f"q{n}", n < 3) for n in range(5)))
    assert reasons(review.long_key_flaws(three_of_five, AT)) == [
        "bank.yaml:3: the key is the longest option in 3 of 5 single-choice questions "
        "(60%, more than 40%): choosing the longest option pays"
    ]
    two_of_five = bank(*(_long_key(f"q{n}", n < 2) for n in range(5)))
    assert review.long_key_flaws(two_of_five, AT) == []


def test_a_key_more_than_one_and_a_half_times_the_longest_wrong_option_is_a_flaw() -> None:
    wrong = ["a" * 10, "b" * 8, "c" * 6]
    others = [_long_key(f"x{n}", False) for n in range(2)]  # keep the bank-wide share low
    at = review.Places("b.yaml", 3, {"q1": 9})
    too_long = bank(single("q1", ["k" * 16, *wrong]), *others)
    assert reasons(review.long_key_flaws(too_long, at)) == [
        "b.yaml:9: question q1: the right answer is more than 1.5x as long as any wrong one"
    ]
    just_inside = bank(single("q1", ["k" * 15, *wrong]), *others)
    assert review.long_key_flaws(just_inside, at) == []
    # Several keys: only when every key is that long.
    both = multiple("m1", ["k" * 16, "k" * 16, *wrong], [0, 1])
    one = multiple("m1", ["k" * 16, "k" * 9, *wrong], [0, 1])
    assert len(review.long_key_flaws(bank(both), at)) == 1
    assert review.long_key_flaws(bank(one), at) == []


# -- c. a fixed number of right options; unbalanced true/false keys ------------------------------


FIVE = ["Ask the lead", "Call the desk", "Write a note", "Tell the head", "Phone the team"]


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([3, 3, 3], "all 3 multiple-answer questions have 3 right options"),
        (
            [2, 3, 3, 3],
            "3 of 4 multiple-answer questions have 3 right options (75%, more than 60%)",
        ),
        ([2, 3, 3, 3, 4], None),  # 60% exactly: varied enough
        ([3, 3], None),  # too few to call a pattern
    ],
)
def test_one_number_of_right_options_is_a_flaw(counts: list[int], expected: str | None) -> None:
    items = [multiple(f"m{n}", FIVE, list(range(c))) for n, c in enumerate(counts)]
    found = reasons(review.key_pattern_flaws(bank(*items), AT))
    if expected is None:
        assert found == []
    else:
        assert found == [
            f"bank.yaml:3: {expected}: a guesser picks that many; vary it between 2 and 4"
        ]


@pytest.mark.parametrize(
    ("keys", "flawed"),
    [
        ([True, False, False, False], True),  # 25% true
        ([True, True, True, False], True),  # 75% true
        ([True, True, False, False, False], False),  # 40%: at the edge of the band
        ([True, True, True, False, False], False),  # 60%
        ([False, False, False], False),  # three are too few to judge
    ],
)
def test_true_false_keys_outside_40_to_60_percent_true_are_a_flaw(
    keys: list[bool], flawed: bool
) -> None:
    items = [true_false(f"t{n}", k) for n, k in enumerate(keys)]
    found = reasons(review.key_pattern_flaws(bank(*items), AT))
    if flawed:
        share = round(100 * sum(keys) / len(keys))
        assert found == [
            f"bank.yaml:3: true/false keys are {sum(keys)} true and {len(keys) - sum(keys)} "
            f"false ({share}% true, outside 40%-60%): a guesser answers the majority"
        ]
    else:
        assert found == []


# -- d. one item's text answering another -----------------------------------------------------


def test_an_option_that_answers_another_question_is_a_flaw() -> None:
    # rol-01 and rol-02 of the bank shipped before issue 13, as the review found them.
    rol01 = single(
        "rol-01",
        [
            "The Lead Member for Children's Services",
            "The Director of Children's Services",
            "The chair of the Children in Care Council",
            "The council's chief executive",
        ],
        stem="Who gives POLITICAL leadership for children's services?",
    )
    rol02 = single(
        "rol-02",
        [
            "A councillor who gives political leadership",
            "A young person elected by children in care",
            "A senior officer who gives professional leadership",
            "An Ofsted inspector who is based at the council's offices",
        ],
        key=2,
        stem="Which of these best describes the Director of Children's Services?",
    )
    # Other items of the section use "children's services" too, as the real bank does.
    fillers = [
        single(f"f{n}", PLAIN, stem=f"How do children's services handle case {word}?")
        for n, word in enumerate(["alpha", "bravo", "charlie", "delta"])
    ]
    found = reasons(review.cross_answer_flaws(bank(rol01, rol02, *fillers), AT))
    assert found == [
        "bank.yaml:3: question rol-02: option a repeats the question of rol-01 "
        "(100% of its distinctive words) and may answer it"
    ]
    # Two distinctive words of the question are a shared topic, not an answer.
    advice = single("rol-02", ["A councillor who gives political advice", *OTHER], stem=rol02.stem)
    assert review.cross_answer_flaws(bank(rol01, advice, *fillers), AT) == []


def test_an_option_restating_another_items_key_is_a_flaw_at_five_words() -> None:
    y = single("y", ["Review the foster care allowance each spring", *OTHER], stem="What now?")
    x = single("x", [*PLAIN[:3], "We review foster care allowances every spring"], stem="Which?")
    assert reasons(review.cross_answer_flaws(bank(x, y), AT)) == [
        "bank.yaml:3: question x: option d repeats the right answer of y (100% of its words)"
    ]
    # Four content words are too few: such overlaps happen by accident.
    y4 = single("y", ["Review the foster care allowance", *OTHER], stem="What now?")
    x4 = single("x", [*PLAIN[:3], "Our foster care allowance review"], stem="Which?")  # 0.72
    assert review.cross_answer_flaws(bank(x4, y4), AT) == []


def test_an_option_nearly_the_same_as_another_key_is_a_flaw_at_a_ratio_of_0_8() -> None:
    y = single("y", ["The Lead Member", *OTHER], stem="Who?")
    near = single("x", [*PLAIN[:3], "The Lead Member alone"], stem="Which?")  # ratio 0.833
    far = single("x", [*PLAIN[:3], "The Lead Member on their own"], stem="Which?")  # 0.698
    assert reasons(review.cross_answer_flaws(bank(near, y), AT)) == [
        "bank.yaml:3: question x: option d is nearly the right answer of y (similarity 0.83)"
    ]
    assert review.cross_answer_flaws(bank(far, y), AT) == []


def test_two_items_choosing_from_the_same_list_do_not_give_each_other_away() -> None:
    acts = [
        "The Children Act 1989",
        "The Children Act 2004",
        "The Children and Families Act 2014",
        "The Children and Social Work Act 2017",
    ]
    law01 = single("law-01", acts, key=3, stem="Which Act sets out the seven principles?")
    law08 = single("law-08", acts, key=1, stem="Which Act created the post of Director?")
    assert review.cross_answer_flaws(bank(law01, law08), AT) == []


# -- e. near-duplicate stems; f. too few scenarios ------------------------------------------------


def test_stems_sharing_60_percent_of_their_words_are_near_duplicates() -> None:
    x = single("x", PLAIN, stem="alpha bravo charlie?")
    y = single("y", PLAIN, stem="alpha bravo charlie delta echo?")  # 3 of 5 words: 0.6
    z = single("z", PLAIN, stem="alpha bravo charlie delta echo foxtrot?")  # 3 of 6: 0.5
    assert reasons(review.duplicate_stem_flaws(bank(x, y), AT)) == [
        "bank.yaml:3: question y: nearly the same question as x (stem word overlap 0.60)"
    ]
    assert review.duplicate_stem_flaws(bank(x, z), AT) == []


def test_fewer_than_half_scenarios_is_a_flaw() -> None:
    half = bank(single("a", PLAIN), single("b", PLAIN, kind="recall"))
    assert review.scenario_flaws(half, AT) == []
    third = bank(single("a", PLAIN), *(single(q, PLAIN, kind="recall") for q in "bc"))
    assert reasons(review.scenario_flaws(third, AT)) == [
        "bank.yaml:3: only 1 of 3 questions are scenarios (33%): at least half must be"
    ]


def test_places_finds_each_question_and_the_questions_line(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("policy: p\nsettings: {}\nquestions:\n  - id: a\n    stem: x\n\n  - id: b\n")
    assert review.places(path) == review.Places(str(path), 3, {"a": 4, "b": 7})


# -- the guesser ----------------------------------------------------------------------------------


def test_each_strategy_gets_the_chance_worked_out_by_hand() -> None:
    # q1: the key is the longest option that has no absolute word (the longest has 'only').
    q1 = single("q1", ["Tell the head of service", "Only the duty social worker", "Ask", "Go"])
    # q2: two options tie for longest; the key is one of them.
    q2 = single("q2", ["Ask the teams", "Call the desk", "Write", "Tell"], key=1)
    # q3: two right of five; the two longest are right.
    q3 = multiple("q3", ["Ask the team lead", "Call the duty desk", "Write", "Tell", "Go"], [0, 1])
    t1 = true_false("t1", False, stem="Only councillors are corporate parents.")
    t2 = true_false("t2", True, stem="Staff are corporate parents.")
    t3 = true_false("t3", True, stem="Every councillor must read the policy.")
    b = bank(q1, q2, q3, t1, t2, t3)
    longest = review.chances(b, "longest option", "the majority true/false key")
    assert longest == {"q1": 1.0, "q2": 0.5, "q3": 1.0, "t1": 0.0, "t2": 1.0, "t3": 1.0}
    shortest = review.chances(b, "shortest option", "false if absolute, else true")
    assert shortest == {"q1": 0.0, "q2": 0.0, "q3": 0.0, "t1": 1.0, "t2": 1.0, "t3": 0.0}
    random_ = review.chances(b, "random option", "false if absolute, else true")
    assert random_["q1"] == 0.25 and random_["q3"] == 0.1  # 1 in C(5, 2)


def test_every_option_absolute_falls_back_to_length_and_ties_share_the_chance() -> None:
    q = single("q", ["Only ask the team", "Always call", "Never write", "Only tell"])
    assert review.chances(bank(q), "longest option", "the majority true/false key")["q"] == 1.0
    # Two to choose: the longest, then one of three that tie for second place: 1 in 3.
    m = multiple("m", ["Ask the team lead", "Call", "Tell", "Rang", "Go"], [0, 1])
    assert review.chances(bank(m), "longest option", "the majority true/false key")["m"] == 1 / 3


def test_the_guesser_picks_the_banks_most_common_number_of_right_options() -> None:
    two = multiple("a", FIVE, [0, 1])
    three = multiple("b", FIVE, [0, 1, 2])
    assert review.most_common_key_counts(bank(two, two, three)) == [2]
    # A tie: each count is tried half the time, so a three-key item is right 1 in 2 x C(5,3).
    tied = bank(two, three)
    assert review.most_common_key_counts(tied) == [2, 3]
    assert review.chances(tied, "random option", "the majority true/false key")["b"] == 0.05
    # With no majority true/false key the guesser tosses a coin.
    coin = bank(true_false("t1", True), true_false("t2", False))
    assert review.chances(coin, "random option", "the majority true/false key") == {
        "t1": 0.5,
        "t2": 0.5,
    }


@pytest.mark.parametrize(
    ("total", "pass_mark", "needed"),
    [(10, 80, 8), (12, 80, 10), (2, 50, 1), (2, 51, 2), (8, 63, 6), (3, 67, 2)],
)
def test_the_lowest_passing_score_follows_the_markers_rounding(
    total: int, pass_mark: int, needed: int
) -> None:
    # 8 of 10 is exactly 80%: it passes. 5 of 8 is 62.5%, which rounds to 62 as submit does.
    assert review.pass_score(total, pass_mark) == needed


def test_the_pass_chance_is_the_exact_poisson_binomial_tail() -> None:
    rows = np.array([[0.5, 0.5], [1.0, 0.25], [0.2, 0.3]])
    assert review.pass_chance(rows, 1).tolist() == pytest.approx([0.75, 1.0, 0.44])
    assert review.pass_chance(rows, 2).tolist() == pytest.approx([0.25, 0.25, 0.06])
    assert review.pass_chance(rows, 0).tolist() == pytest.approx([1.0, 1.0, 1.0])


def pack_of(*sections: tuple[str, Audience]) -> PolicyPack:
    return PolicyPack(
        "p",
        "P",
        "1.0",
        date(2026, 1, 1),
        False,
        "",
        "",
        "",
        tuple(Section(key, key, "", audience, "", "", ()) for key, audience in sections),
    )


def test_the_guesser_over_the_real_draw_for_each_audience() -> None:
    pack = pack_of(("s1", Audience.ALL), ("m", Audience.MEMBERS), ("st", Audience.STAFF))
    sure = single("q1", ["Tell the head of service", "Ask", "Go", "Do"])  # longest: right
    members = single("q2", ["Ask the team lead", "Call", "Tell", "Write"], section="m")
    staff = single("q3", ["Ask the teams", "Call the desk", "Write", "Tell"], key=1, section="st")
    b = bank(sure, members, staff, questions_per_attempt=2, min_per_section=1, pass_mark=100)
    results = review.guesser(b, pack, draws=50)
    assert [(g.audience, g.first_attempt, g.within_three) for g in results] == [
        ("members", 1.0, 1.0),
        ("staff", 0.5, 0.875),  # 1 - 0.5^3
    ]
    assert results[1].strategy == "longest option; the majority true/false key"
    assert (results[1].questions, results[1].needed) == (2, 2)
    # At 50% one right answer of two is exactly the pass mark, and it passes.
    at_mark = bank(sure, members, staff, questions_per_attempt=2, pass_mark=50)
    assert [g.first_attempt for g in review.guesser(at_mark, pack, draws=50)] == [1.0, 1.0]
    above = bank(sure, members, staff, questions_per_attempt=2, pass_mark=51)
    assert [g.first_attempt for g in review.guesser(above, pack, draws=50)] == [1.0, 0.5]


def test_the_guesser_averages_seeded_draws() -> None:
    pack = pack_of(("s1", Audience.ALL))
    right = single("q1", ["Tell the head of service", "Ask", "Go", "Do"])
    wrong = single("q2", ["Ask", "Tell the head of service", "Go", "Do"])
    b = bank(right, wrong, questions_per_attempt=1, min_per_section=0, pass_mark=100)
    first = review.guesser(b, pack, draws=2000, audiences=[Audience.STAFF])
    again = review.guesser(b, pack, draws=2000, audiences=[Audience.STAFF])
    assert first == again  # seeded: the same figure every run
    # Half the draws ask the question the longest option answers, half the one it misses.
    assert math.isclose(first[0].first_attempt, 0.5, abs_tol=0.03)


# -- the shipped bank and the command -------------------------------------------------------------


def test_the_shipped_bank_has_no_flaws_and_a_guesser_rarely_passes(
    runner: FlaskCliRunner,
) -> None:
    pack = load_pack(PACK)
    found = review.review(load_bank(BANK, pack), pack, review.places(BANK))
    assert reasons(found.flaws) == []
    assert all(g.first_attempt < review.GUESSER_LIMIT for g in found.guesser), found.guesser
    result = runner.invoke(args=["quiz", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK corporate-parenting:")


def write_pack(folder: Path) -> Path:
    pack = folder / "content" / "p"
    pack.mkdir(parents=True)
    (pack / "index.md").write_text(
        '---\nkey: p\ntitle: P policy\nversion: "1.0"\neffective_date: 2026-01-01\n'
        "requires_reacceptance: false\nsummary: A policy.\nsections:\n  - one\n---\nIntro.\n"
    )
    (pack / "one.md").write_text(
        "---\nkey: one\ntitle: One\nsummary: The one section.\naudience: all\n---\n"
        "## A heading\n\nText.\n"
    )
    return folder / "content"


def write_bank(folder: Path, questions: list[tuple[str, str, list[str], int]]) -> Path:
    quizzes = folder / "quizzes"
    quizzes.mkdir(exist_ok=True)
    lines = [
        "policy: p",
        "settings:",
        f"  questions_per_attempt: {len(questions)}",
        "  pass_mark: 100",
        "questions:",
    ]
    for qid, stem, options, key in questions:
        lines += [
            f"  - id: {qid}",
            "    section: one",
            "    kind: scenario",
            "    type: single",
            f"    stem: {stem}",
            "    options:",
            *(f"      - {{id: {'abcd'[n]}, text: {text}}}" for n, text in enumerate(options)),
            f"    correct: {'abcd'[key]}",
            "    explanation: Because.",
        ]
    (quizzes / "p.yaml").write_text("\n".join(lines) + "\n")
    return quizzes


# Keys of middle length: neither the longest nor the shortest option wins, and random
# choice is right 1 in 4 times: 0.25^4 = 0.4% for four questions.
STEMS = [
    "A foster carer phones about a late payment. Who helps?",
    "A care leaver asks about a council tax bill. What now?",
    "A councillor plans a visit to a children's home. What first?",
    "A school governor hears of an exclusion. What next?",
]
SOUND = [
    (f"q{n}", stem, ["Ask a", "Ask bb", "Ask ccc", "Ask dddd"], 1) for n, stem in enumerate(STEMS)
]


def test_quiz_check_prints_the_review_and_passes_a_sound_bank(
    tmp_path: Path, runner: FlaskCliRunner
) -> None:
    content = write_pack(tmp_path)
    quizzes = write_bank(tmp_path, SOUND)
    result = runner.invoke(
        args=["quiz", "check", "--path", str(quizzes), "--content", str(content)]
    )
    assert result.exit_code == 0, result.output
    assert result.output == (
        "OK p: 4 questions; per section: one 4\n"
        "  one: 4 (scenario 4, recall 0; single 4, multiple 0, true_false 0; asked of "
        "councillors 4, staff 4)\n"
        "  kinds: scenario 4, recall 0 (100% scenarios)\n"
        "  audience: all 4, members 0, staff 0; each reader's pool (what they can be asked): "
        "councillors 4, staff 4\n"
        "  true/false keys: true 0, false 0\n"
        "  multiple-answer right options: none\n"
        "  guesser (members): first attempt 0.39%, within 3 attempts 1.17% (4 of 4 to pass; "
        "best strategy: random option; the majority true/false key)\n"
        "  guesser (staff): first attempt 0.39%, within 3 attempts 1.17% (4 of 4 to pass; "
        "best strategy: random option; the majority true/false key)\n"
    )


def test_quiz_check_fails_on_a_flaw_with_its_file_and_line(
    tmp_path: Path, runner: FlaskCliRunner
) -> None:
    content = write_pack(tmp_path)
    flawed = [*SOUND[:3], ("q3", SOUND[3][1], ["Ask a", "Ask bb", "Ask ccc", "Only ask dddd"], 1)]
    quizzes = write_bank(tmp_path, flawed)
    result = runner.invoke(
        args=["quiz", "check", "--path", str(quizzes), "--content", str(content)]
    )
    assert result.exit_code == 1
    assert result.output.startswith("NOT OK p: 4 questions")
    assert (
        f"{quizzes / 'p.yaml'}:42: question q3: absolute words only in wrong options (only)"
        in result.output
    )
    assert "Error: 1 item-writing flaw(s). Fix the questions" in result.output


def test_quiz_check_fails_when_a_guesser_passes_5_percent_of_first_attempts(
    tmp_path: Path, runner: FlaskCliRunner
) -> None:
    content = write_pack(tmp_path)
    # Three questions, random choice right 1 in 4 each: 0.25^3 = 1.6%; two: 6.25%.
    quizzes = write_bank(tmp_path, SOUND[:3])
    args = ["quiz", "check", "--path", str(quizzes), "--content", str(content)]
    assert runner.invoke(args=args).exit_code == 0
    write_bank(tmp_path, SOUND[:2])
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "first attempt 6.25%" in result.output
    assert (
        "Error: A guesser who never read the module passes 5% or more of first attempts. "
        "Fix the questions" in result.output
    )
