"""Benchmark: Z3 settings on three shipped models (wall clock, one process, -j 1).

    python3 benchmarks/solver_settings.py

Each setting patches the prover's solver after construction, proves lmcache, the vLLM
offload witness and TensorRT-LLM, and prints the wall time.  The shipped prover already
applies arith.solver=2 and relevancy=0; "default" resets them to Z3's defaults.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rkvformal import pipeline
from rkvformal.smt import prover

SETTINGS: dict[str, dict[str, int]] = {
    "default": {"arith.solver": 6, "relevancy": 2},
    "arith.solver=2": {"arith.solver": 2, "relevancy": 2},
    "relevancy=0": {"arith.solver": 6, "relevancy": 0},
    "arith.solver=2 + relevancy=0 (shipped)": {"arith.solver": 2, "relevancy": 0},
}
FILES = ("lmcache.rkv", "vllm_offload_witness_patch.rkv", "trtllm.rkv")


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    descriptors = [pipeline.load(os.path.join(root, "models", f)) for f in FILES]
    original = prover.RowModel.__init__
    print("| settings | wall |\n|---|---:|")
    for name, options in SETTINGS.items():
        def patched(self: prover.RowModel, *args: Any, _options: dict[str, int] = options,
                    **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            for key, value in _options.items():
                self.solver.set(key, value)

        prover.RowModel.__init__ = patched  # type: ignore[method-assign]
        started = time.perf_counter()
        pipeline.prove_descriptors(descriptors, jobs=1)
        print(f"| {name} | {time.perf_counter() - started:.1f} s |")
    prover.RowModel.__init__ = original  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
