"""Paper 1's litmus suite (L1-L7, C1) and capacity sweep, run on the block simulator.

Every litmus is a fixed move sequence with fixed numbers (60 resident blocks, a
70-block active request, 80 usable blocks unless said otherwise), and its pass rule is
paper 1's (§4.2), judged from the run's JSONL events and block-level state.  C1 is
decided by the SMT model through `rkvformal.pipeline`: lowering hard_protected onto a
primitive that only orders eviction must be refuted, and soft priority on its own must
come out as an approximation substrate; its counterexample is then replayed here.

The sweep runs the six policies of paper 1's capacity configuration over usable
80..150: native and write no-admit serve the active request by evicting
max(0, 130 - usable) resident blocks; the hard policies refuse (or defer) below 130
with the claim named as the blocker and serve from 130 with no victims.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from rkvformal import pipeline
from rkvformal.semantics.domain import Primitive
from rkvformal.semantics.validate import validate
from rkvformal.sim.abstraction import replay
from rkvformal.sim.pool import (
    BlockPool,
    MaterializationPredicate,
    hash_chain,
    object_tokens,
)
from rkvformal.sim.runtime import (
    ClaimNumbers,
    IllegalMove,
    LivePlan,
    Numbers,
    Origin,
    Simulator,
    expire_due,
    resolve_active,
)
from rkvformal.smt.trace import Active, Move
from rkvformal.syntax.parser import parse_text
from rkvformal.vocab import EvidenceClass, PredicateKind

SCHEMA = "rkvformal.litmus/1"
RESIDENT, ACTIVE, USABLE = 60, 70, 80
SWEEP_USABLE = (80, 90, 100, 110, 120, 130, 150)
PAPER = "https://arxiv.org/abs/2605.24259"

# The primitives the litmus runs use, as a descriptor (validated like any other).
_DESCRIPTOR = f'''runtime litmus {{
  name "paper 1 litmus runtime" repo "vllm-project/vllm" version "b1388b1f"
}}
primitive hard_exclusion {{
  kind hard_exclusion
  provenance patch
  param on_conflict = refuse
  anchor "{PAPER}"
}}
primitive hard_exclusion_demote {{
  kind hard_exclusion
  provenance patch
  param on_conflict = demote
  anchor "{PAPER}"
}}
primitive hard_exclusion_defer {{
  kind hard_exclusion
  provenance patch
  param on_conflict = defer
  anchor "{PAPER}"
}}
primitive claim_ttl {{
  kind priority_duration
  provenance patch
  param clock = from_acceptance
  param on_elapse = expire_with_event
  anchor "{PAPER}"
}}
primitive write_no_admit {{
  kind write_no_admit
  provenance patch
  anchor "{PAPER}"
}}
primitive soft_priority {{
  kind eviction_priority
  provenance native
  anchor "https://nvidia.github.io/TensorRT-LLM/latest/features/kvcache.html"
}}
lowering hard_protected_lowered_to_soft_priority mode hard_protected via soft_priority
  expect rejected_mapping
substrate soft_priority_alone mode soft_priority via soft_priority expect approximation_substrate
'''


def _descriptor() -> Any:
    return validate(parse_text(_DESCRIPTOR, "<litmus>"))


def primitives(*names: str) -> tuple[Primitive, ...]:
    by_name = {p.name: p for p in _descriptor().primitives}
    return tuple(by_name[n] for n in names)


@dataclass(frozen=True)
class LitmusResult:
    id: str
    title: str
    passed: bool
    observed: dict[str, Any]
    rule: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": "pass" if self.passed else "fail",
                "rule": self.rule, "observed": self.observed}


@dataclass(frozen=True)
class SweepRow:
    policy: str
    usable: int
    active_served: bool
    resident_preserved: bool
    resident_victims: int
    future_reuse_admitted: bool
    outcome: str
    blocking_claim_ids: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "usable": self.usable,
                "active_served": self.active_served,
                "resident_preserved": self.resident_preserved,
                "resident_victims": self.resident_victims,
                "future_reuse_admitted": self.future_reuse_admitted,
                "outcome": self.outcome, "blocking_claim_ids": list(self.blocking_claim_ids)}


# --- shared run shapes --------------------------------------------------------------------

def _counts(sim: Simulator) -> Counter[str]:
    return Counter(e.name for e in sim.events)


def _resident_victims(sim: Simulator) -> int:
    """Resident blocks (the claim's or an unclaimed resident prefix) taken as victims."""
    return sum(1 for e in sim.events if e.name == "allocation_victim_selected"
               and e.fields.get("victim_reason") == "cached_prefix_reuse")


def _evicted_positions(sim: Simulator) -> list[int]:
    return sorted(e.fields["logical_block_position"] for e in sim.events
                  if e.name == "allocation_victim_selected"
                  and e.fields.get("victim_reason") == "cached_prefix_reuse"
                  and e.fields.get("logical_block_position") is not None)


def _claimed_run(prims: tuple[Primitive, ...], usable: int = USABLE, *, duration: int = 1,
                 policy: str = "litmus") -> Simulator:
    """A 60-block resident claim, accepted and materialized by its own request, which
    then finishes (its blocks are freed tail-first); then the 70-block request arrives."""
    sim = Simulator(prims, Numbers(usable, LivePlan.single(ACTIVE),
                                   (ClaimNumbers(RESIDENT, 0, 0, duration),)),
                    claim_names=["resident"], policy=policy)
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE, Move.FINISH_HOLD):
        sim.step(move, 0)
    sim.step(Move.ARRIVE)
    return sim


def _unclaimed_run(prims: tuple[Primitive, ...], policy: str) -> Simulator:
    """Paper 1's probe without a claim: a 60-block resident prefix computed and freed
    tail-first (the pool's initial cached blocks), then the 70-block request."""
    sim = Simulator(prims, Numbers(USABLE, LivePlan.single(ACTIVE), (), cached=RESIDENT),
                    policy=policy)
    sim.step(Move.ARRIVE)
    return sim


# --- the litmus tests ---------------------------------------------------------------------

def run_l1() -> Simulator:
    sim = _unclaimed_run((), "native")
    sim.step(Move.ADMIT)
    return sim


def litmus_l1() -> LitmusResult:
    sim = run_l1()
    n = _counts(sim)
    victims = _resident_victims(sim)
    ok = n["resident_claim_accepted"] == 0 and n["resident_claim_harmed"] == 0 and victims > 0
    return LitmusResult("L1", "No accepted claim, no claim harm", ok, {
        "resident_claim_accepted": n["resident_claim_accepted"],
        "resident_claim_harmed": n["resident_claim_harmed"],
        "resident_victims": victims,
        "evicted_positions": _span(_evicted_positions(sim)),
        "allocation_victim_selected": n["allocation_victim_selected"],
        "resident_block_materialized": n["resident_block_materialized"],
        "active_served": sim.act is Active.RUNNING,
    }, "accepted = 0 and harmed = 0 and cached resident victims > 0")


def run_l2() -> tuple[Simulator, bool, int]:
    """The run, whether the active request was served, and its live blocks."""
    sim = _unclaimed_run(primitives("write_no_admit"), "write_no_admit")
    sim.step(Move.ADMIT)
    served = sim.act is Active.RUNNING
    live = len(sim.active_blocks)
    sim.step(Move.FINISH_ACTIVE)
    return sim, served, live


def litmus_l2() -> LitmusResult:
    sim, served, live = run_l2()
    n = _counts(sim)
    victims = _resident_victims(sim)
    ok = (served and sim.future_reuse_admitted is False and victims > 0
          and n["future_reuse_denied"] == 1)
    return LitmusResult("L2", "Write no-admit is separate from active-live allocation", ok, {
        "active_served": served, "active_live_blocks": live,
        "future_reuse_admitted": bool(sim.future_reuse_admitted),
        "future_reuse_denied": n["future_reuse_denied"], "resident_victims": victims,
    }, "active served and future reuse not admitted and victims > 0 and exactly one "
       "future_reuse_denied")


def run_l3() -> tuple[Simulator, str]:
    """The run and the allocator's error for the 70-block request."""
    sim = _claimed_run(primitives("hard_exclusion"), policy="hard_resident_exclude")
    try:
        sim.step(Move.ADMIT)
        error = ""
    except IllegalMove as e:  # the allocator cannot find 70 blocks outside the claim
        error = e.reason
    resolve_active(sim)
    return sim, error


def litmus_l3() -> LitmusResult:
    sim, error = run_l3()
    n = _counts(sim)
    refusals = [e for e in sim.events if e.name == "active_request_refused"]
    refusal = refusals[0].fields if refusals else {}
    victims = _resident_victims(sim)
    ok = (sim.act is not Active.RUNNING and victims == 0
          and n["resident_claim_accepted"] == 1 and n["resident_claim_materialized"] == 1
          and bool(refusal.get("blocking_claim_ids"))
          and refusal.get("feasibility") == "infeasible_preserve_resident_and_active")
    return LitmusResult("L3", "Accepted hard claim makes infeasibility explicit", ok, {
        "active_served": sim.act is Active.RUNNING, "resident_victims": victims,
        "resident_claim_accepted": n["resident_claim_accepted"],
        "resident_claim_materialized": n["resident_claim_materialized"],
        "blocking_claim_ids": refusal.get("blocking_claim_ids"),
        "protected_resident_blocks": refusal.get("protected_resident_blocks"),
        "active_live_blocks_required": refusal.get("active_live_blocks_required"),
        "resident_plus_active_blocks": refusal.get("resident_plus_active_blocks"),
        "usable_blocks": sim.numbers.usable,
        "capacity_shortfall_blocks": refusal.get("capacity_shortfall_blocks"),
        "free_blocks_before_allocate": refusal.get("free_blocks_before_allocate"),
        "feasibility": refusal.get("feasibility"),
        "arbiter_action": refusal.get("arbiter_action"),
        "allocator_error": error,
        "allocation_victim_selected": n["allocation_victim_selected"],
    }, "active not served, 0 victims, accepted = 1, materialized = 1, a refusal naming "
       "blocking_claim_ids with feasibility infeasible_preserve_resident_and_active")


def _release_run(lid: str, prims: tuple[Primitive, ...],
                 before: Callable[[Simulator], None]) -> Simulator:
    sim = _claimed_run(prims, policy=lid)
    before(sim)
    resolve_active(sim)
    return sim


def run_l4() -> Simulator:
    return _release_run("L4", primitives("hard_exclusion_demote"), lambda sim: None)


def _tick_and_expire(sim: Simulator) -> None:
    sim.step(Move.TICK)  # one step of the claim's duration passes
    expire_due(sim)


def run_l5() -> Simulator:
    return _release_run("L5", primitives("hard_exclusion", "claim_ttl"), _tick_and_expire)


def _release_litmus(lid: str, title: str, event: str, sim: Simulator) -> LitmusResult:
    n = _counts(sim)
    victims = _resident_victims(sim)
    lost = n["resident_claim_block_lost_after_release"]
    ok = n[event] == 1 and n["resident_claim_harmed"] == 0 and lost > 0 and victims > 0
    return LitmusResult(lid, title, ok, {
        event: n[event], "resident_claim_harmed": n["resident_claim_harmed"],
        "resident_claim_block_lost_after_release": lost, "resident_victims": victims,
        "evicted_positions": _span(_evicted_positions(sim)),
        "active_served": sim.act is Active.RUNNING,
    }, f"exactly one {event}, harmed = 0, post-release losses > 0, victims > 0")


def litmus_l4() -> LitmusResult:
    return _release_litmus("L4", "Demotion precedes later block loss", "resident_claim_demoted",
                           run_l4())


def litmus_l5() -> LitmusResult:
    return _release_litmus("L5", "Expiry precedes later block loss", "resident_claim_expired",
                           run_l5())


def litmus_l6() -> LitmusResult:
    """Block survival is not materialization: keep positions 1..59 of a 60-block object
    in a real pool (block 0 evicted) and judge the predicate over what survives."""
    pool = BlockPool(USABLE)
    hashes = hash_chain(object_tokens("kv-object:l6", RESIDENT), (), "tenant:l6")
    blocks = pool.compute(hashes)
    pool.release(list(reversed(blocks)))
    pool.take(blocks[0])  # an allocation takes the block at logical position 0
    surviving = pool.resident(hashes)
    predicate = MaterializationPredicate(PredicateKind.LEADING_PREFIX_AT_LEAST, RESIDENT)
    result = predicate.evaluate(surviving)
    ok = result.surviving_blocks > 0 and not result.materialized
    return LitmusResult("L6", "Block survival can fail useful-prefix materialization", ok, {
        "surviving_blocks": result.surviving_blocks,
        "surviving_positions": _span(surviving),
        "leading_blocks": result.leading_blocks,
        "required_blocks": result.required_blocks,
        "materialized": result.materialized,
    }, "surviving positions exist but the predicate is false")


def litmus_l7(l3: LitmusResult | None = None) -> LitmusResult:
    l3 = l3 or litmus_l3()
    sim, _error = run_l3()
    n = _counts(sim)
    trace = {e: n[e] for e in ("resident_claim_accepted", "resident_claim_materialized",
                               "active_request_refused")}
    outcome = ("active_refused" if n["active_request_refused"] else "active_deferred"
               if n["active_request_deferred"] else "active_served"
               if sim.act in (Active.RUNNING, Active.FINISHED) else "unknown")
    ok = l3.passed and all(v == 1 for v in trace.values())
    return LitmusResult("L7", "Event trace reconstructs the active/resident outcome", ok, {
        **trace, "reconstructed_active_action": outcome, "l3_passed": l3.passed,
    }, "L3 passes and its trace has exactly one accepted, one materialized and one "
       "refused event")


@cache
def _c1_proofs() -> pipeline.ProvedFile:
    """The C1 rows proved once per process (the descriptor is a constant)."""
    return pipeline.prove_descriptor(_descriptor(), jobs=1)


def litmus_c1() -> LitmusResult:
    """Decided by the SMT model, not hard-coded: a primitive that only orders eviction
    cannot carry hard_protected, and soft priority alone only approximates its mode."""
    rows = {r.result.row.name: r for r in _c1_proofs().rows}
    hard = rows["hard_protected_lowered_to_soft_priority"]
    soft = rows["soft_priority_alone"]
    hard_ok = hard.result.evidence_class is EvidenceClass.REJECTED_MAPPING
    soft_ok = soft.result.evidence_class is EvidenceClass.APPROXIMATION_SUBSTRATE
    replays = {atom: replay(hard.result.row, cex) for atom, cex in hard.counterexamples.items()}
    ok = hard_ok and soft_ok and all(replays.values())
    return LitmusResult("C1", "Soft priority is not a sound hard-claim lowering", ok, {
        "hard_protected_lowered_to_soft_priority": "unsound" if hard_ok else
        hard.result.evidence_class.value,
        "soft_priority_conformance_class": "approximate" if soft_ok else
        soft.result.evidence_class.value,
        "hard_protected_class": hard.result.evidence_class.value,
        "soft_priority_class": soft.result.evidence_class.value,
        "hard_protected_refuted": sorted(hard.counterexamples),
        "soft_priority_refuted": sorted(soft.counterexamples),
        "counterexamples_replayed": f"{sum(replays.values())}/{len(replays)}",
    }, "hard_protected on soft priority is refuted (rejected_mapping), soft priority alone "
       "is approximation_substrate, and the refutations replay in the simulator")


def litmus_suite() -> list[LitmusResult]:
    l3 = litmus_l3()
    return [litmus_l1(), litmus_l2(), l3, litmus_l4(), litmus_l5(), litmus_l6(),
            litmus_l7(l3), litmus_c1()]


def _span(positions: list[int]) -> str:
    """[10..59] for a contiguous run, else the list."""
    if not positions:
        return "[]"
    lo, hi = min(positions), max(positions)
    if sorted(positions) == list(range(lo, hi + 1)):
        return f"[{lo}..{hi}]"
    return str(sorted(positions))


# --- the capacity sweep -------------------------------------------------------------------

@dataclass(frozen=True)
class SweepPolicy:
    name: str
    primitives: tuple[str, ...]
    refused_outcome: str  # the arbiter action when the request is not served


SWEEP_POLICIES = (
    SweepPolicy("native", (), ""),
    SweepPolicy("write_no_admit", ("write_no_admit",), ""),
    SweepPolicy("hard_exclusion", ("hard_exclusion",), "capacity_required"),
    # the footprint of an accepted claim is excluded from what allocation can see,
    # which is hard exclusion's free-block count: a reserve in all but name
    SweepPolicy("resident_reserve", ("hard_exclusion",), "capacity_required"),
    SweepPolicy("active_deferral", ("hard_exclusion_defer",), "defer_active"),
    SweepPolicy("active_refusal", ("hard_exclusion",), "refuse_active"),
)


def sweep_run(policy: SweepPolicy, usable: int) -> tuple[Simulator, bool]:
    """The sweep point's run and whether the active request was served."""
    sim = _claimed_run(primitives(*policy.primitives), usable, policy=policy.name)
    resolve_active(sim)
    served = sim.act is Active.RUNNING
    if served:
        sim.step(Move.FINISH_ACTIVE)
    return sim, served


def sweep_row(policy: SweepPolicy, usable: int) -> SweepRow:
    sim, served = sweep_run(policy, usable)
    victims = sum(r.victims.of(0) for r in sim.history.steps)
    decisions = [e for e in sim.events if e.origin is Origin.RUNTIME
                 and e.name in ("active_request_refused", "active_request_deferred")]
    blocking = tuple(decisions[-1].fields.get("blocking_claim_ids", ())) if decisions else ()
    no_admit = "write_no_admit" in policy.primitives
    if served:
        outcome = ("serve_active_no_admit" if no_admit else "serve_active") + (
            "_evict_resident" if victims else "_preserve_resident" if not no_admit else "")
    else:
        outcome = policy.refused_outcome
    return SweepRow(policy.name, usable, served, sim.pred(0), victims,
                    bool(sim.future_reuse_admitted), outcome, blocking)


def sweep() -> list[SweepRow]:
    return [sweep_row(p, u) for p in SWEEP_POLICIES for u in SWEEP_USABLE]


def litmus_runs() -> dict[str, Simulator]:
    """Every simulator run behind the suite and the sweep, by name (for cross-checks)."""
    runs = {"L1": run_l1(), "L2": run_l2()[0], "L3": run_l3()[0], "L4": run_l4(),
            "L5": run_l5()}
    for p in SWEEP_POLICIES:
        for u in SWEEP_USABLE:
            runs[f"sweep:{p.name}:{u}"] = sweep_run(p, u)[0]
    return runs


# --- report -------------------------------------------------------------------------------

def litmus_report() -> dict[str, Any]:
    suite = litmus_suite()
    rows = sweep()
    return {
        "schema": SCHEMA,
        "numbers": {"resident_blocks": RESIDENT, "active_blocks": ACTIVE,
                    "usable_blocks": USABLE, "block_size": 16},
        "passed": sum(r.passed for r in suite),
        "total": len(suite),
        "litmus": [r.to_json() for r in suite],
        "sweep": [r.to_json() for r in rows],
    }


def all_pass(report: dict[str, Any]) -> bool:
    return all(entry["status"] == "pass" for entry in report["litmus"])


def render_text(report: dict[str, Any]) -> str:
    lines = [f"litmus suite ({report['passed']}/{report['total']} pass; resident "
             f"{RESIDENT}, active {ACTIVE}, usable {USABLE})"]
    for entry in report["litmus"]:
        obs = ", ".join(f"{k}={v}" for k, v in entry["observed"].items())
        lines.append(f"  {entry['id']:<3} {entry['status']:<4} {entry['title']}")
        lines.append(f"      rule: {entry['rule']}")
        lines.append(f"      observed: {obs}")
    lines.append("")
    lines.append("capacity sweep (resident claim 60 blocks, active request 70 blocks)")
    header = f"  {'policy':<18}" + "".join(f"{u:>10}" for u in SWEEP_USABLE)
    lines.append(header)
    by_policy: dict[str, list[dict[str, Any]]] = {}
    for row in report["sweep"]:
        by_policy.setdefault(row["policy"], []).append(row)
    for policy, rows in by_policy.items():
        cells = []
        for row in rows:
            mark = "serve" if row["active_served"] else (
                "defer" if row["outcome"] == "defer_active" else "refuse")
            cells.append(f"{mark}/{row['resident_victims']}")
        lines.append(f"  {policy:<18}" + "".join(f"{c:>10}" for c in cells))
    lines.append("  (cell: active outcome / resident victims)")
    return "\n".join(lines) + "\n"
