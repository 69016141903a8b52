"""The one-way pipeline: text -> AST -> descriptor -> classified rows.

The CLI and the tests call `prove_file`; reports only read what it returns.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from rkvformal.semantics.bundles import load_stdlib
from rkvformal.semantics.domain import Descriptor, Row
from rkvformal.semantics.validate import validate
from rkvformal.smt.counterexample import Counterexample, extract
from rkvformal.smt.lowering import RowResult, classify, stages
from rkvformal.smt.prover import DEFAULT_BOUND
from rkvformal.syntax.parser import parse_file
from rkvformal.vocab import AtomStatus, EvidenceClass

MAX_BOUND = 64
DEFAULT_INDUCTION = 2  # largest k tried by k-induction on proven atoms


@dataclass(frozen=True)
class ProvedRow:
    result: RowResult
    counterexamples: dict[str, Counterexample]  # atom -> its counterexample


@dataclass(frozen=True)
class ProvedFile:
    descriptor: Descriptor
    rows: tuple[ProvedRow, ...]


def load(path: str) -> Descriptor:
    """Parse and validate one descriptor (raises RkvError with a location)."""
    return validate(parse_file(path))


@dataclass(frozen=True)
class Options:
    """How to prove: the knobs of `rkvformal prove`, passed to every worker."""

    bound: int = DEFAULT_BOUND
    timeout_s: float | None = None
    induction: int = DEFAULT_INDUCTION
    solver: str = "z3"
    cross_check: bool = False
    # the bad-lowering suite's way: the atoms a row states must break (`because`) decide
    # it: they are searched first at the last stage (shortest-first, as they are
    # expected to break), and if all are refuted the others are not searched; only their
    # refutations become counterexamples (the suite replays those); any other refutation
    # is a verdict without a trace
    by_stated_atoms: bool = False


def prove_row(row: Row, options: Options = Options()) -> ProvedRow:
    """Classify one row and read every refutation back as a counterexample (with
    `by_stated_atoms`, every refutation of an atom the row names in `because`)."""
    bundle = load_stdlib()[row.mode]
    wanted = frozenset(row.because) if options.by_stated_atoms else None
    result = classify(row, bundle, options.bound, options.timeout_s, options.induction,
                      options.solver, options.cross_check, counterexamples=wanted,
                      decide_by=wanted or frozenset())
    cexs = {
        check.atom.value: extract(row, check, bundle.qualifier(check.atom))
        for check in result.checks
        if check.status is AtomStatus.REFUTED and check.trace is not None
    }
    return ProvedRow(result, cexs)


def _prove_task(task: tuple[Row, Options]) -> ProvedRow:
    return prove_row(*task)


def _estimated_cost(row: Row) -> int:
    """A row's proof time, roughly: every atom of its bundle is asked about at each
    stage, against a model that grows with its primitives and assumptions (on the
    shipped rows this orders the longest first; docs/BENCHMARKS.md)."""
    return len(load_stdlib()[row.mode].entries) * (
        len(row.primitives) + len(row.assumptions) + len(stages(row)))


def prove_descriptors(descriptors: list[Descriptor], bound: int = DEFAULT_BOUND,
                      timeout_s: float | None = None, only: str | None = None,
                      jobs: int = 1, induction: int = DEFAULT_INDUCTION,
                      solver: str = "z3", cross_check: bool = False,
                      by_stated_atoms: bool = False) -> list[ProvedFile]:
    """Prove every selected row, `jobs` rows at a time; results keep file/row order."""
    options = Options(bound, timeout_s, induction, solver, cross_check, by_stated_atoms)
    tasks = [(row, options) for d in descriptors for row in d.rows
             if only is None or row.name == only]
    if jobs > 1 and len(tasks) > 1:
        context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        # longest rows first, so that no long row starts last and runs alone (results
        # are put back in file/row order, so output does not depend on the schedule)
        order = sorted(range(len(tasks)), key=lambda i: -_estimated_cost(tasks[i][0]))
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context) as pool:
            futures = {i: pool.submit(_prove_task, tasks[i]) for i in order}
            proved = [futures[i].result() for i in range(len(tasks))]
    else:
        proved = [_prove_task(task) for task in tasks]
    by_row = iter(proved)
    return [
        ProvedFile(d, tuple(next(by_row) for row in d.rows if only is None or row.name == only))
        for d in descriptors
    ]


def prove_descriptor(descriptor: Descriptor, bound: int = DEFAULT_BOUND,
                     timeout_s: float | None = None, only: str | None = None,
                     jobs: int = 1) -> ProvedFile:
    return prove_descriptors([descriptor], bound, timeout_s, only, jobs)[0]


def prove_file(path: str, bound: int = DEFAULT_BOUND, timeout_s: float | None = None,
               only: str | None = None, jobs: int = 1) -> ProvedFile:
    return prove_descriptor(load(path), bound, timeout_s, only, jobs)


def default_jobs() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def exit_code(files: list[ProvedFile]) -> int:
    """0 as expected; 1 a row contradicts its expectation; 3 a row is undecided."""
    rows = [r.result for f in files for r in f.rows]
    undecided = [r for r in rows if r.undecided]
    contradicted = [r for r in rows if r.matches_expectation is False and not r.undecided]
    if contradicted:
        return 1
    if undecided:
        return 3
    return 0


def is_conformance(cls: EvidenceClass) -> bool:
    return cls in (EvidenceClass.NATIVE_CONFORMANCE, EvidenceClass.ADAPTER_OBSERVATIONAL,
                   EvidenceClass.ADAPTER_POLICY)
