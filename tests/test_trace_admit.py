"""`rkvformal trace admit`: the descriptor's model must explain a recorded trace.

The offload witness row (models/vllm_offload_witness_patch.rkv) describes the patched
vLLM connector, so it must admit the papers' positive traces, and must not admit the
false-positive controls: each is refused at the record the patched runtime would never
write.  A descriptor that says nothing about offload cannot explain an offload at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rkvformal import pipeline
from rkvformal.cli import main
from rkvformal.trace.admit import AdmitError, admit
from rkvformal.trace.reader import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "real_traces"  # byte-exact copies
OFFLOAD = FIXTURES / "offload_lifecycle"
WITNESS = ROOT / "models" / "vllm_offload_witness_patch.rkv"



def _row(path: Path, name: str):
    return next(r for r in pipeline.load(str(path)).rows if r.name == name)


def _admit(trace: Path, model: Path = WITNESS, row: str = "witness_offloadable"):
    with trace.open("rb") as stream:
        return admit(_row(model, row), read_jsonl(stream, str(trace)))


@pytest.mark.parametrize("trace", [
    OFFLOAD / "positive_bundle.jsonl",
    OFFLOAD / "success_restore.jsonl",
    OFFLOAD / "failure_refusal.jsonl",
    FIXTURES / "pydev_connector_failure_semantics" / "claimed_load_failure"
    / "vllm_runtime_events.jsonl",
], ids=lambda p: p.parent.name if p.name.startswith("vllm") else p.stem)
def test_the_witness_admits_the_positive_traces(trace: Path) -> None:
    result = _admit(trace)
    assert result.admitted and not result.unknown
    assert result.line is None


@pytest.mark.parametrize(("name", "sequence", "event", "words"), [
    ("false_positive_restore_after_reuse", 5, "resident_claim_reuse_after_restore",
     "cannot produce resident_claim_reuse_after_restore"),
    ("false_positive_fallback_recompute", 5, "resident_claim_restored",
     "restored_from_tier=false"),
    ("false_positive_wrong_claim_outcome", 5, "resident_claim_restoration_failed",
     "naming claim:wrong"),
])
def test_the_witness_refuses_the_controls_where_they_go_wrong(
        name: str, sequence: int, event: str, words: str) -> None:
    result = _admit(OFFLOAD / f"{name}.jsonl")
    assert not result.admitted and not result.unknown
    assert (result.sequence, result.event) == (sequence, event)
    assert any(words in reason for reason in result.why), result.why


def test_a_fallback_served_after_failure_is_not_the_patched_runtime() -> None:
    trace = (FIXTURES / "pydev_connector_failure_semantics" / "fallback_recompute"
             / "vllm_runtime_events.jsonl")
    result = _admit(trace)
    assert not result.admitted
    assert result.event == "scheduler_resident_claim_restoration_failed"


def test_a_descriptor_without_offload_cannot_explain_an_offload() -> None:
    result = _admit(OFFLOAD / "positive_bundle.jsonl", ROOT / "models" / "trtllm.rkv",
                    "trt_soft_priority")
    assert not result.admitted
    assert result.event == "resident_claim_offloaded"


def test_more_claims_than_slots_is_an_input_error() -> None:
    records = [(i + 1, {"event": "resident_claim_accepted", "claim_id": f"c{i}",
                        "prefix_id": "p", "predicate_id": "q"}) for i in range(3)]
    with pytest.raises(AdmitError, match="claim slots"):
        admit(_row(WITNESS, "witness_offloadable"), records)


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["trace", "admit", str(OFFLOAD / "false_positive_restore_after_reuse.jsonl"),
            "--model", str(WITNESS), "--lowering", "witness_offloadable"]
    text = runner.invoke(main, args)
    assert text.exit_code == 1
    assert "first record the model cannot explain: resident_claim_reuse_after_restore" in (
        text.output)
    first = runner.invoke(main, [*args, "--format", "json"])
    second = runner.invoke(main, [*args, "--format", "json"])
    assert first.output == second.output
    data = json.loads(first.output)
    assert data["status"] == "not admitted"
    assert data["first_unexplained"]["event_sequence"] == 5
    ok = runner.invoke(main, ["trace", "admit", str(OFFLOAD / "positive_bundle.jsonl"),
                              "--model", str(WITNESS), "--lowering", "witness_offloadable"])
    assert ok.exit_code == 0 and "ADMITTED" in ok.output
    missing = runner.invoke(main, [*args[:-1], "witness"])
    assert missing.exit_code != 0 and "no lowering named 'witness'" in str(missing.exception)


def test_a_mistyped_field_is_unreadable_input(tmp_path: Path) -> None:
    """admit reads a record as `trace check` does: a field its kind reads must have
    its type (exit 2, with the line); one it does not read is carried along."""
    lines = (OFFLOAD / "positive_bundle.jsonl").read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    at = next(i for i, r in enumerate(records) if r["event"] == "resident_claim_materialized")
    args = ["--model", str(WITNESS), "--lowering", "witness_offloadable"]
    runner = CliRunner()
    for field, value, code in (("resident_blocks_materialized", True, 2),
                               ("priority", "high", 0)):
        changed = [dict(r) for r in records]
        changed[at][field] = value
        trace = tmp_path / f"{field}.jsonl"
        trace.write_text("".join(json.dumps(r) + "\n" for r in changed))
        result = runner.invoke(main, ["trace", "admit", str(trace), *args])
        if code == 0:
            assert result.exit_code == 0, result.output
        else:  # (the CLI's entry maps InputFailure to exit 2; click's runner raises it)
            assert result.exit_code != 0
            said = str(result.exception) + result.output
            assert f"{trace}:{at + 1}: error: field '{field}'" in said


def test_one_model_answers_every_question_of_a_refusal(monkeypatch) -> None:
    """The bisection for the first unexplained record and the per-fact questions after
    it are goals on one incremental solver, not a model rebuilt per question."""
    from rkvformal.trace import admit as admit_module

    built = []
    original = admit_module.RowModel

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(args[0].name)
        return original(*args, **kwargs)

    monkeypatch.setattr(admit_module, "RowModel", counting)
    result = _admit(OFFLOAD / "false_positive_restore_after_reuse.jsonl")
    assert not result.admitted and result.sequence == 5  # several questions were asked
    assert built == ["witness_offloadable"]
