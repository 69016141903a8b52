"""What a descriptor may say about each primitive kind: its meaning and its parameters.

This is the user-facing half of a kind (validated here, documented in
docs/LANGUAGE.md); `rkvformal.smt.primitives` holds the other half, its Z3 encoding,
and a test checks that the two list exactly the same kinds and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from rkvformal.vocab import PrimitiveKind as K


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: either a closed set of names (`choices`) or a bounded int."""

    name: str
    default: int | str | bool
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    doc: str = ""

    @property
    def is_bool(self) -> bool:
        return isinstance(self.default, bool)

    @property
    def is_int(self) -> bool:
        return isinstance(self.default, int) and not isinstance(self.default, bool)


@dataclass(frozen=True)
class KindSpec:
    kind: K
    doc: str
    params: tuple[ParamSpec, ...] = ()

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)


def _choice(name: str, default: str, *rest: str, doc: str = "") -> ParamSpec:
    return ParamSpec(name, default, choices=(default, *rest), doc=doc)


def _flag(name: str, default: bool, doc: str = "") -> ParamSpec:
    return ParamSpec(name, default, choices=("true", "false"), doc=doc)


CATALOGUE: dict[K, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            K.EVICTION_PRIORITY,
            "Victims are taken lowest native priority first; a higher priority delays "
            "eviction, it never forbids it.",
            (
                ParamSpec("minimum", 0, minimum=0, maximum=1000),
                ParamSpec("maximum", 100, minimum=1, maximum=1000),
                ParamSpec("default", 35, minimum=0, maximum=1000,
                          doc="priority of blocks nobody prioritised"),
            ),
        ),
        KindSpec(
            K.PRIORITY_DURATION,
            "A retention duration: when it elapses the blocks fall back to the default "
            "priority (TensorRT-LLM) or, if declared, the claim expires with an event.",
            (
                _choice("clock", "from_release", "from_acceptance",
                        doc="when the duration starts counting"),
                _choice("on_elapse", "revert_priority", "expire_with_event"),
            ),
        ),
        KindSpec(
            K.LOCK_REF,
            "Blocks referenced by a running request cannot be evicted; the lock ends "
            "with the request.",
        ),
        KindSpec(
            K.ACTIVE_NO_EVICT,
            "A started active request is never paused for lack of blocks; says nothing "
            "about resident claims.",
        ),
        KindSpec(
            K.WRITE_NO_ADMIT,
            "The active request's KV is not kept for reuse afterwards; its live "
            "allocation is unchanged.",
        ),
        KindSpec(
            K.TIER_OFFLOAD,
            "Blocks are copied to a host tier and restored on reuse; a failed restore "
            "is recomputed, fails the request, or crashes, as declared.",
            (_choice("on_restore_failure", "fail", "recompute", "crash"),),
        ),
        KindSpec(
            K.BLOCK_EVENTS,
            "Hash-keyed BlockStored/BlockRemoved events; they name blocks, never claims.",
            (
                _choice("delivery", "lossy", "replayable", "reliable",
                        doc="lossy: events can vanish; replayable: gaps are detected "
                            "and replayed; reliable: never lost"),
            ),
        ),
        KindSpec(
            K.KV_AWARE_ROUTING,
            "A router sends a request to where its index believes the prefix is; the "
            "index is fed by block events and can be stale.",
        ),
        KindSpec(
            K.CACHE_CONTROL_TTL,
            "A TTL pin: blocks are excluded from eviction until the TTL passes, then "
            "silently unpinned.",
            (ParamSpec("ttl", 2, minimum=1, maximum=64, doc="steps the pin lasts"),),
        ),
        KindSpec(
            K.HARD_EXCLUSION,
            "Blocks of an accepted, unreleased claim are never victims; an active "
            "request that does not fit is refused, deferred, or the claim is demoted "
            "first.",
            (
                _choice("on_conflict", "refuse", "defer", "demote"),
                _choice("blocking_ids", "involved", "all_claims", "none",
                        doc="which claims a refusal names as blockers"),
                _flag("claim_events", True, doc="emits the claim lifecycle events"),
                _choice("demote_event", "before_loss", "after_loss"),
            ),
        ),
        KindSpec(
            K.CLAIM_TELEMETRY,
            "Observes runtime events and joins them to claims by identity; it never "
            "changes what the runtime does.",
            (
                _choice("materialization", "predicate", "count",
                        doc="judge materialization by the predicate over positions, "
                            "or by a raw block count"),
                _choice("identity", "stable", "per_tier"),
                _choice("registration", "pre_registered", "post_hoc"),
                _choice("restore_report", "offload_tier", "any_source", "after_reuse"),
            ),
        ),
        KindSpec(
            K.PRIORITY_POLICY,
            "Drives the runtime's native priority from the claim's priority.",
            (_choice("mapping", "monotone", "constant"),),
        ),
        KindSpec(
            K.CLAIM_FAILURE_OUTCOME,
            "A failed restore (or a routed miss) of a claim yields a claim-scoped "
            "outcome naming it before the request ends.",
            (
                _choice("outcome", "refusal", "demotion", "expiry", "harm"),
                _choice("attribution", "target", "all_claims", "other"),
                _choice("timing", "before_termination", "after_termination"),
            ),
        ),
    )
}
