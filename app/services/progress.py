"""Reading progress: which sections of a policy version a person has opened, and how long
they take to read."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import DIALECT_INSERT, dialect_name, table
from app.models import PolicySection, SectionRead


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


WORDS_PER_MINUTE = 200  # an unhurried adult reading plain English on screen
_TAG = re.compile(r"<[^>]*>")


class HasBody(Protocol):
    @property
    def body_html(self) -> str: ...


@lru_cache(maxsize=256)
def words_in(body_html: str) -> int:
    """Words a reader sees in a section's HTML (tags are not words). Cached by the text: a
    version's sections never change, and a string keeps its hash once computed."""
    return len(html.unescape(_TAG.sub(" ", body_html)).split())


def reading_minutes(sections: Iterable[HasBody]) -> int:
    """About how long these sections take to read: to the nearest 5 minutes (halves up),
    and never less than 5, so the figure promises no more precision than it has."""
    words = sum(words_in(s.body_html) for s in sections)
    per_five = 5 * WORDS_PER_MINUTE  # whole numbers: no float decides a boundary
    return max(5, 5 * ((2 * words + per_five) // (2 * per_five)))


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
