"""The descriptor AST: what the text says, with where it says it.

Names are kept as the strings the user wrote (checked later against `rkvformal.vocab`),
so the validation pass can point at the exact token and suggest a spelling.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A 1-based source position (line, column) of a token or construct."""

    line: int
    column: int


@dataclass(frozen=True)
class Name:
    text: str
    span: Span


@dataclass(frozen=True)
class Field:
    key: Name
    value: str
    span: Span


@dataclass(frozen=True)
class RuntimeDecl:
    name: Name
    fields: tuple[Field, ...]
    span: Span


@dataclass(frozen=True)
class ParamValue:
    """A parameter value: an int, a string, or a bare name (booleans are names)."""

    value: int | str
    is_name: bool
    span: Span


@dataclass(frozen=True)
class Param:
    key: Name
    value: ParamValue
    span: Span


@dataclass(frozen=True)
class AnchorDecl:
    target: str
    symbol: str | None
    span: Span


@dataclass(frozen=True)
class PrimitiveDecl:
    name: Name
    kind: Name | None
    provenance: Name | None
    params: tuple[Param, ...]
    anchors: tuple[AnchorDecl, ...]
    notes: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Expectation:
    evidence_class: Name
    because: tuple[Name, ...]
    span: Span


@dataclass(frozen=True)
class RowDecl:
    kind: Name  # "lowering" | "substrate"
    name: Name
    mode: Name
    via: tuple[Name, ...]
    assume: tuple[Name, ...]
    scenario: Name | None
    expect: Expectation | None
    span: Span


@dataclass(frozen=True)
class IntStmt:
    """`keyword INT` inside a scenario, claim or active block."""

    keyword: str
    value: int
    span: Span


@dataclass(frozen=True)
class PredicateDecl:
    kind: Name
    args: tuple[int, ...]
    span: Span


@dataclass(frozen=True)
class ClaimDecl:
    name: Name
    numbers: tuple[IntStmt, ...]
    predicate: PredicateDecl | None
    span: Span


@dataclass(frozen=True)
class ActiveDecl:
    name: Name
    numbers: tuple[IntStmt, ...]
    span: Span


@dataclass(frozen=True)
class ScenarioDecl:
    name: Name
    usable: tuple[IntStmt, ...]
    claims: tuple[ClaimDecl, ...]
    actives: tuple[ActiveDecl, ...]
    span: Span


@dataclass(frozen=True)
class BundleAtom:
    name: Name
    qualifier: Name | None
    span: Span


@dataclass(frozen=True)
class BundleDecl:
    name: Name
    includes: tuple[Name, ...]
    atoms: tuple[BundleAtom, ...]
    span: Span


@dataclass(frozen=True)
class SourceFile:
    """One parsed `.rkv` file.  `text` is kept for error carets."""

    path: str
    text: str
    runtimes: tuple[RuntimeDecl, ...]
    primitives: tuple[PrimitiveDecl, ...]
    rows: tuple[RowDecl, ...]
    scenarios: tuple[ScenarioDecl, ...]
    bundles: tuple[BundleDecl, ...]
