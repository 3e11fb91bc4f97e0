"""What the page and acceptance benchmarks share: a tool on gunicorn + PostgreSQL in its own
schema, a minimal platform that signs launches, and a cookie-keeping loopback browser.

Everything talks to 127.0.0.1 only. Each request opens a new connection (gunicorn's sync
workers close it after every response anyway), so figures include the TCP set-up on loopback.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLIENT_ID = "bench-client"
DEPLOYMENT = "bench-deployment"
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
DEFAULT_DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-fraction * len(sorted_values) // 1)))  # ceil(fraction * n)
    return sorted_values[min(rank, len(sorted_values)) - 1]


class Platform:
    """Just enough of an LMS for the tool: a JWKS endpoint, and signing."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "bench-key-1"
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, alg="RS256", use="sig")
        body = json.dumps({"keys": [jwk]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.issuer = f"http://{HOST}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    seconds: float
    header_bytes: int

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Browser:
    """One person's browser: keeps the tool's cookies, sends a same-origin Referer on POSTs."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def keep_cookies(self, headers: list[tuple[str, str]]) -> None:
        for name, value in headers:
            if name.lower() != "set-cookie":
                continue
            pair, _, attrs = value.partition(";")
            key, _, val = pair.strip().partition("=")
            lowered = attrs.lower().replace(" ", "")
            if "max-age=0" in lowered or "expires=thu,01jan1970" in lowered:
                self.cookies.pop(key, None)
            else:
                self.cookies[key] = val

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = self.cookie_header()
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form, doseq=True)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent.setdefault("Referer", self.origin + "/")
        started = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        took = time.perf_counter() - started
        raw_headers = resp.getheaders()
        header_bytes = len(f"HTTP/1.1 {resp.status} {resp.reason}\r\n") + sum(
            len(k) + len(v) + 4 for k, v in raw_headers
        )
        self.keep_cookies(raw_headers)
        return Response(resp.status, raw_headers, data, took, header_bytes + 2)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: dict[str, Any]) -> Response:
        return self.request("POST", path, form=form)


def person_name(n: str) -> str:
    return f"Bench Person {n}"


def launch(browser: Browser, issuer: str, key: Any, kid: str, n: str) -> Response:
    """A complete LTI launch as person `n`, ending on the overview page (must greet them):
    the launch's own answer, or where its redirects lead.

    The id_token carries no Assignment and Grade Services claim, so the tool never tries to
    send a score to an LMS (no outbound calls from the benchmarks)."""
    sub = f"bench-{n}"
    name = person_name(n)
    query = urllib.parse.urlencode(
        {
            "iss": issuer,
            "login_hint": sub,
            "target_link_uri": browser.origin + "/lti/launch",
            "lti_message_hint": "m",
            "client_id": CLIENT_ID,
            "lti_deployment_id": DEPLOYMENT,
        }
    )
    resp = browser.get("/lti/login?" + query)
    if resp.status != 302:
        raise RuntimeError(f"login answered {resp.status}")
    auth = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(resp.header("Location") or "").query))
    now = int(time.time())
    token = jwt.encode(
        {
            "iss": issuer,
            "aud": CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            "nonce": auth["nonce"],
            "name": name,
            "given_name": "Bench",
            "family_name": f"Person {n}",
            "email": f"{sub}@bench.example",
            CLAIM + "message_type": "LtiResourceLinkRequest",
            CLAIM + "version": "1.3.0",
            CLAIM + "deployment_id": DEPLOYMENT,
            CLAIM + "target_link_uri": auth["redirect_uri"],
            CLAIM + "roles": [LEARNER],
            CLAIM + "resource_link": {"id": "bench-link", "title": "Corporate Parenting"},
            CLAIM + "context": {"id": "bench-course", "title": "Bench course"},
        },
        key,
        algorithm="RS256",
        headers={"kid": kid},
    )
    # The platform's form_post is cross-site: no Referer from the tool.
    resp = browser.request(
        "POST",
        "/lti/launch",
        form={"id_token": token, "state": auth["state"]},
        headers={"Referer": issuer + "/"},
    )
    # The launch answers with the first page, or (a quiz under way) See Other to the quiz.
    page = resp
    for _ in range(3):
        if page.status not in (302, 303):
            break
        page = browser.get(page.header("Location") or "/")
    if page.status != 200 or f"Welcome, {name}" not in page.text:
        raise RuntimeError(f"first page answered {page.status} without the greeting")
    return page


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def gunicorn_pids(master: int) -> list[int]:
    """gunicorn's master and its workers: whose CPU time a benchmark counts."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text()
    return [master, *map(int, children.split())]


def ticks_to_ms(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK") * 1000


@dataclass
class Tool:
    """A running tool: gunicorn on a loopback port, on its own PostgreSQL schema."""

    port: int
    env: dict[str, str]
    server: subprocess.Popen[bytes]
    platform: Platform
    schema_url: str
    admin: sa.Engine
    logdir: Path
    access_log: Path

    @property
    def pids(self) -> list[int]:
        return gunicorn_pids(self.server.pid)

    def browser(self) -> Browser:
        return Browser(self.port)

    def flask(self, *cli: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *cli],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def log_problems(self) -> list[str]:
        """Lines of the tool's error log that show a failure (tracebacks, ERROR, CRITICAL)."""
        text = (self.logdir / "error.log").read_text(errors="replace")
        markers = ("Traceback", " ERROR ", "CRITICAL", "[ERROR]", "WORKER TIMEOUT")
        return [line for line in text.splitlines() if any(m in line for m in markers)]


def _flask(env: dict[str, str], *cli: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *cli],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"flask {' '.join(cli)} failed:\n{result.stdout}{result.stderr}")


@contextmanager
def running_tool(
    database_url: str,
    schema: str,
    workers: int = 2,
    content: Sequence[Path] = (),
    keep: bool = False,
    access_log: bool = True,
) -> Iterator[Tool]:
    """Schema, migrations, key, content, platform, gunicorn; all removed afterwards.

    `content`: content folders to publish in order (several make several versions); by
    default the shipped content/. `keep`: leave the schema for a look afterwards.
    `access_log`: gunicorn's per-request times (writing them costs the tool some CPU)."""
    # Two benchmarks at once on one server (people working side by side) need two schemas.
    schema += os.environ.get("BENCH_SCHEMA_SUFFIX", "")
    admin = sa.create_engine(database_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    logdir = Path(tempfile.mkdtemp(prefix=f"{schema}-"))
    platform = Platform()
    server: subprocess.Popen[bytes] | None = None
    try:
        sep = "&" if "?" in database_url else "?"
        url = database_url + sep + "options=" + urllib.parse.quote(f"-csearch_path={schema}")
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "TOOL_BASE_URL": f"http://{HOST}:{port}",
            "COOKIE_SECURE": "0",
            "SECRET_KEY": "bench-secret",
        }
        _flask(env, "db", "upgrade")
        _flask(env, "lti", "ensure-key")
        folders: list[Path | None] = [*content] or [None]
        for folder in folders:
            _flask(env, "content", "publish", *(["--path", str(folder)] if folder else []))
        _flask(
            env,
            "lti",
            "add-platform",
            "--issuer",
            platform.issuer,
            "--client-id",
            CLIENT_ID,
            "--deployment-id",
            DEPLOYMENT,
            "--auth-login-url",
            platform.issuer + "/auth",
            "--auth-token-url",
            platform.issuer + "/token",
            "--jwks-url",
            platform.issuer + "/jwks",
            "--org",
            "Bench Council",
        )
        access = logdir / "access.log"
        # %(D)s: gunicorn's own time for the request, in microseconds, from the parsed
        # request to the last byte written: server time without the client.
        logging = ["--access-logfile", str(access), "--access-logformat", "%(m)s %(U)s %(s)s %(D)s"]
        error_log = open(logdir / "error.log", "w")  # noqa: SIM115
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--bind",
                f"{HOST}:{port}",
                "--backlog",
                "2048",
                *(logging if access_log else []),
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=error_log,
            stderr=error_log,
        )
        error_log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                c = http.client.HTTPConnection(HOST, port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                tail = (logdir / "error.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"gunicorn did not become healthy; its log ends:\n{tail}")
            time.sleep(0.2)
        # Both workers up (the master forks them before the first answer, but be sure).
        tool = Tool(port, env, server, platform, url, admin, logdir, access)
        for _ in range(50):
            if len(tool.pids) >= workers + 1:
                break
            time.sleep(0.1)
        yield tool
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
        platform.server.shutdown()
        platform.server.server_close()
        if not keep:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
        shutil.rmtree(logdir, ignore_errors=True)


def access_log_times(
    path: Path, offset: int, expect: int = 0
) -> tuple[list[tuple[str, str, int, float]], int]:
    """(method, path, status, seconds) of each request logged after `offset`; the new offset.

    gunicorn writes the line after the response has gone, so wait (up to 2 s) for `expect`
    lines."""
    deadline = time.monotonic() + 2
    while True:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
        if data.count(b"\n") >= expect or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    data = data[: data.rfind(b"\n") + 1]
    rows = []
    for line in data.decode(errors="replace").splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2].isdigit() and parts[3].isdigit():
            rows.append((parts[0], parts[1], int(parts[2]), int(parts[3]) / 1e6))
    return rows, offset + len(data)


def machine_note() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores, load average {load[0]:.2f} at start "
        "(the generator and PostgreSQL share the machine)"
    )
