"""Benchmark: Z3's own count of its work (`rlimit count`) over one pass of the whole
suite, by the prover step that asked and the answer, with the CPU time of the checks.

    python3 benchmarks/solver_work.py [--rows all|models|bad_lowerings]

Why: wall time on this machine swings by 2x within minutes at the same load
(docs/BENCHMARKS.md), so a change to the encoding or to the search is first judged by
the solver's work, which is the same on every run of the same code (each row has its
own Z3 context, and Z3 is deterministic for the same formulas and the same checks),
then confirmed in alternated wall-time runs.  rlimit counts Z3's basic operations; it
follows time closely for one encoding, less so across encodings (a new encoding can
change what one unit costs), so compare CPU seconds too.

Rows are proved as the commands prove them: a model's row with every counterexample
(`rkvformal prove`), a bad lowering's with its stated atoms' only (`rkvformal suite`).
A check's step is the innermost `RowModel` method of STEPS on the call stack.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import benchlib
import z3
from benchlib import ROOT, table

from rkvformal import pipeline
from rkvformal.semantics.domain import Row

# the prover's steps, innermost first (a check asked by `_fewest_steps` inside `search`
# counts as `_fewest_steps`)
STEPS = ("_fewest_steps", "_walk", "_shrink_numbers", "_counterexample", "_lemma_from_start",
         "invariants_inductive", "induct", "confirm", "search")
GROUPS = ("models", "bad_lowerings")

Work = dict[tuple[str, str], list[float]]  # (step, answer) -> [checks, rlimit, cpu s]


def _rlimit(solver: z3.Solver) -> int:
    try:
        return int(solver.statistics().get_key_value("rlimit count"))
    except z3.Z3Exception:  # (no check has run on this solver yet)
        return 0


def _step() -> str:
    frame: Any = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name in STEPS:
            return str(frame.f_code.co_name)
        frame = frame.f_back
    return "?"


def work(rows: Iterable[tuple[Row, pipeline.Options]]) -> Work:
    """Prove the rows, one at a time, counting every Z3 check by step and answer."""
    counted: Work = defaultdict(lambda: [0, 0, 0.0])
    check = z3.Solver.check

    def counting(solver: z3.Solver, *assumptions: Any) -> z3.CheckSatResult:
        step, before, started = _step(), _rlimit(solver), time.process_time()
        answer = check(solver, *assumptions)
        entry = counted[(step, str(answer))]
        entry[0] += 1
        entry[1] += _rlimit(solver) - before
        entry[2] += time.process_time() - started
        return answer

    z3.Solver.check = counting
    try:
        for row, options in rows:
            pipeline.prove_row(row, options)
    finally:
        z3.Solver.check = check
    return dict(counted)


def suite_rows(group: str) -> list[tuple[Row, pipeline.Options]]:
    """Every row of models/ or bad_lowerings/, with the options its command uses."""
    options = benchlib.command_options(group)
    paths = sorted(glob.glob(os.path.join(ROOT, group, "*.rkv")))
    return [(row, options) for path in paths for row in pipeline.load(path).rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", choices=("all", *GROUPS), default="all")
    args = parser.parse_args()
    benchlib.header("solver work: Z3's rlimit count by prover step")
    groups = list(GROUPS) if args.rows == "all" else [args.rows]
    rows = [pair for group in groups for pair in suite_rows(group)]
    started = time.process_time()
    counted = work(rows)
    cpu = time.process_time() - started
    order = {step: i for i, step in enumerate(("search", *STEPS[:-1], "?"))}
    lines = sorted(counted.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1]))
    total = [sum(e[i] for e in counted.values()) for i in range(3)]
    print(f"{len(rows)} rows ({', '.join(groups)}), {int(total[0])} checks:\n")
    table(["step", "answer", "checks", "rlimit", "check CPU"],
          [[step, answer, int(n), f"{r / 1e6:.1f} M", f"{t:.2f} s"]
           for (step, answer), (n, r, t) in lines]
          + [["all", "", int(total[0]), f"{total[1] / 1e6:.1f} M", f"{total[2]:.2f} s"]])
    print(f"CPU of the whole pass: {cpu:.2f} s ({total[2] / cpu:.0%} in checks)")
    print(f"\nafter: {benchlib.state()}")


if __name__ == "__main__":
    main()
