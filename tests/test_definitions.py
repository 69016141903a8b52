"""The prover's model inlines what the base relation determines (`SymbolicView.define`):
next states, a step's demand, events and histories are terms over the model's free
choices, not variables with equations.  These tests keep that true (a formula that read
a state before the base defined it would silently bring the variable back), check that
traces read back from models are still traces of the model, and that the SMT-LIB text
handed to cvc5 asks the same question at a size that does not grow with the sharing."""

from __future__ import annotations

import glob

import pytest
import z3

from rkvformal import pipeline
from rkvformal.semantics.bundles import load_stdlib
from rkvformal.sim.abstraction import model_failures
from rkvformal.smt.encoding import BELIEF_COUNTS, BELIEF_FLAGS
from rkvformal.smt.prover import RowModel
from rkvformal.smt.second_solver import smtlib
from rkvformal.smt.trace import EVENTS, STATE, Key, SymbolicView, concretize
from rkvformal.vocab import AtomStatus

ROWS = [row for path in sorted(glob.glob("models/*.rkv")) + sorted(glob.glob("bad_lowerings/*.rkv"))
        for row in pipeline.load(path).rows]
BELIEF = set(BELIEF_COUNTS) | set(BELIEF_FLAGS)  # relational: the join may believe any victim


def _row(path: str, name: str):
    return next(r for r in pipeline.load(path).rows if r.name == name)


def _keys(v: SymbolicView) -> list[Key]:
    """The names `v` made a variable for, as the `Key`s they are (`SymbolicView.vars` is
    typed by the plain tuples that also find them)."""
    keys = []
    for key in v.vars:
        assert isinstance(key, Key)
        keys.append(key)
    return keys


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_every_determined_name_is_a_term(row) -> None:
    for model in (RowModel(row, 4), RowModel(row, 3, induction=True)):
        v = model.v
        free = {key for key in _keys(v) if key not in v.defined}
        start = 1 if model.induction else 0  # a window starts in any state
        states = sorted(str(k) for k in free if k.name in STATE and k.name not in BELIEF
                        and (k.t or 0) >= start and k.name not in ("free", "cached"))
        assert states == [], "state read before the base defined it"
        assert not [k for k in free if k.name in ("free", "cached") and k.t], "pool counts"
        # an event a primitive reads keeps its variable, with its definition as an equation
        events = {k for k in free if k.name in EVENTS}
        assert events == {k for k in v.equated if k.name in EVENTS}
        assert {k.name for k in _keys(v) if k.name in EVENTS} - {k.name for k in events}
        assert all(Key("need", t, None) in v.defined for t in range(v.K))


def test_a_name_read_before_its_definition_keeps_its_variable() -> None:
    v = SymbolicView(2)
    early = v.s("free", 1)
    equation = v.define("free", 1, None, v.s("free", 0) + 1)
    assert isinstance(equation, z3.BoolRef) and "free@1" in equation.sexpr()
    assert v.s("free", 1).eq(early) and Key("free", 1, None) not in v.defined
    assert v.define("cached", 1, None, 3) is True
    assert v.s("cached", 1).eq(z3.IntVal(3, v.ctx))


def test_a_definition_of_the_wrong_sort_is_refused() -> None:
    v = SymbolicView(2)
    with pytest.raises(TypeError, match="free@1 is int"):
        v.define("free", 1, None, True)
    with pytest.raises(TypeError, match="host@1#c0 is bool"):
        v.define("host", 1, 0, v.s("free", 0))


@pytest.mark.parametrize("path,name", [
    ("models/trtllm.rkv", "trt_hard_protected"),
    ("bad_lowerings/wrong_claim_restoration_failure.rkv", "wrong_claim_offloadable"),
    ("models/lmcache.rkv", "lmcache_lookup_pin_expiring"),
])
def test_counterexamples_read_back_are_traces_of_the_model(path: str, name: str) -> None:
    """Every value of a shrunk counterexample, defined names included, satisfies every
    formula of the row's model with all its primitives and assumptions on (the final
    stage, where counterexamples are shrunk)."""
    row = _row(path, name)
    proved = pipeline.prove_row(row)
    refuted = [c for c in proved.result.checks if c.status is AtomStatus.REFUTED]
    assert refuted
    for check in refuted:
        assert check.trace is not None
        assert model_failures(row.primitives, check.trace, assumptions=row.assumptions) == []


def test_one_evaluation_reads_what_evaluating_each_name_reads() -> None:
    model = RowModel(_row("models/trtllm.rkv", "trt_offloadable"), 6)
    assert model.satisfiable(model.labels) == z3.sat
    found, trace = model.solver.model(), None
    trace = concretize(model.v, found)
    assert len(model.v.defined) > 100
    for key, term in model.v.defined.items():
        value = found.eval(term, model_completion=True)
        expected = z3.is_true(value) if z3.is_bool(value) else value.as_long()
        assert trace.values[key] == expected, key


def test_the_smtlib_export_asks_the_same_questions_once_per_subterm() -> None:
    row = _row("models/vllm_hard_exclusion_patch.rkv", "no_admit_as_hard")
    model = RowModel(row, 12)
    bundle = load_stdlib()[row.mode]
    goals = [model.violation_goal(e.atom, e.qualifier) for e in bundle.entries]
    text = smtlib(model.solver)
    assert "(check-sat" not in text
    assert len(text) < 1_000_000  # printed assertion by assertion: several MB
    ctx = z3.Context()
    parsed = z3.Solver(ctx=ctx)
    parsed.add(z3.parse_smt2_string(text, ctx=ctx))
    answers = set()
    for goal in goals:
        on = model.assumptions(model.labels) + [goal]
        again = [z3.Bool(str(lit), ctx) if not z3.is_not(lit)
                 else z3.Not(z3.Bool(str(lit.arg(0)), ctx)) for lit in on]
        answer = model.solver.check(*on)
        assert parsed.check(*again) == answer, goal
        answers.add(str(answer))
    assert answers == {"sat", "unsat"}  # the comparison covered both answers
