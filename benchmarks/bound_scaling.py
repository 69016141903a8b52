"""Benchmark: how proving time grows with the bound k (the number of trace steps).

    python3 benchmarks/bound_scaling.py [--repeat 3] [--quick] [--bounds 4 8 ...]

Why: the model is unrolled k steps, so every extra step adds variables and a copy of the
transition relation; the question is whether the solver's time grows with that size
(roughly linearly) or blows up.  Rows: the TensorRT-LLM soft_priority row (adapter_policy,
the largest bundle of the shipped models), the patched vLLM hard_protected row (the
witness that hard_protected can be carried: every atom proven) and the TensorRT-LLM
hard_protected row (refuted: the time includes finding and shrinking the counterexample).

Per row: `pipeline.prove_row` at bound k with the default k-induction (what
`rkvformal prove --bound K --lowering NAME` does in-process).  Per atom: a fresh
`RowModel(row, k)`, then `prove` of each bundle atom in bundle order under the labels of
the stage the row reports (so later atoms reuse the solver the earlier ones warmed up,
as in a real classification); no induction.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import benchlib
from benchlib import ROOT, secs, table, timed

from rkvformal import pipeline
from rkvformal.semantics.bundles import load_stdlib
from rkvformal.semantics.domain import Row
from rkvformal.smt.lowering import stages
from rkvformal.smt.prover import RowModel

ROWS = (("trtllm.rkv", "trt_soft_priority"),
        ("vllm_hard_exclusion_patch.rkv", "patched_hard_protected"),
        ("trtllm.rkv", "trt_hard_protected"))
BOUNDS = (4, 8, 12, 16, 24, 32, 48, 64)
STATUS = {"proven": "P", "refuted": "R", "vacuous": "V", "unknown": "U", "": ""}


def row_named(file: str, name: str) -> Row:
    descriptor = pipeline.load(os.path.join(ROOT, "models", file))
    return next(r for r in descriptor.rows if r.name == name)


def per_atom(row: Row, bound: int, stage_name: str | None) -> dict[str, tuple[float, str]]:
    """Seconds and status per atom (bundle order, one solver) at the row's reported stage."""
    bundle = load_stdlib()[row.mode]
    plan = stages(row)
    stage = next((s for s in plan if s.name == stage_name), plan[-1])
    started = time.perf_counter()
    model = RowModel(row, bound)
    out: dict[str, tuple[float, str]] = {"(encoding the row)": (time.perf_counter() - started,
                                                                "")}
    for entry in bundle.entries:
        started = time.perf_counter()
        check = model.prove(entry.atom, entry.qualifier, stage.labels)
        out[entry.atom.value] = (time.perf_counter() - started, check.status.value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bounds", type=int, nargs="+", default=list(BOUNDS))
    parser.add_argument("--repeat-up-to", type=int, default=32, metavar="K",
                        help="bounds above K are run once (k=64 takes minutes per row)")
    parser.add_argument("--quick", action="store_true", help="k <= 24, one run each")
    args = parser.parse_args()
    bounds = [k for k in args.bounds if not args.quick or k <= 24]
    benchlib.header("proving time against the bound k")

    for file, name in ROWS:
        row = row_named(file, name)
        results = []
        atoms: dict[str, list[str]] = {}
        for k in bounds:
            repeat = 1 if args.quick or k > args.repeat_up_to else args.repeat
            options = pipeline.Options(bound=k)
            med, samples, proved = timed(partial(pipeline.prove_row, row, options), repeat)
            result = proved.result
            unbounded = sum(c.proof == "unbounded" for c in result.checks)
            results.append([k, secs(med), benchlib.spread(samples), repeat,
                            result.evidence_class.value, f"{unbounded}/{len(result.checks)}"])
            atom_runs = [per_atom(row, k, result.stage) for _ in range(repeat)]
            for atom, (_t, status) in atom_runs[0].items():
                values = sorted(run[atom][0] for run in atom_runs)
                cell = f"{secs(values[len(values) // 2])} {STATUS[status]}".strip()
                atoms.setdefault(atom, []).append(cell)
        print(f"## {file}: {name} (mode {row.mode})\n")
        table(["k", "row (median)", "min-max", "runs", "class", "unbounded atoms"], results)
        print("per atom (reported stage, bundle order, one solver, no induction; median of "
              "the same number of runs):\n")
        table(["atom (P proven, R refuted, V vacuous, U unknown)"] + [f"k={k}" for k in bounds],
              [[atom, *times] for atom, times in atoms.items()])
    print(f"after: {benchlib.state()}")


if __name__ == "__main__":
    main()
