"""Benchmark: capacity independence, the 60/70/80 question at 80 and at 1,000,000 blocks.

    python3 benchmarks/capacity.py [--repeat 3]

Why: capacities are symbolic in the model (integers, not one variable per block), so
asking the paper-1 question with a million usable blocks should cost what it costs with
80; an explicit-state checker pays for every block (benchmarks/baselines.py).

The benchmark writes a small descriptor per capacity into a temporary directory: a
hard_exclusion row and a retention-priority row, both `mode hard_protected`, with a
scenario `usable U, claim footprint R (leading_prefix_at_least(R)), active demand A`.
Capacities compared:

* paper:    U = 80,        R = 60,      A = 70       (R + A > U: a conflict)
* scaled:   U = 1,000,000, R = 750,000, A = 875,000  (the same ratios: the same conflict,
  so the same question; this is the meaningful comparison)
* unscaled: U = 1,000,000, R = 60,      A = 70       (no conflict: a different, easier
  question, shown so nobody mistakes it for the scaled one)

Questions, at bound k=12, each on a fresh `RowModel` (construction included):

* pinned: "does some trace with exactly these numbers (no other claim, no unclaimed
  cache) violate protected_exclusion?" -- the row's violation goal and its scenario
  goal assumed together (hard exclusion: unsat; priority: sat where R + A > U);
* counterexample: `RowModel.prove` of protected_exclusion on the priority row with
  shrinking, which looks for a counterexample in the scenario's numbers first (the
  public path behind `rkvformal prove`).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from functools import partial

import benchlib
from benchlib import secs, table, timed

from rkvformal import pipeline
from rkvformal.semantics.domain import Row
from rkvformal.smt.prover import RowModel
from rkvformal.vocab import Atom

BOUND = 12
ATOM = Atom.PROTECTED_EXCLUSION
CAPACITIES = {  # name: (usable, resident footprint, active demand)
    "paper": (80, 60, 70),
    "scaled x12,500": (1_000_000, 750_000, 875_000),
    "unscaled": (1_000_000, 60, 70),
}

DESCRIPTOR = """\
runtime cap {{ name "capacity benchmark" repo "org/cap" version "v1" }}
primitive hard_exclusion {{
  kind hard_exclusion
  provenance patch
  param on_conflict = refuse
  param blocking_ids = involved
  param claim_events = true
  anchor "src/cap.py:1"
}}
primitive retention_priority {{
  kind eviction_priority
  provenance native
  param minimum = 0
  param maximum = 100
  param default = 35
  anchor "src/cap.py:2"
}}
scenario s {{
  usable {u}
  claim resident {{ footprint {r} predicate leading_prefix_at_least({r}) }}
  active bulky {{ demand {a} }}
}}
lowering hard mode hard_protected via hard_exclusion scenario s
lowering prio mode hard_protected via retention_priority scenario s
"""


def rows(directory: str, name: str, numbers: tuple[int, int, int]) -> dict[str, Row]:
    u, r, a = numbers
    path = os.path.join(directory, name.split()[0] + ".rkv")
    with open(path, "w", encoding="utf-8") as f:
        f.write(DESCRIPTOR.format(u=u, r=r, a=a))
    return {row.name: row for row in pipeline.load(path).rows}


def pinned(row: Row) -> tuple[str, float]:
    """Answer and solver seconds of the pinned question on a fresh model."""
    assert row.scenario is not None  # (every row of DESCRIPTOR has one)
    model = RowModel(row, BOUND)
    goals = [model.violation_goal(ATOM, None), model.scenario_goal(row.scenario, True)]
    # these goals read no history chains, so nothing needs flushing before the check
    assert not model.v.history_init
    started = time.perf_counter()
    answer = model.solver.check(*model.assumptions(model.labels), *goals)
    return str(answer), time.perf_counter() - started


def counterexample(row: Row) -> tuple[str, bool, int | None]:
    model = RowModel(row, BOUND)
    check = model.prove(ATOM, None, model.labels)
    usable = check.trace.k("U") if check.trace is not None else None
    return check.status.value, check.scenario_used, usable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    benchlib.header("capacity independence (protected_exclusion, k=12)")
    results: dict[tuple[str, str], float] = {}
    out = []
    with tempfile.TemporaryDirectory() as directory:
        for name, numbers in CAPACITIES.items():
            by_name = rows(directory, name, numbers)
            for row_name in ("hard", "prio"):
                row = by_name[row_name]
                total, _, (answer, _) = timed(partial(pinned, row), args.repeat)
                solve = sorted(pinned(row)[1] for _ in range(args.repeat))[args.repeat // 2]
                results[(name, f"{row_name} pinned")] = total
                out.append([name, "/".join(f"{n:,}" for n in numbers), f"{row_name}: pinned",
                            answer, secs(solve), secs(total)])
            row = by_name["prio"]
            total, _, (status, used, usable) = timed(partial(counterexample, row), args.repeat)
            results[(name, "prio counterexample")] = total
            where = f"{status}, in the scenario's numbers (U={usable:,})" if used else \
                f"{status}, scenario not used (U={usable})"
            out.append([name, "/".join(f"{n:,}" for n in numbers), "prio: counterexample",
                        where, "-", secs(total)])
    print(f"median of {args.repeat}; U/R/A = usable / resident footprint / active demand\n")
    table(["capacity", "U/R/A", "question", "answer", "check only", "fresh model + check"],
          out)
    print("ratio scaled / paper (fresh model + check):\n")
    table(["question", "ratio"], [
        [q, f"{results[('scaled x12,500', q)] / results[('paper', q)]:.2f}"]
        for q in ("hard pinned", "prio pinned", "prio counterexample")])
    print(f"after: {benchlib.state()}")


if __name__ == "__main__":
    main()
