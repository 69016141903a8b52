"""The one-way pipeline: text -> AST -> descriptor -> classified rows.

The CLI and the tests call `prove_file`; reports only read what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from rkvformal.semantics.bundles import load_stdlib
from rkvformal.semantics.domain import Descriptor
from rkvformal.semantics.validate import validate
from rkvformal.smt.counterexample import Counterexample, extract
from rkvformal.smt.lowering import RowResult, classify
from rkvformal.smt.prover import DEFAULT_BOUND
from rkvformal.syntax.parser import parse_file
from rkvformal.vocab import AtomStatus, EvidenceClass

MAX_BOUND = 64


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


def prove_descriptor(descriptor: Descriptor, bound: int = DEFAULT_BOUND,
                     timeout_s: float | None = None,
                     only: str | None = None) -> ProvedFile:
    bundles = load_stdlib()
    rows = []
    for row in descriptor.rows:
        if only is not None and row.name != only:
            continue
        bundle = bundles[row.mode]
        result = classify(row, bundle, bound, timeout_s)
        cexs = {
            check.atom.value: extract(row, check, bundle.qualifier(check.atom))
            for check in result.checks
            if check.status is AtomStatus.REFUTED
        }
        rows.append(ProvedRow(result, cexs))
    return ProvedFile(descriptor, tuple(rows))


def prove_file(path: str, bound: int = DEFAULT_BOUND, timeout_s: float | None = None,
               only: str | None = None) -> ProvedFile:
    return prove_descriptor(load(path), bound, timeout_s, only)


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
