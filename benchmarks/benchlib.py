"""Shared helpers for the benchmark scripts: the machine, repeats, medians, tables.

Every script imports this first so it runs as `python3 benchmarks/NAME.py` from the
repository root whether or not rkvformal is installed (the root goes on sys.path and
on PYTHONPATH for the CLI subprocesses).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# `rkvformal ARGS` without relying on the console script being installed here
CLI = [sys.executable, "-c", "import sys; from rkvformal.cli import entry; "
       "sys.argv[0] = 'rkvformal'; entry()"]


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_cli(args: Sequence[str], expect: Sequence[int] = (0,)) -> tuple[float, str]:
    """Run `rkvformal ARGS` from the repository root; wall seconds and stdout."""
    started = time.perf_counter()
    done = subprocess.run([*CLI, *args], cwd=ROOT, env=cli_env(), capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in expect:
        raise SystemExit(f"rkvformal {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return wall, done.stdout


def load() -> str:
    """The load average, as `uptime` prints it (other jobs share the machine)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            one, five, fifteen = f.read().split()[:3]
        return f"load average {one}, {five}, {fifteen}"
    except OSError:
        return "load average unknown"


def pace() -> str:
    """CPU seconds of two fixed workloads, median of 3 each: pure Python (dictionaries,
    strings and tuples: what the prover's Python and the trace gate spend their time
    on) and one Z3 check (a small unsat arithmetic problem, with the prover's solver
    settings).  The machine's speed drifts by up to 2x within minutes at the same load
    average, and Z3's C++ can slow down while Python does not (docs/BENCHMARKS.md,
    session 8); printed before and after a benchmark, this says which phase its
    figures come from (a figure is only compared with one taken at a similar pace)."""
    def python_workload() -> None:
        counts: dict[tuple[str, int, str], int] = {}
        for i in range(600_000):
            key = ("k", i % 1000, str(i % 5000))
            counts[key] = counts.get(key, 0) + 1

    def z3_workload() -> None:
        import z3

        from rkvformal.smt.prover import SOLVER_SETTINGS

        ctx = z3.Context()
        solver = z3.Solver(ctx=ctx)
        for name, value in SOLVER_SETTINGS.items():
            solver.set(name, value)
        xs = [z3.Int(f"x{i}", ctx) for i in range(7)]  # 7 distinct values in 0..5
        solver.add(*(z3.And(x >= 0, x <= 5) for x in xs), z3.Distinct(*xs))
        if solver.check() != z3.unsat:
            raise AssertionError("the Z3 pace problem is unsat")

    def median_cpu(workload: Callable[[], None]) -> float:
        samples = []
        for _ in range(3):
            started = time.process_time()
            workload()
            samples.append(time.process_time() - started)
        return statistics.median(samples)

    return (f"pace {median_cpu(python_workload):.3f} s Python, "
            f"{median_cpu(z3_workload):.3f} s Z3 (reference workloads, CPU)")


def command_options(group: str) -> Any:
    """The `pipeline.Options` a row of models/ or bad_lowerings/ is proved with by its
    command: `rkvformal prove` in full, `rkvformal suite` decided by the case's stated
    atoms (`suite.run_suite`'s `by_stated_atoms`)."""
    from rkvformal import pipeline

    return pipeline.Options(by_stated_atoms=group == "bad_lowerings")


def state() -> str:
    """The load average and the pace, now."""
    return f"{load()}; {pace()}"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """nproc, CPU model, Python, z3 (and cvc5 when installed), the load and pace now."""
    import z3

    try:
        import cvc5

        second = f", cvc5 {cvc5.__version__}"
    except (ImportError, AttributeError):
        second = ""
    return (f"{os.cpu_count()} CPUs (nproc), {cpu_model()}, Python {platform.python_version()},"
            f" z3 {z3.get_version_string()}{second}; {state()}")


def revision() -> str:
    """The commit measured, and whether the working tree had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return head + (" + uncommitted changes" if dirty.strip() else "")


def header(title: str) -> None:
    print(f"# {title}")
    print(f"command: python3 {' '.join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])}")
    print(f"revision: {revision()}")
    print(f"machine: {machine()}\n")


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """Median wall seconds of `repeat` calls, every sample, and the last result."""
    samples: list[float] = []
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), samples, result


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


def secs(x: float) -> str:
    return f"{x:.3f} s" if x < 1 else f"{x:.2f} s"


def spread(samples: Sequence[float]) -> str:
    return f"{min(samples):.2f}-{max(samples):.2f}" if len(samples) > 1 else "-"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table: first column left-aligned, the others right-aligned."""
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|")
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print()
