"""The papers' findings, as the solver decides them on the shipped models."""

from __future__ import annotations

from typing import Any

import pytest

from rkvformal import pipeline
from rkvformal.vocab import AtomStatus, EvidenceClass

PUBLIC = ("trtllm.rkv", "sglang_hicache.rkv", "dynamo.rkv", "lmcache.rkv", "vllm_native.rkv")


def row(proved: dict[str, pipeline.ProvedFile], file: str, name: str) -> pipeline.ProvedRow:
    for r in proved[file].rows:
        if r.result.row.name == name:
            return r
    raise AssertionError(f"{file} has no row {name}")


def status(r: pipeline.ProvedRow, atom: str) -> AtomStatus:
    return next(c.status for c in r.result.checks if c.atom.value == atom)


def moves(cex: Any) -> list[str]:
    return [s["move"]["name"] for s in cex.steps[1:]]


def test_all_seven_models_ship(proved_models) -> None:
    assert sorted(proved_models) == sorted([*PUBLIC, "vllm_hard_exclusion_patch.rkv",
                                            "vllm_offload_witness_patch.rkv"])


def test_every_row_comes_out_as_its_descriptor_expects(proved_models) -> None:
    mismatches = [(f, r.result.row.name, r.result.evidence_class.value)
                  for f, p in proved_models.items() for r in p.rows
                  if r.result.matches_expectation is not True]
    assert mismatches == []


def test_no_public_runtime_row_is_native_conformance(proved_models) -> None:
    for file in PUBLIC:
        for r in proved_models[file].rows:
            assert r.result.evidence_class is not EvidenceClass.NATIVE_CONFORMANCE


def test_every_refuted_atom_has_a_counterexample(proved_models) -> None:
    for p in proved_models.values():
        for r in p.rows:
            refuted = {c.atom.value for c in r.result.checks if c.status is AtomStatus.REFUTED}
            assert refuted == set(r.counterexamples)


def test_trtllm_priority_as_hard_protection_is_served_by_eviction_60_70_80(proved_models) -> None:
    r = row(proved_models, "trtllm.rkv", "trt_hard_protected")
    assert r.result.evidence_class is EvidenceClass.REJECTED_MAPPING
    cex = r.counterexamples["protected_exclusion"]
    assert cex.scenario_used
    assert cex.numbers["usable"] == 80 and cex.numbers["active_demand"] == 70
    assert cex.numbers["resident"]["required"] == 60
    last = cex.steps[-1]
    assert last["move"]["name"] == "admit"
    assert last["move"]["victims"] == {"resident.required": 50}
    assert last["state"]["claims"]["resident"]["required_resident"] == 10
    assert last["state"]["active"]["status"] == "running"
    assert last["events"] == []  # silently


def test_trtllm_soft_priority_needs_the_policy_adapter_and_controlled_pressure(
        proved_models) -> None:
    r = row(proved_models, "trtllm.rkv", "trt_soft_priority")
    assert r.result.evidence_class is EvidenceClass.ADAPTER_POLICY
    assert all(c.status is AtomStatus.PROVEN for c in r.result.checks)
    reason = " ".join(r.result.reasons)
    assert "primitive:priority_adapter" in reason
    assert "assume:pressure_within_duration" in reason


def test_sglang_best_effort_is_observational_and_lock_ref_ends_with_the_request(
        proved_models) -> None:
    best = row(proved_models, "sglang_hicache.rkv", "sglang_best_effort")
    assert best.result.evidence_class is EvidenceClass.ADAPTER_OBSERVATIONAL
    lock = row(proved_models, "sglang_hicache.rkv", "sglang_lock_ref_hard")
    assert lock.result.evidence_class is EvidenceClass.REJECTED_MAPPING
    steps = moves(lock.counterexamples["protected_exclusion"])
    assert "finish_hold" in steps
    assert steps.index("finish_hold") < steps.index("admit")


def test_vllm_native_offload_failure_is_not_claim_scoped(proved_models) -> None:
    r = row(proved_models, "vllm_native.rkv", "vllm_offloadable")
    assert r.result.evidence_class is EvidenceClass.APPROXIMATION_SUBSTRATE
    assert status(r, "restoration_failure_outcome") is AtomStatus.REFUTED
    steps = moves(r.counterexamples["restoration_failure_outcome"])
    assert "offload" in steps and "restore" in steps and steps[-1] == "fail_reuse"


def test_patched_vllm_rows_are_adapter_policy(proved_models) -> None:
    hard = row(proved_models, "vllm_hard_exclusion_patch.rkv", "patched_hard_protected")
    assert hard.result.evidence_class is EvidenceClass.ADAPTER_POLICY
    witness = row(proved_models, "vllm_offload_witness_patch.rkv", "witness_offloadable")
    assert witness.result.evidence_class is EvidenceClass.ADAPTER_POLICY
    assert "primitive:scheduler_boundary_outcome" in " ".join(witness.result.reasons)


def test_write_no_admit_does_not_bound_live_kv(proved_models) -> None:
    r = row(proved_models, "vllm_hard_exclusion_patch.rkv", "no_admit_as_hard")
    assert r.result.evidence_class is EvidenceClass.REJECTED_MAPPING
    last = r.counterexamples["protected_exclusion"].steps[-1]
    assert last["move"]["name"] == "admit"
    assert last["move"]["victims"] == {"resident.required": 50}


def test_dynamo_router_index_is_a_belief(proved_models) -> None:
    r = row(proved_models, "dynamo.rkv", "dynamo_routed_reuse")
    assert r.result.evidence_class is EvidenceClass.APPROXIMATION_SUBSTRATE
    cex = r.counterexamples["routed_presence"]
    steps = moves(cex)
    # routed on the index's word, the request lands after pressure took the prefix
    assert steps.index("route") < steps.index("reuse")
    assert steps.index("admit") < steps.index("reuse")
    assert cex.steps[-1]["move"]["name"] == "reuse"
    assert cex.steps[-1]["state"]["claims"][cex.violation_claim]["predicate"] is False


def test_unanchored_primitive_is_unknown_evidence(proved_models) -> None:
    r = row(proved_models, "dynamo.rkv", "dynamo_cache_control_expiring")
    assert r.result.evidence_class is EvidenceClass.UNKNOWN_EVIDENCE
    assert r.result.reasons[0].startswith("unanchored primitive: cache_control_pin")


@pytest.mark.parametrize("file", PUBLIC)
def test_public_models_have_header_comments(file: str) -> None:
    from conftest import ROOT
    with open(f"{ROOT}/models/{file}", encoding="utf-8") as handle:
        assert handle.readline().startswith("#")


def test_hard_exclusion_proofs_are_unbounded_by_induction(proved_models) -> None:
    r = row(proved_models, "vllm_hard_exclusion_patch.rkv", "patched_hard_protected")
    proofs = {c.atom.value: c.proof for c in r.result.checks}
    assert proofs["protected_exclusion"] == "unbounded"
    assert proofs["infeasibility_outcome"] == "unbounded"
    assert proofs["explicit_acceptance"] == "unbounded"  # with its strengthening lemma
    # induction is tried, not assumed: some atoms stay bounded, and say so
    assert set(proofs.values()) <= {"bounded", "unbounded"}


def test_restore_before_reuse_is_unbounded_where_its_lemma_holds(proved_models) -> None:
    """With its lemma (a claim needing a restore holds no predicate) the atom is
    1-inductive on the native offload rows.  On the witness row a window may still
    start with a restore its history never saw announced, so there it stays bounded:
    induction is tried per row and reported as it comes out, never assumed."""
    def proof(file: str, name: str) -> str | None:
        r = row(proved_models, file, name)
        return next(c.proof for c in r.result.checks if c.atom.value == "restore_before_reuse")

    assert proof("trtllm.rkv", "trt_offloadable") == "unbounded"
    assert proof("vllm_native.rkv", "vllm_offloadable") == "unbounded"
    assert proof("vllm_offload_witness_patch.rkv", "witness_offloadable") == "bounded"
