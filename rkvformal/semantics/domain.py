"""The validated domain model: what a descriptor means, with every name resolved.

Produced by `rkvformal.semantics.validate` from the AST; consumed by the SMT layer and
the reports.  Everything is frozen and hashable so proofs can be cached per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rkvformal.vocab import (
    Assumption,
    Atom,
    EvidenceClass,
    Mode,
    PredicateKind,
    PrimitiveKind,
    Provenance,
    RowKind,
)

ParamScalar = int | str | bool


class AnchorKind(str, Enum):
    SOURCE = "source"
    DOC = "doc"


@dataclass(frozen=True)
class Anchor:
    """Where a primitive's behaviour can be checked: a pinned source line or a doc URL."""

    kind: AnchorKind
    text: str  # as written
    repo: str | None  # source anchors: repository (from the anchor or the runtime header)
    version: str | None  # commit or tag
    path: str | None
    line: int | None
    url: str | None
    symbol: str | None
    line_in_descriptor: int

    def render(self) -> str:
        if self.kind is AnchorKind.DOC:
            return self.url or self.text
        if self.line is None:
            return f"{self.repo}@{self.version}:{self.path}#{self.symbol}"
        where = f"{self.repo}@{self.version}:{self.path}:{self.line}"
        return f"{where} ({self.symbol})" if self.symbol else where


@dataclass(frozen=True)
class Primitive:
    name: str
    kind: PrimitiveKind
    provenance: Provenance
    params: tuple[tuple[str, ParamScalar], ...]  # sorted by key, defaults filled in
    anchors: tuple[Anchor, ...]
    line: int

    def param(self, key: str) -> ParamScalar:
        for name, value in self.params:
            if name == key:
                return value
        raise KeyError(f"primitive {self.name!r} has no parameter {key!r}")

    @property
    def anchored(self) -> bool:
        return bool(self.anchors)


@dataclass(frozen=True)
class ClaimSpec:
    """A scenario's claim: footprint and the required range its predicate names."""

    name: str
    footprint: int
    predicate: PredicateKind
    required: int  # n in leading_prefix_at_least(n) / contiguous_range(s, n)
    start: int  # 0 for leading prefixes
    priority: int | None
    duration: int | None

    @property
    def predicate_text(self) -> str:
        if self.predicate is PredicateKind.LEADING_PREFIX_AT_LEAST:
            return f"leading_prefix_at_least({self.required})"
        return f"contiguous_range({self.start}, {self.required})"


@dataclass(frozen=True)
class Scenario:
    """Concrete numbers for teaching: counterexamples use them when they admit one."""

    name: str
    usable: int | None
    claims: tuple[ClaimSpec, ...]
    active_demand: int | None
    line: int


@dataclass(frozen=True)
class BundleEntry:
    atom: Atom
    qualifier: str | None  # e.g. release_before_loss(demotion)


@dataclass(frozen=True)
class Bundle:
    mode: Mode
    entries: tuple[BundleEntry, ...]

    @property
    def atoms(self) -> tuple[Atom, ...]:
        return tuple(entry.atom for entry in self.entries)

    def qualifier(self, atom: Atom) -> str | None:
        for entry in self.entries:
            if entry.atom is atom:
                return entry.qualifier
        return None


@dataclass(frozen=True)
class Row:
    kind: RowKind
    name: str
    mode: Mode
    primitives: tuple[Primitive, ...]
    assumptions: tuple[Assumption, ...]
    scenario: Scenario | None
    expected: EvidenceClass | None
    because: tuple[Atom, ...]
    line: int
    column: int


@dataclass(frozen=True)
class Runtime:
    key: str
    name: str
    repo: str
    version: str


@dataclass(frozen=True)
class Descriptor:
    path: str
    runtime: Runtime
    primitives: tuple[Primitive, ...]
    rows: tuple[Row, ...]
    scenarios: tuple[Scenario, ...]
