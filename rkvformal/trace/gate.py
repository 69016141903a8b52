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

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from rkvformal.semantics.bundles import load_stdlib
from rkvformal.smt.obligations import ATOMS, AtomDef
from rkvformal.smt.trace import Move, Phase
from rkvformal.trace import schema
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


class Status(Enum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Location:
    sequence: int | None  # the record's event_sequence (None: the trace has none)
    line: int


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


@dataclass(frozen=True)
class ClaimVerdict:
    claim_id: str
    status: Status
    accepted: bool
    atoms: tuple[AtomVerdict, ...]
    stages: Mapping[str, Location]  # first observation of each stage
    missing: tuple[str, ...]  # requirements not met (stages, acceptance)


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


@dataclass
class _Track:
    """What the gate keeps per claim: O(1) in the number of records."""

    name: str
    state: tuple[Any, ...]
    shared: tuple[Any, ...]
    history: frozenset[str] = frozenset()
    required: int = 1
    priority: int = 0
    identity: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, Location] = field(default_factory=dict)
    broken: dict[int, list[Location]] = field(default_factory=dict)  # atom index ->
    after_gap: set[int] = field(default_factory=set)  # atoms first broken after a gap
    accepted: bool = False


_Outcome = tuple[tuple[Any, ...], tuple[Any, ...], frozenset[str], tuple[int, ...],
                 tuple[str, ...], bool]


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
        self.atoms: tuple[tuple[AtomDef, str | None], ...] = tuple(
            (ATOMS[e.atom], e.qualifier) for e in bundle.entries)
        self.local = tuple(i for i, (d, _q) in enumerate(self.atoms) if d.atom not in PAIRWISE)
        self.pairwise = tuple(i for i, (d, _q) in enumerate(self.atoms) if d.atom in PAIRWISE)
        self.tracks: dict[str, _Track] = {}
        self.memo: dict[tuple[Any, ...], _Outcome] = {}
        self.records = 0
        self.gaps: list[tuple[int, int, int]] = []
        self.unnamed = 0  # records about KV that name no claim (generic substrate)
        # event names outside the vocabulary: name -> (first line, named a claim)
        self.unrecognised: dict[str, tuple[int, bool]] = {}

    # --- feeding -------------------------------------------------------------------
    def feed(self, line: int, rec: Mapping[str, Any]) -> None:
        self.records += 1
        for track, kind, flags, where in self._concerned(line, rec):
            self._advance(track, kind, flags, where)

    def observe(self, line: int, rec: Mapping[str, Any]) -> list[tuple[str, Step]]:
        """The model step this record is for each claim it concerns (`admit` reads it;
        the same translation `feed` memoizes, computed afresh)."""
        self.records += 1
        steps = []
        for track, kind, flags, where in self._concerned(line, rec):
            before = dict(zip(CLAIM_STATE, track.state, strict=True))
            shared = dict(zip(SHARED_STATE, track.shared, strict=True))
            step = translate(kind, flags, before, shared, track.required)
            self._advance(track, kind, flags, where)
            if step is not None:
                steps.append((track.name, step))
        return steps

    def _concerned(self, line: int, rec: Mapping[str, Any]
                   ) -> Iterator[tuple[_Track, Kind, Flags, Location]]:
        """Each claim the record concerns, with what the record says about it."""
        kind = VOCABULARY.get(rec["event"])
        if kind is None:
            self.unrecognised.setdefault(rec["event"], (line, rec.get("claim_id") is not None))
            return
        if kind is Kind.BOOKKEEPING:
            return
        where = Location(rec.get("event_sequence"), line)
        if kind is Kind.GAP:
            self.gaps.append((rec.get("missing_from", -1), rec.get("missing_to", -1), line))
            return
        own = rec.get("claim_id")
        names: list[str] = [own] if isinstance(own, str) else []
        outcome_claim = rec.get("outcome_claim_id")
        if isinstance(outcome_claim, str) and outcome_claim not in names:
            names.append(outcome_claim)
        blocking = rec.get("blocking_claim_ids") or ()
        for b in blocking:
            if isinstance(b, str) and b not in names:
                names.append(b)
        if (kind in CAPACITY_KINDS and own is None) or kind is Kind.ALL_CLEARED:
            names += [n for n in self.tracks if n not in names]
        if not names:
            self.unnamed += 1
            return
        for name in names:
            track = self.tracks.get(name)
            if track is None:
                claim, shared = initial()
                track = _Track(name, tuple(claim[n] for n in CLAIM_STATE),
                               tuple(shared[n] for n in SHARED_STATE))
                self.tracks[name] = track
            yield track, kind, self._flags(kind, rec, name, track), where

    def _flags(self, kind: Kind, rec: Mapping[str, Any], name: str, track: _Track) -> Flags:
        own = rec.get("claim_id") == name
        outcome_claim = rec.get("outcome_claim_id")
        blocking = name in (rec.get("blocking_claim_ids") or ())
        outcome_record = kind is Kind.REFUSED and (
            outcome_claim is not None or "restoration_failure_event_sequence" in rec
            or str(rec.get("feasibility", "")).startswith("infeasible_restore"))
        ok = True
        blocks = -1
        if kind is Kind.ACCEPTED or kind is Kind.REQUEST_STARTED:
            ok = rec.get("claim_registration") != "post_hoc"
        elif kind is Kind.MATERIALIZED:
            counted = rec.get("resident_blocks_materialized", rec.get("leading_blocks_survived"))
            blocks = counted if isinstance(counted, int) else -1
            ok = rec.get("predicate_materialized") is not False
        elif kind is Kind.RESTORED:
            source = rec.get("restoration_source")
            ok = source == "offload_tier" if source is not None else (
                rec.get("restored_from_offload_tier") is True)
        elif kind is Kind.HARMED:
            after = rec.get("predicate_after_leading_blocks")
            blocks = after if isinstance(after, int) else -1
        infeasible = False
        if kind in CAPACITY_KINDS:
            demand, usable = rec.get("resident_plus_active_blocks"), rec.get("usable_blocks")
            infeasible = str(rec.get("feasibility", "")).startswith("infeasible") or (
                isinstance(demand, int) and isinstance(usable, int) and demand > usable)
        in_range = True
        if kind in (Kind.BLOCK_REMOVED, Kind.VICTIM):
            medium = rec.get("medium")
            pos = rec.get("logical_block_position")
            in_range = (medium is None or str(medium).lower() == "gpu") and (
                not isinstance(pos, int) or pos < track.required)
        role = rec.get("resident_claim_role")
        resident_role = own and role == "resident" and (
            kind is not Kind.REQUEST_STARTED or rec.get("resident_claim") is True)
        otype = OUTCOME_TYPES.get(str(rec.get("claim_scoped_outcome_type",
                                              rec.get("outcome_type"))), -1)
        return Flags(own=own, outcome=outcome_record and (outcome_claim == name or blocking),
                     blocking=blocking, rf_for_c=outcome_claim == name, otype=otype,
                     ident_ok=self._identity(kind, rec, track, own, resident_role),
                     ok=ok, infeasible=infeasible, in_range=in_range,
                     resident_role=resident_role, blocks=blocks)

    def _identity(self, kind: Kind, rec: Mapping[str, Any], track: _Track, own: bool,
                  resident_role: bool) -> bool:
        """The record's identity fields agree with the claim's first ones; an
        acceptance must carry a predicate and an object identity."""
        if not own:
            return True
        accepting = kind is Kind.ACCEPTED or (kind is Kind.REQUEST_STARTED and resident_role)
        if accepting and not track.accepted:
            if kind is Kind.ACCEPTED:
                self._learn_claim(rec, track)
            if not all(any(rec.get(f) for f in group) for group in IDENTITY_REQUIRED):
                return False
        stable = True
        for f in IDENTITY_FIELDS:
            value = rec.get(f)
            if value is None:
                continue
            first = track.identity.setdefault(f, value)
            stable = stable and first == value
        return stable

    @staticmethod
    def _learn_claim(rec: Mapping[str, Any], track: _Track) -> None:
        required = rec.get("resident_blocks_required")
        if not isinstance(required, int):
            text = str(rec.get("materialization_predicate", ""))
            inside = text[text.find("(") + 1: text.rfind(")")] if "(" in text else ""
            required = int(inside) if inside.isdigit() else 1
        track.required = max(1, required)
        priority = rec.get("priority", rec.get("retention_priority"))
        track.priority = priority if isinstance(priority, int) else 0

    # --- one step --------------------------------------------------------------------
    def _advance(self, track: _Track, kind: Kind, flags: Flags, where: Location) -> None:
        key = (kind, flags, track.required, track.priority, track.state, track.shared,
               track.history)
        out = self.memo.get(key)
        if out is None:
            out = self.memo[key] = self._evaluate(track, kind, flags)
        state, shared, history, broken, stages, lost = out
        if kind is Kind.ACCEPTED or kind is Kind.REQUEST_STARTED:
            track.accepted = track.accepted or "accepted" in stages
        for i in broken:
            self._break(track, i, where)
        for stage in stages:
            track.stages.setdefault(stage, where)
        if lost and self.pairwise:
            self._pairwise(track, state, where)
        track.state, track.shared, track.history = state, shared, history

    def _break(self, track: _Track, i: int, where: Location) -> None:
        seen = track.broken.setdefault(i, [])
        if not seen and self.gaps:
            track.after_gap.add(i)
        if len(seen) < MAX_LOCATIONS:
            seen.append(where)

    def _evaluate(self, track: _Track, kind: Kind, flags: Flags) -> _Outcome:
        before = dict(zip(CLAIM_STATE, track.state, strict=True))
        shared = dict(zip(SHARED_STATE, track.shared, strict=True))
        step = translate(kind, flags, before, shared, track.required)
        if step is None:
            return track.state, track.shared, track.history, (), (), False
        view = self._view(step, before, track, None)
        broken = tuple(i for i in self.local
                       if self.atoms[i][0].violation(view, 0, 0, self.atoms[i][1]))
        history = track.history | {tag for (tag, c), now in view.fired.items()
                                   if c == 0 and now}
        ev = step.events
        stages = tuple(s for s, seen in (
            ("accepted", ev["accepted"] and step.move is Move.ACCEPT),
            ("materialized", ev["materialized"] and step.after["inr"] == track.required),
            ("offloaded", ev["offloaded"]),
            ("restore_required", ev["restore_required"]),
            ("restored", ev["restored"] and ev["restored_from_tier"]),
            ("reused_after_restore", ev["reuse_after_restore"]),
            ("restoration_failed", ev["restoration_failed"] and ev["rf_for"] == 0
             and step.own_move),
            ("outcome", ev["outcome"]),
        ) if seen)
        lost = before["inr"] == track.required and step.after["inr"] < track.required
        return (tuple(step.after[n] for n in CLAIM_STATE),
                tuple(step.shared_after[n] for n in SHARED_STATE),
                frozenset(history), broken, stages, lost)

    def _view(self, step: Step, before: Mapping[str, Any], track: _Track,
              other: _Track | None) -> WindowView:
        usable, demand = (0, 1) if step.infeasible else (1 << 30, 0)
        consts = {**NO_CONSTANTS, "U": usable, "A": demand, "R": track.required,
                  "P": track.priority}
        slot0 = (consts, before, step.after, step.events)
        if other is None:
            absent = dict(ABSENT_STATE)
            slot1 = ({**NO_CONSTANTS, "R": 1}, absent, absent, NO_EVENTS)
        else:
            state = dict(zip(CLAIM_STATE, other.state, strict=True))
            slot1 = ({**NO_CONSTANTS, "R": other.required, "P": other.priority},
                     state, state, NO_EVENTS)
        globals_ = {"mv": int(step.move), "mc": 0 if step.own_move else -1, "need": 0,
                    "ev_cached": 0, "drop": False, "ev_in": (step.ev_in, 0),
                    "ev_out": (0, 0)}
        for name in ("admitted", "deferred", "refused", "future_admitted", "future_denied"):
            globals_[name] = step.events[name]
        return WindowView((slot0, slot1), (step.shared_before, step.shared_after), globals_,
                          {(tag, 0): True for tag in track.history})

    def _pairwise(self, track: _Track, state_after: tuple[Any, ...], where: Location) -> None:
        """priority_order compares the losing claim with every other claim (not kept in
        the automaton: it is asked only when a claim loses its predicate)."""
        before = dict(zip(CLAIM_STATE, track.state, strict=True))
        after = dict(zip(CLAIM_STATE, state_after, strict=True))
        step = Step(Move.IDLE, False, dict(NO_EVENTS), after,
                    dict(zip(SHARED_STATE, track.shared, strict=True)),
                    dict(zip(SHARED_STATE, track.shared, strict=True)),
                    before["inr"] - after["inr"])
        for other in self.tracks.values():
            if other is track or other.state[CLAIM_STATE.index("phase")] != Phase.ACCEPTED:
                continue
            view = self._view(step, before, track, other)
            for i in self.pairwise:
                if self.atoms[i][0].violation(view, 0, 0, self.atoms[i][1]):
                    self._break(track, i, where)

    # --- the answer -------------------------------------------------------------------
    def verdict(self) -> TraceVerdict:
        judged = [t for n, t in self.tracks.items() if self.claim in (None, n)]
        claims = tuple(self._claim_verdict(t) for t in sorted(judged, key=lambda t: t.name))
        reasons: list[str] = []
        if not any(c.accepted for c in claims):
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
        statuses = {c.status for c in claims}
        if Status.FAIL in statuses or not any(c.accepted for c in claims):
            status = Status.FAIL
        elif Status.UNKNOWN in statuses or self.gaps or claim_blind:
            status = Status.UNKNOWN
        else:
            status = Status.PASS
        return TraceVerdict(self.path, self.mode, self.required, status, self.records, claims,
                            tuple(self.gaps), tuple(reasons))

    def _claim_verdict(self, track: _Track) -> ClaimVerdict:
        atoms = []
        for i, (d, q) in enumerate(self.atoms):
            broken = tuple(track.broken.get(i, ()))
            if broken and i not in track.after_gap:
                atoms.append(AtomVerdict(d.atom, q, Status.FAIL, broken, d.words))
            elif self.gaps:
                why = "a sequence gap hides events that could " + (
                    "explain this" if broken else "break it")
                atoms.append(AtomVerdict(d.atom, q, Status.UNKNOWN, broken, why))
            else:
                atoms.append(AtomVerdict(d.atom, q, Status.PASS, (), d.words))
        missing = [] if track.accepted else ["accepted"]
        missing += [s for s in self.required if s not in track.stages and s not in missing]
        statuses = {a.status for a in atoms}
        status = (Status.FAIL if Status.FAIL in statuses or missing
                  else Status.UNKNOWN if Status.UNKNOWN in statuses else Status.PASS)
        return ClaimVerdict(track.name, status, track.accepted, tuple(atoms),
                            dict(track.stages), tuple(missing))


def check(records: Iterable[tuple[int, Mapping[str, Any]]], mode: Mode,
          require: Iterable[str] = (), claim: str | None = None,
          path: str = "<trace>") -> TraceVerdict:
    gate = Gate(mode, require, claim, path)
    for line, rec in records:
        gate.feed(line, rec)
    return gate.verdict()


__all__ = ["AtomVerdict", "ClaimVerdict", "Gate", "Location", "Status", "TraceVerdict",
           "check", "schema"]
