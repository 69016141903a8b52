"""Bounded proofs of obligation atoms for one row, with one incremental Z3 solver.

The row's whole model (base relation, every primitive, every assumption) is asserted
once, each primitive and assumption behind its own literal.  A proof stage is a choice
of literals; an atom is checked by assuming its violation:

* unsat  -> no counterexample up to K steps (`bounded k=K`); the unsat core names the
  primitives and assumptions the proof needed;
* sat    -> refuted; the model is shrunk (fewest steps, then smallest numbers, the
  scenario's numbers when it has some) and read back as a concrete trace;
* unknown / timeout -> unknown, never proven.

Before "proven" is said, the atom's trigger must be reachable under the same literals;
otherwise the proof is vacuous and reported as such.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import z3

from rkvformal.semantics.domain import Row, Scenario
from rkvformal.smt import capi
from rkvformal.smt.encoding import base_constraints, event_definitions, invariants
from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.primitives import assume_label, declare_row, encode_declared, prim_label
from rkvformal.smt.second_solver import SolverDisagreement, cvc5_check
from rkvformal.smt.trace import ConcreteView, Move, SymbolicView, concretize
from rkvformal.vocab import Atom, AtomStatus

DEFAULT_BOUND = 12
# Z3's settings for every row model (benchlib's pace times a check with them too): no
# unsat-core minimisation; measured on the shipped models (docs/BENCHMARKS.md), the
# legacy simplex and no relevancy filtering are ~30% faster on these small
# bounded-arithmetic problems
SOLVER_SETTINGS: dict[str, bool | int] = {"core.minimize": False, "arith.solver": 2,
                                          "relevancy": 0}
WALK = 8  # depths a counterexample's fewest steps are walked up through before bisecting
# the fewest-steps probes asked for one atom: (depth, idle after it) -> (answer, model)
_Probes = dict[tuple[int, bool], tuple[z3.CheckSatResult, "z3.ModelRef | None"]]


@dataclass(frozen=True)
class Check:
    """The solver's answer for one atom under one set of literals."""

    atom: Atom
    status: AtomStatus
    bound: int
    core: tuple[str, ...] = ()  # labels the proof needed (proven only)
    trace: ConcreteView | None = None  # the shrunk counterexample (refuted only)
    violation_step: int | None = None
    violation_claim: int | None = None
    scenario_used: bool = False
    reason: str = ""
    induction_depth: int | None = None  # proven for every depth by k-induction at this k

    @property
    def proof(self) -> str | None:
        """`unbounded` (k-induction), `bounded` (no counterexample up to K), or None."""
        if self.status is not AtomStatus.PROVEN:
            return None
        return "unbounded" if self.induction_depth is not None else "bounded"


class RowModel:
    """The encoded model of one row and the solver that holds it."""

    def __init__(self, row: Row, bound: int = DEFAULT_BOUND, timeout_s: float | None = None,
                 induction: bool = False, final_invariants: bool = True,
                 solver: str = "z3", cross_check: bool = False, claims: int = 2,
                 atoms: Iterable[tuple[Atom, str | None]] = ()):
        self.row = row
        self.claims = claims  # claim slots of the model (descriptors use at most 2)
        self.solver_name = solver  # which solver decides verdicts
        self.cross_check = cross_check  # the other solver must agree with every verdict
        self.K = bound
        self.timeout_s = timeout_s
        self.induction = induction  # a k-induction window: step 0 is any state
        self.v = SymbolicView(bound, claims=claims)
        self.labels = [prim_label(p.name) for p in row.primitives] + [
            assume_label(a.value) for a in row.assumptions
        ]
        self.ctx = self.v.ctx
        self.lits = {label: z3.Bool(label, self.ctx) for label in self.labels}
        # the base first: it defines the state (SymbolicView.define) that the
        # primitives' formulas then read as terms; it reads only what they declare
        self.enc = declare_row(self.v, row.primitives, row.assumptions, self.lits)
        base = base_constraints(self.enc, initial=not induction,
                                final_invariants=final_invariants)
        encode_declared(self.enc, row.primitives, row.assumptions)
        self.solver = z3.Solver(ctx=self.ctx)
        if timeout_s is not None:
            self.solver.set("timeout", max(1, int(timeout_s * 1000)))
        for name, value in SOLVER_SETTINGS.items():
            self.solver.set(name, value)
        self._assert(base)
        self._assert(event_definitions(self.enc))
        self._assert_implied((self.lits[label], formula)
                             for label, formula in self.enc.constraints)
        self._flushed = 0  # history starts already asserted
        self._windows: dict[int, RowModel] = {}
        self._inductive: bool | None = None  # invariants_inductive(), once asked
        self._goals: dict[tuple[str, ...], z3.BoolRef] = {}
        self._terms: dict[tuple[Atom, str | None], list[z3.BoolRef]] = {}
        self._formulas: dict[tuple[Atom, str | None], list[z3.BoolRef]] = {}
        self._triggers: dict[Atom, z3.BoolRef] = {}
        # the atoms this model will be asked about: their formulas are named before the
        # first check, so that every later goal is a small formula over those names
        self.atoms = tuple(atoms)
        for atom, qualifier in self.atoms:
            self._violation_terms(atom, qualifier)
            self._trigger(atom)
        # full unsat cores (literal names, on and off) of the atoms proven so far
        self._proofs: dict[tuple[Atom, str | None],
                           list[tuple[frozenset[str], tuple[str, ...]]]] = {}
        # traces found under each set of enabled literals (vacuity witnesses)
        self._traces: dict[frozenset[str], list[_Found]] = {}

    # --- asserting: Z3's C API, as Solver.add and z3.Implies would call it (they cast
    # and re-check every argument; a row asserts some 10^4 formulas)
    def _assert(self, formulas: Iterable[z3.BoolRef | bool]) -> None:
        capi.assert_all(self.ctx.ref(), self.solver.solver, (
            self._term(f) for f in formulas if f is not True))  # (True: inlined)

    def _assert_implied(self, pairs: Iterable[tuple[z3.BoolRef, z3.BoolRef | bool]]) -> None:
        """Assert `a -> b` for each pair."""
        capi.assert_implied(self.ctx.ref(), self.solver.solver,
                            ((a, self._term(b)) for a, b in pairs))

    def _term(self, formula: z3.BoolRef | bool) -> z3.BoolRef:
        """A formula as a Z3 term (a Python bool as Z3's true or false)."""
        return z3.BoolVal(formula, self.ctx) if isinstance(formula, bool) else formula

    # --- literals and goals ------------------------------------------------------
    def assumptions(self, enabled: Iterable[str]) -> list[z3.BoolRef]:
        on = set(enabled)
        return [lit if label in on else z3.Not(lit) for label, lit in self.lits.items()]

    def goal(self, key: tuple[str, ...], formula: z3.BoolRef) -> z3.BoolRef:
        """A literal that, when assumed, asserts `formula` (added once per key)."""
        lit = self._goals.get(key)
        if lit is None:
            lit = z3.Bool("goal:" + "/".join(key), self.ctx)
            self._assert_implied([(lit, formula)])
            self._goals[key] = lit
        return lit

    def _named(self, name: str, formula: z3.BoolRef) -> z3.BoolRef:
        """A Boolean constant asserted to imply `formula` (enough for a goal that asks
        for it).  Why: Z3 preprocesses what is asserted before a check together with the
        model, and a formula asserted after a check on its own; a goal that brings in a
        large formula late costs its checks about half again (docs/BENCHMARKS.md), a
        goal over names costs nothing."""
        lit = z3.Bool(name, self.ctx)
        self._assert_implied([(lit, formula)])
        return lit

    def _violation_formulas(self, atom: Atom, q: str | None) -> list[z3.BoolRef]:
        """Per step t: some claim breaks the atom at t (built once per atom)."""
        key = (atom, q)
        formulas = self._formulas.get(key)
        if formulas is None:
            d, v = ATOMS[atom], self.v
            formulas = [v.or_(*(d.violation(v, c, t, q) for c in v.claims))
                        for t in range(self.K)]
            self._formulas[key] = formulas
        return formulas

    def _violation_terms(self, atom: Atom, q: str | None) -> list[z3.BoolRef]:
        """Per step t: a name that implies the atom's violation at t (for goals that
        ask for a violation; a goal that denies one uses `_violation_formulas`)."""
        key = (atom, q)
        terms = self._terms.get(key)
        if terms is None:
            terms = [self._named(f"violation:{atom.value}/{q or ''}@{t}", formula)
                     for t, formula in enumerate(self._violation_formulas(atom, q))]
            self._terms[key] = terms
        return terms

    def _trigger(self, atom: Atom) -> z3.BoolRef:
        """The atom's trigger holds somewhere in the trace (named once per atom)."""
        term = self._triggers.get(atom)
        if term is None:
            term = self._triggers[atom] = self._named(f"trigger:{atom.value}",
                                                      ATOMS[atom].triggered(self.v))
        return term

    def violation_goal(self, atom: Atom, q: str | None, before: int | None = None) -> z3.BoolRef:
        terms = self._violation_terms(atom, q)
        formula = self.v.or_(*terms[: self.K if before is None else before])
        return self.goal(("violation", atom.value, q or "", str(before)), formula)

    def scenario_goal(self, scenario: Scenario, strict_claims: bool = True) -> z3.BoolRef:
        v = self.v
        parts = []
        if scenario.usable is not None:
            parts.append(v.k("U") == scenario.usable)
        if scenario.active_demand is not None:
            parts.append(v.k("A") == scenario.active_demand)
        for c, spec in zip(v.claims, scenario.claims, strict=False):
            parts.append(v.k("R", c) == spec.required)
            parts.append(v.k("O", c) == spec.footprint - spec.required)
            if spec.priority is not None:
                parts.append(v.k("P", c) == spec.priority)
            if spec.duration is not None:
                parts.append(v.k("D", c) == spec.duration)
        if strict_claims:  # exactly the scenario: no extra claim, no unclaimed cache
            parts.append(v.s("cached", 0) == 0)
            for c in v.claims[len(scenario.claims):]:
                parts.extend(v.not_(v.move(t, Move.SUBMIT, c)) for t in range(self.K))
        key = ("scenario", scenario.name, str(strict_claims))
        return self.goal(key, v.and_(*parts))

    # --- checking -----------------------------------------------------------------
    def satisfiable(self, enabled: Iterable[str],
                    goals: Sequence[z3.BoolRef] = ()) -> z3.CheckSatResult:
        """Is there a trace with these literals on (the others off) and these goals?"""
        return self._check(self.assumptions(enabled) + list(goals))

    def _check(self, assumptions: Sequence[z3.BoolRef]) -> z3.CheckSatResult:
        self._flush_history()
        return self.solver.check(*assumptions)

    def _verdict(self, assumptions: Sequence[z3.BoolRef]) -> z3.CheckSatResult:
        """A check whose answer is a verdict: decided by the chosen solver, confirmed by
        the other one when cross-checking.  Z3 always runs last, so a sat answer leaves
        a Z3 model to read the counterexample from (Z3 must then agree)."""
        if self.solver_name == "z3" and not self.cross_check:
            return self._check(assumptions)
        self._flush_history()
        second = cvc5_check(self.solver, assumptions, self.timeout_s)
        first = self.solver.check(*assumptions)
        decided = second if self.solver_name == "cvc5" else first
        if z3.unknown not in (first, second) and first != second:
            raise SolverDisagreement(
                f"{self.row.name}: z3 says {first}, cvc5 says {second} "
                f"(assuming {', '.join(str(a) for a in assumptions)})")
        if decided == z3.sat and first != z3.sat:  # cvc5 found one, Z3 cannot show it
            return z3.unknown
        return decided

    def _flush_history(self) -> None:
        """Assert the start of the history chains that goals built since the last check
        (H(0) is false from the initial state, free in an induction window)."""
        init = self.v.history_init
        if not self.induction:
            self._assert(init[self._flushed:])
        self._flushed = len(init)

    # --- unbounded proofs -------------------------------------------------------------
    def induct(self, atom: Atom, qualifier: str | None, enabled: Iterable[str],
               max_depth: int = 2) -> int | None:
        """k-induction for an atom already proven up to K >= k from the initial state:
        the smallest k <= max_depth such that k steps without a violation, from any
        state satisfying the invariants, are never followed by a violation.  None when
        induction fails (the atom stays `bounded`); a counterexample to induction is
        not a bug trace and is never reported as one.

        An atom with a strengthening lemma is proven together with it: the window also
        assumes the lemma for k steps and must keep it at step k, and the lemma must hold
        in the first k steps from the initial state (`_lemma_from_start`)."""
        lemma = ATOMS[atom].lemma
        for k in range(1, min(max_depth, self.K) + 1):
            window = self._window(k)
            if window is None:
                return None
            w, terms = window.v, window._violation_formulas(atom, qualifier)
            clean, bad = w.not_(w.or_(*terms[:k])), terms[k]
            if lemma is not None:
                clean = w.and_(clean, *(lemma(w, c, t) for t in range(k) for c in w.claims))
                bad = w.or_(bad, *(w.not_(lemma(w, c, k)) for c in w.claims))
            key = (atom.value, qualifier or "", str(k))
            answer = window._verdict(window.assumptions(enabled) + [
                window.goal(("clean", *key), clean), window.goal(("bad", *key), bad)])
            if answer == z3.unsat:
                if lemma is not None and not self._lemma_from_start(atom, enabled, k):
                    return None
                return k
        return None

    def _lemma_from_start(self, atom: Atom, enabled: Iterable[str], k: int) -> bool:
        """The atom's lemma holds at steps 0..k-1 of every trace from the initial state
        under these literals (the base case of the lemma's induction).  The atom is
        already proven up to K >= k here, so every such trace is one without a violation,
        which is all the lemma promises."""
        lemma, v = ATOMS[atom].lemma, self.v
        assert lemma is not None
        broken = v.or_(*(v.not_(lemma(v, c, t)) for t in range(k) for c in v.claims))
        goal = self.goal(("lemma-broken", atom.value, str(k)), broken)
        return self._verdict(self.assumptions(enabled) + [goal]) == z3.unsat

    def _window(self, k: int) -> RowModel | None:
        """The (k+1)-step induction window, if the model's invariants are inductive."""
        if not self.invariants_inductive():
            return None
        if k not in self._windows:
            self._windows[k] = RowModel(self.row, k + 1, self.timeout_s, induction=True,
                                        solver=self.solver_name,
                                        cross_check=self.cross_check, claims=self.claims)
        return self._windows[k]

    def invariants_inductive(self) -> bool:
        """The strengthening invariants hold after a step from any state where they hold
        (so assuming them at the start of an induction window is sound).  Asked once per
        row: the answer depends on the row's primitives, not on the window's length."""
        if self._inductive is None:
            probe = RowModel(self.row, 1, self.timeout_s, induction=True,
                             final_invariants=False, solver=self.solver_name,
                             cross_check=self.cross_check, claims=self.claims)
            broken = probe.v.not_(probe.v.and_(*invariants(probe.v, 1)))
            lit = probe.goal(("invariant-broken",), broken)
            # no literal is fixed: the invariants must survive every subset of primitives
            self._inductive = probe._verdict([lit]) == z3.unsat
        return self._inductive

    def prove(self, atom: Atom, qualifier: str | None, enabled: Iterable[str],
              shrink: bool = True) -> Check:
        """Check one atom; `shrink=False` skips building a presentable counterexample
        (a stage that is only being ruled out needs the verdict, not the trace)."""
        return self.confirm(self.search(atom, qualifier, enabled, shrink), enabled)

    def search(self, atom: Atom, qualifier: str | None, enabled: Iterable[str],
               shrink: bool = True, walk_first: bool = False) -> Check:
        """Look for a violation.  A PROVEN answer here only says that none exists up to
        K: `confirm` must still rule out a vacuous proof before it is reported (a stage
        that another atom rules out never needs that check).

        `walk_first` (with `shrink`, Z3 deciding alone), for an atom the caller expects
        to be refuted: look for its shortest violation first, the way the shrinker walks
        (`_walk`), and search the whole depth only if none is found in fewer than K
        steps.  The answer is the same; what it saves is the full-depth search, whose
        trace the shrinker would only replace (its worth is as a witness for other
        questions, which a caller that asks only this atom does not have)."""
        enabled = tuple(enabled)
        base = self.assumptions(enabled)
        reused = self._known_proof(atom, qualifier, base)
        if reused is not None:
            return Check(atom, AtomStatus.PROVEN, self.K, reused)
        for found in self._traces.get(frozenset(enabled), []):  # found for another question
            where = ATOMS[atom].first_violation(found.trace(), qualifier)
            if where is not None:
                if not shrink:
                    return Check(atom, AtomStatus.REFUTED, self.K)
                return self._counterexample(atom, qualifier, enabled, base, found,
                                            where[0] + 1)
        probes: _Probes = {}
        # (a walk's probe decides the verdict when it is sat: Z3 alone, so a second
        # solver that must decide or confirm verdicts gets the full search instead)
        if walk_first and shrink and self.solver_name == "z3" and not self.cross_check:
            walked = self._walk(atom, qualifier, enabled, base, probes)
            if walked is not None:
                return walked
        goal = self.violation_goal(atom, qualifier)
        answer = self._verdict(base + [goal])
        if answer == z3.unknown:
            return Check(atom, AtomStatus.UNKNOWN, self.K,
                         reason=f"solver unknown: {self.solver.reason_unknown()}")
        if answer == z3.unsat:
            full = self.solver.unsat_core()
            core = tuple(sorted(str(lit) for lit in full if str(lit) in self.lits))
            used = frozenset(str(lit) for lit in full if not lit.eq(goal))
            self._proofs.setdefault((atom, qualifier), []).append((used, core))
            return Check(atom, AtomStatus.PROVEN, self.K, core)
        model = self.solver.model()
        first = self._witness(enabled, model)
        if not shrink:
            return Check(atom, AtomStatus.REFUTED, self.K)
        # the first step whose violation name the model makes true: a violation is
        # known within it (the shrinker's upper end; no need to read the whole trace)
        named = self._violation_terms(atom, qualifier)
        upper = next((t + 1 for t, term in enumerate(named)
                      if z3.is_true(model.eval(term, model_completion=True))), self.K)
        return self._counterexample(atom, qualifier, enabled, base, first, upper, probes)

    def _walk(self, atom: Atom, qualifier: str | None, enabled: tuple[str, ...],
              base: list[z3.BoolRef], probes: _Probes) -> Check | None:
        """`search` with `walk_first`: the shrinker's probes (a violation within d steps,
        idle after them) for d = 1..K-1, shallowest first, before the full-depth search.
        The first satisfiable one is shrunk from there.  None if none is (or one is
        unknown): then `search` goes on as usual, and the shrinker does not ask these
        probes again (`probes`).  (Why every depth and not a few: the solver work of
        each choice is measured in docs/BENCHMARKS.md, session 9.)"""
        for depth in range(1, self.K):  # (a violation within K steps: the full search)
            answer, model = self._probe(atom, qualifier, base, depth, True, probes)
            if answer == z3.sat:
                assert model is not None
                first = self._witness(enabled, model)
                return self._counterexample(atom, qualifier, enabled, base, first, depth,
                                            probes)
            if answer != z3.unsat:
                return None
        return None

    def _probe(self, atom: Atom, qualifier: str | None, base: list[z3.BoolRef], depth: int,
               quiet: bool, probes: _Probes) -> tuple[z3.CheckSatResult, z3.ModelRef | None]:
        """Is the atom violated within `depth` steps (`quiet`: with every move idle after
        them)?  The answer, and a model when it is sat; each asked once per `probes`."""
        known = probes.get((depth, quiet))
        if known is None:
            goals = [self.violation_goal(atom, qualifier, depth)]
            if quiet:
                goals.append(self.idle_goal(depth))
            answer = self._check(base + goals)
            known = probes[(depth, quiet)] = (
                answer, self.solver.model() if answer == z3.sat else None)
        return known

    def _known_proof(self, atom: Atom, qualifier: str | None,
                     base: list[z3.BoolRef]) -> tuple[str, ...] | None:
        """The core of an earlier proof of this atom whose every assumption (literals on
        and off) is also assumed now: the same unsat core refutes the violation again,
        so a later stage that only switched on primitives the proof did not mention
        needs no new solver call.  Returns that proof's reported core."""
        assumed = {str(lit) for lit in base}
        for used, core in self._proofs.get((atom, qualifier), ()):
            if used <= assumed:
                return core
        return None

    def confirm(self, check: Check, enabled: Iterable[str]) -> Check:
        """Turn a PROVEN search answer into PROVEN, VACUOUS or UNKNOWN: the atom's
        trigger must be reachable under the same literals.  A trace already found under
        them (a counterexample of another atom, another trigger's witness) settles it
        without a solver call when the trigger holds in it."""
        if check.status is not AtomStatus.PROVEN:
            return check
        atom = check.atom
        enabled = tuple(enabled)
        if any(ATOMS[atom].triggered(trace) for trace in self._witnesses(enabled)):
            return check
        trigger = self.goal(("trigger", atom.value), self._trigger(atom))
        reach = self._verdict(self.assumptions(enabled) + [trigger])
        if reach == z3.unknown:
            return Check(atom, AtomStatus.UNKNOWN, self.K,
                         reason=f"vacuity check unknown: {self.solver.reason_unknown()}")
        if reach == z3.unsat:
            return Check(atom, AtomStatus.VACUOUS, self.K, check.core,
                         reason=f"vacuous: no trace up to k={self.K} in which "
                                f"{ATOMS[atom].trigger_words}")
        self._witness(enabled, self.solver.model())
        return check

    def _witness(self, enabled: tuple[str, ...], found: z3.ModelRef | ConcreteView) -> _Found:
        """Keep a trace the solver found under these literals (read back when needed)."""
        kept = _Found(self.v, found)
        self._traces.setdefault(frozenset(enabled), []).append(kept)
        return kept

    def _witnesses(self, enabled: tuple[str, ...]) -> Iterator[ConcreteView]:
        """Every trace found so far under exactly these literals, as concrete traces
        (each read back only when the caller gets to it)."""
        return (found.trace() for found in self._traces.get(frozenset(enabled), []))

    def _counterexample(self, atom: Atom, qualifier: str | None, enabled: tuple[str, ...],
                        base: list[z3.BoolRef], first: _Found, upper: int,
                        probes: _Probes | None = None) -> Check:
        """Shrink a refutation (`first` violates the atom within `upper` steps): fewest
        steps, scenario numbers, then smallest numbers (`probes`: the fewest-steps probes
        already asked, if any)."""
        depth, quiet, known = self._fewest_steps(atom, qualifier, base, upper,
                                                 {} if probes is None else probes)
        assumed = base + [self.violation_goal(atom, qualifier, depth)]
        if quiet:
            assumed.append(self.idle_goal(depth))
        # exactly the scenario (its claims, nothing else) or small numbers: a half-met
        # scenario would put its name on numbers it does not have
        scenario_used = False
        scenario = self.row.scenario
        if scenario is not None:
            with_scenario = assumed + [self.scenario_goal(scenario, True)]
            if self._check(with_scenario) == z3.sat:
                assumed, scenario_used = with_scenario, True
                known = self.solver.model()
        if not scenario_used:
            assumed, known = self._shrink_numbers(assumed, known)
        if known is None and self._check(assumed) == z3.sat:
            known = self.solver.model()
        if known is None:
            trace = first.trace()  # only a timeout can get here: keep the first model
        else:
            trace = concretize(self.v, known)
            self._witness(enabled, trace)
        where = ATOMS[atom].first_violation(trace, qualifier)
        step, claim = where if where else (None, None)
        return Check(atom, AtomStatus.REFUTED, self.K, trace=trace, violation_step=step,
                     violation_claim=claim, scenario_used=scenario_used)

    def idle_goal(self, depth: int) -> z3.BoolRef:
        """Every move from step `depth` on is IDLE (the part after a violation that a
        counterexample never shows)."""
        v = self.v
        rest = v.and_(*(v.move(t, Move.IDLE) for t in range(depth, self.K)))
        return self.goal(("idle", str(depth)), rest)

    def _fewest_steps(self, atom: Atom, qualifier: str | None, base: list[z3.BoolRef],
                      upper: int, probes: _Probes) -> tuple[int, bool, z3.ModelRef | None]:
        """The fewest steps d within which the atom is violated (one is known within
        `upper`), whether the trace can idle after them, and a model of that question
        when one of the probes found it (else None).

        "A violation within d steps" is monotone in d.  Most counterexamples are a few
        steps deep and a probe that finds nothing within a few steps is cheap, so walk
        up the first WALK depths, then bisect.  Each probe also asks the trace to idle
        after step d: that leaves the solver nothing to invent after the violation (a
        satisfiable probe costs about half), and idling after d is again monotone in d.
        The tail may only make the answer deeper, never wrong: the depth it gives is
        checked against the untailed question one step shallower, and when that one
        holds (or no trace idles) plain bisection decides."""
        def within(d: int, quiet: bool) -> z3.CheckSatResult:
            return self._probe(atom, qualifier, base, d, quiet, probes)[0]

        hi = _least(1, upper, lambda d: within(d, True) == z3.sat, walk=WALK)
        tailed = hi < upper or within(hi, True) == z3.sat
        if tailed and (hi == 1 or within(hi - 1, False) != z3.sat):
            return hi, True, probes.get((hi, True), (None, None))[1]
        # a violation exists within the new upper end
        depth = _least(1, hi - 1 if tailed else upper, lambda d: within(d, False) == z3.sat)
        return depth, False, probes.get((depth, False), (None, None))[1]

    def _shrink_numbers(self, assumed: list[z3.BoolRef], known: z3.ModelRef | None
                        ) -> tuple[list[z3.BoolRef], z3.ModelRef | None]:
        """Small numbers, cheaply: gallop up a bound on the sum of the trace's numbers
        (usable, demand, ranges, durations, priorities, unclaimed cache) until the
        counterexample fits; the result is within twice the smallest such sum.  `known`
        is a model of `assumed` if one is at hand; returns the assumptions and a model
        of them (None if none was found: only a timeout).  A step the known model
        already satisfies is taken without asking the solver: the answer is sat, and
        the model is one."""
        v = self.v

        def holds(formula: z3.BoolRef) -> bool:
            return known is not None and z3.is_true(known.eval(formula, model_completion=True))

        # preferences first, each kept only if a counterexample still exists with it
        preferences = {
            "one-claim": v.and_(*(v.not_(v.move(t, Move.SUBMIT, 1)) for t in range(self.K))),
            "no-drops": v.and_(*(v.not_(v.ch("drop", t)) for t in range(self.K))),
        }
        for name, formula in preferences.items():
            goal = self.goal(("prefer", name, str(assumed[-1])), formula)
            if holds(formula):
                assumed = assumed + [goal]
            elif self._check(assumed + [goal]) == z3.sat:
                assumed, known = assumed + [goal], self.solver.model()
        cost = v.k("U") + v.k("A") + v.s("cached", 0) + v.sum_(
            v.k("R", c) + v.k("O", c) + v.k("D", c) + v.k("P", c) for c in v.claims)
        limit = 4
        while limit <= 1 << 20:
            goal = self.goal(("cost", str(assumed[-1]), str(limit)), cost <= limit)
            if holds(cost <= limit):
                return assumed + [goal], known
            answer = self._check(assumed + [goal])
            if answer == z3.sat:
                return assumed + [goal], self.solver.model()
            if answer == z3.unknown:
                break
            limit *= 2
        return assumed, known


class _Found:
    """A trace the solver found: its model, read back as a concrete trace on first use
    (most are never asked for)."""

    __slots__ = ("_model", "_trace", "_view")

    def __init__(self, view: SymbolicView, found: z3.ModelRef | ConcreteView) -> None:
        self._view = view
        self._model: z3.ModelRef | None = None
        self._trace: ConcreteView | None = None
        if isinstance(found, ConcreteView):
            self._trace = found
        else:
            self._model = found

    def trace(self) -> ConcreteView:
        if self._trace is None:
            assert self._model is not None
            self._trace, self._model = concretize(self._view, self._model), None
        return self._trace


def _least(lo: int, hi: int, holds: Callable[[int], bool], walk: int = 0) -> int:
    """The least d in [lo, hi] at which the monotone `holds` is true, given that it is
    true at hi: walk up through the depths up to `walk`, then bisect."""
    while lo < hi and lo <= walk:
        if holds(lo):
            return lo
        lo += 1
    while lo < hi:
        mid = (lo + hi) // 2
        if holds(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi
