"""One table: every event name a recorded trace may use, and what it is in the model.

The names come from DESIGN §1 (the claim-event schema), the papers' public artifact
(the offload reference gate and the patched-vLLM connector runs in
`../shared/fixtures/real_traces/`) and the canonical block events adapters produce
(`schema.KV_*`).  docs/TRACES.md prints this table; `test_trace_vocabulary` checks it
covers every event of every fixture, so an unknown name is never silently ignored.
"""

from __future__ import annotations

from enum import Enum

from rkvformal.trace import schema


class Kind(Enum):
    """What a recorded event is, in the vocabulary of the bounded model (smt.trace)."""

    # members compare by identity, so identity hashing is consistent, and it is C-level:
    # Enum's own __hash__ is Python code, and the gate hashes a Kind per record
    __hash__ = object.__hash__

    SUBMITTED = "submitted"  # client handed the claim over (move SUBMIT)
    ACCEPTED = "accepted"  # move ACCEPT + resident_claim_accepted
    REJECTED = "rejected"  # the runtime declined the claim: it is never accepted
    MATERIALIZED = "materialized"  # move MATERIALIZE + resident_claim_materialized
    STORED = "stored"  # a claimed request's computed prefix is stored: it is materialized
    BLOCK_STORED = "block_stored"  # a block event naming the claim (claim_identity)
    BLOCK_REMOVED = "block_removed"  # one of the claim's blocks left a tier
    ALL_CLEARED = "all_cleared"  # every block of every claim left the GPU
    VICTIM = "victim"  # allocation took a block (a claim's, if it names one)
    HARMED = "harmed"
    DEMOTED = "demoted"
    EXPIRED = "expired"
    LOST_AFTER_RELEASE = "lost_after_release"
    OFFLOADED = "offloaded"
    RESTORE_REQUIRED = "restore_required"  # move REUSE: the reuse needs the host copy
    RESTORED = "restored"  # move RESTORE (from the tier) or RECOMPUTE (anything else)
    REUSED = "reuse_after_restore"  # move SERVE
    RESTORATION_FAILED = "restoration_failed"  # a failed RESTORE
    REFUSED = "refused"  # active request refused (an outcome, or a capacity decision)
    DEFERRED = "deferred"
    ADMITTED = "admitted"
    REQUEST_STARTED = "request_started"  # carries claim metadata: acceptance if resident
    REQUEST_FINISHED = "request_finished"  # the claimed request terminated
    GENERIC = "generic"  # unclaimed substrate counters: evidence for no claim
    BOOKKEEPING = "bookkeeping"  # a runtime-internal step with no meaning in the model
    GAP = "gap"  # the source says events are missing


VOCABULARY: dict[str, Kind] = {
    # DESIGN §1 claim-event schema (paper 1 §3.3)
    "resident_claim_submitted": Kind.SUBMITTED,
    "resident_claim_created": Kind.SUBMITTED,
    "resident_claim_accepted": Kind.ACCEPTED,
    "resident_claim_rejected": Kind.REJECTED,
    "resident_claim_refused": Kind.REJECTED,
    "resident_claim_materialized": Kind.MATERIALIZED,
    "resident_block_materialized": Kind.BLOCK_STORED,
    "resident_claim_harmed": Kind.HARMED,
    "resident_claim_demoted": Kind.DEMOTED,
    "resident_claim_relaxed": Kind.DEMOTED,
    "resident_claim_expired": Kind.EXPIRED,
    "resident_claim_block_lost_after_release": Kind.LOST_AFTER_RELEASE,
    "resident_claim_offloaded": Kind.OFFLOADED,
    "resident_claim_restore_required": Kind.RESTORE_REQUIRED,
    "resident_claim_restored": Kind.RESTORED,
    "resident_claim_reuse_after_restore": Kind.REUSED,
    "resident_claim_restoration_failed": Kind.RESTORATION_FAILED,
    "resident_claim_preserved": Kind.BOOKKEEPING,
    "active_request_admitted": Kind.ADMITTED,
    "active_request_deferred": Kind.DEFERRED,
    "active_request_refused": Kind.REFUSED,
    "active_live_bounded": Kind.BOOKKEEPING,
    "future_reuse_admitted": Kind.BOOKKEEPING,
    "future_reuse_denied": Kind.BOOKKEEPING,
    "allocation_victim_selected": Kind.VICTIM,
    "generic_kv_blocks_offloaded": Kind.GENERIC,
    "generic_kv_blocks_onboarded": Kind.GENERIC,
    # the patched-vLLM OffloadingConnector runs (paper 2 §6.2)
    "request_initialized": Kind.REQUEST_STARTED,
    "offload_store_job_created": Kind.STORED,
    "scheduler_resident_claim_restoration_failed": Kind.RESTORATION_FAILED,
    "scheduler_active_request_refused": Kind.REFUSED,
    "offload_request_finished_pending_jobs": Kind.REQUEST_FINISHED,
    "offload_request_finished_no_pending_jobs": Kind.REQUEST_FINISHED,
    "offload_lookup_result": Kind.BOOKKEEPING,
    "offload_worker_transfer_submitted": Kind.BOOKKEEPING,
    "offload_worker_transfer_finished": Kind.BOOKKEEPING,
    "offload_job_completed": Kind.BOOKKEEPING,
    "offload_load_job_created": Kind.BOOKKEEPING,
    "offload_worker_load_failed": Kind.BOOKKEEPING,
    "offload_load_job_failed": Kind.BOOKKEEPING,
    "generic_kv_transfer_failed_counter": Kind.GENERIC,
    "generic_request_error_counter": Kind.GENERIC,
    # canonical block events from the native adapters (trace/adapters)
    schema.KV_BLOCK_STORED: Kind.BLOCK_STORED,
    schema.KV_BLOCK_REMOVED: Kind.BLOCK_REMOVED,
    schema.KV_ALL_BLOCKS_CLEARED: Kind.ALL_CLEARED,
    schema.SEQUENCE_GAP: Kind.GAP,
}

# Why each patched-vLLM name means what the table says (docs/TRACES.md repeats these).
NOTES: dict[str, str] = {
    "request_initialized": "claim metadata (resident_claim, role resident) registered "
                           "before any lifecycle event: the connector's acceptance",
    "offload_store_job_created": "the resident request's computed prefix is stored to the "
                                 "CPU tier, so its leading blocks exist on the GPU",
    "scheduler_resident_claim_restoration_failed": "the scheduler-boundary patch's "
                                                   "claim-scoped restoration failure",
    "scheduler_active_request_refused": "the scheduler-boundary patch's claim-scoped refusal",
    "offload_request_finished_pending_jobs": "request termination (served or not)",
    "offload_request_finished_no_pending_jobs": "request termination (served or not)",
}

# Identity tuple fields (DESIGN §1): each must be single-valued over a claim's events.
IDENTITY_FIELDS = ("predicate_id", "materialization_predicate", "reusable_object_id",
                   "prefix_id", "cache_identity", "request_token_map_id")
# At least one field of each group must be present on the claim's acceptance.
IDENTITY_REQUIRED = (("predicate_id", "materialization_predicate", "predicate",
                      "useful_threshold_blocks"),
                     ("reusable_object_id", "prefix_id"))

# claim_scoped_outcome_type strings -> smt.trace.OutcomeType; anything else is no
# allowed outcome (fallback recompute, notably).
OUTCOME_TYPES = {"refusal": 0, "demotion": 1, "expiry": 2, "harm": 3}

# The lifecycle stages `trace check --require` can demand.
STAGES = ("accepted", "materialized", "offloaded", "restore_required", "restored",
          "reused_after_restore", "restoration_failed", "outcome")
