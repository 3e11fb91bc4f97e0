"""Item review of a question bank: the item-writing flaws a checker can see, and how often a
test-wise guesser who never read the module would pass under the real draw rules.

It cannot tell an absurd distractor from a plausible one: people must. What it can do is
catch the cues that let a reader pass on form rather than understanding.
"""

from __future__ import annotations

import difflib
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import cast

import numpy as np
import yaml

from app.models import Audience
from app.services.content_pack import PolicyPack
from app.services.question_bank import (
    READER_NAMES,
    READERS,
    Bank,
    BankProblem,
    Option,
    Question,
    draw,
    pool_sizes,
    sections_read_by,
)

# -- thresholds --------------------------------------------------------------------------

# With four options a key is the unique longest by chance in about 25% of items; above 40%
# length itself becomes a cue that a guesser can follow.
LONGEST_KEY_SHARE = 0.40
# A key this much longer than every wrong option stands out on its own, whatever the bank does.
LONG_KEY_RATIO = 1.5
# The correct-count and true/false rules need a few items before a share means anything.
MIN_MULTIPLE_ITEMS = 3
MULTIPLE_COUNT_SHARE = 0.60  # more than this share with one number of keys is a pattern
MIN_TRUE_FALSE_ITEMS = 4
TRUE_SHARE = (0.40, 0.60)  # outside this band, "always answer false" beats chance
# Tuned on the bank as shipped before issue 13: these catch the pair a reviewer found
# (rol-02's option a answering rol-01) and options restating another item's key, without
# flagging items that merely share the module's vocabulary ("children in care").
KEY_CONTAINMENT = 0.8  # share of another item's key's content words found in a text
KEY_MIN_WORDS = 5  # shorter keys ("care leavers up to 25") overlap by accident
OPTION_RATIO = 0.8  # difflib ratio between an option and another item's key
STEM_COVERAGE = 0.8  # share of another stem's distinctive (rare) words an option repeats,
STEM_MIN_WORDS = 3  # and at least this many of them: two shared words are a topic, not an answer
# Content-word Jaccard of two stems. On the old bank short stems on one topic reach 0.5
# while asking different things ("Who are the corporate parents?" and "What can any member
# of staff do as a corporate parent?"); a stem copied with small edits is well above 0.6.
DUPLICATE_STEMS = 0.6
MIN_SCENARIO_SHARE = 0.5  # at least half the items must put the reader in a situation
# The guesser: a bank that lets a non-reader pass this often does not validate learning.
GUESSER_LIMIT = 0.05
# Draws per audience: about a second on a shared CI core. The old bank's figures moved by
# at most 0.3 of a point against 20,000 draws: close enough to judge against a 5% limit.
DRAWS = 4000
SEED = 13
WITHIN_ATTEMPTS = 3

WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)?")


def words(text: str) -> list[str]:
    return [w.lower().replace("\u2019", "'") for w in WORD_RE.findall(text)]


# Words that make a statement sweeping. Test-wise readers learn that such options are
# usually wrong, so a bank where they appear only in wrong options teaches them to win.
ABSOLUTE_WORDS = frozenset(
    words(
        """
        only always never all none every everyone everybody everything nobody nothing
        automatically must cannot can't any solely entirely completely totally absolutely
        """
    )
)
# Words that carry no meaning of their own, and the ones every stem of a bank uses.
STOP_WORDS = frozenset(
    words(
        """
        a an the and or of to in on for at by with from as is are was were be been being it
        its this that these those which who whom what when where why how do does did can
        could should would will shall may might must not no yes you your we our they their
        them he she his her i me my us than then so if but about into over under out up down
        all any each every some such only own same too very just also there here one more
        most other have has had get make made choose apply policy council say
        """
    )
)


def absolute_words(text: str) -> set[str]:
    return {w for w in words(text) if w in ABSOLUTE_WORDS}


def _stem_word(word: str) -> str:
    word = word.removesuffix("'s").strip("'")
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


@lru_cache(maxsize=4096)
def content_words(text: str) -> frozenset[str]:
    """Words that carry meaning, lightly normalised (plural and possessive 's dropped)."""
    return frozenset(
        {_stem_word(w) for w in words(text) if w not in STOP_WORDS} - {""} - STOP_WORDS
    )


# -- where things are in the file --------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """Line numbers in the bank's file, so every flaw points at its question."""

    file: str
    questions_line: int = 1
    lines: dict[str, int] = field(default_factory=dict)

    def of(self, qid: str) -> int:
        return self.lines.get(qid, self.questions_line)

    def flaw(self, qid: str | None, reason: str) -> BankProblem:
        """A flaw of one question (at its line) or of the whole bank (qid None)."""
        return BankProblem(self.file, self.of(qid) if qid else self.questions_line, qid, reason)


def places(path: Path) -> Places:
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return Places(str(path))
    for key, value in root.value:
        if key.value == "questions" and isinstance(value, yaml.SequenceNode):
            lines = {}
            for node in value.value:
                if isinstance(node, yaml.MappingNode):
                    for k, v in node.value:
                        if k.value == "id" and isinstance(v, yaml.ScalarNode):
                            lines[v.value] = node.start_mark.line + 1
            return Places(str(path), key.start_mark.line + 1, lines)
    return Places(str(path))


# -- the flaws ---------------------------------------------------------------------------


def _keys(q: Question) -> list[str]:
    return [o.text for o in q.options if o.id in q.correct]


def _wrong(q: Question) -> list[str]:
    return [o.text for o in q.options if o.id not in q.correct]


def _with_options(bank: Bank) -> list[Question]:
    return [q for q in bank.questions if q.type != "true_false"]


def _pct(share: float) -> str:
    return f"{round(100 * share)}%"


def absolute_word_flaws(bank: Bank, at: Places) -> list[BankProblem]:
    found = []
    for q in _with_options(bank):
        in_keys = set().union(*(absolute_words(t) for t in _keys(q)))
        in_wrong = set().union(*(absolute_words(t) for t in _wrong(q)))
        if in_wrong and not in_keys:
            found.append(
                at.flaw(
                    q.id,
                    "absolute words only in wrong options ("
                    + ", ".join(sorted(in_wrong))
                    + "): a guesser rules those options out",
                )
            )
    return found


def unique_longest_key(q: Question) -> bool:
    """A single-choice key longer than every other option."""
    key = _keys(q)[0]
    return all(len(key) > len(t) for t in _wrong(q))


def long_key_flaws(bank: Bank, at: Places) -> list[BankProblem]:
    found = []
    singles = [q for q in bank.questions if q.type == "single"]
    if singles:
        longest = sum(1 for q in singles if unique_longest_key(q))
        if longest / len(singles) > LONGEST_KEY_SHARE:
            found.append(
                at.flaw(
                    None,
                    f"the key is the longest option in {longest} of {len(singles)} "
                    f"single-choice questions ({_pct(longest / len(singles))}, more than "
                    f"{_pct(LONGEST_KEY_SHARE)}): choosing the longest option pays",
                )
            )
    for q in _with_options(bank):
        wrong = _wrong(q)
        shortest_key = min(len(t) for t in _keys(q))
        if wrong and shortest_key > LONG_KEY_RATIO * max(len(t) for t in wrong):
            found.append(
                at.flaw(
                    q.id,
                    f"the right answer is more than {LONG_KEY_RATIO}x as long as any wrong one",
                )
            )
    return found


def key_pattern_flaws(bank: Bank, at: Places) -> list[BankProblem]:
    found = []
    counts = Counter(len(q.correct) for q in bank.questions if q.type == "multiple")
    total = sum(counts.values())
    if total >= MIN_MULTIPLE_ITEMS:
        number, most = counts.most_common(1)[0]
        if len(counts) < 2 or most / total > MULTIPLE_COUNT_SHARE:
            found.append(
                at.flaw(
                    None,
                    (
                        f"all {total} multiple-answer questions have {number} right options"
                        if len(counts) < 2
                        else f"{most} of {total} multiple-answer questions have {number} right "
                        f"options ({_pct(most / total)}, more than {_pct(MULTIPLE_COUNT_SHARE)})"
                    )
                    + ": a guesser picks that many; vary it between 2 and 4",
                )
            )
    keys = [q.correct == {"true"} for q in bank.questions if q.type == "true_false"]
    if len(keys) >= MIN_TRUE_FALSE_ITEMS:
        share = sum(keys) / len(keys)
        low, high = TRUE_SHARE
        if not low <= share <= high:
            found.append(
                at.flaw(
                    None,
                    f"true/false keys are {sum(keys)} true and {len(keys) - sum(keys)} false "
                    f"({_pct(share)} true, outside {_pct(low)}-{_pct(high)}): "
                    "a guesser answers the majority",
                )
            )
    return found


def _idf(bank: Bank) -> Callable[[str], float]:
    """Rare words are the distinctive ones: weight each by how few questions use it."""
    seen: Counter[str] = Counter()
    for q in bank.questions:
        seen.update(set().union(content_words(q.stem), *(content_words(o.text) for o in q.options)))
    n = len(bank.questions)
    return lambda w: math.log((n + 1) / (seen[w] + 1))


def _shown(q: Question) -> list[tuple[str, str]]:
    """What a reader sees with a question: its stem and its options."""
    return [("the question", q.stem)] + [
        (f"option {o.id}", o.text) for o in q.options if q.type != "true_false"
    ]


def _near(a: str, b: str) -> float:
    """difflib's similarity of two option texts, skipping pairs its cheap bounds rule out."""
    matcher = difflib.SequenceMatcher(None, a.lower(), b.lower())
    if matcher.real_quick_ratio() < OPTION_RATIO or matcher.quick_ratio() < OPTION_RATIO:
        return 0.0
    return matcher.ratio()


def _parallel(x: Question, y: Question) -> bool:
    """Two items choosing from the same list (the same Acts, say) do not give each other
    away: seeing the list again says nothing about which one is right."""
    echoed = sum(1 for a in x.options for b in y.options if _near(a.text, b.text) >= OPTION_RATIO)
    return echoed >= 2


def _answers(x: Question, y: Question, weight: Callable[[str], float]) -> list[str]:
    """What shown with x gives away y: y's key restated, or y's question and its answer."""
    found = []
    keys = _keys(y) if y.type != "true_false" else []
    stem_words = content_words(y.stem)
    stem_total = sum(weight(w) for w in stem_words)
    for label, text in _shown(x):
        is_option = label != "the question"
        text_words = content_words(text)
        reason = None
        for key in keys:
            key_words = content_words(key)
            shared = len(key_words & text_words) / len(key_words) if key_words else 0.0
            if len(key_words) >= KEY_MIN_WORDS and shared >= KEY_CONTAINMENT:
                reason = f"repeats the right answer of {y.id} ({_pct(shared)} of its words)"
                break
            ratio = _near(text, key) if is_option else 0.0
            if ratio >= OPTION_RATIO:
                reason = f"is nearly the right answer of {y.id} (similarity {ratio:.2f})"
                break
        covered = stem_words & text_words
        if (
            reason is None
            and is_option
            and len(covered) >= STEM_MIN_WORDS
            and stem_total
            and sum(weight(w) for w in covered) / stem_total >= STEM_COVERAGE
        ):
            share = sum(weight(w) for w in covered) / stem_total
            reason = (
                f"repeats the question of {y.id} ({_pct(share)} of its distinctive words) "
                "and may answer it"
            )
        if reason:
            found.append(f"{label} {reason}")
    return [] if found and _parallel(x, y) else found


def cross_answer_flaws(bank: Bank, at: Places) -> list[BankProblem]:
    weight = _idf(bank)
    return [
        at.flaw(x.id, reason)
        for x in bank.questions
        for y in bank.questions
        if x.id != y.id
        for reason in _answers(x, y, weight)
    ]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def duplicate_stem_flaws(bank: Bank, at: Places) -> list[BankProblem]:
    found = []
    stems = {q.id: content_words(q.stem) for q in bank.questions}
    for x, y in combinations(bank.questions, 2):
        similarity = jaccard(stems[x.id], stems[y.id])
        if similarity >= DUPLICATE_STEMS:
            found.append(
                at.flaw(
                    y.id,
                    f"nearly the same question as {x.id} (stem word overlap {similarity:.2f})",
                )
            )
    return found


def scenario_flaws(bank: Bank, at: Places) -> list[BankProblem]:
    """At least half of the bank, and of each reader's pool, are scenarios: a councillor's
    attempts must show understanding as much as a member of staff's. (A loaded bank's
    question audiences fit their sections, so a pool is its audience's questions.)"""
    groups = [("questions", list(bank.questions))]
    for reader in READERS:
        mine = [q for q in bank.questions if q.audience.includes(reader)]
        if len(mine) < len(bank.questions):  # else the same questions, said once
            groups.append((f"questions {READER_NAMES[reader]} can be asked", mine))
    found = []
    for what, questions in groups:
        scenarios = sum(1 for q in questions if q.kind == "scenario")
        if questions and scenarios / len(questions) < MIN_SCENARIO_SHARE:
            found.append(
                at.flaw(
                    None,
                    f"only {scenarios} of {len(questions)} {what} are scenarios "
                    f"({_pct(scenarios / len(questions))}): at least half must be",
                )
            )
    return found


CHECKS = (
    absolute_word_flaws,
    long_key_flaws,
    key_pattern_flaws,
    cross_answer_flaws,
    duplicate_stem_flaws,
    scenario_flaws,
)


def flaws(bank: Bank, at: Places) -> list[BankProblem]:
    found = [problem for check in CHECKS for problem in check(bank, at)]
    return sorted(found, key=lambda p: p.line)


# -- the test-wise guesser ---------------------------------------------------------------


def _chance_of_top(q: Question, k: int, rank: Callable[[str], tuple[int, int]]) -> float:
    """The chance that the k best-ranked options (ties broken uniformly at random) are
    exactly the key set, which is how a multiple-answer question is marked."""
    if len(q.correct) != k:
        return 0.0
    groups: dict[tuple[int, int], list[str]] = {}
    for o in q.options:
        groups.setdefault(rank(o.text), []).append(o.id)
    taken: set[str] = set()
    for key in sorted(groups):
        group = groups[key]
        need = k - len(taken)
        if need <= 0:
            break
        if len(group) <= need:
            taken.update(group)
            continue
        # The cut falls inside this group: `need` of its options are chosen at random.
        rest = q.correct - taken
        if not taken <= q.correct or not rest <= set(group):
            return 0.0
        return 1 / math.comb(len(group), need)
    return 1.0 if taken == q.correct else 0.0


def by_length(longest: bool) -> Callable[[str], tuple[int, int]]:
    """Options without absolute words first (they are 'usually wrong'), then by length."""

    def rank(text: str) -> tuple[int, int]:
        return (1 if absolute_words(text) else 0, -len(text) if longest else len(text))

    return rank


def _plain_random(q: Question, k: int) -> float:
    return 1 / math.comb(len(q.options), k) if len(q.correct) == k else 0.0


OPTION_STRATEGIES: dict[str, Callable[[Question, int], float]] = {
    "longest option": lambda q, k: _chance_of_top(q, k, by_length(True)),
    "shortest option": lambda q, k: _chance_of_top(q, k, by_length(False)),
    "random option": _plain_random,
}


def _majority_key(bank: Bank) -> Callable[[Question], float]:
    keys = Counter("true" in q.correct for q in bank.questions if q.type == "true_false")
    if keys[True] == keys[False]:
        return lambda q: 0.5  # no majority: a coin toss
    majority = "true" if keys[True] > keys[False] else "false"
    return lambda q: 1.0 if majority in q.correct else 0.0


def _absolute_means_false(q: Question) -> float:
    answer = "false" if absolute_words(q.stem) else "true"
    return 1.0 if answer in q.correct else 0.0


TRUE_FALSE_STRATEGIES: dict[str, Callable[[Bank], Callable[[Question], float]]] = {
    "the majority true/false key": _majority_key,
    "false if absolute, else true": lambda bank: _absolute_means_false,
}


def most_common_key_counts(bank: Bank) -> list[int]:
    """The guesser's k for multiple-answer items: the bank's most common number of keys
    (all of them if several tie, each then tried with equal chance)."""
    counts = Counter(len(q.correct) for q in bank.questions if q.type == "multiple")
    if not counts:
        return [2]
    top = max(counts.values())
    return sorted(n for n, c in counts.items() if c == top)


def chances(bank: Bank, option_strategy: str, true_false_strategy: str) -> dict[str, float]:
    """Per question, the exact chance the strategy gets it right."""
    options = OPTION_STRATEGIES[option_strategy]
    true_false = TRUE_FALSE_STRATEGIES[true_false_strategy](bank)
    ks = most_common_key_counts(bank)
    result = {}
    for q in bank.questions:
        if q.type == "true_false":
            result[q.id] = true_false(q)
        elif q.type == "single":
            result[q.id] = options(q, 1)
        else:
            result[q.id] = sum(options(q, k) for k in ks) / len(ks)
    return result


def pass_score(total: int, pass_mark: int) -> int:
    """The lowest score that passes, by the rule attempts.submit applies."""
    return next(s for s in range(total + 1) if round(100 * s / total) >= pass_mark)


def pass_chance(rows: np.ndarray, needed: int) -> np.ndarray:
    """Per row of per-question chances, P(score >= needed): the Poisson-binomial, exactly."""
    dist = np.zeros((rows.shape[0], rows.shape[1] + 1))
    dist[:, 0] = 1.0
    for j in range(rows.shape[1]):
        p = rows[:, j : j + 1]
        dist[:, 1:] = dist[:, 1:] * (1 - p) + dist[:, :-1] * p
        dist[:, 0] = dist[:, 0] * (1 - p[:, 0])
    return np.asarray(dist[:, needed:].sum(axis=1))


@dataclass(frozen=True, eq=False)
class _StandIn:
    id: str
    section: str
    type: str
    options: tuple[Option, ...]
    audience: Audience


@dataclass(frozen=True)
class GuesserResult:
    audience: str
    strategy: str
    first_attempt: float
    within_three: float
    questions: int
    needed: int


def guesser(
    bank: Bank,
    pack: PolicyPack,
    draws: int = DRAWS,
    seed: int = SEED,
    audiences: Iterable[Audience] = (Audience.MEMBERS, Audience.STAFF),
) -> list[GuesserResult]:
    """For each audience, the best strategy's chance of passing, averaged over seeded draws
    made by the quiz's own draw rules. Options' order is irrelevant to these cues."""
    # The real draw, given stand-ins compared by identity: comparing whole questions for
    # equality made the draws several times slower and changes nothing drawn.
    stand_ins = cast(
        list[Question],
        [_StandIn(q.id, q.section, q.type, q.options, q.audience) for q in bank.questions],
    )
    results = []
    for audience in audiences:
        sections = sections_read_by(pack, audience)
        rng = random.Random(seed)  # noqa: S311 - a repeatable simulation, not a secret
        drawn = [
            [d["id"] for d in draw(stand_ins, sections, audience, bank.settings, rng)]
            for _ in range(draws)
        ]
        index = {q.id: n for n, q in enumerate(bank.questions)}
        drawn_at = np.array([[index[qid] for qid in ids] for ids in drawn])
        size = len(drawn[0])
        needed = pass_score(size, bank.settings["pass_mark"])
        best: GuesserResult | None = None
        for option_name in OPTION_STRATEGIES:
            for tf_name in TRUE_FALSE_STRATEGIES:
                p = chances(bank, option_name, tf_name)
                rows = np.array([p[q.id] for q in bank.questions])[drawn_at]
                first = float(pass_chance(rows, needed).mean())
                if best is None or first > best.first_attempt:
                    best = GuesserResult(
                        audience.value,
                        f"{option_name}; {tf_name}",
                        first,
                        1 - (1 - first) ** WITHIN_ATTEMPTS,
                        size,
                        needed,
                    )
        assert best is not None
        results.append(best)
    return results


# -- the summary the check prints ----------------------------------------------------------


@dataclass(frozen=True)
class Review:
    bank: Bank
    flaws: list[BankProblem]
    guesser: list[GuesserResult]

    @property
    def guesser_too_lucky(self) -> bool:
        return any(g.first_attempt >= GUESSER_LIMIT for g in self.guesser)

    @property
    def sound(self) -> bool:
        return not self.flaws and not self.guesser_too_lucky


def review(bank: Bank, pack: PolicyPack, at: Places, draws: int = DRAWS) -> Review:
    return Review(bank, flaws(bank, at), guesser(bank, pack, draws))


def summary_lines(bank: Bank, pack: PolicyPack) -> list[str]:
    lines = []
    for section in pack.sections:
        mine = [q for q in bank.questions if q.section == section.key]
        kinds = Counter(q.kind for q in mine)
        types = Counter(q.type for q in mine)
        # min_per_section applies to each reader's share of the section, so show it.
        asked = ", ".join(
            f"{READER_NAMES[reader]} {sum(1 for q in mine if q.audience.includes(reader))}"
            for reader in READERS
            if section.audience.includes(reader)
        )
        lines.append(
            f"  {section.key}: {len(mine)} (scenario {kinds['scenario']}, recall "
            f"{kinds['recall']}; single {types['single']}, multiple {types['multiple']}, "
            f"true_false {types['true_false']}; asked of {asked})"
        )
    scenarios = sum(1 for q in bank.questions if q.kind == "scenario")
    lines.append(
        f"  kinds: scenario {scenarios}, recall {len(bank.questions) - scenarios} "
        f"({_pct(scenarios / len(bank.questions))} scenarios)"
    )
    audiences = Counter(q.audience for q in bank.questions)
    lines.append(
        "  audience: "
        + ", ".join(f"{a.value} {audiences[a]}" for a in Audience)
        + "; each reader's pool (what they can be asked): "
        + ", ".join(
            f"{READER_NAMES[reader]} {size}" for reader, size in pool_sizes(bank, pack).items()
        )
    )
    tf = Counter("true" in q.correct for q in bank.questions if q.type == "true_false")
    lines.append(f"  true/false keys: true {tf[True]}, false {tf[False]}")
    counts = Counter(len(q.correct) for q in bank.questions if q.type == "multiple")
    lines.append(
        "  multiple-answer right options: "
        + (", ".join(f"{n} right x {counts[n]}" for n in sorted(counts)) or "none")
    )
    return lines


def guesser_line(g: GuesserResult) -> str:
    return (
        f"  guesser ({g.audience}): first attempt {100 * g.first_attempt:.2f}%, within "
        f"{WITHIN_ATTEMPTS} attempts {100 * g.within_three:.2f}% "
        f"({g.needed} of {g.questions} to pass; best strategy: {g.strategy})"
    )
