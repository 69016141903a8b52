"""From the block simulator to the SMT model and back.

* `abstract(history)` maps a simulator run onto the model's variables (`Key`s): the
  pool's blocks are classified by their hashes (free, unclaimed cached, live, a claim's
  required range or other blocks), the claim registry gives phases and flags, and the
  runtime events of each step give the event slots and their fields.  The result is a
  `ConcreteView`, so every formula of the model can be evaluated on it.
* `model_failures(primitives, view)` evaluates the row's whole transition relation on
  a concrete trace: what fails is where simulator and model disagree.
* `replay(row, counterexample)` re-runs an extracted counterexample in the simulator
  (its numbers, moves, claims and victim splits) and checks that the atom's concrete
  evaluator sees the same violation on the abstracted run.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rkvformal.semantics.bundles import load_stdlib
from rkvformal.semantics.domain import Primitive, Row
from rkvformal.sim.runtime import (
    NO_VICTIMS,
    ClaimNumbers,
    History,
    IllegalMove,
    LivePlan,
    Numbers,
    Origin,
    Simulator,
    StateSnapshot,
    Victims,
)
from rkvformal.smt.counterexample import Counterexample, claim_names
from rkvformal.smt.encoding import FIELD_DEFAULTS
from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.primitives import assume_label, inadmissible, prim_label
from rkvformal.smt.trace import (
    CLAIM_EVENTS,
    CLAIMS,
    EVENT_NAMES,
    EVENTS,
    Active,
    ConcreteView,
    Key,
    Move,
    OutcomeType,
    Phase,
)
from rkvformal.vocab import Assumption, Atom, PrimitiveKind

_SLOT = {name: slot for slot, name in EVENT_NAMES.items()}
_BLOCK_SLOTS = ("blk_stored", "blk_removed", "generic_offload")


# --- the abstraction map ------------------------------------------------------------------

def state_values(snap: StateSnapshot, history: History) -> dict[str, Any]:
    """The model's state variables for one simulator state (per-claim ones as lists)."""
    owner: dict[bytes, tuple[int, int]] = {}
    for obj in history.objects:
        for p, h in enumerate(obj.hashes):
            owner[h] = (obj.slot, p)
    active = set(snap.active_blocks)
    free = cached = live = 0
    inr = [0 for _ in CLAIMS]
    outr = [0 for _ in CLAIMS]
    for b in snap.blocks:
        if b.block_id in active:
            live += 1
        elif b.block_hash is None:
            free += 1
        elif b.block_hash in owner:
            c, p = owner[b.block_hash]
            if history.objects[c].is_required(p):
                inr[c] += 1
            else:
                outr[c] += 1
        else:
            cached += 1
    out: dict[str, Any] = {"free": free, "cached": cached, "live": live,
                           "act": int(snap.act), "failpend": snap.failpend,
                           "inr": inr, "outr": outr}
    for name in ("phase", "held", "released_hold", "matd", "nr", "rq", "src", "routed", "idx",
                 "age_acc", "age_rel", "rfl", "gen", "host", "jinr", "jinr_gone", "joutr",
                 "joutr_gone", "jmatd", "jnr"):
        out[name] = [_plain(getattr(cs, name)) for cs in snap.claims]
    return out


def _plain(x: Any) -> int | bool:
    return x if isinstance(x, bool) else int(x)


def abstract(history: History) -> ConcreteView:
    """The simulator run as a concrete trace of the model (K = number of steps)."""
    K = len(history.steps)
    values: dict[Key, int | bool] = {}
    n = history.numbers
    values[Key("U", None, None)] = n.usable
    values[Key("A", None, None)] = n.active_demand
    for c, cn in enumerate(n.claims):
        for name, val in (("R", cn.required), ("O", cn.other), ("P", cn.priority),
                          ("D", cn.duration), ("NP", cn.native_priority or 0)):
            values[Key(name, None, c)] = val
    streams = [p for p in history.primitives if p.kind is PrimitiveKind.BLOCK_EVENTS]
    joined = any(p.kind is PrimitiveKind.CLAIM_TELEMETRY for p in history.primitives)
    values[Key("EXACT", None, None)] = joined and bool(streams) and all(
        p.param("delivery") != "lossy" for p in streams)
    states = [history.initial, *(s.state for s in history.steps)]
    for t, snap in enumerate(states):
        for name, val in state_values(snap, history).items():
            if isinstance(val, list):
                for c in CLAIMS:
                    values[Key(name, t, c)] = val[c]
            else:
                values[Key(name, t, None)] = val
    hex_owner = {h.hex()[:16]: (obj.slot, p) for obj in history.objects
                 for p, h in enumerate(obj.hashes)}
    by_id = {obj.claim_id: obj.slot for obj in history.objects}
    for t, rec in enumerate(history.steps):
        values[Key("mv", t, None)] = int(rec.move)
        values[Key("mc", t, None)] = rec.claim if rec.claim is not None else 0
        values[Key("need", t, None)] = rec.need
        values[Key("drop", t, None)] = rec.drop
        values[Key("ev_cached", t, None)] = rec.victims.cached
        for c in CLAIMS:
            values[Key("ev_in", t, c)] = rec.victims.required[c]
            values[Key("ev_out", t, c)] = rec.victims.other[c]
        for name, (kind, per_claim) in EVENTS.items():
            for c_slot in (CLAIMS if per_claim else (None,)):
                values[Key(name, t, c_slot)] = (FIELD_DEFAULTS[name](c_slot) if kind == "int"
                                                else False)
        for c in CLAIMS:
            values[Key("named", t, c)] = rec.naming[c]
        for e in rec.events:
            if e.origin is not Origin.RUNTIME:
                continue
            slot = _SLOT.get(e.name)
            if slot is None:
                continue
            if slot in _BLOCK_SLOTS:
                hashes = e.fields.get("block_hashes") or [e.fields.get("block_hash")]
                for h in hashes:
                    if h in hex_owner:
                        values[Key(slot, t, hex_owner[h][0])] = True
                continue
            if slot in CLAIM_EVENTS:
                c = by_id[e.fields["claim_id"]]
                values[Key(slot, t, c)] = True
                if e.fields.get("cache_identity") != history.objects[c].identity.to_json():
                    values[Key("ident", t, c)] = 1
                if slot == "restoration_failed":
                    values[Key("rf_for", t, c)] = by_id[e.fields["outcome_claim_id"]]
                if slot == "outcome":
                    values[Key("otype", t, c)] = int(OutcomeType[
                        str(e.fields["outcome_type"]).upper()])
                if slot == "restored" and e.fields.get("restoration_source") == "offload_tier":
                    values[Key("restored_from_tier", t, c)] = True
                continue
            values[Key(slot, t, None)] = True
            for claim_id in e.fields.get("blocking_claim_ids", ()):
                values[Key("blocking", t, by_id[claim_id])] = True
    return ConcreteView(K, values)


# --- evaluating the model on a run --------------------------------------------------------

def model_failures(primitives: Sequence[Primitive], view: ConcreteView, *,
                   enabled: Iterable[str] | None = None,
                   assumptions: Iterable[Assumption] = ()) -> list[str]:
    """Which formulas of the model fail on a concrete trace ([] = the model admits it).
    `enabled` names the primitives switched on (default: all), as a proof stage does;
    the row's encoding is the prover's own (`smt.primitives.inadmissible`)."""
    prims = tuple(primitives)
    on = {p.name for p in prims} if enabled is None else set(enabled)
    assumptions = tuple(assumptions)
    lits = {prim_label(p.name): p.name in on for p in prims}
    lits.update({assume_label(a.value): True for a in assumptions})
    return inadmissible(view, prims, assumptions, lits)


def first_disagreement(primitives: Sequence[Primitive], view: ConcreteView, **kw: Any
                       ) -> tuple[int, list[str]] | None:
    """The first step whose transition the model rejects, with what fails there."""
    if not model_failures(primitives, view, **kw):
        return None
    for k in range(1, view.K + 1):
        failures = model_failures(primitives, ConcreteView(k, view.values), **kw)
        if failures:
            return k - 1, failures
    return view.K, model_failures(primitives, view, **kw)


# --- replaying counterexamples ------------------------------------------------------------

@dataclass(frozen=True)
class ReplayResult:
    legal: bool
    violation: tuple[int, int] | None  # (step, claim) the evaluator reports on the replay
    expected: tuple[int, int]
    reason: str = ""
    mismatches: tuple[str, ...] = field(default=())
    history: History | None = None

    @property
    def ok(self) -> bool:
        return self.legal and self.violation == self.expected and not self.mismatches


def numbers_of(row: Row, cex: Counterexample) -> Numbers:
    names = claim_names(row)
    nums = cex.numbers
    present = [c for c in CLAIMS if names[c] in nums]
    template = nums[names[present[0]]] if present else None
    claims: list[ClaimNumbers] = []
    for c in CLAIMS:
        spec = nums.get(names[c])
        if spec is None:
            p = template["priority"] if template else 0
            np_ = template["native_priority"] if template else None
            claims.append(ClaimNumbers(1, 0, p, 1, np_))
        else:
            claims.append(ClaimNumbers(spec["required"], spec["footprint"] - spec["required"],
                                       spec["priority"], spec["duration"],
                                       spec["native_priority"]))
    cached = int(cex.steps[0]["state"]["cached_unclaimed"])
    return Numbers(int(nums["usable"]), LivePlan.single(int(nums["active_demand"])),
                   tuple(claims), cached)


def _victims(move: dict[str, Any], slots: dict[str, int]) -> Victims:
    spec = move.get("victims", {})
    required = [0 for _ in CLAIMS]
    other = [0 for _ in CLAIMS]
    for key, n in spec.items():
        if key == "cached_unclaimed":
            continue
        name, group = key.rsplit(".", 1)
        (required if group == "required" else other)[slots[name]] = int(n)
    return Victims(int(spec.get("cached_unclaimed", 0)), tuple(required), tuple(other))


def _block_events_expected(step: dict[str, Any]) -> bool:
    return any(e["event"] in (EVENT_NAMES["blk_stored"], EVENT_NAMES["blk_removed"])
               for e in step["events"])


def _would_emit_block_events(move: Move, victims: Victims) -> bool:
    refill = move in (Move.MATERIALIZE, Move.RESTORE, Move.RECOMPUTE)
    return refill or any(victims.of(c) for c in CLAIMS)


FROM_BUNDLE = "<the row's bundle>"


def replay_report(row: Row, cex: Counterexample,
                  qualifier: str | None = FROM_BUNDLE) -> ReplayResult:
    """Re-run a counterexample in the simulator and compare it step by step.  The
    atom's qualifier comes from the row's bundle unless given."""
    names = claim_names(row)
    slots = {name: c for c, name in names.items()}
    expected = (cex.violation_step - 1, slots[cex.violation_claim])
    try:
        sim = Simulator(row.primitives, numbers_of(row, cex),
                        claim_names=[names[c] for c in CLAIMS], run_id=f"replay:{row.name}",
                        policy=row.name)
    except ValueError as error:
        return ReplayResult(False, None, expected, f"numbers rejected: {error}")
    lossy = any(p.param("delivery") == "lossy" for p in row.primitives
                if p.kind.value == "block_events")
    for s in cex.steps[1:]:
        mv = s["move"]
        move = Move[mv["name"].upper()]
        claim = slots[mv["claim"]] if "claim" in mv else None
        victims = _victims(mv, slots) if move in (Move.MATERIALIZE, Move.ADMIT, Move.RESTORE,
                                                  Move.RECOMPUTE) else NO_VICTIMS
        # the counterexample says when a lossy stream dropped a step's block events;
        # older ones only show it by the block events missing from the step
        drop = bool(mv.get("events_dropped")) or (
            lossy and _would_emit_block_events(move, victims) and not _block_events_expected(s))
        try:
            sim.step(move, claim, victims, drop=drop)
        except IllegalMove as error:
            return ReplayResult(False, None, expected,
                                f"step {s['step']} {mv['name']}: {error.reason}",
                                history=sim.history)
    history = sim.history
    view = abstract(history)
    q = load_stdlib()[row.mode].qualifier(Atom(cex.atom)) if qualifier == FROM_BUNDLE \
        else qualifier
    violation = ATOMS[Atom(cex.atom)].first_violation(view, q)
    mismatches = tuple(_compare(cex, view, names))
    return ReplayResult(True, violation, expected, "", mismatches, history)


def replay(row: Row, counterexample: Counterexample,
           qualifier: str | None = FROM_BUNDLE) -> bool:
    """True iff the counterexample runs legally in the simulator, the atom's concrete
    evaluator reports the same violation on the abstracted run, and every step's state
    and events agree with the counterexample's."""
    return replay_report(row, counterexample, qualifier).ok


def _compare(cex: Counterexample, view: ConcreteView, names: dict[int, str]) -> list[str]:
    """Differences between the counterexample's trace and the replayed one."""
    out: list[str] = []
    slots = {name: c for c, name in names.items()}
    for s in cex.steps:
        t = s["step"]
        st = s["state"]
        got = {"free": view.s("free", t), "cached_unclaimed": view.s("cached", t),
               "live": view.s("live", t), "status": Active(view.s("act", t)).name.lower()}
        want = {"free": st["free"], "cached_unclaimed": st["cached_unclaimed"],
                "live": st["active"]["live"], "status": st["active"]["status"]}
        for name, spec in st["claims"].items():
            c = slots[name]
            got[f"{name}.required_resident"] = view.s("inr", t, c)
            got[f"{name}.other_resident"] = view.s("outr", t, c)
            got[f"{name}.phase"] = Phase(view.s("phase", t, c)).name.lower()
            want[f"{name}.required_resident"] = spec["required_resident"]
            want[f"{name}.other_resident"] = spec["other_resident"]
            want[f"{name}.phase"] = _phase_of_state(spec["state"])
        for key in want:
            if got[key] != want[key]:
                out.append(f"step {t}: {key} is {got[key]} in the simulator, "
                           f"{want[key]} in the counterexample")
        if t == 0:
            continue
        u = t - 1
        seen: set[tuple[str, str | None]] = set()
        for name in EVENTS:
            kind, per_claim = EVENTS[name]
            if kind != "bool" or name not in EVENT_NAMES:
                continue
            for c_slot in (CLAIMS if per_claim else (None,)):
                if view.e(name, u, c_slot):
                    seen.add((EVENT_NAMES[name], names[c_slot] if c_slot is not None else None))
        expected: set[tuple[str, str | None]] = set()
        for e in s["events"]:
            subject = e.get("blocks_of") or (e.get("claim_id") if "request_id" not in e else None)
            expected.add((e["event"], subject))
        if seen != expected:
            out.append(f"step {t}: events {sorted(seen, key=str)} in the simulator, "
                       f"{sorted(expected, key=str)} in the counterexample")
    return out


def _phase_of_state(state: str) -> str:
    """The counterexample shows materialized/offloaded for accepted claims."""
    return "accepted" if state in ("materialized", "offloaded") else state
