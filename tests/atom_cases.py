"""Tiny descriptors, one pair per atom: primitives that prove it and primitives that
refute it.  Shared by the atom tests and the concrete-evaluator agreement tests."""

from __future__ import annotations

from dataclasses import dataclass

from rkvformal.semantics.domain import Row
from rkvformal.semantics.validate import validate
from rkvformal.syntax.parser import parse_text
from rkvformal.vocab import Atom

HEADER = 'runtime t { name "T" repo "org/t" version "v1" }\n'


def prim(name: str, kind: str, provenance: str = "native", **params: object) -> str:
    lines = [f"primitive {name} {{", f"  kind {kind}", f"  provenance {provenance}"]
    for key, value in params.items():
        lines.append(f"  param {key} = {str(value).lower() if isinstance(value, bool) else value}")
    lines.append('  anchor "src/runtime.py:1"')
    lines.append("}")
    return "\n".join(lines) + "\n"


HARD = prim("hard", "hard_exclusion", "patch")
EVENTS = prim("events", "block_events", delivery="replayable")
JOIN = prim("join", "claim_telemetry", "observational")
OFFLOAD_FAIL = prim("offload", "tier_offload", on_restore_failure="fail")
OFFLOAD_RECOMPUTE = prim("offload", "tier_offload", on_restore_failure="recompute")
OUTCOME = prim("outcome", "claim_failure_outcome", "patch")
PRIORITY = prim("prio", "eviction_priority")
ROUTER = prim("router", "kv_aware_routing")
LOCK = prim("lock", "lock_ref")


@dataclass(frozen=True)
class AtomCase:
    atom: Atom
    holds: bool
    text: str  # primitives
    via: str
    qualifier: str | None = None
    mode: str = "best_effort"

    def row(self) -> Row:
        source = HEADER + self.text + f"lowering r mode {self.mode} via {self.via}\n"
        return validate(parse_text(source, f"{self.atom.value}.rkv")).rows[0]


A = Atom
CASES: list[AtomCase] = [
    AtomCase(A.EXPLICIT_ACCEPTANCE, True, HARD, "hard"),
    AtomCase(A.EXPLICIT_ACCEPTANCE, False, LOCK, "lock"),
    AtomCase(A.EXPLICIT_ACCEPTANCE, False,
             EVENTS + prim("join", "claim_telemetry", "observational", registration="post_hoc"),
             "events, join"),
    AtomCase(A.CLAIM_IDENTITY, True, EVENTS + JOIN, "events, join"),
    AtomCase(A.CLAIM_IDENTITY, False, EVENTS, "events"),
    AtomCase(A.CLAIM_IDENTITY, False,
             EVENTS + OFFLOAD_FAIL + prim("join", "claim_telemetry", "observational",
                                          identity="per_tier"),
             "events, offload, join"),
    AtomCase(A.MATERIALIZATION_PREDICATE, True, EVENTS + JOIN, "events, join"),
    AtomCase(A.MATERIALIZATION_PREDICATE, False,
             EVENTS + prim("join", "claim_telemetry", "observational", materialization="count"),
             "events, join"),
    AtomCase(A.ORDERED_LIFECYCLE, True, HARD, "hard"),
    AtomCase(A.ORDERED_LIFECYCLE, False,
             EVENTS + OFFLOAD_FAIL + prim("join", "claim_telemetry", "observational",
                                          restore_report="after_reuse"),
             "events, offload, join"),
    AtomCase(A.NO_SILENT_LOSS, True, EVENTS + JOIN, "events, join"),
    AtomCase(A.NO_SILENT_LOSS, False, EVENTS, "events"),
    AtomCase(A.NO_SILENT_LOSS, False, prim("events", "block_events", delivery="lossy") + JOIN,
             "events, join"),
    AtomCase(A.PROTECTED_EXCLUSION, True, HARD, "hard"),
    AtomCase(A.PROTECTED_EXCLUSION, False, PRIORITY, "prio"),
    AtomCase(A.PROTECTED_EXCLUSION, False, LOCK, "lock"),
    AtomCase(A.INFEASIBILITY_OUTCOME, True, HARD, "hard"),
    AtomCase(A.INFEASIBILITY_OUTCOME, False,
             prim("hard", "hard_exclusion", "patch", blocking_ids="none"), "hard"),
    AtomCase(A.RELEASE_BEFORE_LOSS, True,
             prim("hard", "hard_exclusion", "patch", on_conflict="demote"), "hard",
             qualifier="demotion"),
    AtomCase(A.RELEASE_BEFORE_LOSS, False,
             prim("hard", "hard_exclusion", "patch", on_conflict="demote",
                  demote_event="after_loss"), "hard", qualifier="demotion"),
    AtomCase(A.RELEASE_BEFORE_LOSS, False,
             PRIORITY + prim("dur", "priority_duration"), "prio, dur",
             qualifier="expiry"),
    AtomCase(A.RESTORE_BEFORE_REUSE, True, OFFLOAD_FAIL, "offload"),
    AtomCase(A.RESTORE_BEFORE_REUSE, False, OFFLOAD_RECOMPUTE, "offload"),
    AtomCase(A.RESTORATION_FAILURE_OUTCOME, True, EVENTS + OFFLOAD_FAIL + JOIN + OUTCOME,
             "events, offload, join, outcome"),
    AtomCase(A.RESTORATION_FAILURE_OUTCOME, False, OFFLOAD_FAIL, "offload"),
    AtomCase(A.PRIORITY_ORDER, True, PRIORITY + prim("policy", "priority_policy", "policy"),
             "prio, policy"),
    AtomCase(A.PRIORITY_ORDER, False, PRIORITY, "prio"),
    AtomCase(A.EXCLUSIVE_ATTRIBUTION, True, HARD, "hard"),
    AtomCase(A.EXCLUSIVE_ATTRIBUTION, False,
             prim("hard", "hard_exclusion", "patch", blocking_ids="all_claims"), "hard"),
    AtomCase(A.EXCLUSIVE_ATTRIBUTION, False,
             EVENTS + OFFLOAD_FAIL + JOIN + prim("outcome", "claim_failure_outcome", "patch",
                                                 attribution="other"),
             "events, offload, join, outcome"),
    AtomCase(A.ROUTED_PRESENCE, True, EVENTS + ROUTER + OUTCOME, "events, router, outcome"),
    AtomCase(A.ROUTED_PRESENCE, False, EVENTS + ROUTER, "events, router"),
]


def case_id(case: AtomCase) -> str:
    via = case.via.replace(", ", "+")
    return f"{case.atom.value}-{'holds' if case.holds else 'breaks'}-{via}"

# A failure-outcome patch over a native recompute fallback: the patch decides, so the
# request ends with the claim-scoped refusal instead of being stuck between the two.
CASES.append(AtomCase(A.RESTORATION_FAILURE_OUTCOME, True,
                      EVENTS + OFFLOAD_RECOMPUTE + JOIN + OUTCOME,
                      "events, offload, join, outcome"))
