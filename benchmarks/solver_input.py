"""What the solver is asked: a fingerprint of every row's solver input.

    python3 benchmarks/solver_input.py [FILE.rkv ...]   (default: models/ and bad_lowerings/)

Proves every row as `rkvformal prove` does (one row at a time, in this process) and
hashes, for every row model the prover built (the row's own and its induction windows
and invariant probe), the SMT-LIB text of everything asserted to it by the end of the
proof (`second_solver.smtlib`, the text cvc5 is given), with the names of its `let`
bindings numbered in order of appearance (Z3 names them by term id, and ids are reused
as terms are freed, so the same formulas asserted in the same order can print under
other names when Python frees its objects at other moments).  A change meant only to make
the Python side faster (how terms are built, how formulas are asserted) must leave the
printed digest unchanged:
that is the evidence that the solver sees the same problem, so the speed-up is not a
different question answered faster.  docs/BENCHMARKS.md records the digests.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import sys
import time
from typing import Any

from benchlib import ROOT

from rkvformal import pipeline
from rkvformal.smt import prover, second_solver

_LET_NAME = re.compile(r"[$?]x\d+")  # Z3's let-bound names: $x<id> (Bool), ?x<id>


def canonical(text: str) -> str:
    """`text` with every let-bound name replaced by its number in order of first
    appearance (the formulas are unchanged; only their id-based names go)."""
    names: dict[str, str] = {}
    return _LET_NAME.sub(lambda m: names.setdefault(m.group(), f"$v{len(names)}"), text)


def main() -> None:
    files = sys.argv[1:] or (sorted(glob.glob(os.path.join(ROOT, "models", "*.rkv")))
                             + sorted(glob.glob(os.path.join(ROOT, "bad_lowerings", "*.rkv"))))
    built: list[prover.RowModel] = []
    original = prover.RowModel.__init__

    def keeping(self: prover.RowModel, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        built.append(self)

    prover.RowModel.__init__ = keeping  # type: ignore[method-assign]
    digest = hashlib.sha256()
    rows = models = 0
    started = time.process_time()
    for path in files:
        for row in pipeline.load(path).rows:
            built.clear()
            pipeline.prove_row(row)
            for model in built:
                digest.update(canonical(second_solver.smtlib(model.solver)).encode())
            rows, models = rows + 1, models + len(built)
    prover.RowModel.__init__ = original  # type: ignore[method-assign]
    print(f"{digest.hexdigest()}  {rows} rows, {models} row models, "
          f"{time.process_time() - started:.1f} s CPU")


if __name__ == "__main__":
    main()
