"""Launch benchmark: complete LTI launches against gunicorn (2 workers) on PostgreSQL.

Each launch is a full round trip, as a browser and an LMS make it:
  GET /lti/login  ->  the generator plays the platform: it reads state and nonce from the
  auth redirect and signs an id_token for a new person  ->  POST /lti/launch on a new
  connection (so login and launch may reach different workers)  ->  GET / , which must
  greet that person by name.
Prints launches/s, p50/p95 latency, errors and the tool's CPU milliseconds per launch (from
/proc, for the gunicorn processes: the steadiest figure on a shared machine).

    .venv/bin/python -m scripts.bench_launch [--seconds 10] [--concurrency 1,10,50] [--baseline]

It works in its own PostgreSQL schema (dropped afterwards) and sends traffic only to
127.0.0.1. This is a benchmark that prints figures; it asserts nothing.

--baseline runs the same launches against scripts/bare_tool.py instead, a bare pylti1p3
Flask tool that keeps its state in the browser's cookies and stores nothing (no PostgreSQL
needed): the calibration figure to compare the project's own against, on this machine.
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
) -> float:
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
    resp.read()
    location = resp.getheader("Location")
    if resp.status != 302 or location is None:
        raise RuntimeError(f"launch answered {resp.status}")
    session_cookie = _cookie(resp.getheaders(), cookies.session)
    conn.close()

    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", location, headers={"Cookie": session_cookie or ""})
    resp = conn.getresponse()
    page = resp.read().decode()
    conn.close()
    if resp.status != 200 or f"Welcome, {name}" not in page:
        raise RuntimeError(f"first page answered {resp.status} without the greeting")
    return time.perf_counter() - started


def generator(
    args: tuple[str, int, str, bytes, str, int, float, int, Cookies],
) -> tuple[list[float], int]:
    host, port, issuer, pem, kid, threads, seconds, _proc_no, cookies = args
    key = serialization.load_pem_private_key(pem, password=None)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop(t: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            i += 1
            try:
                took = one_launch(host, port, issuer, key, kid, f"{os.getpid()}-{t}-{i}", cookies)
                with lock:
                    latencies.append(took)
            except Exception as exc:
                with lock:
                    errors[0] += 1
                    if errors[0] <= 3:
                        print(f"  error: {exc}", file=sys.stderr)

    workers = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return latencies, errors[0]


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
        help="launch scripts/bare_tool.py (bare pylti1p3, no database) instead of the project",
    )
    parser.add_argument(
        "--fetch-keys",
        action="store_true",
        help="with --baseline: pylti1p3 fetches the platform's key set on every launch",
    )
    args = parser.parse_args()
    if args.baseline:
        baseline(args)
        return

    with running_tool(args.database_url, SCHEMA, args.workers, access_log=False) as tool:
        measure(args, tool.port, tool.platform, tool.pids, PROJECT_COOKIES, "PostgreSQL")


def measure(
    args: argparse.Namespace,
    port: int,
    platform: Platform,
    pids: list[int],
    cookies: Cookies,
    what: str,
) -> None:
    """Warm the tool up, then print the table: one row per concurrency level."""
    pem, host = platform.pem(), "127.0.0.1"
    # Warm up: every worker loads its key, fills its JWKS cache, compiles templates.
    generator((host, port, platform.issuer, pem, platform.kid, 4, 2.0, 0, cookies))
    print(
        f"gunicorn {args.workers} sync workers, {what}, generator on the same machine "
        f"({os.cpu_count()} cores), {args.seconds:.0f}s per level"
    )
    print(
        f"{'concurrency':>11} {'launches':>9} {'launches/s':>11} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'errors':>7} {'tool CPU ms/launch':>19}"
    )
    for level in (int(x) for x in args.concurrency.split(",")):
        procs = min(level, 4)
        per = [level // procs + (1 if i < level % procs else 0) for i in range(procs)]
        before = cpu_ticks(pids)
        with mp.get_context("spawn").Pool(procs) as pool:
            results = pool.map(
                generator,
                [
                    (
                        "127.0.0.1",
                        port,
                        platform.issuer,
                        pem,
                        platform.kid,
                        n,
                        args.seconds,
                        i,
                        cookies,
                    )
                    for i, n in enumerate(per)
                ],
            )
        ticks = cpu_ticks(pids) - before
        latencies = sorted(x for r in results for x in r[0])
        errors = sum(r[1] for r in results)
        n = len(latencies)
        p50 = statistics.median(latencies) * 1000 if n else float("nan")
        p95 = latencies[int(0.95 * (n - 1))] * 1000 if n else float("nan")
        cpu_ms = ticks_to_ms(ticks) / n if n else float("nan")
        print(
            f"{level:>11} {n:>9} {n / args.seconds:>11.1f} {p50:>8.1f} {p95:>8.1f} "
            f"{errors:>7} {cpu_ms:>19.2f}",
            flush=True,
        )


def baseline(args: argparse.Namespace) -> None:
    """The same launches against scripts/bare_tool.py: no database, nothing to set up."""
    platform = Platform()
    port = free_port()
    env = {
        **os.environ,
        "BARE_ISSUER": platform.issuer,
        "BARE_CLIENT_ID": CLIENT_ID,
        "BARE_DEPLOYMENT_ID": DEPLOYMENT,
        "BARE_JWKS_URL": platform.issuer + "/jwks",
        "BARE_FETCH_KEYS": "1" if args.fetch_keys else "0",
        "SECRET_KEY": "bench-secret",
    }
    bind = ["--workers", str(args.workers), "--bind", f"127.0.0.1:{port}", "--backlog", "2048"]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *bind, "scripts.bare_tool:create_app()"],
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
        keys = "fetched on every launch" if args.fetch_keys else "read once at start"
        what = f"bare pylti1p3 baseline (scripts/bare_tool.py: no database, key set {keys})"
        measure(args, port, platform, gunicorn_pids(server.pid), BARE_COOKIES, what)
    finally:
        server.terminate()
        server.wait(timeout=10)
        platform.server.shutdown()


if __name__ == "__main__":
    main()
