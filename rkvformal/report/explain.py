"""`rkvformal explain`: one row, taken apart by the solver.

Three questions, each answered by re-proving, never by a table:

* a refuted atom: its counterexample step by step, and a paragraph naming the move the
  primitives allowed (the trace satisfies every constraint of every primitive of the
  row, so none of them forbids that move) and the primitives that made the move
  possible or emitted the step's events;
* a refuted atom: which primitive kinds of the catalogue, added to the row with their
  default parameters, make the atom proven;
* a proven row (or atom): a minimal set of primitives and assumptions the proof needs,
  found by deleting one label at a time from the deciding stage and re-proving.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import z3

from rkvformal.pipeline import ProvedRow
from rkvformal.semantics.bundles import load_stdlib
from rkvformal.semantics.catalogue import CATALOGUE
from rkvformal.semantics.domain import Anchor, AnchorKind, BundleEntry, Primitive, Row
from rkvformal.smt.counterexample import Counterexample, claim_names
from rkvformal.smt.lowering import stages
from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.primitives import encode_row, prim_label
from rkvformal.smt.prover import RowModel
from rkvformal.smt.trace import BLOCK_EVENTS, EVENT_NAMES, ConcreteView, Key, SymbolicView
from rkvformal.vocab import Atom, AtomStatus, PrimitiveKind, Provenance

Json = dict[str, Any]
Advance = Callable[[str], None]

# The anchor of a primitive that exists only in a "what if" re-proof: it keeps the
# hypothetical row anchored (an unanchored row could never be better than unknown).
HYPOTHETICAL_ANCHOR = Anchor(
    kind=AnchorKind.DOC, text="rkvformal-explain:hypothetical", repo=None, version=None,
    path=None, line=None, url="rkvformal-explain:hypothetical", symbol=None,
    line_in_descriptor=0,
)


def _quiet(label: str) -> None:
    """The default progress callback: nothing to show."""


# --- minimal support of a proof ------------------------------------------------------

@dataclass(frozen=True)
class Support:
    """A minimal set of labels under which every atom of `atoms` is still proven."""

    stage: str
    atoms: tuple[str, ...]
    labels: tuple[str, ...]  # the minimal set, in the stage's order
    dropped: tuple[str, ...]  # labels of the stage the proof does without
    without: dict[str, str]  # kept label -> what breaks when it alone is dropped
    interferes: dict[str, str]  # dropped label -> what breaks when it alone is added back
    cores: dict[str, tuple[str, ...]]  # atom -> its unsat core at the stage (not minimised)


def _first_failure(model: RowModel, entries: Sequence[BundleEntry],
                   labels: Sequence[str]) -> str | None:
    """None if every entry is proven under `labels`, else the first that is not."""
    for entry in entries:
        check = model.prove(entry.atom, entry.qualifier, labels, shrink=False)
        if check.status is not AtomStatus.PROVEN:
            return f"{entry.atom.value} {check.status.value}"
    return None


def minimal_support(row: Row, entries: Sequence[BundleEntry], stage: str, bound: int,
                    timeout_s: float | None = None, advance: Advance = _quiet) -> Support:
    """Deletion-based minimisation over the stage's labels, to a fixpoint.

    Disabling a primitive can also remove moves (offload, route, ...), so proofs are not
    monotone in the labels: a label kept early may become unnecessary later.  The loop
    therefore repeats until a whole pass drops nothing; in that last pass every kept
    label was dropped alone from the final set and some atom stopped being proven,
    which is what `without` records.
    """
    plan = {s.name: s for s in stages(row)}
    labels = list(plan[stage].labels)
    model = RowModel(row, bound, timeout_s)
    cores: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        check = model.prove(entry.atom, entry.qualifier, labels, shrink=False)
        if check.status is not AtomStatus.PROVEN:
            raise ValueError(f"{entry.atom.value} is {check.status.value} at stage {stage}")
        cores[entry.atom.value] = check.core
    in_core = {label for core in cores.values() for label in core}
    # labels outside every core are the likeliest to go: try them first
    order = [lb for lb in labels if lb not in in_core] + [lb for lb in labels if lb in in_core]
    current = list(order)
    without: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for label in list(current):
            advance(label)
            trial = [lb for lb in current if lb != label]
            failure = _first_failure(model, entries, trial)
            if failure is None:
                current = trial
                changed = True
            else:
                without[label] = failure
    kept = tuple(lb for lb in labels if lb in current)
    dropped = tuple(lb for lb in labels if lb not in current)
    # a dropped label may be one whose behaviour another label guards against (a
    # retention duration and the assumption that it never elapses): say so
    interferes = {}
    for label in dropped:
        advance(label)
        failure = _first_failure(model, entries, [*current, label])
        if failure is not None:
            interferes[label] = failure
    return Support(stage, tuple(e.atom.value for e in entries), kept, dropped,
                   {lb: without[lb] for lb in kept}, interferes, cores)


# --- kinds that would discharge a refuted atom ---------------------------------------

@dataclass(frozen=True)
class Discharge:
    """The solver's verdict on the atom with one hypothetical primitive added per kind."""

    atom: str
    verdicts: tuple[tuple[str, str], ...]  # (kind, status) in catalogue order

    def kinds(self, status: AtomStatus) -> tuple[str, ...]:
        return tuple(kind for kind, s in self.verdicts if s == status.value)


def hypothetical(row: Row, kind: PrimitiveKind) -> Primitive:
    """A fresh primitive of `kind` with default parameters, as a policy adapter."""
    taken = {p.name for p in row.primitives}
    name, n = f"added_{kind.value}", 2
    while name in taken:
        name, n = f"added_{kind.value}_{n}", n + 1
    params = tuple(sorted((p.name, p.default) for p in CATALOGUE[kind].params))
    return Primitive(name, kind, Provenance.POLICY, params, (HYPOTHETICAL_ANCHOR,), row.line)


def discharging_kinds(row: Row, atom: Atom, bound: int, timeout_s: float | None = None,
                      advance: Advance = _quiet) -> Discharge:
    """For each catalogue kind: add it to the row (everything on) and re-prove the atom."""
    qualifier = load_stdlib()[row.mode].qualifier(atom)
    verdicts = []
    for kind in CATALOGUE:
        advance(kind.value)
        trial = dataclasses.replace(row, primitives=(*row.primitives, hypothetical(row, kind)))
        model = RowModel(trial, bound, timeout_s)
        check = model.prove(atom, qualifier, model.labels, shrink=False)
        verdicts.append((kind.value, check.status.value))
    return Discharge(atom.value, tuple(verdicts))


# --- the paragraph about the bad move --------------------------------------------------

def move_enablers(row: Row) -> dict[str, tuple[str, ...]]:
    """Move name -> the row's primitives that make it possible (gated moves only),
    read off the encoding itself rather than restated here."""
    view = SymbolicView(1)
    lits = {prim_label(p.name): z3.Bool(prim_label(p.name), view.ctx) for p in row.primitives}
    enc = encode_row(view, row.primitives, (), lits)
    return {
        move.name.lower(): tuple(sorted(str(lit).split(":", 1)[1] for lit in found))
        for move, found in enc.enablers.items() if found
    }


def dropped_events(row: Row, trace: ConcreteView | None, last_step: int) -> dict[int, list[str]]:
    """Step -> block events a lossy stream dropped there (1-based steps, as in the timeline).

    Found by evaluating the row's encoding on the same trace with that step's `drop`
    choice undone: the events that appear are the ones the stream lost."""
    if trace is None:
        return {}
    names = claim_names(row)
    out: dict[int, list[str]] = {}
    for t in range(min(last_step, trace.K)):
        if not trace.ch("drop", t):
            continue
        values = dict(trace.values)
        values[Key("drop", t, None)] = False
        enc = encode_row(ConcreteView(trace.K, values), row.primitives)
        lost = []
        for key, reasons in sorted(enc.reasons.items(), key=lambda kv: (kv[0].name, kv[0].c or 0)):
            if key.t != t or key.name not in BLOCK_EVENTS or trace.e(key.name, t, key.c):
                continue
            emitters = sorted({label.split(":", 1)[1] for label, reason in reasons if reason})
            if emitters:
                who = names[key.c] if key.c is not None else "?"
                lost.append(f"{EVENT_NAMES[key.name]} (blocks of {who}) from {', '.join(emitters)}")
        if lost:
            out[t + 1] = lost
    return out


def describe_primitive(p: Primitive) -> str:
    """`name (kind, provenance; non-default params)`."""
    spec = CATALOGUE[p.kind]
    changed = [f"{key}={_spell(value)}" for key, value in p.params
               if (ps := spec.param(key)) is not None and _spell(value) != _spell(ps.default)]
    extra = "; " + ", ".join(changed) if changed else ""
    return f"{p.name} ({p.kind.value}, {p.provenance.value}{extra})"


def _spell(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def move_words(move: Json) -> str:
    words = f"`{move['name']}`" + (f" for {move['claim']}" if "claim" in move else "")
    if "result" in move:
        words += f" ({move['result']})"
    if "allocates" in move:
        words += f", allocating {_blocks(move['allocates'])}"
    if "victims" in move:
        taken = ", ".join(f"{n} of {_victim_words(k)}" for k, n in move["victims"].items())
        words += f" and taking {taken} as victims"
    return words


def _blocks(n: int) -> str:
    return f"{n} block" if n == 1 else f"{n} blocks"


def _victim_words(key: str) -> str:
    if key == "cached_unclaimed":
        return "the unclaimed cached blocks"
    claim, part = key.rsplit(".", 1)
    return f"{claim}'s {'required' if part == 'required' else 'other'} blocks"


def event_words(event: Json) -> str:
    by = ", ".join(event.get("by", [])) or "no primitive"
    about = event.get("claim_id") or event.get("blocks_of") or event.get("request_id")
    return f"{event['event']} ({about}) from {by}"


def bad_move_paragraph(row: Row, cex: Counterexample,
                       dropped: dict[int, list[str]] | None = None) -> str:
    """The violating step in words, with the primitives that allowed it named: what
    made its move possible, what emitted its events, and (earlier in the trace) the
    gated moves and dropped events the violation rests on."""
    step = cex.steps[-1]
    move, events = step["move"], step["events"]
    actor = "the environment" if move["by"] == "environment" else "the runtime"
    emitted = ("the step emitted " + "; ".join(event_words(e) for e in events)) if events \
        else "nothing was emitted"
    parts = [f"At step {step['step']} {actor} made the move {move_words(move)}; {emitted}."]
    enablers = move_enablers(row)
    gate = enablers.get(move["name"])
    if gate:
        parts.append(f"The move `{move['name']}` exists only because {_owners(row, gate)} "
                     "provides it.")
    elif move["by"] == "environment":
        assumed = ", ".join(a.value for a in row.assumptions)
        parts.append(f"The environment may make this move: none of the row's assumptions "
                     f"({assumed}) rules it out." if assumed else
                     "The environment may make this move: the row assumes nothing that "
                     "rules it out.")
    else:
        parts.append(f"No primitive has to enable `{move['name']}`: the base pool allows it "
                     "whenever its guard holds.")
    gated: dict[tuple[str, ...], list[str]] = {}
    for s in cex.steps[1:-1]:
        if s["move"]["name"] in enablers:
            gated.setdefault(enablers[s["move"]["name"]], []).append(
                f"`{s['move']['name']}` (step {s['step']})")
    earlier = [f"{', '.join(moves)} {'exists' if len(moves) == 1 else 'exist'} only because "
               f"{_owners(row, owners)} provides {'it' if len(moves) == 1 else 'them'}"
               for owners, moves in gated.items()]
    earlier += [f"at step {n} the lossy stream dropped {', '.join(lost)}"
                for n, lost in sorted((dropped or {}).items())]
    if earlier:
        parts.append("Earlier, " + "; ".join(earlier) + ".")
    if row.primitives:
        says = "; ".join(f"{describe_primitive(p)} says \u201c{CATALOGUE[p.kind].doc.rstrip('.')}"
                         "\u201d" for p in row.primitives)
        parts.append("The solver found this trace with every primitive of the row on, so it "
                     f"satisfies all their constraints and none of them forbids the move: {says}.")
    else:
        parts.append("The row has no primitives: the base pool is all there is.")
    parts.append(f"That breaks {cex.atom}: {cex.words}.")
    return " ".join(parts)


def _owners(row: Row, names: Sequence[str]) -> str:
    return ", ".join(describe_primitive(p) for p in row.primitives if p.name in names)


# --- the timeline -------------------------------------------------------------------------

def _move_line(move: Json) -> str:
    words = [move["by"], move["name"]]
    if "claim" in move:
        words.append(move["claim"])
    parts = [" ".join(words)]
    if "allocates" in move:
        parts.append(f"allocates {move['allocates']}")
    if "victims" in move:
        parts.append("evicts " + ", ".join(f"{k}={v}" for k, v in move["victims"].items()))
    if "result" in move:
        parts.append(move["result"])
    return " · ".join(parts)


def _event_line(event: Json) -> str:
    fields = [f"{k}={v if not isinstance(v, list) else ','.join(v) or '[]'}"
              for k, v in event.items() if k not in ("event", "by") and v is not None]
    by = ",".join(event.get("by", [])) or "?"
    return f"{event['event']} {' '.join(fields)}  <- {by}".replace("  ", " ", 1)


def timeline_lines(cex: Counterexample, dropped: dict[int, list[str]] | None = None) -> list[str]:
    """Per step: the move; each claim's required range, other and offloaded blocks;
    free and cached blocks; the active request; the events emitted (and dropped)."""
    width = max((len(name) for name in cex.steps[0]["state"]["claims"]), default=0)
    lines: list[str] = []
    for step in cex.steps:
        mark = "✗" if step["step"] == cex.violation_step else " "
        lines.append(f"  {mark} step {step['step']:>2}  {_move_line(step['move'])}")
        state = step["state"]
        for name, c in state["claims"].items():
            lines.append(f"             {name:<{width}}  required {c['required_resident']}/"
                         f"{c['required']}  other {c['other_resident']}  offloaded "
                         f"{c['offloaded']}  {c['state']}"
                         f"{'' if c['predicate'] else ' (predicate false)'}")
        active = state["active"]
        lines.append(f"             free {state['free']}  cached {state['cached_unclaimed']}  "
                     f"active {active['status']} {active['live']}/{active['demand']} live")
        if step["step"] > 0:
            if step["events"]:
                lines.extend(f"             event {_event_line(e)}" for e in step["events"])
            else:
                lines.append("             (no events)")
        lost = (dropped or {}).get(step["step"], [])
        lines.extend(f"             dropped {event}" for event in lost)
    return lines


def numbers_line(cex: Counterexample) -> str:
    source = "the scenario's numbers" if cex.scenario_used else "small numbers found by the solver"
    flat = [f"{k}={v}" for k, v in cex.numbers.items() if not isinstance(v, dict)]
    claims = [f"{k}: footprint {v['footprint']}, required {v['required']}, priority "
              f"{v['priority']}, duration {v['duration']}, native priority {v['native_priority']}"
              for k, v in cex.numbers.items() if isinstance(v, dict)]
    return f"numbers ({source}): " + "; ".join([", ".join(flat), *claims])


# --- the whole explanation -----------------------------------------------------------------

def header_lines(path: str, proved: ProvedRow, bound: int) -> list[str]:
    result = proved.result
    row = result.row
    expected = f"expected {row.expected.value}" if row.expected else "no expectation"
    if result.matches_expectation is False:
        expected += ", MISMATCH"
    lines = [f"{path}:{row.line}: {row.kind.value} {row.name} · mode {row.mode.value} · "
             f"{result.evidence_class.value} ({expected}) · stage {result.stage} · "
             f"bounded k={bound}"]
    lines.append("  primitives: " + (", ".join(describe_primitive(p) for p in row.primitives)
                                     or "none"))
    if row.assumptions:
        lines.append("  assumptions: " + ", ".join(a.value for a in row.assumptions))
    lines.append("  atoms: " + ", ".join(
        f"{c.atom.value} {c.status.value}" + (f" ({c.proof})" if c.proof else "")
        for c in result.checks))
    lines.extend(f"  {reason}" for reason in result.reasons)
    return lines


def support_lines(support: Support) -> list[str]:
    what = support.atoms[0] if len(support.atoms) == 1 else "every atom of the bundle"
    lines = [f"The proof of {what} at stage {support.stage} needs (a minimal set: the bounded "
             "proof holds with exactly these on, and fails when any one of them is dropped):"]
    if not support.labels:
        lines.append("  nothing: the base pool alone proves it (and the trigger is reachable)")
    for label in support.labels:
        lines.append(f"  {label}   without it: {support.without[label]}")
    if support.dropped:
        lines.append("  not needed: " + ", ".join(support.dropped))
    for label, failure in support.interferes.items():
        lines.append(f"  but adding {label} back alone breaks it ({failure}): the set is "
                     "minimal for the row without it, and with it the proof needs more")
    lines.append("  unsat cores per atom (what each proof used, not minimised):")
    for atom, core in support.cores.items():
        lines.append(f"    {atom}: {', '.join(core) or '(none)'}")
    return lines


def discharge_lines(discharge: Discharge, bound: int, row: Row | None = None) -> list[str]:
    present = {p.kind.value: p.name for p in row.primitives} if row is not None else {}
    lines = [f"Kinds of the catalogue that discharge {discharge.atom} (each added alone to this "
             f"row with default parameters, everything on, re-proved to k={bound}):"]
    labels = (("proven with", AtomStatus.PROVEN), ("still refuted with", AtomStatus.REFUTED),
              ("vacuous with", AtomStatus.VACUOUS), ("unknown with", AtomStatus.UNKNOWN))
    for words, status in labels:
        starred = status is AtomStatus.PROVEN  # only a proof can come from a contradiction
        kinds = [k + ("*" if starred and k in present else "") for k in discharge.kinds(status)]
        if kinds or status is AtomStatus.PROVEN:
            lines.append(f"  {words}: {', '.join(kinds) or 'none (no single kind discharges it)'}")
    if any(k in present for k in discharge.kinds(AtomStatus.PROVEN)):
        lines.append("  * the row already has a primitive of this kind and the added one applies "
                     "together with it: the proof may come from the two together (their "
                     "parameters can contradict, say recompute versus fail after a failed "
                     "restore) rather than from the kind alone")
    return lines


def explain_atom_lines(path: str, proved: ProvedRow, atom: Atom, bound: int,
                       timeout_s: float | None = None, advance: Advance = _quiet) -> list[str]:
    """Everything `explain` says about one atom of one proved row."""
    result = proved.result
    row = result.row
    check = next(c for c in result.checks if c.atom is atom)
    lines: list[str] = []
    if check.status is AtomStatus.REFUTED:
        cex = proved.counterexamples[atom.value]
        dropped = dropped_events(row, check.trace, cex.violation_step)
        lines.append(f"{atom.value} refuted at stage {result.stage} — counterexample, "
                     f"violated at step {cex.violation_step} by {cex.violation_claim}:")
        lines.extend(timeline_lines(cex, dropped))
        lines.append(f"  {numbers_line(cex)}")
        lines.append("")
        lines.append("Why: " + bad_move_paragraph(row, cex, dropped))
        lines.append("")
        lines.extend(discharge_lines(discharging_kinds(row, atom, bound, timeout_s, advance),
                                     bound, row))
    elif check.status is AtomStatus.PROVEN:
        entry = BundleEntry(atom, load_stdlib()[row.mode].qualifier(atom))
        assert result.stage is not None
        lines.append(f"{atom.value} proven at stage {result.stage} ({check.proof}; the "
                     f"minimisation below re-proves bounded k={bound}).")
        lines.extend(support_lines(minimal_support(row, [entry], result.stage, bound,
                                                   timeout_s, advance)))
    else:
        lines.append(f"{atom.value} {check.status.value} at stage {result.stage}: {check.reason}")
        lines.append(f"  ({ATOMS[atom].trigger_words} is what the atom is about; a "
                     f"{check.status.value} atom is never a pass)")
    return lines


def explain_row_lines(path: str, proved: ProvedRow, bound: int, atom: Atom | None = None,
                      timeout_s: float | None = None, advance: Advance = _quiet) -> list[str]:
    """The whole explanation of one row: header, then the chosen atom or the row's proof."""
    result = proved.result
    lines = header_lines(path, proved, bound)
    lines.append("")
    if atom is not None:
        return lines + explain_atom_lines(path, proved, atom, bound, timeout_s, advance)
    refuted = [c.atom for c in result.checks if c.status is AtomStatus.REFUTED]
    if refuted:
        lines.extend(explain_atom_lines(path, proved, refuted[0], bound, timeout_s, advance))
        if len(refuted) > 1:
            lines.append("")
            lines.append("Also refuted: " + ", ".join(a.value for a in refuted[1:]) +
                         f" (rkvformal explain {path} --lowering {result.row.name} --atom ATOM)")
        return lines
    if all(c.status is AtomStatus.PROVEN for c in result.checks) and result.stage is not None:
        bundle = load_stdlib()[result.row.mode]
        lines.extend(support_lines(minimal_support(result.row, bundle.entries, result.stage,
                                                   bound, timeout_s, advance)))
        return lines
    for check in result.checks:
        if check.status is not AtomStatus.PROVEN:
            lines.append(f"{check.atom.value} {check.status.value}: {check.reason}")
    return lines
