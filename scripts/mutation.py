"""A small mutation runner for the modules where a silent bug corrupts the record.

Each mutant is one small change to a module (a comparison, a boolean or arithmetic operator,
a constant, a `not`, a returned value, a call dropped), made with the standard `ast` module.
It is written over the module in a temporary copy of the repository (the real file is never
touched) and only that module's tests run against it, on SQLite. A mutant the tests fail
on is killed; one they pass is a survivor: a rule no test pins, or an equivalent change.

    .venv/bin/python scripts/mutation.py --module status
    .venv/bin/python scripts/mutation.py --module audit --module attempts --sample 60 --seed 1
    .venv/bin/python scripts/mutation.py --module acceptance --list

Known equivalent mutants (no behaviour can tell them apart) are listed in EQUIVALENT with
the reason, and left out of the score.
"""

from __future__ import annotations

import argparse
import ast
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> (file, the tests that pin it): one module's tests, so a mutant runs in seconds.
MODULES: dict[str, tuple[str, list[str]]] = {
    "audit": (
        "app/services/audit.py",
        ["tests/services/test_audit_vectors.py", "tests/services/test_audit.py"],
    ),
    "status": ("app/services/status.py", ["tests/services/test_status_rules.py"]),
    "acceptance": ("app/services/acceptance.py", ["tests/services/test_acceptance_rules.py"]),
    "attempts": ("app/services/attempts.py", ["tests/services/test_attempts_rules.py"]),
}

# (module, function, before, after) -> why no test can tell the mutant from the original.
EQUIVALENT: dict[tuple[str, str, str, str], str] = {
    **{
        ("audit", "<module>", "-918273645546372819", after): "any marker that is not a real "
        "sequence number splits the canonical text the same way"
        for after in ("918273645546372820", "918273645546372818")
    },
    **{
        ("audit", "verify", "yield_per=1000", after): "yield_per's batch size changes memory, "
        "not results"
        for after in ("1001", "999")
    },
    ("status", "status_query", "expanding=True", "False"): "in_() makes any bound parameter "
    "expanding (SQLAlchemy sets the flag itself)",
    ("status", "person_status", ".limit(1)", "2"): "first() takes the first row either way",
    (
        "status",
        "next_valid_until",
        "accepted_on <= previous_until",
        "accepted_on < previous_until",
    ): (
        "the two differ only when accepting on the expiry day itself, where counting from the "
        "expiry and from the acceptance give the same date"
    ),
    ("attempts", "open_attempt", ".limit(1)", "2"): "first() takes the first row either way",
    ("attempts", "submit", "strict=True", "False"): "the questions shown are built from the "
    "drawn list itself: always the same length",
    **{
        (
            "attempts",
            "extend",
            "session.scalar(select(func.count()).select_from(QuizExtension).whe ...",
            after,
        ): "count() is never None: `or` only turns 0 into 1 or -1, both below the cap"
        for after in ("1", "-1")
    },
    ("attempts", "extend", "session.flush()", "pass"): "deadline_of's query flushes the "
    "session first (autoflush) and the caller commits",
    ("attempts", "question_statistics", ".most_common(1)", "2"): "top[0] is the same element",
    ("attempts", "question_statistics", "top[0]", "-1"): "most_common(1) has at most one "
    "element: top[-1] is top[0]",
    ("audit", "verify", "rows.close()", "pass"): "releases the cursor early; the walk's result "
    "is the same (the session closes it at the end anyway)",
}

# Mutants only PostgreSQL runs (module -> (function, text the mutated code starts with)):
# left out of a SQLite run; `--postgres` runs exactly these.
POSTGRES_ONLY: dict[str, list[tuple[str, str]]] = {
    "audit": [
        ("_sql_chain_hash", ""),
        ("_append_postgresql", ""),
        ("record", "return Appended(row.id"),
    ],
    "acceptance": [("_new_id", "return int(session.execute(query)")],
}

# --postgres: run the tests on TEST_DATABASE_URL, for the PostgreSQL-only paths (--only).
POSTGRES = False

COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.Mult: ast.FloorDiv,
    ast.Div: ast.Mult,
    ast.Mod: ast.FloorDiv,
}


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int  # the node's position in ast.walk() order of the parsed module
    variant: int  # which change of that node
    line: int
    col: int
    operator: str
    function: str
    before: str
    after: str
    context: str  # a constant's surroundings (its parent), else the changed code itself

    @property
    def postgres_only(self) -> bool:
        return any(
            self.function == function and self.before.startswith(start)
            for function, start in POSTGRES_ONLY.get(self.module, [])
        )

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.module, self.function, self.context, self.after)

    def __str__(self) -> str:
        where = f"{self.line}:{self.col} {self.operator} in {self.function}"
        return f"{where}: {self.before} -> {self.after}"


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """Nodes inside type annotations: changing them changes nothing at run time."""
    skip: set[int] = set()
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            roots.append(node.returns)
    for root in roots:
        skip.update(id(n) for n in ast.walk(root))
    return skip


def _functions(tree: ast.AST) -> tuple[dict[int, str], dict[int, ast.AST]]:
    """Each node's enclosing function or class, for naming a mutant, and its parent."""
    owner: dict[int, str] = {}
    parent: dict[int, ast.AST] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            parent[id(child)] = node
            inner = name
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{name}.{child.name}" if name != "<module>" else child.name
            owner[id(child)] = inner
            visit(child, inner)

    visit(tree, "<module>")
    return owner, parent


def _changes(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(operator name, replacement node) for each mutant of one node; node is left as it is."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            swap = COMPARE_SWAPS.get(type(op))
            if swap:
                ops = list(node.ops)
                ops[i] = swap()
                yield "compare", ast.Compare(node.left, ops, node.comparators)
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "and/or", ast.BoolOp(other, node.values)
    elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
        yield "arithmetic", ast.BinOp(node.left, BINOP_SWAPS[type(node.op)](), node.right)
    elif isinstance(node, ast.AugAssign) and type(node.op) in BINOP_SWAPS:
        yield "arithmetic", ast.AugAssign(node.target, BINOP_SWAPS[type(node.op)](), node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield "true/false", ast.Constant(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield "constant", ast.Constant(node.value + 1)
        yield "constant", ast.Constant(node.value - 1)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not", node.operand
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return None", ast.Return(ast.Constant(None))
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "drop call", ast.Pass()


def _text(node: ast.AST, width: int = 70) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= width else text[: width - 4] + " ..."


def _context(node: ast.AST, parent: ast.AST | None) -> str:
    """What names a mutant in EQUIVALENT: a constant with its surroundings, else the code."""
    if not isinstance(node, ast.Constant) or parent is None:
        return _text(node)
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute):
        return f".{parent.func.attr}({_text(node)})"  # .limit(1), not the whole statement
    return _text(parent)


def mutants(module: str) -> list[Mutant]:
    path, _ = MODULES[module]
    tree = ast.parse((ROOT / path).read_text())
    skip = _annotation_nodes(tree)
    owner, parent = _functions(tree)
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        for variant, (operator, replacement) in enumerate(_changes(node)):
            found.append(
                Mutant(
                    module,
                    index,
                    variant,
                    node.lineno,
                    node.col_offset,
                    operator,
                    owner.get(id(node), "<module>"),
                    _text(node),
                    _text(replacement),
                    _context(node, parent.get(id(node))),
                )
            )
    return sorted(found, key=lambda m: (m.line, m.col, m.index, m.variant))


def mutated_source(mutant: Mutant) -> str:
    """The module with this one change, from a fresh parse (ast.walk order is stable)."""
    path, _ = MODULES[mutant.module]
    tree = ast.parse((ROOT / path).read_text())
    for index, node in enumerate(ast.walk(tree)):
        if index == mutant.index:
            _, replacement = list(_changes(node))[mutant.variant]
            ast.copy_location(replacement, node)
            for parent in ast.walk(tree):
                for field, value in ast.iter_fields(parent):
                    if value is node:
                        setattr(parent, field, replacement)
                    elif isinstance(value, list) and any(v is node for v in value):
                        value[[v is node for v in value].index(True)] = replacement
            return ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    raise LookupError(mutant)


def copy_tree(into: Path) -> Path:
    """The repository's files (not .git, caches or databases) with the shared .venv linked."""
    skip = shutil.ignore_patterns(
        ".git",
        ".venv",
        "node_modules",
        "__pycache__",
        "*.pyc",
        "instance",
        "*.sqlite3",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
    )
    target = into / "repo"
    shutil.copytree(ROOT, target, ignore=skip, symlinks=True)
    for link in (".venv", "node_modules"):
        if (ROOT / link).exists():
            (target / link).symlink_to((ROOT / link).resolve())
    return target


def run_tests(copy: Path, tests: list[str], timeout: float) -> str:
    """'killed', 'survived' or 'timeout'."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(copy)}
    if not POSTGRES:
        env.pop("TEST_DATABASE_URL", None)  # SQLite: fast, and no load on a shared server
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        result = subprocess.run(
            command, cwd=copy, env=env, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if result.returncode == 0 else "killed"


def check_copy(copy: Path, module: str) -> None:
    """The copy's module is the one imported (not the editable install's)."""
    path, _ = MODULES[module]
    dotted = path.removesuffix(".py").replace("/", ".")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    out = subprocess.run(
        [sys.executable, "-c", f"import {dotted} as m; print(m.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if Path(out).resolve() != (copy / path).resolve():
        raise SystemExit(f"the copy imports {out}, not its own {path}")


def run_module(module: str, chosen: list[Mutant], workers: int, copies: list[Path]) -> int:
    path, tests = MODULES[module]
    original = (ROOT / path).read_text()
    for copy in copies:
        (copy / path).write_text(original)
        check_copy(copy, module)
    started = time.monotonic()
    if run_tests(copies[0], tests, timeout=900) != "survived":
        raise SystemExit(f"{module}: its tests fail without any mutant: fix them first")
    baseline = time.monotonic() - started
    timeout = max(120.0, 6 * baseline)  # generous: the machine may be shared
    print(
        f"{module}: {len(chosen)} mutants, tests take {baseline:.1f}s, timeout {timeout:.0f}s",
        flush=True,
    )

    free: queue.Queue[Path] = queue.Queue()
    for copy in copies:
        free.put(copy)

    def one(mutant: Mutant) -> tuple[Mutant, str]:
        copy = free.get()
        try:
            (copy / path).write_text(mutated_source(mutant))
            return mutant, run_tests(copy, tests, timeout)
        finally:
            (copy / path).write_text(original)
            free.put(copy)

    results: dict[str, list[Mutant]] = {"killed": [], "survived": [], "timeout": []}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, (mutant, outcome) in enumerate(pool.map(one, chosen), start=1):
            results[outcome].append(mutant)
            print(f"  [{done}/{len(chosen)}] {outcome:8} {mutant}", flush=True)
    equivalent = [m for m in results["survived"] if m.key in EQUIVALENT]
    survivors = [m for m in results["survived"] if m.key not in EQUIVALENT]
    detected = len(results["killed"]) + len(results["timeout"])
    counted = len(chosen) - len(equivalent)
    print(
        f"\n{module}: killed {len(results['killed'])}, timed out {len(results['timeout'])}, "
        f"survived {len(results['survived'])} ({len(equivalent)} known equivalent)"
    )
    for mutant in equivalent:
        print(f"  equivalent {mutant}  ({EQUIVALENT[mutant.key]})")
    for mutant in survivors:
        print(f"  SURVIVED   {mutant}")
    score = 100 * detected / counted if counted else 100.0
    print(
        f"{module}: {score:.1f}% of {counted} non-equivalent mutants killed "
        f"({100 * detected / len(chosen) if chosen else 100:.1f}% of all {len(chosen)})\n",
        flush=True,
    )
    return len(survivors)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--module", action="append", choices=sorted(MODULES), help="repeatable; default all"
    )
    parser.add_argument("--sample", type=int, help="run a random sample of N mutants per module")
    parser.add_argument("--seed", type=int, default=0, help="for --sample")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument(
        "--only", action="append", help="only mutants in functions whose name contains this"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="run the PostgreSQL-only mutants, on $TEST_DATABASE_URL",
    )
    parser.add_argument("--workers", type=int, default=2, choices=(1, 2), help="parallel test runs")
    args = parser.parse_args(argv)
    modules = args.module or sorted(MODULES)
    global POSTGRES
    POSTGRES = args.postgres
    if POSTGRES and not os.environ.get("TEST_DATABASE_URL"):
        parser.error("--postgres needs TEST_DATABASE_URL")
    plan = {}
    for module in modules:
        found = mutants(module)
        left_out = [m for m in found if m.postgres_only is not POSTGRES]
        if left_out and not args.only:
            found = [m for m in found if m.postgres_only is POSTGRES]
            where = "SQLite" if POSTGRES else "PostgreSQL (--postgres)"
            print(f"{module}: {len(left_out)} mutants only {where} runs are left out")
        if args.only:
            found = [m for m in found if any(part in m.function for part in args.only)]
        if args.sample and args.sample < len(found):
            found = sorted(
                random.Random(args.seed).sample(found, args.sample), key=lambda m: m.index
            )
        plan[module] = found
    if args.list:
        for module, found in plan.items():
            print(f"{module}: {len(found)} mutants")
            for mutant in found:
                print(f"  {mutant}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copies = [copy_tree(Path(tmp) / str(n)) for n in range(args.workers)]
        survived = sum(run_module(module, plan[module], args.workers, copies) for module in modules)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
