"""Question banks: YAML files of questions, checked against the content pack they test.

A bad bank is refused with the file, line, question id and reason. A published bank is
stored whole, so an attempt can always be shown and scored exactly as it was drawn.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Audience, Policy, QuizBank
from app.services.content_pack import PolicyPack

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TYPES = ("single", "multiple", "true_false")
# A scenario puts the reader in a situation the section prepares them for; recall asks for
# a fact. The checker counts them, since scenarios are what show understanding.
KINDS = ("scenario", "recall")
FIELDS = (
    "id",
    "section",
    "audience",
    "kind",
    "type",
    "stem",
    "options",
    "correct",
    "explanation",
)
READERS = (Audience.MEMBERS, Audience.STAFF)
READER_NAMES = {Audience.MEMBERS: "councillors", Audience.STAFF: "staff"}
DEFAULT_SETTINGS: dict[str, Any] = {
    "questions_per_attempt": 10,
    "min_per_section": 1,
    "pass_mark": 80,
    "max_attempts": 3,
    "cooldown_minutes": 60,
    "shuffle_options": True,
    "time_limit_minutes": None,
}
# setting -> (lowest, highest); None allowed only where the default is None
RANGES = {
    "questions_per_attempt": (1, 100),
    "min_per_section": (0, 20),
    "pass_mark": (1, 100),
    "max_attempts": (1, 50),
    "cooldown_minutes": (0, 60 * 24 * 30),
    "time_limit_minutes": (1, 600),
}


@dataclass(frozen=True)
class BankProblem:
    file: str
    line: int
    question: str | None
    reason: str

    def __str__(self) -> str:
        where = f" question {self.question}:" if self.question else ""
        return f"{self.file}:{self.line}:{where} {self.reason}"


class BankError(Exception):
    def __init__(self, problems: list[BankProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Option:
    id: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    section: str
    type: str
    stem: str
    options: tuple[Option, ...]
    correct: frozenset[str]
    explanation: str
    kind: str | None = None  # None only in banks published before `kind` existed
    # Who may be asked it, as for sections: a question that puts the reader in an officer's
    # job (or a councillor's) is drawn only for them. Banks published before it: all.
    audience: Audience = Audience.ALL

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "section": self.section,
            "audience": self.audience.value,
            "kind": self.kind,
            "type": self.type,
            "stem": self.stem,
            "options": [{"id": o.id, "text": o.text} for o in self.options],
            "correct": sorted(self.correct),
            "explanation": self.explanation,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Question:
        return cls(
            id=data["id"],
            section=data["section"],
            type=data["type"],
            stem=data["stem"],
            options=tuple(Option(o["id"], o["text"]) for o in data["options"]),
            correct=frozenset(data["correct"]),
            explanation=data["explanation"],
            kind=data.get("kind"),
            audience=Audience(data.get("audience", Audience.ALL.value)),
        )


@dataclass(frozen=True)
class Bank:
    policy: str
    settings: dict[str, Any]
    questions: tuple[Question, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "settings": self.settings,
            "questions": [q.as_json() for q in self.questions],
        }

    @property
    def content_hash(self) -> str:
        data = json.dumps(self.as_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()


def _lines(node: yaml.Node) -> dict[str, int]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value}


def load_bank(path: Path, pack: PolicyPack) -> Bank:
    name = str(path)
    problems: list[BankProblem] = []

    def problem(line: int, reason: str, question: str | None = None) -> None:
        problems.append(BankProblem(name, line, question, reason))

    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise BankError(
            [
                BankProblem(
                    name,
                    mark.line + 1 if mark else 1,
                    None,
                    f"not valid YAML: {getattr(exc, 'problem', exc)}",
                )
            ]
        ) from exc
    if not isinstance(data, dict) or root is None:
        raise BankError(
            [BankProblem(name, 1, None, "the file must hold policy, settings and questions")]
        )
    top = _lines(root)
    if data.get("policy") != pack.key:
        problem(top.get("policy", 1), f"policy must be '{pack.key}' (the content pack it tests)")
    for key in data:
        if key not in ("policy", "settings", "questions"):
            problem(top[key], f"unknown field '{key}'")

    settings = dict(DEFAULT_SETTINGS)
    given = data.get("settings") or {}
    settings_node = next((v for k, v in root.value if k.value == "settings"), None)
    setting_lines = _lines(settings_node) if settings_node is not None else {}
    if not isinstance(given, dict):
        problem(top.get("settings", 1), "settings must be a list of 'name: value' lines")
        given = {}
    for key, value in given.items():
        line = setting_lines.get(key, top.get("settings", 1))
        if key not in DEFAULT_SETTINGS:
            problem(line, f"unknown setting '{key}'")
        elif key == "shuffle_options":
            if not isinstance(value, bool):
                problem(line, "shuffle_options must be true or false")
            else:
                settings[key] = value
        elif value is None and DEFAULT_SETTINGS[key] is None:
            settings[key] = None
        elif isinstance(value, bool) or not isinstance(value, int):
            problem(line, f"{key} must be a whole number")
        elif not RANGES[key][0] <= value <= RANGES[key][1]:
            low, high = RANGES[key]
            problem(line, f"{key} must be between {low} and {high}")
        else:
            settings[key] = value

    section_keys = {s.key for s in pack.sections}
    read_by = {s.key: s.audience for s in pack.sections}
    questions: list[Question] = []
    seen: dict[str, int] = {}
    items = data.get("questions")
    items_node = next((v for k, v in root.value if k.value == "questions"), None)
    if not isinstance(items, list) or not items or not isinstance(items_node, yaml.SequenceNode):
        problem(top.get("questions", 1), "questions must be a list of questions")
        raise BankError(problems)
    for item, node in zip(items, items_node.value, strict=True):
        line = node.start_mark.line + 1
        lines = _lines(node)
        if not isinstance(item, dict):
            problem(line, "a question must be a set of 'field: value' lines")
            continue
        qid = item.get("id")
        if not isinstance(qid, str) or not ID_RE.match(qid):
            problem(line, "id must be lowercase letters, numbers and hyphens")
            continue
        if qid in seen:
            problem(line, f"duplicate id (also on line {seen[qid]})", qid)
            continue
        seen[qid] = line
        bad = len(problems)
        for key in item:
            if key not in FIELDS:
                problem(lines.get(key, line), f"unknown field '{key}'", qid)
        section = item.get("section")
        if section not in section_keys:
            problem(
                lines.get("section", line),
                f"unknown section '{section}' (not in content pack '{pack.key}')",
                qid,
            )
        kind = item.get("kind")
        if kind not in KINDS:
            problem(lines.get("kind", line), "kind must be scenario or recall", qid)
        audience_value = item.get("audience", Audience.ALL.value)
        try:
            audience = Audience(audience_value)
        except ValueError:
            problem(
                lines.get("audience", line),
                f"audience must be all, members or staff, not '{audience_value}'",
                qid,
            )
            audience = Audience.ALL
        else:
            # Nobody may be asked about a section they were not given to read.
            section_readers = read_by.get(str(section))
            if section_readers not in (None, Audience.ALL) and audience != section_readers:
                problem(
                    lines.get("audience", line),
                    f"section '{section}' is read only by {READER_NAMES[section_readers]}, "
                    f"so the question needs audience: {section_readers.value} "
                    f"(not {audience.value})",
                    qid,
                )
        qtype = item.get("type")
        if qtype not in TYPES:
            problem(lines.get("type", line), "type must be single, multiple or true_false", qid)
            continue
        stem = item.get("stem")
        if not isinstance(stem, str) or not stem.strip():
            problem(lines.get("stem", line), "the question has no stem (question text)", qid)
        explanation = item.get("explanation")
        if not isinstance(explanation, str) or not explanation.strip():
            problem(lines.get("explanation", line), "every question needs an explanation", qid)
        correct_value = item.get("correct")
        options: list[Option] = []
        if qtype == "true_false":
            if "options" in item:
                problem(lines["options"], "a true_false question has no options", qid)
            options = [Option("true", "True"), Option("false", "False")]
            if not isinstance(correct_value, bool):
                problem(lines.get("correct", line), "correct must be true or false", qid)
                continue
            correct = {"true" if correct_value else "false"}
        else:
            raw = item.get("options")
            if not isinstance(raw, list) or len(raw) < 2:
                problem(lines.get("options", line), "give at least two options", qid)
                continue
            for opt in raw:
                if not isinstance(opt, dict) or not isinstance(opt.get("id"), str):
                    problem(lines.get("options", line), "each option needs an id and a text", qid)
                    continue
                text_value = opt.get("text")
                if not isinstance(text_value, str) or not text_value.strip():
                    problem(lines.get("options", line), f"empty option '{opt['id']}'", qid)
                    continue
                if any(o.id == opt["id"] for o in options):
                    problem(lines.get("options", line), f"duplicate option id '{opt['id']}'", qid)
                    continue
                options.append(Option(opt["id"], text_value.strip()))
            ids = {o.id for o in options}
            if correct_value is None or correct_value == []:
                problem(lines.get("correct", line), "no correct option", qid)
                continue
            chosen = correct_value if isinstance(correct_value, list) else [correct_value]
            if qtype == "single" and len(chosen) > 1:
                problem(
                    lines.get("correct", line),
                    "several correct options on a single-choice question",
                    qid,
                )
                continue
            unknown = [str(c) for c in chosen if str(c) not in ids]
            if unknown:
                problem(
                    lines.get("correct", line),
                    f"correct option '{unknown[0]}' is not one of the options",
                    qid,
                )
                continue
            correct = {str(c) for c in chosen}
        if len(problems) > bad:
            continue
        questions.append(
            Question(
                qid,
                str(section),
                qtype,
                str(stem).strip(),
                tuple(options),
                frozenset(correct),
                str(explanation).strip(),
                str(kind),
                audience,
            )
        )

    # Each reader's attempt draws only from their pool (their sections, their audience's
    # questions), at least min_per_section from each of their sections: every pool must
    # hold enough for that and for questions_per_attempt.
    minimum = settings["min_per_section"]
    wanted = settings["questions_per_attempt"]
    wanted_line = setting_lines.get("questions_per_attempt", top.get("settings", 1))
    found: dict[tuple[Audience, str], int] = {}
    for reader in READERS:
        who = READER_NAMES[reader]
        sections = sections_read_by(pack, reader)
        mine = pool(questions, sections, reader)
        for key in sections:
            found[reader, key] = sum(1 for q in mine if q.section == key)
        if wanted < minimum * len(sections):
            problem(
                wanted_line,
                f"questions_per_attempt ({wanted}) is less than min_per_section x "
                f"{len(sections)} sections read by {who}",
            )
        if len(mine) < wanted:
            problem(
                top.get("questions", 1),
                f"only {len(mine)} questions for {who}, fewer than questions_per_attempt "
                f"({wanted})",
            )
    for section in pack.sections:
        short = [
            f"{found[reader, section.key]} for {READER_NAMES[reader]}"
            for reader in READERS
            if section.audience.includes(reader) and found[reader, section.key] < minimum
        ]
        if short:
            problem(
                top.get("questions", 1),
                f"section '{section.key}' has fewer questions than its minimum of {minimum}: "
                + " and ".join(short),
            )
    if problems:
        raise BankError(problems)
    return Bank(pack.key, settings, tuple(questions))


def load_bank_for(quiz_dir: Path, pack: PolicyPack) -> Bank:
    path = quiz_dir / f"{pack.key}.yaml"
    if not path.is_file():
        raise BankError(
            [BankProblem(str(path), 1, None, f"no question bank for policy '{pack.key}'")]
        )
    return load_bank(path, pack)


def publish_bank(session: Session, bank: Bank) -> tuple[QuizBank, bool]:
    """Store the bank if it is new (same text: the same row). Returns (bank, created)."""
    policy = session.scalars(select(Policy).where(Policy.key == bank.policy)).one()
    existing = session.scalars(
        select(QuizBank).where(
            QuizBank.policy_id == policy.id, QuizBank.content_hash == bank.content_hash
        )
    ).first()
    if existing is not None:
        return existing, False
    row = QuizBank(
        policy_id=policy.id,
        content_hash=bank.content_hash,
        settings=bank.settings,
        questions=[q.as_json() for q in bank.questions],
    )
    session.add(row)
    session.flush()
    return row, True


def current_bank(session: Session, policy_id: int) -> QuizBank | None:
    return session.scalars(
        select(QuizBank)
        .where(QuizBank.policy_id == policy_id)
        .order_by(QuizBank.published_at.desc(), QuizBank.id.desc())
        .limit(1)
    ).first()


def current_bank_settings(session: Session, policy_id: int) -> dict[str, Any] | None:
    """The current bank's settings alone: the overview (every launch's page) needs no
    questions, and reading them means parsing the whole bank."""
    return session.scalars(
        select(QuizBank.settings)
        .where(QuizBank.policy_id == policy_id)
        .order_by(QuizBank.published_at.desc(), QuizBank.id.desc())
        .limit(1)
    ).first()


def sections_read_by(pack: PolicyPack, reader: Audience) -> list[str]:
    return [s.key for s in pack.sections if s.audience.includes(reader)]


def pool(
    questions: Iterable[Question], section_keys: Iterable[str], reader: Audience
) -> list[Question]:
    """What a reader may be asked: questions on the sections they read, for their audience."""
    keys = set(section_keys)
    return [q for q in questions if q.section in keys and q.audience.includes(reader)]


def pool_sizes(bank: Bank, pack: PolicyPack) -> dict[Audience, int]:
    return {
        reader: len(pool(bank.questions, sections_read_by(pack, reader), reader))
        for reader in READERS
    }


def draw(
    questions: list[Question],
    section_keys: list[str],
    reader: Audience,
    settings: dict[str, Any],
    rng: random.Random,
) -> list[dict[str, Any]]:
    """A fresh draw from the reader's pool: at least the minimum from every section they
    saw, the rest at random, questions in random order, options shuffled if the bank says
    so."""
    mine = pool(questions, section_keys, reader)
    chosen: list[Question] = []
    for key in section_keys:
        in_section = [q for q in mine if q.section == key]
        chosen.extend(rng.sample(in_section, min(settings["min_per_section"], len(in_section))))
    rest = [q for q in mine if q not in chosen]
    wanted = max(0, min(settings["questions_per_attempt"], len(mine)) - len(chosen))
    chosen.extend(rng.sample(rest, wanted))
    rng.shuffle(chosen)
    drawn = []
    for q in chosen:
        order = [o.id for o in q.options]
        if settings["shuffle_options"] and q.type != "true_false":
            rng.shuffle(order)
        drawn.append({"id": q.id, "options": order})
    return drawn
