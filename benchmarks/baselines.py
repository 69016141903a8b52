"""Benchmark: the naive baselines for the 60/70/80 hard-exclusion question.

    python3 benchmarks/baselines.py [--repeat 3] [--depth 12] [--quick]

Why: the claim that SMT over counts is the right tool rests on what the alternatives
cost.  Two explicit-state baselines answer "under hard exclusion, can an accepted
claim of 60 required blocks lose them to victim selection when a 70-block request
arrives on 80 usable blocks?" (protected_exclusion):

(i) the block simulator (rkvformal/sim), enumerated exhaustively: breadth-first over
    every move the simulator enables (`Simulator.enabled_moves`) and every victim split
    it allows (`Simulator.victim_options`), from the initial state, up to `--depth`
    moves; claim slot 0 only and no unclaimed cache (exactly the scenario); states are
    deduplicated on the simulator's `StateSnapshot` after each move (block ids, hashes,
    ref counts, phases, clocks); every transition is checked with the model's own
    atom (`ATOMS[protected_exclusion].violation` on `abstract(history)`).  Then the same
    at 160 and 320 usable blocks with the numbers scaled (R = 3U/4, A = 7U/8).
(ii) the spin peer (/work/shared/peers/spin: a Promela counting model of one accepted
    claim and active requests of any demand 1..N arriving forever, searched to its
    fixpoint), if `spin` and `gcc` are installed.

Against: rkvformal's answers at the same bound on a fresh `RowModel` of the patched
vLLM hard_protected row (models/vllm_hard_exclusion_patch.rkv): the pinned question
(exactly these numbers, as the simulator gets them), and the symbolic proof (every
capacity, demand and two claims at once, plus k-induction, which makes it unbounded).
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, replace
from functools import partial

import benchlib
from benchlib import ROOT, secs, table, timed

from rkvformal import pipeline
from rkvformal.semantics.domain import Row, Scenario
from rkvformal.sim.abstraction import abstract
from rkvformal.sim.runtime import ClaimNumbers, IllegalMove, LivePlan, Numbers, Simulator
from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.prover import RowModel
from rkvformal.smt.trace import CLAIMS
from rkvformal.vocab import Atom

ATOM = Atom.PROTECTED_EXCLUSION
SPIN = "/work/shared/peers/spin"


@dataclass(frozen=True)
class Enumeration:
    states: int
    transitions: int
    violations: int
    seconds: float


def enumerate_states(row: Row, usable: int, resident: int, demand: int,
                     depth: int) -> Enumeration:
    """Every simulator state reachable in at most `depth` moves (claim slot 0 only)."""
    started = time.perf_counter()
    root = Simulator(row.primitives, Numbers(usable, LivePlan.single(demand),
                                             (ClaimNumbers(resident),)),
                     claim_names=["resident"])
    atom = ATOMS[ATOM]
    seen = {root.history.initial}
    frontier = [root]
    transitions = violations = 0
    for _ in range(depth):
        following: list[Simulator] = []
        for sim in frontier:
            for move, claim in sim.enabled_moves():
                if claim not in (None, 0):
                    continue  # exactly the scenario: one claim
                try:
                    splits = sim.victim_options(move, claim)
                except IllegalMove:
                    continue
                for victims in splits:
                    for drop in ((False, True) if sim.lossy else (False,)):
                        child = copy.deepcopy(sim)
                        try:
                            record = child.step(move, claim, victims, drop=drop)
                        except IllegalMove:
                            continue
                        transitions += 1
                        view = abstract(child.history)
                        t = len(child.history.steps) - 1
                        if any(atom.violation(view, c, t, None) for c in CLAIMS):
                            violations += 1
                        if record.state not in seen:
                            seen.add(record.state)
                            following.append(child)
        frontier = following
    return Enumeration(len(seen), transitions, violations, time.perf_counter() - started)


def scenario(usable: int, resident: int, demand: int, like: Scenario) -> Scenario:
    """`like` (the row's 60/70/80 scenario) with other numbers."""
    spec = replace(like.claims[0], footprint=resident, required=resident)
    return replace(like, name=f"u{usable}", usable=usable, claims=(spec,),
                   active_demand=demand)


def smt_pinned(row: Row, bound: int, numbers: Scenario) -> tuple[str, float]:
    """A fresh model and the question with exactly these numbers (no other claim)."""
    started = time.perf_counter()
    model = RowModel(row, bound)
    goals = [model.violation_goal(ATOM, None), model.scenario_goal(numbers, True)]
    assert not model.v.history_init  # nothing to flush
    answer = model.solver.check(*model.assumptions(model.labels), *goals)
    return str(answer), time.perf_counter() - started


def smt_symbolic(row: Row, bound: int) -> tuple[str, float]:
    """A fresh model, the bounded proof with its vacuity check, then k-induction."""
    started = time.perf_counter()
    model = RowModel(row, bound)
    check = model.prove(ATOM, None, model.labels)
    depth = model.induct(ATOM, None, model.labels) if check.proof else None
    what = check.status.value + (f", unbounded (k-induction k={depth})" if depth else "")
    return what, time.perf_counter() - started


def spin(n: int, r: int) -> dict[str, str] | None:
    """The peer's run.sh (spin -a, gcc, pan) and its wall time including compilation."""
    if not (shutil.which("spin") and shutil.which("gcc") and os.path.isdir(SPIN)):
        return None
    started = time.perf_counter()
    done = subprocess.run(["bash", os.path.join(SPIN, "run.sh"), str(n), str(r), "1"],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    line = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    fields = dict(re.findall(r"(errors|secs)[=:] ?([0-9.]+)", line))
    states = re.search(r"([0-9.e+]+) states", line)
    transitions = re.search(r"([0-9.e+]+) transitions", line)
    return {"errors": fields.get("errors", "?"), "search": fields.get("secs", "?"),
            "states": states.group(1) if states else "?",
            "transitions": transitions.group(1) if transitions else "?",
            "wall": f"{wall:.2f}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--depth", type=int, default=12, help="simulator depth = SMT bound")
    parser.add_argument("--growth-depth", type=int, default=8,
                        help="depth of the 80/160/320 growth runs")
    parser.add_argument("--quick", action="store_true", help="depth 8 / 6, one run each")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    depth = 8 if args.quick else args.depth
    growth_depth = 6 if args.quick else args.growth_depth
    benchlib.header("naive baselines for the 60/70/80 hard-exclusion question")

    descriptor = pipeline.load(os.path.join(ROOT, "models", "vllm_hard_exclusion_patch.rkv"))
    row = next(r for r in descriptor.rows if r.name == "patched_hard_protected")
    assert row.scenario is not None
    canonical = scenario(80, 60, 70, row.scenario)

    # (i) the simulator, exactly 60/70/80, at the SMT bound
    sim_t, _, found = timed(lambda: enumerate_states(row, 80, 60, 70, depth), repeat)
    pin_t, _, (pin_answer, _) = timed(lambda: smt_pinned(row, depth, canonical), repeat)
    sym_t, _, (sym_what, _) = timed(lambda: smt_symbolic(row, depth), repeat)
    print(f"(i) 60/70/80 at depth/bound {depth}, median of {repeat}:\n")
    table(["method", "answer", "states", "transitions", "time", "ratio to SMT pinned"], [
        ["simulator, exhaustive BFS", f"{found.violations} violations", f"{found.states:,}",
         f"{found.transitions:,}", secs(sim_t), f"{sim_t / pin_t:,.0f}x"],
        ["rkvformal, pinned 60/70/80", pin_answer, "-", "-", secs(pin_t), "1x"],
        ["rkvformal, symbolic (all numbers)", sym_what, "-", "-", secs(sym_t),
         f"{sym_t / pin_t:.1f}x"],
    ])

    growth = []
    for usable in (80, 160, 320):
        resident, demand = usable * 3 // 4, usable * 7 // 8
        e_t, _, e = timed(
            partial(enumerate_states, row, usable, resident, demand, growth_depth), repeat)
        numbers = scenario(usable, resident, demand, row.scenario)
        p_t, _, (answer, _) = timed(partial(smt_pinned, row, growth_depth, numbers), repeat)
        growth.append([f"{usable}/{resident}/{demand}", f"{e.states:,}", f"{e.transitions:,}",
                       f"{e.violations}", secs(e_t), f"{answer} {secs(p_t)}",
                       f"{e_t / p_t:,.0f}x"])
    print(f"growth with usable blocks (U/R/A scaled), depth/bound {growth_depth}, "
          f"median of {repeat}:\n")
    table(["U/R/A", "sim states", "sim transitions", "violations", "sim time",
           "rkvformal pinned", "ratio"], growth)

    # (ii) spin
    print("(ii) spin peer (HARD=1; states to the fixpoint, any demand 1..N):\n")
    spin_rows = []
    for n in (80, 160, 320, 640, 2560):
        runs = [spin(n, n * 3 // 4) for _ in range(repeat)]
        if runs[0] is None:
            print("spin or gcc is not installed here: not measured (the peer's README "
                  "reports N=640 0.22 s, N=2,560 3.3 s, N=10,240 110 s, 1.2e8 states, "
                  "measured elsewhere).\n")
            break
        search = sorted(float(run["search"]) for run in runs if run)[repeat // 2]
        wall = sorted(float(run["wall"]) for run in runs if run)[repeat // 2]
        first = runs[0]
        spin_rows.append([n, n * 3 // 4, first["errors"], first["states"], first["transitions"],
                          secs(search), secs(wall), f"{search / sym_t:.2f}x",
                          f"{wall / sym_t:.2f}x"])
    if spin_rows:
        table(["N", "R", "errors", "states", "transitions", "search (pan)",
               "spin -a + gcc + search", "search / SMT symbolic",
               "total / SMT symbolic"], spin_rows)
        print(f"SMT symbolic = {secs(sym_t)} ({sym_what}, k={depth}, every N at once)\n")
    print(f"after: {benchlib.state()}")


if __name__ == "__main__":
    main()
