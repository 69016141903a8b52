"""Cross-check of the SMT model against the block simulator, both directions.

* Proofs are sound for the simulator: random legal simulator runs under a primitive
  set, abstracted to the model's variables, are admitted by the model's transition
  relation (`model_failures == []`).
* Counterexamples are real: every counterexample the model gives for the shipped
  models replays in the simulator with the same violation, state and events.
* Proven atoms hold: random simulator runs under a row's proof stage (its primitives
  and assumptions) never violate an atom the model proved (an atom proven only up to
  the bound k is checked on the run's first k steps).

Profiles (`RKV_HYPOTHESIS_PROFILE`, shared with tests/test_fuzz.py): `ci` (the default;
`default` is accepted too; 50 examples per property, derandomized) and `thorough`
(10,000 examples per property, runs up to 16 steps, also replays the atom-case and
bad-lowering counterexamples):

    RKV_HYPOTHESIS_PROFILE=thorough pytest tests/test_sim_crosscheck.py

Two disagreements were found (docs/SIMULATOR.md), both in the model and both fixed:
D1 (the model's router belief) and D2 (a telemetry join over a lossy stream judged
losses it was never told of).  Their examples are regression tests, and the random
environment no longer avoids anything: dropped batches come up under every join.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TypedDict

import pytest
from atom_cases import CASES, HEADER, prim
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rkvformal import pipeline
from rkvformal.semantics.domain import Primitive, Row
from rkvformal.semantics.validate import validate
from rkvformal.sim.abstraction import (
    abstract,
    first_disagreement,
    model_failures,
    replay_report,
)
from rkvformal.sim.runtime import (
    ClaimNumbers,
    LivePlan,
    Numbers,
    Simulator,
    Victims,
    default_workload,
)
from rkvformal.smt.counterexample import extract
from rkvformal.smt.lowering import stages
from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.prover import RowModel
from rkvformal.smt.trace import CLAIMS, Active, ConcreteView, Move, Phase, Reuse
from rkvformal.syntax.parser import parse_text
from rkvformal.vocab import Assumption, Atom, AtomStatus
from rkvformal.vocab import PrimitiveKind as K

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("rkv-sim-ci", max_examples=50, deadline=None, derandomize=True,
                          suppress_health_check=SUPPRESS)
settings.register_profile("rkv-sim-thorough", max_examples=10_000, deadline=None,
                          suppress_health_check=SUPPRESS)
# the variable is shared with tests/test_fuzz.py, whose fast profile is called `default`
PROFILE = {"ci": "ci", "default": "ci", "thorough": "thorough"}.get(
    os.environ.get("RKV_HYPOTHESIS_PROFILE", "ci"), "")
if not PROFILE:
    raise pytest.UsageError("RKV_HYPOTHESIS_PROFILE must be ci (or default) or thorough")
PROPERTY = settings.get_profile(f"rkv-sim-{PROFILE}")
THOROUGH = PROFILE == "thorough"
MAX_STEPS = 16 if THOROUGH else 12


def row_of(text: str, mode: str = "best_effort") -> Row:
    names = ", ".join(line.split()[1] for line in text.splitlines()
                      if line.startswith("primitive"))
    source = HEADER + text + f"lowering r mode {mode} via {names}\n"
    return validate(parse_text(source, "crosscheck.rkv")).rows[0]


# --- primitive sets -----------------------------------------------------------------------

EXTRA_SETS = {
    "join-count+offload-recompute": prim("ev", "block_events", delivery="reliable")
    + prim("j", "claim_telemetry", "observational", materialization="count")
    + prim("o", "tier_offload", on_restore_failure="recompute"),
    "lossy+join-any-source+offload": prim("ev", "block_events", delivery="lossy")
    + prim("j", "claim_telemetry", "observational", restore_report="any_source")
    + prim("o", "tier_offload", on_restore_failure="recompute"),
    "join-after-reuse-per-tier+late-outcome": prim("ev", "block_events", delivery="reliable")
    + prim("j", "claim_telemetry", "observational", restore_report="after_reuse",
           identity="per_tier")
    + prim("o", "tier_offload")
    + prim("out", "claim_failure_outcome", "patch", timing="after_termination",
           attribution="all_claims"),
    "hard-defer-all+ttl+lock": prim("h", "hard_exclusion", "patch", on_conflict="defer",
                                    blocking_ids="all_claims")
    + prim("ttl", "cache_control_ttl", ttl=2) + prim("l", "lock_ref"),
    "hard-demote-late+expire+no-admit+no-evict": prim("h", "hard_exclusion", "patch",
                                                      on_conflict="demote",
                                                      demote_event="after_loss")
    + prim("d", "priority_duration", clock="from_acceptance", on_elapse="expire_with_event")
    + prim("w", "write_no_admit") + prim("n", "active_no_evict"),
    "priority-revert+constant-policy": prim("p", "eviction_priority", default=1, minimum=0,
                                            maximum=3)
    + prim("d", "priority_duration", clock="from_acceptance")
    + prim("pp", "priority_policy", "policy", mapping="constant"),
    "priority+monotone+lossy+router+outcome": prim("p", "eviction_priority", default=1,
                                                   minimum=0, maximum=5)
    + prim("d", "priority_duration") + prim("pp", "priority_policy", "policy")
    + prim("ev", "block_events", delivery="lossy") + prim("r", "kv_aware_routing")
    + prim("out", "claim_failure_outcome", "patch"),
    "post-hoc-join+pin": prim("ev", "block_events", delivery="replayable")
    + prim("j", "claim_telemetry", "observational", registration="post_hoc")
    + prim("h", "hard_exclusion", "patch", claim_events="false"),
}


@cache
def shipped_rows() -> tuple[Row, ...]:
    return tuple(r for path in sorted(glob.glob(os.path.join(ROOT, "models", "*.rkv")))
                 for r in pipeline.load(path).rows)


@cache
def primitive_sets() -> tuple[tuple[str, tuple[Primitive, ...]], ...]:
    """Every shipped row's primitives, every atom case's, and some hand-made mixes."""
    out: dict[tuple, tuple[str, tuple[Primitive, ...]]] = {}
    candidates = [(r.name, r.primitives) for r in shipped_rows()]
    candidates += [(f"{c.atom.value}-{'holds' if c.holds else 'breaks'}", c.row().primitives)
                   for c in CASES]
    candidates += [(name, row_of(text).primitives) for name, text in EXTRA_SETS.items()]
    for name, prims in candidates:
        key = tuple(sorted((p.kind.value, p.params) for p in prims))
        out.setdefault(key, (name, prims))
    return tuple(out.values())


# --- the random environment ---------------------------------------------------------------

def draw_numbers(data: st.DataObject, prims: Sequence[Primitive],
                 assumptions: frozenset[Assumption]) -> Numbers:
    kinds = {p.kind: p for p in prims}
    claims = []
    for _c in CLAIMS:
        np_ = None
        prio = kinds.get(K.EVICTION_PRIORITY)
        if prio is not None and K.PRIORITY_POLICY not in kinds:
            lo, hi, default = (int(prio.param(k)) for k in ("minimum", "maximum", "default"))
            near = sorted({min(max(x, lo), hi) for x in (lo, default - 1, default, default + 1)})
            np_ = data.draw(st.sampled_from(near), label="native priority")
        claims.append(ClaimNumbers(
            data.draw(st.integers(1, 3), label="R"), data.draw(st.integers(0, 2), label="O"),
            data.draw(st.integers(0, 3), label="P"), data.draw(st.integers(1, 3), label="D"),
            np_))
    usable = data.draw(st.integers(1, 10), label="U")
    demand = data.draw(st.integers(1, 8), label="A")
    if Assumption.FEASIBLE_DEMAND in assumptions:
        usable = max(usable, demand + sum(c.required for c in claims))
    cached = data.draw(st.integers(0, usable), label="cached")
    return Numbers(usable, LivePlan.single(demand), tuple(claims), cached)


def allowed(sim: Simulator, move: Move, c: int | None,
            assumptions: frozenset[Assumption]) -> bool:
    """What the environment may do: only the row's assumptions restrict it (D1 and D2
    are fixed in the model, so no move is avoided for their sake)."""
    if move is Move.IDLE:
        return any(p.param("timing") == "after_termination"
                   for p in sim.primitives_of(K.CLAIM_FAILURE_OUTCOME))
    if move is Move.FAIL_RESTORE and Assumption.NO_RESTORE_FAILURE in assumptions:
        return False
    if move is Move.SUBMIT and c == 1 and Assumption.SINGLE_CLAIM in assumptions:
        return False
    if move is Move.TICK and Assumption.PRESSURE_WITHIN_DURATION in assumptions:
        for cl in sim.claims:
            acc = cl.age_acc + (cl.phase not in (Phase.ABSENT, Phase.SUBMITTED))
            rel = cl.age_rel + cl.released_hold
            if acc >= cl.numbers.duration or rel >= cl.numbers.duration:
                return False
    return True


# How often the environment offers a move when its guard holds: moves that make progress
# through a claim's lifecycle come up more often than the ones that only wait or retry.
WEIGHT = {Move.MATERIALIZE: 4, Move.ADMIT: 4, Move.OFFLOAD: 4, Move.RESTORE: 6,
          Move.RECOMPUTE: 3, Move.SERVE: 3, Move.FAIL_REUSE: 3, Move.DEMOTE: 6,
          Move.EXPIRE: 6, Move.ROUTE: 4, Move.REUSE: 4, Move.FINISH_HOLD: 3,
          Move.FINISH_ACTIVE: 2, Move.ACCEPT: 3, Move.SUBMIT: 2, Move.ARRIVE: 2, Move.TICK: 2}


def _take(data: st.DataObject, sim: Simulator, move: Move, c: int | None,
          lossy: bool) -> bool:
    """Take one move if some victim split allows it: the simulator's own victims or a
    dictated split, and (on a lossy stream) maybe a dropped batch."""
    splits = sim.victim_options(move, c)
    if not splits:
        return False
    own = len(splits) > 1 and data.draw(st.booleans(), label="own victim policy")
    split: Victims | None = None if own else (
        splits[0] if len(splits) == 1 else data.draw(st.sampled_from(splits), label="victims"))
    drop = lossy and data.draw(st.booleans(), label="drop")
    record = sim.step(move, c, split, drop=drop)
    event(f"move: {move.name.lower()}")
    refilled = move in (Move.MATERIALIZE, Move.RESTORE, Move.RECOMPUTE) and record.need > 0
    if drop and sim.primitives_of(K.CLAIM_TELEMETRY) and (
            refilled or any(record.victims.of(k) for k in CLAIMS)):
        event("a join missed claim block events (D2's trigger)")
    return True


def _runtime_choice(sim: Simulator, phase: str) -> tuple[Move, int | None] | None:
    """The runtime's own next move in a warm-start phase (None: nothing to do)."""
    if phase == "decide":
        for c in CLAIMS:  # expiry is checked before allocating
            if sim.guard(Move.EXPIRE, c) is None:
                return Move.EXPIRE, c
        if sim.act in (Active.WAITING, Active.DEFERRED):
            return sim.decide_active()
        return None
    if sim.claims[0].rq is Reuse.NONE:
        return None
    for move in (Move.SERVE, Move.RESTORE, Move.RECOMPUTE, Move.FAIL_REUSE):
        if sim.guard(move, 0) is None:
            return move, 0
    return None


def drive(data: st.DataObject, sim: Simulator, assumptions: frozenset[Assumption],
          max_steps: int) -> None:
    """A random legal run of at most `max_steps` moves: maybe a warm start (claims
    submitted, accepted, materialized, maybe offloaded and released, time passing, the
    active request arriving and decided by the runtime, a fault, a reuse the runtime
    serves), then moves whose guards hold, weighted towards progress."""
    budget = data.draw(st.one_of(st.just(max_steps), st.integers(1, max_steps)), label="steps")
    lossy = sim.lossy and Assumption.NO_EVENT_LOSS not in assumptions

    def take(move: Move, c: int | None) -> bool:
        nonlocal budget
        if budget and sim.guard(move, c) is None and allowed(sim, move, c, assumptions) \
                and _take(data, sim, move, c, lossy):
            budget -= 1
            return True
        return False

    def runtime(phase: str) -> None:
        for _ in range(4):
            choice = _runtime_choice(sim, phase)
            if choice is None or not take(*choice):
                return

    def likely(label: str) -> bool:  # warm-start choices lean towards the long path
        return data.draw(st.sampled_from((True, True, True, False)), label=label)

    if likely("warm start"):
        for c in CLAIMS[: data.draw(st.sampled_from((1, 2)), label="warm claims")]:
            for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE):
                take(move, c)
            if likely("offload"):
                take(Move.OFFLOAD, c)
            if likely("release"):
                take(Move.FINISH_HOLD, c)
        for _ in range(data.draw(st.sampled_from((0, 0, 1, 2)), label="ticks")):
            take(Move.TICK, None)
        if likely("arrive") and take(Move.ARRIVE, None) and likely("runtime decides"):
            runtime("decide")
        if data.draw(st.booleans(), label="fault"):
            take(Move.FAIL_RESTORE, None)
        if likely("reuse") and take(Move.REUSE, 0):
            runtime("reuse")
    while budget:
        options = [(m, c) for m, c in sim.enabled_moves() if allowed(sim, m, c, assumptions)
                   for _w in range(WEIGHT.get(m, 1))]
        while options:
            move, claim = data.draw(st.sampled_from(options), label="move")
            if take(move, claim):
                break
            options = [mc for mc in options if mc != (move, claim)]
        else:
            return


def describe(sim: Simulator, found: tuple[int, list[str]]) -> str:
    step, failures = found
    moves = [f"{r.step}:{sim.move_label(r.step)} victims={r.victims} drop={r.drop}"
             for r in sim.history.steps[: step + 1]]
    return (f"the model rejects step {step} of a legal simulator run "
            f"({[p.name for p in sim.primitives]}, numbers {sim.numbers}): "
            f"{failures[:8]}\n  " + "\n  ".join(moves))


# --- proofs are sound for the simulator ---------------------------------------------------

@PROPERTY
@given(st.data())
def test_random_simulator_runs_are_admitted_by_the_model(data: st.DataObject) -> None:
    name, prims = data.draw(st.sampled_from(primitive_sets()), label="primitive set")
    event(f"set: {name}")
    sim = Simulator(prims, draw_numbers(data, prims, frozenset()))
    drive(data, sim, frozenset(), MAX_STEPS)
    found = first_disagreement(prims, abstract(sim.history))
    assert found is None, describe(sim, found or (0, []))


def test_default_workloads_are_admitted_by_the_model() -> None:
    """Every shipped row's default workload (as `rkvformal simulate` runs it) is a trace
    of that row's model, with and without an injected restore failure."""
    for row in shipped_rows():
        spec = row.scenario
        numbers = Numbers(80, LivePlan.single(70), (ClaimNumbers(60),))
        if spec is not None:
            claims = tuple(ClaimNumbers(c.required, c.footprint - c.required)
                           for c in spec.claims)
            numbers = Numbers(spec.usable or 80, LivePlan.single(spec.active_demand or 70),
                              claims or (ClaimNumbers(60),))
        for fail in (False, True):
            sim = Simulator(row.primitives, numbers, policy=row.name)
            default_workload(sim, fail_restore=fail)
            assert first_disagreement(row.primitives, abstract(sim.history)) is None, row.name


# --- counterexamples are real -------------------------------------------------------------

def replay_failures(rows_and_cexs) -> tuple[int, list[str]]:
    failures: list[str] = []
    n = 0
    for row, cexs in rows_and_cexs:
        for atom, cex in cexs.items():
            n += 1
            result = replay_report(row, cex)
            if not result.ok:
                failures.append(f"{row.name}/{atom}: legal={result.legal} {result.reason} "
                                f"violation={result.violation} expected={result.expected} "
                                f"{list(result.mismatches)[:3]}")
    return n, failures


def test_every_shipped_counterexample_replays(proved_models) -> None:
    pairs = [(r.result.row, r.counterexamples) for p in proved_models.values() for r in p.rows]
    n, failures = replay_failures(pairs)
    assert failures == []
    refuted = sum(1 for p in proved_models.values() for r in p.rows for c in r.result.checks
                  if c.status is AtomStatus.REFUTED)
    assert n == refuted > 0


@pytest.mark.skipif(not THOROUGH, reason="thorough profile: proves every case and bad lowering")
def test_atom_case_and_bad_lowering_counterexamples_replay() -> None:
    paths = sorted(glob.glob(os.path.join(ROOT, "bad_lowerings", "*.rkv")))
    descriptors = [pipeline.load(p) for p in paths]
    proved = pipeline.prove_descriptors(descriptors, jobs=pipeline.default_jobs())
    n, failures = replay_failures([(r.result.row, r.counterexamples) for p in proved
                                   for r in p.rows])
    for case in CASES:  # each case's own atom, as tests/test_atoms.py proves it
        if case.holds:
            continue
        row = case.row()
        model = RowModel(row, 12)
        check = model.prove(case.atom, case.qualifier, model.labels)
        result = replay_report(row, extract(row, check, case.qualifier), case.qualifier)
        n += 1
        if not result.ok:
            failures.append(f"{case.atom.value}: {result.reason} {result.violation} "
                            f"{result.expected} {list(result.mismatches)[:3]}")
    assert failures == [] and n > 0


# --- proven atoms hold --------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A row's reported proof stage: its primitives, assumptions and proven atoms."""

    name: str
    row: Row
    enabled: frozenset[str]
    assumptions: frozenset[Assumption]
    atoms: tuple[tuple[Atom, str | None, bool], ...]  # atom, qualifier, unbounded proof
    bound: int


def proven_targets(proved_models) -> list[Target]:
    from rkvformal.semantics.bundles import load_stdlib

    out = []
    for p in proved_models.values():
        for r in p.rows:
            result = r.result
            proven = [c for c in result.checks if c.status is AtomStatus.PROVEN]
            if not proven or result.stage is None:
                continue
            stage = next(s for s in stages(result.row) if s.name == result.stage)
            enabled = frozenset(label.split(":", 1)[1] for label in stage.labels
                                if label.startswith("primitive:"))
            assumed = frozenset(Assumption(label.split(":", 1)[1]) for label in stage.labels
                                if label.startswith("assume:"))
            bundle = load_stdlib()[result.row.mode]
            atoms = tuple((c.atom, bundle.qualifier(c.atom), c.proof == "unbounded")
                          for c in proven)
            out.append(Target(result.row.name, result.row, enabled, assumed, atoms,
                              proven[0].bound))
    return out


@PROPERTY
@given(st.data())
def test_proven_atoms_are_never_violated_by_the_simulator(proved_models,
                                                          data: st.DataObject) -> None:
    targets = proven_targets(proved_models)
    assert targets
    target = data.draw(st.sampled_from(targets), label="row")
    event(f"row: {target.name}")
    prims = tuple(p for p in target.row.primitives if p.name in target.enabled)
    sim = Simulator(prims, draw_numbers(data, prims, target.assumptions))
    drive(data, sim, target.assumptions, MAX_STEPS)
    view = abstract(sim.history)
    assert model_failures(target.row.primitives, view, enabled=target.enabled,
                          assumptions=target.assumptions) == [], describe(sim, (view.K, []))
    prefix = view if target.bound >= view.K else ConcreteView(target.bound, view.values)
    for atom, qualifier, unbounded in target.atoms:
        checked = view if unbounded else prefix  # bounded: "no counterexample up to k"
        definition = ATOMS[atom]
        if definition.triggered(checked):
            event(f"triggered: {atom.value}")
        assert definition.first_violation(checked, qualifier) is None, (
            f"{target.name}: proven atom {atom.value} violated\n" + describe(sim, (view.K, [])))


def test_proven_atoms_hold_on_the_default_workloads(proved_models) -> None:
    """The deep paths at paper scale, deterministically: every row's proof stage runs
    the default workload (offload, pressure, reuse, with and without a failed restore)
    at 60/70/80 and in a small pool with unclaimed cached blocks; no proven atom breaks, and the
    triggers the random runs rarely reach are reached here."""
    triggered: set[tuple[str, str]] = set()
    for target in proven_targets(proved_models):
        prims = tuple(p for p in target.row.primitives if p.name in target.enabled)
        for numbers in (Numbers(80, LivePlan.single(70), (ClaimNumbers(60, 0, 1, 9),)),
                        Numbers(8, LivePlan.single(3), (ClaimNumbers(2, 1, 2, 9),
                                                        ClaimNumbers(2, 0, 1, 9)), cached=2)):
            for fail in (False, True):
                sim = Simulator(prims, numbers)
                default_workload(sim, len(numbers.claims), fail_restore=fail)
                view = abstract(sim.history)
                assert model_failures(target.row.primitives, view, enabled=target.enabled,
                                      assumptions=target.assumptions) == [], target.name
                for atom, qualifier, _unbounded in target.atoms:
                    assert ATOMS[atom].first_violation(view, qualifier) is None, (
                        target.name, atom)
                    if ATOMS[atom].triggered(view):
                        triggered.add((target.name, atom.value))
    assert {("witness_offloadable", "restoration_failure_outcome"),
            ("witness_offloadable", "restore_before_reuse"),
            ("patched_demotable", "release_before_loss"),
            ("patched_hard_protected", "infeasibility_outcome"),
            ("patched_hard_protected", "protected_exclusion")} <= triggered


# --- disagreements found, fixed in the model (regression tests) -----------------------------

ROUTER = row_of(prim("events", "block_events", delivery="replayable")
                + prim("router", "kv_aware_routing"), "routed_reuse")
LOSSY_JOIN = row_of(prim("events", "block_events", delivery="lossy")
                    + prim("join", "claim_telemetry", "observational"))


def test_d1_the_router_still_holds_the_required_range() -> None:
    """The simulator half of D1: after only an out-of-range block of c is evicted (and
    its BlockRemoved delivered), the router's index still holds c's whole required
    range, so it routes for c; the model's belief now agrees (regression for D1)."""
    sim = Simulator(ROUTER.primitives, Numbers(2, LivePlan.single(1), (ClaimNumbers(1, 1),)))
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE):
        sim.step(move, 0)
    sim.step(Move.ARRIVE)
    sim.step(Move.ADMIT, victims=Victims(0, (0, 0), (1, 0)))  # evicts position 1 only
    assert sim.pred(0) and sim.router_believes(0) and sim.claims[0].idx
    sim.step(Move.ROUTE, 0)


def test_d1_model_admits_routing_after_an_out_of_range_eviction() -> None:
    sim = Simulator(ROUTER.primitives, Numbers(2, LivePlan.single(1), (ClaimNumbers(1, 1),)))
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE):
        sim.step(move, 0)
    sim.step(Move.ARRIVE)
    sim.step(Move.ADMIT, victims=Victims(0, (0, 0), (1, 0)))
    sim.step(Move.ROUTE, 0)
    assert model_failures(ROUTER.primitives, abstract(sim.history)) == []


def lossy_join_run() -> Simulator:
    sim = Simulator(LOSSY_JOIN.primitives, Numbers(1, LivePlan.single(1), (ClaimNumbers(1),)))
    sim.step(Move.SUBMIT, 0)
    sim.step(Move.ACCEPT, 0)
    sim.step(Move.MATERIALIZE, 0, drop=True)  # the BlockStored batch is lost
    sim.step(Move.ARRIVE)
    sim.step(Move.ADMIT)  # evicts c's only block; the BlockRemoved is delivered
    return sim


def test_d2_a_join_that_missed_the_store_reports_no_harm() -> None:
    """The simulator half of D2: the join never saw c's block stored, so the removal it
    receives breaks nothing it believed; the loss is silent (no_silent_loss fails)."""
    sim = lossy_join_run()
    names = [e.name for e in sim.history.steps[-1].events if e.origin.value == "runtime"]
    assert names == ["BlockRemoved"]
    assert not sim.believes(0) and sim.history.steps[-1].state.claims[0].jinr == 0
    assert ATOMS[Atom.NO_SILENT_LOSS].first_violation(abstract(sim.history)) == (4, 0)


def test_d2_model_admits_the_event_driven_join() -> None:
    """Regression for D2 (was a strict xfail): the model's join judges the loss by what
    it believes from delivered block events (`jinr`), so it owes no harm report here."""
    sim = lossy_join_run()
    view = abstract(sim.history)
    assert model_failures(LOSSY_JOIN.primitives, view) == []
    assert [view.s("jinr", t, 0) for t in range(view.K + 1)] == [0] * 6


LOSSY = prim("events", "block_events", delivery="lossy")
TIER = prim("tier", "tier_offload", on_restore_failure="recompute")


class StepOptions(TypedDict, total=False):
    """`Simulator.step`'s keyword options a test move can carry."""

    drop: bool


DROP: StepOptions = {"drop": True}
MISSED_STORE = ((Move.SUBMIT, 0), (Move.ACCEPT, 0), (Move.MATERIALIZE, 0, DROP),
                (Move.ARRIVE, None), (Move.ADMIT, None))
D2_VARIANTS = {
    # a hit counter that missed the store counts nothing, so it loses nothing either
    "count-join-missed-store": (
        LOSSY + prim("join", "claim_telemetry", "observational", materialization="count"),
        MISSED_STORE, "BlockRemoved"),
    # with a host copy the loss would be an offload report: not for a join that never
    # believed the block was on the GPU
    "offload-missed-store": (
        LOSSY + prim("join", "claim_telemetry", "observational") + TIER,
        ((Move.SUBMIT, 0), (Move.ACCEPT, 0), (Move.MATERIALIZE, 0, DROP), (Move.OFFLOAD, 0),
         (Move.ARRIVE, None), (Move.ADMIT, None)), "BlockRemoved"),
    # an any_source join reads a recompute as a restore only after a loss it saw; this
    # loss's BlockRemoved was dropped, so the recompute is no restore to it
    "any-source-recompute-missed-removal": (
        LOSSY + prim("join", "claim_telemetry", "observational", restore_report="any_source")
        + TIER,
        ((Move.SUBMIT, 0), (Move.ACCEPT, 0), (Move.MATERIALIZE, 0), (Move.OFFLOAD, 0),
         (Move.ARRIVE, None), (Move.ADMIT, None, DROP), (Move.FINISH_ACTIVE, None),
         (Move.FAIL_RESTORE, None), (Move.REUSE, 0), (Move.RESTORE, 0), (Move.RECOMPUTE, 0)),
        "BlockStored"),
}


@pytest.mark.parametrize("name", sorted(D2_VARIANTS))
def test_d2_variants_the_join_reports_only_what_reached_it(name: str) -> None:
    """Regression for D2's other faces (each was rejected by the model before the fix):
    a join's harm, offload and restore reports follow its belief, not the pool."""
    text, moves, last = D2_VARIANTS[name]
    row = row_of(text)
    sim = Simulator(row.primitives, Numbers(1, LivePlan.single(1), (ClaimNumbers(1),)))
    for move, c, *kw in moves:
        sim.step(move, c, **(kw[0] if kw else {}))
    names = [e.name for e in sim.history.steps[-1].events if e.origin.value == "runtime"]
    assert not any(n.startswith("resident_claim_") for n in names) and last in names
    assert first_disagreement(row.primitives, abstract(sim.history)) is None
