"""The vocabulary of a bounded trace, and two ways to read one.

A trace has K steps.  State variables exist at steps 0..K, choices and events at the
transitions 0..K-1 (the move at step t takes state t to state t+1 and emits the
events of step t).  Every formula of the model (the base transition relation, each
primitive, each obligation) is written once against the `View` interface and can then
be read two ways:

* `SymbolicView`: every name is a Z3 term (a variable, or the term the base relation
  defines it as, `SymbolicView.define`); formulas are Z3 terms (proving).
* `ConcreteView`: every name has a value; formulas are Python bools (evaluating a
  counterexample or a replayed trace, and checking that the two readings agree).

Only `+ - == < <=` and the View's `and_/or_/not_/implies/ite` may be used on values,
so the same Python function builds a Z3 term or computes a bool.
"""

from __future__ import annotations

import ctypes
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from enum import IntEnum
from typing import Any, NamedTuple

import z3
from z3 import z3core

from rkvformal.smt import capi

CLAIMS = (0, 1)  # two claim slots: enough for priority order and attribution


class Move(IntEnum):
    """One move per step.  Environment moves first, runtime moves from 10."""

    IDLE = 0
    SUBMIT = 1  # the client hands claim c to the runtime stack
    ARRIVE = 2  # the active request arrives with demand A
    FINISH_HOLD = 3  # claim c's own request finishes: its blocks are no longer in use
    TICK = 4  # time passes (durations and TTLs count ticks)
    REUSE = 5  # a request that reuses claim c lands on the runtime
    FAIL_RESTORE = 6  # fault injection: the next restore from the host tier fails
    ROUTE = 7  # the router sends a reuse request for claim c towards this worker
    FINISH_ACTIVE = 8  # the active request completes
    ACCEPT = 10
    MATERIALIZE = 11  # prefill claim c's object into the GPU pool
    ADMIT = 12  # serve the active request: allocate its live blocks
    DEFER = 13
    REFUSE = 14
    PREEMPT = 15  # pause the running active request, freeing its live blocks
    OFFLOAD = 16  # copy claim c's required range to the host tier
    RESTORE = 17  # bring claim c back from the host tier for a reuse
    RECOMPUTE = 18  # recompute claim c's required range from tokens
    SERVE = 19  # the reuse request consumes claim c's resident KV
    FAIL_REUSE = 20  # the reuse request ends with an error
    DEMOTE = 21
    EXPIRE = 22

    @property
    def is_environment(self) -> bool:
        return self.value < 10

    @property
    def takes_claim(self) -> bool:
        return self in CLAIM_MOVES


CLAIM_MOVES = frozenset(
    {
        Move.SUBMIT, Move.FINISH_HOLD, Move.REUSE, Move.ROUTE, Move.ACCEPT,
        Move.MATERIALIZE, Move.OFFLOAD, Move.RESTORE, Move.RECOMPUTE, Move.SERVE,
        Move.FAIL_REUSE, Move.DEMOTE, Move.EXPIRE,
    }
)
ALLOCATING_MOVES = (Move.MATERIALIZE, Move.ADMIT, Move.RESTORE, Move.RECOMPUTE)


class Phase(IntEnum):
    ABSENT = 0
    SUBMITTED = 1
    ACCEPTED = 2  # under responsibility (materialized or not)
    DEMOTED = 3
    EXPIRED = 4
    HARMED = 5


class Active(IntEnum):
    NONE = 0
    WAITING = 1
    RUNNING = 2
    DEFERRED = 3
    REFUSED = 4
    FINISHED = 5


class Reuse(IntEnum):
    NONE = 0
    PENDING = 1  # landed, not yet handled
    RESTORE_FAILED = 2  # a restore was attempted and failed
    READY = 3  # resident again (restored or recomputed), about to be served


class Source(IntEnum):
    ORIGINAL = 0
    RESTORED = 1
    RECOMPUTED = 2


class OutcomeType(IntEnum):
    REFUSAL = 0
    DEMOTION = 1
    EXPIRY = 2
    HARM = 3


# name -> (kind, per_claim).  kind: "int" or "bool".
CONSTANTS: dict[str, tuple[str, bool]] = {
    "U": ("int", False),  # usable blocks
    "A": ("int", False),  # active request's live demand
    "R": ("int", True),  # required range of the predicate (blocks)
    "O": ("int", True),  # blocks of the object outside the required range
    "P": ("int", True),  # the claim's priority (client side)
    "D": ("int", True),  # the claim's duration in ticks
    "NP": ("int", True),  # native eviction priority the runtime gives c's blocks
    # every block event reaches a join: some block-event stream is on and none is lossy
    # (fixed by the row's primitives; lets the invariants say the join's belief is exact)
    "EXACT": ("bool", False),
}

STATE: dict[str, tuple[str, bool]] = {
    "free": ("int", False),
    "cached": ("int", False),  # unclaimed cached blocks (evictable filler)
    "live": ("int", False),
    "act": ("int", False),
    "phase": ("int", True),
    "inr": ("int", True),  # resident blocks of the required range
    "outr": ("int", True),  # resident blocks outside the required range
    "host": ("bool", True),  # the host tier holds a copy of the required range
    "held": ("bool", True),  # c's own request is running
    "released_hold": ("bool", True),  # c's request has finished at least once
    "matd": ("bool", True),  # the predicate has held while under responsibility
    "nr": ("bool", True),  # GPU copy lost while the host copy was the state: needs restore
    "rq": ("int", True),  # reuse request state (Reuse)
    "src": ("int", True),  # where the resident required range came from (Source)
    "routed": ("bool", True),
    "idx": ("bool", True),  # router belief: c is present here
    "age_acc": ("int", True),  # ticks since acceptance
    "age_rel": ("int", True),  # ticks since c's request released its blocks
    "failpend": ("bool", False),
    "rfl": ("bool", True),  # a restore of c failed for the reuse request in flight
    "gen": ("int", True),  # offload generation
    # what a telemetry join believes about c, built only from the block events delivered
    # to it (D2): the counts it would read off c's hash chain, and its own announcements
    "jinr": ("int", True),  # required blocks the join believes resident
    "jinr_gone": ("int", True),  # of those, blocks no longer resident (removal dropped)
    "joutr": ("int", True),  # other blocks the join believes resident
    "joutr_gone": ("int", True),  # of those, blocks no longer resident (removal dropped)
    "jmatd": ("bool", True),  # a predicate join has announced c's materialization
    "jnr": ("bool", True),  # the join saw c lose its range with a host copy: restore needed
}

CHOICES: dict[str, tuple[str, bool]] = {
    "mv": ("int", False),
    "mc": ("int", False),  # the claim a claim move acts on
    "need": ("int", False),  # blocks the move allocates
    "ev_cached": ("int", False),  # victims taken from unclaimed cached blocks
    "ev_in": ("int", True),  # victims taken from c's required range
    "ev_out": ("int", True),  # victims taken from c's other blocks
    "drop": ("bool", False),  # a lossy event stream drops this step's block events
}


# Claim-scoped events (per claim).  The schema name each renders as is in EVENT_NAMES.
CLAIM_EVENTS = (
    "accepted", "materialized", "harmed", "demoted", "expired", "offloaded",
    "restore_required", "restored", "reuse_after_restore", "restoration_failed",
    "outcome", "lost_after_release",
)
# Runtime events about c's blocks that do not name a claim unless joined.
BLOCK_EVENTS = ("blk_stored", "blk_removed", "generic_offload")
# Events about the active request (not per claim).
ACTIVE_EVENTS = ("admitted", "deferred", "refused", "future_admitted", "future_denied")

EVENTS: dict[str, tuple[str, bool]] = {
    **{name: ("bool", True) for name in CLAIM_EVENTS},
    **{name: ("bool", True) for name in BLOCK_EVENTS},
    **{name: ("bool", False) for name in ACTIVE_EVENTS},
    "named": ("bool", True),  # c's block events carry c's claim id (joined)
    "ident": ("int", True),  # identity tuple version carried by c's claim events
    "blocking": ("bool", True),  # c is listed in this step's blocking_claim_ids
    "rf_for": ("int", True),  # outcome_claim_id on c's restoration_failed event
    "restored_from_tier": ("bool", True),  # c's restored event says source offload_tier
    "otype": ("int", True),  # claim_scoped_outcome_type of c's failure outcome (OutcomeType)
}

EVENT_NAMES = {
    "accepted": "resident_claim_accepted",
    "materialized": "resident_claim_materialized",
    "harmed": "resident_claim_harmed",
    "demoted": "resident_claim_demoted",
    "expired": "resident_claim_expired",
    "offloaded": "resident_claim_offloaded",
    "restore_required": "resident_claim_restore_required",
    "restored": "resident_claim_restored",
    "reuse_after_restore": "resident_claim_reuse_after_restore",
    "restoration_failed": "resident_claim_restoration_failed",
    "outcome": "resident_claim_outcome",
    "lost_after_release": "resident_claim_block_lost_after_release",
    "blk_stored": "BlockStored",
    "blk_removed": "BlockRemoved",
    "generic_offload": "generic_kv_blocks_offloaded",
    "admitted": "active_request_admitted",
    "deferred": "active_request_deferred",
    "refused": "active_request_refused",
    "future_admitted": "future_reuse_admitted",
    "future_denied": "future_reuse_denied",
}

# Event fields (not events themselves).
EVENT_FIELDS = ("named", "ident", "blocking", "rf_for", "restored_from_tier", "otype")


class Key(NamedTuple):
    """A name of a trace: what, at which step (None: a constant), for which claim slot
    (None: not per claim).  A tuple, because a row's model looks names up some 10^5
    times."""

    name: str
    t: int | None
    c: int | None


class View(ABC):
    """Read access to a trace plus the logic connectives of its reading."""

    K: int
    claims: tuple[int, ...] = CLAIMS  # the claim slots (a model parameter; 2 by default)

    # --- connectives -------------------------------------------------------
    @abstractmethod
    def and_(self, *xs: Any) -> Any: ...

    @abstractmethod
    def or_(self, *xs: Any) -> Any: ...

    @abstractmethod
    def not_(self, x: Any) -> Any: ...

    @abstractmethod
    def ite(self, cond: Any, then: Any, other: Any) -> Any: ...

    def implies(self, a: Any, b: Any) -> Any:
        return self.or_(self.not_(a), b)

    def sum_(self, xs: Iterable[Any]) -> Any:
        total: Any = 0
        for x in xs:
            total = total + x
        return total

    # --- names -------------------------------------------------------------
    @abstractmethod
    def value(self, key: Key) -> Any: ...

    def k(self, name: str, c: int | None = None) -> Any:
        return self.value(Key(name, None, c))

    def s(self, name: str, t: int, c: int | None = None) -> Any:
        return self.value(Key(name, t, c))

    def ch(self, name: str, t: int, c: int | None = None) -> Any:
        return self.value(Key(name, t, c))

    def e(self, name: str, t: int, c: int | None = None) -> Any:
        return self.value(Key(name, t, c))

    def define(self, name: str, t: int, c: int | None, value: Any) -> Any:
        """The formula `name@t#c == value` for a name the model determines (a next
        state, a step's demand, an event).  A concrete reading checks it; a symbolic
        one may instead take `value` as the name's term from here on (see
        `SymbolicView.define`)."""
        return self.value(Key(name, t, c)) == value

    # --- derived vocabulary shared by the base relation, primitives and atoms --
    def move(self, t: int, m: Move, c: int | None = None) -> Any:
        if c is None:
            return self.ch("mv", t) == int(m)
        return self.and_(self.move(t, m), self.ch("mc", t) == c)

    def pred(self, c: int, t: int) -> Any:
        """The materialization predicate: the fixed required range is fully resident."""
        return self.s("inr", t, c) == self.k("R", c)

    def resp(self, c: int, t: int) -> Any:
        """Under responsibility: accepted and not released or harmed."""
        return self.s("phase", t, c) == int(Phase.ACCEPTED)

    def loss(self, c: int, t: int) -> Any:
        """The predicate goes true -> false at step t."""
        return self.and_(self.pred(c, t), self.not_(self.pred(c, t + 1)))

    def believed(self, c: int, t: int) -> Any:
        """A telemetry join believes the predicate holds: the block events it received
        cover the required range (true or not: a dropped event leaves it out of date)."""
        return self.s("jinr", t, c) == self.k("R", c)

    def believed_loss(self, c: int, t: int) -> Any:
        """The join's belief in the predicate goes true -> false at step t."""
        return self.and_(self.believed(c, t), self.not_(self.believed(c, t + 1)))

    def lost_blocks(self, c: int, t: int) -> Any:
        """Some of c's required blocks leave the GPU at step t."""
        return self.s("inr", t + 1, c) < self.s("inr", t, c)

    def own_allocation(self, c: int, t: int) -> Any:
        """Step t allocates blocks for claim c itself (prefill, restore, recompute)."""
        return self.or_(*(self.move(t, m, c) for m in ALLOCATING_MOVES if m is not Move.ADMIT))

    def victims(self, c: int, t: int) -> Any:
        return self.ch("ev_in", t, c) + self.ch("ev_out", t, c)

    def any_step(self, lo: int, hi: int, f: Callable[[int], Any]) -> Any:
        """f(t') for some lo <= t' < hi."""
        return self.or_(*(f(u) for u in range(max(lo, 0), min(hi, self.K))))

    def seen(self, event: str, c: int | None, t: int) -> Any:
        """`event` (for c) was emitted at some step <= t; false for t < 0."""
        return self.ever(f"seen:{event}", c, t, lambda u: self.e(event, u, c))

    def ever(self, tag: str, c: int | None, t: int, f: Callable[[int], Any]) -> Any:
        """f(u) held at some step u <= t (history).  `tag` names f, so a symbolic
        reading can keep the history as state (needed for k-induction)."""
        return self.any_step(0, t + 1, f)

    def before(self, event: str, c: int | None, t: int) -> Any:
        """`event` (for c) was emitted at some step < t: the history a state at step t
        carries (what a strengthening lemma speaks of)."""
        return self.seen(event, c, t - 1)

    def claim_scoped(self, c: int, t: int, exclude: tuple[str, ...] = ()) -> Any:
        """Some claim-scoped event names c at step t."""
        return self.or_(*(self.e(n, t, c) for n in CLAIM_EVENTS if n not in exclude))

    def other(self, c: int) -> int:
        """The other slot of a two-slot model."""
        return 1 - c

    def others(self, c: int) -> tuple[int, ...]:
        return tuple(o for o in self.claims if o != c)

    def any_other(self, c: int, f: Callable[[int], Any]) -> Any:
        """f(o) for some other claim o (with two slots: exactly f(other), the same term)."""
        terms = [f(o) for o in self.others(c)]
        return terms[0] if len(terms) == 1 else self.or_(*terms)


def remembered(cache: dict[Any, Any], key: Any, build: Callable[[], Any]) -> Any:
    """`cache[key]`, built by `build()` the first time it is asked for."""
    made = cache.get(key)
    if made is None:
        made = cache[key] = build()
    return made


def _sort(kind: str, ctx: z3.Context) -> z3.SortRef:
    return z3.IntSort(ctx) if kind == "int" else z3.BoolSort(ctx)


SCHEMA: dict[str, tuple[str, bool, str]] = {
    **{n: (k, pc, "const") for n, (k, pc) in CONSTANTS.items()},
    **{n: (k, pc, "state") for n, (k, pc) in STATE.items()},
    **{n: (k, pc, "choice") for n, (k, pc) in CHOICES.items()},
    **{n: (k, pc, "event") for n, (k, pc) in EVENTS.items()},
}


def all_keys(K: int, claims: tuple[int, ...] = CLAIMS) -> list[Key]:
    """Every variable of a K-step trace, in a fixed order."""
    keys: list[Key] = []
    for name, (_kind, per_claim, role) in SCHEMA.items():
        steps: Iterable[int | None]
        if role == "const":
            steps = (None,)
        elif role == "state":
            steps = range(K + 1)
        else:
            steps = range(K)
        for t in steps:
            for c in (claims if per_claim else (None,)):
                keys.append(Key(name, t, c))
    return keys


_INC_REF, _DEC_REF = capi.inc_ref, capi.dec_ref


class _Term:
    """Reference counting for the terms below through `capi`: a row's model makes some
    10^5 term objects, and z3.py counts each one's references through its own
    bindings (docs/BENCHMARKS.md, session 9)."""

    __slots__ = ()

    def __init__(self, ast: Any, ctx: z3.Context) -> None:
        if not ast:  # (a null term: Z3 refused to build it)
            raise capi.error(ctx.ref())
        # (the attributes of the z3.py class this is mixed into, which has them)
        self.ast, self.ctx = ast, ctx  # type: ignore[misc]
        _INC_REF(ctx.ctx, ast)

    def __del__(self) -> None:
        if self.ast is not None and self.ctx.ctx is not None and _DEC_REF is not None:
            _DEC_REF(self.ctx.ctx, self.ast)
            self.ast = None


class _Bool(_Term, z3.BoolRef):
    """A Boolean term whose `==` calls Z3's C API directly (z3.py's operators coerce
    and re-check both operands on every call; the term built is the same)."""

    def __eq__(self, other: Any) -> Any:
        if isinstance(other, z3.BoolRef):
            return _Bool(capi.mk_eq(self.ctx.ref(), self.ast, other.ast), self.ctx)
        return super().__eq__(other)

    __hash__ = z3.BoolRef.__hash__


def _operand(a: z3.ArithRef, b: Any) -> Any:
    """b as an Int term of a's context, or None where z3.py must decide (a Real, a
    Python bool, anything else)."""
    cls = b.__class__
    if cls is _Int:
        return b.ast
    if cls is not int and cls is not bool and isinstance(b, int):
        b, cls = int(b), int  # an IntEnum member (a phase, a move): its number
    if cls is int:
        ref = a.ctx.ref()
        return capi.made(capi.mk_numeral(ref, str(b).encode(), capi.get_sort(ref, a.ast)),
                         ref)
    if isinstance(b, z3.ArithRef) and b.is_int():
        return b.ast
    return None


def _arith(name: str, make: Callable[..., Any], swap: bool = False,
           boolean: bool = False) -> Any:
    """An Int operator taking an argument array (`+`, `-`; `!=` as `distinct`, a
    Boolean term) on the C API, as z3.py builds it (`swap`: reflected)."""
    fallback = getattr(z3.ArithRef, name)

    def op(self: _Int, other: Any) -> Any:
        b = _operand(self, other)
        if b is None:
            return fallback(self, other)
        args = (z3.Ast * 2)(b, self.ast) if swap else (z3.Ast * 2)(self.ast, b)
        return (_Bool if boolean else _Int)(make(self.ctx.ref(), 2, args), self.ctx)

    return op


def _compare(name: str, make: Callable[..., Any]) -> Any:
    """An Int comparison (`<`, `<=`, `>`, `>=`, `==`) on the C API, as z3.py builds it."""
    fallback = getattr(z3.ArithRef, name)

    def op(self: _Int, other: Any) -> Any:
        b = _operand(self, other)
        if b is None:
            return fallback(self, other)
        return _Bool(make(self.ctx.ref(), self.ast, b), self.ctx)

    return op


class _Int(_Term, z3.ArithRef):
    """An integer term whose comparisons and sums with Python ints and integer terms
    call Z3's C API directly: a row builds some 10^5 of them, and z3.py's operators
    coerce and re-check both operands each time.  The terms are exactly the ones z3.py
    would build (the same C calls on the same arguments, numerals made from the same
    decimal text), so the solver sees the same problem (checked by hashing every row's
    solver input, docs/BENCHMARKS.md)."""

    __add__ = _arith("__add__", capi.mk_add)
    __radd__ = _arith("__radd__", capi.mk_add, swap=True)
    __sub__ = _arith("__sub__", capi.mk_sub)
    __rsub__ = _arith("__rsub__", capi.mk_sub, swap=True)
    __lt__ = _compare("__lt__", capi.mk_lt)
    __le__ = _compare("__le__", capi.mk_le)
    __gt__ = _compare("__gt__", capi.mk_gt)
    __ge__ = _compare("__ge__", capi.mk_ge)
    __eq__ = _compare("__eq__", capi.mk_eq)
    __ne__ = _arith("__ne__", capi.mk_distinct, boolean=True)

    __hash__ = z3.ArithRef.__hash__


class SymbolicView(View):
    """Every name is a Z3 constant created on first use, unless it was defined first
    (`define`): then it is its defining term."""

    def __init__(self, K: int, ctx: z3.Context | None = None, prefix: str = "",
                 claims: int = len(CLAIMS)) -> None:
        self.K = K
        self.claims = tuple(range(claims))
        # a private context per model: Z3's answers then depend only on this model,
        # not on what else the process proved before (deterministic output)
        self.ctx = ctx if ctx is not None else z3.Context()
        self._ref = self.ctx.ref()
        self._values: dict[tuple[type, int], Any] = {}
        self._sorts: dict[str, z3.SortRef] = {}  # "int", "bool": the sorts of names
        self.prefix = prefix
        # (keyed by `Key`s, found by plain tuples too: a Key equals its tuple)
        self.vars: dict[tuple[str, int | None, int | None], Any] = {}
        self._chains: dict[tuple[str, int | None], list[Any]] = {}
        self.history_init: list[Any] = []  # H(0) = false, for traces from the initial state
        self._derived: dict[tuple[Any, ...], Any] = {}
        self.defined: dict[Key, Any] = {}  # names whose term is their definition
        self.equated: list[Key] = []  # names defined after a formula read their variable
        self._pack: tuple[list[Key], Any] | None = None  # see packed_trace

    # The connectives call Z3's C API directly: a row builds some 10^5 of them, and
    # z3.And/Or/If/Not spend 5-10x longer checking and coercing their arguments than
    # Z3 takes to build the term.  The terms are exactly the ones z3.py would build
    # (the same C calls on the same arguments), so the solver sees the same problem.
    # (Python bools are folded away; most calls have none, which one C-level pass over
    # the arguments' types tells, at a quarter of the cost of looking for them)
    def and_(self, *xs: Any) -> Any:
        if bool in set(map(type, xs)):
            xs = tuple(x for x in xs if x is not True)
            if any(x is False for x in xs):
                return self._value_term(False)
        return self._nary(capi.mk_and, xs) if xs else self._value_term(True)

    def or_(self, *xs: Any) -> Any:
        if bool in set(map(type, xs)):
            xs = tuple(x for x in xs if x is not False)
            if any(x is True for x in xs):
                return self._value_term(True)
        return self._nary(capi.mk_or, xs) if xs else self._value_term(False)

    def not_(self, x: Any) -> Any:
        if isinstance(x, bool):
            return self._value_term(not x)
        return _Bool(capi.mk_not(self._ref, x.as_ast()), self.ctx)

    def ite(self, cond: Any, then: Any, other: Any) -> Any:
        if isinstance(cond, z3.BoolRef):
            then, other = self._value_term(then), self._value_term(other)
            for kind, made in ((z3.BoolRef, _Bool), (z3.ArithRef, _Int)):
                if isinstance(then, kind) and isinstance(other, kind):
                    term = capi.mk_ite(self._ref, cond.as_ast(), then.as_ast(),
                                       other.as_ast())
                    return made(term, self.ctx)
        return z3.If(cond, then, other)  # anything else: let z3 coerce it

    def _value_term(self, x: Any) -> Any:
        """A Python bool or int as the Z3 value z3.If would make of it (built once)."""
        if not isinstance(x, (bool, int)):
            return x
        key = (type(x), int(x))
        term = self._values.get(key)
        if term is None:
            made = z3.BoolVal(x, self.ctx) if isinstance(x, bool) else z3.IntVal(x, self.ctx)
            term = self._values[key] = (_Bool if isinstance(x, bool) else _Int)(
                made.as_ast(), self.ctx)
        return term

    def _nary(self, make: Callable[..., Any], xs: tuple[Any, ...]) -> Any:
        n = len(xs)
        return _Bool(make(self._ref, n, (z3.Ast * n)(*[x.ast for x in xs])), self.ctx)

    def ever(self, tag: str, c: int | None, t: int, f: Callable[[int], Any]) -> Any:
        """History as state: H(u) = "f held before step u", with H(u+1) = H(u) or f(u)
        (a term, not a variable: inlined like `define`).

        H(0) is a variable: false from the initial state (`history_init`) and free in an
        induction window, which is what lets a window start in an arbitrary reachable
        state."""
        if t < 0:
            return z3.BoolVal(False, self.ctx)
        t = min(t, self.K - 1)
        return self._once(("ever", tag, c, t), lambda: self.or_(self._history(tag, c, f, t), f(t)))

    def before(self, event: str, c: int | None, t: int) -> Any:
        """The history itself (H(t) of `seen`'s chain), so that at the first step of an
        induction window it is the free history the window starts with."""
        return self._history(f"seen:{event}", c, lambda u: self.e(event, u, c),
                             min(t, self.K - 1))

    def _history(self, tag: str, c: int | None, f: Callable[[int], Any], t: int) -> Any:
        key = (tag, c)
        chain = self._chains.get(key)
        if chain is None:
            chain = [z3.Bool(f"{self.prefix}hist:{tag}@0#{c}", self.ctx)]
            self._chains[key] = chain
            self.history_init.append(z3.Not(chain[0]))
        while len(chain) <= t:  # H(u+1) is its definition (as SymbolicView.define)
            u = len(chain) - 1
            chain.append(self.or_(chain[u], f(u)))
        return chain[t]

    # derived terms asked for thousands of times while a row is encoded: built once
    # (Z3 shares equal terms anyway, so the formulas are the same; this saves Python)
    def _once(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        return remembered(self._derived, key, build)

    def move(self, t: int, m: Move, c: int | None = None) -> Any:
        return self._once(("move", t, m, c), lambda: View.move(self, t, m, c))

    def pred(self, c: int, t: int) -> Any:
        return self._once(("pred", c, t), lambda: View.pred(self, c, t))

    def resp(self, c: int, t: int) -> Any:
        return self._once(("resp", c, t), lambda: View.resp(self, c, t))

    def name(self, key: Key) -> str:
        """The Z3 name of a variable (the solver's models are read back by it)."""
        label = self.prefix + key.name
        if key.t is not None:
            label += f"@{key.t}"
        if key.c is not None:
            label += f"#c{key.c}"
        return label

    def define(self, name: str, t: int, c: int | None, value: Any) -> Any:
        """Inline a definition: from here on the name *is* `value` (a term over earlier
        names), so the solver never sees a variable and an equation for it.  This is
        Z3's solve-eqs done once while the model is built, where Z3 cannot do it: with
        literals as assumptions its incremental solver keeps every variable, and the
        checks then cost 1.6-1.8x more (docs/BENCHMARKS.md).  A name already handed
        out as a variable keeps it and gets the equation (still the same model); models
        give a defined name's value by evaluating its term (`concretize`)."""
        key = Key(name, t, c)
        if key in self.vars:
            self.equated.append(key)
            return View.define(self, name, t, c, value)
        term = self._value_term(value)
        kind = SCHEMA[name][0]
        cls = term.__class__  # (the terms built here say their sort by their class)
        fits = (cls is _Int or (cls is not _Bool and isinstance(term, z3.ArithRef)
                and term.is_int())) if kind == "int" else isinstance(term, z3.BoolRef)
        if not fits:
            raise TypeError(f"{self.name(key)} is {kind}, defined as {term.sort()}")
        term = (_Int if kind == "int" else _Bool)(term.as_ast(), self.ctx)
        self.vars[key] = self.defined[key] = term
        return True

    def packed_trace(self) -> tuple[list[Key], Any]:
        """Every name of the trace (`all_keys`) as one argument of a single constructor
        term, so that one model evaluation reads a whole trace.  Defined names are
        terms over the history below them: evaluated one at a time, a K-step trace
        would cost K^2; and printing the model to parse its constants back costs more
        than this evaluation."""
        if self._pack is None:
            keys = all_keys(self.K, self.claims)
            terms = [self.value(key) for key in keys]
            ref, n = self._ref, len(keys)
            symbol, sort_of = capi.mk_int_symbol, capi.get_sort
            fields = (z3.Symbol * n)(*[symbol(ref, i) for i in range(n)])
            sorts = (z3.Sort * n)(*[sort_of(ref, t.ast) for t in terms])
            name = f"{self.prefix}trace"
            made = z3core.Z3_mk_constructor(
                ref, z3core.Z3_mk_string_symbol(ref, name),
                z3core.Z3_mk_string_symbol(ref, "is-" + name), n, fields, sorts,
                (ctypes.c_uint * n)())
            sort = z3.SortRef(z3core.Z3_mk_datatype(
                ref, z3core.Z3_mk_string_symbol(ref, name), 1, (z3.Constructor * 1)(made)),
                self.ctx)
            z3core.Z3_del_constructor(ref, made)
            pack = z3.FuncDeclRef(z3core.Z3_get_datatype_sort_constructor(ref, sort.ast, 0),
                                  self.ctx)
            args = (z3.Ast * n)(*(t.as_ast() for t in terms))
            self._pack = keys, z3.ExprRef(z3core.Z3_mk_app(ref, pack.ast, n, args), self.ctx)
        return self._pack

    # A name already made is found by a plain tuple, which equals its `Key` (a row's
    # model asks for names some 10^5 times; making a `Key` costs a Python call).
    def k(self, name: str, c: int | None = None) -> Any:
        var = self.vars.get((name, None, c))
        return var if var is not None else self.value(Key(name, None, c))

    def s(self, name: str, t: int, c: int | None = None) -> Any:
        var = self.vars.get((name, t, c))
        return var if var is not None else self.value(Key(name, t, c))

    ch = e = s

    def value(self, key: Key) -> Any:
        var = self.vars.get(key)
        if var is None:
            kind, ref = SCHEMA[key.name][0], self._ref
            sort = self._sorts.get(kind)
            if sort is None:
                sort = self._sorts[kind] = _sort(kind, self.ctx)  # (held: made once)
            name = capi.mk_string_symbol(ref, self.name(key).encode())
            var = self.vars[key] = (_Int if kind == "int" else _Bool)(
                capi.mk_const(ref, name, sort.ast), self.ctx)
        return var


class ConcreteLogic(View):
    """The connectives of a concrete reading: formulas are Python bools."""

    def and_(self, *xs: Any) -> Any:
        return all(bool(x) for x in xs)

    def or_(self, *xs: Any) -> Any:
        return any(bool(x) for x in xs)

    def not_(self, x: Any) -> Any:
        return not bool(x)

    def ite(self, cond: Any, then: Any, other: Any) -> Any:
        return then if cond else other


class ConcreteView(ConcreteLogic):
    """Every name has a Python value (from a Z3 model, a simulator run or a test)."""

    def __init__(self, K: int, values: Mapping[Key, int | bool],
                 claims: tuple[int, ...] = CLAIMS) -> None:
        self.K = K
        self.values = values
        self.claims = claims
        self._ever: dict[tuple[str, int | None], list[bool]] = {}

    def value(self, key: Key) -> Any:
        return self.values[key]

    # (a plain tuple equals its `Key`: a trace is read some 10^5 times while the
    # obligations are evaluated on it, and making a `Key` costs a Python call)
    def k(self, name: str, c: int | None = None) -> Any:
        return self.values[(name, None, c)]  # type: ignore[index]

    def s(self, name: str, t: int, c: int | None = None) -> Any:
        return self.values[(name, t, c)]  # type: ignore[index]

    ch = e = s

    def ever(self, tag: str, c: int | None, t: int, f: Callable[[int], Any]) -> Any:
        """As View.ever, remembered per (tag, c) (the tag names f): one trace is read
        many times (first violations, triggers), and every reading asks every prefix."""
        if t < 0:
            return False
        known = self._ever.setdefault((tag, c), [])
        while len(known) <= min(t, self.K - 1):
            known.append((known[-1] if known else False) or bool(f(len(known))))
        return known[min(t, self.K - 1)]


def concretize(view: SymbolicView, model: z3.ModelRef) -> ConcreteView:
    """Read every name of a K-step trace out of a Z3 model, in one evaluation.  A
    constant the model leaves out is unconstrained: it reads as Z3's model completion
    makes it (0, false); a defined name (`SymbolicView.define`) is its term's value."""
    keys, packed = view.packed_trace()
    ref, out = view.ctx.ref(), (z3.Ast * 1)()
    if not z3core.Z3_model_eval(ref, model.model, packed.as_ast(), True, out):
        raise z3.Z3Exception("the model cannot evaluate the trace")
    app = z3core.Z3_to_app(ref, out[0])
    values: dict[Key, int | bool] = {}
    arg_of, true, numeral = capi.get_app_arg, capi.get_bool_value, capi.get_numeral_string
    for i, key in enumerate(keys):
        arg = arg_of(ref, app, i)  # (an argument of a term Z3 just built: never null)
        if SCHEMA[key.name][0] == "bool":
            values[key] = true(ref, arg) == z3.Z3_L_TRUE
        else:
            values[key] = int(numeral(ref, arg))
    return ConcreteView(view.K, values, view.claims)
