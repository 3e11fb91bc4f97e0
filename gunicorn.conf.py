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
from typing import Any

from gunicorn import glogging

from app.url_secrets import redact


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
    read the access log must not be able to register a platform from it."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f", "{raw_uri}e"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms


logger_class = _RedactingLogger
