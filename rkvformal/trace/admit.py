"""`trace admit`: could the runtime a descriptor describes have produced this trace?

The recorded trace is abstracted into the model's vocabulary (the same translation
`trace check` uses: `Gate.observe`), and what it shows is fixed in the SMT model of one
lowering row, with every primitive and assumption of the row switched on:

* each record that shows model events is placed at a model step sigma(i), with
  sigma non-decreasing (a runtime writes the events of one step as several records);
* closed world up to the last placed record: at those steps, a claim-scoped or
  active-request event happens exactly when a record placed there shows it, and the
  outcome claim, blocking list and restore source are the records' own;
* moves, block counts, capacities and the claims' numbers stay free, and so do the
  steps between records (time passing, a fault injected, a request arriving); block
  events are constrained only if the trace records block events at all.

Satisfiable: admitted (a run of the model shows exactly this).  Unsatisfiable: the
descriptor is wrong about the runtime, or the trace is; the first record the model
cannot explain is the shortest unsatisfiable prefix, and the facts of that record the
model cannot produce after the prefix, one at a time, say why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import z3

from rkvformal.pipeline import MAX_BOUND
from rkvformal.semantics.domain import Row
from rkvformal.smt.prover import RowModel
from rkvformal.smt.trace import BLOCK_EVENTS, CLAIM_EVENTS, CLAIMS, EVENT_NAMES
from rkvformal.trace.gate import Gate
from rkvformal.trace.steps import Step
from rkvformal.vocab import Mode

MAX_OBSERVED = 40  # observed steps one question may fix (the model grows with them)


class AdmitError(Exception):
    """The trace cannot be put to the model at all (too many claims or steps)."""


@dataclass(frozen=True)
class Admission:
    admitted: bool
    unknown: bool  # the solver gave up (timeout / unknown): neither admitted nor refused
    records: int  # records that show model events
    bound: int  # model steps
    claims: tuple[str, ...]  # trace claims, in slot order
    line: int | None = None  # the first record the model cannot explain
    sequence: int | None = None
    event: str | None = None
    why: tuple[str, ...] = ()  # its facts the model cannot produce after the prefix


@dataclass(frozen=True)
class _Record:
    line: int
    sequence: int | None
    event: str
    facts: tuple[tuple[str, int | None, Any], ...]  # (name, slot, value)


OBSERVED_ACTIVE = ("admitted", "deferred", "refused")


def observations(records: Iterable[tuple[int, Mapping[str, Any]]], path: str = "<trace>"
                 ) -> tuple[list[_Record], list[str], bool]:
    """Records that show model events, the claims in order of appearance, and whether
    the trace records block events (a record the gate cannot read is an error at its
    line of `path`)."""
    gate = Gate(Mode.BEST_EFFORT, path=path)
    out: list[_Record] = []
    claims: list[str] = []
    blocks = False
    for line, rec in records:
        steps = gate.observe(line, rec)
        for name, _step in steps:
            if name not in claims:
                claims.append(name)
        if len(claims) > len(CLAIMS):
            raise AdmitError(f"{line}: the trace names more than {len(CLAIMS)} claims; the "
                             f"model has {len(CLAIMS)} claim slots (admit a two-claim excerpt)")
        facts = _facts(steps, {n: i for i, n in enumerate(claims)})
        if facts:
            blocks = blocks or any(f[0] in BLOCK_EVENTS for f in facts)
            out.append(_Record(line, rec.get("event_sequence"), str(rec["event"]),
                               tuple(facts)))
    return out, claims, blocks


def _facts(steps: list[tuple[str, Step]], slots: Mapping[str, int]
           ) -> list[tuple[str, int | None, Any]]:
    facts: list[tuple[str, int | None, Any]] = []
    for name, step in steps:
        c, ev = slots[name], step.events
        facts += [(e, c, True) for e in (*CLAIM_EVENTS, *BLOCK_EVENTS) if ev[e]]
        if ev["restoration_failed"]:
            facts.append(("rf_for", c, c if ev["rf_for"] == 0 else 1 - c))
        if ev["restored"]:
            facts.append(("restored_from_tier", c, bool(ev["restored_from_tier"])))
        if ev["refused"] or ev["deferred"]:
            facts.append(("blocking", c, bool(ev["blocking"])))
    for e in OBSERVED_ACTIVE:
        if any(step.events[e] for _n, step in steps):
            facts.append((e, None, True))
    return facts


def _words(fact: tuple[str, int | None, Any], claims: tuple[str, ...]) -> str:
    name, c, value = fact
    who = f" for {claims[c]}" if c is not None and c < len(claims) else ""
    if name == "rf_for":
        named = claims[value] if value < len(claims) else "another claim"
        return f"restoration_failed{who} naming {named}"
    if name in ("restored_from_tier", "blocking"):
        return f"{name}={str(value).lower()}{who}"
    return f"{EVENT_NAMES.get(name, name)}{who}"


class _Questions:
    """One row's model, asked whether it can show prefixes of the same records.  The
    model is built once; each question is a goal literal (`RowModel.goal`) that fixes
    what a prefix shows, so the bisection for the first unexplained record and the
    per-fact questions after it share one incremental solver."""

    def __init__(self, row: Row, recs: list[_Record], bound: int, blocks: bool,
                 timeout_s: float | None) -> None:
        self.model = model = RowModel(row, bound, timeout_s=timeout_s)
        self.bound = bound
        self.sigma = [z3.Int(f"admit:sigma{i}", model.ctx) for i in range(len(recs))]
        for i, s in enumerate(self.sigma):  # (later records' places stay free)
            model.solver.add(s >= 0, s < bound)
            if i:
                model.solver.add(self.sigma[i - 1] <= s)
        # (event, claim slot; None: an event of the active request, in no slot)
        self.families: list[tuple[str, int | None]] = [
            (e, c) for e in CLAIM_EVENTS for c in CLAIMS]
        self.families += [(e, None) for e in OBSERVED_ACTIVE]
        if blocks:
            self.families += [(e, c) for e in BLOCK_EVENTS for c in CLAIMS]

    def ask(self, prefix: list[_Record], key: str) -> z3.CheckSatResult:
        """Can the row's model show these records, in this order, from its initial
        state?  `key` names the question (one literal per distinct prefix)."""
        model = self.model
        if not prefix:
            return model.satisfiable(model.labels)
        v, sigma = model.v, self.sigma[:len(prefix)]
        last = sigma[-1]
        parts: list[z3.BoolRef] = []
        for e, c in self.families:
            holders = [sigma[i] for i, r in enumerate(prefix) if (e, c, True) in r.facts]
            for t in range(self.bound):
                placed = v.or_(*(s == t for s in holders))
                parts.append(z3.Implies(last >= t, v.e(e, t, c) == placed))
        for i, r in enumerate(prefix):
            for name, c, value in r.facts:
                if name in ("rf_for", "restored_from_tier", "blocking"):
                    for t in range(self.bound):
                        parts.append(z3.Implies(sigma[i] == t, v.e(name, t, c) == value))
        goal = model.goal(("admit", key), v.and_(*parts))
        return model.satisfiable(model.labels, [goal])


def admit(row: Row, records: Iterable[tuple[int, Mapping[str, Any]]],
          timeout_s: float | None = None, path: str = "<trace>") -> Admission:
    recs, claims, blocks = observations(records, path)
    if len(recs) > MAX_OBSERVED:
        raise AdmitError(f"the trace has {len(recs)} records with model events; admit fixes "
                         f"at most {MAX_OBSERVED} (admit an excerpt around the steps in question)")
    bound = min(MAX_BOUND, 2 * len(recs) + 2)
    names = tuple(claims)

    questions = _Questions(row, recs, bound, blocks, timeout_s)

    def ask(prefix: list[_Record], key: str | None = None) -> z3.CheckSatResult:
        return questions.ask(prefix, key or f"prefix {len(prefix)}")

    whole = ask(recs)
    if whole == z3.sat:
        return Admission(True, False, len(recs), bound, names)
    if whole == z3.unknown:
        return Admission(False, True, len(recs), bound, names)
    lo, hi = 0, len(recs)  # prefix lo is explained, prefix hi is not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        answer = ask(recs[:mid])
        if answer == z3.unknown:
            return Admission(False, True, len(recs), bound, names)
        lo, hi = (mid, hi) if answer == z3.sat else (lo, mid)
    bad = recs[hi - 1]
    why = tuple(f"cannot produce {_words(f, names)}" for j, f in enumerate(bad.facts)
                if ask([*recs[:hi - 1], _Record(bad.line, bad.sequence, bad.event, (f,))],
                       f"prefix {hi - 1} and fact {j} of the next record") == z3.unsat)
    if not why:
        why = ("each of its events is possible here, but not all of them at once "
               "or not in this order: " + ", ".join(_words(f, names) for f in bad.facts),)
    return Admission(False, False, len(recs), bound, names, bad.line, bad.sequence,
                     bad.event, why)
