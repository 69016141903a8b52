"""Every atom has a tiny descriptor that proves it and one that refutes it; refutations
come with a counterexample whose last step shows the breaking move, and the atom's
concrete evaluator agrees with the solver on that trace."""

from __future__ import annotations

import pytest
from atom_cases import CASES, AtomCase, case_id

from rkvformal.smt.counterexample import extract, name_claim
from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.primitives import inadmissible
from rkvformal.smt.prover import RowModel
from rkvformal.smt.trace import ConcreteView
from rkvformal.vocab import Atom, AtomStatus

BOUND = 12


def prove(case: AtomCase):
    row = case.row()
    model = RowModel(row, BOUND)
    return row, model.prove(case.atom, case.qualifier, model.labels)


def admitted(row, trace: ConcreteView) -> list[str]:
    """The model's formulas a concrete trace breaks ([] = admitted)."""
    return inadmissible(trace, row.primitives)


def test_every_atom_has_a_proving_and_a_refuting_case() -> None:
    for atom in Atom:
        verdicts = {case.holds for case in CASES if case.atom is atom}
        assert verdicts == {True, False}, atom


@pytest.mark.parametrize("case", [c for c in CASES if c.holds], ids=case_id)
def test_atom_is_proven(case: AtomCase) -> None:
    _row, check = prove(case)
    assert check.status is AtomStatus.PROVEN, check.reason
    assert check.bound == BOUND
    assert check.trace is None


@pytest.mark.parametrize("case", [c for c in CASES if not c.holds], ids=case_id)
def test_atom_is_refuted_with_a_real_counterexample(case: AtomCase) -> None:
    row, check = prove(case)
    assert check.status is AtomStatus.REFUTED
    trace = check.trace
    assert trace is not None and check.violation_step is not None
    # the concrete evaluator (the same definition read over numbers) sees the violation
    definition = ATOMS[case.atom]
    assert definition.first_violation(trace, case.qualifier) == (
        check.violation_step, check.violation_claim)
    # the trace is admitted by the model it came from, evaluated concretely
    assert admitted(row, trace) == []
    # and it renders as an ordered timeline ending at the violating step
    cex = extract(row, check, case.qualifier)
    assert cex.steps[0]["move"]["name"] == "init"
    assert [s["step"] for s in cex.steps] == list(range(len(cex.steps)))
    assert cex.violation_step == len(cex.steps) - 1
    assert cex.atom == case.atom.value
    assert cex.words == name_claim(definition.words, cex.violation_claim)
    assert " c " not in f" {cex.words} "


def test_a_failure_outcome_patch_over_a_recompute_fallback_ends_the_request() -> None:
    """Regression (found by the bad-lowering suite): the native fallback forbade ending
    a failed reuse and the patch forbade recomputing it, so the request could never end
    and restoration_failure_outcome held only because nothing ever terminated."""
    import z3
    from atom_cases import EVENTS, JOIN, OFFLOAD_RECOMPUTE, OUTCOME

    from rkvformal.smt.trace import Move

    case = AtomCase(Atom.RESTORATION_FAILURE_OUTCOME, True,
                    EVENTS + OFFLOAD_RECOMPUTE + JOIN + OUTCOME, "events, offload, join, outcome")
    model = RowModel(case.row(), BOUND)
    v = model.v
    ends = v.or_(*(v.and_(v.move(t, Move.FAIL_REUSE, c), v.s("rfl", t, c))
                   for t in range(BOUND) for c in (0, 1)))
    lit = model.goal(("ends-after-failure",), ends)
    assert model._check(model.assumptions(model.labels) + [lit]) == z3.sat


def test_a_lossy_join_never_reports_a_loss_it_was_not_told_of() -> None:
    """Regression for D2 (found by the simulator cross-check): the join judges losses
    by its belief, built from the block events delivered to it, not by the pool.  When
    c's only refill (its prefill) lost its BlockStored batch, the join never believed c
    resident, so it never reports c harmed; the loss itself still happens, silently."""
    import z3
    from atom_cases import JOIN, prim

    from rkvformal.smt.trace import Move

    case = AtomCase(Atom.NO_SILENT_LOSS, False,
                    prim("events", "block_events", delivery="lossy") + JOIN, "events, join")
    K = 6
    model = RowModel(case.row(), K)
    v = model.v
    missed = v.or_(*(v.and_(v.move(t, Move.MATERIALIZE, 0), v.ch("drop", t)) for t in range(K)))
    no_refill = v.and_(*(v.not_(v.or_(v.move(t, Move.RESTORE, 0), v.move(t, Move.RECOMPUTE, 0)))
                         for t in range(K)))
    on = model.assumptions(model.labels)
    harmed = v.or_(*(v.e("harmed", t, 0) for t in range(K)))
    lit = model.goal(("harm-after-a-missed-store",), v.and_(missed, no_refill, harmed))
    assert model._check(on + [lit]) == z3.unsat
    lost = v.or_(*(v.and_(v.resp(0, t), v.loss(0, t)) for t in range(K)))
    lit = model.goal(("loss-after-a-missed-store",), v.and_(missed, no_refill, lost))
    assert model._check(on + [lit]) == z3.sat
