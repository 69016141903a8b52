"""Human output of `rkvformal prove`: one table per file, then every counterexample as
a step-by-step timeline that ends with the broken atom's own words."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rkvformal.pipeline import ProvedFile, is_conformance
from rkvformal.smt.counterexample import Counterexample, describe_move
from rkvformal.vocab import AtomStatus, EvidenceClass

STATUS_MARK = {
    AtomStatus.PROVEN: "proven",
    AtomStatus.REFUTED: "refuted",
    AtomStatus.UNKNOWN: "unknown",
    AtomStatus.VACUOUS: "vacuous",
}


def _class_style(cls: EvidenceClass) -> str:
    if is_conformance(cls):
        return "green"
    if cls is EvidenceClass.UNKNOWN_EVIDENCE:
        return "yellow"
    return "red" if cls is EvidenceClass.REJECTED_MAPPING else "magenta"


def _count(checks: Any, status: AtomStatus) -> int:
    return sum(1 for c in checks if c.status is status)


def _proven(checks: Any) -> str:
    proven = _count(checks, AtomStatus.PROVEN)
    unbounded = sum(1 for c in checks if c.proof == "unbounded")
    return f"{proven} ({unbounded} unbounded)" if unbounded else str(proven)


def file_table(proved: ProvedFile, bound: int) -> Table:
    d = proved.descriptor
    table = Table(title=f"{d.path} — {d.runtime.name} ({d.runtime.repo}@{d.runtime.version})",
                  caption=f"bounded k={bound}; unbounded = proven for all depths by k-induction",
                  title_justify="left", caption_justify="left", show_lines=False)
    for header in ("row", "mode", "class", "expected", "proven", "refuted", "other", "time"):
        table.add_column(header, no_wrap=header in ("row", "class"))
    for r in proved.rows:
        res = r.result
        cls = res.evidence_class
        expected = res.row.expected.value if res.row.expected else "-"
        if res.matches_expectation is False:
            expected = f"{expected} (MISMATCH)"
        other = _count(res.checks, AtomStatus.UNKNOWN) + _count(res.checks, AtomStatus.VACUOUS)
        table.add_row(
            f"{res.row.kind.value} {res.row.name}",
            res.row.mode.value,
            Text(cls.value, style=_class_style(cls)),
            Text(expected, style="bold red" if res.matches_expectation is False else ""),
            _proven(res.checks),
            str(_count(res.checks, AtomStatus.REFUTED)),
            str(other),
            f"{res.seconds:.2f}s",
        )
    return table


def _claims_line(state: dict[str, Any]) -> str:
    parts = []
    for name, c in state["claims"].items():
        parts.append(f"{name}: {c['required_resident']}/{c['required']} required, "
                     f"{c['other_resident']} other, {c['offloaded']} offloaded [{c['state']}]")
    active = state["active"]
    parts.append(f"active: {active['status']} {active['live']}/{active['demand']} live")
    return f"free {state['free']}, cached {state['cached_unclaimed']} · " + " · ".join(parts)




def _event_line(event: dict[str, Any]) -> str:
    fields = [f"{k}={v}" for k, v in event.items() if k not in ("event", "by")]
    by = ",".join(event.get("by", [])) or "?"
    return f"{event['event']} {' '.join(fields)}  <- {by}"


def timeline(cex: Counterexample) -> list[str]:
    lines = []
    for step in cex.steps:
        mark = "✗" if step["step"] == cex.violation_step else " "
        lines.append(f"  {mark}{step['step']:>3}  {describe_move(step['move'])}")
        lines.append(f"        {_claims_line(step['state'])}")
        for event in step["events"]:
            lines.append(f"        event {_event_line(event)}")
        if not step["events"] and step["step"] > 0:
            lines.append("        (no events)")
    numbers = ", ".join(f"{k}={v}" for k, v in cex.numbers.items() if not isinstance(v, dict))
    source = "the scenario's numbers" if cex.scenario_used else "smallest numbers found"
    lines.append(f"  numbers ({source}): {numbers}")
    lines.append(f"  broken at step {cex.violation_step}: {cex.words}")
    return lines


def render(files: list[ProvedFile], bound: int, console: Console) -> None:
    for proved in files:
        console.print(file_table(proved, bound))
        for r in proved.rows:
            res = r.result
            if res.reasons:
                console.print(f"  {res.row.name}: {'; '.join(res.reasons)}",
                              highlight=False, markup=False)
        console.print()
        for r in proved.rows:
            for atom, cex in r.counterexamples.items():
                head = (f"{proved.descriptor.path}:{r.result.row.line}: {r.result.row.name} · "
                        f"{atom} refuted ({r.result.evidence_class.value})")
                console.print(head, style="bold", highlight=False, markup=False)
                for line in timeline(cex):
                    console.print(line, highlight=False, markup=False)
                console.print()
