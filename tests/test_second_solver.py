"""cvc5 answers the same questions as Z3 and must agree (smt/second_solver.py).

The full cross-check of every model is slow (cvc5 takes seconds per question on the
12-step model; docs/BENCHMARKS.md has the command and its time), so CI checks the atom
pairs at a smaller bound: one row that proves each atom and one that refutes it."""

from __future__ import annotations

import pytest
from atom_cases import CASES, case_id

from rkvformal.semantics.bundles import load_stdlib
from rkvformal.smt import second_solver
from rkvformal.smt.lowering import classify
from rkvformal.smt.prover import RowModel
from rkvformal.vocab import AtomStatus

pytestmark = pytest.mark.skipif(not second_solver.available(), reason="cvc5 is not installed")

BOUND = 8
SAMPLE = [c for c in CASES if c.atom.value in (
    "explicit_acceptance", "protected_exclusion", "infeasibility_outcome", "priority_order")]


@pytest.mark.parametrize("case", SAMPLE, ids=case_id)
def test_cvc5_agrees_with_z3_on_the_atom_pairs(case) -> None:
    z3_only = RowModel(case.row(), BOUND)
    both = RowModel(case.row(), BOUND, cross_check=True)  # raises on any disagreement
    first = z3_only.prove(case.atom, case.qualifier, z3_only.labels, shrink=False)
    second = both.prove(case.atom, case.qualifier, both.labels, shrink=False)
    assert first.status is second.status
    assert second.status is (AtomStatus.PROVEN if case.holds else AtomStatus.REFUTED)


def test_cvc5_can_decide_a_whole_row_by_itself() -> None:
    case = next(c for c in CASES if c.atom.value == "protected_exclusion" and c.holds)
    row = case.row()
    bundle = load_stdlib()[row.mode]
    by_z3 = classify(row, bundle, BOUND, induction=0)
    by_cvc5 = classify(row, bundle, BOUND, induction=0, solver="cvc5")
    assert by_cvc5.evidence_class is by_z3.evidence_class
    assert [c.status for c in by_cvc5.checks] == [c.status for c in by_z3.checks]
