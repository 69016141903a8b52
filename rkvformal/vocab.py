"""Closed vocabularies shared by every layer.

Each enum is the single list of legal spellings for one word of the language.  The
parser accepts any identifier; validation checks it against these enums so that a
misspelling gets a "did you mean" hint instead of a grammar error.
"""

from __future__ import annotations

from enum import Enum


class _Vocab(str, Enum):
    """A string enum whose value is the spelling used in descriptors and JSON."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def spellings(cls) -> tuple[str, ...]:
        return tuple(member.value for member in cls)


class Mode(_Vocab):
    """Protection strength a ResidentClaim asks for (DESIGN §1)."""

    BEST_EFFORT = "best_effort"
    SOFT_PRIORITY = "soft_priority"
    HARD_PROTECTED = "hard_protected"
    DEMOTABLE = "demotable"
    EXPIRING = "expiring"
    OFFLOADABLE = "offloadable"
    ROUTED_REUSE = "routed_reuse"


class EvidenceClass(_Vocab):
    """How well a row's primitives carry its mode (DESIGN §4), best first."""

    NATIVE_CONFORMANCE = "native_conformance"
    ADAPTER_OBSERVATIONAL = "adapter_observational"
    ADAPTER_POLICY = "adapter_policy"
    APPROXIMATION_SUBSTRATE = "approximation_substrate"
    REJECTED_MAPPING = "rejected_mapping"
    UNKNOWN_EVIDENCE = "unknown_evidence"


class Provenance(_Vocab):
    """Where a primitive comes from; decides the proof stage it joins (DESIGN §3-§4)."""

    NATIVE = "native"
    OBSERVATIONAL = "observational"
    POLICY = "policy"
    PATCH = "patch"


class PrimitiveKind(_Vocab):
    """The closed catalogue of runtime features with a formal semantics (DESIGN §3)."""

    EVICTION_PRIORITY = "eviction_priority"
    PRIORITY_DURATION = "priority_duration"
    LOCK_REF = "lock_ref"
    ACTIVE_NO_EVICT = "active_no_evict"
    WRITE_NO_ADMIT = "write_no_admit"
    TIER_OFFLOAD = "tier_offload"
    BLOCK_EVENTS = "block_events"
    KV_AWARE_ROUTING = "kv_aware_routing"
    CACHE_CONTROL_TTL = "cache_control_ttl"
    HARD_EXCLUSION = "hard_exclusion"
    CLAIM_TELEMETRY = "claim_telemetry"
    PRIORITY_POLICY = "priority_policy"
    CLAIM_FAILURE_OUTCOME = "claim_failure_outcome"


class Atom(_Vocab):
    """The 13 obligation atoms (DESIGN §2).  Their meaning lives in smt/obligations.py."""

    EXPLICIT_ACCEPTANCE = "explicit_acceptance"
    CLAIM_IDENTITY = "claim_identity"
    MATERIALIZATION_PREDICATE = "materialization_predicate"
    ORDERED_LIFECYCLE = "ordered_lifecycle"
    NO_SILENT_LOSS = "no_silent_loss"
    PROTECTED_EXCLUSION = "protected_exclusion"
    INFEASIBILITY_OUTCOME = "infeasibility_outcome"
    RELEASE_BEFORE_LOSS = "release_before_loss"
    RESTORE_BEFORE_REUSE = "restore_before_reuse"
    RESTORATION_FAILURE_OUTCOME = "restoration_failure_outcome"
    PRIORITY_ORDER = "priority_order"
    EXCLUSIVE_ATTRIBUTION = "exclusive_attribution"
    ROUTED_PRESENCE = "routed_presence"


class Assumption(_Vocab):
    """Controlled-pressure assumptions a row may state with `assume` (DESIGN §4).

    An assumption restricts the environment, never the runtime: it says under which
    pressure an adapter's claim was shown, so a proof that needs one says so.
    """

    PRESSURE_WITHIN_DURATION = "pressure_within_duration"
    FEASIBLE_DEMAND = "feasible_demand"
    NO_RESTORE_FAILURE = "no_restore_failure"
    NO_EVENT_LOSS = "no_event_loss"
    SINGLE_CLAIM = "single_claim"


class RowKind(_Vocab):
    LOWERING = "lowering"
    SUBSTRATE = "substrate"


class PredicateKind(_Vocab):
    LEADING_PREFIX_AT_LEAST = "leading_prefix_at_least"
    CONTIGUOUS_RANGE = "contiguous_range"


class AtomStatus(_Vocab):
    PROVEN = "proven"
    REFUTED = "refuted"
    UNKNOWN = "unknown"
    VACUOUS = "vacuous"
