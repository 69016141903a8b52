"""The bounded transition system of DESIGN §5: the base runtime and how primitives attach.

`Encoding` collects, for one row, every formula of the model over a `View`:

* the base relation (a paged KV pool with no features: any move whose guard holds,
  lazy eviction of any unprotected block, no events at all);
* each primitive's constraints and event emissions, guarded by that primitive's
  literal so one solver can switch primitives on and off (proof stages, unsat cores);
* each assumption, guarded by its own literal.

An event slot is true exactly when some enabled primitive emits it (closed world):
what no primitive emits never happens, which is what makes "no event" a refutation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rkvformal.semantics.domain import Primitive
from rkvformal.smt.trace import (
    EVENTS,
    Active,
    Key,
    Move,
    Phase,
    Reuse,
    Source,
    View,
    remembered,
)
from rkvformal.vocab import Assumption

Formula = Any
StepFormula = Callable[[int], Formula]

# Moves that exist only when some primitive provides them.
GATED_MOVES = (Move.OFFLOAD, Move.RESTORE, Move.ROUTE, Move.DEMOTE, Move.EXPIRE)

# The telemetry join's belief about a claim (state; empty without a join).
BELIEF_COUNTS = ("jinr", "jinr_gone", "joutr", "joutr_gone")
BELIEF_FLAGS = ("jmatd", "jnr")

# Default values of event fields when no primitive sets them.
FIELD_DEFAULTS: dict[str, Callable[[int | None], int | bool]] = {
    "ident": lambda c: 0,
    "rf_for": lambda c: c if c is not None else 0,
    "otype": lambda c: 0,
}


@dataclass
class Encoding:
    """All formulas of one row's model, labelled by the literal that switches them."""

    v: View
    lits: dict[str, Any]  # label -> literal (z3 Bool or Python bool)
    constraints: list[tuple[str, Formula]] = field(default_factory=list)
    reasons: dict[Key, list[tuple[str, Formula]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    int_fields: dict[Key, list[tuple[Formula, Formula]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    enablers: dict[Move, list[Any]] = field(default_factory=lambda: defaultdict(list))
    flags: dict[str, list[tuple[Any, Primitive]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    derived: dict[tuple[Any, ...], Formula] = field(default_factory=dict)

    # --- what primitives call ------------------------------------------------
    def require(self, label: str, formula: Formula) -> None:
        self.constraints.append((label, formula))

    def emit(self, label: str, event: str, t: int, c: int | None, reason: Formula) -> None:
        self.reasons[Key(event, t, c)].append((label, self.v.and_(self.lits[label], reason)))

    def set_int(self, label: str, name: str, t: int, c: int | None,
                when: Formula, value: Formula) -> None:
        self.int_fields[Key(name, t, c)].append(
            (self.v.and_(self.lits[label], when), value)
        )

    def enable(self, label: str, move: Move) -> None:
        self.enablers[move].append(self.lits[label])

    def flag(self, label: str, name: str, prim: Primitive) -> None:
        self.flags[name].append((self.lits[label], prim))

    def flagged(self, name: str, when: Callable[[Primitive], Formula] | None = None) -> Formula:
        """Some enabled primitive raised flag `name` (and `when` holds for it)."""
        v = self.v
        if when is None:
            return self._once(("flagged", name),
                              lambda: v.or_(*(lit for lit, _p in self.flags[name])))
        return v.or_(*(v.and_(lit, when(p)) for lit, p in self.flags[name]))

    def _once(self, key: tuple[Any, ...], build: Callable[[], Formula]) -> Formula:
        """A derived formula asked for at every step by the base and by primitives,
        built once (after every primitive declared its flags)."""
        return remembered(self.derived, key, build)

    # --- shared derived notions (read by several primitives and the base) -----
    def protected(self, c: int, t: int) -> Formula:
        """c's blocks cannot be victims at step t (some primitive excludes them)."""
        return self._once(("protected", c, t), lambda: self._protected(c, t))

    def _protected(self, c: int, t: int) -> Formula:
        v = self.v
        return v.or_(
            self.flagged("pin_while_held", lambda p: v.s("held", t, c)),
            self.flagged("pin_ttl", lambda p: v.and_(
                v.s("phase", t, c) == int(Phase.ACCEPTED),
                v.s("age_acc", t, c) < int(p.param("ttl")))),
            self.flagged("exclude_responsible", lambda p: v.resp(c, t)),
        )

    def reverted(self, c: int, t: int) -> Formula:
        """c's retention duration has elapsed, so its native priority fell back."""
        return self._once(("reverted", c, t), lambda: self._reverted(c, t))

    def _reverted(self, c: int, t: int) -> Formula:
        v = self.v
        return self.flagged("revert_priority", lambda p: v.s(
            "age_rel" if p.param("clock") == "from_release" else "age_acc", t, c
        ) >= v.k("D", c))

    def effective_priority(self, c: int, t: int, default: int) -> Formula:
        v = self.v
        return v.ite(self.reverted(c, t), default, v.k("NP", c))


def _in(v: View, x: Formula, *values: int) -> Formula:
    return v.or_(*(x == val for val in values))


def base_constraints(enc: Encoding, initial: bool = True,
                     final_invariants: bool = True) -> list[Formula]:
    """The paged KV pool with no features (always asserted, never a literal).

    `initial=False` leaves step 0 unconstrained (except by the invariants): the window
    of a k-induction step, which may start in any state.  `final_invariants=False`
    leaves the last state free of them, to check that they are inductive."""
    v = enc.v
    K = v.K
    out: list[Formula] = []
    add = out.append

    # constants
    add(v.k("U") >= 1)
    add(v.k("A") >= 1)
    for c in v.claims:
        add(v.k("R", c) >= 1)
        add(v.k("O", c) >= 0)
        add(v.and_(v.k("P", c) >= 0, v.k("P", c) <= 100))
        add(v.k("D", c) >= 1)
        add(v.and_(v.k("NP", c) >= 0, v.k("NP", c) <= 1000))
    # a join receives every block event iff some stream emits them and none may drop them
    add(v.k("EXACT") == v.and_(enc.flagged("join"), enc.flagged("block_stream"),
                               v.not_(enc.flagged("lossy"))))

    if initial:
        out.extend(initial_state(v))
    for t in range(K):
        out.extend(_step(enc, t))
    for t in range(K + 1 if final_invariants else K):
        out.extend(invariants(v, t))
    return out


def initial_state(v: View) -> list[Formula]:
    """An empty pool: no claims, no requests, nothing cached that anybody named."""
    out: list[Formula] = []
    add = out.append
    add(v.s("cached", 0) >= 0)
    add(v.s("free", 0) + v.s("cached", 0) == v.k("U"))
    add(v.define("live", 0, None, 0))
    add(v.define("act", 0, None, int(Active.NONE)))
    add(v.define("failpend", 0, None, False))
    for c in v.claims:
        for name in ("phase", "inr", "outr", "rq", "src", "age_acc", "age_rel", "gen",
                     *BELIEF_COUNTS):
            add(v.define(name, 0, c, 0))
        for name in ("host", "held", "released_hold", "matd", "nr", "routed", "idx", "rfl",
                     *BELIEF_FLAGS):
            add(v.define(name, 0, c, False))
    return out


def invariants(v: View, t: int) -> list[Formula]:
    """Facts the relation already implies, stated so the solver need not rediscover
    them at every depth (block conservation, ranges, live KV of the active request)."""
    pool = v.s("free", t) + v.s("cached", t) + v.s("live", t) + v.sum_(
        v.s("inr", t, c) + v.s("outr", t, c) for c in v.claims)
    running = v.s("act", t) == int(Active.RUNNING)
    out = [
        pool == v.k("U"),
        v.s("free", t) >= 0,
        v.s("cached", t) >= 0,
        v.s("live", t) == v.ite(running, v.k("A"), 0),
    ]
    out.append(v.and_(v.s("act", t) >= 0, v.s("act", t) <= max(Active)))
    for c in v.claims:
        phase, rq = v.s("phase", t, c), v.s("rq", t, c)
        out.append(v.and_(phase >= 0, phase <= max(Phase)))
        out.append(v.and_(rq >= 0, rq <= max(Reuse)))
        out.append(v.and_(v.s("src", t, c) >= 0, v.s("src", t, c) <= max(Source)))
        out.append(v.and_(v.s("inr", t, c) >= 0, v.s("inr", t, c) <= v.k("R", c)))
        out.append(v.and_(v.s("outr", t, c) >= 0, v.s("outr", t, c) <= v.k("O", c)))
        out.append(v.and_(v.s("age_acc", t, c) >= 0, v.s("age_rel", t, c) >= 0))
        unaccepted = v.or_(phase == int(Phase.ABSENT), phase == int(Phase.SUBMITTED))
        out.append(v.implies(unaccepted, v.and_(
            v.s("inr", t, c) + v.s("outr", t, c) == 0, rq == int(Reuse.NONE),
            v.not_(v.s("host", t, c)), v.not_(v.s("held", t, c)),
            v.not_(v.s("matd", t, c)), v.not_(v.s("nr", t, c)), v.not_(v.s("rfl", t, c)),
            v.not_(v.s("released_hold", t, c)), v.s("age_acc", t, c) == 0)))
        out.append(v.implies(v.s("phase", t, c) == int(Phase.ABSENT), v.not_(v.s("routed", t, c))))
        out.append(v.implies(v.s("nr", t, c), v.s("host", t, c)))
        out.append(v.implies(v.s("rfl", t, c),
                             v.or_(rq == int(Reuse.RESTORE_FAILED), rq == int(Reuse.READY))))
        out.extend(_belief_invariants(v, c, t))
    return out


def _belief_invariants(v: View, c: int, t: int) -> list[Formula]:
    """The telemetry join's belief (D2) against the pool: it believes blocks that were
    resident once, a believed block that is gone had its removal dropped, and with
    every block event delivered (EXACT) the belief is the truth."""
    out: list[Formula] = []
    for bel, gone, res, size in (("jinr", "jinr_gone", "inr", v.k("R", c)),
                                 ("joutr", "joutr_gone", "outr", v.k("O", c))):
        b, g, r = v.s(bel, t, c), v.s(gone, t, c), v.s(res, t, c)
        out.append(v.and_(g >= 0, g <= b, b <= size, b - g <= r, g <= size - r))
    phase, host = v.s("phase", t, c), v.s("host", t, c)
    resp, pred, matd = v.resp(c, t), v.pred(c, t), v.s("matd", t, c)
    unaccepted = v.or_(phase == int(Phase.ABSENT), phase == int(Phase.SUBMITTED))
    nothing = v.and_(v.s("inr", t, c) + v.s("outr", t, c) == 0,
                     v.s("jinr", t, c) + v.s("joutr", t, c) == 0)
    out.append(v.implies(unaccepted, v.and_(nothing, v.not_(v.s("jmatd", t, c)),
                                            v.not_(v.s("jnr", t, c)))))
    # under responsibility: resident only after the first materialization, and every
    # loss since harms the claim unless a host copy exists (so nothing believed is gone)
    out.append(v.implies(v.and_(resp, pred), matd))
    out.append(v.implies(v.and_(resp, v.not_(matd)), nothing))
    out.append(v.implies(v.and_(resp, v.not_(host), v.not_(pred)), v.not_(matd)))
    out.append(v.implies(v.and_(resp, v.not_(host)), v.s("jinr_gone", t, c) == 0))
    out.append(v.implies(v.s("jmatd", t, c), matd))
    out.append(v.implies(v.s("jnr", t, c), host))
    out.append(v.implies(v.k("EXACT"), v.and_(
        v.s("jinr", t, c) == v.s("inr", t, c), v.s("jinr_gone", t, c) == 0,
        v.s("joutr", t, c) == v.s("outr", t, c), v.s("joutr_gone", t, c) == 0,
        v.s("jnr", t, c) == v.s("nr", t, c))))
    return out


def _step(enc: Encoding, t: int) -> list[Formula]:
    v = enc.v
    out: list[Formula] = []
    add = out.append
    mv, mc = v.ch("mv", t), v.ch("mc", t)
    legal = [int(m) for m in Move]
    add(v.or_(*(mv == m for m in legal)))
    add(v.and_(mc >= 0, mc <= len(v.claims) - 1))  # a claim slot of the model
    claim_move = v.or_(*(mv == int(m) for m in Move if m.takes_claim))
    add(v.implies(v.not_(claim_move), mc == 0))  # canonical argument for non-claim moves

    # a lossy event stream may drop a step's block events; nothing else drops them
    add(v.implies(v.ch("drop", t), enc.flagged("lossy")))
    # moves that exist only with a primitive
    for m in GATED_MOVES:
        add(v.implies(mv == int(m), v.or_(*enc.enablers.get(m, []))))

    act = v.s("act", t)
    free, cached, live = v.s("free", t), v.s("cached", t), v.s("live", t)
    A = v.k("A")

    # --- guards -----------------------------------------------------------
    add(v.implies(v.move(t, Move.ARRIVE), act == int(Active.NONE)))
    add(v.implies(v.move(t, Move.ADMIT), _in(v, act, Active.WAITING, Active.DEFERRED)))
    add(v.implies(v.move(t, Move.DEFER), act == int(Active.WAITING)))
    add(v.implies(v.move(t, Move.REFUSE), _in(v, act, Active.WAITING, Active.DEFERRED)))
    add(v.implies(v.move(t, Move.PREEMPT), act == int(Active.RUNNING)))
    add(v.implies(v.move(t, Move.FINISH_ACTIVE), act == int(Active.RUNNING)))
    add(v.implies(v.move(t, Move.FAIL_RESTORE), v.not_(v.s("failpend", t))))
    for c in v.claims:
        phase, rq = v.s("phase", t, c), v.s("rq", t, c)
        pred, host = v.pred(c, t), v.s("host", t, c)
        inr, outr = v.s("inr", t, c), v.s("outr", t, c)
        add(v.implies(v.move(t, Move.SUBMIT, c), phase == int(Phase.ABSENT)))
        add(v.implies(v.move(t, Move.ACCEPT, c), phase == int(Phase.SUBMITTED)))
        add(v.implies(v.move(t, Move.FINISH_HOLD, c), v.s("held", t, c)))
        # the claim's own first prefill; later refills go through reuse (restore or
        # recompute), so a host copy cannot be bypassed by "prefilling again"
        add(v.implies(v.move(t, Move.MATERIALIZE, c), v.and_(
            phase == int(Phase.ACCEPTED), rq == int(Reuse.NONE), v.not_(v.s("matd", t, c)),
            inr + outr < v.k("R", c) + v.k("O", c))))
        # claims are submitted for objects that are not yet resident: nothing brings
        # the object into the pool before the claim's own acceptance and prefill
        add(v.implies(v.move(t, Move.REUSE, c), v.and_(
            phase != int(Phase.ABSENT), phase != int(Phase.SUBMITTED),
            rq == int(Reuse.NONE))))
        add(v.implies(v.move(t, Move.ROUTE, c), v.and_(
            v.s("idx", t, c), v.not_(v.s("routed", t, c)), rq == int(Reuse.NONE),
            phase != int(Phase.ABSENT))))
        add(v.implies(v.move(t, Move.OFFLOAD, c), v.and_(pred, v.not_(host))))
        add(v.implies(v.move(t, Move.RESTORE, c), v.and_(
            rq == int(Reuse.PENDING), v.not_(pred), host)))
        add(v.implies(v.move(t, Move.RECOMPUTE, c), v.and_(v.not_(pred), v.or_(
            v.and_(rq == int(Reuse.PENDING), v.not_(host)),
            rq == int(Reuse.RESTORE_FAILED)))))
        add(v.implies(v.move(t, Move.SERVE, c), v.and_(
            pred, _in(v, rq, Reuse.PENDING, Reuse.READY))))
        add(v.implies(v.move(t, Move.FAIL_REUSE, c), v.or_(
            rq == int(Reuse.RESTORE_FAILED),
            v.and_(rq == int(Reuse.PENDING), v.not_(pred)))))
        add(v.implies(v.move(t, Move.DEMOTE, c), phase == int(Phase.ACCEPTED)))
        add(v.implies(v.move(t, Move.EXPIRE, c), phase == int(Phase.ACCEPTED)))

    restore_fails = v.s("failpend", t)
    restore_ok = {c: v.and_(v.move(t, Move.RESTORE, c), v.not_(restore_fails)) for c in v.claims}
    restore_bad = {c: v.and_(v.move(t, Move.RESTORE, c), restore_fails) for c in v.claims}

    # --- allocation with lazy eviction -------------------------------------
    demand = v.ite(v.move(t, Move.ADMIT), A, 0)
    for c in v.claims:
        R, O = v.k("R", c), v.k("O", c)
        inr, outr = v.s("inr", t, c), v.s("outr", t, c)
        demand = v.ite(v.move(t, Move.MATERIALIZE, c), (R - inr) + (O - outr), demand)
        demand = v.ite(v.or_(restore_ok[c], v.move(t, Move.RECOMPUTE, c)), R - inr, demand)
    add(v.define("need", t, None, demand))
    need = v.ch("need", t)
    ev_cached = v.ch("ev_cached", t)
    add(v.and_(ev_cached >= 0, ev_cached <= cached))
    total = ev_cached
    for c in v.claims:
        ev_in, ev_out = v.ch("ev_in", t, c), v.ch("ev_out", t, c)
        add(v.and_(ev_in >= 0, ev_in <= v.s("inr", t, c)))
        add(v.and_(ev_out >= 0, ev_out <= v.s("outr", t, c)))
        add(v.implies(v.or_(v.own_allocation(c, t), enc.protected(c, t)), ev_in + ev_out == 0))
        total = total + ev_in + ev_out
    add(v.ite(free >= need, total == 0, free + total == need))

    # --- next state ------------------------------------------------------------
    n = t + 1
    no_admit = enc.flagged("no_admit")
    finish = v.move(t, Move.FINISH_ACTIVE)
    released_live = v.ite(v.move(t, Move.PREEMPT), live, 0)
    add(v.define("free", n, None, free + total - need + released_live
        + v.ite(v.and_(finish, no_admit), live, 0)))
    add(v.define("cached", n, None, cached - ev_cached
        + v.ite(v.and_(finish, v.not_(no_admit)), live, 0)))
    add(v.define("live", n, None, v.ite(v.move(t, Move.ADMIT), A,
                                v.ite(v.or_(finish, v.move(t, Move.PREEMPT)), 0, live))))
    nxt_act = act
    for m, a in ((Move.ARRIVE, Active.WAITING), (Move.ADMIT, Active.RUNNING),
                 (Move.DEFER, Active.DEFERRED), (Move.REFUSE, Active.REFUSED),
                 (Move.PREEMPT, Active.WAITING), (Move.FINISH_ACTIVE, Active.FINISHED)):
        nxt_act = v.ite(v.move(t, m), int(a), nxt_act)
    add(v.define("act", n, None, nxt_act))
    add(v.define("failpend", n, None, v.ite(v.move(t, Move.FAIL_RESTORE), True,
                                    v.ite(v.or_(*restore_bad.values()), False,
                                          v.s("failpend", t)))))
    tick = v.move(t, Move.TICK)

    for c in v.claims:
        R, O = v.k("R", c), v.k("O", c)
        phase, inr, outr = v.s("phase", t, c), v.s("inr", t, c), v.s("outr", t, c)
        mat = v.move(t, Move.MATERIALIZE, c)
        refill = v.or_(mat, restore_ok[c], v.move(t, Move.RECOMPUTE, c))
        add(v.define("inr", n, c, v.ite(refill, R, inr - v.ch("ev_in", t, c))))
        add(v.define("outr", n, c, v.ite(mat, O, outr - v.ch("ev_out", t, c))))
        host = v.s("host", t, c)
        add(v.define("host", n, c, v.or_(host, v.move(t, Move.OFFLOAD, c))))
        add(v.define("gen", n, c, v.s("gen", t, c) + v.ite(v.move(t, Move.OFFLOAD, c), 1, 0)))
        lost_pred = v.and_(v.pred(c, t), v.not_(v.pred(c, n)))
        nxt_phase = v.ite(v.and_(phase == int(Phase.ACCEPTED), lost_pred, v.not_(host)),
                          int(Phase.HARMED), phase)
        for m, p in ((Move.SUBMIT, Phase.SUBMITTED), (Move.ACCEPT, Phase.ACCEPTED),
                     (Move.DEMOTE, Phase.DEMOTED), (Move.EXPIRE, Phase.EXPIRED)):
            nxt_phase = v.ite(v.move(t, m, c), int(p), nxt_phase)
        add(v.define("phase", n, c, nxt_phase))
        # a request holds c's blocks from the step that writes them (first prefill, or a
        # reuse's restore / recompute) until it finishes
        add(v.define("held", n, c, v.ite(refill, True, v.ite(
            v.move(t, Move.FINISH_HOLD, c), False, v.s("held", t, c)))))
        add(v.define("released_hold", n, c, v.or_(
            v.s("released_hold", t, c), v.move(t, Move.FINISH_HOLD, c))))
        add(v.define("matd", n, c, v.or_(v.s("matd", t, c), v.and_(
            v.s("phase", n, c) == int(Phase.ACCEPTED), v.pred(c, n)))))
        add(v.define("nr", n, c, v.ite(restore_ok[c], False,
                                     v.or_(v.s("nr", t, c), v.and_(lost_pred, host)))))
        rq = v.s("rq", t, c)
        nxt_rq = rq
        for cond, r in ((v.move(t, Move.REUSE, c), Reuse.PENDING),
                        (restore_bad[c], Reuse.RESTORE_FAILED),
                        (restore_ok[c], Reuse.READY),
                        (v.move(t, Move.RECOMPUTE, c), Reuse.READY),
                        (v.move(t, Move.SERVE, c), Reuse.NONE),
                        (v.move(t, Move.FAIL_REUSE, c), Reuse.NONE)):
            nxt_rq = v.ite(cond, int(r), nxt_rq)
        add(v.define("rq", n, c, nxt_rq))
        terminate = v.or_(v.move(t, Move.SERVE, c), v.move(t, Move.FAIL_REUSE, c))
        add(v.define("rfl", n, c, v.ite(restore_bad[c], True,
                                      v.ite(terminate, False, v.s("rfl", t, c)))))
        nxt_src = v.s("src", t, c)
        for cond, s in ((mat, Source.ORIGINAL), (restore_ok[c], Source.RESTORED),
                        (v.move(t, Move.RECOMPUTE, c), Source.RECOMPUTED)):
            nxt_src = v.ite(cond, int(s), nxt_src)
        add(v.define("src", n, c, nxt_src))
        add(v.define("routed", n, c, v.ite(v.move(t, Move.ROUTE, c), True, v.ite(
            v.move(t, Move.REUSE, c), False, v.s("routed", t, c)))))
        # the router's index holds c while no delivered removal took a required block
        # since the last delivered store (found by the simulator cross-check, D1)
        removed_required = v.and_(v.e("blk_removed", t, c), v.ch("ev_in", t, c) > 0)
        add(v.define("idx", n, c, v.ite(v.e("blk_stored", t, c), True, v.ite(
            removed_required, False, v.s("idx", t, c)))))
        out.append(_belief_step(enc, c, t, refill, mat, restore_ok[c]))
        accepted_now = v.s("phase", t, c) != int(Phase.ABSENT)
        accepted_now = v.and_(accepted_now, phase != int(Phase.SUBMITTED))
        add(v.define("age_acc", n, c, v.s("age_acc", t, c)
            + v.ite(v.and_(tick, accepted_now), 1, 0)))
        add(v.define("age_rel", n, c, v.s("age_rel", t, c)
            + v.ite(v.and_(tick, v.s("released_hold", t, c)), 1, 0)))
    return out


def _belief_step(enc: Encoding, c: int, t: int, refill: Formula, mat: Formula,
                 restore_ok: Formula) -> Formula:
    """The telemetry join's belief about c after step t (D2, found by the simulator
    cross-check): only delivered block events change it.  A delivered refill adds the
    blocks it wrote (the range is then believed whole unless a block the join never saw
    stored is still resident); a delivered removal takes its blocks out of the belief,
    a dropped one leaves them believed although gone.  Which victims were believed is
    the victim order's business (positions, not counts), so the model leaves it open
    within what the counts allow.  Without a join nobody believes anything."""
    v, n = enc.v, t + 1
    empty = v.and_(*(v.s(name, n, c) == 0 for name in BELIEF_COUNTS),
                   *(v.not_(v.s(name, n, c)) for name in BELIEF_FLAGS))
    if not enc.flags.get("join"):
        return empty
    out: list[Formula] = []
    stored, removed = v.e("blk_stored", t, c), v.e("blk_removed", t, c)
    for bel, gone, res, size, ev, refilled in (
            ("jinr", "jinr_gone", "inr", v.k("R", c), "ev_in", refill),
            ("joutr", "joutr_gone", "outr", v.k("O", c), "ev_out", mat)):
        b, g, b_n, g_n = v.s(bel, t, c), v.s(gone, t, c), v.s(bel, n, c), v.s(gone, n, c)
        here, here_n = b - g, b_n - g_n  # believed and resident
        written = v.and_(g_n == 0, b_n == v.ite(stored, here + size - v.s(res, t, c), b))
        taken = v.and_(here_n <= here, here_n >= here - v.ch(ev, t, c), here_n >= 0,
                       here_n <= v.s(res, n, c), v.ite(removed, g_n == g, b_n == b))
        out.append(v.ite(refilled, written, taken))
    out.append(v.s("jmatd", n, c) == v.or_(v.s("jmatd", t, c), v.and_(
        stored, v.believed(c, n), v.s("phase", n, c) == int(Phase.ACCEPTED))))
    out.append(v.s("jnr", n, c) == v.ite(restore_ok, False, v.or_(
        v.s("jnr", t, c), v.and_(v.believed_loss(c, t), v.s("host", t, c), removed))))
    return v.ite(enc.flagged("join"), v.and_(*out), empty)


def event_definitions(enc: Encoding) -> list[Formula]:
    """Closed world: each event slot is exactly the disjunction of its emitters (a
    definition: an event no formula has read yet is inlined, `View.define`)."""
    v = enc.v
    out: list[Formula] = []
    for t in range(v.K):
        for name, (kind, per_claim) in EVENTS.items():
            for c in (v.claims if per_claim else (None,)):
                key = Key(name, t, c)
                if kind == "bool":
                    emitters = (r for _label, r in enc.reasons.get(key, []))
                    out.append(v.define(name, t, c, v.or_(*emitters)))
                else:
                    value: Formula = FIELD_DEFAULTS[name](c)
                    for when, val in reversed(enc.int_fields.get(key, [])):
                        value = v.ite(when, val, value)
                    out.append(v.define(name, t, c, value))
    return out


def assumption_constraints(v: View, assumption: Assumption) -> list[Formula]:
    """Controlled pressure: each assumption restricts the environment only."""
    out: list[Formula] = []
    steps = range(v.K)
    if assumption is Assumption.PRESSURE_WITHIN_DURATION:
        for t in range(v.K + 1):
            for c in v.claims:
                out.append(v.s("age_rel", t, c) < v.k("D", c))
                out.append(v.s("age_acc", t, c) < v.k("D", c))
    elif assumption is Assumption.FEASIBLE_DEMAND:
        out.append(v.k("A") + v.sum_(v.k("R", c) for c in v.claims) <= v.k("U"))
    elif assumption is Assumption.NO_RESTORE_FAILURE:
        out.extend(v.not_(v.move(t, Move.FAIL_RESTORE)) for t in steps)
    elif assumption is Assumption.NO_EVENT_LOSS:
        out.extend(v.not_(v.ch("drop", t)) for t in steps)
    elif assumption is Assumption.SINGLE_CLAIM:
        out.extend(v.not_(v.move(t, Move.SUBMIT, 1)) for t in steps)
    return out
