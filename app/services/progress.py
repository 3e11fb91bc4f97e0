"""Reading progress: which sections of a policy version a person has opened, and about how
long the module takes."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import DIALECT_INSERT, dialect_name, table
from app.models import PolicySection, SectionRead

WORDS_PER_MINUTE = 200  # an unhurried adult reading plain English on screen
MINUTES_PER_QUESTION = 1
_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")


def estimated_minutes(sections: Iterable[PolicySection], questions: int) -> int:
    """About how long the module takes one reader: their audience's sections at
    WORDS_PER_MINUTE, plus the quiz's questions; rounded up to 5 minutes, as it is an "about"."""
    words = sum(len(_WORD.findall(s.body_markdown)) for s in sections)
    minutes = math.ceil(words / WORDS_PER_MINUTE) + questions * MINUTES_PER_QUESTION
    return max(5, math.ceil(minutes / 5) * 5)


@cache
def _insert_read(dialect: str) -> Any:
    # RETURNING, not rowcount: psycopg reports -1 rows for INSERT ... ON CONFLICT.
    reads = table(SectionRead)
    return (
        DIALECT_INSERT[dialect](reads)
        .on_conflict_do_nothing(index_elements=["person_id", "version_id", "cycle", "section_key"])
        .returning(reads.c.id)
    )


def mark_read(
    session: Session,
    person_id: int,
    version_id: int,
    cycle: int,
    section_key: str,
    now: datetime,
) -> bool:
    """Record the first opening of a section in this journey; True if it was the first."""
    result = session.execute(
        _insert_read(dialect_name(session)),
        {
            "person_id": person_id,
            "version_id": version_id,
            "cycle": cycle,
            "section_key": section_key,
            "first_read_at": now,
        },
    )
    return result.first() is not None


@dataclass(frozen=True)
class Progress:
    sections: list[PolicySection]
    read: frozenset[str]

    @property
    def total(self) -> int:
        return len(self.sections)

    @property
    def done(self) -> int:
        return sum(1 for s in self.sections if s.key in self.read)

    @property
    def all_read(self) -> bool:
        return self.done == self.total

    @property
    def unread(self) -> list[PolicySection]:
        return [s for s in self.sections if s.key not in self.read]

    @property
    def next_section(self) -> PolicySection | None:
        """Where to resume: the first section in reading order not yet opened."""
        unread = self.unread
        return unread[0] if unread else None

    def neighbours(self, key: str) -> tuple[PolicySection | None, PolicySection | None]:
        keys = [s.key for s in self.sections]
        i = keys.index(key)
        return (
            self.sections[i - 1] if i > 0 else None,
            self.sections[i + 1] if i + 1 < len(keys) else None,
        )


def progress(
    session: Session, person_id: int, version_id: int, cycle: int, sections: list[PolicySection]
) -> Progress:
    read = session.scalars(
        select(SectionRead.section_key).where(
            SectionRead.person_id == person_id,
            SectionRead.version_id == version_id,
            SectionRead.cycle == cycle,
        )
    )
    return Progress(sections, frozenset(read))
