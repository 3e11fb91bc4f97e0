"""GOV.UK Frontend components for every template, the pure ones memoised.

A GOV.UK macro's HTML depends on its parameters alone, and rendering one costs far more than
looking it up: each call re-imports its helper macros, and GOV.UK's page template renders the
header block twice. The layout (header, navigation) and the journey's small components repeat
with the same parameters on page after page, so the HTML is kept per parameters, in a bounded
cache per process (and so are the addresses templates build with url_for, CachedUrlFor
below). Components that show people's records (tables, summary lists) are not
memoised: templates import those as usual, and a template whose summary list names nobody
may ask for memoised.govukSummaryList.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import Flask, request
from jinja2 import Environment
from markupsafe import Markup

MEMOISED = {
    "govukGenericHeader": "generic-header",
    "govukServiceNavigation": "service-navigation",
    "govukSkipLink": "skip-link",
    "govukBackLink": "back-link",
    "govukButton": "button",
    "govukTag": "tag",
    "govukTaskList": "task-list",
}
# Memoised only where a template asks for memoised.<name>: summary lists elsewhere show
# people's records, which need not linger in a cache.
ON_REQUEST = {"govukSummaryList": "summary-list"}
CACHE_SIZE = 512  # per component; full means cleared, not grown


class _Uncacheable(Exception):
    pass


def _key(value: Any) -> Any:
    """A hashable stand-in for a macro's parameters that keeps what changes the HTML:
    Markup is kept apart from the same text as a plain string (one is escaped, one not),
    and True apart from 1. Run on every component call, so the common exact types are
    tested first, by identity (Markup is a str subclass and so is not `str`)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is dict:
        return ("dict", *[(k, _key(v)) for k, v in value.items()])
    if kind is list or kind is tuple:
        return ("list", *[_key(v) for v in value])
    if isinstance(value, Markup):
        return ("markup", str(value))
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return ("dict", *[(k, _key(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return ("list", *[_key(v) for v in value])
    if value is None or isinstance(value, bool | int | float):
        return (kind.__name__, value)
    raise _Uncacheable


class Memoised:
    """Calls a macro once per distinct parameters; anything unusual goes straight through."""

    def __init__(self, macro: Any, size: int = CACHE_SIZE) -> None:
        self.macro = macro
        self.size = size
        self.cache: dict[Any, Markup] = {}

    def __call__(self, params: Any = None, *args: Any, **kwargs: Any) -> Markup:
        if args or kwargs:
            return self.macro(params, *args, **kwargs)
        try:
            key = _key(params)
        except _Uncacheable:
            return self.macro(params)
        html = self.cache.get(key)
        if html is None:
            html = self.macro(params)
            if len(self.cache) >= self.size:
                self.cache.clear()
            self.cache[key] = html
        return html


def component(env: Environment, name: str) -> Any:
    folder = {**MEMOISED, **ON_REQUEST}[name]
    template = env.get_template(f"govuk_frontend_jinja/components/{folder}/macro.html")
    return getattr(template.module, name)


class CachedUrlFor:
    """Templates' url_for, kept per process: a page builds the same two dozen addresses
    (assets, navigation, footer, sections) for everyone, and werkzeug's builder is slow.
    Only a plain build inside a request is kept: an address without `_external` and the
    like depends on the endpoint, its values and the script root alone, as long as no
    url_defaults function adds values. Anything else goes straight to Flask."""

    def __init__(self, app: Flask, size: int = CACHE_SIZE * 4) -> None:
        self.app = app
        self.size = size
        self.cache: dict[Any, str] = {}

    def __call__(self, endpoint: str, **values: Any) -> str:
        app = self.app
        if (
            endpoint[:1] == "."  # relative to the request's blueprint
            or any(name[:1] == "_" for name in values)  # _external, _anchor, _scheme, _method
            or any(app.url_default_functions.values())
        ):
            return app.url_for(endpoint, **values)
        try:
            key = (request.script_root, endpoint, *[(k, type(v), v) for k, v in values.items()])
            url = self.cache.get(key)
        except (RuntimeError, TypeError):  # outside a request; a value that is not hashable
            return app.url_for(endpoint, **values)
        if url is None:
            url = app.url_for(endpoint, **values)
            if len(self.cache) >= self.size:
                self.cache.clear()
            self.cache[key] = url
        return url


def init_govuk(app: Flask) -> None:
    app.jinja_env.globals["url_for"] = CachedUrlFor(app)
    memoised = {name: Memoised(component(app.jinja_env, name)) for name in MEMOISED}
    app.jinja_env.globals.update(memoised)
    # GOV.UK's page template imports its own skip link and menu, which hide the globals in
    # the blocks the base layout fills: there it calls them as memoised.<name>.
    on_request = {name: Memoised(component(app.jinja_env, name)) for name in ON_REQUEST}
    app.jinja_env.globals["memoised"] = SimpleNamespace(**memoised, **on_request)
