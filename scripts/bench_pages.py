"""Page benchmark: the time to serve a section page, and the bytes of a first page load.

Targets: server time to render a section page p95 under 20 ms; under 150 KB transferred per
page on first load, fonts excluded.

Time, at concurrency 1 against a warmed gunicorn (2 workers) on PostgreSQL, a handful of
launched people each reading every section several times (GET /sections/<key>, a new
loopback connection per request, as gunicorn's sync workers close it anyway):
  - end-to-end latency seen by the client (an upper bound on server time: it adds the
    loopback TCP set-up and the client's own parsing);
  - gunicorn's own request time (its access log's %(D)s: from the parsed request to the last
    byte written; the app is not changed to measure it);
  - the tool's CPU milliseconds per request, from /proc, for the gunicorn processes.
A section page also records the read (an INSERT ... ON CONFLICT, and, by design, an audit
event the first time), so a person's first opening of a section and repeat reads are shown
apart, with the rows the requests added.

Bytes: for the overview `/` and a section page, the HTML plus each same-origin resource a
first load fetches: stylesheets, module scripts and their static imports, <img>, the icon a
browser picks, and images the CSS refers to where the page uses the rule's class. Fonts
(woff, woff2) are excluded, as the target says. Raw bytes as served, and gzip sizes computed
here (level 6), since the tool itself may not compress.

    .venv/bin/python -m scripts.bench_pages [--people 5] [--requests 450] [--max-seconds 120]

It works in its own PostgreSQL schema (dropped afterwards) and sends traffic only to
127.0.0.1. This is a benchmark that prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import time
import urllib.parse
from dataclasses import dataclass
from html.parser import HTMLParser

import sqlalchemy as sa

from scripts.bench_common import (
    DEFAULT_DATABASE_URL,
    Browser,
    Tool,
    access_log_times,
    cpu_ticks,
    launch,
    machine_note,
    percentile,
    running_tool,
    ticks_to_ms,
)

SCHEMA = "bench_pages"
TARGET_P95_MS = 20.0
TARGET_KB = 150.0
FONT_EXTENSIONS = (".woff", ".woff2", ".ttf", ".otf", ".eot")
SECTION_LINK = re.compile(r'href="(/sections/[a-z0-9-]+)"')


# -- time ------------------------------------------------------------------------------------


@dataclass
class Timed:
    path: str
    first: bool
    client_s: float
    ok: bool
    server_s: float | None = None


def written(tool: Tool) -> dict[str, int]:
    """Row counts that a section page may add to (its read, and the audit trail)."""
    engine = sa.create_engine(tool.schema_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return {
                "section_read": conn.scalar(sa.text("SELECT count(*) FROM section_read")) or 0,
                "audit_event": conn.scalar(sa.text("SELECT count(*) FROM audit_event")) or 0,
                "audited_reads": conn.scalar(
                    sa.text("SELECT count(*) FROM audit_event WHERE action = 'section_read'")
                )
                or 0,
            }
    finally:
        engine.dispose()


def summary(label: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    if not ms:
        return f"  {label:<44} {'-':>6}"
    return (
        f"  {label:<44} {len(ms):>6} {statistics.median(ms):>8.1f} "
        f"{percentile(ms, 0.95):>8.1f} {ms[-1]:>8.1f}"
    )


def time_sections(
    tool: Tool, people: list[Browser], sections: list[str], limit: int, max_seconds: float
) -> dict[str, float | None]:
    deadline = time.monotonic() + max_seconds
    read: set[tuple[int, str]] = set()
    results: list[Timed] = []
    rows_before = written(tool)
    _, offset = access_log_times(tool.access_log, 0)
    before = cpu_ticks(tool.pids)
    started = time.monotonic()
    stop = False
    while not stop:
        for i, browser in enumerate(people):
            for path in sections:
                if len(results) >= limit or time.monotonic() > deadline:
                    stop = True
                    break
                first = (i, path) not in read
                read.add((i, path))
                resp = browser.get(path)
                ok = resp.status == 200 and "govuk-template" in resp.text
                results.append(Timed(path, first, resp.seconds, ok))
            if stop:
                break
    wall = time.monotonic() - started
    ticks = cpu_ticks(tool.pids) - before
    rows_after = written(tool)
    logged, _ = access_log_times(tool.access_log, offset, expect=len(results))
    # The last lines: one of the warm-up's may have been written after `offset` was taken.
    logged = [row for row in logged if row[1].startswith("/sections/")][-len(results) :]
    matched = len(logged) == len(results) and all(
        row[1] == r.path for row, r in zip(logged, results, strict=True)
    )
    if matched:
        for row, r in zip(logged, results, strict=True):
            r.server_s = row[3]
    n = len(results)
    errors = sum(1 for r in results if not r.ok)
    print(
        f"\nSection pages: {n} requests at concurrency 1 over {len(people)} people and "
        f"{len(sections)} sections in {wall:.1f}s, {errors} errors"
    )
    print(f"  {'':<44} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    print(summary("end-to-end latency (client), all", [r.client_s for r in results]))
    print(summary("  first openings (by that person)", [r.client_s for r in results if r.first]))
    print(summary("  repeat reads", [r.client_s for r in results if not r.first]))
    if matched:
        print(summary("gunicorn request time (server), all", [r.server_s or 0 for r in results]))
        print(summary("  first openings", [r.server_s or 0 for r in results if r.first]))
        print(summary("  repeat reads", [r.server_s or 0 for r in results if not r.first]))
    else:
        print("  gunicorn request time: access log did not match the requests; not shown")
    cpu_ms = ticks_to_ms(ticks) / n if n else float("nan")
    print(f"  tool CPU (gunicorn processes, /proc): {cpu_ms:.1f} ms per section request")
    firsts = sum(1 for r in results if r.first)
    print(
        f"  rows written by these requests: section_read "
        f"+{rows_after['section_read'] - rows_before['section_read']}, audit_event "
        f"+{rows_after['audit_event'] - rows_before['audit_event']} (of which 'section_read' "
        f"+{rows_after['audited_reads'] - rows_before['audited_reads']}), for {firsts} first "
        f"openings and {n - firsts} repeat reads"
    )
    client_p95 = percentile(sorted(r.client_s * 1000 for r in results), 0.95)
    server_p95 = (
        percentile(sorted((r.server_s or 0) * 1000 for r in results), 0.95) if matched else None
    )
    return {"client_p95": client_p95, "server_p95": server_p95, "cpu_ms": cpu_ms}


def time_overview(tool: Tool, people: list[Browser], count: int) -> None:
    _, offset = access_log_times(tool.access_log, 0)
    before = cpu_ticks(tool.pids)
    lat: list[float] = []
    for k in range(count):
        resp = people[k % len(people)].get("/")
        if resp.status == 200:
            lat.append(resp.seconds)
    ticks = cpu_ticks(tool.pids) - before
    logged, _ = access_log_times(tool.access_log, offset, expect=count)
    server = [row[3] for row in logged if row[1] == "/"][-count:]
    print(f"\nOverview page `/` (for comparison): {count} requests at concurrency 1")
    print(f"  {'':<44} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    print(summary("end-to-end latency (client)", lat))
    print(summary("gunicorn request time (server)", server))
    print(
        f"  tool CPU (gunicorn processes, /proc): {ticks_to_ms(ticks) / count:.1f} ms per request"
    )


# -- bytes -----------------------------------------------------------------------------------


class Refs(HTMLParser):
    """The resources an HTML page makes a browser fetch on first load."""

    def __init__(self) -> None:
        super().__init__()
        self.stylesheets: list[str] = []
        self.scripts: list[str] = []
        self.images: list[str] = []
        self.icons: list[tuple[str, str]] = []  # (href, type)
        self.not_fetched: list[tuple[str, str]] = []  # (href, rel)
        self.classes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.classes.update(a.get("class", "").split())
        rel = a.get("rel", "").lower().split()
        if tag == "link" and "stylesheet" in rel:
            self.stylesheets.append(a["href"])
        elif tag == "link" and "modulepreload" in rel:
            self.scripts.append(a["href"])
        elif tag == "link" and "icon" in rel:
            self.icons.append((a["href"], a.get("type", "")))
        elif tag == "link" and a.get("href"):
            self.not_fetched.append((a["href"], " ".join(rel)))
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        elif tag in ("img", "input") and a.get("src"):
            self.images.append(a["src"])


IMPORT = re.compile(
    r"""(?:^|[;\s}])(?:import\s*(?:[\w$*{}\s,]+?\s*from\s*)?|export\s*[\w$*{}\s,]*?from\s*)
        ["']([^"']+)["']""",
    re.VERBOSE,
)
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""")


def same_origin(origin: str, base: str, ref: str) -> str | None:
    """The path of `ref` (relative to `base`) if it is on the tool's own origin."""
    if ref.startswith("data:"):
        return None
    full = urllib.parse.urljoin(origin + base, ref)
    if not full.startswith(origin + "/"):
        return None
    return full[len(origin) :]


@dataclass
class Row:
    path: str
    kind: str
    status: int
    header_bytes: int
    body_bytes: int
    gzip_bytes: int
    encoding: str
    cache: str
    counted: bool


ACCEPT = {"Accept-Encoding": "gzip, deflate, br"}


def fetch(browser: Browser, path: str, kind: str, counted: bool = True) -> tuple[Row, bytes]:
    resp = browser.get(path, headers=ACCEPT)
    encoding = resp.header("Content-Encoding") or "none"
    body = resp.body
    plain = gzip.decompress(body) if encoding == "gzip" else body
    return (
        Row(
            path,
            kind,
            resp.status,
            resp.header_bytes,
            len(body),
            len(gzip.compress(plain, compresslevel=6, mtime=0)),
            encoding,
            resp.header("Cache-Control") or "-",
            counted and resp.status == 200,
        ),
        plain,
    )


def css_images(css: str, page_classes: set[str]) -> tuple[set[str], set[str], set[str]]:
    """(used image refs, unused image refs, font refs) of a stylesheet, for this page.

    An image counts when the rule's selector names a class the page's HTML uses (a browser
    fetches a background image only for an element that matches)."""
    used: set[str] = set()
    unused: set[str] = set()
    fonts: set[str] = set()
    for match in CSS_URL.finditer(css):
        ref = match.group(1).strip()
        if ref.startswith("data:"):
            continue
        if ref.split("?")[0].split("#")[0].lower().endswith(FONT_EXTENSIONS):
            fonts.add(ref)
            continue
        # The selector of the innermost rule around the url() (inside @supports/@media too).
        block = css.rfind("{", 0, match.start())
        selector = css[max(css.rfind("}", 0, block), css.rfind("{", 0, block)) + 1 : block]
        classes = set(re.findall(r"\.([A-Za-z0-9_-]+)", selector))
        (used if not classes or classes & page_classes else unused).add(ref)
    return used, unused - used, fonts


def first_load(browser: Browser, page: str) -> tuple[list[Row], list[str]]:
    origin = browser.origin
    notes: list[str] = []
    html_row, html = fetch(browser, page, "HTML")
    rows = [html_row]
    refs = Refs()
    refs.feed(html.decode("utf-8", "replace"))
    seen = {page}

    def add(path: str | None, kind: str, counted: bool = True) -> bytes | None:
        if path is None or path in seen:
            return None
        seen.add(path)
        row, body = fetch(browser, path, kind, counted)
        rows.append(row)
        return body

    for href in refs.stylesheets:
        path = same_origin(origin, page, href)
        css = add(path, "stylesheet")
        if css is None or path is None:
            continue
        used, unused, fonts = css_images(css.decode("utf-8", "replace"), refs.classes)
        for ref in sorted(used):
            add(same_origin(origin, path, ref), "CSS image")
        for ref in sorted(unused):
            add(same_origin(origin, path, ref), "CSS image, unused here", counted=False)
        if fonts:
            font_rows = [
                fetch(browser, p, "font", counted=False)[0]
                for p in sorted(filter(None, (same_origin(origin, path, f) for f in fonts)))
            ]
            woff2 = [r for r in font_rows if r.path.endswith(".woff2")]
            notes.append(
                f"fonts excluded (target): {path} names {len(font_rows)} font files, "
                f"{sum(r.body_bytes for r in font_rows) / 1024:.1f} KB; a browser that reads "
                f"woff2 fetches at most {len(woff2)}, "
                f"{sum(r.body_bytes for r in woff2) / 1024:.1f} KB, once for the whole site"
            )
    queue = [(src, page) for src in refs.scripts]
    while queue:
        src, base = queue.pop(0)
        path = same_origin(origin, base, src)
        js = add(path, "script" if base == page else "script import")
        if js is None or path is None:
            continue
        for spec in IMPORT.findall(js.decode("utf-8", "replace")):
            if spec.startswith(("/", "./", "../")):
                queue.append((spec, path))
    for src in refs.images:
        add(same_origin(origin, page, src), "img")
    if refs.icons:
        svg = [h for h, t in refs.icons if "svg" in t or h.endswith(".svg")]
        chosen = svg[0] if svg else refs.icons[0][0]
        add(same_origin(origin, page, chosen), "icon (the one a browser picks)")
        for href, _ in refs.icons:
            if href != chosen:
                add(same_origin(origin, page, href), "icon, alternative", counted=False)
    for href, rel in refs.not_fetched:
        add(same_origin(origin, page, href), f"{rel} (not on first load)", counted=False)
    return rows, notes


def print_bytes(page: str, rows: list[Row], notes: list[str]) -> dict[str, float]:
    print(f"\nFirst load of {page}")
    print(
        f"  {'resource':<44} {'kind':<30} {'st':>3} {'headers':>7} {'body B':>8} "
        f"{'gzip B':>8} {'enc':>5} {'cache-control':<16} counted"
    )
    for r in rows:
        print(
            f"  {r.path[:44]:<44} {r.kind[:30]:<30} {r.status:>3} {r.header_bytes:>7} "
            f"{r.body_bytes:>8} {r.gzip_bytes:>8} {r.encoding[:5]:>5} {r.cache[:16]:<16} "
            f"{'yes' if r.counted else 'no'}"
        )
    counted = [r for r in rows if r.counted]
    body = sum(r.body_bytes for r in counted)
    headers = sum(r.header_bytes for r in counted)
    gz = sum(r.gzip_bytes for r in counted)
    print(
        f"  total counted: {len(counted)} requests, {body / 1024:.1f} KB of bodies as served "
        f"+ {headers / 1024:.1f} KB of response headers = {(body + headers) / 1024:.1f} KB; "
        f"with gzip: {gz / 1024:.1f} KB of bodies (+ headers {(gz + headers) / 1024:.1f} KB)"
    )
    html = rows[0]
    print(
        f"  of which the HTML: {html.body_bytes / 1024:.1f} KB raw, "
        f"{html.gzip_bytes / 1024:.1f} KB gzipped"
    )
    for note in notes:
        print(f"  {note}")
    return {"raw": (body + headers) / 1024, "gzip": (gz + headers) / 1024}


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--people", type=int, default=5)
    parser.add_argument("--requests", type=int, default=450, help="section requests timed")
    parser.add_argument("--overview-requests", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    print(f"Page benchmark: gunicorn {args.workers} sync workers, PostgreSQL; {machine_note()}")
    with running_tool(args.database_url, SCHEMA, args.workers) as tool:
        p = tool.platform
        # Warm up every worker (templates, content, pools) with someone not timed.
        warm = tool.browser()
        overview = launch(warm, p.issuer, p.key, p.kid, "warm-up")
        sections = list(dict.fromkeys(SECTION_LINK.findall(overview.text)))
        for _ in range(4):
            for path in ["/", *sections]:
                warm.get(path)
        people = []
        for n in range(args.people):
            browser = tool.browser()
            launch(browser, p.issuer, p.key, p.kid, f"reader-{n}")
            people.append(browser)
        figures = time_sections(tool, people, sections, args.requests, args.max_seconds)
        time_overview(tool, people, args.overview_requests)

        fresh = tool.browser()
        launch(fresh, p.issuer, p.key, p.kid, "first-load")
        sizes = {}
        compresses = False
        for page in ("/", sections[0]):
            rows, notes = first_load(fresh, page)
            sizes[page] = print_bytes(page, rows, notes)
            compresses |= any(r.encoding != "none" for r in rows if r.status == 200)
        print(
            "\n  The tool "
            + ("compresses" if compresses else "does not compress")
            + " responses itself (asked with Accept-Encoding: gzip, deflate, br); gzip sizes "
            "are what a compressing proxy in front of it would send."
        )
        problems = tool.log_problems()

    print("\nConclusion")
    client_p95 = figures["client_p95"] or float("nan")
    server_p95 = figures["server_p95"]
    shown = server_p95 if server_p95 is not None else client_p95
    print(
        f"  Section page server time p95: {shown:.1f} ms "
        f"({'gunicorn request time' if server_p95 is not None else 'end-to-end'}; "
        f"end-to-end {client_p95:.1f} ms; tool CPU {figures['cpu_ms'] or 0:.1f} ms "
        f"per request) -> target under {TARGET_P95_MS:.0f} ms "
        f"{'MET' if shown < TARGET_P95_MS else 'NOT MET'}"
    )
    for page, size in sizes.items():
        print(
            f"  First load of {page}: {size['raw']:.1f} KB as served, fonts excluded -> target "
            f"under {TARGET_KB:.0f} KB {'MET' if size['raw'] < TARGET_KB else 'NOT MET'}"
            f" (with gzip it would be {size['gzip']:.1f} KB: "
            f"{'met' if size['gzip'] < TARGET_KB else 'not met'})"
        )
    print(
        f"  Load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores: above "
        "the core count, latencies include waiting for a CPU; the CPU per request does not."
    )
    if problems:
        print(f"  The tool logged {len(problems)} error lines, first: {problems[0][:200]}")


if __name__ == "__main__":
    main()
