"""Benchmark: proving time against the number of claims (what can be measured: 1 and 2).

    python3 benchmarks/claim_scaling.py [--repeat 3] [--bound 12]

Why: a runtime serving many claims at once is the real case; the model has exactly two
claim slots (`CLAIMS` in rkvformal/smt/trace.py, `MAX_CLAIMS = 2` in
semantics/validate.py), so 3 and 4 claims cannot be asked without changing the model
(docs/BENCHMARKS.md says what that change touches).  What can be measured honestly:

* proofs: the same row with both slots free (as shipped: every proof covers traces with
  0, 1 or 2 claims) and with `assume single_claim` (slot 1 is still encoded but never
  submitted), through `pipeline.prove_row` (classification + k-induction + counterexample
  extraction).  The rows are copied from the shipped models into a temporary descriptor
  with the extra `assume`; note that the assumption joins the policy stage, so a row
  that was decided natively can move stages;
* counterexamples: the TensorRT-LLM hard_protected row shrunk into a 1-claim scenario
  (60/70/80) and into a 2-claim scenario (two claims of 30 blocks, 70 active, 80 usable);
* the encoding's size per claim slot (state and move variables with a claim index), the
  part of the model that a third or fourth slot would repeat.
"""

from __future__ import annotations

import argparse
import inspect
import os
import tempfile
import time
from functools import partial

import benchlib
from benchlib import ROOT, secs, table, timed

from rkvformal import pipeline
from rkvformal.semantics.bundles import load_stdlib
from rkvformal.semantics.domain import Row
from rkvformal.smt.lowering import classify, stages
from rkvformal.smt.primitives import assume_label
from rkvformal.smt.prover import RowModel
from rkvformal.vocab import Assumption

ROWS = (("vllm_hard_exclusion_patch.rkv", "patched_hard_protected"),
        ("trtllm.rkv", "trt_hard_protected"),
        ("trtllm.rkv", "trt_soft_priority"))
TWO_CLAIMS = """
scenario two_claims {
  usable 80
  claim first { footprint 30 predicate leading_prefix_at_least(30) }
  claim second { footprint 30 predicate leading_prefix_at_least(30) }
  active bulky { demand 70 }
}
"""


def row_line(row: Row, name: str, extra_assumption: str | None = None,
             scenario: str | None = None) -> str:
    assumptions = [a.value for a in row.assumptions] + (
        [extra_assumption] if extra_assumption else [])
    scenario = scenario or (row.scenario.name if row.scenario else None)
    return (f"{row.kind.value} {name} mode {row.mode.value} via "
            + ", ".join(p.name for p in row.primitives)
            + (f" assume {', '.join(assumptions)}" if assumptions else "")
            + (f" scenario {scenario}" if scenario else "") + "\n")


def variants(directory: str) -> tuple[list[tuple[str, Row, Row]], tuple[Row, Row]]:
    """Per row (label, as shipped, with `assume single_claim`), validated from text; and
    the TensorRT-LLM hard_protected row with a 1-claim and with a 2-claim scenario."""
    pairs = []
    scenarios: tuple[Row, Row] | None = None
    for file, name in ROWS:
        path = os.path.join(ROOT, "models", file)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        shipped = next(r for r in pipeline.load(path).rows if r.name == name)
        copy = os.path.join(directory, f"{name}.rkv")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(text + TWO_CLAIMS + row_line(shipped, f"{name}_one", "single_claim")
                    + row_line(shipped, f"{name}_two_scenario", scenario="two_claims"))
        rows = {r.name: r for r in pipeline.load(copy).rows}
        pairs.append((f"{file}:{name}", rows[name], rows[f"{name}_one"]))
        if name == "trt_hard_protected":
            scenarios = (rows[name], rows[f"{name}_two_scenario"])
    assert scenarios is not None
    return pairs, scenarios


def _free(model: RowModel) -> list:
    """The model's variables: its names less those defined as terms (SymbolicView.define)."""
    return [key for key in model.v.vars if key not in getattr(model.v, "defined", ())]


def per_slot(bound: int, row: Row) -> tuple[int, int]:
    """Encoding variables with a claim index, per slot, and without one."""
    model = RowModel(row, bound)
    claimed = sum(1 for key in _free(model) if key.c == 0)
    shared = sum(1 for key in _free(model) if key.c is None)
    return claimed, shared


def stage_atoms(row: Row, labels: tuple[str, ...], bound: int) -> tuple[float, str]:
    """Seconds to prove every bundle atom under fixed labels on a fresh model, and the
    statuses in short (P proven, R refuted, V vacuous, U unknown)."""
    started = time.perf_counter()
    model = RowModel(row, bound)
    statuses = "".join(
        model.prove(e.atom, e.qualifier, labels).status.value[0].upper()
        for e in load_stdlib()[row.mode].entries)
    return time.perf_counter() - started, statuses


def has_claim_slots_parameter() -> bool:
    """Whether this checkout's model takes the number of claim slots as a parameter."""
    return "claims" in inspect.signature(classify).parameters


def slots(row: Row, bound: int, n: int) -> str:
    """Classify with n claim slots (default induction): the class and atom statuses."""
    result = classify(row, load_stdlib()[row.mode], bound, claims=n)
    return f"{result.evidence_class.value} " + "".join(
        c.status.value[0].upper() for c in result.checks)


def variables(row: Row, bound: int, n: int) -> int:
    """Encoding variables of an n-slot model right after construction."""
    return len(_free(RowModel(row, bound, claims=n)))


def describe(proved: pipeline.ProvedRow) -> str:
    result = proved.result
    shown = [c for c in result.checks if c.trace is not None]
    in_scenario = sum(c.scenario_used for c in shown)
    note = f", {in_scenario}/{len(shown)} counterexamples in the scenario" if shown else ""
    return f"{result.evidence_class.value}, stage {result.stage}{note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bound", type=int, default=12)
    args = parser.parse_args()
    benchlib.header("proving time against the number of claims")
    options = pipeline.Options(bound=args.bound)

    def measure(row: Row) -> tuple[float, str]:
        med, _, proved = timed(lambda: pipeline.prove_row(row, options), args.repeat)
        return med, describe(proved)

    with tempfile.TemporaryDirectory() as directory:
        pairs, (one_scenario, two_scenario) = variants(directory)
        proofs, fixed = [], []
        for label, two, one in pairs:
            (t2, d2), (t1, d1) = measure(two), measure(one)
            proofs.append([label, f"{secs(t2)} ({d2})", f"{secs(t1)} ({d1})", f"{t1 / t2:.2f}"])
            stage = pipeline.prove_row(two, options).result.stage
            labels = next(s.labels for s in stages(two) if s.name == stage)
            f2, _, (_, p2) = timed(partial(stage_atoms, two, labels, args.bound), args.repeat)
            single = (*labels, assume_label(Assumption.SINGLE_CLAIM.value))
            f1, _, (_, p1) = timed(partial(stage_atoms, one, single, args.bound), args.repeat)
            fixed.append([label, stage, f"{secs(f2)} {p2}", f"{secs(f1)} {p1}",
                          f"{f1 / f2:.2f}"])
        (s1, e1), (s2, e2) = measure(one_scenario), measure(two_scenario)
        claimed, shared = per_slot(args.bound, pairs[0][1])
        by_slots = []
        if has_claim_slots_parameter():
            for label, two, _one in pairs:
                cells = [label]
                for n in (1, 2, 3, 4):
                    med, _, what = timed(partial(slots, two, args.bound, n), args.repeat)
                    cells.append(f"{secs(med)} ({what}, "
                                 f"{variables(two, args.bound, n)} vars)")
                by_slots.append(cells)
    print(f"bound k={args.bound}, median of {args.repeat}, `pipeline.prove_row`:\n")
    table(["row", "2 claim slots free (as shipped)", "1 claim (assume single_claim)",
           "1 / 2"], proofs)
    print("the same atoms under the shipped row's reported stage (+ single_claim), one "
          "fresh model, bundle order, no induction (P proven, R refuted, V vacuous):\n")
    table(["row", "stage", "2 claim slots free", "1 claim", "1 / 2"], fixed)
    print("counterexamples of trt_hard_protected shrunk into a scenario:\n")
    table(["scenario", "time", "result"], [
        ["canonical: 1 claim, 60/70/80", secs(s1), e1],
        ["two_claims: 2 x 30, 70 active, 80 usable", secs(s2), e2]])
    print(f"encoding at k={args.bound}: {claimed} variables per claim slot, {shared} "
          "without a claim index (a third and fourth slot would add about "
          f"{claimed} each, plus the pairwise priority and attribution terms).\n")
    if by_slots:
        print("claim slots as a model parameter (`classify(..., claims=n)`, this checkout; "
              "descriptors, the simulator and reports still have two slots); time includes "
              "k-induction; vars = encoding variables after construction:\n")
        table(["row", "1 slot", "2 slots", "3 slots", "4 slots"], by_slots)
    else:
        print("3 and 4 claims: not measured -- this checkout's model has two claim slots "
              "(see docs/BENCHMARKS.md).")
    print(f"\nafter: {benchlib.state()}")


if __name__ == "__main__":
    main()
