"""The number of claim slots is a model parameter (issue 7's claim scaling): every slot
of an N-slot model is a real claim the runtime can be handed, and two slots give exactly
the descriptors' model."""

from __future__ import annotations

import pytest
import z3

from rkvformal import pipeline
from rkvformal.smt.prover import RowModel
from rkvformal.smt.second_solver import smtlib
from rkvformal.smt.trace import Move, Phase

ROW = pipeline.load("models/trtllm.rkv").rows[0]
K = 4


@pytest.mark.parametrize("slots", [1, 2, 3, 4])
def test_every_slot_can_be_submitted_and_accepted(slots: int) -> None:
    model = RowModel(ROW, K, claims=slots)
    v = model.v
    assert v.claims == tuple(range(slots))
    for c in v.claims:
        accepted = model.goal(("accepted", str(c)), v.s("phase", K, c) == int(Phase.ACCEPTED))
        assert model._check(model.assumptions(model.labels) + [accepted]) == z3.sat, c
        submitted = [t for t in range(K) if z3.is_true(
            model.solver.model().eval(v.move(t, Move.SUBMIT, c), model_completion=True))]
        assert submitted, f"slot {c} was accepted without being submitted"


def test_no_slot_beyond_the_model() -> None:
    model = RowModel(ROW, K, claims=2)
    v = model.v
    stray = model.goal(("stray",), v.or_(*(v.ch("mc", t) >= 2 for t in range(K))))
    assert model._check(model.assumptions(model.labels) + [stray]) == z3.unsat


def test_two_slots_are_the_descriptors_model() -> None:
    default, explicit = RowModel(ROW, K), RowModel(ROW, K, claims=2)
    assert smtlib(default.solver) == smtlib(explicit.solver)
