"""gunicorn's settings, read from the working directory by `gunicorn 'app:create_app()'`.

Only what the tool needs on every deployment; bind address, workers and the like stay on the
command line or in GUNICORN_CMD_ARGS, where operators expect them.

Any number of sync workers is safe, two included: no request of a person calls the LMS. An
LMS's token endpoint may call back the tool's /lti/jwks before answering (Moodle does when its
copy of the keys is missing); were the score sent inside the acceptance request, two workers
each waiting on the LMS would leave nobody to answer it. Scores are sent by a thread in each
worker (app/score_sender.py), started lazily there, never in this master process, so the
workers stay free to answer the LMS; cron's `flask outbox run` sends whatever a dead worker
left.
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# Metrics (app/metrics.py, README "Metrics and logs"): each worker keeps its counts in files
# of one directory and a scrape adds them up (prometheus_client's multiprocess mode). It is
# chosen when prometheus_client is first imported, so before the app is: here. An operator
# may name the directory; otherwise each start has a temporary one of its own.
_OWN_METRICS_DIR = bool(
    os.environ.get("METRICS_TOKEN") and not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
)
if _OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="cpm-metrics-")
JSON_LOGS = os.environ.get("LOG_FORMAT") == "json"
# matplotlib (the committee report's charts) keeps a font cache in its config directory,
# under HOME; a service account's HOME is often read-only, and each worker would then build
# the cache again and warn. One directory for every worker, unless the operator names one.
os.environ.setdefault("MPLCONFIGDIR", os.path.join(tempfile.gettempdir(), "cpm-matplotlib"))

from gunicorn import glogging  # noqa: E402

from app.logs import JsonFormatter, request_id  # noqa: E402
from app.url_secrets import redact  # noqa: E402


def on_starting(server: object) -> None:
    """Counts left by an earlier run would be added to this one's: start from none."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink()


def child_exit(server: object, worker: Any) -> None:
    """A worker that exits keeps its counts in the sum; its gauges of live values go."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server: object) -> None:
    if _OWN_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def post_worker_init(worker: object) -> None:
    """Once a worker has loaded the app: set its long-lived objects (code, templates, the
    database metadata) aside from the cyclic garbage collector, and collect less often.

    Each request allocates many short-lived objects, and with Python's default threshold the
    collector ran dozens of times per launch, re-examining the whole app each time: about 5%
    of a launch's CPU (scripts/bench_launch.py). Memory stays bounded: cycles are still
    collected, every 10,000 allocations instead of every 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


class _RedactingLogger(glogging.Logger):
    """The access log without the secrets some URLs carry: the tool's one-time registration
    links, the LMS's registration_token, Moodle's sesskey (app/url_secrets.py). Whoever may
    read the access log must not be able to register a platform from it.

    With LOG_FORMAT=json, gunicorn's lines are JSON objects like the app's, and each access
    line carries the request's parts as fields (redacted the same way)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if JSON_LOGS:
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(JsonFormatter())

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if not JSON_LOGS:
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        fields = {
            "remote_addr": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "query": atoms["q"],
            "status": resp.status_code,
            "bytes": atoms["B"],
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "referer": None if atoms["f"] == "-" else atoms["f"],
            "user_agent": None if atoms["a"] == "-" else atoms["a"],
        }
        found = request_id(environ.get("HTTP_X_REQUEST_ID"))
        if found:
            fields["request_id"] = found
        self.access_log.info("%s", atoms["r"], extra={"fields": fields})

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f", "{raw_uri}e"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms


logger_class = _RedactingLogger
