"""Benchmark: the whole job a user runs, `rkvformal prove models/*.rkv` plus
`rkvformal suite bad_lowerings`, at -j 1 and -j 2, and the time of each row.

    python3 benchmarks/whole_suite.py [--repeat 3] [--quick]

Why both: the wall time of the two commands is what CI and a user wait for (issue 7's
target: under 15 s on 2 cores); per-row times (target: median under 0.5 s) say whether a
faster machine or more jobs could get there.  `--format json` carries no timings
(docs/JSON.md), so rows are timed in-process with `pipeline.prove_row` (classification,
k-induction and counterexample extraction, exactly what a worker does: a bad lowering's
row as `rkvformal suite` proves it, with counterexamples for its stated atoms only), one
row at a time.  The suite's wall time also includes replaying its counterexamples in the
block simulator.
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
from functools import partial

import benchlib
from benchlib import ROOT, percentile, run_cli, secs, spread, table, timed

from rkvformal import pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="one run each")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    benchlib.header("whole suite: prove models/*.rkv + suite bad_lowerings")

    models = sorted(glob.glob(os.path.join(ROOT, "models", "*.rkv")))
    cases = sorted(glob.glob(os.path.join(ROOT, "bad_lowerings", "*.rkv")))
    model_args = [os.path.relpath(p, ROOT) for p in models]

    # startup: interpreter + imports, paid once per command
    startup, _, _ = timed(lambda: run_cli(["prove", "--help"]), repeat)
    print(f"`rkvformal prove --help` (interpreter and what prove imports): {secs(startup)} "
          f"median of {repeat}\n")

    rows = []
    walls: dict[tuple[str, int], float] = {}
    for jobs in args.jobs:
        prove_med, prove_s, _ = timed(
            partial(run_cli, ["prove", *model_args, "-j", str(jobs)]), repeat)
        suite_med, suite_s, _ = timed(
            partial(run_cli, ["suite", "bad_lowerings", "-j", str(jobs)]), repeat)
        walls[("prove", jobs)], walls[("suite", jobs)] = prove_med, suite_med
        rows.append([f"-j {jobs}", f"{secs(prove_med)} ({spread(prove_s)})",
                     f"{secs(suite_med)} ({spread(suite_s)})", secs(prove_med + suite_med)])
    print(f"wall time, median of {repeat} (min-max):\n")
    table(["jobs", f"prove models/*.rkv ({len(models)} files)",
           f"suite bad_lowerings ({len(cases)} files)", "both"], rows)

    if 1 in args.jobs and len(args.jobs) > 1:
        print("parallel proving (-j N against -j 1):\n")
        table(["command"] + [f"-j {j}" for j in args.jobs] + ["speed-up at best"], [
            [what] + [secs(walls[(what, j)]) for j in args.jobs]
            + [f"{walls[(what, 1)] / min(walls[(what, j)] for j in args.jobs):.2f}x"]
            for what in ("prove", "suite")])

    # per row, in-process, one at a time, median of `repeat` runs per row
    per_row: dict[str, list[float]] = {"models": [], "bad_lowerings": []}
    slowest: list[tuple[float, str]] = []
    for group, paths in (("models", models), ("bad_lowerings", cases)):
        options = benchlib.command_options(group)
        for path in paths:
            for row in pipeline.load(path).rows:
                med, _, _ = timed(partial(pipeline.prove_row, row, options), repeat)
                per_row[group].append(med)
                slowest.append((med, f"{os.path.basename(path)}:{row.name}"))
    everything = per_row["models"] + per_row["bad_lowerings"]
    print(f"per row, in-process, -j 1, bound k={options.bound}, induction "
          f"{options.induction} (median of {repeat} per row):\n")
    table(["rows", "n", "median", "p90", "max", "min", "sum"], [
        [name, len(values), secs(statistics.median(values)), secs(percentile(values, 90)),
         secs(max(values)), secs(min(values)), secs(sum(values))]
        for name, values in (*per_row.items(), ("all", everything))])
    print("slowest rows: " + ", ".join(f"{name} {secs(t)}"
                                       for t, name in sorted(slowest, reverse=True)[:5]))

    best = min(walls[("prove", j)] + walls[("suite", j)] for j in args.jobs)
    median_row = statistics.median(everything)
    print(f"\ntarget 1, whole suite under 15 s on 2 cores: best {secs(best)} -> "
          f"{'met' if best < 15 else 'NOT met'}")
    print(f"target 2, median row under 0.5 s: {secs(median_row)} -> "
          f"{'met' if median_row < 0.5 else 'NOT met'}")
    print(f"\nafter: {benchlib.state()}")


if __name__ == "__main__":
    main()
