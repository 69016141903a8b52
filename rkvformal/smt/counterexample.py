"""Turn a refuting model into an ordered, readable, replayable trace.

The trace is cut at the violating step.  Each step records the move (with its claim,
the blocks it allocates and the victims it took), the state after the move, and the
events emitted, each attributed to the primitive whose semantics emitted it.  The
attribution is computed by re-running the row's encoding over the concrete trace, so
it is the same definition the solver used, evaluated on numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rkvformal.semantics.domain import Row
from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.primitives import encode_row
from rkvformal.smt.prover import Check
from rkvformal.smt.trace import (
    ACTIVE_EVENTS,
    BLOCK_EVENTS,
    CLAIM_EVENTS,
    CLAIMS,
    EVENT_NAMES,
    Active,
    ConcreteView,
    Key,
    Move,
    OutcomeType,
    Phase,
    Source,
)
from rkvformal.vocab import PrimitiveKind

Json = dict[str, Any]


@dataclass(frozen=True)
class Counterexample:
    atom: str
    words: str
    violation_step: int  # 1-based index into steps (steps[0] is the initial state)
    violation_claim: str
    scenario_used: bool
    numbers: Json
    steps: tuple[Json, ...]

    def to_json(self) -> Json:
        return {
            "atom": self.atom,
            "violated_at_step": self.violation_step,
            "claim": self.violation_claim,
            "scenario_numbers": self.scenario_used,
            "numbers": self.numbers,
            "steps": list(self.steps),
            "broken": self.words,
        }


def describe_move(move: Json) -> str:
    """One line for a counterexample step's move, the same in every report format."""
    words = [move["by"], move["name"]]
    if "claim" in move:
        words.append(move["claim"])
    if "allocates" in move:
        words.append(f"allocates {move['allocates']}")
    if "victims" in move:
        words.append("evicts " + ", ".join(f"{k}={v}" for k, v in move["victims"].items()))
    if "result" in move:
        words.append(f"({move['result']})")
    if move.get("events_dropped"):
        words.append("(the lossy event stream dropped this step's block events)")
    return " ".join(words)


def name_claim(words: str, name: str) -> str:
    """An atom's sentence about `c`, said about the claim of the counterexample."""
    return re.sub(r"\bc\b", name, words)


def claim_names(row: Row) -> dict[int, str]:
    names = {c: f"c{c}" for c in CLAIMS}
    if row.scenario is not None:
        for c, spec in zip(CLAIMS, row.scenario.claims, strict=False):
            names[c] = spec.name
    return names


def _attribution(row: Row, trace: ConcreteView) -> dict[Key, list[str]]:
    """Which primitive emitted each event slot that is true in the trace."""
    enc = encode_row(trace, row.primitives)
    by: dict[Key, list[str]] = {}
    for key, reasons in enc.reasons.items():
        emitters = sorted({label.split(":", 1)[1] for label, reason in reasons if reason})
        if emitters:
            by[key] = emitters
    return by


def _claim_state(v: ConcreteView, c: int, t: int) -> str:
    phase = Phase(v.s("phase", t, c)).name.lower()
    if v.s("phase", t, c) == Phase.ACCEPTED:
        if v.pred(c, t):
            return "materialized"
        if v.s("host", t, c) and v.s("matd", t, c):
            return "offloaded"
    return phase


def _state(v: ConcreteView, t: int, names: dict[int, str], shown: list[int],
           joined: bool = False) -> Json:
    """The state after a step; with a telemetry join, also what it believes (it judges
    losses by that, and over a lossy stream it can be out of date)."""
    claims = {}
    for c in shown:
        claims[names[c]] = {
            "state": _claim_state(v, c, t),
            "required_resident": v.s("inr", t, c),
            "required": v.k("R", c),
            "other_resident": v.s("outr", t, c),
            "offloaded": v.k("R", c) if v.s("host", t, c) else 0,
            "predicate": bool(v.pred(c, t)),
        }
        if joined:
            claims[names[c]]["join_believed_required"] = v.s("jinr", t, c)
    return {
        "free": v.s("free", t),
        "cached_unclaimed": v.s("cached", t),
        "claims": claims,
        "active": {
            "demand": v.k("A"),
            "live": v.s("live", t),
            "status": Active(v.s("act", t)).name.lower(),
        },
    }


def _move(v: ConcreteView, t: int, names: dict[int, str]) -> Json:
    m = Move(v.ch("mv", t))
    move: Json = {
        "name": m.name.lower(),
        "by": "environment" if m.is_environment else "runtime",
    }
    if m.takes_claim:
        move["claim"] = names[v.ch("mc", t)]
    if v.ch("need", t):
        move["allocates"] = v.ch("need", t)
    victims: Json = {}
    if v.ch("ev_cached", t):
        victims["cached_unclaimed"] = v.ch("ev_cached", t)
    for c in CLAIMS:
        if v.ch("ev_in", t, c):
            victims[f"{names[c]}.required"] = v.ch("ev_in", t, c)
        if v.ch("ev_out", t, c):
            victims[f"{names[c]}.other"] = v.ch("ev_out", t, c)
    if victims:
        move["victims"] = victims
    if v.ch("drop", t):
        move["events_dropped"] = True  # a lossy stream lost this step's block events
    if m is Move.RESTORE and v.s("failpend", t):
        move["result"] = "restore failed"
    if m is Move.SERVE and v.s("src", t, v.ch("mc", t)) == Source.RECOMPUTED:
        move["result"] = "served from recomputed KV"
    return move


def _events(v: ConcreteView, t: int, names: dict[int, str],
            by: dict[Key, list[str]]) -> list[Json]:
    out: list[Json] = []
    for c in CLAIMS:
        for name in CLAIM_EVENTS:
            if not v.e(name, t, c):
                continue
            event: Json = {"event": EVENT_NAMES[name], "claim_id": names[c]}
            if v.e("ident", t, c):
                event["cache_identity_version"] = v.e("ident", t, c)
            if name == "restoration_failed":
                event["outcome_claim_id"] = names[v.e("rf_for", t, c)]
            if name == "outcome":
                event["outcome_type"] = OutcomeType(v.e("otype", t, c)).name.lower()
            if name == "restored":
                event["restoration_source"] = (
                    "offload_tier" if v.e("restored_from_tier", t, c) else "fallback_recompute")
            event["by"] = by.get(Key(name, t, c), [])
            out.append(event)
        for name in BLOCK_EVENTS:
            if not v.e(name, t, c):
                continue
            named = bool(v.e("named", t, c))
            out.append({
                "event": EVENT_NAMES[name],
                "blocks_of": names[c],
                "claim_id": names[c] if named else None,
                "by": by.get(Key(name, t, c), []),
            })
    for name in ACTIVE_EVENTS:
        if not v.e(name, t):
            continue
        event = {"event": EVENT_NAMES[name], "request_id": "active"}
        if name in ("refused", "deferred"):
            event["blocking_claim_ids"] = sorted(names[c] for c in CLAIMS
                                                 if v.e("blocking", t, c))
        event["by"] = by.get(Key(name, t, None), [])
        out.append(event)
    return out


def extract(row: Row, check: Check, qualifier: str | None) -> Counterexample:
    v = check.trace
    assert v is not None and check.violation_step is not None
    names = claim_names(row)
    last = check.violation_step
    shown = [c for c in CLAIMS
             if any(v.s("phase", t, c) != Phase.ABSENT for t in range(last + 2))]
    by = _attribution(row, v)
    joined = any(p.kind is PrimitiveKind.CLAIM_TELEMETRY for p in row.primitives)
    steps: list[Json] = [{"step": 0, "move": {"name": "init", "by": "environment"},
                          "state": _state(v, 0, names, shown, joined), "events": []}]
    for t in range(last + 1):
        steps.append({
            "step": t + 1,
            "move": _move(v, t, names),
            "state": _state(v, t + 1, names, shown, joined),
            "events": _events(v, t, names, by),
        })
    numbers: Json = {"usable": v.k("U"), "active_demand": v.k("A")}
    for c in shown:
        numbers[names[c]] = {
            "footprint": v.k("R", c) + v.k("O", c),
            "required": v.k("R", c),
            "priority": v.k("P", c),
            "duration": v.k("D", c),
            "native_priority": v.k("NP", c),
        }
    claim = check.violation_claim if check.violation_claim is not None else 0
    return Counterexample(
        atom=check.atom.value,
        words=name_claim(ATOMS[check.atom].words, names[claim]),
        violation_step=last + 1,
        violation_claim=names[claim],
        scenario_used=check.scenario_used,
        numbers=numbers,
        steps=tuple(steps),
    )
