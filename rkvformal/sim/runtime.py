"""The reference block simulator: a paged KV pool running claims, an active request
and the primitive catalogue, one `Move` at a time.

It is driven by the same move vocabulary as the SMT model (`rkvformal.smt.trace.Move`)
so the two can be compared step by step, but it executes every move at block level:

* claim objects are hash chains of real token blocks (logical positions 0..R-1 are the
  predicate's required range, R..R+O-1 the object's other blocks);
* allocation takes uncached free blocks first and then evicts cached (or, where nothing
  pins them, referenced) blocks; the victims are chosen by the simulator's own policy
  (LRU subject to the primitives) or dictated as counts per group, and a dictated split
  is checked against each primitive's concrete rule before anything changes;
* the host tier keeps payload copies and a restore verifies what it brings back;
* each primitive kind is executed concretely: what it forbids raises `IllegalMove`,
  what it emits is derived from what it can observe (a telemetry join only sees
  delivered block events, a router only its index).

`step` is atomic: an illegal move leaves the simulator unchanged.  Every step records
the block-level state afterwards (`StepRecord.state`), which `abstraction.abstract`
maps onto the model's variables.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from rkvformal.semantics.domain import Primitive
from rkvformal.sim.pool import (
    BLOCK_SIZE,
    BlockPool,
    CacheIdentity,
    HostTier,
    MaterializationPredicate,
    Taken,
    hash_chain,
    object_tokens,
    payload_for,
    verify_restore,
)
from rkvformal.smt.trace import (
    CLAIMS,
    EVENT_NAMES,
    Active,
    Move,
    Phase,
    Reuse,
    Source,
)
from rkvformal.vocab import PredicateKind
from rkvformal.vocab import PrimitiveKind as K

SCHEMA_VERSION = 1
FEASIBLE = "feasible_preserve_resident_and_active"
INFEASIBLE = "infeasible_preserve_resident_and_active"
GPU_TIER = "gpu_kv_cache"
HOST_TIER = "host_offload_tier"


class IllegalMove(Exception):
    """The move, or the dictated victim split, is not allowed by the concrete semantics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Origin(str, Enum):
    """`runtime`: emitted by a primitive (what the model's event slots are about).
    `instrumentation`: the simulator's own ground-truth log (allocator telemetry)."""

    RUNTIME = "runtime"
    INSTRUMENTATION = "instrumentation"


class Attention(str, Enum):
    FULL = "full_attention"
    SLIDING_WINDOW = "sliding_window"
    RECOMPUTE_BETWEEN_CHUNKS = "recompute_free_between_chunks"


# --- numbers ------------------------------------------------------------------------------

@dataclass(frozen=True)
class LivePlan:
    """The active request's live KV over its prefill chunks.  Full attention
    accumulates (chunking does not bound live KV); a sliding window caps it."""

    chunks: tuple[int, ...]
    attention: Attention = Attention.FULL
    window: int | None = None

    def __post_init__(self) -> None:
        if not self.chunks or any(n < 1 for n in self.chunks):
            raise ValueError("an active plan needs chunks of at least one block")
        if self.attention is Attention.SLIDING_WINDOW and (self.window or 0) < 1:
            raise ValueError("a sliding window needs a positive window")

    @classmethod
    def single(cls, blocks: int) -> LivePlan:
        return cls((blocks,))

    def profile(self) -> tuple[int, ...]:
        """Live blocks after each chunk."""
        out: list[int] = []
        total = 0
        for n in self.chunks:
            total += n
            if self.attention is Attention.FULL:
                out.append(total)
            elif self.attention is Attention.SLIDING_WINDOW:
                out.append(min(total, self.window or total))
            else:
                out.append(n)
        return tuple(out)

    @property
    def peak(self) -> int:
        return max(self.profile())


@dataclass(frozen=True)
class ClaimNumbers:
    """One claim's numbers: the model's R, O, P, D and NP."""

    required: int
    other: int = 0
    priority: int = 0
    duration: int = 1
    native_priority: int | None = None  # None: derived from the primitives

    @property
    def footprint(self) -> int:
        return self.required + self.other


@dataclass(frozen=True)
class Numbers:
    usable: int
    active: LivePlan = LivePlan((1,))
    claims: tuple[ClaimNumbers, ...] = ()
    cached: int = 0  # unclaimed cached blocks at the start (a finished resident prefix)
    block_size: int = BLOCK_SIZE

    @property
    def active_demand(self) -> int:
        return self.active.peak


@dataclass(frozen=True)
class Victims:
    """A victim split in the model's groups: unclaimed cached blocks, and per claim its
    required range and its other blocks."""

    cached: int = 0
    required: tuple[int, ...] = (0, 0)
    other: tuple[int, ...] = (0, 0)

    @property
    def total(self) -> int:
        return self.cached + sum(self.required) + sum(self.other)

    def of(self, c: int) -> int:
        return self.required[c] + self.other[c]

    def to_json(self, names: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.cached:
            out["cached_unclaimed"] = self.cached
        for c, name in enumerate(names):
            if self.required[c]:
                out[f"{name}.required"] = self.required[c]
            if self.other[c]:
                out[f"{name}.other"] = self.other[c]
        return out


NO_VICTIMS = Victims()


# --- claims and events --------------------------------------------------------------------

@dataclass(frozen=True)
class ClaimObject:
    """A claim and its reusable object at block level: identity tuple, predicate, the
    object's token blocks and their prefix hash chain."""

    slot: int
    name: str
    identity: CacheIdentity
    predicate: MaterializationPredicate
    footprint: int
    hashes: tuple[bytes, ...]

    @property
    def claim_id(self) -> str:
        return f"claim:{self.name}"

    @property
    def prefix_id(self) -> str:
        return f"prefix:{self.name}"

    @property
    def object_id(self) -> str:
        return f"kv-object:{self.name}"

    @property
    def request_id(self) -> str:
        return f"request:{self.name}"

    @property
    def token_map_id(self) -> str:
        return f"token-map:{self.name}-v1"

    @property
    def required_positions(self) -> range:
        return self.predicate.positions

    def is_required(self, position: int) -> bool:
        return position in self.predicate.positions

    def identity_fields(self, identity: CacheIdentity | None = None) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "prefix_id": self.prefix_id,
            "predicate_id": self.predicate.predicate_id,
            "materialization_predicate": self.predicate.text,
            "reusable_object_id": self.object_id,
            "request_token_map_id": self.token_map_id,
            "cache_identity": (identity or self.identity).to_json(),
        }


@dataclass(frozen=True)
class Event:
    """One line of the JSONL log.  `subject` is the claim slot whose claim (or blocks)
    the event is about, as the simulator knows it, whatever the event itself names."""

    sequence: int
    step: int  # -1: set-up before the first move
    name: str
    origin: Origin
    subject: int | None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    emitted_by: tuple[str, ...] = ()

    def to_json(self, envelope: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "event_sequence": self.sequence,
            "timestamp_ns": 1_000_000 * (self.step + 1) + self.sequence,
            "event": self.name,
            "origin": self.origin.value,
            "step": self.step,
            "claim_id": None,
            "prefix_id": None,
            "request_id": None,
            **envelope,
        }
        if self.emitted_by:
            out["emitted_by"] = list(self.emitted_by)
        out.update(self.fields)
        return out


# --- snapshots (what abstraction reads) ---------------------------------------------------

@dataclass(frozen=True)
class ClaimSnapshot:
    phase: Phase
    held: bool
    released_hold: bool
    matd: bool
    nr: bool
    rq: Reuse
    src: Source
    routed: bool
    idx: bool
    age_acc: int
    age_rel: int
    rfl: bool
    gen: int
    host: bool
    request_blocks: tuple[int, ...]
    # the telemetry join's belief, as the model counts it (jinr, jinr_gone, ...)
    jinr: int = 0
    jinr_gone: int = 0
    joutr: int = 0
    joutr_gone: int = 0
    jmatd: bool = False
    jnr: bool = False


@dataclass(frozen=True)
class BlockSnapshot:
    block_id: int
    block_hash: bytes | None
    ref_cnt: int


@dataclass(frozen=True)
class StateSnapshot:
    blocks: tuple[BlockSnapshot, ...]
    active_blocks: tuple[int, ...]
    act: Active
    failpend: bool
    claims: tuple[ClaimSnapshot, ...]


@dataclass(frozen=True)
class StepRecord:
    step: int
    move: Move
    claim: int | None
    need: int  # blocks the move allocated
    victims: Victims
    drop: bool
    events: tuple[Event, ...]
    naming: tuple[bool, ...]  # per claim: this step's block events carry its claim id
    state: StateSnapshot  # after the move


@dataclass(frozen=True)
class History:
    numbers: Numbers  # padded to one entry per claim slot, native priorities resolved
    primitives: tuple[Primitive, ...]
    objects: tuple[ClaimObject, ...]
    claimed: tuple[bool, ...]  # which slots the caller's numbers named
    initial: StateSnapshot
    setup_events: tuple[Event, ...]
    steps: tuple[StepRecord, ...]

    @property
    def events(self) -> list[Event]:
        return [*self.setup_events, *(e for s in self.steps for e in s.events)]


# --- the simulator ------------------------------------------------------------------------

@dataclass
class _Claim:
    obj: ClaimObject
    numbers: ClaimNumbers
    phase: Phase = Phase.ABSENT
    held: bool = False
    released_hold: bool = False
    matd: bool = False
    nr: bool = False
    rq: Reuse = Reuse.NONE
    src: Source = Source.ORIGINAL
    routed: bool = False
    idx: bool = False  # the model's router belief: the last block event for c was a store
    age_acc: int = 0
    age_rel: int = 0
    rfl: bool = False
    gen: int = 0
    request_blocks: list[int] = field(default_factory=list)  # blocks its request references

    @property
    def R(self) -> int:
        return self.numbers.required

    @property
    def other(self) -> int:
        return self.numbers.other


@dataclass
class _JoinBelief:
    """What a telemetry join believes about one claim, from the events it received:
    the positions of c's hash chain whose BlockStored reached it (less those whose
    BlockRemoved did), the tier's reports, and its own announcements.  Every join of a
    runtime receives the same stream, so they share one belief per claim (empty without
    a join); the model's `jinr`, `jinr_gone`, `joutr`, `joutr_gone`, `jmatd`, `jnr`
    are read off it."""

    positions: set[int] = field(default_factory=set)
    host: bool = False
    needs_restore: bool = False
    materialized: bool = False  # a predicate join has reported materialization
    serve_restored_pending: bool = False  # after_reuse: report the restore next step

    def copy(self) -> _JoinBelief:
        return replace(self, positions=set(self.positions))


@dataclass(frozen=True)
class _Facts:
    """One claim at the start of a step (the model's state t)."""

    phase: Phase
    pred: bool
    inr: int
    outr: int
    host: bool
    held: bool
    rq: Reuse
    src: Source
    routed: bool
    nr: bool
    matd: bool
    age_acc: int
    age_rel: int

    @property
    def resp(self) -> bool:
        return self.phase is Phase.ACCEPTED

    @property
    def released(self) -> bool:
        return self.phase in (Phase.DEMOTED, Phase.EXPIRED, Phase.HARMED)

    @property
    def unreleased(self) -> bool:
        return self.phase in (Phase.ACCEPTED, Phase.HARMED)


@dataclass
class _Step:
    """Everything one step did, for the emitters."""

    t: int
    move: Move
    c: int | None
    pre: tuple[_Facts, ...]
    post: tuple[_Facts, ...] = ()
    restore_ok: bool = False
    restore_bad: bool = False
    stored: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # c -> (pos, block)
    removed: dict[int, list[tuple[int, int, bool]]] = field(default_factory=dict)
    other_stored: list[int] = field(default_factory=list)  # unclaimed blocks stored
    other_removed: list[tuple[int, bytes]] = field(default_factory=list)
    taken: list[tuple[Taken, str, int | None]] = field(default_factory=list)
    delivered: bool = True
    naming: tuple[bool, ...] = ()
    conflict: dict[str, Any] = field(default_factory=dict)
    believed: tuple[_JoinBelief, ...] = ()  # the join's beliefs before the step


class Simulator:
    """A block-level runtime with the given primitives and numbers (two claim slots)."""

    def __init__(self, primitives: Iterable[Primitive], numbers: Numbers, *,
                 claim_names: Sequence[str] | None = None, run_id: str = "rkvformal-sim",
                 policy: str = "sim") -> None:
        self.primitives = tuple(primitives)
        self.by_kind: dict[K, list[Primitive]] = {}
        for p in self.primitives:
            self.by_kind.setdefault(p.kind, []).append(p)
        self.claimed = tuple(c < len(numbers.claims) for c in CLAIMS)
        self.numbers = self._resolve(numbers)
        names = list(claim_names or ())
        names += [f"c{c}" for c in CLAIMS][len(names):]
        self.names = tuple(names[: len(CLAIMS)])
        self.run_id = run_id
        self.policy = policy
        self.pool = BlockPool(numbers.usable, numbers.block_size)
        self.tier = HostTier()
        self.act = Active.NONE
        self.active_blocks: list[int] = []
        self.defer_attempts = 0
        self.future_reuse_admitted: bool | None = None  # set when the active request ends
        self.claims = [self._make_claim(c) for c in CLAIMS]
        self.router_index: set[bytes] = set()
        self.beliefs = [_JoinBelief() for _ in CLAIMS]  # what a telemetry join knows
        self._late: list[dict[str, Any]] = []  # failure facts of the previous step
        self._seen: set[tuple[str, int | None]] = set()  # (event, claim) emitted so far
        self._sequence = 0
        self._warm_positions: dict[bytes, int] = {}  # unclaimed resident prefix blocks
        self._setup_events: list[Event] = []
        self._steps: list[StepRecord] = []
        self._warm_up(numbers.cached)
        self._initial = self._snapshot()

    # --- construction -------------------------------------------------------------------
    def primitives_of(self, kind: K) -> list[Primitive]:
        """The row's primitives of one kind."""
        return self.by_kind.get(kind, [])

    def _resolve(self, numbers: Numbers) -> Numbers:
        """Pad to one claim per slot and fix native priorities as the primitives say."""
        if numbers.usable < 1 or numbers.block_size < 1:
            raise ValueError("usable blocks and block size must be positive")
        if not 0 <= numbers.cached <= numbers.usable:
            raise ValueError("cached blocks must be between 0 and usable")
        if len(numbers.claims) > len(CLAIMS):
            raise ValueError(f"the simulator has {len(CLAIMS)} claim slots")
        claims = list(numbers.claims)
        template = claims[0] if claims else ClaimNumbers(1)
        while len(claims) < len(CLAIMS):
            claims.append(ClaimNumbers(1, 0, template.priority, 1, template.native_priority))
        prio = self.primitives_of(K.EVICTION_PRIORITY)
        lo = max((int(p.param("minimum")) for p in prio), default=0)
        hi = min((int(p.param("maximum")) for p in prio), default=1000)
        policies = self.primitives_of(K.PRIORITY_POLICY)
        monotone = any(p.param("mapping") == "monotone" for p in policies)
        resolved: list[ClaimNumbers] = []
        for cn in claims:
            if cn.required < 1 or cn.other < 0 or cn.duration < 1:
                raise ValueError("a claim needs R >= 1, O >= 0 and D >= 1")
            if not 0 <= cn.priority <= 100:
                raise ValueError("claim priority must be in 0..100")
            np_ = cn.native_priority
            if np_ is None:
                if monotone:
                    np_ = lo + cn.priority
                elif prio:
                    np_ = min(max(int(prio[0].param("default")), lo), hi)
                else:
                    np_ = 0
            resolved.append(ClaimNumbers(cn.required, cn.other, cn.priority, cn.duration, np_))
        for cn in resolved:
            npr = cn.native_priority or 0
            if not (lo <= npr <= hi and 0 <= npr <= 1000):
                raise ValueError(f"native priority {npr} outside {lo}..{hi}")
        for p in policies:
            for a, b in itertools.permutations(resolved, 2):
                if p.param("mapping") == "monotone":
                    if a.priority > b.priority and not (a.native_priority or 0) > (
                            b.native_priority or 0):
                        raise ValueError(f"{p.name}: native priority not monotone in "
                                         "claim priority")
                elif a.native_priority != b.native_priority:
                    raise ValueError(f"{p.name}: a constant mapping gives every claim one priority")
        if numbers.active.peak < 1:
            raise ValueError("the active request needs at least one block")
        return Numbers(numbers.usable, numbers.active, tuple(resolved), numbers.cached,
                       numbers.block_size)

    def _make_claim(self, c: int) -> _Claim:
        cn = self.numbers.claims[c]
        name = self.names[c]
        identity = CacheIdentity(
            cache_key_domain="rkvformal-sim-prefix-hash", model_id="sim-model",
            tokenizer_id="sim-tokenizer", salt_namespace=f"tenant:{name}",
            block_size=self.numbers.block_size)
        tokens = object_tokens(f"kv-object:{name}:{c}", cn.footprint, self.numbers.block_size)
        hashes = hash_chain(tokens, identity.extra_keys(), identity.salt_namespace)
        predicate = MaterializationPredicate(PredicateKind.LEADING_PREFIX_AT_LEAST, cn.required)
        obj = ClaimObject(c, name, identity, predicate, cn.footprint, hashes)
        return _Claim(obj, cn)

    def _warm_up(self, n: int) -> None:
        """An unclaimed resident prefix computed earlier and freed tail-first: the
        model's cached(0) (paper 1's probe step 1 without a claim)."""
        if n == 0:
            return
        tokens = object_tokens("kv-object:warm-resident", n, self.numbers.block_size)
        hashes = hash_chain(tokens, (), "tenant:warm")
        self._warm_positions = {h: p for p, h in enumerate(hashes)}
        blocks: list[int] = []
        for p, h in enumerate(hashes):
            bid = self.pool.free_uncached()[0]
            taken = self.pool.take(bid)
            self._setup_events.append(self._victim_event(-1, taken, "resident", None, p))
            self.pool.store(bid, h, payload_for(h, self.numbers.block_size))
            self._setup_events.append(self._event(
                -1, "resident_block_materialized", Origin.INSTRUMENTATION, None,
                {"request_id": "resident", "prefix_id": "prefix:resident",
                 "logical_block_position": p, "physical_block_id": bid,
                 "block_hash": h.hex()[:16]}))
            blocks.append(bid)
        self.pool.release(list(reversed(blocks)))

    # --- reading state --------------------------------------------------------------------
    def positions(self, c: int) -> set[int]:
        return set(self.pool.resident(self.claims[c].obj.hashes))

    def pred(self, c: int) -> bool:
        return self.claims[c].obj.predicate.evaluate(self.positions(c)).materialized

    def counts(self, c: int) -> tuple[int, int]:
        obj = self.claims[c].obj
        have = self.positions(c)
        inr = sum(1 for p in have if obj.is_required(p))
        return inr, len(have) - inr

    def free(self) -> int:
        return len(self.pool.free_uncached())

    def host(self, c: int) -> bool:
        cl = self.claims[c]
        return cl.gen > 0 and self.tier.holds(cl.obj.object_id, cl.obj.required_positions)

    def _facts(self, c: int) -> _Facts:
        cl = self.claims[c]
        inr, outr = self.counts(c)
        return _Facts(cl.phase, self.pred(c), inr, outr, self.host(c), cl.held, cl.rq,
                      cl.src, cl.routed, cl.nr, cl.matd, cl.age_acc, cl.age_rel)

    @property
    def history(self) -> History:
        return History(self.numbers, self.primitives, tuple(cl.obj for cl in self.claims),
                       self.claimed, self._initial, tuple(self._setup_events),
                       tuple(self._steps))

    @property
    def events(self) -> list[Event]:
        return self.history.events

    # --- primitive semantics: protection and priority ----------------------------------------
    def protected(self, c: int) -> bool:
        """c's blocks cannot be victims: a ref-count pin while held, a TTL pin, or hard
        exclusion of a claim under responsibility."""
        cl = self.claims[c]
        if self.primitives_of(K.LOCK_REF) and cl.held:
            return True
        for p in self.primitives_of(K.CACHE_CONTROL_TTL):
            if cl.phase is Phase.ACCEPTED and cl.age_acc < int(p.param("ttl")):
                return True
        return bool(self.primitives_of(K.HARD_EXCLUSION)) and cl.phase is Phase.ACCEPTED

    def effective_priority(self, c: int, default: int) -> int:
        """The native priority of c's blocks, or the default once a retention duration
        that reverts priority has elapsed."""
        cl = self.claims[c]
        for p in self.primitives_of(K.PRIORITY_DURATION):
            if p.param("on_elapse") != "revert_priority":
                continue
            age = cl.age_rel if p.param("clock") == "from_release" else cl.age_acc
            if age >= cl.numbers.duration:
                return default
        return cl.numbers.native_priority or 0

    def evictable_blocks(self) -> int:
        """Blocks an allocation could use without touching protected claims."""
        n = self.free() + self._cached_unclaimed()
        for c in CLAIMS:
            if not self.protected(c):
                n += sum(self.counts(c))
        return n

    def conflict(self) -> bool:
        """The waiting active request cannot fit without taking protected blocks."""
        waiting = self.act in (Active.WAITING, Active.DEFERRED)
        return waiting and self.evictable_blocks() < self.numbers.active_demand

    def _cached_unclaimed(self) -> int:
        return len(self._cached_unclaimed_blocks())

    def _owner(self, h: bytes | None) -> tuple[int, int] | None:
        if h is None:
            return None
        for c, cl in enumerate(self.claims):
            try:
                return c, cl.obj.hashes.index(h)
            except ValueError:
                continue
        return None

    def _cached_unclaimed_blocks(self) -> list[int]:
        return [b for b in self.pool.queue()
                if self.pool.blocks[b].block_hash is not None
                and self._owner(self.pool.blocks[b].block_hash) is None]

    # --- guards -------------------------------------------------------------------------------
    def _gated(self, move: Move) -> bool:
        if move in (Move.OFFLOAD, Move.RESTORE):
            return bool(self.primitives_of(K.TIER_OFFLOAD))
        if move is Move.ROUTE:
            return bool(self.primitives_of(K.KV_AWARE_ROUTING))
        if move is Move.DEMOTE:
            return any(p.param("on_conflict") == "demote"
                       for p in self.primitives_of(K.HARD_EXCLUSION))
        if move is Move.EXPIRE:
            return any(p.param("on_elapse") == "expire_with_event"
                       for p in self.primitives_of(K.PRIORITY_DURATION))
        return True

    def router_believes(self, c: int) -> bool:
        """The router's index holds every block of c's required range."""
        obj = self.claims[c].obj
        return all(obj.hashes[p] in self.router_index for p in obj.required_positions)

    def guard(self, move: Move, c: int | None) -> str | None:
        """Why `move` is not allowed now (None: its guard holds; allocation aside)."""
        move = Move(move)
        if not self._gated(move):
            return f"{move.name.lower()} needs a primitive that provides it"
        act = self.act
        if move.takes_claim:
            if c not in CLAIMS:
                return f"{move.name.lower()} needs a claim slot in {CLAIMS}"
        elif c is not None:
            return f"{move.name.lower()} takes no claim"
        if move is Move.ARRIVE and act is not Active.NONE:
            return "the active request has already arrived"
        if move is Move.ADMIT and act not in (Active.WAITING, Active.DEFERRED):
            return "no waiting active request to admit"
        if move is Move.DEFER and act is not Active.WAITING:
            return "only a waiting request can be deferred"
        if move is Move.REFUSE and act not in (Active.WAITING, Active.DEFERRED):
            return "no waiting active request to refuse"
        if move in (Move.PREEMPT, Move.FINISH_ACTIVE) and act is not Active.RUNNING:
            return "the active request is not running"
        if move is Move.PREEMPT and self.primitives_of(K.ACTIVE_NO_EVICT):
            return "active_no_evict: a started request is never paused"
        if move is Move.FAIL_RESTORE and self.tier.fault_armed:
            return "a restore failure is already armed"
        if c is None:
            return None
        cl = self.claims[c]
        phase, rq = cl.phase, cl.rq
        pred, host = self.pred(c), self.host(c)
        inr, outr = self.counts(c)
        failed = rq is Reuse.RESTORE_FAILED
        checks: dict[Move, tuple[bool, str]] = {
            Move.SUBMIT: (phase is Phase.ABSENT, "claim already submitted"),
            Move.ACCEPT: (phase is Phase.SUBMITTED, "only a submitted claim can be accepted"),
            Move.FINISH_HOLD: (cl.held, "the claim's request is not running"),
            Move.MATERIALIZE: (phase is Phase.ACCEPTED and rq is Reuse.NONE and not cl.matd
                               and inr + outr < cl.R + cl.other,
                               "materialize is the accepted claim's own first prefill"),
            Move.REUSE: (phase not in (Phase.ABSENT, Phase.SUBMITTED) and rq is Reuse.NONE,
                         "reuse needs an accepted claim and no reuse in flight"),
            Move.ROUTE: (self.router_believes(c) and not cl.routed and rq is Reuse.NONE
                         and phase is not Phase.ABSENT,
                         "the router's index does not hold the claim"),
            Move.OFFLOAD: (pred and not host, "offload needs the predicate and no host copy"),
            Move.RESTORE: (rq is Reuse.PENDING and not pred and host,
                           "restore needs a pending reuse, a missing range and a host copy"),
            Move.RECOMPUTE: (not pred and ((rq is Reuse.PENDING and not host) or failed),
                             "recompute needs a pending reuse without host copy, or a "
                             "failed restore"),
            Move.SERVE: (pred and rq in (Reuse.PENDING, Reuse.READY),
                         "serve needs a reuse request and the predicate"),
            Move.FAIL_REUSE: (failed or (rq is Reuse.PENDING and not pred),
                              "fail_reuse needs a failed restore or a missing range"),
            Move.DEMOTE: (phase is Phase.ACCEPTED, "only an accepted claim can be demoted"),
            Move.EXPIRE: (phase is Phase.ACCEPTED, "only an accepted claim can expire"),
        }
        ok, why = checks.get(move, (True, ""))
        if not ok:
            return why
        if move is Move.RECOMPUTE and failed:
            for p in self.primitives_of(K.TIER_OFFLOAD):
                if p.param("on_restore_failure") != "recompute":
                    return f"{p.name}: on_restore_failure={p.param('on_restore_failure')}, " \
                           "a failed restore is never recomputed"
            for p in self.primitives_of(K.CLAIM_FAILURE_OUTCOME):
                return f"{p.name}: a failed restore ends in a claim-scoped outcome"
        if move is Move.FAIL_REUSE and failed and not self.primitives_of(K.CLAIM_FAILURE_OUTCOME):
            # a failure-outcome patch drives the failed request to its end and wins over
            # a native recompute fallback; without one the tier recomputes
            for p in self.primitives_of(K.TIER_OFFLOAD):
                if p.param("on_restore_failure") == "recompute":
                    return f"{p.name}: a failed restore is recomputed, not failed"
        if move is Move.DEMOTE and not self.conflict():
            return "demote on conflict needs a waiting request that cannot fit"
        if move is Move.EXPIRE:
            for p in self.primitives_of(K.PRIORITY_DURATION):
                if p.param("on_elapse") != "expire_with_event":
                    continue
                age = cl.age_rel if p.param("clock") == "from_release" else cl.age_acc
                if age < cl.numbers.duration:
                    return f"{p.name}: the duration has not elapsed ({age} < {cl.numbers.duration})"
        return None

    # --- allocation -----------------------------------------------------------------------------
    def demand(self, move: Move, c: int | None, restore_ok: bool | None = None) -> int:
        """Blocks the move allocates.  A restore allocates only once the payload it
        brought back has been verified (`restore_ok`; None: predict from the tier)."""
        if move is Move.ADMIT:
            return self.numbers.active_demand
        if c is None:
            return 0
        cl = self.claims[c]
        inr, outr = self.counts(c)
        if move is Move.MATERIALIZE:
            return (cl.R - inr) + (cl.other - outr)
        if move is Move.RESTORE:
            ok = not self.tier.fault_armed if restore_ok is None else restore_ok
            return cl.R - inr if ok else 0
        if move is Move.RECOMPUTE:
            return cl.R - inr
        return 0

    def _groups(self, move: Move, c: int | None) -> list[tuple[str, int | None, list[int], bool]]:
        """Victim groups: (kind, claim, blocks in eviction order, evictable)."""
        own = c if move in (Move.MATERIALIZE, Move.RESTORE, Move.RECOMPUTE) else None
        groups: list[tuple[str, int | None, list[int], bool]] = [
            ("cached", None, self._cached_unclaimed_blocks(), True)]
        queue_rank = {b: i for i, b in enumerate(self.pool.queue())}
        for k in CLAIMS:
            cl = self.claims[k]
            evictable = k != own and not self.protected(k)
            by_pos: dict[int, int] = {}
            for p, h in enumerate(cl.obj.hashes):
                bid = self.pool.lookup(h)
                if bid is not None:
                    by_pos[p] = bid
            # eviction order: free-queue blocks in LRU order, then referenced blocks tail first
            def order(item: tuple[int, int]) -> tuple[int, int]:
                p, bid = item
                return (queue_rank.get(bid, len(queue_rank)), -p)
            ranked = sorted(by_pos.items(), key=order)
            groups.append(("required", k, [b for p, b in ranked if cl.obj.is_required(p)],
                           evictable))
            groups.append(("other", k, [b for p, b in ranked if not cl.obj.is_required(p)],
                           evictable))
        return groups

    def _group_priority(self, kind: str, k: int | None, default: int) -> int:
        return default if k is None else self.effective_priority(k, default)

    def _split_reason(self, move: Move, c: int | None, need: int, split: Victims) -> str | None:
        """Why a dictated victim split is not allowed (None: it is)."""
        required = max(0, need - self.free())
        if split.total != required:
            if required == 0:
                return f"{self.free()} free blocks cover {need}: lazy eviction takes no victims"
            return (f"need {required} victims beyond {self.free()} free blocks, split has "
                    f"{split.total}")
        groups = self._groups(move, c)
        taken = self._split_counts(split)
        for (_kind, k, blocks, evictable), n in zip(groups, taken, strict=True):
            if n < 0 or n > len(blocks):
                return f"{n} victims from a group of {len(blocks)} blocks"
            if n and not evictable:
                return f"claim {self.names[k or 0]}'s blocks are pinned or being allocated"
        for p in self.primitives_of(K.EVICTION_PRIORITY):
            default = int(p.param("default"))
            for (kind, k, _blocks, _ev), n in zip(groups, taken, strict=True):
                if not n:
                    continue
                mine = self._group_priority(kind, k, default)
                for (kind2, k2, blocks2, ev2), n2 in zip(groups, taken, strict=True):
                    lower = self._group_priority(kind2, k2, default) < mine
                    if ev2 and n2 < len(blocks2) and lower:
                        who = "unclaimed cached blocks" if k2 is None else f"claim {self.names[k2]}"
                        return (f"{p.name}: a victim of priority {mine} while {who} of "
                                f"priority {self._group_priority(kind2, k2, default)} survive")
        return None

    @staticmethod
    def _split_counts(split: Victims) -> list[int]:
        out = [split.cached]
        for k in CLAIMS:
            out += [split.required[k], split.other[k]]
        return out

    def _default_split(self, move: Move, c: int | None, need: int) -> Victims:
        """The simulator's own victim policy: lowest priority first, LRU within."""
        required = max(0, need - self.free())
        if required == 0:
            return NO_VICTIMS
        prio = self.primitives_of(K.EVICTION_PRIORITY)
        default = int(prio[0].param("default")) if prio else 0
        candidates: list[tuple[int, int, int]] = []  # (priority, rank, group index)
        groups = self._groups(move, c)
        for gi, (kind, k, blocks, evictable) in enumerate(groups):
            if not evictable:
                continue
            pr = self._group_priority(kind, k, default) if prio else 0
            for rank, bid in enumerate(blocks):
                order = self.pool.rank(bid)
                rank_key = order if order is not None else self.pool.num_blocks + rank
                candidates.append((pr, rank_key, gi))
        candidates.sort()
        if len(candidates) < required:
            raise IllegalMove(f"Cannot get {need} free blocks from the pool ({self.free()} "
                              f"free, {len(candidates)} more evictable)")
        counts = [0] * len(groups)
        for _pr, _rank, gi in candidates[:required]:
            counts[gi] += 1
        split = Victims(counts[0], tuple(counts[1::2]), tuple(counts[2::2]))
        why = self._split_reason(move, c, need, split)
        if why is not None:  # several priority primitives disagree: search the options
            options = self.victim_options(move, c)
            if not options:
                raise IllegalMove(why)
            return options[0]
        return split

    def default_victims(self, move: Move, c: int | None) -> Victims:
        """The split the simulator's own policy would take for `move` now."""
        return self._default_split(move, c, self.demand(move, c))

    def victim_options(self, move: Move, c: int | None) -> list[Victims]:
        """Every victim split the concrete semantics allows for this move now."""
        need = self.demand(move, c)
        required = max(0, need - self.free())
        if required == 0:
            return [NO_VICTIMS]
        groups = self._groups(move, c)
        sizes = [len(b) if ev else 0 for _k, _c, b, ev in groups]
        out: list[Victims] = []
        for counts in _compositions(required, sizes):
            split = Victims(counts[0], tuple(counts[1::2]), tuple(counts[2::2]))
            if self._split_reason(move, c, need, split) is None:
                out.append(split)
        return out

    def enabled_moves(self) -> list[tuple[Move, int | None]]:
        """Moves whose guards hold now (allocation feasibility not checked)."""
        out: list[tuple[Move, int | None]] = []
        for m in Move:
            for c in (CLAIMS if m.takes_claim else (None,)):
                if self.guard(m, c) is None:
                    out.append((m, c))
        return out

    # --- the runtime's own decisions -----------------------------------------------------------
    def fits(self) -> bool:
        try:
            self._default_split(Move.ADMIT, None, self.numbers.active_demand)
        except IllegalMove:
            return False
        return True

    def decide_active(self) -> tuple[Move, int | None]:
        """What this runtime does with the waiting active request: admit if it fits,
        else its conflict policy (demote a claim first, defer once, or refuse)."""
        if self.act not in (Active.WAITING, Active.DEFERRED):
            raise IllegalMove("no waiting active request")
        if self.fits():
            return Move.ADMIT, None
        for p in self.primitives_of(K.HARD_EXCLUSION):
            if p.param("on_conflict") == "demote":
                for c in CLAIMS:
                    if self.guard(Move.DEMOTE, c) is None and sum(self.counts(c)) != 0:
                        return Move.DEMOTE, c
            if p.param("on_conflict") == "defer" and self.act is Active.WAITING:
                return Move.DEFER, None
        if not self.primitives_of(K.HARD_EXCLUSION) and self.act is Active.WAITING:
            return Move.DEFER, None
        return Move.REFUSE, None

    # --- stepping -------------------------------------------------------------------------------
    def step(self, move: Move, claim: int | None = None, victims: Victims | None = None, *,
             drop: bool = False) -> StepRecord:
        """Execute one move (atomically: an IllegalMove changes nothing)."""
        move = Move(move)
        c = claim
        why = self.guard(move, c)
        if why is not None:
            raise IllegalMove(why)
        if drop and not self.lossy:
            raise IllegalMove("only a lossy event stream drops block events")
        t = len(self._steps)
        st = _Step(t, move, c, tuple(self._facts(k) for k in CLAIMS))
        armed = self.tier.fault_armed
        fetched: dict[int, Any] = {}
        if move is Move.RESTORE and c is not None:
            fetched = self._fetch_and_verify(st, c)
        try:
            need = self.demand(move, c, st.restore_ok if move is Move.RESTORE else None)
            if victims is None:
                split = self._default_split(move, c, need)
            else:
                why = self._split_reason(move, c, need, victims)
                if why is not None:
                    raise IllegalMove(why)
                split = victims
        except IllegalMove:
            self.tier.fault_armed = armed  # nothing happened: the transfer never started
            raise
        st.naming = tuple(self._naming(k, t) for k in CLAIMS)
        st.delivered = not drop
        st.conflict = self._conflict_fields() if move in (Move.REFUSE, Move.DEFER) else {}
        self._execute(st, need, split, fetched)
        st.post = tuple(self._facts(k) for k in CLAIMS)
        self._settle(st)
        self._believe(st)
        events = self._emit(st)
        record = StepRecord(t, move, c, need, split, drop, tuple(events), st.naming,
                            self._snapshot())
        self._steps.append(record)
        self.pool.check()
        return record

    @property
    def lossy(self) -> bool:
        """Some block-event stream may drop a step's events."""
        return any(p.param("delivery") == "lossy" for p in self.primitives_of(K.BLOCK_EVENTS))

    def _delivering(self, st: _Step) -> list[Primitive]:
        """The block-event streams that deliver this step's events (a lossy one drops
        them when the step is dropped)."""
        return [p for p in self.primitives_of(K.BLOCK_EVENTS)
                if st.delivered or p.param("delivery") != "lossy"]

    def _fetch_and_verify(self, st: _Step, c: int) -> dict[int, Any]:
        """Bring c's missing required range back from the host tier and check every
        payload against its hash: a missing or corrupted copy fails the restore."""
        obj = self.claims[c].obj
        missing = [p for p in obj.required_positions if p not in self.positions(c)]
        fetched = self.tier.fetch(obj.object_id, missing)
        bad = verify_restore(fetched, {p: obj.hashes[p] for p in missing},
                             self.numbers.block_size)
        st.restore_ok, st.restore_bad = not bad, bool(bad)
        return {p: d for p, d in fetched.payloads.items() if d is not None} if not bad else {}

    def _execute(self, st: _Step, need: int, split: Victims, fetched: dict[int, Any]) -> None:
        move, c = st.move, st.c
        blocks = self._allocate(st, need, split)
        cl = self.claims[c] if c is not None else None
        if move is Move.SUBMIT and cl:
            cl.phase = Phase.SUBMITTED
        elif move is Move.ACCEPT and cl:
            cl.phase = Phase.ACCEPTED
        elif move is Move.DEMOTE and cl:
            cl.phase = Phase.DEMOTED
        elif move is Move.EXPIRE and cl:
            cl.phase = Phase.EXPIRED
        elif move is Move.ARRIVE:
            self.act = Active.WAITING
        elif move is Move.FINISH_HOLD and cl:
            self._release_hold(cl)
            cl.held, cl.released_hold = False, True
        elif move is Move.TICK:
            for k in self.claims:
                if k.phase not in (Phase.ABSENT, Phase.SUBMITTED):
                    k.age_acc += 1
                if k.released_hold:
                    k.age_rel += 1
        elif move is Move.REUSE and cl:
            cl.rq, cl.routed = Reuse.PENDING, False
        elif move is Move.FAIL_RESTORE:
            self.tier.arm_fault()
        elif move is Move.ROUTE and cl:
            cl.routed = True
        elif move is Move.MATERIALIZE and cl:
            for p, bid in enumerate(blocks):
                h = cl.obj.hashes[p]
                self.pool.store(bid, h, payload_for(h, self.numbers.block_size))
                st.stored.setdefault(c or 0, []).append((p, bid))
            cl.request_blocks = list(blocks)
            cl.held, cl.src = True, Source.ORIGINAL
        elif move is Move.ADMIT:
            self.active_blocks = list(blocks)
            self.act = Active.RUNNING
        elif move is Move.DEFER:
            self.act = Active.DEFERRED
            self.defer_attempts += 1
        elif move is Move.REFUSE:
            self.act = Active.REFUSED
        elif move is Move.PREEMPT:
            self.pool.release(list(reversed(self.active_blocks)), keep_hash=False)
            self.active_blocks = []
            self.act = Active.WAITING
        elif move is Move.FINISH_ACTIVE:
            self._finish_active(st)
        elif move is Move.OFFLOAD and cl:
            items = []
            for p in cl.obj.required_positions:
                found = self.pool.lookup(cl.obj.hashes[p])
                assert found is not None
                payload = self.pool.blocks[found].payload
                assert payload is not None
                items.append((p, cl.obj.hashes[p], payload))
            cl.gen += 1
            self.tier.offload(cl.obj.object_id, cl.gen, items)
        elif move is Move.RESTORE and cl:
            if st.restore_ok:
                self._refill(st, cl, blocks, fetched)
                cl.rq, cl.src, cl.nr = Reuse.READY, Source.RESTORED, False
            else:
                cl.rq, cl.rfl = Reuse.RESTORE_FAILED, True
        elif move is Move.RECOMPUTE and cl:
            self._refill(st, cl, blocks, {})
            cl.rq, cl.src = Reuse.READY, Source.RECOMPUTED
        elif move is Move.SERVE and cl:
            hits = (self.pool.lookup(h) for h in reversed(cl.obj.hashes))
            self.pool.touch([b for b in hits if b is not None])
            cl.rq, cl.rfl = Reuse.NONE, False
        elif move is Move.FAIL_REUSE and cl:
            cl.rq, cl.rfl = Reuse.NONE, False

    def _refill(self, st: _Step, cl: _Claim, blocks: list[int],
                payloads: Mapping[int, Any]) -> None:
        """Write the missing required positions (restored payloads or recomputed KV).
        The reuse request that asked for them references the claim's whole resident
        object (the written blocks and the hits) until it finishes."""
        missing = [p for p in cl.obj.required_positions if p not in self.positions(cl.obj.slot)]
        assert len(missing) == len(blocks)
        for p, bid in zip(missing, blocks, strict=True):
            h = cl.obj.hashes[p]
            data = payloads.get(p)
            self.pool.store(bid, h, data if data is not None
                            else payload_for(h, self.numbers.block_size))
            st.stored.setdefault(cl.obj.slot, []).append((p, bid))
        held = set(cl.request_blocks) | set(blocks)
        for h in cl.obj.hashes:
            hit = self.pool.lookup(h)
            if hit is not None and hit not in held:
                self.pool.acquire(hit)
                held.add(hit)
        cl.request_blocks = [b for b in (self.pool.lookup(h) for h in cl.obj.hashes)
                             if b is not None]
        cl.held = True

    def _release_hold(self, cl: _Claim) -> None:
        """The claim's request finishes: its blocks go back tail-first."""
        self.pool.release(list(reversed(cl.request_blocks)))
        cl.request_blocks = []

    def _finish_active(self, st: _Step) -> None:
        no_admit = bool(self.primitives_of(K.WRITE_NO_ADMIT))
        if not no_admit:
            tokens = object_tokens("kv-object:active", len(self.active_blocks),
                                   self.numbers.block_size)
            chain = hash_chain(tokens, (), "tenant:active")
            for bid, h in zip(self.active_blocks, chain, strict=True):
                self.pool.store(bid, h, payload_for(h, self.numbers.block_size))
                st.other_stored.append(bid)
        self.pool.release(list(reversed(self.active_blocks)), keep_hash=not no_admit)
        self.active_blocks = []
        self.act = Active.FINISHED
        self.future_reuse_admitted = not no_admit

    def _allocate(self, st: _Step, need: int, split: Victims) -> list[int]:
        """Take `need` blocks: uncached free blocks first, then the split's victims."""
        if need == 0:
            return []
        free = self.pool.free_uncached()[:need]
        victims: list[int] = []
        for (_kind, _k, blocks, _ev), n in zip(self._groups(st.move, st.c),
                                               self._split_counts(split), strict=True):
            victims += blocks[:n]
        order = free + sorted(victims, key=lambda b: (self.pool.rank(b) is None,
                                                     self.pool.rank(b) or 0))
        requester = {Move.ADMIT: "active"}.get(st.move, self.claims[st.c or 0].obj.request_id)
        out: list[int] = []
        for bid in order:
            old = self.pool.blocks[bid].block_hash
            owner = self._owner(old)
            if owner is not None:
                k, p = owner
                cl = self.claims[k]
                if bid in cl.request_blocks:  # a referenced block nobody pins
                    cl.request_blocks.remove(bid)
                    self.pool.release([bid])
                st.removed.setdefault(k, []).append((p, bid, cl.obj.is_required(p)))
            elif old is not None:
                st.other_removed.append((bid, old))
            taken = self.pool.take(bid)
            position = owner[1] if owner else self._warm_positions.get(old) if old else None
            st.taken.append((taken, requester, position))
            out.append(bid)
        return out

    def _settle(self, st: _Step) -> None:
        """The model's derived state after a move: harm, materialized-ever, needs-restore,
        the router belief."""
        for k, cl in enumerate(self.claims):
            pre, post = st.pre[k], st.post[k]
            lost_pred = pre.pred and not post.pred
            moved_phase = st.c == k and st.move in (Move.SUBMIT, Move.ACCEPT, Move.DEMOTE,
                                                   Move.EXPIRE)
            if not moved_phase and pre.phase is Phase.ACCEPTED and lost_pred and not pre.host:
                cl.phase = Phase.HARMED
            if cl.phase is Phase.ACCEPTED and post.pred:
                cl.matd = True
            if st.c == k and st.restore_ok:
                cl.nr = False
            elif lost_pred and pre.host:
                cl.nr = True
            if self._delivering(st):
                if st.stored.get(k):
                    cl.idx = True
                elif any(req for _p, _bid, req in st.removed.get(k, [])):
                    cl.idx = False  # a delivered removal of a required block
        if self._delivering(st):
            for k, cl in enumerate(self.claims):
                for p, _bid in st.stored.get(k, []):
                    self.router_index.add(cl.obj.hashes[p])
                for p, _bid, _req in st.removed.get(k, []):
                    self.router_index.discard(cl.obj.hashes[p])
        st.post = tuple(self._facts(k) for k in CLAIMS)

    def _believe(self, st: _Step) -> None:
        """The telemetry join's belief after the step, from what reached it: the
        delivered block events (matched against each claim's hash chain) and the tier's
        own offload reports.  The beliefs before the step stay in `st.believed`."""
        st.believed = tuple(b.copy() for b in self.beliefs)
        if not self.primitives_of(K.CLAIM_TELEMETRY):
            return  # nobody joins the stream: nobody believes anything
        delivered = bool(self._delivering(st))
        sees_tier = bool(self.primitives_of(K.TIER_OFFLOAD))
        for k, b in enumerate(self.beliefs):
            before = st.believed[k]
            stored = st.stored.get(k, []) if delivered else []
            removed = st.removed.get(k, []) if delivered else []
            if st.move is Move.OFFLOAD and st.c == k and sees_tier:
                b.host = True  # the tier's generic offload report names c's hashes
            b.positions |= {q for q, _bid in stored}
            b.positions -= {q for q, _bid, _req in removed}
            pred_before, pred_after = self.believes(k, before), self.believes(k, b)
            if stored and pred_after and st.post[k].phase is Phase.ACCEPTED:
                b.materialized = True
            if not sees_tier:
                continue
            if pred_before and not pred_after and b.host and removed:
                b.needs_restore = True
            if st.move is Move.RESTORE and st.c == k and st.restore_ok:
                b.needs_restore = False
            b.serve_restored_pending = (st.move is Move.SERVE and st.c == k
                                        and st.pre[k].src is Source.RESTORED)

    def believes(self, c: int, belief: _JoinBelief | None = None) -> bool:
        """The join believes c's predicate holds: it was told the whole required range
        is resident (the current belief, or the one given)."""
        b = self.beliefs[c] if belief is None else belief
        return all(q in b.positions for q in self.claims[c].obj.required_positions)

    def _belief_counts(self, c: int) -> tuple[int, int, int, int]:
        """The join's belief as the model counts it: required blocks believed resident,
        of those the ones that are gone, the same for the other blocks."""
        obj, here = self.claims[c].obj, self.positions(c)
        believed = self.beliefs[c].positions
        req = [q for q in believed if obj.is_required(q)]
        other = [q for q in believed if not obj.is_required(q)]
        return (len(req), sum(q not in here for q in req),
                len(other), sum(q not in here for q in other))

    def _snapshot(self) -> StateSnapshot:
        blocks = tuple(BlockSnapshot(b.block_id, b.block_hash, b.ref_cnt) for b in self.pool.blocks)
        claims = tuple(ClaimSnapshot(
            cl.phase, cl.held, cl.released_hold, cl.matd, cl.nr, cl.rq, cl.src, cl.routed,
            cl.idx, cl.age_acc, cl.age_rel, cl.rfl, cl.gen, self.host(k),
            tuple(cl.request_blocks), *self._belief_counts(k),
            self.beliefs[k].materialized, self.beliefs[k].needs_restore)
            for k, cl in enumerate(self.claims))
        return StateSnapshot(blocks, tuple(self.active_blocks), self.act, self.tier.fault_armed,
                             claims)

    # --- events ---------------------------------------------------------------------------------
    def _event(self, step: int, name: str, origin: Origin, subject: int | None,
               fields: Mapping[str, Any], by: tuple[str, ...] = ()) -> Event:
        self._sequence += 1
        return Event(self._sequence, step, name, origin, subject, dict(fields), by)

    def _victim_event(self, step: int, taken: Taken, requester: str, owner: int | None,
                      position: int | None) -> Event:
        return self._event(step, "allocation_victim_selected", Origin.INSTRUMENTATION, owner, {
            "request_id": requester,
            "physical_block_id": taken.block_id,
            "free_queue_rank": taken.free_queue_rank,
            "ref_count": taken.ref_count,
            "block_hash": taken.old_hash.hex()[:16] if taken.old_hash else None,
            "logical_block_position": position,
            "is_protected_resident": False,
            "victim_reason": "cached_prefix_reuse" if taken.old_hash else "free_uncached",
        })

    def _naming(self, c: int, t: int) -> bool:
        """Whether step t's block events for c carry c's claim id (in-process claim
        bookkeeping, or a join that has registered c)."""
        phase = self.claims[c].phase
        for p in self.primitives_of(K.HARD_EXCLUSION):
            if p.param("claim_events") and phase is not Phase.ABSENT:
                return True
        for p in self.primitives_of(K.CLAIM_TELEMETRY):
            if p.param("registration") == "post_hoc":
                if ("accepted", c) in self._seen:
                    return True
            elif phase is not Phase.ABSENT:
                return True
        return False

    def _conflict_fields(self) -> dict[str, Any]:
        """The conflict record a refusal or deferral carries (paper 1 §3.4)."""
        protected = [k for k in CLAIMS if self.protected(k) and sum(self.counts(k)) != 0]
        protected_blocks = sum(sum(self.counts(k)) for k in protected)
        demand = self.numbers.active_demand
        usable = self.numbers.usable
        prot_demand = sum(self.claims[k].R for k in CLAIMS
                          if self.claims[k].phase is Phase.ACCEPTED and self.pred(k))
        return {
            "protected_resident_blocks": protected_blocks,
            "protected_resident_claims": [{
                "claim_id": self.claims[k].obj.claim_id,
                "prefix_id": self.claims[k].obj.prefix_id,
                "resident_blocks_materialized": sum(self.counts(k)),
                "resident_blocks_required": self.claims[k].R,
                "leading_blocks_survived": self.claims[k].obj.predicate.evaluate(
                    self.positions(k)).leading_blocks,
                "predicate": self.claims[k].obj.predicate.text,
                "predicate_materialized": self.pred(k),
            } for k in protected],
            "active_live_blocks_required": demand,
            "active_chunks": list(self.numbers.active.chunks),
            "resident_plus_active_blocks": protected_blocks + demand,
            "capacity_shortfall_blocks": max(0, protected_blocks + demand - usable),
            "free_blocks_before_allocate": self.evictable_blocks(),
            "feasibility": INFEASIBLE if prot_demand + demand > usable else FEASIBLE,
            "defer_attempts": self.defer_attempts,
        }

    def _emit(self, st: _Step) -> list[Event]:
        """Every event of the step, each from the primitive whose semantics emits it."""
        t = st.t
        out: list[Event] = []
        claim_events: dict[tuple[str, int | None], dict[str, Any]] = {}
        emitters: dict[tuple[str, int | None], list[str]] = {}

        def emit(name: str, c: int | None, by: str, **fields: Any) -> None:
            key = (name, c)
            record = claim_events.setdefault(key, {})
            if "blocking" in record and "blocking" in fields:
                fields["blocking"] = sorted(set(record["blocking"]) | set(fields["blocking"]))
            record.update(fields)
            emitters.setdefault(key, [])
            if by not in emitters[key]:
                emitters[key].append(by)

        blocks_delivered = self._delivering(st)
        # allocator instrumentation and the block-level stream
        removed_at = {bid: (k, p) for k, items in st.removed.items() for p, bid, _r in items}
        for taken, requester, position in st.taken:
            owner = removed_at.get(taken.block_id)
            out.append(self._victim_event(t, taken, requester, owner[0] if owner else None,
                                          position))
            if blocks_delivered and taken.old_hash is not None:
                out.append(self._block_event(t, "blk_removed", owner, taken.block_id,
                                             taken.old_hash, st, blocks_delivered))
        for k, items in st.stored.items():
            cl = self.claims[k]
            for p, bid in items:
                h = cl.obj.hashes[p]
                if blocks_delivered:
                    out.append(self._block_event(t, "blk_stored", (k, p), bid, h, st,
                                                 blocks_delivered))
                if st.move is Move.MATERIALIZE:
                    out.append(self._event(t, "resident_block_materialized",
                                           Origin.INSTRUMENTATION, k, {
                        **cl.obj.identity_fields(), "request_id": cl.obj.request_id,
                        "logical_block_position": p, "physical_block_id": bid,
                        "block_hash": h.hex()[:16]}))
        for bid in st.other_stored:
            if blocks_delivered:
                stored_hash = self.pool.blocks[bid].block_hash
                assert stored_hash is not None
                out.append(self._block_event(t, "blk_stored", None, bid, stored_hash, st,
                                             blocks_delivered))
        for prim in self.primitives_of(K.TIER_OFFLOAD):
            if st.move is Move.OFFLOAD and st.c is not None:
                cl = self.claims[st.c]
                out.append(self._event(t, EVENT_NAMES["generic_offload"], Origin.RUNTIME, st.c, {
                    "claim_id": cl.obj.claim_id if st.naming[st.c] else None,
                    "block_hashes": [h.hex()[:16] for h in
                                     (cl.obj.hashes[q] for q in cl.obj.required_positions)],
                    "block_count_footprint": cl.R,
                    "cache_tier_from": GPU_TIER, "cache_tier_to": HOST_TIER,
                    "offload_generation": cl.gen}, (prim.name,)))
        for prim in self.primitives_of(K.HARD_EXCLUSION):
            if prim.param("claim_events"):
                self._emit_lifecycle(st, prim, emit)
        for prim in self.primitives_of(K.PRIORITY_DURATION):
            if prim.param("on_elapse") == "expire_with_event" and st.move is Move.EXPIRE:
                emit("expired", st.c, prim.name, reason="claim_expired")
        for prim in self.primitives_of(K.CLAIM_TELEMETRY):
            self._emit_join(st, prim, emit)
        for prim in self.primitives_of(K.CLAIM_FAILURE_OUTCOME):
            self._emit_failure_outcome(st, prim, emit)
        for prim in self.primitives_of(K.WRITE_NO_ADMIT):
            if st.move is Move.FINISH_ACTIVE:
                emit("future_denied", None, prim.name, arbiter_action="write_no_admit",
                     future_reuse_requested=True, future_reuse_admitted=False)
        self._late = [self._failure_facts(st, k) for k in CLAIMS]
        out += self._render(st, claim_events, emitters)
        for e in out:
            if e.origin is Origin.RUNTIME:
                key = _slot_of(e.name)
                if key is not None:
                    self._seen.add((key, e.subject))
        return out

    def _block_event(self, t: int, slot: str, owner: tuple[int, int] | None, bid: int,
                     h: bytes, st: _Step, by: list[Primitive]) -> Event:
        fields: dict[str, Any] = {
            "physical_block_id": bid, "block_hash": h.hex()[:16], "medium": GPU_TIER,
            "claim_id": None}
        subject = None
        if owner is not None:
            k, p = owner
            subject = k
            obj = self.claims[k].obj
            fields["logical_block_position"] = p
            if st.naming[k]:
                fields["claim_id"] = obj.claim_id
                fields["prefix_id"] = obj.prefix_id
        return self._event(t, EVENT_NAMES[slot], Origin.RUNTIME, subject, fields,
                           tuple(p.name for p in by))

    def _emit_lifecycle(self, st: _Step, p: Primitive, emit: Any) -> None:
        """In-process claim bookkeeping (the vLLM prototype): it sees every move."""
        move = st.move
        after_loss = p.param("demote_event") == "after_loss"
        for k in CLAIMS:
            pre, post = st.pre[k], st.post[k]
            if move is Move.ACCEPT and st.c == k:
                emit("accepted", k, p.name, claim_registration="pre_registered")
            if not pre.matd and post.pred and post.phase is Phase.ACCEPTED:
                emit("materialized", k, p.name, **self._predicate_fields(k))
            lost = [(q, b) for q, b, req in st.removed.get(k, []) if req]
            if pre.resp and post.phase is Phase.HARMED:
                emit("harmed", k, p.name, **self._harm_fields(k, pre, post, lost))
            if pre.released and lost:
                emit("lost_after_release", k, p.name, claim_status=pre.phase.name.lower(),
                     blocks_lost=[{"logical_block_position": q, "physical_block_id": b}
                                  for q, b in lost])
            if after_loss:
                if pre.phase is Phase.DEMOTED and lost and ("demoted", k) not in self._seen:
                    emit("demoted", k, p.name, reason="demote_on_conflict")
            elif move is Move.DEMOTE and st.c == k:
                emit("demoted", k, p.name, reason="demote_on_conflict")
        if move is Move.ADMIT:
            emit("admitted", None, p.name, arbiter_action="native_allocate_slots",
                 active_live_blocks_required=self.numbers.active_demand,
                 active_live_blocks_current=len(self.active_blocks),
                 active_chunks=list(self.numbers.active.chunks),
                 active_live_profile=list(self.numbers.active.profile()))
        if move in (Move.REFUSE, Move.DEFER):
            mode = str(p.param("blocking_ids"))
            blockers = [k for k in CLAIMS if {
                "involved": st.pre[k].resp and st.pre[k].inr + st.pre[k].outr > 0,
                "all_claims": st.pre[k].phase is not Phase.ABSENT,
                "none": False}[mode]]
            name = "refused" if move is Move.REFUSE else "deferred"
            if move is Move.DEFER:
                action = "scheduler_full_sequence_gate"
            elif st.conflict["feasibility"] == INFEASIBLE:
                action = "capacity_required"
            else:
                action = "refuse_active"
            emit(name, None, p.name, arbiter_action=action, **st.conflict,
                 blocking=blockers)

    def _predicate_fields(self, k: int) -> dict[str, Any]:
        cl = self.claims[k]
        res = cl.obj.predicate.evaluate(self.positions(k))
        return {"predicate": cl.obj.predicate.text, "predicate_materialized": res.materialized,
                "resident_blocks_required": res.required_blocks,
                "resident_blocks_materialized": res.surviving_blocks,
                "leading_blocks_survived": res.leading_blocks,
                "useful_threshold_blocks": res.required_blocks}

    def _harm_fields(self, k: int, pre: _Facts, post: _Facts,
                     lost: list[tuple[int, int]]) -> dict[str, Any]:
        cl = self.claims[k]
        after = cl.obj.predicate.evaluate(self.positions(k))
        first = lost[0] if lost else (None, None)
        return {"predicate_before": True, "predicate_after": False,
                "predicate_before_leading_blocks": cl.R,
                "predicate_after_leading_blocks": after.leading_blocks,
                "logical_block_position": first[0], "physical_block_id": first[1],
                "blocks_lost_with_harm": max(0, len(lost) - 1),
                "predicted_value": 1.0, "value_lost": 1.0}

    def _emit_join(self, st: _Step, p: Primitive, emit: Any) -> None:
        """An observational join: claims registered with it, beliefs built only from the
        block events it receives (hash-chain positions) and the tier's own reports
        (`_believe`: the belief before the step is `st.believed`, after it `beliefs`)."""
        move = st.move
        post_hoc = p.param("registration") == "post_hoc"
        by_count = p.param("materialization") == "count"
        per_tier = p.param("identity") == "per_tier"
        report = p.param("restore_report")
        sees_tier = bool(self.primitives_of(K.TIER_OFFLOAD))
        delivered = bool(self._delivering(st))
        for k in CLAIMS:
            cl, before, b = self.claims[k], st.believed[k], self.beliefs[k]
            pre, post = st.pre[k], st.post[k]
            stored = [q for q, _bid in st.stored.get(k, [])] if delivered else []
            removed = [(q, req) for q, _bid, req in st.removed.get(k, [])] if delivered else []
            pred_before, pred_after = self.believes(k, before), self.believes(k, b)
            # acceptance
            if post_hoc:
                if move is Move.FINISH_HOLD and st.c == k and ("accepted", k) not in self._seen:
                    emit("accepted", k, p.name, claim_registration="post_hoc")
            elif move is Move.ACCEPT and st.c == k:
                emit("accepted", k, p.name, claim_registration="pre_registered")
            # materialization and loss, judged from what was received
            if by_count:
                if stored:
                    count_after = len(b.positions)
                elif move is Move.REUSE and st.c == k:
                    count_after = post.inr + post.outr  # the lookup asks the pool
                else:
                    count_after = -1
                looked = post.phase in (Phase.ACCEPTED, Phase.HARMED)
                if count_after >= cl.R and looked:
                    emit("materialized", k, p.name, materialization="count",
                         resident_blocks_materialized=count_after,
                         resident_blocks_required=cl.R)
                lost = len(before.positions) >= cl.R and len(b.positions) < cl.R
            else:
                if (stored and pred_after and not before.materialized
                        and post.phase is Phase.ACCEPTED):
                    emit("materialized", k, p.name, **self._predicate_fields(k))
                lost = pred_before and not pred_after
            lost_req = [q for q, req in removed if req]
            if pre.resp and lost and not b.host and removed:
                emit("harmed", k, p.name, **self._harm_fields(
                    k, pre, post, [(q, -1) for q in lost_req]))
            if pre.released and lost_req:
                emit("lost_after_release", k, p.name, claim_status=pre.phase.name.lower(),
                     blocks_lost=[{"logical_block_position": q} for q in lost_req])
            if not sees_tier:
                continue
            tier_identity = cl.obj.identity.on_tier(HOST_TIER) if per_tier else None
            if pre.resp and pred_before and not pred_after and b.host and removed:
                emit("offloaded", k, p.name, cache_tier_from=GPU_TIER,
                     cache_tier_to=HOST_TIER, offload_generation=cl.gen,
                     **({"cache_identity": tier_identity.to_json()} if tier_identity else {}))
            restoring = pre.resp and move is Move.RESTORE and st.c == k
            if restoring:
                emit("restore_required", k, p.name, reuse_requires_restoration=True,
                     offload_generation=cl.gen)
            restore_ok = restoring and st.restore_ok
            if report == "after_reuse":
                restored = pre.resp and before.serve_restored_pending
                source_tier = True
            elif report == "any_source":
                recomputed = (pre.resp and move is Move.RECOMPUTE and st.c == k
                              and before.needs_restore)
                restored = restore_ok or recomputed
                source_tier = True  # a stored event cannot tell a restore from a recompute
            else:
                restored, source_tier = restore_ok, True
            if restored:
                emit("restored", k, p.name, restored_from_offload_tier=source_tier,
                     restoration_source="offload_tier" if source_tier else "fallback_recompute",
                     cache_tier_from=HOST_TIER, cache_tier_to=GPU_TIER,
                     offload_generation=cl.gen,
                     **({"cache_identity": tier_identity.to_json()} if tier_identity else {}))
            serving = move is Move.SERVE and st.c == k
            if report == "any_source":
                served_restored = pre.resp and serving and pre.src is not Source.ORIGINAL
            else:
                served_restored = pre.resp and serving and pre.src is Source.RESTORED
            if served_restored:
                emit("reuse_after_restore", k, p.name, predicate_satisfied=True,
                     offload_generation=cl.gen)

    def _failure_facts(self, st: _Step, k: int) -> dict[str, Any]:
        pre = st.pre[k]
        ends_failed = st.move is Move.FAIL_REUSE and st.c == k and pre.rq is Reuse.RESTORE_FAILED
        routed_miss = (st.move is Move.REUSE and st.c == k and pre.routed and pre.unreleased
                       and not pre.pred and not pre.host)
        return {"ends_failed": ends_failed, "routed_miss": routed_miss, "step": st.t}

    def _emit_failure_outcome(self, st: _Step, p: Primitive, emit: Any) -> None:
        """The scheduler boundary turns a failed restore (or a routed miss) into a
        claim-scoped outcome, now or (after_termination) one step late."""
        late = p.param("timing") == "after_termination"
        facts = self._late if late else [self._failure_facts(st, k) for k in CLAIMS]
        if not facts:
            return
        attribution = str(p.param("attribution"))
        outcome = str(p.param("outcome"))
        for k in CLAIMS:
            f = facts[k]
            other = 1 - k
            named = {"target": k, "other": other, "all_claims": k}[attribution]
            if f["ends_failed"]:
                emit("restoration_failed", k, p.name, outcome_for=named,
                     claim_scoped_outcome_type=outcome, injected_restoration_failure=True,
                     controlled_restoration_unavailable=False)
            if f["ends_failed"] or f["routed_miss"]:
                targets = [k, other] if attribution == "all_claims" else [named]
                for target in targets:
                    emit("outcome", target, p.name, outcome_type=outcome, outcome_for=target,
                         cause="restoration_failed" if f["ends_failed"] else "routed_miss",
                         failed_claim=k)

    def _render(self, st: _Step, claim_events: dict[tuple[str, int | None], dict[str, Any]],
                emitters: dict[tuple[str, int | None], list[str]]) -> list[Event]:
        """Claim-scoped and active events in lifecycle order, as JSONL-ready records."""
        order = ["accepted", "materialized", "restore_required", "restored",
                 "reuse_after_restore", "offloaded", "harmed", "demoted", "expired",
                 "lost_after_release", "restoration_failed", "outcome",
                 "admitted", "deferred", "refused", "future_denied"]
        out: list[Event] = []
        seq_of_failure: dict[int, int] = {}
        for name in order:
            for k in (*CLAIMS, None):
                key = (name, k)
                if key not in claim_events:
                    continue
                fields = dict(claim_events[key])
                by = tuple(emitters[key])
                if k is not None:
                    obj = self.claims[k].obj
                    base = obj.identity_fields()
                    if "cache_identity" in fields:
                        base["cache_identity"] = fields.pop("cache_identity")
                    fields = {**base, "request_id": obj.request_id,
                              "lifecycle_generation": 1, **fields}
                    if "outcome_for" in fields:
                        named = self.claims[fields.pop("outcome_for")].obj
                        fields["outcome_claim_id"] = named.claim_id
                    if "failed_claim" in fields:
                        failed = self.claims[fields.pop("failed_claim")].obj
                        fields["failed_claim_id"] = failed.claim_id
                    if name == "outcome" and k in seq_of_failure:
                        fields["restoration_failure_event_sequence"] = seq_of_failure[k]
                    if name == "lost_after_release":
                        for lost in fields.pop("blocks_lost"):
                            out.append(self._event(st.t, EVENT_NAMES[name], Origin.RUNTIME, k,
                                                   {**fields, **lost}, by))
                        continue
                else:
                    fields["request_id"] = "active"
                    if "blocking" in fields:
                        blockers = fields.pop("blocking")
                        fields["blocking_claim_ids"] = sorted(
                            self.claims[b].obj.claim_id for b in blockers)
                        fields["blocking_prefix_ids"] = sorted(
                            self.claims[b].obj.prefix_id for b in blockers)
                event = self._event(st.t, EVENT_NAMES[name], Origin.RUNTIME, k, fields, by)
                if name == "restoration_failed" and k is not None:
                    seq_of_failure[k] = event.sequence
                out.append(event)
        return out

    # --- output -----------------------------------------------------------------------------------
    def envelope(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "policy": self.policy,
                "usable_blocks": self.numbers.usable}

    def jsonl(self) -> str:
        env = self.envelope()
        lines = []
        for e in self.events:
            record = e.to_json(env)
            record["move"] = self.move_label(e.step)
            lines.append(json.dumps(record, sort_keys=True, separators=(",", ":")))
        return "\n".join(lines) + ("\n" if lines else "")

    def move_label(self, step: int) -> str:
        """`materialize(resident)`: the move of a step as the log names it."""
        if step < 0:
            return "setup"
        rec = self._steps[step]
        name = rec.move.name.lower()
        return f"{name}({self.names[rec.claim]})" if rec.claim is not None else name


def try_step(sim: Simulator, move: Move, claim: int | None = None) -> StepRecord | None:
    """Take a move with the simulator's own victim policy if it is allowed now."""
    if sim.guard(move, claim) is not None:
        return None
    try:
        return sim.step(move, claim)
    except IllegalMove:
        return None


def resolve_active(sim: Simulator, *, max_moves: int = 6) -> None:
    """Let the runtime decide the waiting active request (admit, demote first, defer,
    refuse) until it runs or is refused; a deferral under a defer policy is final."""
    for _ in range(max_moves):
        if sim.act not in (Active.WAITING, Active.DEFERRED):
            return
        move, claim = sim.decide_active()
        sim.step(move, claim)
        deferring = any(p.param("on_conflict") == "defer"
                        for p in sim.primitives_of(K.HARD_EXCLUSION))
        if move is Move.DEFER and deferring:
            return


def expire_due(sim: Simulator) -> None:
    """A runtime with expiring durations expires every claim whose duration elapsed
    before it allocates (vLLM's prototype checks at the start of each allocation)."""
    for c in CLAIMS:
        try_step(sim, Move.EXPIRE, c)


def resolve_reuse(sim: Simulator, c: int, *, max_moves: int = 6) -> None:
    """Serve a reuse request: from resident KV, else restore, else recompute, else fail."""
    for _ in range(max_moves):
        if sim.claims[c].rq is Reuse.NONE:
            return
        for move in (Move.SERVE, Move.RESTORE, Move.RECOMPUTE, Move.FAIL_REUSE):
            if try_step(sim, move, c) is not None:
                break
        else:
            return


def default_workload(sim: Simulator, claims: int = 1, *, fail_restore: bool = False) -> None:
    """Submit, accept and materialize the claims (offload them where a tier exists),
    let time pass, bring the active request and let the runtime decide it, then reuse
    the first claim (through the router, where there is one)."""
    for c in range(claims):
        for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE, Move.OFFLOAD):
            try_step(sim, move, c)
    for c in range(claims):
        try_step(sim, Move.FINISH_HOLD, c)
    try_step(sim, Move.TICK)
    expire_due(sim)
    sim.step(Move.ARRIVE)
    resolve_active(sim)
    try_step(sim, Move.FINISH_ACTIVE)
    try_step(sim, Move.ROUTE, 0)
    if fail_restore:
        try_step(sim, Move.FAIL_RESTORE)
    if try_step(sim, Move.REUSE, 0) is not None:
        resolve_reuse(sim, 0)
    if any(p.param("timing") == "after_termination"
           for p in sim.primitives_of(K.CLAIM_FAILURE_OUTCOME)):
        sim.step(Move.IDLE)  # late outcomes are reported on the next step


_SLOTS = {v: k for k, v in EVENT_NAMES.items()}


def _slot_of(event_name: str) -> str | None:
    return _SLOTS.get(event_name)


def _compositions(total: int, sizes: Sequence[int]) -> Iterable[list[int]]:
    """Every way to write `total` as a sum of counts bounded by `sizes`."""
    if not sizes:
        if total == 0:
            yield []
        return
    rest_cap = sum(sizes[1:])
    for n in range(max(0, total - rest_cap), min(total, sizes[0]) + 1):
        for tail in _compositions(total - n, sizes[1:]):
            yield [n, *tail]


__all__ = [
    "NO_VICTIMS", "Attention", "ClaimNumbers", "ClaimObject", "Event", "History",
    "IllegalMove", "LivePlan", "Numbers", "Origin", "Simulator", "StepRecord", "Victims",
    "default_workload", "expire_due", "resolve_active", "resolve_reuse", "try_step",
]
