"""The lowering relation of DESIGN §4: classify a row by proving its mode's bundle with
growing sets of primitives, fail-closed.

Stages: native primitives; + observational adapters; + policy adapters, patches and
the row's `assume` clauses.  The first stage that proves every atom gives the class.
If even the last stage leaves an atom refuted, a `lowering` row is rejected_mapping
and a `substrate` row approximation_substrate.  Unanchored primitives, solver unknowns,
timeouts and vacuous proofs are unknown_evidence: never anything better.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from rkvformal.semantics.domain import Bundle, BundleEntry, Row
from rkvformal.smt.primitives import assume_label, prim_label
from rkvformal.smt.prover import Check, RowModel
from rkvformal.vocab import Atom, AtomStatus, EvidenceClass, Provenance, RowKind


@dataclass(frozen=True)
class Stage:
    name: str
    labels: tuple[str, ...]
    evidence_class: EvidenceClass


@dataclass(frozen=True)
class RowResult:
    row: Row
    evidence_class: EvidenceClass
    stage: str | None  # the stage whose atoms are reported
    checks: tuple[Check, ...]
    needed: tuple[str, ...]  # primitives / assumptions the proofs needed (union of cores)
    reasons: tuple[str, ...]  # why the class is what it is, in words
    seconds: float

    @property
    def matches_expectation(self) -> bool | None:
        if self.row.expected is None:
            return None
        if self.evidence_class is not self.row.expected:
            return False
        refuted = {c.atom for c in self.checks if c.status is AtomStatus.REFUTED}
        return all(atom in refuted for atom in self.row.because)

    @property
    def undecided(self) -> bool:
        """Some atom has no answer (solver unknown or timeout)."""
        return any(c.status is AtomStatus.UNKNOWN for c in self.checks)


def stages(row: Row) -> list[Stage]:
    """The growing primitive sets of DESIGN §4, without repeats."""
    def names(*provenances: Provenance) -> tuple[str, ...]:
        return tuple(prim_label(p.name) for p in row.primitives if p.provenance in provenances)

    native = names(Provenance.NATIVE)
    observational = names(Provenance.NATIVE, Provenance.OBSERVATIONAL)
    full = names(*Provenance) + tuple(assume_label(a.value) for a in row.assumptions)
    candidates = [
        Stage("native", native, EvidenceClass.NATIVE_CONFORMANCE),
        Stage("observational", observational, EvidenceClass.ADAPTER_OBSERVATIONAL),
        Stage("policy", full, EvidenceClass.ADAPTER_POLICY),
    ]
    out: list[Stage] = []
    for stage in candidates:
        if not out or set(stage.labels) != set(out[-1].labels):
            out.append(stage)
    return out


def classify(row: Row, bundle: Bundle, bound: int, timeout_s: float | None = None,
             induction: int = 2, solver: str = "z3", cross_check: bool = False,
             claims: int = 2, counterexamples: frozenset[Atom] | None = None,
             decide_by: frozenset[Atom] = frozenset()) -> RowResult:
    """`induction` is the largest k tried by k-induction on the reported stage's proven
    atoms (0: bounded proofs only); `solver` decides verdicts, `cross_check` makes the
    other solver confirm each one (smt/second_solver.py); `claims` is the number of
    claim slots of the model (2 for descriptors; more for scaling benchmarks);
    `counterexamples` names the atoms whose refutations in the reported stage are
    shrunk into a counterexample (None: all; any other refutation has no trace, and its
    verdict is the same: shrinking only picks which trace to show); `decide_by` names
    atoms searched first at the last stage: if every one is refuted there, the class is
    decided (one refuted atom there rejects the row, whatever the others do), and the
    other atoms are not searched, so the result's checks are those atoms' alone."""
    started = time.perf_counter()
    model = RowModel(row, bound, timeout_s, solver=solver, cross_check=cross_check,
                     claims=claims, atoms=[(e.atom, e.qualifier) for e in bundle.entries])
    unanchored = [p.name for p in row.primitives if not p.anchored]
    last: tuple[Check, ...] = ()
    last_stage: Stage | None = None
    decided: Stage | None = None
    plan = stages(row)
    for index, stage in enumerate(plan):
        final = index == len(plan) - 1
        # only the last stage's refutations are shrunk into counterexamples
        search = partial(_search, model, stage, counterexamples if final else frozenset())
        known: dict[Atom, Check] = {}
        if final and decide_by:
            known = _search_first(bundle, decide_by, partial(search, walk_first=True))
            if known and all(c.status is AtomStatus.REFUTED for c in known.values()):
                last, last_stage = tuple(known.values()), stage
                break
        checks_list: list[Check] = []
        for entry in bundle.entries:
            check = known.get(entry.atom) or search(entry)
            checks_list.append(check)
            if not final and check.status is not AtomStatus.PROVEN:
                break  # this stage is ruled out; the next one decides
        else:  # every atom was searched: rule out vacuous proofs (with the traces found)
            checks_list = [model.confirm(c, stage.labels) for c in checks_list]
        checks = tuple(checks_list)
        if all(c.status is AtomStatus.PROVEN for c in checks) and len(checks) == len(
                bundle.entries):
            decided = stage
            last, last_stage = checks, stage
            break
        last, last_stage = checks, stage
    if induction and last_stage is not None:
        last = tuple(_with_induction(model, bundle, c, last_stage, induction) for c in last)
    needed = tuple(sorted({label for c in last for label in c.core}))
    reasons: list[str] = []
    if decided is not None:
        cls = decided.evidence_class
        if cls is EvidenceClass.ADAPTER_POLICY:
            extras = [label for label in needed if not _is_native_or_observational(row, label)]
            reasons.append("needs " + (", ".join(extras) if extras else "the policy stage"))
    elif any(c.status is AtomStatus.REFUTED for c in last):
        cls = (EvidenceClass.REJECTED_MAPPING if row.kind is RowKind.LOWERING
               else EvidenceClass.APPROXIMATION_SUBSTRATE)
        refuted = [c.atom.value for c in last if c.status is AtomStatus.REFUTED]
        reasons.append("refuted: " + ", ".join(refuted))
    else:
        cls = EvidenceClass.UNKNOWN_EVIDENCE
        reasons.extend(c.reason for c in last if c.status is not AtomStatus.PROVEN)
    if unanchored:
        cls = EvidenceClass.UNKNOWN_EVIDENCE
        reasons.insert(0, "unanchored primitive: " + ", ".join(unanchored))
    return RowResult(row, cls, last_stage.name if last_stage else None, last, needed,
                     tuple(reasons), time.perf_counter() - started)


def _search(model: RowModel, stage: Stage, shrunk: frozenset[Atom] | None,
            entry: BundleEntry, walk_first: bool = False) -> Check:
    """`entry`'s search under the stage's literals; a refutation is shrunk into a
    counterexample if its atom is in `shrunk` (None: every atom); `walk_first`: the
    atom is expected to be refuted (`RowModel.search`)."""
    shrink = shrunk is None or entry.atom in shrunk
    return model.search(entry.atom, entry.qualifier, stage.labels, shrink=shrink,
                        walk_first=walk_first)


def _search_first(bundle: Bundle, atoms: frozenset[Atom],
                  search: Callable[[BundleEntry], Check]) -> dict[Atom, Check]:
    """The searches of `atoms` (those of the bundle, in its order), up to the first that
    is not refuted (they are expected to be refuted: `search` walks first)."""
    found: dict[Atom, Check] = {}
    for entry in bundle.entries:
        if entry.atom in atoms:
            check = found[entry.atom] = search(entry)
            if check.status is not AtomStatus.REFUTED:
                break
    return found


def _with_induction(model: RowModel, bundle: Bundle, check: Check, stage: Stage,
                    max_depth: int) -> Check:
    if check.status is not AtomStatus.PROVEN:
        return check
    k = model.induct(check.atom, bundle.qualifier(check.atom), stage.labels, max_depth)
    return replace(check, induction_depth=k) if k is not None else check


def _is_native_or_observational(row: Row, label: str) -> bool:
    for p in row.primitives:
        if prim_label(p.name) == label:
            return p.provenance in (Provenance.NATIVE, Provenance.OBSERVATIONAL)
    return False
