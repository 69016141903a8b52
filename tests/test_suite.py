"""The bad-lowering suite: every shipped case is rejected for the atom it states, the
suite notices a case that is not, and every obligation atom is load-bearing (switch its
encoding off and some case slips through)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import ROOT

from rkvformal import pipeline
from rkvformal.cli import InputFailure
from rkvformal.semantics.domain import Row
from rkvformal.smt import lowering, obligations
from rkvformal.smt.counterexample import Counterexample
from rkvformal.smt.prover import RowModel
from rkvformal.suite import SCHEMA, SuiteReport, render_json, run_suite, suite_command
from rkvformal.vocab import Atom, AtomStatus, EvidenceClass

BAD = os.path.join(ROOT, "bad_lowerings")
CASE_FIELDS = {"path", "lowering", "expected_atom", "expected_atoms", "class", "refuted_atoms",
               "counterexample_replayed", "ok"}

HEADER = 'runtime t { name "T" repo "org/t" version "v1" }\n'
HARD = 'primitive hard { kind hard_exclusion provenance patch anchor "src/x.py:1" }\n'
LOCK = 'primitive lock { kind lock_ref provenance native anchor "src/x.py:2" }\n'


@pytest.fixture(scope="module")
def report() -> SuiteReport:
    from rkvformal.sim.abstraction import replay

    return run_suite([BAD], jobs=2, replay=replay)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(suite_command, list(args), standalone_mode=False)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(HEADER + text, encoding="utf-8")
    return str(path)


def test_every_shipped_case_is_rejected_for_its_stated_atom(report: SuiteReport) -> None:
    files = sorted(name for name in os.listdir(BAD) if name.endswith(".rkv"))
    assert len(files) >= 22
    assert len(report.cases) >= 20
    assert [os.path.basename(c.path) for c in report.cases] == files  # one row per file
    failed = [f"{c.path}: {c.reason}" for c in report.cases if not c.ok]
    assert failed == []
    assert report.exit_code == 0
    for case in report.cases:
        # the simulator replays every stated refutation; missing evidence has nothing to replay
        unknown = case.evidence_class is EvidenceClass.UNKNOWN_EVIDENCE
        assert case.counterexample_replayed is (None if unknown else True)
        if case.expected_class is EvidenceClass.UNKNOWN_EVIDENCE:
            assert case.evidence_class is EvidenceClass.UNKNOWN_EVIDENCE
            assert case.expected_atom is None
        else:
            assert case.evidence_class is EvidenceClass.REJECTED_MAPPING
            assert case.expected_atom == case.expected_atoms[0]
            assert set(case.expected_atoms) <= set(case.refuted_atoms)
    assert any(c.expected_class is EvidenceClass.UNKNOWN_EVIDENCE for c in report.cases)


def test_every_atom_is_the_stated_atom_of_some_case(report: SuiteReport) -> None:
    stated = {atom for case in report.cases for atom in case.expected_atoms}
    assert stated == {atom.value for atom in Atom}


def test_json_has_the_schema_fields_and_is_deterministic_across_runs(
        report: SuiteReport) -> None:
    text = render_json(report)
    document = json.loads(text)
    assert list(document) == ["schema", "cases"]
    assert document["schema"] == SCHEMA
    assert len(document["cases"]) == len(report.cases)
    for entry in document["cases"]:
        assert set(entry) == CASE_FIELDS
        assert entry["ok"] is True
        # every stated refutation replays in the block simulator; missing evidence has none
        expected = None if entry["class"] == "unknown_evidence" else True
        assert entry["counterexample_replayed"] is expected
    # a second, independent run (through the command, other parallelism) says the same
    result = invoke(BAD, "--format", "json", "-j", "1")
    assert result.exit_code == 0, result.output
    assert result.output == text


def test_a_good_lowering_marked_as_bad_fails_the_suite(tmp_path: Path) -> None:
    write(tmp_path, "patch_hard.rkv", HARD + "lowering patch_hard mode hard_protected via hard "
          "expect rejected_mapping because protected_exclusion\n")
    result = invoke(str(tmp_path), "--format", "json", "-j", "1")
    assert result.exit_code == 1, result.output
    (case,) = json.loads(result.output)["cases"]
    assert case["ok"] is False
    assert case["class"] == "adapter_policy"
    assert case["expected_atom"] == "protected_exclusion"
    assert case["refuted_atoms"] == []
    text = invoke(str(tmp_path), "-j", "1")
    assert text.exit_code == 1
    assert "accepted as adapter_policy" in text.output


def test_a_case_rejected_for_another_reason_fails(tmp_path: Path) -> None:
    path = write(tmp_path, "lock.rkv", LOCK + "lowering lock_hard mode hard_protected via lock "
                 "expect rejected_mapping because exclusive_attribution\n")
    (case,) = run_suite([path], jobs=1).cases
    assert case.evidence_class is EvidenceClass.REJECTED_MAPPING
    assert "protected_exclusion" in case.refuted_atoms
    assert not case.ok
    assert case.reason.startswith("exclusive_attribution not refuted (rejected for ")


def test_the_replay_hook_is_asked_about_each_stated_counterexample(tmp_path: Path) -> None:
    path = write(tmp_path, "lock.rkv", LOCK + "lowering lock_hard mode hard_protected via lock "
                 "expect rejected_mapping because protected_exclusion\n")
    asked: list[str] = []

    def replays(row: Row, cex: Counterexample) -> bool:
        asked.append(cex.atom)
        return True

    (case,) = run_suite([path], jobs=1, replay=replays).cases
    assert asked == ["protected_exclusion"]
    assert case.ok and case.counterexample_replayed is True
    broken = run_suite([path], jobs=1, replay=lambda row, cex: False)
    assert broken.cases[0].counterexample_replayed is False
    assert not broken.cases[0].ok
    assert broken.exit_code == 4  # a counterexample that does not replay is a bug


@pytest.mark.parametrize("case, stated, others", [
    ("duration_as_expiring.rkv", ["release_before_loss"], 4),  # others a full proof refutes
    ("restore_after_reuse.rkv", ["restore_before_reuse", "ordered_lifecycle"], 0),
    ("missing_anchor.rkv", [], 4),  # expect unknown_evidence: every atom is searched
])
def test_the_suite_decides_a_case_by_its_stated_atoms(case: str, stated: list[str],
                                                      others: int) -> None:
    """`by_stated_atoms`: the class is a full proof's (one refuted atom at the last stage
    rejects the row, so once the stated atoms are refuted the others are not searched);
    the stated atoms are refuted, each with a counterexample, and nothing else is shown
    as refuted that a full proof does not refute.  A case without stated atoms is
    proved as in full, with no counterexample."""
    (row,) = pipeline.load(os.path.join(BAD, case)).rows
    full = pipeline.prove_row(row)
    suite_way = pipeline.prove_row(row, pipeline.Options(by_stated_atoms=True))

    def refuted(proved: pipeline.ProvedRow) -> list[str]:
        return [c.atom.value for c in proved.result.checks if c.status is AtomStatus.REFUTED]

    result = suite_way.result
    assert (result.evidence_class, result.stage) == (full.result.evidence_class,
                                                     full.result.stage)
    assert set(refuted(suite_way)) <= set(refuted(full))
    assert len(set(refuted(full)) - set(stated)) == others
    assert sorted(suite_way.counterexamples) == sorted(stated)
    # found by walking up from one step (`RowModel.search(walk_first=True)`), each
    # stated refutation is as short as the full proof's
    steps = {c.atom: c.violation_step for c in full.result.checks}
    assert {c.atom: c.violation_step for c in result.checks if c.atom.value in stated} == {
        a: s for a, s in steps.items() if a.value in stated}
    if stated:
        assert [c.atom.value for c in result.checks] == refuted(suite_way) == [
            e.atom.value for e in pipeline.load_stdlib()[row.mode].entries
            if e.atom.value in stated]
    else:
        assert [(c.atom, c.status, c.core, c.proof) for c in result.checks] == [
            (c.atom, c.status, c.core, c.proof) for c in full.result.checks]


@pytest.mark.parametrize("text, message", [
    (LOCK + "lowering r mode hard_protected via lock\n", "states no expectation"),
    (LOCK + "lowering r mode hard_protected via lock expect rejected_mapping\n",
     "does not say which atom must break"),
    (LOCK + "lowering r mode hard_protected via lock expect native_conformance\n",
     "expects native_conformance"),
    ("primitive p { kind evicton_priority provenance native }\n",
     "unknown primitive kind 'evicton_priority'"),
])
def test_input_errors_name_the_file_and_row(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "case.rkv", text)
    result = invoke(str(tmp_path))
    assert isinstance(result.exception, InputFailure)
    assert path in result.exception.message
    assert message in result.exception.message


def test_missing_paths_and_empty_directories_are_input_errors(tmp_path: Path) -> None:
    for args in ((str(tmp_path / "nope"),), (str(tmp_path),), (BAD, "-j", "0")):
        result = invoke(*args)
        assert isinstance(result.exception, InputFailure), args


def _cheapest_case_stating(report: SuiteReport, atom: Atom) -> str | None:
    """The case naming `atom` with the fewest refutations (fewest counterexamples to shrink)."""
    stating = [c for c in report.cases if atom.value in c.expected_atoms]
    if not stating:
        return None
    return min(stating, key=lambda c: (len(c.refuted_atoms), c.path)).path


@pytest.mark.parametrize("atom", list(Atom), ids=lambda a: a.value)
def test_every_atom_is_load_bearing(report: SuiteReport, atom: Atom,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch one atom's encoding off (it can never be refuted): a case slips through."""
    path = _cheapest_case_stating(report, atom)
    assert path is not None, f"no case states {atom.value}: it is not load-bearing"
    defn = obligations.ATOMS[atom]
    monkeypatch.setitem(obligations.ATOMS, atom,
                        dataclasses.replace(defn, violation=lambda v, c, t, q: False))
    mutated = run_suite([path], jobs=1)
    assert not all(case.ok for case in mutated.cases), f"{path} still ok without {atom.value}"
    assert mutated.exit_code == 1
    assert atom.value not in mutated.cases[0].refuted_atoms


def test_walking_first_proves_what_a_full_search_proves() -> None:
    """`walk_first` on atoms a full search proves: every shallow probe is unsat, and
    the full-depth search still decides (with its core), so the atom is proven."""
    (row,) = [r for r in pipeline.load(os.path.join(ROOT, "models", "trtllm.rkv")).rows
              if r.name == "trt_hard_protected"]
    bundle = pipeline.load_stdlib()[row.mode]
    labels = tuple(lowering.stages(row)[0].labels)
    plain, walked = (RowModel(row) for _ in range(2))
    proven = 0
    for entry in bundle.entries:
        a = plain.search(entry.atom, entry.qualifier, labels)
        b = walked.search(entry.atom, entry.qualifier, labels, walk_first=True)
        assert (a.status, a.violation_step) == (b.status, b.violation_step), entry.atom
        proven += a.status is AtomStatus.PROVEN
        if a.status is AtomStatus.PROVEN:
            assert set(b.core) <= {*plain.lits}
    assert proven  # (the row proves some atoms at its first stage)


def test_a_second_solver_still_decides_when_walking_first(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A walk's satisfiable probe would be a verdict of Z3's alone: with a second solver
    confirming verdicts (`--cross-check`), the full search decides instead, and the
    second solver is asked."""
    from rkvformal.smt import prover

    asked: list[int] = []

    def second(solver: object, assumptions: list[object], timeout_s: object) -> object:
        asked.append(len(assumptions))
        return solver.check(*assumptions)  # type: ignore[attr-defined]

    monkeypatch.setattr(prover, "cvc5_check", second)
    (row,) = pipeline.load(os.path.join(BAD, "duration_as_expiring.rkv")).rows
    (entry,) = [e for e in pipeline.load_stdlib()[row.mode].entries
                if e.atom is Atom.RELEASE_BEFORE_LOSS]
    labels = tuple(lowering.stages(row)[-1].labels)
    check = RowModel(row, cross_check=True).search(entry.atom, entry.qualifier, labels,
                                                  walk_first=True)
    assert check.status is AtomStatus.REFUTED
    assert asked  # the verdict went through both solvers
    alone = RowModel(row).search(entry.atom, entry.qualifier, labels, walk_first=True)
    assert alone.status is AtomStatus.REFUTED
    assert alone.violation_step == check.violation_step
