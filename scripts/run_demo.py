"""Starts the tool (gunicorn, SQLite unless DATABASE_URL says otherwise) and the demo LMS
next to it, both on 127.0.0.1.

Run through `scripts/demo`, which prepares the environment first. Ctrl-C stops both.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from scripts.demo_lms.platform import DemoPlatform
from scripts.demo_lms.server import create_platform_app

ROOT = Path(__file__).resolve().parent.parent
ORGANISATION = "Demo Borough Council"


class PrintingInbox:
    """The demo's mail server: shows each e-mail the tool sends, instead of delivering it."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(("plain",))
        print(
            f"\n--- e-mail to {message['To']}: {message['Subject']}\n"
            f"{body.get_content() if body else ''}---",
            flush=True,
        )
        return "250 OK"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def flask(*args: str, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env, check=True
    )


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"The tool did not answer at {url} within {seconds:.0f}s.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tool-port", type=int, default=int(os.environ.get("TOOL_PORT", 5000)))
    parser.add_argument("--lms-port", type=int, default=int(os.environ.get("LMS_PORT", 5001)))
    parser.add_argument(
        "--smtp-port", type=int, default=int(os.environ.get("SMTP_DEMO_PORT", 1025))
    )
    args = parser.parse_args()
    for port in (args.tool_port, args.lms_port, args.smtp_port):
        if not port_is_free(port):
            raise SystemExit(f"Port {port} is in use. Set TOOL_PORT / LMS_PORT to free ports.")

    tool_url = f"http://127.0.0.1:{args.tool_port}"
    lms_url = f"http://127.0.0.1:{args.lms_port}"
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'instance' / 'demo.sqlite3'}")
    # Plain HTTP on loopback only: browsers refuse Secure cookies without HTTPS elsewhere.
    env.update(
        TOOL_BASE_URL=tool_url,
        COOKIE_SECURE="0",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(args.smtp_port),
        MAIL_FROM="corporate-parenting@demo-council.example",
    )

    print("Preparing the database and the tool's signing key...")
    owner_url = os.environ.get("OWNER_DATABASE_URL")
    if owner_url:
        # PostgreSQL with its two roles: the owner migrates and grants, the runtime role
        # (DATABASE_URL) runs everything else (README, "Database roles").
        runtime = make_url(env["DATABASE_URL"]).username or ""
        owner_env = {**env, "DATABASE_URL": owner_url}
        flask("db", "upgrade", env=owner_env)
        flask("db", "grant-runtime", runtime, env=owner_env)
    else:
        flask("db", "upgrade", env=env)
    flask("lti", "ensure-key", env=env)
    flask("content", "publish", env=env)
    platform = DemoPlatform(issuer=lms_url, tool_base_url=tool_url)
    platform.platform_storage = True  # as Canvas: the course page offers its storage
    flask(*platform.register_command(ORGANISATION), env=env)
    # A registration URL, to try LTI Dynamic Registration from the demo LMS's admin page.
    command = ["lti", "registration-url", "--org", ORGANISATION]
    made = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *command],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    registration_url = next(line for line in made.splitlines() if "/lti/register/" in line)
    # HR's roster for the demo council: who must complete the module, and who manages whom.
    flask(
        "roster",
        "import",
        str(ROOT / "scripts" / "demo_roster.csv"),
        "--org",
        ORGANISATION,
        env=env,
    )

    mail = Controller(PrintingInbox(), hostname="127.0.0.1", port=args.smtp_port)
    mail.start()
    lms = make_server("127.0.0.1", args.lms_port, create_platform_app(platform), threaded=True)
    threading.Thread(target=lms.serve_forever, daemon=True).start()
    tool = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{args.tool_port}",
            "--access-logfile",
            "-",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for(tool_url + "/healthz")
        print(
            "\n  The Corporate Parenting module is running.\n"
            f"  Open the demo LMS:  {lms_url}/\n"
            "  and launch as a learner (Aisha), a manager (Tom), HR (Priya) or a councillor (Jo).\n"
            f"  LMS administrators' view of the tool: {tool_url}/lti/config\n"
            f"  Dynamic registration: paste {registration_url}\n"
            f"  into the Tool URL box of {lms_url}/admin/tools (works once, for 24 hours).\n"
            "  Reminder e-mails (Tom's team page, `flask reminders run`) are printed here.\n"
            "  Press Ctrl-C to stop.\n",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        tool.wait()
    except KeyboardInterrupt:
        pass
    finally:
        tool.terminate()
        tool.wait(timeout=10)
        lms.shutdown()
        mail.stop()


if __name__ == "__main__":
    main()
