"""Rendering `trace check` verdicts: a readable text table and deterministic JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from rkvformal.smt.counterexample import name_claim
from rkvformal.trace.gate import ClaimVerdict, Location, Status, TraceVerdict
from rkvformal.trace.vocabulary import STAGES

SCHEMA = "rkvformal.trace_check/1"
MAX_CLAIMS_SHOWN = 20  # beyond this, passing claims are counted, not listed
_STYLE = {Status.PASS: "green", Status.FAIL: "red", Status.UNKNOWN: "yellow"}


def _where(loc: Location) -> str:
    return f"#{loc.sequence}" if loc.sequence is not None else f"line {loc.line}"


def render_text(verdicts: Sequence[TraceVerdict], console: Console) -> None:
    for v in verdicts:
        required = f" --require {' --require '.join(v.required)}" if v.required else ""
        console.print(f"[bold]{escape(v.path)}[/]  mode {v.mode.value}{escape(required)}  "
                      f"{v.records} records  [{_STYLE[v.status]}]{v.status.value.upper()}[/]")
        for reason in v.reasons:
            console.print(f"  [{_STYLE[v.status]}]{escape(reason)}[/]")
        for gap in v.gaps:
            console.print(f"  [yellow]gap: event_sequence {gap[0]}..{gap[1]} missing "
                          f"(line {gap[2]})[/]")
        passing = [c for c in v.claims if c.status is Status.PASS]
        many = len(v.claims) > MAX_CLAIMS_SHOWN
        for claim in v.claims:
            if not (many and claim.status is Status.PASS):
                _claim_text(claim, console)
        if many and passing:
            console.print(f"  [green]{len(passing)} more claims pass[/] (every atom, every "
                          "required stage; --format json lists each)")
    if len(verdicts) > 1:
        counts = {s: sum(v.status is s for v in verdicts) for s in Status}
        console.print(", ".join(f"{n} {s.value}" for s, n in counts.items() if n))


def _claim_text(claim: ClaimVerdict, console: Console) -> None:
    style = _STYLE[claim.status]
    console.print(f"  claim [bold]{escape(claim.claim_id)}[/]  [{style}]{claim.status.value}[/]")
    seen = [f"{s} {_where(claim.stages[s])}" for s in STAGES if s in claim.stages]
    console.print(f"    stages: {escape(', '.join(seen)) if seen else 'none observed'}")
    if claim.missing:
        console.print(f"    [red]missing: {escape(', '.join(claim.missing))}[/]")
    for atom in claim.atoms:
        if atom.status is Status.PASS:
            continue
        where = ", ".join(_where(loc) for loc in atom.broken_at)
        at = f" at {where}" if where else ""
        console.print(f"    [{_STYLE[atom.status]}]{atom.status.value:7}[/] "
                      f"{escape(atom.label)}{escape(at)}: "
                      f"{escape(name_claim(atom.reason, claim.claim_id))}")
    passed = [a.label for a in claim.atoms if a.status is Status.PASS]
    if passed:
        console.print(f"    [green]pass[/]    {escape(', '.join(passed))}")


def _loc(loc: Location) -> dict[str, Any]:
    return {"event_sequence": loc.sequence, "line": loc.line}


def to_json(verdicts: Sequence[TraceVerdict]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "traces": [{
            "path": v.path,
            "mode": v.mode.value,
            "require": list(v.required),
            "status": v.status.value,
            "records": v.records,
            "reasons": list(v.reasons),
            "gaps": [{"missing_from": a, "missing_to": b, "line": line} for a, b, line in v.gaps],
            "claims": [{
                "claim_id": c.claim_id,
                "status": c.status.value,
                "accepted": c.accepted,
                "missing": list(c.missing),
                "stages": {s: _loc(c.stages[s]) for s in STAGES if s in c.stages},
                "atoms": [{"atom": a.atom.value, "qualifier": a.qualifier,
                           "status": a.status.value, "reason": a.reason,
                           "broken_at": [_loc(loc) for loc in a.broken_at]}
                          for a in c.atoms],
            } for c in v.claims],
        } for v in verdicts],
    }


def render_json(verdicts: Sequence[TraceVerdict]) -> str:
    return json.dumps(to_json(verdicts), indent=2, sort_keys=True) + "\n"
