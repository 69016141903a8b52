"""The reference block simulator (DESIGN §6): the ground truth the SMT model answers to.

* `pool`: physical blocks, prefix hash chains, the LRU free queue, the host tier.
* `runtime`: `Simulator`, driven by the model's `Move` vocabulary, every primitive kind
  executed concretely, JSONL events.
* `abstraction`: simulator runs as concrete traces of the model (`abstract`), the
  model evaluated on them (`model_failures`), counterexamples replayed (`replay`).
* `litmus`: paper 1's litmus suite L1-L7 and C1, and the capacity sweep.

The two click commands below are registered by `rkvformal.cli`.
"""

from __future__ import annotations

import sys
from collections import Counter

import click

from rkvformal.semantics.domain import Scenario
from rkvformal.sim.runtime import (
    ClaimNumbers,
    IllegalMove,
    LivePlan,
    Numbers,
    Simulator,
    Victims,
    default_workload,
)

__all__ = [
    "ClaimNumbers", "IllegalMove", "LivePlan", "Numbers", "Simulator", "Victims",
    "litmus_command", "simulate_command",
]

CANONICAL = (80, 60, 70)  # usable, resident footprint, active demand (paper 1)


def _numbers(scenario: Scenario | None) -> tuple[Numbers, list[str]]:
    """Simulator numbers from a descriptor scenario (paper 1's 60/70/80 by default)."""
    usable, footprint, demand = CANONICAL
    if scenario is None:
        return (Numbers(usable, LivePlan.single(demand), (ClaimNumbers(footprint),)),
                ["resident"])
    claims = []
    names = []
    for spec in scenario.claims:
        if spec.start:
            raise click.BadParameter(
                f"claim {spec.name}: the simulator lays out the required range first; "
                "contiguous_range with a non-zero start is not supported")
        claims.append(ClaimNumbers(spec.required, spec.footprint - spec.required,
                                   spec.priority or 0, spec.duration or 1))
        names.append(spec.name)
    if not claims:
        claims, names = [ClaimNumbers(footprint)], ["resident"]
    return (Numbers(scenario.usable or usable,
                    LivePlan.single(scenario.active_demand or demand),
                    tuple(claims)), names)


@click.command("simulate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--lowering", "lowering", required=True, metavar="NAME",
              help="The row whose primitives the simulated runtime has.")
@click.option("--scenario", "scenario_name", metavar="NAME", default=None,
              help="A scenario of the descriptor for the numbers (default: the row's, "
                   "else 60 resident / 70 active / 80 usable).")
@click.option("--fail-restore", is_flag=True, help="Inject a host-tier fault before the reuse.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the JSONL events here instead of stdout.")
def simulate_command(file: str, lowering: str, scenario_name: str | None, fail_restore: bool,
                     output: str | None) -> None:
    """Run a default workload on the block simulator for one row of FILE and write its
    JSONL event log: submit, accept, materialize, the active request arrives and the
    runtime decides it, then the claim is reused."""
    from rkvformal import pipeline
    from rkvformal.errors import RkvError

    try:
        descriptor = pipeline.load(file)
    except RkvError as error:
        raise click.ClickException(error.render()) from error
    except OSError as error:
        raise click.BadParameter(str(error), param_hint="FILE") from error
    rows = {r.name: r for r in descriptor.rows}
    if lowering not in rows:
        raise click.BadParameter(f"no row named {lowering!r} (rows: {', '.join(rows)})",
                                 param_hint="--lowering")
    row = rows[lowering]
    scenario = row.scenario
    if scenario_name is not None:
        by_name = {s.name: s for s in descriptor.scenarios}
        if scenario_name not in by_name:
            raise click.BadParameter(
                f"no scenario named {scenario_name!r} (scenarios: {', '.join(by_name) or 'none'})",
                param_hint="--scenario")
        scenario = by_name[scenario_name]
    numbers, names = _numbers(scenario)
    try:
        sim = Simulator(row.primitives, numbers, claim_names=names, run_id=f"simulate:{row.name}",
                        policy=row.name)
        default_workload(sim, len(names), fail_restore=fail_restore)
    except (ValueError, IllegalMove) as error:
        raise click.ClickException(f"simulation of {row.name} failed: {error}") from error
    text = sim.jsonl()
    if output is None:
        sys.stdout.write(text)
    else:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    click.echo(_summary(sim), err=True)


def _summary(sim: Simulator) -> str:
    hist = sim.history
    moves = " ".join(sim.move_label(r.step) for r in hist.steps)
    runtime = Counter(e.name for e in sim.events if e.origin.value == "runtime")
    victims = sum(r.victims.total for r in hist.steps)
    claim_victims = sum(r.victims.of(c) for r in hist.steps for c in range(2))
    lines = [f"{sim.policy}: {len(hist.steps)} steps, usable {sim.numbers.usable}, active "
             f"demand {sim.numbers.active_demand}",
             f"  moves: {moves}",
             f"  victims: {victims} ({claim_victims} claimed blocks); active request "
             f"{sim.act.name.lower()}"]
    for c, cl in enumerate(sim.claims):
        if sim.claimed[c]:
            lines.append(f"  {cl.obj.claim_id}: {cl.phase.name.lower()}, predicate "
                         f"{'holds' if sim.pred(c) else 'broken'} "
                         f"({sim.counts(c)[0]}/{cl.R} required blocks resident)")
    if runtime:
        lines.append("  events: " + ", ".join(f"{k} {v}" for k, v in sorted(runtime.items())))
    else:
        lines.append("  events: none (no primitive of this row emits any)")
    return "\n".join(lines)


@click.command("litmus")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def litmus_command(fmt: str) -> None:
    """Run paper 1's litmus suite (L1-L7, C1) and capacity sweep on the simulator;
    exit 0 iff every litmus passes."""
    import json

    from rkvformal.sim.litmus import all_pass, litmus_report, render_text

    report = litmus_report()
    if fmt == "json":
        sys.stdout.write(json.dumps(report, indent=2, sort_keys=False) + "\n")
    else:
        sys.stdout.write(render_text(report))
    sys.exit(0 if all_pass(report) else 1)
