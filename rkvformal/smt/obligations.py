"""The 13 obligation atoms of DESIGN §2, each defined once.

An atom is a safety property: `violation(v, c, t, q)` says that at step t the trace
breaks the atom for claim c (q is the bundle's qualifier, e.g. `demotion`).  It is
written against `View`, so the *same* definition is

* the Z3 encoding (read over a `SymbolicView`: the prover asks for a model of it), and
* the concrete evaluator (read over a `ConcreteView`: a counterexample, a simulator run
  or a trace abstracted to the model's vocabulary is checked with it).

`trigger(v, c, t)` is what must be able to happen for a proof to mean anything (the
vacuity check of DESIGN §8): a proof of protected_exclusion in a model where pressure
can never meet an accepted claim proves nothing.

`words` is the atom's own sentence; a counterexample ends with it.

`lemma(v, c, t)`, where an atom has one, is the strengthening k-induction needs for it:
a fact about the state and history at step t meant to hold at every step of every
trace from the initial state that has not violated the atom before t.  Such atoms are
not inductive on their own (an induction window may start in a state or with a
history no trace can have); the lemma rules those starts out.  The prover never trusts
a lemma: it proves it together with the atom, from the initial state and preserved
by every step, under the row's primitives; where it does not hold, induction fails
and the atom stays bounded (docs/MODEL.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rkvformal.smt.encoding import Formula
from rkvformal.smt.trace import (
    ALLOCATING_MOVES,
    Active,
    Move,
    OutcomeType,
    Phase,
    View,
)
from rkvformal.vocab import Atom

Violation = Callable[[View, int, int, str | None], Formula]
Trigger = Callable[[View, int, int], Formula]
Lemma = Callable[[View, int, int], Formula]

# Claim-scoped events that account for a loss (not mere bookkeeping).
LOSS_OUTCOMES = ("harmed", "demoted", "expired", "offloaded", "restoration_failed",
                 "outcome", "lost_after_release")
TERMINAL = ("harmed", "demoted", "expired")


@dataclass(frozen=True)
class AtomDef:
    atom: Atom
    words: str
    violation: Violation
    trigger: Trigger
    trigger_words: str
    lemma: Lemma | None = None  # strengthening for k-induction (see the module docstring)

    def violated(self, v: View, q: str | None = None) -> Formula:
        """Some claim breaks the atom at some step (the negated obligation)."""
        return v.or_(*(self.violation(v, c, t, q) for t in range(v.K) for c in v.claims))

    def triggered(self, v: View) -> Formula:
        return v.or_(*(self.trigger(v, c, t) for t in range(v.K) for c in v.claims))

    def first_violation(self, v: View, q: str | None = None) -> tuple[int, int] | None:
        """(step, claim) of the earliest violation in a concrete trace, or None."""
        for t in range(v.K):
            for c in v.claims:
                if self.violation(v, c, t, q):
                    return t, c
        return None


def _seen(v: View, event: str, c: int, t: int) -> Formula:
    """`event` for c was emitted at some step <= t (events of one step come in order)."""
    return v.seen(event, c, t)


def _seen_before(v: View, event: str, c: int, t: int) -> Formula:
    return v.seen(event, c, t - 1)


def _pressure(v: View, t: int) -> Formula:
    """Step t allocates more blocks than are free, so it must evict."""
    for_claims = (v.move(t, m, c) for m in ALLOCATING_MOVES if m is not Move.ADMIT
                  for c in v.claims)
    allocating = v.or_(v.move(t, Move.ADMIT), *for_claims)
    return v.and_(allocating, v.s("free", t) < v.ch("need", t))


def _protected_demand(v: View, t: int) -> Formula:
    return v.sum_(v.ite(v.and_(v.resp(c, t), v.pred(c, t)), v.k("R", c), 0) for c in v.claims)


def _infeasible(v: View, t: int) -> Formula:
    waiting = v.or_(v.s("act", t) == int(Active.WAITING), v.s("act", t) == int(Active.DEFERRED))
    return v.and_(waiting, _protected_demand(v, t) + v.k("A") > v.k("U"))


def _decision(v: View, t: int) -> Formula:
    return v.or_(v.move(t, Move.ADMIT), v.move(t, Move.REFUSE), v.move(t, Move.DEFER))


def _failed_restore(v: View, c: int, t: int) -> Formula:
    return v.and_(v.move(t, Move.RESTORE, c), v.s("failpend", t))


def _unreleased(v: View, c: int, t: int) -> Formula:
    """Accepted and never explicitly released (a harmed claim is still owed an answer)."""
    phase = v.s("phase", t, c)
    return v.or_(phase == int(Phase.ACCEPTED), phase == int(Phase.HARMED))


def _routed_miss(v: View, c: int, t: int) -> Formula:
    return v.and_(v.move(t, Move.REUSE, c), v.s("routed", t, c), _unreleased(v, c, t),
                  v.not_(v.pred(c, t)), v.not_(v.s("host", t, c)))


# --- the atoms ---------------------------------------------------------------------------

def explicit_acceptance(v: View, c: int, t: int, q: str | None) -> Formula:
    """Acceptance is announced when it happens, and nothing names c before it."""
    return v.or_(
        v.and_(v.move(t, Move.ACCEPT, c), v.not_(v.e("accepted", t, c))),
        v.and_(v.e("accepted", t, c), v.not_(v.move(t, Move.ACCEPT, c))),
        v.and_(v.claim_scoped(c, t, exclude=("accepted",)), v.not_(_seen(v, "accepted", c, t))),
    )


def _announced_if_accepted(v: View, c: int, t: int) -> Formula:
    """explicit_acceptance's lemma: a claim past submission had its acceptance announced
    before step t.  A claim leaves SUBMITTED only by its ACCEPT move, and an ACCEPT
    without the event is a violation, so a trace that has not violated the atom carries
    the announcement in its history; a window that may start with a claim accepted and
    no acceptance in its history is what made the atom fail induction alone."""
    phase = v.s("phase", t, c)
    return v.or_(phase == int(Phase.ABSENT), phase == int(Phase.SUBMITTED),
                 v.before("accepted", c, t))


def claim_identity(v: View, c: int, t: int, q: str | None) -> Formula:
    """Every event acting on c's blocks names c, with one identity tuple throughout."""
    acts_on_c = v.or_(v.e("blk_stored", t, c), v.e("blk_removed", t, c),
                      v.e("generic_offload", t, c))
    known = v.s("phase", t, c) != int(Phase.ABSENT)
    return v.or_(
        v.and_(known, acts_on_c, v.not_(v.e("named", t, c))),
        v.and_(v.claim_scoped(c, t), v.e("ident", t, c) != 0),
    )


def materialization_predicate(v: View, c: int, t: int, q: str | None) -> Formula:
    """Materialized and harmed are judged by the predicate over logical positions."""
    first = v.and_(v.not_(v.s("matd", t, c)), v.pred(c, t + 1),
                   v.s("phase", t + 1, c) == int(Phase.ACCEPTED))
    return v.or_(
        v.and_(v.e("materialized", t, c), v.not_(v.pred(c, t + 1))),
        v.and_(v.e("harmed", t, c), v.not_(v.loss(c, t))),
        v.and_(first, v.not_(v.e("materialized", t, c))),
    )


# event -> events one of which must precede it (same step counts: in-step order)
_LIFECYCLE_PREDECESSORS: dict[str, tuple[str, ...]] = {
    "materialized": ("accepted",),
    "harmed": ("materialized",),
    "demoted": ("accepted",),
    "expired": ("accepted",),
    "offloaded": ("materialized",),
    "restore_required": ("offloaded",),
    "restored": ("restore_required",),
    "reuse_after_restore": ("restored",),
    "restoration_failed": ("restore_required",),
    "outcome": ("accepted",),
    "lost_after_release": TERMINAL,
}


def ordered_lifecycle(v: View, c: int, t: int, q: str | None) -> Formula:
    """Events follow the lifecycle automaton: each after its predecessor, one terminal."""
    out_of_order = [
        v.and_(v.e(ev, t, c), v.not_(v.or_(*(_seen(v, p, c, t) for p in preds))))
        for ev, preds in _LIFECYCLE_PREDECESSORS.items()
    ]
    terminal_now = v.or_(*(v.e(ev, t, c) for ev in TERMINAL))
    terminal_before = v.or_(*(_seen_before(v, ev, c, t) for ev in TERMINAL))
    twice = v.or_(v.and_(terminal_now, terminal_before),
                  v.and_(v.e("materialized", t, c), _seen_before(v, "materialized", c, t)))
    after_end = v.and_(terminal_before, v.claim_scoped(c, t, exclude=("lost_after_release",)))
    return v.or_(*out_of_order, twice, after_end)


def no_silent_loss(v: View, c: int, t: int, q: str | None) -> Formula:
    """Losing the predicate under responsibility comes with a claim-scoped event."""
    accounted = v.or_(*(v.e(ev, t, c) for ev in LOSS_OUTCOMES))
    return v.and_(v.resp(c, t), v.loss(c, t), v.not_(accounted))


def protected_exclusion(v: View, c: int, t: int, q: str | None) -> Formula:
    """Under responsibility, victim selection never takes c's predicate."""
    return v.and_(v.resp(c, t), v.loss(c, t), v.ch("ev_in", t, c) > 0)


def infeasibility_outcome(v: View, c: int, t: int, q: str | None) -> Formula:
    """If protected + active > usable, the active request is refused or deferred with c
    named as a blocker, never served by eviction."""
    named_refusal = v.or_(
        v.and_(v.move(t, Move.REFUSE), v.e("refused", t)),
        v.and_(v.move(t, Move.DEFER), v.e("deferred", t)),
    )
    return v.and_(
        _infeasible(v, t), v.resp(c, t), v.pred(c, t),
        v.or_(v.move(t, Move.ADMIT),
              v.and_(v.or_(v.move(t, Move.REFUSE), v.move(t, Move.DEFER)),
                     v.not_(v.and_(named_refusal, v.e("blocking", t, c))))),
    )


def release_before_loss(v: View, c: int, t: int, q: str | None) -> Formula:
    """A demotion / expiry event for c strictly precedes any loss of c's blocks."""
    events = {"demotion": ("demoted",), "expiry": ("expired",)}.get(q or "", ("demoted", "expired"))
    phase = v.s("phase", t, c)
    owned = v.or_(*(phase == int(p) for p in (Phase.ACCEPTED, Phase.DEMOTED, Phase.EXPIRED)))
    released_first = v.or_(*(_seen_before(v, ev, c, t) for ev in events))
    premature = False
    if q == "expiry":
        premature = v.and_(v.e("expired", t, c), v.s("age_acc", t, c) < v.k("D", c))
    return v.or_(v.and_(owned, v.lost_blocks(c, t), v.not_(released_first)), premature)


def _restore_state_consistent(v: View, c: int, t: int) -> Formula:
    """restore_before_reuse's lemma: under responsibility, a claim that needs a restore
    does not hold its predicate, and a claim with a host copy was materialized (an
    offload needs the predicate).  A runtime that refills a claim needing a restore
    other than by restoring it breaks the first part, and there the atom stays
    bounded: serving such a refill is exactly what the atom forbids."""
    return v.implies(v.resp(c, t), v.and_(
        v.implies(v.s("nr", t, c), v.not_(v.pred(c, t))),
        v.implies(v.s("host", t, c), v.s("matd", t, c))))


def restore_before_reuse(v: View, c: int, t: int, q: str | None) -> Formula:
    """Reuse of an offloaded c consumes state restored from the tier, restored first."""
    served_unrestored = v.and_(v.move(t, Move.SERVE, c), v.resp(c, t), v.s("nr", t, c))
    reuse_without_restore = v.and_(v.e("reuse_after_restore", t, c),
                                   v.not_(_seen_before(v, "restored", c, t)))
    recompute_as_restore = v.and_(v.e("restored", t, c), v.move(t, Move.RECOMPUTE, c))
    return v.or_(served_unrestored, reuse_without_restore, recompute_as_restore)


def restoration_failure_outcome(v: View, c: int, t: int, q: str | None) -> Formula:
    """A failed restore of c yields a claim-scoped outcome naming c (with an allowed
    outcome type: refusal, demotion, expiry, harm) before the request ends, and no
    fallback recompute is reported as satisfying c."""
    ends = v.or_(v.move(t, Move.SERVE, c), v.move(t, Move.FAIL_REUSE, c))
    failure_named = v.ever("failure_named", c, t, lambda u: v.and_(
        v.e("restoration_failed", u, c), v.e("rf_for", u, c) == c,
        v.e("otype", u, c) >= 0, v.e("otype", u, c) <= max(OutcomeType)))
    outcome_named = _seen(v, "outcome", c, t)
    fallback_counted = v.and_(v.s("rfl", t, c), v.or_(v.e("restored", t, c),
                                                       v.e("reuse_after_restore", t, c)))
    return v.or_(v.and_(ends, v.s("rfl", t, c), v.not_(v.and_(failure_named, outcome_named))),
                 fallback_counted)


def priority_order(v: View, c: int, t: int, q: str | None) -> Formula:
    """Under pressure a higher-priority claim never loses its predicate while a
    lower-priority one keeps it.  Pressure is an allocation for something other than
    the lower-priority claim itself: a claim growing back into its own footprint is
    not "keeping" it (docs/MODEL.md)."""
    def against(o: int) -> Formula:
        return v.and_(v.resp(c, t), v.resp(o, t), v.k("P", c) > v.k("P", o),
                      v.loss(c, t), v.ch("ev_in", t, c) > 0, v.pred(o, t), v.pred(o, t + 1),
                      v.not_(v.own_allocation(o, t)))

    return v.any_other(c, against)


def exclusive_attribution(v: View, c: int, t: int, q: str | None) -> Formula:
    """Outcomes and blocking lists name only the claims actually involved."""
    involved = v.and_(v.resp(c, t), v.s("inr", t, c) + v.s("outr", t, c) > 0)
    listed = v.and_(v.or_(v.e("refused", t), v.e("deferred", t)), v.e("blocking", t, c))
    had_failure = v.ever("had_failure", c, t, lambda u: v.or_(_failed_restore(v, c, u),
                                                              _routed_miss(v, c, u)))
    return v.or_(
        v.and_(listed, v.not_(involved)),
        v.and_(v.e("restoration_failed", t, c), v.e("rf_for", t, c) != c),
        v.and_(v.e("outcome", t, c), v.not_(had_failure)),
        v.and_(v.or_(v.e("harmed", t, c), v.e("lost_after_release", t, c)),
               v.not_(v.lost_blocks(c, t))),
    )


def routed_presence(v: View, c: int, t: int, q: str | None) -> Formula:
    """A request routed for c lands where c's predicate holds (or restores from the
    tier), else a claim-scoped outcome names c."""
    outcome = v.or_(v.e("outcome", t, c), v.e("restoration_failed", t, c),
                    _seen(v, "harmed", c, t))
    return v.and_(_routed_miss(v, c, t), v.not_(outcome))


# --- triggers ---------------------------------------------------------------------------------

def _t_accept(v: View, c: int, t: int) -> Formula:
    return v.move(t, Move.ACCEPT, c)


def _t_identity(v: View, c: int, t: int) -> Formula:
    acts = v.or_(v.e("blk_stored", t, c), v.e("blk_removed", t, c), v.e("generic_offload", t, c))
    return v.or_(v.and_(v.s("phase", t, c) != int(Phase.ABSENT), acts), v.claim_scoped(c, t))


def _t_materialize(v: View, c: int, t: int) -> Formula:
    return v.and_(v.not_(v.s("matd", t, c)), v.pred(c, t + 1),
                  v.s("phase", t + 1, c) == int(Phase.ACCEPTED))


def _t_events(v: View, c: int, t: int) -> Formula:
    return v.claim_scoped(c, t)


def _t_loss(v: View, c: int, t: int) -> Formula:
    """A loss under responsibility, or the pressure that could cause one (a runtime
    that excludes victims satisfies the atom by preventing the loss, not vacuously)."""
    return v.or_(v.and_(v.resp(c, t), v.loss(c, t)), _t_pressure(v, c, t))


def _t_pressure(v: View, c: int, t: int) -> Formula:
    return v.and_(v.resp(c, t), v.pred(c, t), _pressure(v, t))


def _t_infeasible(v: View, c: int, t: int) -> Formula:
    return v.and_(_infeasible(v, t), v.resp(c, t), v.pred(c, t), _decision(v, t))


def _t_block_loss(v: View, c: int, t: int) -> Formula:
    phase = v.s("phase", t, c)
    owned = v.or_(*(phase == int(p) for p in (Phase.ACCEPTED, Phase.DEMOTED, Phase.EXPIRED)))
    return v.and_(owned, v.lost_blocks(c, t))


def _t_reuse_offloaded(v: View, c: int, t: int) -> Formula:
    return v.and_(v.move(t, Move.REUSE, c), v.resp(c, t), v.s("host", t, c))


def _t_failed_restore(v: View, c: int, t: int) -> Formula:
    return v.and_(_failed_restore(v, c, t), v.resp(c, t))


def _t_two_priorities(v: View, c: int, t: int) -> Formula:
    return v.any_other(c, lambda o: v.and_(_t_pressure(v, c, t), v.resp(o, t), v.pred(o, t),
                                           v.k("P", c) > v.k("P", o)))


def _t_attribution(v: View, c: int, t: int) -> Formula:
    return v.or_(v.and_(v.or_(v.e("refused", t), v.e("deferred", t)),
                        v.s("phase", t, c) != int(Phase.ABSENT)),
                 *(v.e(ev, t, c) for ev in ("restoration_failed", "outcome", "harmed",
                                             "lost_after_release")))


def _t_routed(v: View, c: int, t: int) -> Formula:
    return v.and_(v.move(t, Move.REUSE, c), v.s("routed", t, c), _unreleased(v, c, t))


A = Atom
ATOMS: dict[Atom, AtomDef] = {
    d.atom: d
    for d in (
        AtomDef(A.EXPLICIT_ACCEPTANCE,
                "every claim-scoped event for c comes after c's announced acceptance",
                explicit_acceptance, _t_accept, "a claim is accepted",
                _announced_if_accepted),
        AtomDef(A.CLAIM_IDENTITY,
                "every event acting on c's blocks names c with one identity tuple",
                claim_identity, _t_identity, "an event acts on a claim's blocks"),
        AtomDef(A.MATERIALIZATION_PREDICATE,
                "materialized and harmed are judged by the predicate over logical positions",
                materialization_predicate, _t_materialize,
                "a claim's predicate becomes true under responsibility"),
        AtomDef(A.ORDERED_LIFECYCLE, "c's events follow the lifecycle automaton",
                ordered_lifecycle, _t_events, "a claim-scoped event is emitted"),
        AtomDef(A.NO_SILENT_LOSS,
                "c loses its predicate under responsibility only with a claim-scoped event "
                "naming c at that step",
                no_silent_loss, _t_loss,
                "pressure meets, or a loss hits, a materialized accepted claim"),
        AtomDef(A.PROTECTED_EXCLUSION,
                "while under responsibility, c never loses its predicate to victim selection",
                protected_exclusion, _t_pressure,
                "allocation pressure meets a materialized accepted claim"),
        AtomDef(A.INFEASIBILITY_OUTCOME,
                "when protected + active demand > usable, the active request is refused or "
                "deferred with c in blocking_claim_ids, never served by eviction",
                infeasibility_outcome, _t_infeasible,
                "an infeasible active request is decided"),
        AtomDef(A.RELEASE_BEFORE_LOSS,
                "a demotion / expiry event for c strictly precedes any loss of c's blocks",
                release_before_loss, _t_block_loss, "a claim's blocks are lost"),
        AtomDef(A.RESTORE_BEFORE_REUSE,
                "reuse of an offloaded c consumes state restored from the offload tier, "
                "restored before the reuse",
                restore_before_reuse, _t_reuse_offloaded, "an offloaded claim is reused",
                _restore_state_consistent),
        AtomDef(A.RESTORATION_FAILURE_OUTCOME,
                "a failed restore of c yields a claim-scoped outcome naming c before the "
                "request terminates, and no fallback recompute counts as satisfying c",
                restoration_failure_outcome, _t_failed_restore, "a restore of a claim fails"),
        AtomDef(A.PRIORITY_ORDER,
                "under pressure a higher-priority claim never loses its predicate while a "
                "lower-priority one keeps it",
                priority_order, _t_two_priorities,
                "pressure meets two materialized claims of different priority"),
        AtomDef(A.EXCLUSIVE_ATTRIBUTION,
                "outcomes and blocking lists name only the claims actually involved",
                exclusive_attribution, _t_attribution,
                "an outcome or blocking list is emitted"),
        AtomDef(A.ROUTED_PRESENCE,
                "a request routed for c lands where c's predicate holds (or is restored), "
                "else a claim-scoped outcome names c",
                routed_presence, _t_routed, "a routed request for a claim lands"),
    )
}
