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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import z3

from rkvformal.semantics.domain import Row, Scenario
from rkvformal.smt.encoding import base_constraints, event_definitions, invariants
from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.primitives import assume_label, encode_row, prim_label
from rkvformal.smt.second_solver import SolverDisagreement, cvc5_check
from rkvformal.smt.trace import ConcreteView, Move, SymbolicView, concretize
from rkvformal.vocab import Atom, AtomStatus

DEFAULT_BOUND = 12


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
                 solver: str = "z3", cross_check: bool = False, claims: int = 2):
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
        self.enc = encode_row(self.v, row.primitives, row.assumptions, self.lits)
        self.solver = z3.Solver(ctx=self.ctx)
        if timeout_s is not None:
            self.solver.set("timeout", max(1, int(timeout_s * 1000)))
        self.solver.set("core.minimize", False)
        # measured on the shipped models (docs/BENCHMARKS.md): the legacy simplex and no
        # relevancy filtering are ~30% faster on these small bounded-arithmetic problems
        self.solver.set("arith.solver", 2)
        self.solver.set("relevancy", 0)
        self.solver.add(*base_constraints(self.enc, initial=not induction,
                                          final_invariants=final_invariants))
        self.solver.add(*event_definitions(self.enc))
        for label, formula in self.enc.constraints:
            self.solver.add(z3.Implies(self.lits[label], formula))
        self._flushed = (0, 0)  # history constraints already asserted (init, steps)
        self._windows: dict[int, RowModel] = {}
        self._goals: dict[tuple[str, ...], z3.BoolRef] = {}
        self._terms: dict[tuple[Atom, str | None], list[z3.BoolRef]] = {}

    # --- literals and goals ------------------------------------------------------
    def assumptions(self, enabled: Iterable[str]) -> list[z3.BoolRef]:
        on = set(enabled)
        return [lit if label in on else z3.Not(lit) for label, lit in self.lits.items()]

    def goal(self, key: tuple[str, ...], formula: z3.BoolRef) -> z3.BoolRef:
        """A literal that, when assumed, asserts `formula` (added once per key)."""
        lit = self._goals.get(key)
        if lit is None:
            lit = z3.Bool("goal:" + "/".join(key), self.ctx)
            self.solver.add(z3.Implies(lit, formula))
            self._goals[key] = lit
        return lit

    def _violation_terms(self, atom: Atom, q: str | None) -> list[z3.BoolRef]:
        """Per step t: some claim breaks the atom at t (built once per atom)."""
        key = (atom, q)
        terms = self._terms.get(key)
        if terms is None:
            d = ATOMS[atom]
            terms = [self.v.or_(*(d.violation(self.v, c, t, q) for c in self.v.claims))
                     for t in range(self.K)]
            self._terms[key] = terms
        return terms

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
        """Assert the history chains that goals built since the last check."""
        done_init, done_steps = self._flushed
        init, steps = self.v.history_init, self.v.history_steps
        if not self.induction:
            self.solver.add(*init[done_init:])
        self.solver.add(*steps[done_steps:])
        self._flushed = (len(init), len(steps))

    # --- unbounded proofs -------------------------------------------------------------
    def induct(self, atom: Atom, qualifier: str | None, enabled: Iterable[str],
               max_depth: int = 2) -> int | None:
        """k-induction for an atom already proven up to K >= k from the initial state:
        the smallest k <= max_depth such that k steps without a violation, from any
        state satisfying the invariants, are never followed by a violation.  None when
        induction fails (the atom stays `bounded`); a counterexample to induction is
        not a bug trace and is never reported as one."""
        for k in range(1, min(max_depth, self.K) + 1):
            window = self._window(k)
            if window is None:
                return None
            terms = window._violation_terms(atom, qualifier)
            clean = window.goal(("clean", atom.value, qualifier or "", str(k)),
                                window.v.not_(window.v.or_(*terms[:k])))
            bad = window.goal(("bad", atom.value, qualifier or "", str(k)), terms[k])
            answer = window._verdict(window.assumptions(enabled) + [clean, bad])
            if answer == z3.unsat:
                return k
        return None

    def _window(self, k: int) -> RowModel | None:
        """The (k+1)-step induction window, if the model's invariants are inductive."""
        if k not in self._windows:
            window = RowModel(self.row, k + 1, self.timeout_s, induction=True,
                              solver=self.solver_name, cross_check=self.cross_check,
                              claims=self.claims)
            self._windows[k] = window
        window = self._windows[k]
        return window if window.invariants_inductive() else None

    def invariants_inductive(self) -> bool:
        """The strengthening invariants hold after a step from any state where they hold
        (so assuming them at the start of an induction window is sound)."""
        cached = getattr(self, "_inductive", None)
        if cached is None:
            probe = RowModel(self.row, 1, self.timeout_s, induction=True,
                             final_invariants=False, solver=self.solver_name,
                             cross_check=self.cross_check, claims=self.claims)
            broken = probe.v.not_(probe.v.and_(*invariants(probe.v, 1)))
            lit = probe.goal(("invariant-broken",), broken)
            # no literal is fixed: the invariants must survive every subset of primitives
            cached = probe._verdict([lit]) == z3.unsat
            self._inductive = cached
        return cached

    def prove(self, atom: Atom, qualifier: str | None, enabled: Iterable[str],
              shrink: bool = True) -> Check:
        """Check one atom; `shrink=False` skips building a presentable counterexample
        (a stage that is only being ruled out needs the verdict, not the trace)."""
        enabled = tuple(enabled)
        base = self.assumptions(enabled)
        goal = self.violation_goal(atom, qualifier)
        answer = self._verdict(base + [goal])
        if answer == z3.unknown:
            return Check(atom, AtomStatus.UNKNOWN, self.K,
                         reason=f"solver unknown: {self.solver.reason_unknown()}")
        if answer == z3.unsat:
            core = tuple(sorted(str(lit) for lit in self.solver.unsat_core()
                                if str(lit) in self.lits))
            trigger = self.goal(("trigger", atom.value), ATOMS[atom].triggered(self.v))
            reach = self._verdict(base + [trigger])
            if reach == z3.unknown:
                return Check(atom, AtomStatus.UNKNOWN, self.K,
                             reason=f"vacuity check unknown: {self.solver.reason_unknown()}")
            if reach == z3.unsat:
                return Check(atom, AtomStatus.VACUOUS, self.K, core,
                             reason=f"vacuous: no trace up to k={self.K} in which "
                                    f"{ATOMS[atom].trigger_words}")
            return Check(atom, AtomStatus.PROVEN, self.K, core)
        if not shrink:
            return Check(atom, AtomStatus.REFUTED, self.K)
        return self._counterexample(atom, qualifier, base)

    def _counterexample(self, atom: Atom, qualifier: str | None,
                        base: list[z3.BoolRef]) -> Check:
        """Shrink a refutation: fewest steps, scenario numbers, then smallest numbers."""
        first = concretize(self.v, self.solver.model())
        found = ATOMS[atom].first_violation(first, qualifier)
        # fewest steps: "a violation within d steps" is monotone in d, so bisect
        lo, depth = 1, (found[0] + 1) if found else self.K
        while lo < depth:
            mid = (lo + depth) // 2
            if self._check(base + [self.violation_goal(atom, qualifier, mid)]) == z3.sat:
                depth = mid
            else:
                lo = mid + 1
        assumed = base + [self.violation_goal(atom, qualifier, depth)]
        # exactly the scenario (its claims, nothing else) or small numbers: a half-met
        # scenario would put its name on numbers it does not have
        scenario_used = False
        scenario = self.row.scenario
        if scenario is not None:
            with_scenario = assumed + [self.scenario_goal(scenario, True)]
            if self._check(with_scenario) == z3.sat:
                assumed, scenario_used = with_scenario, True
        if not scenario_used:
            assumed = self._shrink_numbers(assumed)
        answer = self._check(assumed)
        if answer != z3.sat:  # only a timeout can get here: keep the first model
            trace = first
        else:
            trace = concretize(self.v, self.solver.model())
        where = ATOMS[atom].first_violation(trace, qualifier)
        step, claim = where if where else (None, None)
        return Check(atom, AtomStatus.REFUTED, self.K, trace=trace, violation_step=step,
                     violation_claim=claim, scenario_used=scenario_used)

    def _shrink_numbers(self, assumed: list[z3.BoolRef]) -> list[z3.BoolRef]:
        """Small numbers, cheaply: gallop up a bound on the sum of the trace's numbers
        (usable, demand, ranges, durations, priorities, unclaimed cache) until the
        counterexample fits; the result is within twice the smallest such sum."""
        v = self.v
        # preferences first, each kept only if a counterexample still exists with it
        preferences = {
            "one-claim": v.and_(*(v.not_(v.move(t, Move.SUBMIT, 1)) for t in range(self.K))),
            "no-drops": v.and_(*(v.not_(v.ch("drop", t)) for t in range(self.K))),
        }
        for name, formula in preferences.items():
            goal = self.goal(("prefer", name, str(assumed[-1])), formula)
            if self._check(assumed + [goal]) == z3.sat:
                assumed = assumed + [goal]
        cost = v.k("U") + v.k("A") + v.s("cached", 0) + v.sum_(
            v.k("R", c) + v.k("O", c) + v.k("D", c) + v.k("P", c) for c in v.claims)
        limit = 4
        while limit <= 1 << 20:
            goal = self.goal(("cost", str(assumed[-1]), str(limit)), cost <= limit)
            answer = self._check(assumed + [goal])
            if answer == z3.sat:
                return assumed + [goal]
            if answer == z3.unknown:
                break
            limit *= 2
        return assumed
