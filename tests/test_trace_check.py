"""`rkvformal trace check` on the papers' real traces and on synthetic runs.

The real fixtures must come out as the source's own gate says (paper 2 §3.3, §6;
paper 1 §4.4): the positive bundle passes both gates, each false-positive control
fails for the reason it was built for, the patched-vLLM claimed_load_failure run passes
the failure-outcome gate and its controls fail it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from rkvformal.cli import main
from rkvformal.trace.commands import check_trace
from rkvformal.trace.gate import Status, TraceVerdict, check
from rkvformal.vocab import Atom, Mode

# byte-exact copies of ../shared/fixtures/real_traces (test_fixtures_are_byte_exact)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "real_traces"
OFFLOAD = FIXTURES / "offload_lifecycle"
PYDEV = FIXTURES / "pydev_connector_failure_semantics"
FAILURE_GATE = ("restoration_failed", "outcome")
OBSERVATION_GATE = ("restored", "reused_after_restore")



def gate(path: Path, require: tuple[str, ...] = (), mode: Mode = Mode.OFFLOADABLE,
         claim: str | None = None) -> TraceVerdict:
    return check_trace(str(path), mode, require, claim)


def broken(v: TraceVerdict, claim: str | None = None) -> dict[str, set[Atom]]:
    return {c.claim_id: {a.atom for a in c.atoms if a.status is Status.FAIL}
            for c in v.claims if claim in (None, c.claim_id)}


# --- the offload reference gate -------------------------------------------------------

def test_positive_bundle_passes_both_gates() -> None:
    for require in (FAILURE_GATE, OBSERVATION_GATE, FAILURE_GATE + OBSERVATION_GATE):
        v = gate(OFFLOAD / "positive_bundle.jsonl", require)
        assert v.status is Status.PASS, v
        (claim,) = v.claims
        assert claim.claim_id == "claim:reference-offload"
        assert [claim.stages[s].sequence for s in ("accepted", "materialized", "offloaded",
                                                    "restored", "reused_after_restore",
                                                    "restoration_failed", "outcome")] == [
            1, 2, 3, 5, 6, 9, 10]


@pytest.mark.parametrize(("name", "atoms", "missing"), [
    # the success cycle alone: no failure outcome was ever observed
    ("success_restore", set(), {"restoration_failed", "outcome"}),
    # the failure cycle alone: nothing was restored or reused
    ("failure_refusal", set(), {"restored", "reused_after_restore"}),
    ("false_positive_offload_no_restore", set(),
     {"restored", "reused_after_restore", "restoration_failed", "outcome"}),
    # reuse before the restore it should consume
    ("false_positive_restore_after_reuse", {Atom.ORDERED_LIFECYCLE, Atom.RESTORE_BEFORE_REUSE},
     {"restoration_failed", "outcome"}),
    # a recompute presented as a restore
    ("false_positive_fallback_recompute", {Atom.RESTORE_BEFORE_REUSE},
     {"restored", "restoration_failed", "outcome"}),
    # the failure outcome names another claim
    ("false_positive_wrong_claim_outcome",
     {Atom.RESTORATION_FAILURE_OUTCOME, Atom.EXCLUSIVE_ATTRIBUTION},
     {"restored", "reused_after_restore", "restoration_failed", "outcome"}),
])
def test_reference_controls_fail_for_their_reason(name: str, atoms: set[Atom],
                                                  missing: set[str]) -> None:
    v = gate(OFFLOAD / f"{name}.jsonl", FAILURE_GATE + OBSERVATION_GATE)
    assert v.status is Status.FAIL
    target = next(c for c in v.claims if c.claim_id == "claim:reference-offload")
    assert broken(v)["claim:reference-offload"] == atoms
    assert set(target.missing) == missing


def test_wrong_claim_outcome_breaks_acceptance_of_the_named_claim() -> None:
    v = gate(OFFLOAD / "false_positive_wrong_claim_outcome.jsonl", FAILURE_GATE)
    wrong = next(c for c in v.claims if c.claim_id == "claim:wrong")
    assert not wrong.accepted
    fails = {a.atom: a for a in wrong.atoms if a.status is Status.FAIL}
    assert Atom.EXPLICIT_ACCEPTANCE in fails
    assert [loc.sequence for loc in fails[Atom.EXPLICIT_ACCEPTANCE].broken_at] == [5, 6]


def test_generic_substrate_has_no_claim() -> None:
    v = gate(OFFLOAD / "false_positive_generic_substrate.jsonl")
    assert v.status is Status.FAIL and v.claims == ()
    assert "no accepted claim" in v.reasons[0]


# --- the patched-vLLM connector runs ----------------------------------------------------

def test_claimed_load_failure_passes_the_failure_gate() -> None:
    v = gate(PYDEV / "claimed_load_failure" / "vllm_runtime_events.jsonl", FAILURE_GATE)
    assert v.status is Status.PASS, v
    (claim,) = v.claims
    assert claim.stages["restoration_failed"].sequence == 15  # the scheduler-side failure
    assert claim.stages["outcome"].sequence == 16  # the scheduler-side refusal
    # it is no observation-gate pass: nothing was restored
    assert gate(PYDEV / "claimed_load_failure" / "vllm_runtime_events.jsonl",
                OBSERVATION_GATE).status is Status.FAIL


@pytest.mark.parametrize("scenario", ["fallback_recompute", "generic_counter_only",
                                      "ordinary_offload_no_claim"])
def test_connector_controls_fail_the_failure_gate(scenario: str) -> None:
    v = gate(PYDEV / scenario / "vllm_runtime_events.jsonl", FAILURE_GATE)
    assert v.status is Status.FAIL
    if scenario == "fallback_recompute":
        (claim,) = v.claims
        assert Atom.RESTORATION_FAILURE_OUTCOME in broken(v)[claim.claim_id]
        assert "outcome" in claim.missing  # recompute served it: no refusal was reported
    else:
        assert not v.claims or not any(c.accepted for c in v.claims)
        assert "no accepted claim" in v.reasons[0]


def test_conformance_traces_under_hard_protection() -> None:
    """Paper 1's allocator probes: L3's refusal names the claim; L1 has no claim."""
    l3 = gate(FIXTURES / "conformance" / "L3_hard_claim_infeasibility.jsonl",
              mode=Mode.HARD_PROTECTED)
    assert l3.status is Status.PASS, l3
    l1 = gate(FIXTURES / "conformance" / "L1_native_no_claim.jsonl", mode=Mode.HARD_PROTECTED)
    assert l1.status is Status.FAIL and "no accepted claim" in l1.reasons[0]


# --- synthetic runs of the live request-path scenarios (paper 2 §6.3) -------------------

CLAIM = "claim:live"
IDENT = {"predicate_id": "predicate:live-leading-prefix",
         "materialization_predicate": "leading_prefix_at_least(1)",
         "prefix_id": "prefix:shared", "reusable_object_id": "vllm-request-prefix:x",
         "request_token_map_id": "token-map:x", "cache_identity": "vllm-live:v1"}


class Run:
    """Builds a connector-vocabulary trace, numbering event_sequence as it goes."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def add(self, event: str, claim: str | None = CLAIM, **fields: object) -> Run:
        rec = {"event": event, "event_sequence": len(self.records), "claim_id": claim,
               **(IDENT if claim else {}), **fields}
        self.records.append(rec)
        return self

    def resident(self, claim: str = CLAIM) -> Run:
        return (self.add("request_initialized", claim, resident_claim=True,
                         resident_claim_role="resident", has_kv_transfer_params=True)
                .add("offload_store_job_created", claim, resident_claim_role="resident")
                .add("resident_claim_offloaded", claim, cache_tier="host_offload_tier")
                .add("offload_request_finished_no_pending_jobs", claim,
                     resident_claim_role="resident"))

    def reuse(self, claim: str = CLAIM) -> Run:
        return (self.add("request_initialized", claim, resident_claim=True,
                         resident_claim_role="reuse")
                .add("resident_claim_restore_required", claim, resident_claim_role="reuse"))

    def restored(self, claim: str = CLAIM) -> Run:
        return (self.add("resident_claim_restored", claim, restoration_source="offload_tier",
                         restored_from_offload_tier=True, resident_claim_role="reuse")
                .add("resident_claim_reuse_after_restore", claim, predicate_satisfied=True,
                     resident_claim_role="reuse")
                .add("offload_request_finished_no_pending_jobs", claim,
                     resident_claim_role="reuse"))

    def failed(self, claim: str = CLAIM, outcome_for: str | None = None,
               blocking: list[str] | None = None) -> Run:
        named = outcome_for or claim
        return (self.add("scheduler_resident_claim_restoration_failed", claim,
                         outcome_claim_id=named, claim_scoped_outcome_type="refusal",
                         resident_claim_role="reuse")
                .add("scheduler_active_request_refused", claim, outcome_claim_id=named,
                     outcome_type="refusal", blocking_claim_ids=blocking or [named],
                     resident_claim_role="reuse")
                .add("offload_request_finished_pending_jobs", claim,
                     resident_claim_role="reuse"))

    def verdict(self, require: tuple[str, ...], claim: str | None = None) -> TraceVerdict:
        return check(enumerate(self.records, 1), Mode.OFFLOADABLE, require, claim)


def test_success_path_passes_observation_not_failure() -> None:
    run = Run().resident().reuse().restored()
    assert run.verdict(OBSERVATION_GATE).status is Status.PASS
    failure = run.verdict(FAILURE_GATE)
    assert failure.status is Status.FAIL
    assert set(failure.claims[0].missing) == set(FAILURE_GATE)


def test_success_no_event_path_is_no_evidence() -> None:
    v = check(iter(()), Mode.OFFLOADABLE, OBSERVATION_GATE)
    assert v.status is Status.FAIL and "no accepted claim" in v.reasons[0]


def test_wrong_claim_failure_is_served_and_fails_the_failure_gate() -> None:
    """The failure was injected for claim:wrong, so the real claim restores fine."""
    run = Run().resident().reuse().restored()
    assert run.verdict(OBSERVATION_GATE).status is Status.PASS
    assert run.verdict(FAILURE_GATE).status is Status.FAIL


def test_unclaimed_load_failure_is_not_claim_scoped() -> None:
    run = (Run().add("request_initialized", None, has_kv_transfer_params=False)
           .add("offload_worker_load_failed", None)
           .add("generic_request_error_counter", None))
    v = run.verdict(FAILURE_GATE)
    assert v.status is Status.FAIL and not v.claims


def test_fallback_counted_as_satisfaction_fails() -> None:
    run = Run().resident().reuse()
    run.add("scheduler_resident_claim_restoration_failed", outcome_claim_id=CLAIM,
            claim_scoped_outcome_type="fallback_recompute_without_claim_satisfaction",
            resident_claim_role="reuse")
    run.add("resident_claim_restored", restoration_source="fallback_recompute",
            restored_from_offload_tier=False, resident_claim_role="reuse")
    run.add("offload_request_finished_no_pending_jobs", resident_claim_role="reuse")
    v = run.verdict(FAILURE_GATE)
    assert v.status is Status.FAIL
    assert {Atom.RESTORE_BEFORE_REUSE, Atom.RESTORATION_FAILURE_OUTCOME} <= broken(v)[CLAIM]


def two_claims(blocking: list[str] | None = None) -> Run:
    target, control = "claim:target", "claim:control"
    return (Run().resident(control).resident(target)
            .reuse(control).restored(control)
            .reuse(target).failed(target, blocking=blocking))


def test_two_claims_failure_names_only_the_target() -> None:
    run = two_claims()
    v = run.verdict(FAILURE_GATE, claim="claim:target")
    assert v.status is Status.PASS, v
    everything = run.verdict(())
    assert everything.status is Status.PASS
    assert {c.claim_id for c in everything.claims} == {"claim:target", "claim:control"}
    control = next(c for c in everything.claims if c.claim_id == "claim:control")
    assert "outcome" not in control.stages and "restoration_failed" not in control.stages


def test_two_claims_refusal_blaming_the_control_fails_attribution() -> None:
    run = two_claims(blocking=["claim:target", "claim:control"])
    v = run.verdict(())
    assert v.status is Status.FAIL
    assert broken(v) == {"claim:control": {Atom.EXCLUSIVE_ATTRIBUTION}, "claim:target": set()}


def test_post_hoc_naming_breaks_explicit_acceptance() -> None:
    run = Run()
    run.add("resident_claim_offloaded")
    run.add("resident_claim_accepted", claim_registration="post_hoc")
    v = run.verdict(())
    assert Atom.EXPLICIT_ACCEPTANCE in broken(v)[CLAIM]


def test_changing_identity_breaks_claim_identity() -> None:
    run = Run().resident()
    run.add("resident_claim_restore_required", cache_identity="another-cache:v2")
    v = run.verdict(())
    (claim,) = v.claims
    bad = next(a for a in claim.atoms if a.atom is Atom.CLAIM_IDENTITY)
    assert bad.status is Status.FAIL and [loc.sequence for loc in bad.broken_at] == [4]


def test_missing_identity_breaks_claim_identity() -> None:
    run = Run()
    run.records.append({"event": "resident_claim_accepted", "event_sequence": 0,
                        "claim_id": CLAIM})
    assert Atom.CLAIM_IDENTITY in broken(run.verdict(()))[CLAIM]


# --- fail closed: gaps, order, malformed input --------------------------------------------

def _write(tmp_path: Path, records: Sequence[dict | str]) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in records))
    return path


def test_a_sequence_gap_is_unknown_never_pass(tmp_path: Path) -> None:
    records = Run().resident().reuse().restored().records
    del records[3]  # event_sequence 3 is missing
    v = gate(_write(tmp_path, records), OBSERVATION_GATE)
    assert v.status is Status.UNKNOWN
    assert v.gaps == ((3, 3, 4),)
    assert {a.status for a in v.claims[0].atoms} == {Status.UNKNOWN}


def test_a_failure_before_a_gap_still_fails(tmp_path: Path) -> None:
    records = (Run().add("resident_claim_restored", restoration_source="offload_tier")
               .resident().records)
    del records[2]
    v = gate(_write(tmp_path, records))
    assert v.status is Status.FAIL


def test_cli_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["trace", "check", str(OFFLOAD / "positive_bundle.jsonl"),
                              "--mode", "offloadable", "--require", "restoration_failed",
                              "--require", "outcome"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(main, ["trace", "check", str(OFFLOAD / "success_restore.jsonl"),
                               "--mode", "offloadable", "--require", "outcome"])
    assert bad.exit_code == 1 and "missing: outcome" in bad.output
    records = Run().resident().records
    gap = records[:1] + records[2:]
    unknown = runner.invoke(main, ["trace", "check", str(_write(tmp_path, gap)),
                                   "--mode", "offloadable"])
    assert unknown.exit_code == 3, unknown.output


@pytest.mark.parametrize(("lines", "line", "words"), [
    (['{"event": "resident_claim_accepted", "event_sequence": 1}', '{"event": "x", "ev'],
     2, "not a JSON object"),
    (['[1, 2]'], 1, "must be a JSON object"),
    (['{"claim_id": "c"}'], 1, "no 'event'"),
    (['{"event": "a", "event_sequence": 2}', '{"event": "b", "event_sequence": 2}'], 2,
     "out of order"),
    (['{"event": "a", "event_sequence": "2"}'], 1, "must be an integer"),
])
def test_unreadable_input_exits_2_with_the_line(tmp_path: Path, lines: list[str], line: int,
                                               words: str) -> None:
    path = _write(tmp_path, list(lines))
    result = CliRunner().invoke(main, ["trace", "check", str(path), "--mode", "offloadable"])
    assert result.exit_code != 0
    # the CLI's entry maps InputFailure to exit 2; through click's runner it is raised
    assert f"trace.jsonl:{line}: error:" in str(result.exception) + result.output
    assert words in str(result.exception) + result.output


def test_unknown_stage_and_mode_are_usage_errors() -> None:
    runner = CliRunner()
    for args in (["--mode", "offloadable", "--require", "restord"], ["--mode", "offload"]):
        result = runner.invoke(main, ["trace", "check", str(OFFLOAD / "positive_bundle.jsonl"),
                                      *args])
        assert result.exit_code != 0 and "expected one of" in str(result.exception)


def test_unrecognised_event_naming_a_claim_cannot_pass() -> None:
    run = Run().resident().reuse().restored()
    run.add("resident_claim_teleported")
    v = run.verdict(OBSERVATION_GATE)
    assert v.status is Status.UNKNOWN
    assert "resident_claim_teleported" in v.reasons[-1]


def test_json_output_is_deterministic() -> None:
    runner = CliRunner()
    args = ["trace", "check", str(OFFLOAD / "positive_bundle.jsonl"),
            str(OFFLOAD / "false_positive_wrong_claim_outcome.jsonl"), "--mode", "offloadable",
            "--format", "json"]
    first, second = runner.invoke(main, args), runner.invoke(main, args)
    assert first.output == second.output
    data = json.loads(first.output)
    assert data["schema"] == "rkvformal.trace_check/1"
    assert [t["status"] for t in data["traces"]] == ["pass", "fail"]


# --- native KV event streams, joined to claims by an adapter, through the same gate ---------

def _vllm_stream(tmp_path: Path, with_gap: bool) -> tuple[Path, Path]:
    from test_trace_adapters import TOKENS, V, removed, stored, vbatch

    batches = [vbatch(0, stored(V[:2], None, TOKENS[:8])),
               vbatch(1, stored(V[2:], V[1], TOKENS[8:])),
               vbatch(2, removed([V[3]], "CPU")),  # another tier: not a GPU loss
               vbatch(4 if with_gap else 3, removed([V[1]]))]  # a GPU loss: harm
    trace = tmp_path / "kv.jsonl"
    trace.write_text("\n".join(batches) + "\n")
    claims = tmp_path / "claims.json"
    claims.write_text(json.dumps({"schema_version": 1, "claims": [{
        "claim_id": "claim:a", "required_blocks": 4, "block_size": 4,
        "token_ids": list(TOKENS),
        "identity": {"predicate_id": "pred:a", "prefix_id": "prefix:a"}}]}))
    return trace, claims


def test_a_joined_vllm_stream_carries_best_effort(tmp_path: Path) -> None:
    trace, claims = _vllm_stream(tmp_path, with_gap=False)
    v = check_trace(str(trace), Mode.BEST_EFFORT, ("materialized",), None, "vllm-kv",
                    str(claims))
    assert v.status is Status.PASS, v
    (claim,) = v.claims
    assert claim.claim_id == "claim:a" and claim.accepted
    # the join announced materialization once all four positions were on the GPU
    assert claim.stages["materialized"].line == 2


def test_a_gap_in_the_native_stream_is_unknown(tmp_path: Path) -> None:
    trace, claims = _vllm_stream(tmp_path, with_gap=True)
    result = CliRunner().invoke(main, ["trace", "check", str(trace), "--mode", "best_effort",
                                       "--source", "vllm-kv", "--claims", str(claims)])
    assert result.exit_code == 3, result.output
    assert "1 sequence gap(s)" in result.output


def test_a_native_source_needs_a_claims_file(tmp_path: Path) -> None:
    trace, _claims = _vllm_stream(tmp_path, with_gap=False)
    result = CliRunner().invoke(main, ["trace", "check", str(trace), "--mode", "best_effort",
                                       "--source", "vllm-kv"])
    assert result.exit_code != 0 and "needs --claims" in str(result.exception)


def test_the_vocabulary_covers_every_fixture_event_and_the_docs_list_it() -> None:
    from rkvformal.trace.vocabulary import VOCABULARY

    names = set()
    for path in FIXTURES.rglob("*.jsonl"):
        names |= {json.loads(line)["event"] for line in path.read_text().splitlines()
                  if line.strip()}
    assert names and names <= set(VOCABULARY), names - set(VOCABULARY)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "TRACES.md").read_text()
    missing = [name for name in VOCABULARY if f"| `{name}` |" not in doc]
    assert not missing, f"docs/TRACES.md does not list {missing}"


def test_fixtures_are_byte_exact() -> None:
    """The copies under tests/fixtures are the public artifact's bytes (MANIFEST.tsv:
    size and sha256 per file, as shipped with them); nothing here may edit them."""
    import hashlib

    rows = (FIXTURES / "MANIFEST.tsv").read_text().splitlines()[1:]
    assert len(rows) == 22
    for row in rows:
        path, size, _lines, sha256, *_ = row.split("\t")
        data = (FIXTURES / path).read_bytes()
        assert len(data) == int(size) and hashlib.sha256(data).hexdigest() == sha256, path


def test_text_output_counts_passing_claims_when_there_are_many(tmp_path: Path) -> None:
    run = Run()
    for k in range(25):
        run.resident(f"claim:{k}").reuse(f"claim:{k}").restored(f"claim:{k}")
    run.add("resident_claim_restored", "claim:7", restoration_source="fallback_recompute")
    path = _write(tmp_path, run.records)
    result = CliRunner().invoke(main, ["trace", "check", str(path), "--mode", "offloadable"])
    assert result.exit_code == 1
    assert "claim claim:7  fail" in result.output
    assert "24 more claims pass" in result.output
    assert "claim claim:8 " not in result.output


def test_a_native_dump_that_is_not_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    trace, claims = _vllm_stream(tmp_path, with_gap=False)
    trace.write_bytes(trace.read_bytes() + b'{"seq": 4, "batch": "\xff"}\n')
    result = CliRunner().invoke(main, ["trace", "check", str(trace), "--mode", "best_effort",
                                       "--source", "vllm-kv", "--claims", str(claims)])
    assert result.exit_code != 0
    assert "kv.jsonl:5: error: not UTF-8 text" in str(result.exception)
