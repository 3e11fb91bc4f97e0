"""Every form on a page, as a browser sees it: method, action and fields with their choices."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Field:
    name: str
    kind: str  # the input's type, or "select" / "textarea"
    values: list[str] = field(default_factory=list)  # the value(s) or choices the page offers


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, Field] = field(default_factory=dict)

    @property
    def csrf_token(self) -> str | None:
        found = self.fields.get("csrf_token")
        return found.values[0] if found and found.values else None


class _Parser(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.select: Field | None = None

    def _add(self, name: str, kind: str, value: str | None) -> Field:
        assert self.current is not None
        found = self.current.fields.setdefault(name, Field(name, kind))
        if value is not None and value not in found.values:
            found.values.append(value)
        return found

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            action = a.get("action") or self.page_url
            self.current = Form((a.get("method") or "get").lower(), action)
            self.forms.append(self.current)
        elif tag == "option" and self.select is not None:
            if a.get("value") is not None:
                self.select.values.append(a["value"] or "")
            return
        if self.current is None or not a.get("name"):
            return
        elif tag in ("input", "button"):
            kind = (a.get("type") or ("submit" if tag == "button" else "text")).lower()
            self._add(a["name"] or "", kind, a.get("value"))
        elif tag == "textarea":
            self._add(a["name"] or "", "textarea", None)
        elif tag == "select":
            self.select = self._add(a["name"] or "", "select", None)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None


def forms_on(html: str, page_url: str) -> list[Form]:
    parser = _Parser(page_url.split("?")[0])
    parser.feed(html)
    return parser.forms
