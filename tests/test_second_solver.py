"""cvc5 answers the same questions as Z3 and must agree (smt/second_solver.py).

A full `--cross-check` (k=12, k-induction, the invariant probe) takes cvc5 far too long
for CI (over 50 minutes for one model; docs/BENCHMARKS.md).  What CI checks instead:

* every row of every shipped model (models/*.rkv) and every bad lowering
  (bad_lowerings/*.rkv) is classified twice at bound k=6 without k-induction: once by
  Z3 alone, once with cvc5 deciding every verdict question (`--solver cvc5`).  In the
  cvc5 run each verdict question (every atom's violation check and every vacuity check,
  at every stage the classification visits) is asked to cvc5 *and* to Z3, and any
  sat/unsat disagreement raises `SolverDisagreement`.  Then the two runs must give each
  row the same evidence class, the same reported stage and the same status for every
  atom of the row's bundle, and no atom may be `unknown` (so cvc5 cannot pass by not
  answering);
* the atom pairs at k=8: one row that proves each of four atoms and one that refutes it
  (a deeper check of the same kind on small rows).

What cvc5 does not check here: k-induction windows and the invariant probe
(induction=0), counterexample shrinking (Z3 only, in both runs), and depths 7..12: at
k=6 some rows come out otherwise than at k=12 (an atom whose situation needs more than
six steps is vacuous at k=6; docs/BENCHMARKS.md lists them), and those vacuity
questions are what both solvers answer for them.  At k=8 cvc5 takes 2-5 times as long
per row (measured on five rows), too long for CI.
"""

from __future__ import annotations

import glob
import os

import pytest
import z3
from atom_cases import CASES, case_id

from rkvformal import pipeline
from rkvformal.smt import prover, second_solver
from rkvformal.smt.prover import RowModel
from rkvformal.smt.second_solver import SolverDisagreement
from rkvformal.vocab import AtomStatus

pytestmark = pytest.mark.skipif(not second_solver.available(), reason="cvc5 is not installed")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOUND = 8
ALL_ROWS_BOUND = 6
SAMPLE = [c for c in CASES if c.atom.value in (
    "explicit_acceptance", "protected_exclusion", "infeasibility_outcome", "priority_order")]


def _descriptors() -> list:
    paths = sorted(glob.glob(os.path.join(ROOT, "models", "*.rkv")))
    paths += sorted(glob.glob(os.path.join(ROOT, "bad_lowerings", "*.rkv")))
    return [pipeline.load(path) for path in paths]


def _verdicts(files: list[pipeline.ProvedFile]) -> dict[str, tuple]:
    """Per row: (class, reported stage, ((atom, status), ...))."""
    return {
        f"{os.path.basename(f.descriptor.path)}:{r.result.row.name}": (
            r.result.evidence_class.value, r.result.stage,
            tuple((c.atom.value, c.status.value) for c in r.result.checks))
        for f in files for r in f.rows
    }


def differences(by_z3: dict[str, tuple], by_cvc5: dict[str, tuple]) -> list[str]:
    """Every row whose verdict differs between the runs, or that has an unknown atom."""
    out = []
    for name in sorted(set(by_z3) | set(by_cvc5)):
        first, second = by_z3.get(name), by_cvc5.get(name)
        if first != second:
            out.append(f"{name}: z3 {first} / cvc5 {second}")
        for verdict, solver in ((first, "z3"), (second, "cvc5")):
            if verdict and any(status == AtomStatus.UNKNOWN.value for _a, status in verdict[2]):
                out.append(f"{name}: an atom is unknown in the {solver} run: {verdict}")
    return out


def test_cvc5_agrees_with_z3_on_every_shipped_model_and_bad_lowering() -> None:
    """47 rows (22 model rows, 25 bad lowerings) at k=6, induction off: about 5.7
    CPU-minutes, 3 minutes wall with 2 jobs on 2 free cores (docs/BENCHMARKS.md)."""
    descriptors = _descriptors()
    assert sum(len(d.rows) for d in descriptors) >= 47
    jobs = pipeline.default_jobs()
    by_z3 = pipeline.prove_descriptors(descriptors, ALL_ROWS_BOUND, jobs=jobs, induction=0)
    # raises SolverDisagreement on the first question the two solvers answer differently
    by_cvc5 = pipeline.prove_descriptors(descriptors, ALL_ROWS_BOUND, jobs=jobs, induction=0,
                                         solver="cvc5")
    assert differences(_verdicts(by_z3), _verdicts(by_cvc5)) == []


def _wrong_second_solver(solver: z3.Solver, assumptions, timeout_s=None) -> z3.CheckSatResult:
    """A 'second solver' that contradicts Z3 on every question."""
    return z3.unsat if solver.check(*assumptions) == z3.sat else z3.sat


def test_a_disagreement_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: with the second solver replaced by one that always
    contradicts Z3 (there is no public hook for this; the prover's `cvc5_check` name is
    the seam), proving any atom raises instead of reporting a verdict."""
    monkeypatch.setattr(prover, "cvc5_check", _wrong_second_solver)
    case = next(c for c in CASES if c.atom.value == "protected_exclusion" and c.holds)
    for kwargs in ({"cross_check": True}, {"solver": "cvc5"}):
        model = RowModel(case.row(), ALL_ROWS_BOUND, **kwargs)
        with pytest.raises(SolverDisagreement, match="z3 says"):
            model.prove(case.atom, case.qualifier, model.labels, shrink=False)


def test_a_second_solver_that_does_not_answer_is_a_difference(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`unknown` is not a disagreement to the prover, so the row comparison must catch it:
    a cvc5 that never answers makes the rows differ."""
    descriptors = [pipeline.load(os.path.join(ROOT, "bad_lowerings",
                                              "priority_as_hard_protected.rkv"))]
    by_z3 = pipeline.prove_descriptors(descriptors, ALL_ROWS_BOUND, induction=0)
    monkeypatch.setattr(prover, "cvc5_check", lambda *_args, **_kw: z3.unknown)
    silent = pipeline.prove_descriptors(descriptors, ALL_ROWS_BOUND, induction=0,
                                        solver="cvc5")
    assert differences(_verdicts(by_z3), _verdicts(by_z3)) == []
    found = differences(_verdicts(by_z3), _verdicts(silent))
    assert found and "unknown" in found[-1]


@pytest.mark.parametrize("case", SAMPLE, ids=case_id)
def test_cvc5_agrees_with_z3_on_the_atom_pairs(case) -> None:
    z3_only = RowModel(case.row(), BOUND)
    both = RowModel(case.row(), BOUND, cross_check=True)  # raises on any disagreement
    first = z3_only.prove(case.atom, case.qualifier, z3_only.labels, shrink=False)
    second = both.prove(case.atom, case.qualifier, both.labels, shrink=False)
    assert first.status is second.status
    assert second.status is (AtomStatus.PROVEN if case.holds else AtomStatus.REFUTED)
