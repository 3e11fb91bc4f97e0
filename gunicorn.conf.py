"""gunicorn's settings, read from the working directory by `gunicorn 'app:create_app()'`.

Only what the tool needs on every deployment; bind address, workers and the like stay on the
command line or in GUNICORN_CMD_ARGS, where operators expect them.
"""

import gc


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
