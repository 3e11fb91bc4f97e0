"""What the fuzz tests throw at the tool, and what they check in every answer.

Bounded and reproducible: each test runs a fixed number of examples (FUZZ_EXAMPLES scales
them), derandomised so CI sees the same cases on every run, with no example database
written into the repository.
"""

from __future__ import annotations

import os
import re
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, String
from sqlalchemy.orm import DeclarativeBase

# The marker the escaping checks look for: present raw in a page only if something from
# outside went into the HTML unescaped.
SCRIPT = '<script>alert("fz")</script>'
RAW_SCRIPT = '<script>alert("fz")'

# C0/C1 controls (line breaks and tabs included: a claim is one line) and lone surrogates:
# what launch.py cleans out of every claim.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

_SNIPPETS = [
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\ud800",  # a lone surrogate: JSON carries it escaped, no database can store it
    "\udfff",
    "\u202e",  # right-to-left override
    "\u200f",
    "\u2028",
    "\ufeff",
    "\r\n",
    "\t",
    SCRIPT,
    "<img src=x onerror=alert(1)>",
    "\"'&<>",
    "{{7*7}}",
    "%00",
    "../../etc/passwd",
    "Aisha Khan",
    "\U0001d56c\U0001d58e\U0001d598",  # letters outside the BMP
    "ß",
    "  ",
    '=HYPERLINK("http://x")',
    "a" * 400,
    "é" * 5000,
]

hostile_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(st.sampled_from(_SNIPPETS), st.text(max_size=10)), max_size=6).map("".join),
)

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)

json_value = st.recursive(
    json_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(hostile_text, children, max_size=5),
    ),
    max_leaves=12,
)


def examples(default: int) -> int:
    """Examples per test: FUZZ_EXAMPLES=400 for a longer local run."""
    return int(os.environ.get("FUZZ_EXAMPLES") or default)


def fuzz_settings(default: int) -> settings:
    return settings(
        max_examples=examples(default),
        deadline=None,
        derandomize=True,
        # Shrinking a failure can take minutes against a live app: CI reports the example
        # as found; FUZZ_SHRINK=1 shrinks it locally.
        phases=[Phase.explicit, Phase.generate]
        + ([Phase.shrink] if os.environ.get("FUZZ_SHRINK") else []),
        database=None,
        # The app, its database and the platform are per-test fixtures, shared by the
        # examples on purpose: state piling up between them is part of what is tested.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


def assert_answer_is_safe(response: Any, what: str) -> str:
    """No 5xx, and nothing from outside in the page unescaped."""
    if not response.mimetype.startswith("text/"):  # a spreadsheet, a PDF
        assert response.status_code < 500, f"{what}: {response.status_code}"
        return ""
    html = response.get_data(as_text=True)
    assert response.status_code < 500, f"{what}: {response.status_code}\n{html[:2000]}"
    assert RAW_SCRIPT not in html, f"{what}: unescaped script in the page"
    return html


def assert_stored_clean(session: Any, models: list[type[DeclarativeBase]]) -> None:
    """Every stored string without control characters and within its column's length
    (SQLite does not enforce lengths; PostgreSQL refuses NUL with a 500)."""
    for model in models:
        columns = model.__table__.columns  # type: ignore[attr-defined]
        for row in session.query(model).all():
            for column in columns:
                value = getattr(row, column.key)
                where = f"{model.__name__}.{column.key}"
                if isinstance(column.type, String) and isinstance(value, str):
                    assert not CONTROL.search(value), f"{where} holds {value!r}"
                    if column.type.length:
                        assert len(value) <= column.type.length, f"{where}: {len(value)}"
                elif isinstance(column.type, JSON):
                    _assert_json_clean(value, where)


def _assert_json_clean(value: Any, where: str) -> None:
    if isinstance(value, str):
        assert not CONTROL.search(value), f"{where} holds {value!r}"
    elif isinstance(value, dict):
        for k, v in value.items():
            _assert_json_clean(k, where)
            _assert_json_clean(v, where)
    elif isinstance(value, list):
        for v in value:
            _assert_json_clean(v, where)
