"""The formal semantics of each primitive kind: the moves it allows or forbids and the
events it emits (DESIGN §3).

Each kind is one `KindSemantics` with two hooks.  `declare` runs first for every
primitive of a row and registers what other formulas read (flags such as "blocks of
responsible claims are excluded from victims", moves the primitive makes possible);
`encode` then adds the primitive's constraints and event emissions.  Everything is
guarded by the primitive's literal inside `Encoding`, so the prover can switch a
primitive off.  The parameters a descriptor may set are in
`rkvformal.semantics.catalogue`; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rkvformal.semantics.domain import Primitive
from rkvformal.smt.encoding import Encoding, Formula
from rkvformal.smt.trace import (
    Active,
    Move,
    OutcomeType,
    Phase,
    Reuse,
    Source,
    View,
)
from rkvformal.vocab import PrimitiveKind as K

Hook = Callable[[Encoding, str, Primitive], None]


def _noop(enc: Encoding, label: str, p: Primitive) -> None:
    """A kind with nothing to add in this hook."""


@dataclass(frozen=True)
class KindSemantics:
    kind: K
    declare: Hook = _noop
    encode: Hook = _noop


def refills(v: View, c: int, t: int) -> Formula:
    """Step t writes c's required range into the GPU pool (blocks are stored)."""
    restore_ok = v.and_(v.move(t, Move.RESTORE, c), v.not_(v.s("failpend", t)))
    return v.or_(v.move(t, Move.MATERIALIZE, c), restore_ok, v.move(t, Move.RECOMPUTE, c))


def first_time(v: View, event: str, c: int, t: int) -> Formula:
    """`event` for c has not been emitted before step t."""
    return v.not_(v.seen(event, c, t - 1))


def newly_materialized(v: View, c: int, t: int) -> Formula:
    """The predicate holds for the first time under responsibility after step t."""
    return v.and_(v.not_(v.s("matd", t, c)), v.pred(c, t + 1),
                  v.s("phase", t + 1, c) == int(Phase.ACCEPTED))


def released(v: View, c: int, t: int) -> Formula:
    phase = v.s("phase", t, c)
    return v.or_(*(phase == int(p) for p in (Phase.DEMOTED, Phase.EXPIRED, Phase.HARMED)))


def conflict(enc: Encoding, t: int) -> Formula:
    """The waiting active request cannot fit without taking protected blocks."""
    v = enc.v
    evictable = v.s("free", t) + v.s("cached", t) + v.sum_(
        v.ite(enc.protected(c, t), 0, v.s("inr", t, c) + v.s("outr", t, c)) for c in v.claims)
    waiting = v.or_(v.s("act", t) == int(Active.WAITING), v.s("act", t) == int(Active.DEFERRED))
    return v.and_(waiting, evictable < v.k("A"))


# --- eviction_priority -------------------------------------------------------------

def _eviction_priority(enc: Encoding, label: str, p: Primitive) -> None:
    v = enc.v
    default = int(p.param("default"))
    lo, hi = int(p.param("minimum")), int(p.param("maximum"))
    for c in v.claims:
        enc.require(label, v.and_(v.k("NP", c) >= lo, v.k("NP", c) <= hi))
    for t in range(v.K):
        cached_all = v.ch("ev_cached", t) == v.s("cached", t)
        for c in v.claims:
            pc = enc.effective_priority(c, t, default)
            takes_c = v.victims(c, t) > 0
            all_c = v.victims(c, t) == v.s("inr", t, c) + v.s("outr", t, c)
            evictable_c = v.not_(v.or_(enc.protected(c, t), v.own_allocation(c, t)))
            # unclaimed blocks (default priority) go before a claim that outranks them
            enc.require(label, v.implies(v.and_(takes_c, pc > default), cached_all))
            enc.require(label, v.implies(
                v.and_(v.ch("ev_cached", t) > 0, pc < default, evictable_c), all_c))
            for o in v.others(c):
                po = enc.effective_priority(o, t, default)
                evictable_o = v.not_(v.or_(enc.protected(o, t), v.own_allocation(o, t)))
                all_o = v.victims(o, t) == v.s("inr", t, o) + v.s("outr", t, o)
                enc.require(label, v.implies(v.and_(takes_c, po < pc, evictable_o), all_o))


# --- priority_duration -----------------------------------------------------------

def _priority_duration_declare(enc: Encoding, label: str, p: Primitive) -> None:
    if p.param("on_elapse") == "revert_priority":
        enc.flag(label, "revert_priority", p)
    else:
        enc.enable(label, Move.EXPIRE)


def _priority_duration(enc: Encoding, label: str, p: Primitive) -> None:
    if p.param("on_elapse") == "revert_priority":
        return
    v = enc.v
    clock = "age_rel" if p.param("clock") == "from_release" else "age_acc"
    for t in range(v.K):
        for c in v.claims:
            enc.require(label, v.implies(v.move(t, Move.EXPIRE, c),
                                         v.s(clock, t, c) >= v.k("D", c)))
            enc.emit(label, "expired", t, c, v.move(t, Move.EXPIRE, c))


# --- lock_ref, cache_control_ttl, active_no_evict, write_no_admit ---------------------

def _lock_ref_declare(enc: Encoding, label: str, p: Primitive) -> None:
    enc.flag(label, "pin_while_held", p)


def _ttl_declare(enc: Encoding, label: str, p: Primitive) -> None:
    enc.flag(label, "pin_ttl", p)


def _active_no_evict(enc: Encoding, label: str, p: Primitive) -> None:
    v = enc.v
    for t in range(v.K):
        enc.require(label, v.not_(v.move(t, Move.PREEMPT)))


def _write_no_admit_declare(enc: Encoding, label: str, p: Primitive) -> None:
    enc.flag(label, "no_admit", p)


def _write_no_admit(enc: Encoding, label: str, p: Primitive) -> None:
    v = enc.v
    for t in range(v.K):
        enc.emit(label, "future_denied", t, None, v.move(t, Move.FINISH_ACTIVE))


# --- tier_offload --------------------------------------------------------------------

def _tier_offload_declare(enc: Encoding, label: str, p: Primitive) -> None:
    enc.enable(label, Move.OFFLOAD)
    enc.enable(label, Move.RESTORE)
    enc.flag(label, "tier", p)


def _tier_offload(enc: Encoding, label: str, p: Primitive) -> None:
    v = enc.v
    policy = p.param("on_restore_failure")
    for t in range(v.K):
        for c in v.claims:
            failed = v.s("rq", t, c) == int(Reuse.RESTORE_FAILED)
            if policy == "recompute":
                # unless a failure-outcome policy drives the failed request to its end
                # (a patch wins over the native fallback; otherwise the two would leave
                # the request stuck, which is no outcome at all)
                driven = enc.flagged("drives_failure")
                enc.require(label, v.implies(v.and_(failed, v.not_(driven)),
                                             v.not_(v.move(t, Move.FAIL_REUSE, c))))
            else:  # fail the request (FINISHED_ERROR) or crash: never recompute
                enc.require(label, v.implies(failed, v.not_(v.move(t, Move.RECOMPUTE, c))))
            enc.emit(label, "generic_offload", t, c, v.move(t, Move.OFFLOAD, c))


# --- block_events, kv_aware_routing -----------------------------------------------------

def _block_events_declare(enc: Encoding, label: str, p: Primitive) -> None:
    enc.flag(label, "block_stream", p)
    if p.param("delivery") == "lossy":
        enc.flag(label, "lossy", p)


def _block_events(enc: Encoding, label: str, p: Primitive) -> None:
    v = enc.v
    for t in range(v.K):
        delivered = v.not_(v.ch("drop", t)) if p.param("delivery") == "lossy" else True
        for c in v.claims:
            enc.emit(label, "blk_stored", t, c, v.and_(refills(v, c, t), delivered))
            enc.emit(label, "blk_removed", t, c, v.and_(v.victims(c, t) > 0, delivered))


def _routing_declare(enc: Encoding, label: str, p: Primitive) -> None:
    enc.enable(label, Move.ROUTE)


# --- hard_exclusion ------------------------------------------------------------------------

def _hard_exclusion_declare(enc: Encoding, label: str, p: Primitive) -> None:
    enc.flag(label, "exclude_responsible", p)
    if p.param("on_conflict") == "demote":
        enc.enable(label, Move.DEMOTE)


def _hard_exclusion(enc: Encoding, label: str, p: Primitive) -> None:
    v = enc.v
    for t in range(v.K):
        if p.param("on_conflict") == "demote":
            for c in v.claims:
                enc.require(label, v.implies(v.move(t, Move.DEMOTE, c), conflict(enc, t)))
        if not p.param("claim_events"):
            continue
        after_loss = p.param("demote_event") == "after_loss"
        emit_claim_lifecycle(enc, label, t, demote_after_loss=after_loss)
        enc.emit(label, "admitted", t, None, v.move(t, Move.ADMIT))
        enc.emit(label, "refused", t, None, v.move(t, Move.REFUSE))
        enc.emit(label, "deferred", t, None, v.move(t, Move.DEFER))
        decision = v.or_(v.move(t, Move.REFUSE), v.move(t, Move.DEFER))
        for c in v.claims:
            listed = {
                "involved": v.and_(v.resp(c, t), v.s("inr", t, c) + v.s("outr", t, c) > 0),
                "all_claims": v.s("phase", t, c) != int(Phase.ABSENT),
                "none": False,
            }[str(p.param("blocking_ids"))]
            enc.emit(label, "blocking", t, c, v.and_(decision, listed))


def emit_claim_lifecycle(enc: Encoding, label: str, t: int, *, demote_after_loss: bool) -> None:
    """In-process claim bookkeeping (the vLLM prototype): it sees every move directly."""
    v = enc.v
    for c in v.claims:
        enc.emit(label, "accepted", t, c, v.move(t, Move.ACCEPT, c))
        enc.emit(label, "materialized", t, c, newly_materialized(v, c, t))
        enc.emit(label, "harmed", t, c, v.and_(
            v.resp(c, t), v.s("phase", t + 1, c) == int(Phase.HARMED)))
        enc.emit(label, "lost_after_release", t, c, v.and_(released(v, c, t), v.lost_blocks(c, t)))
        enc.emit(label, "named", t, c, v.s("phase", t, c) != int(Phase.ABSENT))
        if demote_after_loss:
            late = v.and_(v.s("phase", t, c) == int(Phase.DEMOTED), v.lost_blocks(c, t),
                          first_time(v, "demoted", c, t))
            enc.emit(label, "demoted", t, c, late)
        else:
            enc.emit(label, "demoted", t, c, v.move(t, Move.DEMOTE, c))


# --- claim_telemetry ------------------------------------------------------------------

def _claim_telemetry_declare(enc: Encoding, label: str, p: Primitive) -> None:
    enc.flag(label, "join", p)  # the base relation keeps the join's belief (D2)


def _claim_telemetry(enc: Encoding, label: str, p: Primitive) -> None:
    """A join of runtime events to claims: it sees only what the runtime's events show.

    Materialization and losses are judged by the join's belief (`jinr`, `joutr`,
    `jmatd`, `jnr`: built in the base relation from the block events delivered), never
    by the pool itself, so a join over a lossy stream misses what it was not told (D2)."""
    v = enc.v
    post_hoc = p.param("registration") == "post_hoc"
    by_count = p.param("materialization") == "count"
    per_tier = p.param("identity") == "per_tier"
    report = p.param("restore_report")
    sees_tier = bool(enc.flags.get("tier"))
    for t in range(v.K):
        for c in v.claims:
            resp = v.resp(c, t)
            stored, removed = v.e("blk_stored", t, c), v.e("blk_removed", t, c)
            # acceptance: at registration, or named after the fact (post hoc)
            if post_hoc:
                enc.emit(label, "accepted", t, c, v.and_(
                    v.move(t, Move.FINISH_HOLD, c), first_time(v, "accepted", c, t)))
                registered = v.seen("accepted", c, t - 1)
            else:
                enc.emit(label, "accepted", t, c, v.move(t, Move.ACCEPT, c))
                registered = v.s("phase", t, c) != int(Phase.ABSENT)
            enc.emit(label, "named", t, c, registered)
            # materialization, judged from the stored blocks the join has seen
            if by_count:
                # a hit counter: "enough cached blocks" whenever blocks are stored (the
                # blocks it believes resident) or a reuse looks the prefix up (the pool
                # answers), whatever their logical positions
                def counted(u: int, c: int = c) -> Formula:
                    return v.s("jinr", u, c) + v.s("joutr", u, c) >= v.k("R", c)

                looked_up = v.or_(v.and_(stored, counted(t + 1)), v.and_(
                    v.move(t, Move.REUSE, c),
                    v.s("inr", t + 1, c) + v.s("outr", t + 1, c) >= v.k("R", c)))
                believed = v.or_(*(v.s("phase", t + 1, c) == int(p)
                                   for p in (Phase.ACCEPTED, Phase.HARMED)))
                enc.emit(label, "materialized", t, c, v.and_(looked_up, believed))
                lost = v.and_(counted(t), v.not_(counted(t + 1)))
            else:
                enc.emit(label, "materialized", t, c, v.and_(
                    stored, v.believed(c, t + 1), v.not_(v.s("jmatd", t, c)),
                    v.s("phase", t + 1, c) == int(Phase.ACCEPTED)))
                lost = v.believed_loss(c, t)
            # losses, seen through removal events
            host = v.s("host", t, c)
            enc.emit(label, "harmed", t, c, v.and_(resp, lost, v.not_(host), removed))
            enc.emit(label, "lost_after_release", t, c, v.and_(
                released(v, c, t), v.lost_blocks(c, t), removed))
            if not sees_tier:
                continue
            tier_ident = 1 if per_tier else 0
            offloaded = v.and_(resp, v.believed_loss(c, t), host, removed)
            enc.emit(label, "offloaded", t, c, offloaded)
            restoring = v.and_(resp, v.move(t, Move.RESTORE, c))
            enc.emit(label, "restore_required", t, c, restoring)
            restore_ok = v.and_(restoring, v.not_(v.s("failpend", t)))
            served_restored = v.and_(resp, v.move(t, Move.SERVE, c),
                                     v.s("src", t, c) == int(Source.RESTORED))
            if report == "after_reuse":
                restored = False if t == 0 else v.and_(  # reported one step after the reuse
                    resp, v.move(t - 1, Move.SERVE, c),
                    v.s("src", t - 1, c) == int(Source.RESTORED))
            elif report == "any_source":
                # a stored event cannot tell a recompute from a restore: any refill after
                # a loss the join saw with a host copy reads as restored
                recomputed = v.and_(resp, v.move(t, Move.RECOMPUTE, c), v.s("jnr", t, c))
                restored = v.or_(restore_ok, recomputed)
                served_restored = v.and_(resp, v.move(t, Move.SERVE, c),
                                         v.s("src", t, c) != int(Source.ORIGINAL))
            else:
                restored = restore_ok
            enc.emit(label, "restored", t, c, restored)
            enc.emit(label, "restored_from_tier", t, c, restored)
            enc.emit(label, "reuse_after_restore", t, c, served_restored)
            if per_tier:
                enc.set_int(label, "ident", t, c, v.or_(offloaded, restored), tier_ident)


# --- priority_policy ------------------------------------------------------------------

def _priority_policy(enc: Encoding, label: str, p: Primitive) -> None:
    v = enc.v
    for c in v.claims:
        for o in v.others(c):
            if p.param("mapping") == "monotone":
                enc.require(label, v.implies(v.k("P", c) > v.k("P", o),
                                             v.k("NP", c) > v.k("NP", o)))
            else:
                enc.require(label, v.k("NP", c) == v.k("NP", o))


# --- claim_failure_outcome -----------------------------------------------------------------

def _failure_outcome_declare(enc: Encoding, label: str, p: Primitive) -> None:
    enc.flag(label, "drives_failure", p)


def _claim_failure_outcome(enc: Encoding, label: str, p: Primitive) -> None:
    """A failed restore (or a routed miss) ends in a claim-scoped outcome, not a recompute."""
    v = enc.v
    attribution = p.param("attribution")
    late = p.param("timing") == "after_termination"
    for t in range(v.K):
        for c in v.claims:
            o = v.others(c)[0]  # "another claim": the lowest other slot
            failed = v.s("rq", t, c) == int(Reuse.RESTORE_FAILED)
            enc.require(label, v.implies(failed, v.not_(v.move(t, Move.RECOMPUTE, c))))
            at = t - 1 if late else t
            if at < 0:
                continue
            ends_failed = v.and_(v.move(at, Move.FAIL_REUSE, c),
                                 v.s("rq", at, c) == int(Reuse.RESTORE_FAILED))
            unreleased = v.or_(v.s("phase", at, c) == int(Phase.ACCEPTED),
                               v.s("phase", at, c) == int(Phase.HARMED))
            routed_miss = v.and_(v.move(at, Move.REUSE, c), v.s("routed", at, c), unreleased,
                                 v.not_(v.pred(c, at)), v.not_(v.s("host", at, c)))
            enc.emit(label, "restoration_failed", t, c, ends_failed)
            named = {"target": c, "other": o, "all_claims": c}[str(attribution)]
            enc.set_int(label, "rf_for", t, c, ends_failed, named)
            kind = int(OutcomeType[str(p.param("outcome")).upper()])
            for target in (v.claims if attribution == "all_claims" else (named,)):
                enc.emit(label, "outcome", t, target, v.or_(ends_failed, routed_miss))
                enc.set_int(label, "otype", t, target, v.or_(ends_failed, routed_miss), kind)


SEMANTICS: dict[K, KindSemantics] = {
    s.kind: s
    for s in (
        KindSemantics(K.EVICTION_PRIORITY, encode=_eviction_priority),
        KindSemantics(K.PRIORITY_DURATION, _priority_duration_declare, _priority_duration),
        KindSemantics(K.LOCK_REF, _lock_ref_declare),
        KindSemantics(K.ACTIVE_NO_EVICT, encode=_active_no_evict),
        KindSemantics(K.WRITE_NO_ADMIT, _write_no_admit_declare, _write_no_admit),
        KindSemantics(K.TIER_OFFLOAD, _tier_offload_declare, _tier_offload),
        KindSemantics(K.BLOCK_EVENTS, _block_events_declare, _block_events),
        KindSemantics(K.KV_AWARE_ROUTING, _routing_declare),
        KindSemantics(K.CACHE_CONTROL_TTL, _ttl_declare),
        KindSemantics(K.HARD_EXCLUSION, _hard_exclusion_declare, _hard_exclusion),
        KindSemantics(K.CLAIM_TELEMETRY, _claim_telemetry_declare, _claim_telemetry),
        KindSemantics(K.PRIORITY_POLICY, encode=_priority_policy),
        KindSemantics(K.CLAIM_FAILURE_OUTCOME, _failure_outcome_declare, _claim_failure_outcome),
    )
}


def prim_label(name: str) -> str:
    return f"primitive:{name}"


def assume_label(name: str) -> str:
    return f"assume:{name}"


def encode_row(view: View, primitives: tuple[Primitive, ...], assumptions: tuple = (),
               lits: dict[str, Any] | None = None) -> Encoding:
    """Every primitive's (and assumption's) formulas for one row over `view`.

    With a SymbolicView this is what the prover asserts; with a ConcreteView the same
    formulas evaluate to booleans on a trace (admission, event attribution).  Without
    `lits`, every primitive and assumption is on."""
    enc = declare_row(view, primitives, assumptions, lits)
    encode_declared(enc, primitives, assumptions)
    return enc


def declare_row(view: View, primitives: tuple[Primitive, ...], assumptions: tuple = (),
                lits: dict[str, Any] | None = None) -> Encoding:
    """The first half of `encode_row`: what primitives declare (flags, enabled moves),
    which is all the base relation reads.  The prover builds the base between the two
    halves, so that the primitives' formulas see the base's definitions."""
    labels = [prim_label(p.name) for p in primitives] + [assume_label(a.value) for a in assumptions]
    enc = Encoding(view, dict(lits) if lits is not None else {label: True for label in labels})
    for p in primitives:
        SEMANTICS[p.kind].declare(enc, prim_label(p.name), p)
    return enc


def encode_declared(enc: Encoding, primitives: tuple[Primitive, ...],
                    assumptions: tuple = ()) -> None:
    """The second half of `encode_row`: each primitive's constraints and emissions, and
    each assumption's constraints."""
    from rkvformal.smt.encoding import assumption_constraints

    for p in primitives:
        SEMANTICS[p.kind].encode(enc, prim_label(p.name), p)
    for a in assumptions:
        for formula in assumption_constraints(enc.v, a):
            enc.require(assume_label(a.value), formula)


def inadmissible(view: View, primitives: tuple[Primitive, ...], assumptions: tuple = (),
                 lits: dict[str, bool] | None = None) -> list[str]:
    """The formulas of the model that a concrete trace breaks ([] = the model admits it).
    `lits` switches primitives and assumptions on and off as a proof stage does (default:
    all on); a formula of one switched off is not the model's."""
    from rkvformal.smt.encoding import base_constraints, event_definitions

    enc = encode_row(view, primitives, assumptions, lits)
    failures = [f"{label}#{i}" for i, (label, f) in enumerate(enc.constraints)
                if enc.lits[label] and not f]
    failures += [f"base#{i}" for i, f in enumerate(base_constraints(enc)) if not f]
    failures += [f"events#{i}" for i, f in enumerate(event_definitions(enc)) if not f]
    return failures
