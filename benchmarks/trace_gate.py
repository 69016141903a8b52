"""Throughput and memory of `trace check` on a synthetic claim-event JSONL trace.

    python3 benchmarks/trace_gate.py [--events 1000000] [--claims 20000] [--repeat 3]
                                     [--keep FILE]

The trace interleaves many claims (round robin, so every claim is open for most of
the run), each living the positive offload lifecycle of the papers' reference gate
(accepted, materialized, offloaded, restore_required, restored, reuse_after_restore,
offloaded, restore_required, restoration_failed, refusal) and then starting over under
a new claim id.  Records carry the identity tuple, so they are of realistic size.
Measured in a fresh process (imports excluded), on one core: `check_trace` (reading,
judging, the verdict with one result per claim), as CPU seconds (`time.process_time`:
other jobs on the machine do not count) and wall seconds, in records per CPU second;
the reading alone (the same records read, checked and dropped: the gate's share is
the difference);
then the text report of that verdict (what `trace check` prints by default); and the
process's peak resident memory (ru_maxrss), compared with the same run on a trace ten
times shorter: memory must follow the claims, not the events.  Each figure is the
median of --repeat runs.  --keep FILE keeps the --events trace.  docs/BENCHMARKS.md
records the figures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib
import orjson

LIFECYCLE: list[tuple[str, dict[str, object]]] = [
    ("resident_claim_accepted", {"claim_registration": "pre_registered",
                                 "resident_blocks_required": 8}),
    ("resident_claim_materialized", {"predicate_materialized": True,
                                     "resident_blocks_materialized": 8}),
    ("resident_claim_offloaded", {"cache_tier": "host_offload_tier"}),
    ("resident_claim_restore_required", {"reuse_requires_restoration": True}),
    ("resident_claim_restored", {"restoration_source": "offload_tier",
                                 "restored_from_offload_tier": True}),
    ("resident_claim_reuse_after_restore", {"predicate_satisfied": True}),
    ("resident_claim_offloaded", {"cache_tier": "host_offload_tier"}),
    ("resident_claim_restore_required", {"reuse_requires_restoration": True}),
    ("resident_claim_restoration_failed", {"claim_scoped_outcome_type": "refusal"}),
    ("active_request_refused", {"outcome_type": "refusal"}),
]
REQUIRE = ("restored", "reused_after_restore", "restoration_failed", "outcome")


def write_trace(path: Path, events: int, claims: int) -> None:
    """`events` records over `claims` concurrently open claims (round robin)."""
    with path.open("wb") as out:
        generation = [0] * claims
        position = [0] * claims
        for seq in range(events):
            k = seq % claims
            name = f"claim:{k}:{generation[k]}"
            event, fields = LIFECYCLE[position[k]]
            rec = {"event": event, "event_sequence": seq, "claim_id": name,
                   "predicate_id": "predicate:leading-prefix-8",
                   "materialization_predicate": "leading_prefix_at_least(8)",
                   "prefix_id": f"prefix:{k}", "reusable_object_id": f"kv-object:{k}",
                   "cache_identity": "bench-cache:v1", "request_token_map_id": f"map:{k}",
                   **fields}
            if event.endswith(("restoration_failed", "refused")):
                rec["outcome_claim_id"] = name
            if event == "active_request_refused":
                rec["blocking_claim_ids"] = [name]
            out.write(orjson.dumps(rec) + b"\n")
            position[k] += 1
            if position[k] == len(LIFECYCLE):
                position[k], generation[k] = 0, generation[k] + 1


# the child: check_trace as `trace check` calls it, then the text report to nowhere
CHILD = """
import io, resource, sys, time
from rich.console import Console
from rkvformal.trace.commands import check_trace
from rkvformal.trace.report import render_text
from rkvformal.vocab import Mode
cpu, wall = time.process_time(), time.perf_counter()
v = check_trace(sys.argv[1], Mode.OFFLOADABLE, tuple(sys.argv[2:]), None)
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
text = time.process_time()
render_text([v], Console(file=io.StringIO(), width=160, soft_wrap=False))
text = time.process_time() - text
print(cpu, wall, text, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, v.status.value,
      len(v.claims), v.records)
"""


# the child for the reading alone: the same records, read and dropped (what the gate's
# pass costs is the difference)
READ_CHILD = """
import sys, time
from rkvformal.trace.commands import record_batches
cpu = time.process_time()
records = sum(len(batch.records) for batch in record_batches(sys.argv[1], "jsonl", None))
print(time.process_time() - cpu, records)
"""


def _child(code: str, *args: str) -> list[str]:
    """Run `code` in a fresh Python process with `args`; the words it printed."""
    return subprocess.run([sys.executable, "-c", code, *args], check=True,
                          capture_output=True, text=True, cwd=benchlib.ROOT,
                          env=benchlib.cli_env()).stdout.split()


def measure_reading(path: Path) -> float:
    """One fresh process: CPU seconds to read and check the trace's records, no gate."""
    return float(_child(READ_CHILD, str(path))[0])


def measure(path: Path) -> tuple[float, float, float, int, str, int]:
    """One fresh process: (CPU s, wall s, text report CPU s, peak RSS KiB, verdict,
    records)."""
    out = _child(CHILD, str(path), *REQUIRE)
    return (float(out[0]), float(out[1]), float(out[2]), int(out[3]),
            f"{out[4]} ({out[5]} claims)", int(out[6]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, metavar="FILE",
                        help="keep the --events trace as FILE")
    args = parser.parse_args()
    print(f"machine: {benchlib.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        for events in (args.events // 10, args.events):
            path = Path(tmp) / f"trace-{events}.jsonl"
            write_trace(path, events, max(1, min(args.claims, events // len(LIFECYCLE))))
            runs = [measure(path) for _ in range(args.repeat)]
            reading = statistics.median(measure_reading(path) for _ in range(args.repeat))
            cpu = statistics.median(r[0] for r in runs)
            wall = statistics.median(r[1] for r in runs)
            text = statistics.median(r[2] for r in runs)
            rss, verdict, records = max(r[3] for r in runs), runs[0][4], runs[0][5]
            print(f"{events:>9} events  {path.stat().st_size / 1e6:7.1f} MB  "
                  f"CPU {cpu:6.2f} s (runs {', '.join(f'{r[0]:.2f}' for r in runs)})  "
                  f"{records / cpu:>9,.0f} records/s  wall {wall:6.2f} s  "
                  f"reading alone {reading:5.2f} s  "
                  f"text report {text:5.2f} s  peak RSS {rss / 1024:6.1f} MiB  "
                  f"verdict {verdict}")
            if args.keep is not None and events == args.events:
                shutil.copyfile(path, args.keep)
    print(f"after: {benchlib.state()}")


if __name__ == "__main__":
    main()
