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
from rkvformal.smt import obligations
from rkvformal.smt.counterexample import Counterexample
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


@pytest.mark.parametrize("case, built", [
    ("duration_as_expiring.rkv", {"release_before_loss"}),  # five atoms refuted
    ("missing_anchor.rkv", set()),  # expect unknown_evidence: nothing is replayed
])
def test_the_suite_builds_only_the_counterexamples_it_replays(case: str, built: set[str]
                                                                ) -> None:
    """`only_expected` skips shrinking the refutations a case does not state: the
    verdicts (class, each atom's status and core, the stage) are those of a full proof,
    and only the stated atoms carry a counterexample."""
    (row,) = pipeline.load(os.path.join(BAD, case)).rows
    full = pipeline.prove_row(row)
    suite_way = pipeline.prove_row(row, pipeline.Options(only_expected=True))

    def verdicts(proved: pipeline.ProvedRow) -> tuple[object, ...]:
        result = proved.result
        return (result.evidence_class, result.stage, result.needed,
                [(c.atom, c.status, c.core, c.proof) for c in result.checks])

    assert verdicts(suite_way) == verdicts(full)
    refuted = {c.atom.value for c in full.result.checks if c.status is AtomStatus.REFUTED}
    assert set(full.counterexamples) == refuted and len(refuted) > len(built)
    assert set(suite_way.counterexamples) == built


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
