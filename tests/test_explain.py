"""`rkvformal explain`: timelines, the bad-move paragraph, solver-decided discharging
kinds and minimal proof support, on small rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from rkvformal import pipeline
from rkvformal.cli import InputFailure
from rkvformal.report import explain
from rkvformal.report.commands import explain_command
from rkvformal.semantics.bundles import load_stdlib
from rkvformal.semantics.catalogue import CATALOGUE
from rkvformal.vocab import Atom, AtomStatus, PrimitiveKind

HEADER = 'runtime t { name "T" repo "org/t" version "v1" }\n'
SCENARIO = ("scenario canonical { usable 80 claim resident { footprint 60 predicate "
            "leading_prefix_at_least(60) } active bulky { demand 70 } }\n")
PRIORITY = 'primitive prio { kind eviction_priority provenance native anchor "src/p.py:1" }\n'
HARD = 'primitive hard { kind hard_exclusion provenance patch anchor "src/h.py:1" }\n'
NOEVICT = 'primitive noevict { kind active_no_evict provenance native anchor "src/n.py:1" }\n'


def prove_one(tmp_path: Path, text: str, name: str) -> tuple[str, pipeline.ProvedRow]:
    path = tmp_path / "t.rkv"
    path.write_text(HEADER + text, encoding="utf-8")
    proved = pipeline.prove_descriptors([pipeline.load(str(path))], only=name)
    return str(path), proved[0].rows[0]


@pytest.fixture(scope="module")
def priority_row(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pipeline.ProvedRow]:
    """Retention priority claimed as hard protection, in the canonical 60/70/80 numbers."""
    return prove_one(tmp_path_factory.mktemp("prio"), PRIORITY + SCENARIO +
                     "lowering prio_hard mode hard_protected via prio scenario canonical "
                     "expect rejected_mapping\n", "prio_hard")


def test_timeline_shows_every_step_with_claims_pool_active_and_events(priority_row) -> None:
    _path, proved = priority_row
    cex = proved.counterexamples["protected_exclusion"]
    lines = explain.timeline_lines(cex)
    steps = [line for line in lines if " step " in line[:12]]
    assert len(steps) == len(cex.steps)
    assert any(line.startswith("  ✗ step") for line in lines)
    last = lines[lines.index(next(x for x in lines if x.startswith("  ✗"))):]
    assert "evicts resident.required=50" in last[0]
    assert "resident  required 10/60  other 0  offloaded 0  harmed (predicate false)" in last[1]
    assert "free 0  cached 0  active running 70/70 live" in last[2]
    assert last[3].strip() == "(no events)"


def test_paragraph_names_the_move_and_the_primitives_that_do_not_forbid_it(priority_row) -> None:
    _path, proved = priority_row
    words = explain.bad_move_paragraph(proved.result.row, proved.counterexamples[
        "protected_exclusion"])
    assert "At step 5 the runtime made the move `admit`" in words
    assert "taking 50 of resident's required blocks as victims; nothing was emitted" in words
    assert "the base pool allows it" in words
    assert "prio (eviction_priority, native) says" in words
    assert CATALOGUE[PrimitiveKind.EVICTION_PRIORITY].doc.rstrip(".") in words
    assert words.endswith("never loses its predicate to victim selection.")


def test_gated_moves_are_credited_to_the_primitive_that_provides_them() -> None:
    path = f"{ROOT}/models/dynamo.rkv"
    proved = pipeline.prove_descriptors([pipeline.load(path)], only="dynamo_routed_reuse")
    row_proved = proved[0].rows[0]
    row = row_proved.result.row
    assert explain.move_enablers(row) == {"route": ("kv_router",)}
    cex = row_proved.counterexamples["routed_presence"]
    check = next(c for c in row_proved.result.checks if c.atom is Atom.ROUTED_PRESENCE)
    dropped = explain.dropped_events(row, check.trace, cex.violation_step)
    words = explain.bad_move_paragraph(row, cex, dropped)
    assert "exists only because kv_router (kv_aware_routing, native) provides it" in words
    # every dropped event is one a lossy stream really dropped: the trace chose `drop`
    for step, lost in dropped.items():
        assert check.trace is not None and check.trace.ch("drop", step - 1)
        assert all("from kv_events" in event for event in lost)


def test_discharging_kinds_are_decided_by_the_solver(priority_row) -> None:
    _path, proved = priority_row
    found = explain.discharging_kinds(proved.result.row, Atom.PROTECTED_EXCLUSION, 12)
    assert [kind for kind, _status in found.verdicts] == [k.value for k in CATALOGUE]
    assert found.kinds(AtomStatus.PROVEN) == ("hard_exclusion",)
    assert "eviction_priority" in found.kinds(AtomStatus.REFUTED)
    assert "lock_ref" in found.kinds(AtomStatus.REFUTED)  # the lock ends with the request
    lines = explain.discharge_lines(found, 12, proved.result.row)
    assert "  proven with: hard_exclusion" in lines
    assert not any("*" in line for line in lines)  # no proof from a kind the row has
    # a proof with a kind the row already has is starred, with the caveat spelled out
    same_kind = explain.Discharge("protected_exclusion", (("eviction_priority", "proven"),))
    starred = explain.discharge_lines(same_kind, 12, proved.result.row)
    assert "  proven with: eviction_priority*" in starred
    assert starred[-1].startswith("  * the row already has a primitive of this kind")


def test_hypothetical_primitive_is_fresh_anchored_and_defaulted(priority_row) -> None:
    _path, proved = priority_row
    row = proved.result.row
    added = explain.hypothetical(row, PrimitiveKind.EVICTION_PRIORITY)
    assert added.name not in {p.name for p in row.primitives}
    assert added.anchored and added.provenance.value == "policy"
    assert dict(added.params) == {"default": 35, "maximum": 100, "minimum": 0}


def test_minimal_support_drops_what_the_proof_does_without(tmp_path: Path) -> None:
    _path, proved = prove_one(tmp_path, HARD + NOEVICT +
                              "lowering ok mode hard_protected via hard, noevict "
                              "assume single_claim expect adapter_policy\n", "ok")
    assert proved.result.stage == "policy"
    bundle = load_stdlib()[proved.result.row.mode]
    support = explain.minimal_support(proved.result.row, bundle.entries, "policy", 12)
    assert support.labels == ("primitive:hard",)
    assert set(support.dropped) == {"primitive:noevict", "assume:single_claim"}
    assert support.without["primitive:hard"].endswith("refuted")
    assert support.interferes == {}
    assert set(support.cores) == {a.value for a in bundle.atoms}


def test_minimal_support_says_when_a_dropped_primitive_needs_the_assumption() -> None:
    """TensorRT-LLM's soft_priority: without the retention duration the pressure
    assumption is not needed, but with the duration back on the proof breaks."""
    path = f"{ROOT}/models/trtllm.rkv"
    row = next(r for r in pipeline.load(path).rows if r.name == "trt_soft_priority")
    support = explain.minimal_support(row, load_stdlib()[row.mode].entries, "policy", 12)
    assert "primitive:priority_adapter" in support.labels
    assert "assume:no_event_loss" in support.labels
    assert {"primitive:retention_duration", "assume:pressure_within_duration"} <= set(
        support.dropped)
    assert support.interferes["primitive:retention_duration"] == "priority_order refuted"


def test_explain_command_exit_codes_and_input_errors(priority_row) -> None:
    path, _proved = priority_row
    runner = CliRunner()
    missing = runner.invoke(explain_command, [path, "--lowering", "nope"])
    assert isinstance(missing.exception, InputFailure)
    assert "no row named 'nope'" in missing.exception.message
    typo = runner.invoke(explain_command, [path, "--lowering", "prio_hard", "--atom",
                                           "protected_exclsion"])
    assert isinstance(typo.exception, InputFailure)
    assert "did you mean 'protected_exclusion'" in typo.exception.message
    other = runner.invoke(explain_command, [path, "--lowering", "prio_hard", "--atom",
                                            "priority_order"])
    assert isinstance(other.exception, InputFailure)
    assert "not in the hard_protected bundle" in other.exception.message
    assert runner.invoke(explain_command, [path]).exit_code == 2  # --lowering is required
    vacuous = runner.invoke(explain_command, [path, "--lowering", "prio_hard", "--atom",
                                              "claim_identity"])
    assert vacuous.exit_code == 0, vacuous.output
    assert "claim_identity vacuous" in vacuous.output and "never a pass" in vacuous.output
