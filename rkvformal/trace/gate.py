"""`trace check`: the mode's bundle atoms judged on a recorded trace, in one pass.

Each record becomes, for every claim it concerns, one step of the bounded model
(`steps.translate`), and every atom of the bundle is evaluated on that step by its own
definition in `smt.obligations` through a `WindowView`.  The answer depends only on the
claim's abstract state, its history flags, and what the record says about it, so it is
computed once per distinct combination and kept (a lazily built automaton): a million
records cost a million dictionary lookups, not a million formula evaluations, and
memory grows with the number of claims and distinct configurations, never with the
number of records.

Fail closed: a trace with no accepted claim fails (nothing in it is evidence for a
claim bundle); after a sequence gap nothing that has not already failed can pass.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from enum import Enum
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from rkvformal.semantics.bundles import load_stdlib
from rkvformal.smt.obligations import ATOMS, AtomDef
from rkvformal.smt.trace import Move, Phase
from rkvformal.trace import schema
from rkvformal.trace.reader import Batch, batches, record_keys
from rkvformal.trace.schema import TraceInputError
from rkvformal.trace.steps import CLAIM_STATE, SHARED_STATE, Flags, Step, initial, translate
from rkvformal.trace.vocabulary import (
    IDENTITY_FIELDS,
    IDENTITY_REQUIRED,
    OUTCOME_TYPES,
    STAGES,
    VOCABULARY,
    Kind,
)
from rkvformal.trace.window import ABSENT_STATE, NO_CONSTANTS, NO_EVENTS, WindowView
from rkvformal.vocab import Atom, Mode

MAX_LOCATIONS = 8  # event_sequence numbers kept per broken atom
PAIRWISE = frozenset({Atom.PRIORITY_ORDER})  # atoms that compare claim c with another
CAPACITY_KINDS = frozenset({Kind.REFUSED, Kind.DEFERRED, Kind.ADMITTED})


_STR = ((str,), "a string")
_INT = ((int,), "an integer")
_BOOL = ((bool,), "true or false")
_SCALAR = ((str, int), "a string or an integer")
# The fields the gate reads, with their types (null is always allowed: absent).
FIELD_TYPES: dict[str, tuple[Any, str]] = {
    **{f: _STR for f in ("claim_id", "outcome_claim_id", "claim_registration",
                         "restoration_source", "claim_scoped_outcome_type", "outcome_type",
                         "feasibility", "medium", "resident_claim_role",
                         "materialization_predicate", "predicate")},
    **{f: _INT for f in ("resident_blocks_required", "resident_blocks_materialized",
                         "leading_blocks_survived", "predicate_after_leading_blocks",
                         "resident_plus_active_blocks", "usable_blocks",
                         "logical_block_position", "priority", "retention_priority",
                         "missing_from", "missing_to", "restoration_failure_event_sequence",
                         "useful_threshold_blocks")},
    **{f: _BOOL for f in ("predicate_materialized", "restored_from_offload_tier",
                          "resident_claim")},
    **{f: _SCALAR for f in IDENTITY_FIELDS if f not in ("materialization_predicate",)},
    "blocking_claim_ids": (list, "a list of claim id strings"),
}

# Which of FIELD_TYPES the gate reads in a record of each kind: exactly these are
# type-checked, wherever the record goes (the general path, the hot loop's memo, `trace
# admit`), so a field is checked where it is read and a mistyped one is reported the
# same whatever came before it.  A claim-scoped record is read for the claims it names
# and, when it names its own, for its identity values; `test_trace_gate_reads` records
# what the general path reads and holds it to this table.
_NAMES = ("claim_id", "outcome_claim_id", "blocking_claim_ids")
_OUTCOMES = ("claim_scoped_outcome_type", "outcome_type")
CLAIM_READS = (*_NAMES, *IDENTITY_FIELDS)  # what every kind that concerns claims reads
_ACCEPTANCE = ("claim_registration", *(f for g in IDENTITY_REQUIRED for f in g))
READS: dict[Kind | None, tuple[str, ...]] = {
    None: ("claim_id",),  # an event name outside the vocabulary: does it name a claim?
    Kind.BOOKKEEPING: (),
    Kind.GAP: ("missing_from", "missing_to"),
    Kind.ACCEPTED: (*_ACCEPTANCE, "resident_blocks_required", "priority",
                    "retention_priority"),
    Kind.MATERIALIZED: ("resident_blocks_materialized", "leading_blocks_survived",
                        "predicate_materialized"),
    Kind.RESTORED: ("restoration_source", "restored_from_offload_tier"),
    Kind.HARMED: ("predicate_after_leading_blocks",),
    Kind.RESTORATION_FAILED: _OUTCOMES,
    **{k: (*_OUTCOMES, "restoration_failure_event_sequence", "feasibility",
           "resident_plus_active_blocks", "usable_blocks") for k in CAPACITY_KINDS},
    Kind.BLOCK_REMOVED: ("medium", "logical_block_position"),
    Kind.VICTIM: ("medium", "logical_block_position"),
    Kind.REQUEST_STARTED: (*_ACCEPTANCE, "resident_claim_role", "resident_claim"),
    Kind.STORED: ("resident_claim_role", "claim_registration"),
    Kind.REQUEST_FINISHED: ("resident_claim_role", "claim_registration"),
}
for _kind in Kind:  # every claim kind also reads the claims it names and their identity
    if _kind not in (Kind.BOOKKEEPING, Kind.GAP):
        READS[_kind] = tuple(dict.fromkeys((*CLAIM_READS, *READS.get(_kind, ()))))


def json_type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


class Status(Enum):
    __hash__ = object.__hash__  # C-level (as `Kind`): a verdict hashes one per claim

    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class Location(NamedTuple):
    """Where a record is (a NamedTuple: a verdict holds one per stage and break)."""

    sequence: int | None  # the record's event_sequence (None: the trace has none)
    line: int


_SLOT = {stage: 2 * i for i, stage in enumerate(STAGES)}  # a stage's place in `seen` lists
_ACCEPTED = _SLOT["accepted"] + 1  # where the line of a claim's acceptance is
_UNSEEN = [None] * (2 * len(STAGES))


class StageLocations(Mapping[str, Location]):
    """A claim's first observation of each stage, in STAGES order.  The gate keeps
    the sequence and line of each in one flat list; the `Location` is made when it is
    read (a verdict on 100,000 claims would make 800,000 of them, and the text report
    reads only the failing claims')."""

    __slots__ = ("_seen",)

    def __init__(self, seen: Sequence[Any]) -> None:
        self._seen = seen  # [sequence, line] per stage of STAGES (line None: not seen)

    def __getitem__(self, stage: str) -> Location:
        i = _SLOT[stage]
        line = self._seen[i + 1]
        if line is None:
            raise KeyError(stage)
        return Location(self._seen[i], line)

    def __contains__(self, stage: object) -> bool:
        i = _SLOT.get(stage) if isinstance(stage, str) else None
        return i is not None and self._seen[i + 1] is not None

    def __iter__(self) -> Iterator[str]:
        return (s for s in STAGES if self._seen[_SLOT[s] + 1] is not None)

    def __len__(self) -> int:
        return sum(line is not None for line in self._seen[1::2])

    def __repr__(self) -> str:
        return repr(dict(self.items()))


@dataclass(frozen=True)
class AtomVerdict:
    atom: Atom
    qualifier: str | None
    status: Status
    broken_at: tuple[Location, ...]  # where it broke (first MAX_LOCATIONS)
    reason: str  # the atom's sentence, or why it is unknown

    @property
    def label(self) -> str:
        return f"{self.atom.value}({self.qualifier})" if self.qualifier else self.atom.value


@dataclass(frozen=True, slots=True)  # (slots: a verdict holds one per claim)
class ClaimVerdict:
    claim_id: str
    status: Status
    accepted: bool
    atoms: tuple[AtomVerdict, ...]
    stages: Mapping[str, Location]  # first observation of each stage
    missing: tuple[str, ...]  # requirements not met (stages, acceptance)


# A verdict makes one ClaimVerdict (and StageLocations) per claim: they are made as their
# __init__ makes them (every field set), by their slots' own setters.
_NEW = object.__new__
_CLAIM_FIELDS = tuple(getattr(ClaimVerdict, f.name).__set__ for f in fields(ClaimVerdict))
_SET_SEEN = vars(StageLocations)["_seen"].__set__  # (the slot's own descriptor)


@dataclass(frozen=True)
class TraceVerdict:
    path: str
    mode: Mode
    required: tuple[str, ...]
    status: Status
    records: int
    claims: tuple[ClaimVerdict, ...]
    gaps: tuple[tuple[int, int, int], ...]  # (missing_from, missing_to, line)
    reasons: tuple[str, ...]  # trace-level reasons (no accepted claim, ...)


@dataclass(slots=True)
class _Track:
    """What the gate keeps per claim: O(1) in the number of records.  The claim's
    abstract configuration (numbers, state, history) is an interned `config` id."""

    name: str
    config: int
    identity: tuple[Any, ...] | None = None  # IDENTITY_FIELDS values, first seen
    whole: bool = False  # every identity value is known (none is None)
    # `identity` if no value of it is a number (text equals only text: True == 1), else
    # None (never a record's): what the hot loop compares a record's identity with
    exact_identity: tuple[Any, ...] | None = None
    # the first observation of each of STAGES: its sequence and line at _SLOT[stage] and
    # the next index (line None: not observed); a flat list is a third of a dict of pairs
    seen: list[Any] = field(default_factory=_UNSEEN.copy)
    # atom index -> where it broke (made on the first break: most claims never break)
    broken: dict[int, list[tuple[Any, int]]] | None = None
    after_gap: frozenset[int] = frozenset()  # atoms first broken after a gap


# (required blocks, priority, claim state, shared state, history tags)
_Config = tuple[int, int, tuple[Any, ...], tuple[Any, ...], frozenset[str]]
# a configuration's first three: what `_pairwise` compares another claim by
_Class = tuple[int, int, tuple[Any, ...]]
# (next config, atoms broken, stages observed (their _SLOT), predicate lost)
_Outcome = tuple[int, tuple[int, ...], tuple[int, ...], bool]
# An _Outcome as the hot loop applies it: (next config, the line's index in `seen` of the
# one stage it observes (0: none), None); or (.., .., the _Outcome) if it breaks an atom
# or observes more than one stage (`Gate._apply` does those).  When claims are compared
# (`_pairwise`, which a lost predicate starts), every step is `_applied`.
_Step = tuple[int, int, _Outcome | None]


def _step_of(outcome: _Outcome) -> _Step:
    """(Claims not compared: a lost predicate is nothing to do.)"""
    config, broken, stages, _lost = outcome
    if broken or len(stages) > 1:
        return config, 0, outcome
    return config, stages[0] + 1 if stages else 0, None


# The names of the fields the gate reads as orjson's strings (`reader.record_keys`).
_KEY = record_keys(("claim_id", "outcome_claim_id", "blocking_claim_ids",
                    "restoration_failure_event_sequence", *FIELD_TYPES))
_CLAIM_ID = repeat(_KEY["claim_id"])

def _applied(outcome: _Outcome) -> _Step:
    return outcome[0], 0, outcome


# Kinds whose flags, for a record naming only its own claim with that claim's identity
# values, are a function of the fields they read (READS, but for the claims they name and
# their identity), plus, when the record has an outcome claim or blocking list naming its
# own claim alone, which of the two it has: `consume` keys its memo on their values.  A
# restoration failure's sequence number is read for whether there is one (the key holds
# its type), not for its value.
_RFES = "restoration_failure_event_sequence"
FAST_FIELDS: dict[Kind, tuple[str, ...]] = {
    kind: tuple(f for f in READS[kind] if f not in CLAIM_READS and f != _RFES)
    for kind in Kind if kind not in (
        Kind.ACCEPTED, Kind.REJECTED, Kind.BLOCK_REMOVED, Kind.VICTIM, Kind.ALL_CLEARED,
        Kind.REQUEST_STARTED, Kind.GENERIC, Kind.BOOKKEEPING, Kind.GAP)}
# How `consume` writes a kind's memo key: its fields' values, and their types unless all
# are text (a text value equals only text; a number equals a flag, True == 1 == 1.0),
# written out for up to three fields and for the capacity decisions (three texts, two
# numbers, and the type of the restoration failure's sequence number); any other kind's
# in general.  (A `tuple(map(...))` costs as much as a whole key written out.)
(_NOT_MEMOIZED, _NONE, _ONE_TYPED, _TWO_TEXTS, _TWO_TYPED, _THREE_TYPED, _CAPACITY,
 _GENERAL) = range(-1, 7)


def _layout(kind: Kind) -> int:
    if kind not in FAST_FIELDS:
        return _NOT_MEMOIZED
    fields = FAST_FIELDS[kind]
    if _RFES in READS[kind] and [FIELD_TYPES[f] for f in fields] == [_STR] * 3 + [_INT] * 2:
        return _CAPACITY
    if _RFES in READS[kind] or len(fields) > 3:
        return _GENERAL
    if len(fields) == 2 and all(FIELD_TYPES[f] is _STR for f in fields):
        return _TWO_TEXTS
    return (_NONE, _ONE_TYPED, _TWO_TYPED, _THREE_TYPED)[len(fields)]


# event name -> (kind, its FAST_FIELDS (or ()), its key's layout), for the kinds a record
# naming only its own claim is a step of that claim for (bookkeeping and gaps are the
# trace's business)
_OWN_KINDS: dict[str, tuple[Kind, tuple[str, ...], int]] = {
    name: (kind, tuple(map(_KEY.__getitem__, FAST_FIELDS.get(kind, ()))), _layout(kind))
    for name, kind in VOCABULARY.items() if kind not in (Kind.BOOKKEEPING, Kind.GAP)}
_RFES_KEY = _KEY[_RFES]
_OUTCOME_KEY, _BLOCKING_KEY = _KEY["outcome_claim_id"], _KEY["blocking_claim_ids"]
# a record's identity values, if it has all
_IDENTITY_OF = itemgetter(*map(_KEY.__getitem__, IDENTITY_FIELDS))
# kind -> {field it reads (READS): the types its value may have as is (null: absent)};
# a list field's strings are looked at one by one
_CHECKS: dict[Kind | None, dict[str, frozenset[type]]] = {
    kind: {_KEY[name]: frozenset(
        (type(None),) if FIELD_TYPES[name][0] is list else (type(None), *FIELD_TYPES[name][0]))
        for name in names}
    for kind, names in READS.items()}
_TEXT = frozenset((str, type(None)))


def _identity_values(rec: Mapping[str, Any]) -> tuple[Any, ...]:
    """The record's IDENTITY_FIELDS values (an absent one is None, as if null)."""
    try:
        return _IDENTITY_OF(rec)
    except KeyError:
        return tuple(map(rec.get, IDENTITY_FIELDS))


def _carries_required_identity(get: Any) -> bool:
    """Every group of IDENTITY_REQUIRED has a value in the record (`get` is its .get)."""
    for group in IDENTITY_REQUIRED:
        for name in group:
            if get(name):
                break
        else:
            return False
    return True


def _either(get: Any, first: str, second: str) -> Any:
    """Field `first`, or `second` if `first` is null or absent (null is absent: a memo
    key, which holds None for both, must not tell them apart)."""
    value = get(first)
    return get(second) if value is None else value


def _identity_flags(values: tuple[Any, ...]) -> tuple[bool, bool]:
    """(every identity value is known, all are text): what `_Track.whole` and
    `_Track.exact_identity` keep of them."""
    return None not in values, _TEXT.issuperset(map(type, values))


def _know_identity(track: _Track, values: tuple[Any, ...],
                   flags: tuple[bool, bool] | None = None) -> None:
    """The claim's identity is `values` (`flags`: their `_identity_flags`, if known)."""
    whole, exact = _identity_flags(values) if flags is None else flags
    track.identity, track.whole = values, whole
    track.exact_identity = values if exact else None


# The fields an acceptance reads (READS) beyond the claims it names and their identity:
# the text ones (a text value equals only text), then the numbers (1 == 1.0 == True),
# the required blocks first.  (Unpacked: a change to READS must change the key.)
_ACCEPTANCE_READS = [f for f in READS[Kind.ACCEPTED] if f not in CLAIM_READS]
_REGISTRATION, _PREDICATE = (_KEY[f] for f in _ACCEPTANCE_READS if FIELD_TYPES[f] is _STR)
_REQUIRED, _USEFUL, _PRIORITY, _RETENTION = (_KEY[f] for f in sorted(
    (f for f in _ACCEPTANCE_READS if FIELD_TYPES[f] is _INT),
    key=lambda f: f != "resident_blocks_required"))
_PREDICATE_TEXT = IDENTITY_FIELDS.index("materialization_predicate")


def _acceptance_key(get: Any, identity: tuple[Any, ...]) -> tuple[Any, ...]:
    """What a new claim's own acceptance (`Gate._acceptance`) and its type check depend
    on (`get` is the record's .get): the values of the fields it reads, with the types
    of the numbers; of its identity values, the types and which are empty (which groups
    of IDENTITY_REQUIRED it carries, whether all are known, whether all are text); its
    predicate's text only if it states no number of required blocks (the text is read
    for one).  Equal keys: the same type check, the same answer.  (Written out: a
    `tuple(map(...))` of six costs as much as this whole key.)"""
    required, useful, priority, retention = (get(_REQUIRED), get(_USEFUL), get(_PRIORITY),
                                             get(_RETENTION))
    a, b, c, d, e, f = identity
    return (get(_REGISTRATION), get(_PREDICATE), required, useful, priority, retention,
            required.__class__, useful.__class__, priority.__class__, retention.__class__,
            a.__class__, b.__class__, c.__class__, d.__class__, e.__class__, f.__class__,
            not a, not b, not c, not d, not e, not f,
            None if required.__class__ is int else identity[_PREDICATE_TEXT])


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A pass allocates a record per line and keeps tuples per claim, none of them in
    reference cycles: the cyclic collector would only rescan the growing set of live
    per-claim objects (it halved throughput on 100,000 claims, docs/BENCHMARKS.md).
    Reference counting still frees every record.  What the pass made is long-lived:
    it goes straight to the oldest generation (`freeze` then `unfreeze`), so the
    first collection after the pass does not scan it all as young objects (the
    process's other young objects go there with it: any cycle among them is freed by
    the next full collection instead of a young one).  Not done if the process has
    frozen objects of its own: `unfreeze` would thaw them too."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():  # (nobody else's frozen objects to thaw)
                gc.freeze()
                gc.unfreeze()
            gc.enable()


class Gate:
    """Feed records in order (`feed`), then read the verdict (`verdict`)."""

    def __init__(self, mode: Mode, require: Iterable[str] = (), claim: str | None = None,
                 path: str = "<trace>") -> None:
        bundle = load_stdlib()[mode]
        self.mode, self.path, self.claim = mode, path, claim
        self.required = tuple(require)
        unknown = [s for s in self.required if s not in STAGES]
        if unknown:
            raise ValueError(f"unknown stage {unknown[0]!r}; stages: {', '.join(STAGES)}")
        # where the lines of the acceptance and of each required stage are kept
        self._needed = [_ACCEPTED, *(_SLOT[s] + 1 for s in self.required)]
        # (a tuple whatever their number: the acceptance's line is asked twice)
        self._needed_lines = itemgetter(_ACCEPTED, *self._needed)
        self.atoms: tuple[tuple[AtomDef, str | None], ...] = tuple(
            (ATOMS[e.atom], e.qualifier) for e in bundle.entries)
        self.local = tuple(i for i, (d, _q) in enumerate(self.atoms) if d.atom not in PAIRWISE)
        self.pairwise = tuple(i for i, (d, _q) in enumerate(self.atoms) if d.atom in PAIRWISE)
        self.tracks: dict[str, _Track] = {}
        self._all_pass = tuple(AtomVerdict(d.atom, q, Status.PASS, (), d.words)
                               for d, q in self.atoms)
        self.memo: dict[tuple[Any, ...], _Outcome] = {}
        self.fast: dict[tuple[Any, ...], _Step] = {}  # keyed by raw record fields
        self.configs: list[_Config] = []
        # `_acceptance_key` -> what a new claim's own acceptance does (`_acceptance`)
        self._accepted: dict[tuple[Any, ...], tuple[int, _Step, bool, tuple[bool, bool]]] = {}
        # (config, required blocks, priority) -> the config once a claim is accepted
        self._learned: dict[tuple[int, int, int], int] = {}
        self.config_ids: dict[_Config, int] = {}
        # a config's (required blocks, priority, claim state): interned, per config
        self._classes: list[_Class] = []
        self._class_ids: dict[_Class, int] = {}
        self._class_of: list[int] = []
        unseen, shared = initial()  # a claim nobody has mentioned yet
        self._fresh = self._config((1, 0, tuple(unseen[n] for n in CLAIM_STATE),
                                    tuple(shared[n] for n in SHARED_STATE), frozenset()))
        self._shared = False  # a verdict holds the claims' `seen` lists
        # When claims are compared (`_pairwise`), every step goes through `_apply`, which
        # keeps the number of claims in each configuration.
        self._step_of = _step_of if not self.pairwise else _applied
        self._census: dict[int, int] = {}  # `_classes` index -> claims in it (if compared)
        self._pairs: dict[tuple[int, int, int], tuple[int, ...]] = {}  # `_compare`'s
        self.records = 0
        self.gaps: list[tuple[int, int, int]] = []
        self.unnamed = 0  # records about KV that name no claim (generic substrate)
        # event names outside the vocabulary: name -> (first line, named a claim)
        self.unrecognised: dict[str, tuple[int, bool]] = {}

    # --- feeding -------------------------------------------------------------------
    def feed(self, line: int, rec: Mapping[str, Any]) -> None:
        self._unshare()
        self.records += 1
        self._feed(line, rec)

    def _feed(self, line: int, rec: Mapping[str, Any]) -> None:
        """One record, the general way (`records` is counted by the caller)."""
        kind = VOCABULARY.get(rec["event"])
        self._validate(line, rec, kind)
        kind, names = self._concerned(line, rec, kind)
        seq, tracks = rec.get("event_sequence"), self.tracks
        for name in names:
            self._step(tracks.get(name) or self._track(name), kind, rec, name, seq, line)

    def _step(self, track: _Track, kind: Kind, rec: Mapping[str, Any], name: str, seq: Any,
              line: int) -> None:
        """The record, for claim `name` (`track`): what it says, what that does."""
        flags = self._flags(kind, rec, name, track)
        self._apply(track, self._outcome(track.config, kind, flags), seq, line)

    def _accept(self, name: str, rec: Mapping[str, Any], seq: Any, line: int) -> None:
        """`_step` for the acceptance of claim `name`, not seen before, by its own record (its
        outcome claim and blocking list, if any, name it alone): what `_validate`,
        `_flags` and `_identity` find for it is a function of `_acceptance_key` (the
        values and types of the fields they read, but for the identity values, of which
        the types and truth), so it is found once per key and kept."""
        identity = _identity_values(rec)
        key = _acceptance_key(rec.get, identity)
        try:
            found = self._accepted.get(key)
            keep = True
        except TypeError:  # an unhashable value: mistyped, which the type check says
            found, keep = None, False
        if found is None:
            self._validate(line, rec, Kind.ACCEPTED)
            found = self._acceptance(rec, identity)
            if keep:
                self._accepted[key] = found
        track = self._track(name)
        learned, out, ident_ok, flags = found
        if ident_ok:
            _know_identity(track, identity, flags)
        after, slot, outcome = out
        if outcome is not None:  # (always, when claims are compared: counted by `_move`)
            self._move(track, learned)  # (with its numbers)
            self._apply(track, outcome, seq, line)
            return
        if slot:  # (a new claim has seen nothing yet)
            seen = track.seen
            seen[slot - 1] = seq
            seen[slot] = line
        track.config = after

    def _acceptance(self, rec: Mapping[str, Any], identity: tuple[Any, ...],
                    ) -> tuple[int, _Step, bool, tuple[bool, bool]]:
        """What a new claim's own acceptance does: (its configuration with the numbers
        it learns, the step, whether it carries the required identity, and its
        identity's `_identity_flags`)."""
        get = rec.get
        ok = get("claim_registration") != "post_hoc"
        config = self._learned_config(rec, self._fresh)
        ident_ok = _carries_required_identity(get)
        flags = tuple(Flags(own=True, ident_ok=ident_ok, ok=ok))
        step = self._step_of(self._outcome(config, Kind.ACCEPTED, flags))
        return config, step, ident_ok, _identity_flags(identity)

    def consume(self, records: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
        """`feed` every record."""
        self.consume_batches(batches(records))

    def consume_batches(self, chunks: Iterable[Batch]) -> None:
        """`feed` every record of every batch (`reader.read_batches` reads them)."""
        self._unshare()
        with _no_cyclic_gc():
            for batch in chunks:
                self._consume(batch)

    def _consume(self, batch: Batch) -> None:
        """The hot loop.  A record that names only its own claim is, for a claim not
        seen before, one `_step`; for a known claim carrying the identity values it
        already has, one lookup in a memo keyed by the raw fields its kind reads
        (`FAST_FIELDS`).  Anything else is `_feed`.

        What does not depend on the claims' progress (each record's claim, kind, and
        claim if already known) is read for the whole batch first, by C-level `map`s.
        The memo key is (configuration, kind, extra, the fields' values...): the same
        keys are equal, and the same records validated, as with the fields' values in
        one tuple; they are written out by count (a tuple of two `get`s is a third of
        `tuple(map(...))`), and a step that breaks nothing is applied here."""
        tracks, fast, feed = self.tracks, self.fast, self._feed
        identity_of = _IDENTITY_OF
        outcome_key, blocking_key = _OUTCOME_KEY, _BLOCKING_KEY
        dget = dict.get  # (`rec.get` would make a bound method per record)
        records: Sequence[Any] = batch.records  # (dicts: `dict.get` raises on anything else)
        self.records += len(records)
        try:
            owns: list[Any] = list(map(dict.get, records, _CLAIM_ID))
            entries = list(map(_OWN_KINDS.get, batch.events))
            known = list(map(tracks.get, owns))
        except TypeError:  # not a dict, or an unhashable name: the general way
            for line, rec in zip(batch.lines, records, strict=True):
                feed(line, rec)
            return
        for line, rec, seq, own, entry, track in zip(
                batch.lines, records, batch.sequences, owns, entries, known, strict=True):
            if entry is None:
                feed(line, rec)
                continue
            kind, fields, layout = entry
            extra: tuple[Any, ...] = ()
            if outcome_key in rec or blocking_key in rec:
                # still only its own claim if the outcome and blocking list name it alone
                outcome_claim, blocking = rec.get(outcome_key), rec.get(blocking_key)
                if outcome_claim not in (None, own) or blocking not in (None, [], [own]):
                    feed(line, rec)
                    continue
                extra = (outcome_claim is None, not blocking)
            if track is None:  # (a claim's name is text: a known one is text too)
                if own.__class__ is not str:
                    feed(line, rec)
                    continue
                track = tracks.get(own)  # (made by an earlier record of this batch?)
                if track is None:  # a new claim (what `_feed` would do, without the search)
                    if kind is Kind.ACCEPTED:
                        self._accept(own, rec, seq, line)
                    else:
                        self._validate(line, rec, kind)
                        self._step(self._track(own), kind, rec, own, seq, line)
                    continue
            try:
                same = identity_of(rec) == track.exact_identity
            except KeyError:  # a field is absent: as null if the claim's is unknown
                same = not track.whole and tuple(
                    map(rec.get, IDENTITY_FIELDS)) == track.exact_identity
            if not same:
                feed(line, rec)
                continue
            config = track.config
            if layout == _NONE:
                key: tuple[Any, ...] = (config, kind, extra)
            elif layout == _TWO_TEXTS:
                key = (config, kind, extra, dget(rec, fields[0]), dget(rec, fields[1]))
            elif layout == _THREE_TYPED:
                a, b, c = dget(rec, fields[0]), dget(rec, fields[1]), dget(rec, fields[2])
                key = (config, kind, extra, a, b, c, a.__class__, b.__class__, c.__class__)
            elif layout == _TWO_TYPED:
                a, b = dget(rec, fields[0]), dget(rec, fields[1])
                key = (config, kind, extra, a, b, a.__class__, b.__class__)
            elif layout == _ONE_TYPED:
                a = dget(rec, fields[0])
                key = (config, kind, extra, a, a.__class__)
            elif layout == _CAPACITY:
                a, b = dget(rec, fields[3]), dget(rec, fields[4])
                key = (config, kind, extra, dget(rec, fields[0]), dget(rec, fields[1]),
                       dget(rec, fields[2]), a, b, a.__class__, b.__class__,
                       dget(rec, _RFES_KEY).__class__)
            elif layout == _GENERAL:
                get = rec.get
                values = tuple(map(get, fields))
                key = (config, kind, extra, values, tuple(map(type, values)),
                       get(_RFES_KEY).__class__)
            else:  # (_NOT_MEMOIZED: an acceptance of a known claim, say)
                feed(line, rec)
                continue
            try:
                out = fast.get(key)
            except TypeError:  # an unhashable field value: the slow path says so
                feed(line, rec)
                continue
            if out is None:
                self._validate(line, rec, kind)
                out = fast[key] = self._step_of(self._outcome(
                    config, kind, self._flags(kind, rec, own, track)))
            config, slot, outcome = out
            if outcome is not None:
                self._apply(track, outcome, seq, line)
                continue
            if slot:
                seen = track.seen
                if seen[slot] is None:
                    seen[slot - 1] = seq
                    seen[slot] = line
            track.config = config

    def _validate(self, line: int, rec: Mapping[str, Any], kind: Kind | None) -> None:
        """The fields the gate reads in a record of this kind (READS) have their schema
        types (docs/TRACES.md), or the record is reported, with its line: a wrong type
        is never read as something."""
        checks = _CHECKS[kind].get
        for name, value in rec.items():  # (the record's fields: fewer than READS has)
            allowed = checks(name)
            if allowed is None or value.__class__ in allowed:
                continue
            wanted, words = FIELD_TYPES[name]
            if wanted is list and isinstance(value, list) and all(
                    type(x) is str for x in value):
                continue
            raise TraceInputError(self.path, line, f"field {name!r} must be {words}, "
                                  f"got {json_type(value)}", "see docs/TRACES.md, "
                                  "'Fields the gate reads'")

    def observe(self, line: int, rec: Mapping[str, Any]) -> list[tuple[str, Step]]:
        """The model step this record is for each claim it concerns (`admit` reads it;
        the same translation `feed` memoizes, computed afresh)."""
        self._unshare()
        self.records += 1
        steps = []
        kind = VOCABULARY.get(rec["event"])
        self._validate(line, rec, kind)
        kind, names = self._concerned(line, rec, kind)
        where = (rec.get("event_sequence"), line)
        for name in names:
            track = self.tracks.get(name) or self._track(name)
            flags = self._flags(kind, rec, name, track)
            state, shared, _history = self.configs[track.config][2:]
            step = translate(kind, Flags(*flags), dict(zip(CLAIM_STATE, state, strict=True)),
                             dict(zip(SHARED_STATE, shared, strict=True)),
                             self.configs[track.config][0])
            self._advance(track, kind, flags, where)
            if step is not None:
                steps.append((track.name, step))
        return steps

    def _track(self, name: str) -> _Track:
        track = self.tracks[name] = _Track(name, self._fresh)
        if self.pairwise:
            fresh = self._class_of[self._fresh]
            self._census[fresh] = self._census.get(fresh, 0) + 1
        return track

    def _config(self, values: _Config) -> int:
        """Intern a claim's abstract configuration (numbers, state, history)."""
        index = self.config_ids.get(values)
        if index is None:
            index = self.config_ids[values] = len(self.configs)
            self.configs.append(values)
            klass = values[:3]  # (what `_pairwise` compares another claim by)
            self._class_of.append(self._class_ids.setdefault(klass, len(self._class_ids)))
            if len(self._class_ids) > len(self._classes):
                self._classes.append(klass)
        return index

    def _concerned(self, line: int, rec: Mapping[str, Any],
                   kind: Kind | None) -> tuple[Kind, list[str]]:
        """The record's kind (its event's, None outside the vocabulary: then GENERIC)
        and the claims it concerns, in order (none: it is about no claim, and what it
        says about the trace is noted here)."""
        if kind is None:  # (it concerns no claim the gate can judge: reported instead)
            self.unrecognised.setdefault(rec["event"], (line, rec.get("claim_id") is not None))
            return Kind.GENERIC, []
        if kind is Kind.BOOKKEEPING:
            return kind, []
        if kind is Kind.GAP:
            self.gaps.append((rec.get("missing_from", -1), rec.get("missing_to", -1), line))
            return kind, []
        own = rec.get("claim_id")
        names: list[str] = [own] if isinstance(own, str) else []
        outcome_claim = rec.get("outcome_claim_id")
        if isinstance(outcome_claim, str) and outcome_claim not in names:
            names.append(outcome_claim)
        blocking = rec.get("blocking_claim_ids") or ()
        for b in blocking:
            if isinstance(b, str) and b not in names:
                names.append(b)
        if kind in CAPACITY_KINDS and own is None:
            names += [n for n in self.tracks if n not in names]
        if not names:
            self.unnamed += 1
        return kind, names

    def _flags(self, kind: Kind, rec: Mapping[str, Any], name: str,
               track: _Track) -> tuple[Any, ...]:
        """What the record says about claim `name`, as the fields of `Flags` (only the
        fields the record's kind can use are read: this runs once per record)."""
        get = rec.get
        own = get("claim_id") == name
        outcome = blocking = rf_for_c = infeasible = resident_role = False
        ok, in_range, otype, blocks = True, True, -1, -1
        if kind is Kind.ACCEPTED:
            ok = get("claim_registration") != "post_hoc"
        elif kind is Kind.MATERIALIZED:
            counted = _either(get, "resident_blocks_materialized", "leading_blocks_survived")
            blocks = counted if isinstance(counted, int) else -1
            ok = get("predicate_materialized") is not False
        elif kind is Kind.RESTORED:
            source = get("restoration_source")
            ok = source == "offload_tier" if source is not None else (
                get("restored_from_offload_tier") is True)
        elif kind is Kind.HARMED:  # (a loss after release counts no blocks)
            after = get("predicate_after_leading_blocks")
            blocks = after if isinstance(after, int) else -1
        elif kind is Kind.RESTORATION_FAILED:
            rf_for_c = get("outcome_claim_id") == name
            otype = OUTCOME_TYPES.get(str(_either(get, *_OUTCOMES)), -1)
        elif kind is Kind.REFUSED or kind is Kind.DEFERRED or kind is Kind.ADMITTED:
            outcome_claim = get("outcome_claim_id")
            rf_for_c = outcome_claim == name
            blocking = name in (get("blocking_claim_ids") or ())
            cited = get("restoration_failure_event_sequence") is not None
            if kind is Kind.REFUSED and (
                    outcome_claim is not None or cited
                    or str(get("feasibility", "")).startswith("infeasible_restore")):
                outcome = rf_for_c or blocking
                otype = OUTCOME_TYPES.get(str(_either(get, *_OUTCOMES)), -1)
            demand, usable = get("resident_plus_active_blocks"), get("usable_blocks")
            infeasible = str(get("feasibility", "")).startswith("infeasible") or (
                isinstance(demand, int) and isinstance(usable, int) and demand > usable)
        elif kind is Kind.BLOCK_REMOVED or kind is Kind.VICTIM:
            medium = get("medium")
            pos = get("logical_block_position")
            in_range = (medium is None or str(medium).lower() == "gpu") and (
                not isinstance(pos, int) or pos < self.configs[track.config][0])
        elif kind is Kind.REQUEST_STARTED or kind is Kind.STORED or (
                kind is Kind.REQUEST_FINISHED):
            resident_role = own and get("resident_claim_role") == "resident" and (
                kind is not Kind.REQUEST_STARTED or get("resident_claim") is True)
            ok = get("claim_registration") != "post_hoc"
        ident_ok = self._identity(kind, rec, track, resident_role) if own else True
        return (own, outcome, blocking, rf_for_c, otype, ident_ok, ok, infeasible, in_range,
                resident_role, blocks)

    def _identity(self, kind: Kind, rec: Mapping[str, Any], track: _Track,
                  resident_role: bool) -> bool:
        """The record's identity fields agree with the claim's first ones; an
        acceptance must carry a predicate and an object identity."""
        known = track.identity
        values = _identity_values(rec)
        if kind is not Kind.ACCEPTED and not (kind is Kind.REQUEST_STARTED and resident_role):
            if values == known:
                return True
        elif track.seen[_ACCEPTED] is None:  # accepting a claim not accepted yet
            if kind is Kind.ACCEPTED:
                self._learn_claim(rec, track)
            if not _carries_required_identity(rec.get):
                return False
        if known is None:
            stable = True
        else:
            stable = all(a is None or b is None or a == b
                         for a, b in zip(known, values, strict=True))
            values = tuple(b if a is None else a for a, b in zip(known, values, strict=True))
        _know_identity(track, values)
        return stable

    def _learn_claim(self, rec: Mapping[str, Any], track: _Track) -> None:
        self._move(track, self._learned_config(rec, track.config))

    def _learned_config(self, rec: Mapping[str, Any], config: int) -> int:
        """`config` with the numbers an acceptance gives its claim (required blocks,
        priority)."""
        get = rec.get
        required = get("resident_blocks_required")
        if required.__class__ is not int:
            text = str(get("materialization_predicate", ""))
            inside = text[text.find("(") + 1: text.rfind(")")] if "(" in text else ""
            required = int(inside) if inside.isdigit() else 1
        priority = _either(get, "priority", "retention_priority")
        key = (config, max(1, required), priority if priority.__class__ is int else 0)
        learned = self._learned.get(key)
        if learned is None:  # (`_config` of equal values is the same configuration)
            _r, _p, state, shared, history = self.configs[config]
            learned = self._learned[key] = self._config((*key[1:], state, shared, history))
        return learned

    # --- one step --------------------------------------------------------------------
    def _advance(self, track: _Track, kind: Kind, flags: tuple[Any, ...],
                 where: tuple[Any, int]) -> None:
        self._apply(track, self._outcome(track.config, kind, flags), *where)

    def _outcome(self, config: int, kind: Kind, flags: tuple[Any, ...]) -> _Outcome:
        key = (config, kind, flags)
        out = self.memo.get(key)
        if out is None:
            out = self.memo[key] = self._evaluate(config, kind, Flags(*flags))
        return out

    def _apply(self, track: _Track, out: _Outcome, seq: Any, line: int) -> None:
        """Record what one step did to the claim (at `seq`, `line`) and move it on."""
        config, broken, stages, lost = out
        if stages:
            seen = track.seen
            for i in stages:
                if seen[i + 1] is None:
                    seen[i], seen[i + 1] = seq, line
        if broken or lost:
            for i in broken:
                self._break(track, i, (seq, line))
            if lost and self.pairwise:
                self._pairwise(track, config, (seq, line))
        self._move(track, config)

    def _break(self, track: _Track, i: int, where: tuple[Any, int]) -> None:
        broken = track.broken
        if broken is None:
            broken = track.broken = {}
        seen = broken.setdefault(i, [])
        if not seen and self.gaps:
            track.after_gap |= {i}
        if len(seen) < MAX_LOCATIONS:
            seen.append(where)

    def _evaluate(self, config: int, kind: Kind, flags: Flags) -> _Outcome:
        required, priority, state, shared_state, history = self.configs[config]
        before = dict(zip(CLAIM_STATE, state, strict=True))
        shared = dict(zip(SHARED_STATE, shared_state, strict=True))
        step = translate(kind, flags, before, shared, required)
        if step is None:
            return config, (), (), False
        view = self._view(step, before, (required, priority), None, history)
        broken = tuple(i for i in self.local
                       if self.atoms[i][0].violation(view, 0, 0, self.atoms[i][1]))
        history = history | {tag for (tag, c), now in view.fired.items() if c == 0 and now}
        ev = step.events
        stages = tuple(_SLOT[s] for s, seen in (
            ("accepted", ev["accepted"] and step.move is Move.ACCEPT),
            ("materialized", ev["materialized"] and step.after["inr"] == required),
            ("offloaded", ev["offloaded"]),
            ("restore_required", ev["restore_required"]),
            ("restored", ev["restored"] and ev["restored_from_tier"]),
            ("reused_after_restore", ev["reuse_after_restore"]),
            ("restoration_failed", ev["restoration_failed"] and ev["rf_for"] == 0
             and step.own_move),
            ("outcome", ev["outcome"]),
        ) if seen)
        lost = before["inr"] == required and step.after["inr"] < required
        after = self._config((required, priority, tuple(step.after[n] for n in CLAIM_STATE),
                              tuple(step.shared_after[n] for n in SHARED_STATE),
                              frozenset(history)))
        return after, broken, stages, lost

    def _view(self, step: Step, before: Mapping[str, Any], numbers: tuple[int, int],
              other: _Class | None, history: frozenset[str]) -> WindowView:
        required, priority = numbers
        usable, demand = (0, 1) if step.infeasible else (1 << 30, 0)
        consts = {**NO_CONSTANTS, "U": usable, "A": demand, "R": required, "P": priority}
        slot0 = (consts, before, step.after, step.events)
        if other is None:
            absent = dict(ABSENT_STATE)
            slot1 = ({**NO_CONSTANTS, "R": 1}, absent, absent, NO_EVENTS)
        else:
            state = dict(zip(CLAIM_STATE, other[2], strict=True))
            slot1 = ({**NO_CONSTANTS, "R": other[0], "P": other[1]}, state, state, NO_EVENTS)
        globals_ = {"mv": int(step.move), "mc": 0 if step.own_move else -1, "need": 0,
                    "ev_cached": 0, "drop": False, "ev_in": (step.ev_in, 0),
                    "ev_out": (0, 0)}
        for name in ("admitted", "deferred", "refused", "future_admitted", "future_denied"):
            globals_[name] = step.events[name]
        return WindowView((slot0, slot1), (step.shared_before, step.shared_after), globals_,
                          {(tag, 0): True for tag in history})

    def _pairwise(self, track: _Track, after_config: int, where: tuple[Any, int]) -> None:
        """priority_order compares the losing claim with every other claim (not kept in
        the automaton: it is asked only when a claim loses its predicate).  What it says
        about another claim depends only on that claim's numbers and state (`_view`'s
        slot 1), so it is asked once per (numbers, state) the other claims are in
        (`_census`), and said for each claim there: a break per claim, as many as
        MAX_LOCATIONS keeps."""
        own, mine = track.config, self._class_of[track.config]
        for klass, claims in self._census.items():
            if klass == mine:
                claims -= 1  # (not the claim itself)
            if claims <= 0:
                continue
            key = (own, after_config, klass)
            broken = self._pairs.get(key)
            if broken is None:
                broken = self._pairs[key] = self._compare(own, after_config,
                                                          self._classes[klass])
            for i in broken:
                for _ in range(min(claims, MAX_LOCATIONS)):
                    self._break(track, i, where)

    def _compare(self, config: int, after_config: int,
                 other: _Class) -> tuple[int, ...]:
        """The pairwise atoms a claim in configuration `config` breaks by losing its
        predicate (to `after_config`) against a claim with `other`'s numbers and state."""
        required, priority, state, shared, history = self.configs[config]
        if other[2][CLAIM_STATE.index("phase")] != Phase.ACCEPTED:
            return ()
        before = dict(zip(CLAIM_STATE, state, strict=True))
        after = dict(zip(CLAIM_STATE, self.configs[after_config][2], strict=True))
        shared_map = dict(zip(SHARED_STATE, shared, strict=True))
        step = Step(Move.IDLE, False, dict(NO_EVENTS), after, shared_map, shared_map,
                    before["inr"] - after["inr"])
        view = self._view(step, before, (required, priority), other, history)
        return tuple(i for i in self.pairwise
                     if self.atoms[i][0].violation(view, 0, 0, self.atoms[i][1]))

    def _move(self, track: _Track, config: int) -> None:
        """The claim is now in `config` (and counted with its numbers and state, if
        claims are compared)."""
        if self.pairwise:
            before, after = self._class_of[track.config], self._class_of[config]
            if before != after:
                census = self._census
                census[before] -= 1
                census[after] = census.get(after, 0) + 1
        track.config = config

    # --- the answer -------------------------------------------------------------------
    def verdict(self) -> TraceVerdict:
        """The verdict on the records fed so far.  Its stages are the claims' own lists
        of first observations (a verdict on 100,000 claims would copy 100,000 lists):
        feeding more records first gives the claims copies (`_unshare`)."""
        with _no_cyclic_gc():
            verdict = self._verdict()
        self._shared = True
        return verdict

    def _unshare(self) -> None:
        """Before a record changes a claim's observations: if a verdict holds them,
        the claims go on with copies (the verdict keeps what it said)."""
        if self._shared:
            for track in self.tracks.values():
                track.seen = track.seen.copy()
            self._shared = False

    def _verdict(self) -> TraceVerdict:
        judged: Iterable[_Track] = self.tracks.values()
        if self.claim is not None:
            judged = [t for t in (self.tracks.get(self.claim),) if t is not None]
        # (made in the order the claims came, the order they lie in memory, then sorted)
        claims = tuple(sorted(self._claim_verdicts(judged), key=attrgetter("claim_id")))
        accepted = any(map(attrgetter("accepted"), claims))
        reasons: list[str] = []
        if not accepted:
            reasons.append(f"no accepted claim{f' {self.claim!r}' if self.claim else ''} in "
                           "the trace: nothing in it is evidence for a claim bundle"
                           + (f" ({self.unnamed} records name no claim)" if self.unnamed else ""))
        if self.gaps:
            reasons.append(f"{len(self.gaps)} sequence gap(s): what the missing events "
                           "could have changed is unknown")
        if self.unrecognised:
            names = sorted(self.unrecognised.items(), key=lambda kv: kv[1][0])
            reasons.append("event names outside the vocabulary (docs/TRACES.md): " + ", ".join(
                f"{name!r} (line {line})" for name, (line, _c) in names[:5])
                + ("; records naming a claim cannot be judged" if any(
                    named for _l, named in self.unrecognised.values()) else ""))
        claim_blind = any(named for _l, named in self.unrecognised.values())
        statuses = set(map(attrgetter("status"), claims))
        if Status.FAIL in statuses or not accepted:
            status = Status.FAIL
        elif Status.UNKNOWN in statuses or self.gaps or claim_blind:
            status = Status.UNKNOWN
        else:
            status = Status.PASS
        return TraceVerdict(self.path, self.mode, self.required, status, self.records, claims,
                            tuple(self.gaps), tuple(reasons))

    def _claim_verdicts(self, tracks: Iterable[_Track]) -> list[ClaimVerdict]:
        """One ClaimVerdict per track (`_claim_verdict`, written out for the common
        case: nothing broken, no gap, every required stage seen)."""
        new, seen_of = _NEW, _SET_SEEN
        s_claim, s_status, s_accepted, s_atoms, s_stages, s_missing = _CLAIM_FIELDS
        all_pass, passing, needed_lines = self._all_pass, Status.PASS, self._needed_lines
        claims = []
        for track in tracks:
            seen = track.seen
            if track.broken or self.gaps or None in needed_lines(seen):
                claims.append(self._claim_verdict(track))
                continue
            stages = new(StageLocations)
            seen_of(stages, seen)
            claim = new(ClaimVerdict)
            s_claim(claim, track.name)
            s_status(claim, passing)
            s_accepted(claim, True)  # (acceptance is always needed)
            s_atoms(claim, all_pass)
            s_stages(claim, stages)
            s_missing(claim, ())
            claims.append(claim)
        return claims

    def _claim_verdict(self, track: _Track) -> ClaimVerdict:
        seen = track.seen
        accepted = seen[_ACCEPTED] is not None
        if not track.broken and not self.gaps:
            atoms, status = self._all_pass, Status.PASS  # the common case: one shared tuple
        else:
            atoms = tuple(self._atom_verdict(track, i) for i in range(len(self.atoms)))
            statuses = [a.status for a in atoms]
            status = (Status.FAIL if Status.FAIL in statuses
                      else Status.UNKNOWN if Status.UNKNOWN in statuses else Status.PASS)
        missing: tuple[str, ...] = ()
        if None in self._needed_lines(seen):
            needed = [] if accepted else ["accepted"]
            needed += [s for s in self.required if seen[_SLOT[s] + 1] is None
                       and s not in needed]
            missing, status = tuple(needed), Status.FAIL
        return ClaimVerdict(track.name, status, accepted, atoms, StageLocations(seen), missing)

    def _atom_verdict(self, track: _Track, i: int) -> AtomVerdict:
        d, q = self.atoms[i]
        broken = tuple(map(Location._make, (track.broken or {}).get(i, ())))
        if broken and i not in track.after_gap:
            return AtomVerdict(d.atom, q, Status.FAIL, broken, d.words)
        if self.gaps:
            why = "a sequence gap hides events that could " + (
                "explain this" if broken else "break it")
            return AtomVerdict(d.atom, q, Status.UNKNOWN, broken, why)
        return self._all_pass[i]


def check(records: Iterable[tuple[int, Mapping[str, Any]]], mode: Mode,
          require: Iterable[str] = (), claim: str | None = None,
          path: str = "<trace>") -> TraceVerdict:
    gate = Gate(mode, require, claim, path)
    gate.consume(records)
    return gate.verdict()


__all__ = ["AtomVerdict", "ClaimVerdict", "Gate", "Location", "StageLocations", "Status",
           "TraceVerdict", "check", "schema"]
