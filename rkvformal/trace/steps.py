"""A recorded event, seen from one claim, as one step of the bounded model.

`Flags` is what a record says about a claim c (is it c's event, does it name c as
the outcome claim or a blocker, is its identity tuple c's, ...).  `translate` turns
(kind, flags, c's state before) into the model's step: the move, the events of slot 0
and c's state after, in the vocabulary of `smt.trace`.  That step is what the atoms'
own definitions judge (`gate`), and what `admit` fixes in the SMT model.

The abstraction decisions (docs/TRACES.md "From records to steps"):
* a claim's predicate is counted in blocks of its required range (R = the claim's
  `resident_blocks_required`, or the n of `leading_prefix_at_least(n)`, else 1);
* after `resident_claim_offloaded` the host copy is the claim's state: its GPU range
  is no longer counted and a reuse needs a restore (`nr`);
* a restore whose source is not the offload tier is a recompute, never a restore;
* a refusal that carries an outcome claim or a restoration failure is the
  claim-scoped outcome (type refusal) of the claims it names, as outcome claim or in
  its blocking list; any other refusal is a capacity decision about the active
  request (move REFUSE), with its blocking list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from rkvformal.smt.trace import STATE, Active, Move, Phase, Reuse, Source
from rkvformal.trace.vocabulary import Kind
from rkvformal.trace.window import ABSENT_STATE, NO_EVENTS

# Per-claim state names, in a fixed order (the tuple a claim's state is kept in).
CLAIM_STATE = tuple(name for name, (_k, per_claim) in STATE.items() if per_claim)
SHARED_STATE = tuple(name for name, (_k, per_claim) in STATE.items() if not per_claim)


class Flags(NamedTuple):
    """What one record says about one claim (hashable: part of the gate's memo key)."""

    own: bool = False  # the record's claim_id is c
    outcome: bool = False  # the record is an outcome naming c (outcome_claim_id / blocker)
    blocking: bool = False  # c is in blocking_claim_ids
    rf_for_c: bool = False  # outcome_claim_id names c
    otype: int = -1  # OutcomeType of claim_scoped_outcome_type, -1 if not allowed
    ident_ok: bool = True  # the identity fields agree with c's first values
    ok: bool = True  # kind-specific: predicate holds / restored from the tier / pre-registered
    infeasible: bool = False  # protected + active demand > usable (capacity decisions)
    in_range: bool = True  # the block is in c's required range, on the GPU tier
    resident_role: bool = False  # the request is the claim's own (resident) request
    blocks: int = -1  # a block count the record states (-1: none)


@dataclass(frozen=True)
class Step:
    """One model step for slot 0: the move, its events, the states after."""

    move: Move
    own_move: bool  # the move acts on slot 0 (mc == 0)
    events: dict[str, Any]
    after: dict[str, Any]
    shared_before: dict[str, Any]
    shared_after: dict[str, Any]
    ev_in: int = 0
    infeasible: bool = False


def translate(kind: Kind, f: Flags, before: dict[str, Any], shared: dict[str, Any],
              required: int) -> Step | None:
    """The model step a record is for claim c, or None if it is nothing for c."""
    after = dict(before)
    shared = dict(shared)  # the shared state before, as this step reads it
    shared_after = dict(shared)
    ev = dict(NO_EVENTS)
    ev["rf_for"] = -1
    ev["ident"] = 0 if f.ident_ok else 1
    phase = before["phase"]
    move, own, ev_in = Move.IDLE, False, 0

    def own_step(m: Move) -> None:
        nonlocal move, own
        move, own = m, True

    def lose(to: int) -> None:
        nonlocal ev_in
        to = max(0, min(to, before["inr"]))
        if to < before["inr"]:
            ev_in = before["inr"] - to
        after["inr"] = to

    k = Kind
    if kind is k.SUBMITTED:
        own_step(Move.SUBMIT)
        if phase == Phase.ABSENT:
            after["phase"] = int(Phase.SUBMITTED)
    elif kind is k.ACCEPTED or (kind is k.REQUEST_STARTED and f.resident_role):
        if f.ok:
            own_step(Move.ACCEPT)
        ev["accepted"] = True
        if phase in (Phase.ABSENT, Phase.SUBMITTED):
            after["phase"] = int(Phase.ACCEPTED)
        after["held"] = True
    elif kind is k.REQUEST_STARTED or kind is k.REJECTED:
        return None
    elif kind in (k.MATERIALIZED, k.STORED):
        if kind is k.STORED and not f.resident_role:
            return None
        own_step(Move.MATERIALIZE)
        ev["materialized"] = True
        after["inr"] = (required if f.blocks < 0 else min(f.blocks, required)) if f.ok else 0
    elif kind is k.BLOCK_STORED:
        ev["blk_stored"], ev["named"] = True, f.own
    elif kind in (k.BLOCK_REMOVED, k.ALL_CLEARED):
        # a joined block event: its claim_identity is judged here; whether it breaks
        # the predicate is the join's call (scopes, media, ref counts), reported as the
        # claim events the adapter writes beside it (materialized / harmed / lost)
        ev["blk_removed"], ev["named"] = True, f.own
    elif kind is k.VICTIM:
        if not f.own:
            return None
        ev["named"] = True
        if f.in_range:
            lose(before["inr"] - 1)
    elif kind is k.HARMED:
        ev["harmed"] = True
        lose(f.blocks if f.blocks >= 0 else before["inr"] - 1)
        if phase == Phase.ACCEPTED:
            after["phase"] = int(Phase.HARMED)
    elif kind in (k.DEMOTED, k.EXPIRED):
        own_step(Move.DEMOTE if kind is k.DEMOTED else Move.EXPIRE)
        ev["demoted" if kind is k.DEMOTED else "expired"] = True
        if phase == Phase.ACCEPTED:
            after["phase"] = int(Phase.DEMOTED if kind is k.DEMOTED else Phase.EXPIRED)
    elif kind is k.LOST_AFTER_RELEASE:
        ev["lost_after_release"] = True
        lose(f.blocks if f.blocks >= 0 else before["inr"] - 1)
    elif kind is k.OFFLOADED:
        own_step(Move.OFFLOAD)
        ev["offloaded"] = True
        after.update(host=True, nr=True, inr=0, gen=min(before["gen"] + 1, 2))
    elif kind is k.RESTORE_REQUIRED:
        own_step(Move.REUSE)
        ev["restore_required"] = True
        after["rq"] = int(Reuse.PENDING)
    elif kind is k.RESTORED:
        own_step(Move.RESTORE if f.ok else Move.RECOMPUTE)
        ev["restored"], ev["restored_from_tier"] = True, f.ok
        after.update(inr=required, nr=False, rq=int(Reuse.READY),
                     src=int(Source.RESTORED if f.ok else Source.RECOMPUTED))
    elif kind is k.REUSED:
        own_step(Move.SERVE)
        ev["reuse_after_restore"] = True
        after.update(rq=int(Reuse.NONE), rfl=False)
    elif kind is k.RESTORATION_FAILED:
        if not f.own:
            if not f.rf_for_c:
                return None
            ev["restoration_failed"], ev["rf_for"] = True, 0  # names c, about someone else
        else:
            own_step(Move.RESTORE)
            shared["failpend"] = True
            ev["restoration_failed"], ev["rf_for"] = True, 0 if f.rf_for_c else 1
            ev["otype"] = f.otype
            after.update(rfl=True, rq=int(Reuse.RESTORE_FAILED))
    elif kind is k.REFUSED and (f.own or f.outcome):
        # the claim-scoped outcome of a failed restore (or a refusal naming c as one)
        if f.own:
            own_step(Move.FAIL_REUSE)
            after.update(rq=int(Reuse.NONE), rfl=False)
        # the model's claim-scoped outcome (otype refusal), not the active request's
        # capacity refusal: its blocking list names the claims it is the outcome for
        ev["outcome"] = f.outcome
        ev["otype"] = f.otype
    elif kind in (k.REFUSED, k.DEFERRED, k.ADMITTED):
        move = {k.REFUSED: Move.REFUSE, k.DEFERRED: Move.DEFER, k.ADMITTED: Move.ADMIT}[kind]
        name = {k.REFUSED: "refused", k.DEFERRED: "deferred", k.ADMITTED: "admitted"}[kind]
        ev[name], ev["blocking"] = True, f.blocking
        shared["act"] = int(Active.WAITING)
        shared_after["act"] = int({k.REFUSED: Active.REFUSED, k.DEFERRED: Active.DEFERRED,
                                   k.ADMITTED: Active.RUNNING}[kind])
    elif kind is k.REQUEST_FINISHED:
        if f.resident_role:
            own_step(Move.FINISH_HOLD)
            after.update(held=False, released_hold=True)
        elif before["rq"] == Reuse.NONE:
            return None
        else:
            # the reuse request ends: served unless its restore failed and nothing
            # brought the claim back (then it ends with an error)
            own_step(Move.FAIL_REUSE if before["rq"] == Reuse.RESTORE_FAILED else Move.SERVE)
            after.update(rq=int(Reuse.NONE), rfl=False)
    elif kind is k.GENERIC:
        return None
    else:  # BOOKKEEPING, GAP: handled by the gate
        return None
    if after["phase"] == Phase.ACCEPTED and after["inr"] == required and required > 0:
        after["matd"] = True
    return Step(move, own, ev, after, shared, shared_after, ev_in, f.infeasible)


def initial() -> tuple[dict[str, Any], dict[str, Any]]:
    """A claim nobody has mentioned yet, and the shared state of an idle runtime."""
    claim = {name: ABSENT_STATE[name] for name in CLAIM_STATE}
    shared = {name: ABSENT_STATE[name] for name in SHARED_STATE}
    return claim, shared
