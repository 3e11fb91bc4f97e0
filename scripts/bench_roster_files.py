"""What hostile and large roster files cost to read (or refuse): time and peak memory.

Each file is read in a fresh child process (timed, then again for the peak of Python's
allocations) by `roster.read_file` (the page's and the command's reader) or, for comparison,
by pandas' full load as the roster was read before (`--before`). The files are the
tests' (tests/hostile_files.py).

    .venv/bin/python -m scripts.bench_roster_files [--before]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import time
import tracemalloc
from collections.abc import Callable

import pandas as pd

from app.services import roster
from tests import hostile_files as hostile


def _csv(people: int) -> bytes:
    head = ",".join(hostile.HEADINGS) + "\n"
    rows = "".join(",".join(hostile.person(i)) + "\n" for i in range(people))
    return (head + rows).encode()


CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    "zip bomb, 53 MB of XML": ("roster.xlsx", hostile.bomb),
    "400,000 rows in 1 MB": ("roster.xlsx", lambda: hostile.many_rows(400_000)),
    "roster XLSX, 100,000 people": ("roster.xlsx", lambda: hostile.roster_xlsx(100_000)),
    "roster CSV, 100,000 people": ("roster.csv", lambda: _csv(100_000)),
}


def _read(data: bytes, filename: str, before: bool) -> str:
    try:
        if before:
            if filename.endswith(".xlsx"):
                rows = len(pd.read_excel(io.BytesIO(data), dtype=str, engine="openpyxl"))
            else:
                rows = len(pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False))
            return f"read {rows:,} rows"
        return f"read {len(roster.read_file(data, filename)):,} rows"
    except Exception as exc:  # the outcome is the point: refused, and how quickly
        return f"refused: {str(exc)[:70]}"


def _measure(name: str, filename: str, before: bool, out: multiprocessing.Queue) -> None:
    data = CASES[name][1]()
    start = time.perf_counter()
    outcome = _read(data, filename, before)
    took = time.perf_counter() - start
    # Peak memory in a second pass, traced (tracing slows the reading down).
    tracemalloc.start()
    _read(data, filename, before)
    peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024
    tracemalloc.stop()
    out.put(f"{name:30} {len(data) / 1024:9,.0f} KB {took:7.2f} s {peak:7.0f} MB  {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", action="store_true", help="pandas' full load instead")
    args = parser.parse_args()
    context = multiprocessing.get_context("fork")
    print(f"{'file':30} {'size':>12} {'time':>9} {'memory':>10}  outcome")
    for name, (filename, _) in CASES.items():
        queue: multiprocessing.Queue = context.Queue()
        child = context.Process(target=_measure, args=(name, filename, args.before, queue))
        child.start()
        print(queue.get())
        child.join()


if __name__ == "__main__":
    main()
