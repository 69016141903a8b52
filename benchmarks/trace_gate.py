"""Throughput and memory of `trace check` on a synthetic claim-event JSONL trace.

    python3 benchmarks/trace_gate.py [--events 1000000] [--claims 20000] [--keep FILE]

The trace interleaves many claims (round robin, so every claim is open for most of
the run), each living the positive offload lifecycle of the papers' reference gate
(accepted, materialized, offloaded, restore_required, restored, reuse_after_restore,
offloaded, restore_required, restoration_failed, refusal) and then starting over under
a new claim id.  Records carry the identity tuple, so they are of realistic size.
Measured: wall time of the gate alone (reading + judging, one process, one core), in
events per second, and the process's peak resident memory (ru_maxrss), compared with
the same run on a trace ten times shorter: memory must follow the claims, not the
events.  docs/BENCHMARKS.md records the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

LIFECYCLE = [
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


def measure(path: Path) -> tuple[float, int, str]:
    """Run the gate in a fresh process; (seconds, peak RSS in KiB, verdict)."""
    code = (
        "import resource, sys, time\n"
        "from rkvformal.trace.commands import check_trace\n"
        "from rkvformal.vocab import Mode\n"
        "t = time.perf_counter()\n"
        f"v = check_trace({str(path)!r}, Mode.OFFLOADABLE, "
        "('restored', 'reused_after_restore', 'restoration_failed', 'outcome'), None)\n"
        "dt = time.perf_counter() - t\n"
        "print(dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, v.status.value, "
        "len(v.claims))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0]), int(out[1]), f"{out[2]} ({out[3]} claims)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}; load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        for events in (args.events // 10, args.events):
            path = Path(tmp) / f"trace-{events}.jsonl"
            write_trace(path, events, min(args.claims, events // len(LIFECYCLE)))
            size = path.stat().st_size
            runs = sorted(measure(path) for _ in range(args.repeat))
            seconds, rss, verdict = runs[len(runs) // 2]
            print(f"{events:>9} events  {size / 1e6:7.1f} MB  {seconds:6.2f} s  "
                  f"{events / seconds:>9,.0f} events/s  peak RSS {rss / 1024:6.1f} MiB  "
                  f"verdict {verdict}")


if __name__ == "__main__":
    main()
