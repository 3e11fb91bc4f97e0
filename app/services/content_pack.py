"""Content packs: a policy as a folder of Markdown files with YAML front matter.

Loading validates everything a content owner can get wrong and reports each problem with
its file, line and reason; nothing half-valid is ever returned. Markdown becomes safe HTML
with GOV.UK Frontend classes: raw HTML in a file is shown as text, and the output passes an
allow-list sanitiser as well. Local details ({{council_name}}) stay as placeholders until a
page is shown, so one published text serves every council; so do conditional passages
({{#if board_chair}}...{{else}}...{{/if}}), which pick their wording by whether the council
has set that detail.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import nh3
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from app.models.policy import Audience

KEY_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*(?!else\s*\}\})([A-Za-z0-9_]+)\s*\}\}")
SECTION_LINK_PREFIX = "section:"

# Conditional text: "{{#if key}}said when the council has set key{{else}}said when not{{/if}}"
# ({{else}} optional). Anything that looks like a marker but is not one of these is a problem.
MARKER_RE = re.compile(r"\{\{\s*(?:[#/^]|else\b)[^{}]*\}\}")
IF_RE = re.compile(r"\{\{#if ([a-z0-9_]+)\}\}")
ELSE = "{{else}}"
END_IF = "{{/if}}"
CONDITIONAL_RE = re.compile(r"\{\{#if ([a-z0-9_]+)\}\}(.*?)(?:\{\{else\}\}(.*?))?\{\{/if\}\}", re.S)
# A marker written as a paragraph of its own (a conditional around whole paragraphs or lists)
# is stored bare, between the elements it chooses among.
_BLOCK_MARKER_RE = re.compile(r'<p class="govuk-body">(\{\{(?:#if [a-z0-9_]+|else|/if)\}\})</p>\n?')
# What a conditional can leave behind when it says nothing: an empty paragraph, list item or
# list, removed so the page has no gaps (and no empty list for a screen reader to announce).
_EMPTY_RE = re.compile(r"<(p|li|ul|ol|blockquote)\b[^>]*>\s*</\1>\n?")

# What each placeholder means, and what a page says if an organisation has not set it. A
# default must read well in every sentence that uses it; where none can (a board's chair, a
# phone number), the default is "" and the text uses the detail only inside its own
# {{#if key}}...{{/if}}, with other wording for the council that has not set it (the check
# enforces this). The council's name is never unset: it is the organisation's name.
PLACEHOLDERS: dict[str, tuple[str, str]] = {
    "council_name": ("The council's name", ""),
    "corporate_parenting_team": (
        "The team or officer to contact about corporate parenting",
        "the corporate parenting team",
    ),
    "corporate_parenting_email": ("The corporate parenting team's e-mail address", ""),
    "children_in_care_council": (
        "The local name of the Children in Care Council",
        "the Children in Care Council",
    ),
    "board_name": (
        "The name of the corporate parenting board, committee or panel",
        "the corporate parenting board",
    ),
    "board_chair": ("Who chairs the board", ""),
    "board_meets": ("How often the board meets", ""),
    "lead_member": (
        "The Lead Member for Children's Services (title or name)",
        "the Lead Member for Children's Services",
    ),
    "strategy_name": (
        "The name of the council's corporate parenting strategy",
        "the council's corporate parenting strategy",
    ),
    "strategy_review": ("How often the strategy is reviewed", ""),
    "pledge_name": ("The name of the council's Pledge to children in care", "the Pledge"),
    "children_in_care_count": (
        "How many children the council looks after, with the date of the figure",
        "",
    ),
    "care_leavers_count": (
        "How many care leavers the council supports, with the date of the figure",
        "",
    ),
    "leaving_care_team": (
        "The team that gives care leavers their personal advisers",
        "the leaving care service",
    ),
    "local_offer_where": (
        "Where the council publishes its local offer for care leavers",
        "on the council's website",
    ),
    "safeguarding_contact": (
        "Who to contact at once about a child's safety",
        "children's services, on the number given on the council's website",
    ),
    "care_experience_equality": (
        "Whether the council treats care experience as if it were a protected characteristic",
        "",
    ),
    "staff_support": (
        "Where a care-experienced member of staff or councillor can get support",
        "your manager or HR (or, for councillors, member services)",
    ),
    "data_protection_contact": (
        "The council's data protection officer (e-mail or address)",
        "the council's data protection officer",
    ),
    "accessibility_contact": (
        "Who to tell about an accessibility problem with this module (e-mail)",
        "the corporate parenting team",
    ),
}
# For the details with no default: what the text does while one is not set (HR's hint).
WHEN_UNSET: dict[str, str] = {
    "corporate_parenting_email": "The text leaves the e-mail address out.",
    "board_chair": 'The text says the board "is usually chaired by a councillor".',
    "board_meets": 'The text says "Most boards meet several times a year."',
    "strategy_review": 'The text says "Ask how often it is reviewed."',
    "children_in_care_count": (
        "The text asks the reader to find out the numbers from the corporate parenting team."
    ),
    "care_leavers_count": (
        "The text asks the reader to find out the numbers from the corporate parenting team."
    ),
    "care_experience_equality": (
        "The text asks the reader to find out the council's position from the corporate "
        "parenting team."
    ),
}


def when_unset(key: str, organisation_name: str) -> str:
    """What the policy text says while the council has not set this detail, in a sentence."""
    default = organisation_name if key == "council_name" else PLACEHOLDERS[key][1]
    return f'While empty, the text says "{default}".' if default else WHEN_UNSET[key]


POLICY_FIELDS = (
    "key",
    "title",
    "version",
    "effective_date",
    "requires_reacceptance",
    "summary",
    "sections",
)
SECTION_FIELDS = ("key", "title", "summary", "audience")

# The Children in Care Council's own words: a file the council fills, shown inside one section
# (just before its "What this means for you"), so the words are part of the text people accept.
OUR_WORDS_FILE = "our-words.md"
OUR_WORDS_FIELDS = ("section",)
OUR_WORDS_HEADING = "## In our own words"
# Shown while the file is empty; it must not put words in anyone's mouth.
OUR_WORDS_EMPTY = (
    "This is the place for the words of {{children_in_care_council}}. "
    "It has not written them yet. When it does, they will appear here."
)
ACTION_HEADING_RE = re.compile(r"^## What this means for you[ \t]*$", re.M)

# A section's length, counted as the check counts it; outside the range is a warning only.
WORDS_MIN = 300
WORDS_MAX = 600

# A note whose facts go out of date (a Bill before Parliament): the first line of a blockquote,
# e.g. "> **Proposed change to the law (checked 2025-03-31, review by 2025-12-31)**".
DATED_NOTE_START_RE = re.compile(r"\(\s*checked\b", re.I)
DATED_NOTE_RE = re.compile(r"\(checked (\S+), review by (\S+)\)")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class PackError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Heading:
    level: int
    anchor: str
    text: str


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    summary: str
    audience: Audience
    body_markdown: str
    body_html: str
    headings: tuple[Heading, ...]
    file: str = field(compare=False, default="")
    line: int = field(compare=False, default=1)  # where the body starts in the file


@dataclass(frozen=True)
class DatedNote:
    file: str
    line: int
    name: str
    checked: date
    review_by: date


@dataclass(frozen=True)
class OurWords:
    file: str
    section: str
    empty: bool


@dataclass(frozen=True)
class PolicyPack:
    key: str
    title: str
    version: str
    effective_date: date
    requires_reacceptance: bool
    summary: str
    intro_markdown: str
    intro_html: str
    sections: tuple[Section, ...]
    folder: str = field(compare=False, default="")
    notes: tuple[DatedNote, ...] = field(compare=False, default=())
    our_words: OurWords | None = field(compare=False, default=None)

    @property
    def content_hash(self) -> str:
        """SHA-256 of the words and settings people accept (not of the rendered HTML)."""
        canonical = {
            "key": self.key,
            "title": self.title,
            "version": self.version,
            "effective_date": self.effective_date.isoformat(),
            "requires_reacceptance": self.requires_reacceptance,
            "summary": self.summary,
            "intro": self.intro_markdown,
            "sections": [
                {
                    "key": s.key,
                    "title": s.title,
                    "summary": s.summary,
                    "audience": s.audience.value,
                    "body": s.body_markdown,
                }
                for s in self.sections
            ],
        }
        data = json.dumps(canonical, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()


# -- YAML front matter with line numbers --------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML that keeps dates as text (we check them ourselves, with a clear message)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class _FrontMatter:
    data: dict[str, Any]
    lines: dict[str, int]  # field -> line in the file
    item_lines: dict[str, list[int]]  # list field -> line of each item
    body: str
    body_first_line: int


def _front_matter(text: str, file: str, problems: list[Problem]) -> _FrontMatter | None:
    if not text.startswith("---\n"):
        problems.append(
            Problem(file, 1, "the file must start with front matter between '---' lines")
        )
        return None
    end = text.find("\n---\n", 3)
    if end == -1:
        end = text.find("\n---", 3)
        if end == -1 or text[end + 4 :].strip():
            problems.append(Problem(file, 1, "front matter is not closed with a '---' line"))
            return None
    raw = text[4 : end + 1]
    body = text[end + 5 :]
    body_first_line = raw.count("\n") + 3
    try:
        node = yaml.compose(raw, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 1
        problems.append(
            Problem(file, line, f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}")
        )
        return None
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(file, 2, "front matter must be a list of 'field: value' lines"))
        return None
    lines: dict[str, int] = {}
    item_lines: dict[str, list[int]] = {}
    for key_node, value_node in node.value:
        name = key_node.value
        line = key_node.start_mark.line + 2
        if name in lines:
            problems.append(
                Problem(file, line, f"duplicate field '{name}' (first on line {lines[name]})")
            )
            continue
        lines[name] = line
        if isinstance(value_node, yaml.SequenceNode):
            item_lines[name] = [item.start_mark.line + 2 for item in value_node.value]
    data = yaml.load(raw, Loader=_Loader)  # noqa: S506 (_Loader is a SafeLoader)
    return _FrontMatter(data, lines, item_lines, body, body_first_line)


def _text(fm: _FrontMatter, name: str, file: str, problems: list[Problem]) -> str:
    value = fm.data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        problems.append(Problem(file, fm.lines.get(name, 2), f"missing field '{name}'"))
        return ""
    if not isinstance(value, str):
        problems.append(Problem(file, fm.lines[name], f"'{name}' must be text"))
        return ""
    return value.strip()


# -- Markdown -> safe HTML --------------------------------------------------------------------

_CLASSES = {
    "paragraph_open": "govuk-body",
    "bullet_list_open": "govuk-list govuk-list--bullet",
    "ordered_list_open": "govuk-list govuk-list--number",
    "blockquote_open": "govuk-inset-text",
    "link_open": "govuk-link",
    "hr": "govuk-section-break govuk-section-break--m govuk-section-break--visible",
    "table_open": "govuk-table",
}
_HEADING_CLASSES = {"h2": "govuk-heading-m", "h3": "govuk-heading-s", "h4": "govuk-heading-s"}

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})

_ALLOWED_TAGS = {
    "h2",
    "h3",
    "h4",
    "p",
    "ul",
    "ol",
    "li",
    "a",
    "strong",
    "em",
    "blockquote",
    "code",
    "hr",
    "br",
    "div",
}
_ALLOWED_ATTRIBUTES = {"*": {"class"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "a": {"href"}}


def slug(text: str) -> str:
    text = PLACEHOLDER_RE.sub(lambda m: m.group(1).replace("_", "-"), text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclass(frozen=True)
class _Link:
    line: int
    href: str


def render_markdown(
    source: str, first_line: int, file: str, problems: list[Problem]
) -> tuple[str, tuple[Heading, ...], list[_Link]]:
    """HTML with GOV.UK classes and heading anchors; headings and links for the checks."""
    tokens = _md.parse(source)
    headings: list[Heading] = []
    links: list[_Link] = []
    used: set[str] = set()
    last_level = 1
    for i, tok in enumerate(tokens):
        line = first_line + (tok.map[0] if tok.map else 0)
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            if level == 1:
                problems.append(
                    Problem(
                        file,
                        line,
                        "do not use a '#' heading: the page title is the "
                        "only level-1 heading; start at '##'",
                    )
                )
            elif level > last_level + 1:
                problems.append(
                    Problem(
                        file,
                        line,
                        f"heading skips a level (h{last_level} to "
                        f"h{level}): use '{'#' * (last_level + 1)}'",
                    )
                )
            last_level = level
            inline: Token = tokens[i + 1]
            anchor = slug(inline.content)
            while anchor in used:
                anchor += "-2"
            used.add(anchor)
            headings.append(Heading(level, anchor, inline.content))
            tok.attrSet("id", anchor)
            tok.attrSet("class", _HEADING_CLASSES.get(tok.tag, "govuk-heading-s"))
        elif tok.type in _CLASSES:
            tok.attrSet("class", _CLASSES[tok.type])
        elif tok.type == "image":
            problems.append(Problem(file, line, "images are not allowed in the policy text"))
        if tok.type == "inline" and tok.children:
            for child in tok.children:
                if child.type == "link_open":
                    child.attrSet("class", _CLASSES["link_open"])
                    links.append(_Link(line, str(child.attrGet("href") or "")))
                elif child.type == "image":
                    problems.append(
                        Problem(file, line, "images are not allowed in the policy text")
                    )
    for tok in tokens:
        if tok.type == "inline" and tok.children:
            for child in tok.children:
                if child.type == "link_open":
                    href = str(child.attrGet("href") or "")
                    target = _section_target(href)
                    if target is not None:
                        child.attrSet("href", SECTION_LINK_PREFIX + target)
    rendered = _md.renderer.render(tokens, _md.options, {})
    clean = nh3.clean(
        rendered,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "section"},
        link_rel=None,
    )
    return _BLOCK_MARKER_RE.sub(r"\1", clean), tuple(headings), links


def _section_target(href: str) -> str | None:
    """'other-section.md#anchor' -> 'other-section#anchor'; None for other links."""
    if "://" in href or href.startswith(("mailto:", "#")):
        return None
    path, _, anchor = href.partition("#")
    if not path.endswith(".md") or "/" in path:
        return None
    return path[:-3] + (f"#{anchor}" if anchor else "")


def _check_placeholders(source: str, first_line: int, file: str, problems: list[Problem]) -> None:
    for n, line in enumerate(source.split("\n")):
        for match in PLACEHOLDER_RE.finditer(line):
            if match.group(1) not in PLACEHOLDERS:
                known = ", ".join(sorted(PLACEHOLDERS))
                problems.append(
                    Problem(
                        file,
                        first_line + n,
                        f"unknown placeholder '{match.group(0)}' (known: {known})",
                    )
                )
        for url in re.findall(r"\]\(([^)]*)\)", line):
            if "{{" in url:
                problems.append(
                    Problem(
                        file, first_line + n, "placeholders cannot be used inside a link address"
                    )
                )


def _line_at(source: str, pos: int, first_line: int) -> int:
    return first_line + source.count("\n", 0, pos)


def _check_conditionals(
    source: str, rendered: str, first_line: int, file: str, problems: list[Problem]
) -> None:
    """{{#if key}}...{{else}}...{{/if}}: well formed, not nested, not in a heading, around
    whole blocks or inside one, and a detail with no default used only where it is set."""
    before = len(problems)
    where = [(m.start(), m.group(0)) for m in MARKER_RE.finditer(source)]
    opened: tuple[int, str] | None = None  # line, key of the {{#if}} we are inside
    seen_else = False
    for pos, marker in where:
        line = _line_at(source, pos, first_line)
        match = IF_RE.fullmatch(marker)
        if match:
            if match.group(1) not in PLACEHOLDERS:
                problems.append(
                    Problem(file, line, f"unknown placeholder '{match.group(1)}' in {marker}")
                )
            if opened is not None:
                problems.append(
                    Problem(
                        file,
                        opened[0],
                        f"{{{{#if {opened[1]}}}}} is not closed with {{{{/if}}}} before the "
                        f"{marker} of line {line} (conditionals do not nest)",
                    )
                )
            opened, seen_else = (line, match.group(1)), False
        elif marker == ELSE:
            if opened is None:
                problems.append(Problem(file, line, "{{else}} without a {{#if ...}} before it"))
            elif seen_else:
                problems.append(
                    Problem(
                        file, line, f"a second {{{{else}}}} for the {{{{#if}}}} of line {opened[0]}"
                    )
                )
            seen_else = True
        elif marker == END_IF:
            if opened is None:
                problems.append(Problem(file, line, "{{/if}} without a {{#if ...}} before it"))
            opened = None
        else:
            problems.append(
                Problem(
                    file,
                    line,
                    f"unknown marker '{marker}': write {{{{#if name}}}}, {{{{else}}}} and "
                    "{{/if}}, with no spaces inside the braces",
                )
            )
    if opened is not None:
        problems.append(
            Problem(file, opened[0], f"{{{{#if {opened[1]}}}}} is not closed with {{{{/if}}}}")
        )
    source_lines = source.split("\n")
    for tok in _md.parse(source):
        if tok.type == "heading_open" and tok.map:
            heading = "\n".join(source_lines[tok.map[0] : tok.map[1]])
            if MARKER_RE.search(heading):
                problems.append(
                    Problem(
                        file,
                        first_line + tok.map[0],
                        "a heading cannot hold conditional text: put the {{#if}} around the "
                        "heading and its paragraphs instead",
                    )
                )
    if len(problems) > before:
        return
    _check_no_default_use(source, first_line, file, problems)
    # Each branch must be whole elements, or lie inside one element, so that leaving it out
    # leaves the page's HTML well formed.
    stored = list(MARKER_RE.finditer(rendered))
    lines = [_line_at(source, pos, first_line) for pos, _ in where]
    if len(stored) != len(lines):  # a marker the renderer swallowed: name the first one
        lines = [lines[0]] * len(stored)
    for i in range(len(stored) - 1):
        if stored[i].group(0) == END_IF:
            continue
        segment = rendered[stored[i].end() : stored[i + 1].start()]
        if not _balanced(segment):
            problems.append(
                Problem(
                    file,
                    lines[i],
                    f"the text after {stored[i].group(0)} must stay inside one paragraph or list "
                    "item, or be whole paragraphs and lists: put each marker either inside the "
                    "sentence or on a line of its own, with blank lines around it",
                )
            )


def _check_no_default_use(source: str, first_line: int, file: str, problems: list[Problem]) -> None:
    """A detail with no default can only be shown where the council has set it."""
    inside: str | None = None  # the key of the {{#if}} branch we are in, None elsewhere
    tokens = re.finditer(f"{MARKER_RE.pattern}|{PLACEHOLDER_RE.pattern}", source)
    for match in tokens:
        text = match.group(0)
        if_match = IF_RE.fullmatch(text)
        if if_match:
            inside = if_match.group(1)
        elif text in (ELSE, END_IF):
            inside = None
        else:
            key = PLACEHOLDER_RE.fullmatch(text)
            if key is None or key.group(1) not in PLACEHOLDERS:
                continue
            name = key.group(1)
            if name != "council_name" and not PLACEHOLDERS[name][1] and inside != name:
                problems.append(
                    Problem(
                        file,
                        _line_at(source, match.start(), first_line),
                        f"{{{{{name}}}}} has no default, so it can only be used where the "
                        f"council has set it: inside {{{{#if {name}}}}} ... {{{{/if}}}} (with "
                        "{{else}} and other wording for councils that have not)",
                    )
                )


_TAG_RE = re.compile(r"<(/?)([a-zA-Z0-9]+)\b[^>]*>")
_VOID = {"br", "hr"}


def _balanced(fragment: str) -> bool:
    depth = 0
    for match in _TAG_RE.finditer(fragment):
        if match.group(2).lower() in _VOID:
            continue
        depth += -1 if match.group(1) else 1
        if depth < 0:
            return False
    return depth == 0


def _dated_notes(
    source: str, first_line: int, file: str, problems: list[Problem]
) -> list[DatedNote]:
    """Blockquotes whose first line says when their facts were checked and when to look again."""
    notes: list[DatedNote] = []
    tokens = _md.parse(source)
    for i, tok in enumerate(tokens[:-2]):
        if tok.type != "blockquote_open" or tokens[i + 1].type != "paragraph_open":
            continue
        inline = tokens[i + 2]
        first = inline.content.split("\n", 1)[0]
        if not DATED_NOTE_START_RE.search(first):
            continue
        line = first_line + (inline.map[0] if inline.map else 0)
        match = DATED_NOTE_RE.search(first)
        if match is None:
            problems.append(
                Problem(
                    file,
                    line,
                    "a dated note's first line must hold "
                    "'(checked YYYY-MM-DD, review by YYYY-MM-DD)'",
                )
            )
            continue
        dates: list[date] = []
        for label, text in (("checked", match.group(1)), ("review by", match.group(2))):
            try:
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                    raise ValueError(text)
                dates.append(date.fromisoformat(text))
            except ValueError:
                problems.append(
                    Problem(
                        file,
                        line,
                        f"bad {label} date '{text}' in a dated note: write it as YYYY-MM-DD",
                    )
                )
        if len(dates) != 2:
            continue
        checked, review_by = dates
        if review_by < checked:
            problems.append(
                Problem(
                    file,
                    line,
                    f"the review date {review_by.isoformat()} is before the checked date "
                    f"{checked.isoformat()} in a dated note",
                )
            )
            continue
        name = first[: match.start()].strip(" *_") or "dated note"
        notes.append(DatedNote(file, line, name, checked, review_by))
    return notes


@dataclass(frozen=True)
class _Words:
    words: OurWords
    block: str  # the Markdown inserted into the section


def _our_words(
    folder: Path, section_keys: list[str], problems: list[Problem]
) -> tuple[_Words | None, list[_Link]]:
    """The Children in Care Council's file, checked like a section, ready to insert."""
    path = folder / OUR_WORDS_FILE
    if not path.is_file():
        return None, []
    name = _display(path)
    fm = _front_matter(path.read_text(encoding="utf-8"), name, problems)
    if fm is None:
        return None, []
    for field_name in fm.data:
        if field_name not in OUR_WORDS_FIELDS:
            problems.append(Problem(name, fm.lines[field_name], f"unknown field '{field_name}'"))
    target = _text(fm, "section", name, problems)
    if not target:
        return None, []
    if target not in section_keys:
        problems.append(
            Problem(
                name,
                fm.lines["section"],
                f"section '{target}' is not a section of this policy "
                f"(sections: {', '.join(section_keys)})",
            )
        )
        return None, []
    text = fm.body.strip()
    if not text:
        return _Words(OurWords(name, target, empty=True), OUR_WORDS_EMPTY), []
    _check_placeholders(fm.body, fm.body_first_line, name, problems)
    # Checked under the heading it will sit under, so their '###' is not a skipped level;
    # the heading takes two lines, hence first_line - 2.
    words = fm.body.strip("\n")
    block = f"{OUR_WORDS_HEADING}\n\n{words}"
    words_html, _, links = render_markdown(
        f"{OUR_WORDS_HEADING}\n\n{fm.body}", fm.body_first_line - 2, name, problems
    )
    _check_conditionals(
        f"{OUR_WORDS_HEADING}\n\n{fm.body}", words_html, fm.body_first_line - 2, name, problems
    )
    return _Words(OurWords(name, target, empty=False), block), links


def _insert_words(body: str, block: str) -> str:
    """Put the block just before 'What this means for you' (at the end if there is none)."""
    match = ACTION_HEADING_RE.search(body)
    if match is None:
        return f"{body.rstrip()}\n\n{block}"
    return f"{body[: match.start()].rstrip()}\n\n{block}\n\n{body[match.start() :]}"


def word_count(markdown: str) -> int:
    """Words as a reader meets them while no local detail is set (a placeholder is one)."""
    return len(re.findall(r"\w+", resolve_conditionals(markdown, frozenset({"council_name"}))))


def pack_warnings(pack: PolicyPack, today: date) -> list[Problem]:
    """What a content owner should deal with soon; none of it stops publishing."""
    warnings: list[Problem] = []
    for note in pack.notes:
        if today > note.review_by:
            warnings.append(
                Problem(
                    note.file,
                    note.line,
                    f"the note '{note.name}' was due for review by {note.review_by.isoformat()} "
                    f"(last checked {note.checked.isoformat()}): check the law as it stands "
                    "today, update the note's text, and change both dates",
                )
            )
    words = pack.our_words
    if words is not None and words.empty:
        warnings.append(
            Problem(
                words.file,
                1,
                f"{OUR_WORDS_FILE} is empty: ask the Children in Care Council to write their "
                f"own words for '{words.section}', and put them in below the front matter "
                "as they wrote them",
            )
        )
    for section in pack.sections:
        count = word_count(section.body_markdown)
        if not WORDS_MIN <= count <= WORDS_MAX:
            warnings.append(
                Problem(
                    section.file,
                    section.line,
                    f"the section has {count} words: aim for {WORDS_MIN} to {WORDS_MAX} "
                    + ("(say more, or join it to another)" if count < WORDS_MIN else "(split it)"),
                )
            )
    return warnings


# -- the pack ---------------------------------------------------------------------------------


def load_pack(folder: Path) -> PolicyPack:
    """Read and check one policy folder. Raises PackError listing every problem found."""
    problems: list[Problem] = []
    index_path = folder / "index.md"
    index_name = _display(index_path)
    if not index_path.is_file():
        raise PackError([Problem(index_name, 1, "a policy folder needs an index.md")])
    fm = _front_matter(index_path.read_text(encoding="utf-8"), index_name, problems)
    if fm is None:
        raise PackError(problems)

    key = _text(fm, "key", index_name, problems)
    if key and not KEY_RE.match(key):
        problems.append(
            Problem(
                index_name, fm.lines["key"], "key must be lowercase letters, numbers and hyphens"
            )
        )
    elif key and key != folder.name:
        problems.append(
            Problem(
                index_name,
                fm.lines["key"],
                f"key '{key}' does not match the folder name '{folder.name}'",
            )
        )
    title = _text(fm, "title", index_name, problems)
    summary = _text(fm, "summary", index_name, problems)
    version_value = fm.data.get("version")
    version = ""
    if version_value is None:
        problems.append(Problem(index_name, 2, "missing field 'version'"))
    elif not isinstance(version_value, str):
        problems.append(
            Problem(
                index_name,
                fm.lines["version"],
                f'version must be in quotes, for example "{version_value}"',
            )
        )
    elif not re.match(r"^[0-9A-Za-z][0-9A-Za-z.\-]{0,49}$", version_value.strip()):
        problems.append(
            Problem(
                index_name,
                fm.lines["version"],
                "version may hold only letters, numbers, dots and hyphens",
            )
        )
    else:
        version = version_value.strip()
    effective = fm.data.get("effective_date")
    effective_date = date.min
    if effective is None:
        problems.append(Problem(index_name, 2, "missing field 'effective_date'"))
    else:
        try:
            effective_date = date.fromisoformat(str(effective))
        except ValueError:
            problems.append(
                Problem(
                    index_name,
                    fm.lines["effective_date"],
                    f"bad date '{effective}': write it as YYYY-MM-DD",
                )
            )
    reaccept = fm.data.get("requires_reacceptance")
    if not isinstance(reaccept, bool):
        problems.append(
            Problem(
                index_name,
                fm.lines.get("requires_reacceptance", 2),
                "requires_reacceptance must be true or false",
            )
        )
    order = fm.data.get("sections")
    order_lines = fm.item_lines.get("sections", [])
    if not isinstance(order, list) or not order:
        problems.append(
            Problem(
                index_name,
                fm.lines.get("sections", 2),
                "sections must list the section keys in reading order",
            )
        )
        order = []
    for name in fm.data:
        if name not in POLICY_FIELDS:
            problems.append(Problem(index_name, fm.lines[name], f"unknown field '{name}'"))
    _check_placeholders(fm.body, fm.body_first_line, index_name, problems)
    intro_html, _, intro_links = render_markdown(fm.body, fm.body_first_line, index_name, problems)
    _check_conditionals(fm.body, intro_html, fm.body_first_line, index_name, problems)
    notes = _dated_notes(fm.body, fm.body_first_line, index_name, problems)

    files = {p.stem: p for p in folder.glob("*.md") if p.name not in ("index.md", OUR_WORDS_FILE)}
    seen_order: dict[str, int] = {}
    for i, item in enumerate(order):
        line = order_lines[i] if i < len(order_lines) else fm.lines.get("sections", 2)
        if not isinstance(item, str):
            problems.append(Problem(index_name, line, "a section key must be text"))
            continue
        if item in seen_order:
            problems.append(
                Problem(
                    index_name,
                    line,
                    f"duplicate key '{item}' in sections (also on line {seen_order[item]})",
                )
            )
            continue
        seen_order[item] = line
        if item not in files:
            problems.append(
                Problem(index_name, line, f"unknown section '{item}': there is no {item}.md")
            )
    for stem, path in sorted(files.items()):
        if stem not in seen_order:
            problems.append(
                Problem(_display(path), 1, f"section '{stem}' is not listed in index.md's sections")
            )

    words, words_links = _our_words(folder, [k for k in seen_order if k in files], problems)
    sections: list[Section] = []
    links: list[tuple[str, _Link]] = [(index_name, link) for link in intro_links]
    if words is not None:
        links.extend((words.words.file, link) for link in words_links)
    section_keys: dict[str, str] = {}
    for item in (k for k in seen_order if k in files):
        path = files[item]
        name = _display(path)
        sfm = _front_matter(path.read_text(encoding="utf-8"), name, problems)
        if sfm is None:
            continue
        skey = _text(sfm, "key", name, problems)
        if skey and skey != item:
            problems.append(
                Problem(
                    name, sfm.lines["key"], f"key '{skey}' does not match the file name '{item}.md'"
                )
            )
        if skey in section_keys and skey:
            problems.append(
                Problem(
                    name, sfm.lines["key"], f"duplicate key '{skey}' (also in {section_keys[skey]})"
                )
            )
        section_keys[skey] = name
        stitle = _text(sfm, "title", name, problems)
        ssummary = _text(sfm, "summary", name, problems)
        audience_value = sfm.data.get("audience", "all")
        try:
            audience = Audience(audience_value)
        except ValueError:
            problems.append(
                Problem(
                    name,
                    sfm.lines.get("audience", 2),
                    f"audience must be all, members or staff, not '{audience_value}'",
                )
            )
            audience = Audience.ALL
        for field_name in sfm.data:
            if field_name not in SECTION_FIELDS:
                problems.append(
                    Problem(name, sfm.lines[field_name], f"unknown field '{field_name}'")
                )
        body = sfm.body.strip("\n")
        if not body.strip():
            problems.append(Problem(name, sfm.body_first_line, "the section has no text"))
        _check_placeholders(sfm.body, sfm.body_first_line, name, problems)
        body_html, headings, slinks = render_markdown(sfm.body, sfm.body_first_line, name, problems)
        _check_conditionals(sfm.body, body_html, sfm.body_first_line, name, problems)
        notes.extend(_dated_notes(sfm.body, sfm.body_first_line, name, problems))
        links.extend((name, link) for link in slinks)
        if words is not None and words.words.section == item:
            # Both files' problems are reported above with their own lines; this is the text
            # people read and accept.
            body = _insert_words(body, words.block)
            body_html, headings, _ = render_markdown(body, 1, name, [])
        sections.append(
            Section(
                item,
                stitle,
                ssummary,
                audience,
                body,
                body_html,
                headings,
                file=name,
                line=sfm.body_first_line,
            )
        )

    anchors = {s.key: {h.anchor for h in s.headings} for s in sections}
    for name, link in links:
        target = _section_target(link.href)
        if target is None:
            if not link.href.startswith(("https://", "http://", "mailto:", "#")):
                problems.append(
                    Problem(
                        name,
                        link.line,
                        f"broken link '{link.href}': link to another section as 'its-key.md'",
                    )
                )
            continue
        skey, _, anchor = target.partition("#")
        if skey not in anchors:
            problems.append(
                Problem(name, link.line, f"broken link '{link.href}': there is no section '{skey}'")
            )
        elif anchor and anchor not in anchors[skey]:
            problems.append(
                Problem(
                    name,
                    link.line,
                    f"broken link '{link.href}': '{skey}' has no heading '#{anchor}'",
                )
            )
    if problems:
        raise PackError(problems)
    return PolicyPack(
        key=key,
        title=title,
        version=version,
        effective_date=effective_date,
        requires_reacceptance=bool(reaccept),
        summary=summary,
        intro_markdown=fm.body.strip("\n"),
        intro_html=intro_html,
        sections=tuple(sections),
        folder=str(folder),
        notes=tuple(notes),
        our_words=None if words is None else words.words,
    )


def load_packs(content_dir: Path) -> list[PolicyPack]:
    """Every policy folder under content/ (a folder with an index.md)."""
    folders = sorted(p.parent for p in content_dir.glob("*/index.md"))
    if not folders:
        raise PackError([Problem(_display(content_dir), 1, "no policy folders (with index.md)")])
    problems: list[Problem] = []
    packs = []
    for folder in folders:
        try:
            packs.append(load_pack(folder))
        except PackError as exc:
            problems.extend(exc.problems)
    if problems:
        raise PackError(problems)
    return packs


@lru_cache(maxsize=8)
def _packs_at(content_dir: str, stamp: tuple[tuple[str, float], ...]) -> tuple[PolicyPack, ...]:
    del stamp  # part of the cache key only
    return tuple(load_packs(Path(content_dir)))


def load_packs_cached(content_dir: str) -> tuple[PolicyPack, ...]:
    """load_packs, parsed again only when a file changes (app factories call it often)."""
    files = sorted(Path(content_dir).glob("*/*.md"))
    return _packs_at(content_dir, tuple((str(f), f.stat().st_mtime) for f in files))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- showing a published text ------------------------------------------------------------------


@dataclass(frozen=True)
class LocalDetails:
    """An organisation's local details as the text shows them: every placeholder's value
    (defaults filled in), and which ones the council has set (what {{#if}} asks)."""

    values: Mapping[str, str]
    set: frozenset[str]


def local_details(organisation_name: str, configured: Mapping[str, str]) -> LocalDetails:
    given = {k: v for k, v in configured.items() if k in PLACEHOLDERS and v}
    values = {name: default for name, (_, default) in PLACEHOLDERS.items()}
    values["council_name"] = organisation_name
    values.update(given)
    return LocalDetails(values, frozenset(given) | {"council_name"})


def placeholder_values(organisation_name: str, configured: Mapping[str, str]) -> dict[str, str]:
    return dict(local_details(organisation_name, configured).values)


def resolve_conditionals(text: str, is_set: frozenset[str]) -> str:
    """Keep each conditional's wording for what is set (HTML or Markdown, placeholders kept)."""

    def choose(match: re.Match[str]) -> str:
        return match.group(2) if match.group(1) in is_set else (match.group(3) or "")

    return CONDITIONAL_RE.sub(choose, text)


def personalise(stored_html: str, details: LocalDetails, section_url: Callable[[str], str]) -> str:
    """Choose the conditional wording, fill in an organisation's details (escaped, and never
    read again as markers) and turn section links into URLs."""
    chosen = resolve_conditionals(stored_html, details.set)
    if chosen != stored_html:
        emptied = ""
        while emptied != chosen:
            emptied, chosen = chosen, _EMPTY_RE.sub("", chosen)
    filled = PLACEHOLDER_RE.sub(lambda m: html.escape(details.values.get(m.group(1), "")), chosen)

    def link(match: re.Match[str]) -> str:
        key, _, anchor = match.group(1).partition("#")
        return 'href="' + html.escape(section_url(key) + (f"#{anchor}" if anchor else "")) + '"'

    return re.sub(r'href="section:([^"]*)"', link, filled)


def read_as(markdown: str, details: LocalDetails) -> str:
    """The Markdown as an organisation's readers meet it, for an author to read in a terminal
    (`content preview`): conditionals chosen, details filled in, nothing left empty."""
    text = resolve_conditionals(markdown, details.set)
    text = PLACEHOLDER_RE.sub(lambda m: details.values.get(m.group(1), ""), text)
    text = re.sub(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]*$\n?", "", text, flags=re.M)  # emptied items
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
