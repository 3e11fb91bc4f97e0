"""HR benchmark: a large council on PostgreSQL, then HR's dashboard, exports and roster import.

Builds, in its own PostgreSQL schema (dropped afterwards):
- 3 published versions of the policy (2024, 2025 and a 2026 correction that does not ask
  people to accept again), from copies of the shipped content;
- 100,000 people, through the real roster import (`flask roster import`, timed: it is one
  of the figures), in 6 directorates and 42 departments with 2,000 line managers;
- their history, written straight into the tables (COPY, seeded random): 2024's signed
  paper declarations entered by HR, then acceptances in the tool of the later versions with
  their section reads, quiz attempts and submissions, people part way through, and about
  1,000,000 audit events carrying a real hash chain (so that `flask audit verify` holds:
  it is run and timed at the end), then VACUUM ANALYZE, as autovacuum would do.

Then, against gunicorn (2 sync workers) with an HR person's session from a real LTI launch:
- the dashboard (/hr/) and the people list, server time from gunicorn's access log; the
  dashboard in turn with its own aggregate queries run straight in PostgreSQL (psycopg);
- the committee report (issue 17: at most 3x the dashboard's time, under 300 MB): its page
  (/hr/report, today and the last quarter) and its PDF, each in turn with the dashboard,
  and the workers' peak memory meanwhile;
- the CSV and Excel exports of everyone through HR's download form, three times each
  (`--export-runs`): server time, rows, and the worker's peak memory (its VmHWM, reset
  before each export); beside each pair, the yardstick: `COPY (SELECT ...) TO STDOUT WITH
  CSV HEADER` of the export's rows and columns as stored, same order, through psycopg
  (issue 16: CSV at most 2x it, XLSX at most 10x, every export under 300 MB);
- the same exports from the command line (`flask export`): wall time and peak memory;
- a second roster import of the same file (HR's usual weekly refresh: nothing new).

    .venv/bin/python -m scripts.bench_hr [--people 100000] [--events 1000000]

Targets: dashboard at most 2x its plain SQL (issue 16); CSV of 100,000 rows under 3 s and
XLSX under 15 s, peak memory under 500 MB; roster import of 100,000 rows under 20 s.
This prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import psycopg
import sqlalchemy as sa

from scripts.bench_common import (
    DEFAULT_DATABASE_URL,
    LEARNER,
    ROOT,
    Tool,
    access_log_times,
    launch,
    machine_note,
    percentile,
    running_tool,
)

SCHEMA = "bench_hr"
ORG = "Bench Council"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
TODAY = date.today()
SEED = 20261128

# (version, effective date, requires everyone to accept again)
VERSIONS = [
    ("2024", date(2024, 4, 1), True),
    ("2025", date(2025, 4, 1), True),
    ("2025.1", date(2026, 4, 1), False),
]
DIRECTORATES = {
    "Adults and Health": [
        "Adult Social Care",
        "Commissioning",
        "Safeguarding Adults",
        "Learning Disabilities",
        "Mental Health",
        "Occupational Therapy",
        "Reablement",
    ],
    "Children's Services": [
        "Children in Care",
        "Fostering",
        "Adoption",
        "Leaving Care",
        "Education",
        "Early Help",
        "Youth Justice",
        "SEND",
    ],
    "Place": [
        "Housing",
        "Planning",
        "Highways",
        "Waste",
        "Parks",
        "Regeneration",
        "Environmental Health",
    ],
    "Resources": ["Human Resources", "Finance", "Legal", "ICT", "Procurement", "Payroll", "Audit"],
    "Chief Executive's": [
        "Communications",
        "Policy",
        "Democratic Services",
        "Elections",
        "Performance",
        "Customer Services",
    ],
    "Public Health": [
        "Health Protection",
        "Health Improvement",
        "Public Health Intelligence",
        "Substance Misuse",
        "Sexual Health",
        "Healthy Schools",
        "Wellbeing",
    ],
}
FIRST = [
    "Aisha",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Finn",
    "Grace",
    "Hamza",
    "Isla",
    "Jack",
    "Kiran",
    "Leah",
    "Mo",
    "Nia",
    "Owen",
    "Priya",
    "Rhys",
    "Sana",
    "Tom",
    "Zoe",
]
LAST = [
    "Ahmed",
    "Brown",
    "Clarke",
    "Davies",
    "Evans",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Khan",
    "Lewis",
    "Morgan",
    "Patel",
    "Roberts",
    "Shah",
    "Taylor",
    "Walker",
    "Wright",
]


# -- the yardstick: plain SQL straight in PostgreSQL ------------------------------------------


def as_sql(statement: Any, params: Mapping[str, Any], dialect: Any) -> tuple[str, dict[str, Any]]:
    """A SQLAlchemy statement as the text and values the tool's driver sends for it: compiled
    by the tool's own dialect (pass its engine's), lists expanded into their placeholders."""
    expanded = statement.compile(dialect=dialect).construct_expanded_state(dict(params))
    return expanded.statement, dict(expanded.parameters)


@contextmanager
def plain_sql(url: str) -> Iterator[Callable[[list[tuple[str, dict[str, Any]]]], float]]:
    """One psycopg connection to the same database, schema and role the tool uses; yields a
    function that runs queries on it, fetching every row, and returns their milliseconds."""
    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # The tool's own session settings (app/db.py): with PostgreSQL's JIT on, the same
        # dashboard queries took twice as long, which would flatter the tool's ratio.
        conn.execute("SET jit = off")

        def run(queries: list[tuple[str, dict[str, Any]]]) -> float:
            started = time.perf_counter()
            for sql, values in queries:
                conn.execute(sql, values).fetchall()
            return (time.perf_counter() - started) * 1000

        yield run


def london_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def add_months(day: date, months: int) -> date:
    from app.services.status import add_months as months_later  # the tool's own rule

    return months_later(day, months)


def random_day(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange(max(1, (end - start).days + 1)))


# -- content: three versions -----------------------------------------------------------------


def content_versions(workdir: Path) -> list[Path]:
    """Copies of the shipped content, each with its own version, date and re-acceptance flag
    (the text of each differs by a line, as a real revision would)."""
    folders = []
    for version, effective, reaccept in VERSIONS:
        folder = workdir / f"content-{version}"
        shutil.copytree(ROOT / "content", folder, ignore=shutil.ignore_patterns("README.md"))
        index = folder / "corporate-parenting" / "index.md"
        text = index.read_text()
        text = re.sub(r"^version: .*$", f'version: "{version}"', text, count=1, flags=re.M)
        text = re.sub(
            r"^effective_date: .*$", f"effective_date: {effective}", text, count=1, flags=re.M
        )
        text = re.sub(
            r"^requires_reacceptance: .*$",
            f"requires_reacceptance: {'true' if reaccept else 'false'}",
            text,
            count=1,
            flags=re.M,
        )
        index.write_text(text + f"\nThis is version {version} of the policy.\n")
        folders.append(folder)
    return folders


# -- the roster ------------------------------------------------------------------------------


@dataclass
class Staff:
    employee_id: str
    directorate: str
    department: str
    start: date
    elected: bool


def write_roster(path: Path, people: int, rng: random.Random) -> list[Staff]:
    """HR's file: employee ID, names, e-mail, directorate, department, manager (by employee
    ID or e-mail, both as HR systems give them), start date, flags (councillor, children's
    workforce, on the Corporate Parenting Committee)."""
    departments = [(d, dep) for d, deps in DIRECTORATES.items() for dep in deps]
    managers = min(2000, people // 10 or 1)
    staff: list[Staff] = []
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(
            [
                "Employee ID",
                "First name",
                "Last name",
                "Email",
                "Directorate",
                "Department",
                "Job title",
                "Manager",
                "Start date",
                "Elected member",
                "Childrens workforce",
                "Corporate Parenting Committee",
            ]
        )
        for i in range(1, people + 1):
            eid = f"B{i:06d}"
            elected = i > people - min(60, people // 100)
            if elected:
                directorate, department = "Chief Executive's", "Democratic Services"
            elif i <= managers:
                directorate, department = departments[i % len(departments)]
            else:
                directorate, department = departments[rng.randrange(len(departments))]
            if i <= 50:
                manager = ""  # the top of the organisation
            elif i <= managers:
                manager = f"B{rng.randint(1, 50):06d}"
            else:
                # Someone in the same department manages them; half the rows give e-mail.
                # Manager m works in departments[m % 42]: pick one of this department's.
                boss = departments.index((directorate, department))
                boss += len(departments) * rng.randrange(max(1, managers // len(departments)))
                boss = min(boss or len(departments), managers)
                manager = f"B{boss:06d}" if i % 2 else f"b{boss:06d}@bench.example"
            start = random_day(rng, date(1995, 1, 1), TODAY - timedelta(days=1))
            first, last = rng.choice(FIRST), rng.choice(LAST)
            out.writerow(
                [
                    eid,
                    first,
                    last,
                    f"b{i:06d}@bench.example",
                    directorate,
                    department,
                    "Councillor" if elected else ("Team manager" if i <= managers else "Officer"),
                    manager,
                    start.strftime("%d/%m/%Y"),
                    "yes" if elected else "no",
                    "yes" if directorate == "Children's Services" else "no",
                    "yes" if elected and i % 5 == 0 else "no",  # a fifth of the councillors
                ]
            )
            staff.append(Staff(eid, directorate, department, start, elected))
    return staff


# Runs the command and writes its peak memory (KB) to the file named in argv[1]. A process
# started straight from this one would report this one's size instead: Linux carries the
# parent's peak over fork and exec into the child's ru_maxrss, and this process holds the
# generated council. The launcher is small, so what it reports is the command's own.
_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(str(peak))\n"
    "sys.exit(code)\n"
)


def run_measured(tool: Tool, *cli: str) -> tuple[float, float, str]:
    """Run `flask ...` as its own process: (wall seconds, peak memory MB, output)."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak_file:
        started = time.perf_counter()
        flask = [sys.executable, "-m", "flask", "--app", "app", *cli]
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, peak_file.name, *flask],
            cwd=ROOT,
            env=tool.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        took = time.perf_counter() - started
        output = proc.stdout.decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"flask {' '.join(cli)} failed:\n{output}")
        return took, int(peak_file.read() or 0) / 1024, output


# -- history ---------------------------------------------------------------------------------


def copy_rows(conn: Any, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    n = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


@dataclass
class History:
    acceptances: int = 0
    attempts: int = 0
    section_reads: int = 0
    events: int = 0


def make_history(tool: Tool, staff: list[Staff], target_events: int, rng: random.Random) -> History:
    """Acceptances, quiz attempts and submissions, section reads and audit events (chained)."""
    engine = sa.create_engine(tool.schema_url)
    with engine.connect() as conn:
        org_id = conn.execute(
            sa.text("SELECT id FROM organisation WHERE name = :n"), {"n": ORG}
        ).scalar_one()
        versions = {
            row.version: row
            for row in conn.execute(sa.text("SELECT id, version, content_hash FROM policy_version"))
        }
        sections = [
            row.key
            for row in conn.execute(
                sa.text(
                    "SELECT s.key FROM policy_section s "
                    "JOIN policy_version v ON v.id = s.version_id "
                    "WHERE v.version = :v ORDER BY s.position"
                ),
                {"v": VERSIONS[-1][0]},
            )
        ]
        bank_id, bank_questions = conn.execute(
            sa.text("SELECT id, questions FROM quiz_bank ORDER BY id DESC LIMIT 1")
        ).one()
        ids: dict[str, int] = dict(
            conn.execute(
                sa.text("SELECT employee_id, id FROM person WHERE organisation_id = :o"),
                {"o": org_id},
            ).all()
        )
        head_seq, head_hash = conn.execute(
            sa.text("SELECT seq, hash FROM audit_head WHERE organisation_id = :o"), {"o": org_id}
        ).one()
        start_attempt = conn.execute(
            sa.text("SELECT coalesce(max(id), 0) FROM quiz_attempt")
        ).scalar_one()

    acceptances: list[tuple[Any, ...]] = []
    attempts: list[tuple[Any, ...]] = []
    submissions: list[tuple[Any, ...]] = []
    reads: list[tuple[Any, ...]] = []
    # (when, action, subject person, details[, operator]): the person acts unless an operator
    # (HR entering paper records) is named.
    events: list[tuple[Any, ...]] = []
    next_id = start_attempt
    settings = json.dumps({"pass_mark": 80, "questions": 10})
    # Quizzes that passed, drawn from the bank's own questions, some harder than others (the
    # committee report ranks the weakest): 200 shapes, used in turn.
    bank = json.loads(bank_questions) if isinstance(bank_questions, str) else bank_questions
    hard = {q["id"]: rng.uniform(0.55, 0.99) for q in bank}
    quizzes: list[tuple[str, str, str, int]] = []
    while len(quizzes) < 200:
        drawn_questions = rng.sample(bank, min(10, len(bank)))
        right = {q["id"]: rng.random() < hard[q["id"]] for q in drawn_questions}
        score = sum(right.values())
        if score * 10 < 8 * len(drawn_questions):
            continue  # failed: the history's quizzes all passed
        quizzes.append(
            (
                json.dumps(
                    [
                        {"id": q["id"], "options": [o["id"] for o in q["options"]]}
                        for q in drawn_questions
                    ]
                ),
                json.dumps(
                    {
                        q["id"]: q["correct"] if right[q["id"]] else [q["options"][-1]["id"]]
                        for q in drawn_questions
                    }
                ),
                json.dumps([{"id": q["id"], "correct": right[q["id"]]} for q in drawn_questions]),
                score,
            )
        )

    def journey(pid: int, name: str, version: str, cycle: int, day: date, accept: bool) -> date:
        """Read, quiz (passed), and optionally accept: one person's visit on `day`."""
        nonlocal next_id
        v = versions[version]
        at = london_noon(day)
        events.append((at, "launch", pid, {"launch": None, "role": "learner"}))
        for n, key in enumerate(sections):
            reads.append((pid, v.id, key, cycle, at + timedelta(minutes=n)))
            events.append(
                (
                    at + timedelta(minutes=n),
                    "section_read",
                    pid,
                    {"version": version, "section": key, "cycle": cycle},
                )
            )
        next_id += 1
        started, done = at + timedelta(minutes=20), at + timedelta(minutes=30)
        drawn, answers, results, score = quizzes[next_id % len(quizzes)]
        attempts.append((next_id, pid, org_id, v.id, bank_id, cycle, drawn, settings, started))
        percent = 10 * score
        submissions.append((next_id, next_id, done, answers, results, score, 10, percent, True))
        events.append((started, "quiz_attempt_started", pid, {"attempt": next_id}))
        events.append(
            (
                done,
                "quiz_submitted",
                pid,
                {"attempt": next_id, "score": score, "total": 10, "passed": True},
            )
        )
        if not accept:
            return day
        until = add_months(day, 12)
        code = hashlib.sha256(f"{pid}-{version}-{cycle}".encode()).hexdigest()[:12].upper()
        acceptances.append(
            (
                pid,
                org_id,
                v.id,
                cycle,
                v.content_hash,
                "I accept the policy.",
                "d" * 64,
                next_id,
                percent,
                name,
                done + timedelta(minutes=2),
                until,
                code,
                None,
            )
        )
        events.append(
            (
                done + timedelta(minutes=2),
                "acceptance",
                pid,
                {"version": version, "valid_until": until.isoformat()},
            )
        )
        return until

    def on_paper(pid: int, name: str, version: str, day: date) -> date:
        """A signed paper declaration from before the council used the tool, entered by HR."""
        v = versions[version]
        until = add_months(day, 12)
        code = hashlib.sha256(f"{pid}-{version}-paper".encode()).hexdigest()[:12].upper()
        at = london_noon(day)
        acceptances.append(
            (
                pid,
                org_id,
                v.id,
                1,
                v.content_hash,
                "I accept the policy.",
                "d" * 64,
                None,
                None,
                name,
                at,
                until,
                code,
                "Signed paper declaration",
            )
        )
        events.append((at, "acceptance_recorded_by_hr", pid, {"version": version}, "cli"))
        return until

    for s in staff:
        pid = ids[s.employee_id]
        name = s.employee_id  # the typed name is not read by any figure
        joined = max(s.start, date(2024, 4, 1))
        until = None
        if s.start < date(2025, 3, 1) and rng.random() < 0.6:
            until = on_paper(pid, name, "2024", random_day(rng, joined, date(2025, 3, 31)))
        if s.start < date(2026, 3, 1) and rng.random() < 0.25:
            until = journey(
                pid,
                name,
                "2025",
                1,
                random_day(rng, max(joined, date(2025, 4, 1)), date(2026, 3, 31)),
                True,
            )
        roll = rng.random()
        if until is not None and until < TODAY + timedelta(days=60) and roll < 0.6:
            early = max(
                date(2026, 4, 1), min(until - timedelta(days=30), TODAY - timedelta(days=1))
            )
            journey(pid, name, "2025.1", 1, random_day(rng, early, TODAY - timedelta(days=1)), True)
        elif until is None and roll < 0.3:
            journey(
                pid,
                name,
                "2025.1",
                1,
                random_day(rng, max(s.start, date(2026, 4, 1)), TODAY - timedelta(days=1)),
                True,
            )
        elif until is None and roll < 0.33:
            journey(pid, name, "2025.1", 1, TODAY - timedelta(days=rng.randint(1, 20)), False)
        elif until is None and roll < 0.45:
            day = TODAY - timedelta(days=rng.randint(1, 60))
            for key in sections[: rng.randint(1, len(sections) - 1)]:
                reads.append((pid, versions["2025.1"].id, key, 1, london_noon(day)))
                events.append(
                    (
                        london_noon(day),
                        "section_read",
                        pid,
                        {"version": "2025.1", "section": key, "cycle": 1},
                    )
                )
    # Top up with return visits (people open the module again) to the events asked for.
    people = list(ids.values())
    while len(events) < target_events:
        day = random_day(rng, date(2024, 4, 1), TODAY - timedelta(days=1))
        events.append(
            (london_noon(day), "launch", rng.choice(people), {"launch": None, "role": "learner"})
        )
    events.sort(key=lambda e: e[0])

    from app.services.audit import FIELDS, canonical, chain_hash  # the tool's own chain rule

    def chained() -> Iterator[tuple[Any, ...]]:
        nonlocal head_seq, head_hash
        for at, action, pid, details, *operator in events:
            actor = operator[0] if operator else None
            head_seq += 1
            event = {
                "organisation_id": org_id,
                "seq": head_seq,
                "occurred_at": at,
                "action": action,
                "actor_person_id": None if actor else pid,
                "actor": actor,
                "subject_person_id": pid,
                "details": details,
            }
            head_hash_new = chain_hash(head_hash, canonical(event))
            columns = (json.dumps(event[k]) if k == "details" else event[k] for k in FIELDS)
            yield (*columns, head_hash, head_hash_new)
            head_hash = head_hash_new

    raw = engine.raw_connection()
    try:
        pg: Any = raw.driver_connection
        copy_rows(
            pg,
            "quiz_attempt",
            [
                "id",
                "person_id",
                "organisation_id",
                "policy_version_id",
                "bank_id",
                "cycle",
                "drawn",
                "settings",
                "started_at",
            ],
            iter(attempts),
        )
        copy_rows(
            pg,
            "quiz_submission",
            [
                "id",
                "attempt_id",
                "submitted_at",
                "answers",
                "results",
                "score",
                "total",
                "percent",
                "passed",
            ],
            iter(submissions),
        )
        copy_rows(
            pg,
            "acceptance",
            [
                "person_id",
                "organisation_id",
                "policy_version_id",
                "cycle",
                "content_hash",
                "declaration_text",
                "declaration_hash",
                "quiz_submission_id",
                "quiz_score",
                "typed_name",
                "accepted_at",
                "valid_until",
                "verification_code",
                "recorded_note",
            ],
            iter(acceptances),
        )
        copy_rows(
            pg,
            "section_read",
            ["person_id", "version_id", "section_key", "cycle", "first_read_at"],
            iter(reads),
        )
        copied = copy_rows(
            pg,
            "audit_event",
            [*FIELDS, "prev_hash", "hash"],
            chained(),
        )
        with pg.cursor() as cur:
            # A bulk load moves the head many events at once: as the schema's owner, past the
            # trigger that lets the tool move it one event at a time (migration 0010).
            cur.execute("ALTER TABLE audit_head DISABLE TRIGGER audit_head_forward")
            cur.execute(
                "UPDATE audit_head SET seq = %s, hash = %s WHERE organisation_id = %s",
                (head_seq, head_hash, org_id),
            )
            cur.execute("ALTER TABLE audit_head ENABLE TRIGGER audit_head_forward")
            for table in ("quiz_attempt", "quiz_submission"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            # Everyone was assigned the module when they joined, or when it began (April
            # 2024), not on the day of this import: so some are overdue, as in a council.
            cur.execute(
                "UPDATE person SET assigned_on = greatest(start_date, DATE '2024-04-01') "
                "WHERE organisation_id = %s AND start_date IS NOT NULL",
                (org_id,),
            )
        pg.commit()
        # What autovacuum does in a council's database over the days after such writes:
        # statistics for the planner, and the visibility map that lets PostgreSQL answer from
        # an index alone. Bulk-loaded tables have neither until it runs.
        pg.autocommit = True
        pg.execute("VACUUM ANALYZE")
    finally:
        raw.close()
        engine.dispose()
    return History(len(acceptances), len(attempts), len(reads), copied)


# -- HR's pages and exports ------------------------------------------------------------------


def timed_pages(tool: Tool, browser: Any, path: str, runs: int) -> list[float]:
    offset = tool.access_log.stat().st_size
    for _ in range(runs):
        page = browser.get(path)
        if page.status != 200:
            raise RuntimeError(f"{path} answered {page.status}")
    rows, _ = access_log_times(tool.access_log, offset, expect=runs)
    return sorted(seconds * 1000 for method, p, status, seconds in rows if status == 200)


def dashboard_sql(url: str) -> list[tuple[str, dict[str, Any]]]:
    """The aggregate queries behind HR's dashboard of everyone (/hr/ with no filter), built
    by the tool's own service on this data and compiled as the tool sends them."""
    from sqlalchemy.orm import Session

    from app.clock import today
    from app.models import Organisation
    from app.services.reports import dashboard_statements, scope_for

    engine = sa.create_engine(url)
    try:
        with Session(engine) as session:
            org_id = session.scalars(
                sa.select(Organisation.id).where(Organisation.name == ORG)
            ).one()
            scope = scope_for(session, org_id, "corporate-parenting", today())
            statements = dashboard_statements(session, scope).values()
            return [as_sql(s.statement, s.params, engine.dialect) for s in statements]
    finally:
        engine.dispose()


def dashboard_beside_sql(tool: Tool, browser: Any, runs: int) -> tuple[list[float], list[float]]:
    """The dashboard's server time and its queries' time straight in PostgreSQL, taken in
    turn (page, SQL, page, ...) so both see the same load on the machine: sorted ms each."""
    queries = dashboard_sql(tool.schema_url)
    pages: list[float] = []
    plain: list[float] = []
    with plain_sql(tool.schema_url) as run:
        run(queries)  # warm, as the page was
        for _ in range(runs):
            pages += timed_pages(tool, browser, "/hr/", 1)
            plain.append(run(queries))
    return sorted(pages), sorted(plain)


@dataclass
class ReportRuns:
    """The committee report beside the dashboard, taken in turn (dashboard, report page,
    report PDF, ...): server ms of each, sorted, and the workers' peak memory (MB) while
    the report was built and drawn."""

    dashboard: list[float]
    page: list[float]
    pdf: list[float]
    peak_mb: float
    pdf_bytes: int


def report_beside_dashboard(tool: Tool, browser: Any, runs: int) -> ReportRuns:
    """/hr/ and /hr/report (today, the last quarter: what HR's menu opens) and its PDF."""
    workers = tool.pids[1:]
    dashboard: list[float] = []
    page: list[float] = []
    pdf: list[float] = []
    peak = 0.0
    size = 0
    for _ in range(runs):
        dashboard += timed_pages(tool, browser, "/hr/", 1)
        reset_peaks(workers)
        offset = tool.access_log.stat().st_size
        shown = browser.get("/hr/report")
        token = CSRF.search(shown.text)
        if shown.status != 200 or token is None:
            raise RuntimeError(f"the report page answered {shown.status}")
        day = re.findall(r'<input type="hidden" name="date" value="(\d+)">', shown.text)
        form: dict[str, Any] = {"csrf_token": token.group(1), "date": day, "period": "quarter"}
        download = browser.post("/hr/report.pdf", form)
        if download.status != 200 or not download.body.startswith(b"%PDF"):
            raise RuntimeError(f"the report's PDF answered {download.status}")
        rows, _ = access_log_times(tool.access_log, offset, expect=2)
        page.append(rows[-2][3] * 1000)
        pdf.append(rows[-1][3] * 1000)
        peak = max(peak, peak_mb(workers))
        size = len(download.body)
    return ReportRuns(sorted(dashboard), sorted(page), sorted(pdf), peak, size)


def reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def peak_mb(pids: list[int]) -> float:
    best = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                best = max(best, int(line.split()[1]))
    return best / 1024


def web_export(tool: Tool, browser: Any, fmt: str) -> tuple[float, float, float, bytes]:
    """(server ms, client ms, worker peak MB, body) of one download of everyone."""
    page = browser.get("/hr/exports")
    token = CSRF.search(page.text)
    if page.status != 200 or token is None:
        raise RuntimeError(f"the exports page answered {page.status}")
    workers = tool.pids[1:]
    reset_peaks(workers)
    offset = tool.access_log.stat().st_size
    resp = browser.post("/hr/exports/download", {"csrf_token": token.group(1), "format": fmt})
    if resp.status != 200:
        raise RuntimeError(f"the {fmt} download answered {resp.status}")
    rows, _ = access_log_times(tool.access_log, offset, expect=1)
    return rows[-1][3] * 1000, resp.seconds * 1000, peak_mb(workers), resp.body


def csv_rows(body: bytes) -> int:
    return sum(1 for _ in csv.reader(io.StringIO(body.decode("utf-8-sig")))) - 1


def xlsx_rows(body: bytes) -> int:
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    sheet = book.worksheets[0]
    count = sum(1 for _ in sheet.iter_rows(min_row=2, values_only=True))
    book.close()
    return count


# The export's columns as the database holds them (reports' statement, before the file's
# formatting): what the yardstick COPY writes.
STORED = [
    "employee_id",
    "first_name",
    "last_name",
    "email",
    "elected_member",
    "directorate",
    "department",
    "job_title",
    "manager_lti_name",
    "manager_email",
    "state",
    "due_basis",
    "overdue",
    "accepted_on",
    "accepted_at",
    "policy_version_accepted",
    "quiz_score",
    "attempts",
    "valid_until",
    "recorded_on_behalf_by",
    "last_reminder",
]


def export_yardstick(tool: Tool) -> tuple[str, dict[str, Any]]:
    """The plain SQL of the exports, for the database's own speed: `COPY (SELECT ...) TO
    STDOUT WITH CSV HEADER` of the export's rows and columns as stored, with the same
    filters (none: everyone) and order, from the tool's own statement of the table."""
    from app import create_app
    from app.clock import today
    from app.config import normalise_database_url
    from app.db import db
    from app.models import Organisation
    from app.services import exports, reports

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": normalise_database_url(tool.schema_url), "SECRET_KEY": "b"}
    )
    with app.app_context():
        session = db.session()
        org = session.scalars(sa.select(Organisation.id).where(Organisation.name == ORG)).one()
        scope = reports.scope_for(session, org, app.config["POLICY_KEY"], today())
        query, params = exports.table_statement(session, scope, reports.Filters())
        plain = query.with_only_columns(*(query.selected_columns[c] for c in STORED))
        sql, values = as_sql(plain, params, session.get_bind().dialect)
        session.rollback()
        db.engine.dispose()  # no connection left open beside the tool's
    return f"COPY ({sql}) TO STDOUT WITH CSV HEADER", values


def timed_copy(tool: Tool, statement: tuple[str, dict[str, Any]]) -> tuple[float, int]:
    """(ms, bytes) of one run of the yardstick through psycopg, every row read."""
    sql, params = statement
    url = sa.make_url(tool.schema_url).set(drivername="postgresql")  # libpq's own form
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn, conn.cursor() as cur:
        cur.execute("SET jit = off")  # as the tool's own connections (see plain_sql)
        started, size = time.perf_counter(), 0
        with cur.copy(sql, params) as copy:
            for row in copy:
                size += len(row)
        return (time.perf_counter() - started) * 1000, size


def line(label: str, value: str, target: str = "") -> None:
    print(f"  {label:46} {value:>18}   {target}")


def summary(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):6.0f}  p95 {percentile(values, 0.95):6.0f}  "
        f"max {values[-1]:6.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20, help="page loads timed per page")
    parser.add_argument("--export-runs", type=int, default=3, help="downloads timed per format")
    parser.add_argument(
        "--report-runs", type=int, default=10, help="committee reports (page and PDF) timed"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument(
        "--keep", action="store_true", help=f"leave the {SCHEMA} schema for a look afterwards"
    )
    args = parser.parse_args()
    rng = random.Random(SEED)
    print(
        f"HR benchmark: {args.people:,} people, about {args.events:,} audit events, "
        f"3 policy versions; PostgreSQL; {machine_note()}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-hr-"))
    try:
        with running_tool(
            args.database_url, SCHEMA, content=content_versions(workdir), keep=args.keep
        ) as tool:
            roster = workdir / "roster.csv"
            staff = write_roster(roster, args.people, rng)
            took, mem, out = run_measured(tool, "roster", "import", str(roster), "--org", ORG)
            print(out.strip().splitlines()[-1])
            imported = (took, mem)
            started = time.perf_counter()
            history = make_history(tool, staff, args.events, rng)
            print(
                f"History written in {time.perf_counter() - started:.0f} s: "
                f"{history.acceptances:,} acceptances, {history.attempts:,} quiz attempts, "
                f"{history.section_reads:,} section reads, {history.events:,} audit events."
            )

            # An HR person: their LMS role read as HR for this council, then a real launch.
            mapped = tool.flask(
                "lti", "map-role", "--org", ORG, "--lti-role", LEARNER, "--role", "hr"
            )
            if mapped.returncode != 0:
                raise RuntimeError(mapped.stdout + mapped.stderr)
            hr = tool.browser()
            launch(hr, tool.platform.issuer, tool.platform.key, tool.platform.kid, "hr-1")
            for path in ("/hr/", "/hr/people"):  # warm: templates compiled, caches filled
                hr.get(path)
            dashboard, dashboard_plain = dashboard_beside_sql(tool, hr, args.runs)
            hr.get("/hr/report")  # warm: matplotlib loaded, its font cache built
            report = report_beside_dashboard(tool, hr, args.report_runs)
            people = timed_pages(tool, hr, "/hr/people", args.runs)
            filtered = timed_pages(
                tool, hr, "/hr/people?status=expired&directorate=Place&page=3", args.runs
            )
            # Side by side: each round downloads both files and runs the yardstick COPY.
            yardstick = export_yardstick(tool)
            csv_runs, xlsx_runs, copy_runs = [], [], []
            for _ in range(args.export_runs):
                csv_runs.append(web_export(tool, hr, "csv"))
                xlsx_runs.append(web_export(tool, hr, "xlsx"))
                copy_runs.append(timed_copy(tool, yardstick))
            csv_count, xlsx_count = csv_rows(csv_runs[0][3]), xlsx_rows(xlsx_runs[0][3])
            cli_csv = run_measured(
                tool, "export", "--org", ORG, "--format", "csv", "--out", str(workdir / "all.csv")
            )
            cli_xlsx = run_measured(
                tool, "export", "--org", ORG, "--format", "xlsx", "--out", str(workdir / "all.xlsx")
            )
            again = run_measured(tool, "roster", "import", str(roster), "--org", ORG)
            verify_took, _, verified = run_measured(tool, "audit", "verify")
            problems = tool.log_problems()

        print("\nResults (server time is gunicorn's, from the parsed request to the last byte):")
        line("Dashboard /hr/", summary(dashboard))
        line("  its queries straight in PostgreSQL", summary(dashboard_plain))
        ratio = statistics.median(dashboard) / statistics.median(dashboard_plain)
        line("  dashboard / plain SQL (p50 / p50)", f"{ratio:.2f}x", "target <= 2x")
        line("Committee report page /hr/report", summary(report.page))
        line("  the dashboard, in turn with it", summary(report.dashboard))
        ratio = statistics.median(report.page) / statistics.median(report.dashboard)
        line("  report page / dashboard (p50 / p50)", f"{ratio:.2f}x", "target <= 3x")
        line(f"  its PDF ({report.pdf_bytes / 1e3:.0f} kB)", summary(report.pdf))
        ratio = statistics.median(report.pdf) / statistics.median(report.dashboard)
        line("  PDF / dashboard (p50 / p50)", f"{ratio:.2f}x", "target <= 3x")
        line(
            "  worker peak memory (VmHWM, highest)",
            f"{report.peak_mb:.0f} MB",
            "target < 300 MB",
        )
        line("People list /hr/people (page 1)", summary(people))
        line("People list, filtered, page 3", summary(filtered))
        copy_s = statistics.median(r[0] for r in copy_runs) / 1000
        line(
            "Yardstick: COPY of the export's rows, columns",
            f"median {copy_s:.2f} s ({len(copy_runs)} runs, {copy_runs[0][1] / 1e6:.1f} MB)",
        )
        for fmt, runs, count, target in (
            ("CSV", csv_runs, csv_count, 2),
            ("XLSX", xlsx_runs, xlsx_count, 10),
        ):
            server = sorted(r[0] / 1000 for r in runs)
            client = statistics.median(r[1] / 1000 for r in runs)
            line(
                f"{fmt} export via HR's page ({count:,} rows)",
                f"median {statistics.median(server):.2f} s server "
                f"(of {len(runs)}: {server[0]:.2f} to {server[-1]:.2f})",
            )
            line(
                "  against the yardstick COPY",
                f"{statistics.median(server) / copy_s:.2f}x",
                f"target <= {target}x",
            )
            line("", f"{client:.2f} s client (median), {len(runs[0][3]) / 1e6:.1f} MB")
            line(
                "  worker peak memory (VmHWM, highest)",
                f"{max(r[2] for r in runs):.0f} MB",
                "target < 300 MB",
            )
        for fmt, (took, peak, _) in (("csv", cli_csv), ("xlsx", cli_xlsx)):
            line(
                f"flask export --format {fmt} (whole process)",
                f"{took:.2f} s ({took / copy_s:.2f}x), {peak:.0f} MB",
                "target < 300 MB",
            )
        line(
            f"Roster import, {args.people:,} new people",
            f"{imported[0]:.1f} s, {imported[1]:.0f} MB",
            "target < 20 s",
        )
        line("Roster import again, nothing changed", f"{again[0]:.1f} s, {again[1]:.0f} MB")
        line(
            "  ratio to first import (whole process)",
            f"{again[0] / imported[0]:.2f}x",
            "target <= 0.5x",
        )
        line("flask audit verify", f"{verify_took:.1f} s")
        print("  " + verified.strip().splitlines()[-1])
        print(f"  Errors in the tool's log: {len(problems)}")
        for problem in problems[:10]:
            print("    " + problem)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
