"""Launch benchmark: complete LTI launches against gunicorn (2 workers) on PostgreSQL.

Each launch is a full round trip, as a browser and an LMS make it:
  GET /lti/login  ->  the generator plays the platform: it reads state and nonce from the
  auth redirect and signs an id_token for a new person  ->  POST /lti/launch on a new
  connection (so login and launch may reach different workers)  ->  any redirects the tool
  answers with, until a page that must greet that person by name.
Prints launches/s, p50/p95 latency, errors, requests per launch and the tool's CPU
milliseconds per launch (from /proc, for the gunicorn processes: the steadiest figure on a
shared machine).

    .venv/bin/python -m scripts.bench_launch [--seconds 10] [--concurrency 1,10,50] [--baseline]

It works in its own PostgreSQL schema (dropped afterwards) and sends traffic only to
127.0.0.1. This is a benchmark that prints figures; it asserts nothing.

--baseline also runs the same launches against scripts/bare_tool.py, a bare pylti1p3 Flask
tool that keeps its state in the browser's cookies and stores nothing, side by side with the
project: at each concurrency level the bare tool, then the project, then the bare tool again
(the two bare runs are averaged, so a load that changes during the run weighs on both), and
the ratios project/bare. Only ratios measured in one run mean anything on a shared machine.
Add --fetch-keys for pylti1p3's default of fetching the platform's key set on every launch.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import jwt
from cryptography.hazmat.primitives import serialization

from scripts.bench_common import (
    CLAIM,
    CLIENT_ID,
    DEPLOYMENT,
    ROOT,
    Platform,
    cpu_ticks,
    free_port,
    gunicorn_pids,
    machine_note,
    running_tool,
    ticks_to_ms,
)

SCHEMA = "bench_launch"


class Cookies(NamedTuple):
    """The cookies the generator follows, as the app under test names them."""

    state_prefix: str  # the login's state cookie, sent back with the launch
    session: str  # the session cookie the launch sets, sent with the first page
    session_from_login: bool  # the login sets the session cookie too; send it with the launch


# The project: state cookie lti_state_<state>; its session starts at the launch.
PROJECT_COOKIES = Cookies("lti_state_", "cpm_session=", session_from_login=False)
# pylti1p3: state cookie lti1p3-state-<uuid>; the nonce is kept in Flask's session cookie
# from the login on, so a browser brings that cookie to the launch as well.
BARE_COOKIES = Cookies("lti1p3-state-", "session=", session_from_login=True)


def _cookie(headers: list[tuple[str, str]], prefix: str) -> str | None:
    for name, value in headers:
        if name.lower() == "set-cookie" and value.startswith(prefix):
            return value.split(";", 1)[0]
    return None


def one_launch(
    host: str, port: int, issuer: str, key: Any, kid: str, n: str, cookies: Cookies
) -> tuple[float, int]:
    """One launch: its latency in seconds and the number of HTTP requests it took."""
    started = time.perf_counter()
    sub = f"bench-{n}"
    name = f"Bench Person {n}"
    params = urllib.parse.urlencode(
        {
            "iss": issuer,
            "login_hint": sub,
            "target_link_uri": f"http://{host}:{port}/lti/launch",
            "lti_message_hint": "m",
            "client_id": CLIENT_ID,
            "lti_deployment_id": DEPLOYMENT,
        }
    )
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/lti/login?" + params)
    resp = conn.getresponse()
    resp.read()
    auth_url = resp.getheader("Location")
    if resp.status != 302 or auth_url is None:
        raise RuntimeError(f"login answered {resp.status}")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(auth_url).query))
    state_cookie = _cookie(resp.getheaders(), cookies.state_prefix)
    login_session = (
        _cookie(resp.getheaders(), cookies.session) if cookies.session_from_login else None
    )
    conn.close()

    now = int(time.time())
    token = jwt.encode(
        {
            "iss": issuer,
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            "nonce": query["nonce"],
            "name": name,
            "given_name": "Bench",
            "family_name": f"Person {n}",
            "email": f"{sub}@bench.example",
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT,
            CLAIM + "target_link_uri": query["redirect_uri"],
            CLAIM + "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],
            CLAIM + "resource_link": {"id": "bench-link", "title": "Corporate Parenting"},
            CLAIM + "context": {"id": "bench-course", "title": "Bench course"},
        },
        key,
        algorithm="RS256",
        headers={"kid": kid},
    )

    # A new connection for the form_post, as after the browser's trip through the LMS.
    conn = http.client.HTTPConnection(host, port, timeout=30)
    body = urllib.parse.urlencode({"id_token": token, "state": query["state"]})
    conn.request(
        "POST",
        "/lti/launch",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(c for c in (state_cookie, login_session) if c),
        },
    )
    resp = conn.getresponse()
    page = resp.read().decode()
    session_cookie = _cookie(resp.getheaders(), cookies.session)
    conn.close()
    requests = 2
    # The first page, or redirects to it (each on a new connection, with the session cookie).
    while resp.status in (302, 303) and requests < 5:
        location = resp.getheader("Location") or ""
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", location, headers={"Cookie": session_cookie or ""})
        resp = conn.getresponse()
        page = resp.read().decode()
        conn.close()
        session_cookie = _cookie(resp.getheaders(), cookies.session) or session_cookie
        requests += 1
    if resp.status != 200 or f"Welcome, {name}" not in page:
        raise RuntimeError(f"the launch ended on {resp.status} without the greeting")
    return time.perf_counter() - started, requests


def generator(
    args: tuple[str, int, str, bytes, str, int, float, int, Cookies],
) -> tuple[list[float], int, int]:
    """Launches from `threads` threads for `seconds`: latencies, requests made, errors."""
    host, port, issuer, pem, kid, threads, seconds, _proc_no, cookies = args
    key = serialization.load_pem_private_key(pem, password=None)
    latencies: list[float] = []
    counts = [0, 0]  # requests, errors
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(t: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            try:
                took, requests = one_launch(
                    host, port, issuer, key, kid, f"{os.getpid()}-{t}-{i}", cookies
                )
                with lock:
                    latencies.append(took)
                    counts[0] += requests
            except Exception as exc:
                with lock:
                    counts[1] += 1
                    if counts[1] <= 3:
                        print(f"  error: {exc}", file=sys.stderr)

    workers = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return latencies, counts[0], counts[1]


@dataclass(frozen=True)
class Target:
    """A running tool to measure: where it listens, whose CPU counts, its cookies."""

    name: str
    port: int
    platform: Platform
    pids: list[int]
    cookies: Cookies


@dataclass(frozen=True)
class Level:
    """One concurrency level's figures for one tool."""

    launches: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int
    requests: int
    cpu_ms: float  # the tool's CPU per launch

    @property
    def rate(self) -> float:
        return self.launches / self.seconds

    @staticmethod
    def mean(a: Level, b: Level) -> Level:
        """Two runs of one tool taken as one: counts added, times weighted by launches."""
        n = a.launches + b.launches

        def weighted(x: float, y: float) -> float:
            return (x * a.launches + y * b.launches) / n if n else float("nan")

        return Level(
            n,
            a.seconds + b.seconds,
            weighted(a.p50_ms, b.p50_ms),
            weighted(a.p95_ms, b.p95_ms),
            a.errors + b.errors,
            a.requests + b.requests,
            weighted(a.cpu_ms, b.cpu_ms),
        )


def warm_up(target: Target) -> None:
    """Every worker loads its key, fills its JWKS cache, compiles its templates."""
    p = target.platform
    generator(("127.0.0.1", target.port, p.issuer, p.pem(), p.kid, 4, 2.0, 0, target.cookies))


def run_level(target: Target, level: int, seconds: float) -> Level:
    procs = min(level, 4)
    per = [level // procs + (1 if i < level % procs else 0) for i in range(procs)]
    p = target.platform
    pem = p.pem()
    before = cpu_ticks(target.pids)
    with mp.get_context("spawn").Pool(procs) as pool:
        results = pool.map(
            generator,
            [
                ("127.0.0.1", target.port, p.issuer, pem, p.kid, n, seconds, i, target.cookies)
                for i, n in enumerate(per)
            ],
        )
    ticks = cpu_ticks(target.pids) - before
    latencies = sorted(x for r in results for x in r[0])
    n = len(latencies)
    return Level(
        launches=n,
        seconds=seconds,
        p50_ms=statistics.median(latencies) * 1000 if n else float("nan"),
        p95_ms=latencies[int(0.95 * (n - 1))] * 1000 if n else float("nan"),
        errors=sum(r[2] for r in results),
        requests=sum(r[1] for r in results),
        cpu_ms=ticks_to_ms(ticks) / n if n else float("nan"),
    )


HEADER = (
    f"{'':<8} {'concurrency':>11} {'launches':>9} {'launches/s':>11} {'p50 ms':>8} "
    f"{'p95 ms':>8} {'errors':>7} {'requests':>9} {'tool CPU ms/launch':>19}"
)


def row(name: str, level: int, r: Level) -> str:
    per = r.requests / r.launches if r.launches else float("nan")
    return (
        f"{name:<8} {level:>11} {r.launches:>9} {r.rate:>11.1f} {r.p50_ms:>8.1f} "
        f"{r.p95_ms:>8.1f} {r.errors:>7} {per:>9.1f} {r.cpu_ms:>19.2f}"
    )


def ratios(level: int, tool: Level, bare: Level) -> str:
    return (
        f"{'ratio':<8} {level:>11} project/bare: launches/s {tool.rate / bare.rate:.2f}x "
        f"(target at concurrency 10: at least 0.45x), CPU per launch "
        f"{tool.cpu_ms / bare.cpu_ms:.2f}x (at most 2x), p50 {tool.p50_ms / bare.p50_ms:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--concurrency", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also run scripts/bare_tool.py (bare pylti1p3, no database), side by side",
    )
    parser.add_argument(
        "--fetch-keys",
        action="store_true",
        help="with --baseline: pylti1p3 fetches the platform's key set on every launch",
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    with running_tool(args.database_url, SCHEMA, args.workers, access_log=False) as tool:
        project = Target("project", tool.port, tool.platform, tool.pids, PROJECT_COOKIES)
        warm_up(project)
        if not args.baseline:
            print(
                f"gunicorn {args.workers} sync workers (gunicorn.conf.py), PostgreSQL, the "
                f"generator on the same machine ({machine_note()}), {args.seconds:.0f}s a level"
            )
            print(HEADER)
            for level in levels:
                print(row("project", level, run_level(project, level, args.seconds)), flush=True)
            return
        with bare_tool(args.workers, args.fetch_keys) as bare:
            warm_up(bare)
            keys = "fetched on every launch" if args.fetch_keys else "read once at start"
            print(
                f"gunicorn {args.workers} sync workers each: the project (gunicorn.conf.py, "
                f"PostgreSQL) and the bare pylti1p3 tool (scripts/bare_tool.py: no database, "
                f"key set {keys}); the generator on the same machine ({machine_note()}); "
                f"{args.seconds:.0f}s a level for the project, twice {args.seconds / 2:.0f}s "
                "for the bare tool, around it"
            )
            print(HEADER)
            for level in levels:
                first = run_level(bare, level, args.seconds / 2)
                mine = run_level(project, level, args.seconds)
                second = run_level(bare, level, args.seconds / 2)
                theirs = Level.mean(first, second)
                print(row("bare", level, theirs))
                print(row("project", level, mine))
                print(ratios(level, mine, theirs), flush=True)


@contextmanager
def bare_tool(workers: int, fetch_keys: bool) -> Iterator[Target]:
    """scripts/bare_tool.py on gunicorn with its own platform: no database, nothing to set up."""
    platform = Platform()
    port = free_port()
    env = {
        **os.environ,
        "BARE_ISSUER": platform.issuer,
        "BARE_CLIENT_ID": CLIENT_ID,
        "BARE_DEPLOYMENT_ID": DEPLOYMENT,
        "BARE_JWKS_URL": platform.issuer + "/jwks",
        "BARE_FETCH_KEYS": "1" if fetch_keys else "0",
        "SECRET_KEY": "bench-secret",
    }
    # gunicorn reads the checkout's gunicorn.conf.py for the bare tool too: its garbage
    # collector settings speed up any Flask app, so the yardstick gets them as well.
    bind = ["--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--backlog", "2048"]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "/dev/null",
            *bind,
            "scripts.bare_tool:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        pids = gunicorn_pids(server.pid)
        for _ in range(50):
            if len(pids) >= workers + 1:
                break
            time.sleep(0.1)
            pids = gunicorn_pids(server.pid)
        yield Target("bare", port, platform, pids, BARE_COOKIES)
    finally:
        server.terminate()
        server.wait(timeout=10)
        platform.server.shutdown()
        platform.server.server_close()


if __name__ == "__main__":
    main()
