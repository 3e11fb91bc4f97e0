"""Acceptance benchmark: 200 concurrent acceptances from distinct people, then the checks.

Against gunicorn (2 sync workers) on PostgreSQL. Before the timed part, each person is
brought through the real pages to "quiz passed, awaiting acceptance": an LTI launch (a signed
id_token with no Assignment and Grade Services claim, so no score is sent anywhere), every
section read, the quiz started and answered correctly (right answers read from the database,
as the tests do), the declaration page and its check page (POST /accept), which gives the
CSRF token of the final form. That takes a while; a few processes share it.

Timed: the final POST /accept/confirm of every person at once (threads in a few processes,
released together), each from that person's own session. Prints acceptances/s over the
burst, p50/p95/max latency, errors and the tool's CPU milliseconds per acceptance (/proc).

Then: exactly one acceptance row per person (none missing, none twice) in the schema; the
same confirmations sent again (a double submit) must add nothing and lead to the same
record; `flask --app app audit verify` on the schema.

    .venv/bin/python -m scripts.bench_acceptance [--people 200] [--procs 4]

It works in its own PostgreSQL schema (dropped afterwards) and sends traffic only to
127.0.0.1. This is a benchmark that prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import re
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from scripts.bench_common import (
    DEFAULT_DATABASE_URL,
    Browser,
    Tool,
    cpu_ticks,
    launch,
    machine_note,
    percentile,
    person_name,
    running_tool,
    ticks_to_ms,
)

SCHEMA = "bench_acceptance"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SECTION_LINK = re.compile(r'href="(/sections/[a-z0-9-]+)"')
ATTEMPT_ACTION = re.compile(r'action="(/quiz/attempts/(\d+))"')
DONE = re.compile(r"^/accept/done/(\d+)$")


def csrf(html: str) -> str:
    match = CSRF.search(html)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


# -- preparation -----------------------------------------------------------------------------


def right_answers(engine: sa.Engine, attempt: int) -> dict[str, list[str]]:
    """Form data answering every drawn question correctly (positions, as the form sends)."""
    with engine.connect() as conn:
        drawn, questions = conn.execute(
            sa.text(
                "SELECT a.drawn, b.questions FROM quiz_attempt a "
                "JOIN quiz_bank b ON b.id = a.bank_id WHERE a.id = :id"
            ),
            {"id": attempt},
        ).one()
    bank = {q["id"]: q for q in questions}
    data = {}
    for number, item in enumerate(drawn, start=1):
        correct = set(bank[item["id"]]["correct"])
        data[f"q{number}"] = [str(p) for p, oid in enumerate(item["options"], 1) if oid in correct]
    return data


def expect(resp: Any, status: int, what: str) -> None:
    if resp.status != status:
        raise RuntimeError(f"{what} answered {resp.status}, expected {status}")


def prepare_one(
    browser: Browser, engine: sa.Engine, key: Any, issuer: str, kid: str, n: str
) -> str:
    """Launch, read, pass the quiz, reach the check page; the final form's CSRF token."""
    overview = launch(browser, issuer, key, kid, n)
    sections = list(dict.fromkeys(SECTION_LINK.findall(overview.text)))
    if not sections:
        raise RuntimeError("no sections on the overview")
    for path in sections:
        expect(browser.get(path), 200, path)
    quiz = browser.get("/quiz")
    expect(quiz, 200, "GET /quiz")
    if 'action="/quiz/start"' in quiz.text:
        expect(browser.post("/quiz/start", {"csrf_token": csrf(quiz.text)}), 302, "start quiz")
        quiz = browser.get("/quiz")
        expect(quiz, 200, "GET /quiz after start")
    match = ATTEMPT_ACTION.search(quiz.text)
    if not match:
        raise RuntimeError("no quiz attempt form")
    answers = right_answers(engine, int(match.group(2)))
    done = browser.post(match.group(1), {"csrf_token": csrf(quiz.text), **answers})
    expect(done, 302, "quiz submission")
    declaration = browser.get("/accept")
    expect(declaration, 200, "GET /accept (is the quiz passed?)")
    sent = browser.post(
        "/accept",
        {"csrf_token": csrf(declaration.text), "accept": "y", "full_name": person_name(n)},
    )
    expect(sent, 302, "POST /accept")
    check = browser.get("/accept/check")
    expect(check, 200, "GET /accept/check (the check page)")
    return csrf(check.text)


@dataclass
class Ready:
    n: str
    cookies: dict[str, str]
    token: str


def prepare(
    args: tuple[int, str, int, str, bytes, str, list[str], float],
) -> tuple[list[Ready], list[str]]:
    port, schema_url, _proc, issuer, pem, kid, names, deadline_s = args
    key = serialization.load_pem_private_key(pem, password=None)
    engine = sa.create_engine(schema_url, pool_size=1, max_overflow=0)
    deadline = time.monotonic() + deadline_s
    ready: list[Ready] = []
    errors: list[str] = []
    try:
        for n in names:
            if time.monotonic() > deadline:
                errors.append(f"{n}: preparation time limit reached")
                continue
            browser = Browser(port)
            try:
                token = prepare_one(browser, engine, key, issuer, kid, n)
                ready.append(Ready(n, dict(browser.cookies), token))
            except Exception as exc:
                errors.append(f"{n}: {exc}")
    finally:
        engine.dispose()
    return ready, errors


# -- the burst -------------------------------------------------------------------------------


@dataclass
class Sent:
    n: str
    status: int
    location: str
    started: float
    ended: float
    error: str | None = None


def confirm(port: int, person: Ready) -> Sent:
    browser = Browser(port, dict(person.cookies), timeout=120)
    started = time.monotonic()
    try:
        resp = browser.post(
            "/accept/confirm",
            {"csrf_token": person.token, "accept": "y", "full_name": person_name(person.n)},
        )
    except Exception as exc:
        return Sent(person.n, 0, "", started, time.monotonic(), str(exc))
    return Sent(person.n, resp.status, resp.header("Location") or "", started, time.monotonic())


def burst_process(
    port: int, people: list[Ready], barrier: Any, go: Any, results: Any, limit_s: float
) -> None:
    """One load process: a thread per person, all waiting for `go`."""
    sent: list[Sent] = []
    lock = threading.Lock()

    def run(person: Ready) -> None:
        if not go.wait(timeout=limit_s):
            return
        outcome = confirm(port, person)
        with lock:
            sent.append(outcome)

    threads = [threading.Thread(target=run, args=(p,), daemon=True) for p in people]
    for t in threads:
        t.start()
    barrier.wait(timeout=limit_s)
    deadline = time.monotonic() + limit_s
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    with lock:
        results.put(list(sent))


def burst(tool: Tool, people: list[Ready], procs: int, limit_s: float) -> tuple[list[Sent], int]:
    """Every confirmation at once; (outcomes, tool CPU ticks during the burst)."""
    ctx = mp.get_context("spawn")
    chunks = [people[i::procs] for i in range(procs)]
    chunks = [c for c in chunks if c]
    barrier = ctx.Barrier(len(chunks) + 1)
    go = ctx.Event()
    results = ctx.Queue()
    workers = [
        ctx.Process(target=burst_process, args=(tool.port, c, barrier, go, results, limit_s))
        for c in chunks
    ]
    for w in workers:
        w.start()
    barrier.wait(timeout=limit_s)  # every thread started and waiting
    time.sleep(0.2)
    before = cpu_ticks(tool.pids)
    go.set()
    outcomes: list[Sent] = []
    for _ in workers:
        try:
            outcomes.extend(results.get(timeout=limit_s))
        except queue.Empty:
            break
    ticks = cpu_ticks(tool.pids) - before
    for w in workers:
        w.join(timeout=10)
        if w.is_alive():
            w.terminate()
            w.join(timeout=5)
    return outcomes, ticks


def report_burst(label: str, outcomes: list[Sent], expected: int, ticks: int) -> dict[str, float]:
    ok = [o for o in outcomes if o.status == 302 and DONE.match(o.location)]
    errors = expected - len(ok)
    lat = sorted((o.ended - o.started) * 1000 for o in outcomes if o.error is None)
    span = max(o.ended for o in outcomes) - min(o.started for o in outcomes) if outcomes else 0.0
    rate = len(ok) / span if span else float("nan")
    cpu = ticks_to_ms(ticks) / len(ok) if ok else float("nan")
    p50 = statistics.median(lat) if lat else float("nan")
    p95 = percentile(lat, 0.95)
    top = lat[-1] if lat else float("nan")
    print(
        f"  {label:<28} {len(outcomes):>5} {len(ok):>5} {errors:>6} {span:>8.2f} {rate:>8.1f} "
        f"{p50:>8.0f} {p95:>8.0f} {top:>8.0f} {cpu:>8.1f}"
    )
    others: dict[str, int] = {}
    for o in outcomes:
        if not (o.status == 302 and DONE.match(o.location)):
            kind = o.error or f"{o.status} {o.location}"
            others[kind] = others.get(kind, 0) + 1
    for kind, count in sorted(others.items(), key=lambda kv: -kv[1])[:5]:
        print(f"    {count} x {kind[:120]}")
    return {"rate": rate, "p95": p95, "errors": errors, "cpu": cpu}


# -- checks ----------------------------------------------------------------------------------


def recorded(tool: Tool, subjects: list[str]) -> dict[str, Any]:
    engine = sa.create_engine(tool.schema_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            total = conn.scalar(sa.text("SELECT count(*) FROM acceptance"))
            per_person = dict(
                conn.execute(
                    sa.text(
                        "SELECT p.subject, count(a.id) FROM person p "
                        "LEFT JOIN acceptance a ON a.person_id = p.id "
                        "WHERE p.subject = ANY(:subjects) GROUP BY p.subject"
                    ),
                    {"subjects": subjects},
                ).all()
            )
            ids = dict(
                conn.execute(
                    sa.text(
                        "SELECT p.subject, min(a.id) FROM person p "
                        "JOIN acceptance a ON a.person_id = p.id GROUP BY p.subject"
                    )
                ).all()
            )
            audited = conn.execute(
                sa.text(
                    "SELECT count(*), count(DISTINCT details::jsonb ->> 'acceptance') "
                    "FROM audit_event WHERE action = 'acceptance'"
                )
            ).one()
            events = conn.scalar(sa.text("SELECT count(*) FROM audit_event"))
            outbox = conn.scalar(sa.text("SELECT count(*) FROM score_outbox"))
    finally:
        engine.dispose()
    return {
        "total": total,
        "per_person": per_person,
        "ids": ids,
        "audited": tuple(audited),
        "events": events,
        "outbox": outbox,
    }


def print_records(label: str, rec: dict[str, Any], subjects: list[str]) -> bool:
    counts = [rec["per_person"].get(s, 0) for s in subjects]
    once = sum(1 for c in counts if c == 1)
    missing = sum(1 for c in counts if c == 0)
    twice = sum(1 for c in counts if c > 1)
    good = rec["total"] == len(subjects) and once == len(subjects)
    print(
        f"  {label}: {rec['total']} rows in acceptance; of {len(subjects)} people "
        f"{once} recorded once, {missing} missing, {twice} more than once; audit events "
        f"'acceptance': {rec['audited'][0]} ({rec['audited'][1]} distinct records) "
        f"-> {'OK' if good else 'WRONG'}"
    )
    return good


def same_records(outcomes: list[Sent], rec: dict[str, Any]) -> tuple[int, int]:
    """How many responses redirected to that person's own (single) record."""
    match = 0
    for o in outcomes:
        m = DONE.match(o.location)
        if m and rec["ids"].get(f"bench-{o.n}") == int(m.group(1)):
            match += 1
    return match, len(outcomes)


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--procs", type=int, default=4, help="load processes")
    parser.add_argument("--prep-max-seconds", type=float, default=900.0)
    parser.add_argument("--burst-max-seconds", type=float, default=180.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    print(
        f"Acceptance benchmark: {args.people} people, gunicorn {args.workers} sync workers, "
        f"PostgreSQL; {machine_note()}"
    )
    with running_tool(args.database_url, SCHEMA, args.workers) as tool:
        p = tool.platform
        names = [f"acc-{i:04d}" for i in range(args.people)]
        started = time.monotonic()
        ready: list[Ready] = []
        prep_errors: list[str] = []
        ctx = mp.get_context("spawn")
        with ctx.Pool(args.procs) as pool:
            jobs = [
                (
                    tool.port,
                    tool.schema_url,
                    i,
                    p.issuer,
                    p.pem(),
                    p.kid,
                    names[i :: args.procs],
                    args.prep_max_seconds,
                )
                for i in range(args.procs)
            ]
            for got, errs in pool.map(prepare, jobs):
                ready.extend(got)
                prep_errors.extend(errs)
        prep_s = time.monotonic() - started
        print(
            f"\nPreparation (not timed as the benchmark): {len(ready)} of {args.people} people "
            f"launched, read every section, passed the quiz and reached the check page in "
            f"{prep_s:.0f}s with {args.procs} processes ({len(prep_errors)} failed)"
        )
        for err in prep_errors[:5]:
            print(f"  failed: {err}")

        header = (
            f"  {'':<28} {'sent':>5} {'ok':>5} {'errors':>6} {'span s':>8} {'ok/s':>8} "
            f"{'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'CPU ms':>8}"
        )
        print(
            f"\nBurst: {len(ready)} POST /accept/confirm released together ({args.procs} processes)"
        )
        print(header)
        outcomes, ticks = burst(tool, ready, args.procs, args.burst_max_seconds)
        first = report_burst("first submission", outcomes, len(ready), ticks)
        print(
            "  (ok: 302 to /accept/done/<id>; span: first request sent to last response; "
            "CPU ms: the tool's, per ok response)"
        )

        subjects = [f"bench-{r.n}" for r in ready]
        print("\nChecks")
        rec = recorded(tool, subjects)
        ok_once = print_records("after the burst", rec, subjects)
        mine, total = same_records(outcomes, rec)
        print(f"  {mine} of {total} responses redirected to that person's own record")
        print(f"  scores queued for an LMS: {rec['outbox']} (the launches offer no AGS endpoint)")

        print(f"\nDouble submit: the same {len(ready)} confirmations sent again, together")
        print(header)
        again, ticks2 = burst(tool, ready, args.procs, args.burst_max_seconds)
        report_burst("second submission", again, len(ready), ticks2)
        rec2 = recorded(tool, subjects)
        ok_twice = print_records("after the double submit", rec2, subjects)
        mine2, total2 = same_records(again, rec2)
        print(
            f"  {mine2} of {total2} repeat responses redirected to the record made the first time"
        )

        verify = tool.flask("audit", "verify")
        output = (verify.stdout + verify.stderr).strip()
        print(f"\n`flask --app app audit verify` (exit {verify.returncode}):")
        for line in output.splitlines():
            print(f"  {line}")
        print(f"  audit events in the schema: {rec2['events']}")
        problems = tool.log_problems()

    print("\nConclusion")
    print(
        f"  {len(ready)} concurrent acceptances: {first['rate']:.1f} acceptances/s over the "
        f"burst, p95 {first['p95']:.0f} ms, {first['errors']} errors, "
        f"{first['cpu']:.1f} ms of tool CPU per acceptance"
    )
    print(
        f"  Recorded exactly once each: {'yes' if ok_once else 'NO'}; unchanged after a "
        f"double submit: {'yes' if ok_twice else 'NO'}; audit chain "
        f"{'verifies' if verify.returncode == 0 and 'BROKEN' not in output else 'DOES NOT verify'}"
    )
    if problems:
        print(f"  The tool logged {len(problems)} error lines, first: {problems[0][:200]}")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
