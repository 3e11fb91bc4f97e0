"""Sends the score outbox from a background thread of each serving process.

No person's request may wait on the LMS: the LMS's token endpoint may itself call the tool's
/lti/jwks (Moodle does when its copy is missing), and with every sync worker busy waiting on
the LMS nobody would answer it. So the acceptance only queues the score and wakes this thread;
the thread sends after the commit, with its own database session, while the worker goes on
serving. The rows stay in the database, so if the process dies `flask outbox run` (cron)
sends them; row locks (SELECT ... FOR UPDATE SKIP LOCKED) keep threads and cron from sending
one twice.

The thread starts lazily, on the first wake in a process, and is started again in a forked
child (gunicorn forks workers from its master; threads do not survive a fork).
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask, current_app

from app.clock import utcnow
from app.db import db

log = logging.getLogger("cpm.outbox")


class ScoreSender:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval = float(app.config["OUTBOX_POLL_SECONDS"])
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def wake(self) -> None:
        """Send what is due soon, from the thread (started here if need be); never blocks."""
        if self.interval <= 0:
            return  # cron only
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if not alive or self._pid != os.getpid():
                self._pid = os.getpid()
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="score-sender", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 15) -> None:
        """Let the thread finish what it is sending, and end (tests; process shutdown)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        from app.services.outbox import send_due
        from lti.ags import send_score

        while not self._stop.is_set():
            # Cleared before sending: a wake during a send means one more pass.
            self._wake.clear()
            try:
                with self.app.app_context():
                    try:
                        send_due(db.session(), send_score, utcnow())
                    finally:
                        db.session.remove()
            except Exception:  # a database outage: log it, and try again at the next pass
                log.exception("score sender: the outbox could not be read")
            self._wake.wait(self.interval)


def init_app(app: Flask) -> None:
    app.extensions["score_sender"] = ScoreSender(app)


def wake() -> None:
    """Called by a view after its commit queued a score."""
    current_app.extensions["score_sender"].wake()
