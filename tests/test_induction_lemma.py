"""k-induction with an atom's strengthening lemma: the lemma makes a history-heavy atom
inductive, and it is checked, never trusted (a false lemma leaves the atom bounded)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import ROOT

from rkvformal import pipeline
from rkvformal.semantics.bundles import load_stdlib
from rkvformal.smt.encoding import Formula
from rkvformal.smt.lowering import stages
from rkvformal.smt.obligations import ATOMS, Lemma
from rkvformal.smt.prover import RowModel
from rkvformal.smt.trace import View
from rkvformal.vocab import Atom, AtomStatus

ATOM = Atom.EXPLICIT_ACCEPTANCE


def _proven() -> tuple[RowModel, tuple[str, ...]]:
    """The patched vLLM hard-exclusion row, with explicit_acceptance proven up to K at
    its policy stage (what k-induction starts from).  A fresh model each time: a model
    keeps the induction goals it built, lemma included."""
    descriptor = pipeline.load(f"{ROOT}/models/vllm_hard_exclusion_patch.rkv")
    row = next(r for r in descriptor.rows if r.name == "patched_hard_protected")
    labels = stages(row)[-1].labels
    model = RowModel(row)
    assert model.prove(ATOM, load_stdlib()[row.mode].qualifier(ATOM), labels).status is (
        AtomStatus.PROVEN)
    return model, labels


def _with_lemma(monkeypatch: pytest.MonkeyPatch, lemma: Lemma | None) -> None:
    monkeypatch.setitem(ATOMS, ATOM, replace(ATOMS[ATOM], lemma=lemma))


@pytest.fixture
def proven() -> tuple[RowModel, tuple[str, ...]]:
    return _proven()


def test_the_lemma_makes_explicit_acceptance_1_inductive(proven, monkeypatch) -> None:
    model, labels = proven
    assert model.induct(ATOM, None, labels) == 1
    _with_lemma(monkeypatch, None)  # alone, the atom is not inductive at k <= 2
    model, labels = _proven()
    assert model.induct(ATOM, None, labels) is None


def test_a_lemma_false_from_the_start_is_rejected(proven, monkeypatch) -> None:
    """"Every claim was announced accepted before step t" is false at step 0 of every
    trace, yet preserved by every step: only the base case can reject it."""
    model, labels = proven

    def everyone_accepted(v: View, c: int, t: int) -> Formula:
        return v.before("accepted", c, t)

    _with_lemma(monkeypatch, everyone_accepted)
    assert model.induct(ATOM, None, labels) is None
    # the induction step alone accepts it, so it is the base case that said no
    monkeypatch.setattr(RowModel, "_lemma_from_start", lambda *args: True)
    assert model.induct(ATOM, None, labels) == 1


def test_a_lemma_not_preserved_is_rejected(proven, monkeypatch) -> None:
    """"Nobody was announced accepted yet" holds at step 0 and breaks at the first
    acceptance: the induction step rejects it."""
    model, labels = proven

    def nobody_accepted(v: View, c: int, t: int) -> Formula:
        return v.not_(v.before("accepted", c, t))

    _with_lemma(monkeypatch, nobody_accepted)
    assert model.induct(ATOM, None, labels) is None


def test_before_is_the_history_a_state_carries() -> None:
    """The concrete reading of `before` (what the simulator and traces use) agrees with
    `seen` one step earlier, and is false at step 0."""
    from rkvformal.smt.trace import SCHEMA, ConcreteView, Key, all_keys

    values: dict[Key, int | bool] = {
        k: False if SCHEMA[k.name][0] == "bool" else 0 for k in all_keys(3)}
    values[Key("accepted", 1, 0)] = True
    v = ConcreteView(3, values)
    assert [bool(v.before("accepted", 0, t)) for t in range(3)] == [False, False, True]
    assert [bool(v.seen("accepted", 0, t)) for t in range(3)] == [False, True, True]
