"""Paper 1's litmus suite and capacity sweep, from simulator runs: all eight pass with
the paper's observed numbers, and the sweep reproduces victims = max(0, 130 - usable)
for native and write no-admit and the refuse-below-130 boundary for hard exclusion."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from rkvformal.sim import litmus_command, simulate_command
from rkvformal.sim.abstraction import abstract, model_failures
from rkvformal.sim.litmus import (
    SWEEP_USABLE,
    litmus_l3,
    litmus_report,
    litmus_runs,
    render_text,
)

MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")


@pytest.fixture(scope="module")
def report() -> dict:
    return litmus_report()


def observed(report: dict, lid: str) -> dict:
    entry = next(e for e in report["litmus"] if e["id"] == lid)
    assert entry["status"] == "pass", entry
    return entry["observed"]


def test_all_eight_pass(report) -> None:
    assert report["schema"] == "rkvformal.litmus/1"
    assert [e["id"] for e in report["litmus"]] == ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "C1"]
    assert [e["status"] for e in report["litmus"]] == ["pass"] * 8
    assert (report["passed"], report["total"]) == (8, 8)


def test_l1_native_pool_evicts_50_with_no_claim_and_no_harm(report) -> None:
    o = observed(report, "L1")
    assert (o["resident_claim_accepted"], o["resident_claim_harmed"]) == (0, 0)
    assert o["resident_victims"] == 50 and o["evicted_positions"] == "[10..59]"
    assert o["allocation_victim_selected"] == 130 and o["resident_block_materialized"] == 60


def test_l2_no_admit_still_allocates_live_kv(report) -> None:
    o = observed(report, "L2")
    assert o["active_served"] and o["active_live_blocks"] == 70
    assert not o["future_reuse_admitted"] and o["future_reuse_denied"] == 1
    assert o["resident_victims"] == 50


def test_l3_hard_claim_refusal_numbers(report) -> None:
    o = observed(report, "L3")
    assert not o["active_served"] and o["resident_victims"] == 0
    assert o["blocking_claim_ids"] == ["claim:resident"]
    assert (o["protected_resident_blocks"], o["active_live_blocks_required"],
            o["resident_plus_active_blocks"], o["usable_blocks"]) == (60, 70, 130, 80)
    assert o["capacity_shortfall_blocks"] == 50 and o["free_blocks_before_allocate"] == 20
    assert o["feasibility"] == "infeasible_preserve_resident_and_active"
    assert o["arbiter_action"] == "capacity_required"
    assert o["allocator_error"].startswith("Cannot get 70 free blocks")
    assert o["allocation_victim_selected"] == 60  # the resident's own allocation only


@pytest.mark.parametrize(("lid", "event"), [("L4", "resident_claim_demoted"),
                                            ("L5", "resident_claim_expired")])
def test_release_precedes_loss(report, lid: str, event: str) -> None:
    o = observed(report, lid)
    assert o[event] == 1 and o["resident_claim_harmed"] == 0
    assert o["resident_claim_block_lost_after_release"] == 50 and o["resident_victims"] == 50
    assert o["evicted_positions"] == "[10..59]"


def test_l6_survival_is_not_materialization(report) -> None:
    o = observed(report, "L6")
    assert (o["surviving_blocks"], o["leading_blocks"], o["required_blocks"]) == (59, 0, 60)
    assert o["surviving_positions"] == "[1..59]" and not o["materialized"]


def test_l7_trace_reconstructs_the_refusal(report) -> None:
    o = observed(report, "L7")
    assert (o["resident_claim_accepted"], o["resident_claim_materialized"],
            o["active_request_refused"]) == (1, 1, 1)
    assert o["reconstructed_active_action"] == "active_refused"


def test_c1_is_decided_by_the_smt_model(report) -> None:
    o = observed(report, "C1")
    assert o["hard_protected_lowered_to_soft_priority"] == "unsound"
    assert o["soft_priority_conformance_class"] == "approximate"
    assert "protected_exclusion" in o["hard_protected_refuted"]
    assert "priority_order" in o["soft_priority_refuted"]
    done, total = o["counterexamples_replayed"].split("/")
    assert done == total and int(total) > 0


def sweep_rows(report: dict, policy: str) -> list[dict]:
    rows = [r for r in report["sweep"] if r["policy"] == policy]
    assert [r["usable"] for r in rows] == list(SWEEP_USABLE)
    return rows


@pytest.mark.parametrize("policy", ["native", "write_no_admit"])
def test_sweep_eviction_policies_serve_by_evicting(report, policy: str) -> None:
    rows = sweep_rows(report, policy)
    assert [r["resident_victims"] for r in rows] == [50, 40, 30, 20, 10, 0, 0]
    assert all(r["active_served"] for r in rows)
    assert [r["resident_preserved"] for r in rows] == [False] * 5 + [True] * 2
    assert all(r["future_reuse_admitted"] is (policy == "native") for r in rows)


@pytest.mark.parametrize(("policy", "refused"), [
    ("hard_exclusion", "capacity_required"), ("resident_reserve", "capacity_required"),
    ("active_refusal", "refuse_active"), ("active_deferral", "defer_active")])
def test_sweep_hard_policies_refuse_below_130(report, policy: str, refused: str) -> None:
    for r in sweep_rows(report, policy):
        assert r["resident_victims"] == 0 and r["resident_preserved"]
        if r["usable"] < 130:
            assert not r["active_served"] and r["outcome"] == refused
            assert r["blocking_claim_ids"] == ["claim:resident"]
            assert not r["future_reuse_admitted"]
        else:
            assert r["active_served"] and r["outcome"] == "serve_active_preserve_resident"
            assert r["future_reuse_admitted"]


def test_sweep_outcome_labels(report) -> None:
    native = sweep_rows(report, "native")
    assert native[0]["outcome"] == "serve_active_evict_resident"
    assert native[-1]["outcome"] == "serve_active_preserve_resident"
    no_admit = sweep_rows(report, "write_no_admit")
    assert no_admit[0]["outcome"] == "serve_active_no_admit_evict_resident"
    assert no_admit[-1]["outcome"] == "serve_active_no_admit"


def test_sweep_fields(report) -> None:
    keys = {"policy", "usable", "active_served", "resident_preserved", "resident_victims",
            "future_reuse_admitted", "outcome"}
    assert all(keys <= set(r) for r in report["sweep"])
    assert len(report["sweep"]) == 6 * len(SWEEP_USABLE)
    json.dumps(report)


def test_litmus_runs_are_admitted_by_the_smt_model() -> None:
    """Every litmus and sweep run, abstracted, is a legal trace of the model of its
    primitives (so the numbers above are numbers the model also allows)."""
    runs = litmus_runs()
    assert len(runs) == 5 + 6 * len(SWEEP_USABLE)
    for name, sim in runs.items():
        assert model_failures(sim.primitives, abstract(sim.history)) == [], name


def test_render_text(report) -> None:
    text = render_text(report)
    assert "8/8 pass" in text and "refuse/0" in text and "serve/50" in text


def test_litmus_command_exit_code_and_json() -> None:
    runner = CliRunner()
    result = runner.invoke(litmus_command, ["--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["schema"] == "rkvformal.litmus/1" and data["passed"] == 8
    text = runner.invoke(litmus_command, [])
    assert text.exit_code == 0 and "L3" in text.output


def test_simulate_command_writes_jsonl(tmp_path) -> None:
    out = tmp_path / "events.jsonl"
    runner = CliRunner()
    result = runner.invoke(simulate_command, [os.path.join(MODELS, "vllm_hard_exclusion_patch.rkv"),
                                              "--lowering", "patched_hard_protected",
                                              "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    names = [e["event"] for e in lines]
    assert "active_request_refused" in names and "resident_claim_accepted" in names
    refused = next(e for e in lines if e["event"] == "active_request_refused")
    assert refused["blocking_claim_ids"] == ["claim:resident"]
    assert [e["event_sequence"] for e in lines] == sorted(e["event_sequence"] for e in lines)
    assert "patched_hard_protected" in result.output  # the summary (stderr, mixed here)


def test_simulate_command_rejects_an_unknown_row() -> None:
    result = CliRunner().invoke(simulate_command, [os.path.join(MODELS, "dynamo.rkv"),
                                                   "--lowering", "nope"])
    assert result.exit_code == 2 and "no row named" in result.output


def test_l3_is_deterministic() -> None:
    assert litmus_l3().observed == litmus_l3().observed
