"""Benchmark: time to prove every shipped model (wall clock, per row, per job count).

    python3 benchmarks/prove_models.py [--jobs 1 2] [--bound 12] [--repeat 3]

Prints a Markdown table for docs/BENCHMARKS.md.  Wall-clock numbers depend on the
machine; the script prints what it ran on.
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import statistics
import time

from rkvformal import pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--bound", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = sorted(glob.glob(os.path.join(root, "models", "*.rkv")))
    descriptors = [pipeline.load(p) for p in paths]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    print(f"{len(paths)} files, {sum(len(d.rows) for d in descriptors)} rows, "
          f"bound k={args.bound}\n")
    print(f"| jobs | wall time (median of {args.repeat}) | min | max |")
    print("|---:|---:|---:|---:|")
    row_times: list[float] = []
    for jobs in args.jobs:
        walls = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            proved = pipeline.prove_descriptors(descriptors, args.bound, jobs=jobs)
            walls.append(time.perf_counter() - started)
            if jobs == 1:
                row_times = [r.result.seconds for f in proved for r in f.rows]
        print(f"| {jobs} | {statistics.median(walls):.2f} s | {min(walls):.2f} s | "
              f"{max(walls):.2f} s |")
    if row_times:
        print(f"\nper row (jobs=1, last run): median {statistics.median(row_times):.2f} s, "
              f"max {max(row_times):.2f} s, min {min(row_times):.2f} s")


if __name__ == "__main__":
    main()
