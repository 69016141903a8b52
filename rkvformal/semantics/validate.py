"""AST to domain model: resolve every name, check every number, report every problem.

Validation never stops at the first problem: it collects all of them (each with the
expected spelling and a "did you mean" where one is close) and raises them together
as `DescriptorErrors`, so an author fixes a file in one pass.  It only checks what the
text says; it never invents facts (an unanchored primitive stays unanchored and is
classified unknown_evidence later, not here).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import TypeVar
from urllib.parse import urlsplit

from rkvformal.errors import ErrorCollector, did_you_mean, one_of, quoted
from rkvformal.semantics.bundles import STDLIB_PATH, load_stdlib
from rkvformal.semantics.catalogue import CATALOGUE, ParamSpec
from rkvformal.semantics.domain import (
    Anchor,
    AnchorKind,
    Bundle,
    ClaimSpec,
    Descriptor,
    ParamScalar,
    Primitive,
    Row,
    Runtime,
    Scenario,
)
from rkvformal.syntax.ast import (
    ActiveDecl,
    AnchorDecl,
    ClaimDecl,
    IntStmt,
    Name,
    Param,
    PrimitiveDecl,
    RowDecl,
    RuntimeDecl,
    ScenarioDecl,
    SourceFile,
    Span,
)
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

E = TypeVar("E", bound=Enum)

RUNTIME_FIELDS = ("backend", "name", "repo", "version")
REQUIRED_RUNTIME_FIELDS = ("name", "repo", "version")
MAX_BLOCKS = 1_000_000
MAX_ANCHOR_LINE = 10_000_000
MAX_CLAIMS = 2
MAX_ACTIVES = 1
PRIORITY_RANGE = (0, 100)
DURATION_RANGE = (1, 64)

_REPO = r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?"
_VERSION = r"[A-Za-z0-9][A-Za-z0-9._+/-]*"
_PATH = r"[^\s:@]+"
REPO_FORM = re.compile(_REPO)
VERSION_FORM = re.compile(_VERSION)
_WHERE = r"(?::(?P<line>[0-9]+)|#(?P<symbol>[A-Za-z_][A-Za-z0-9_.:]*))"
FULL_ANCHOR = re.compile(
    rf"(?P<repo>{_REPO})@(?P<version>{_VERSION}):(?P<path>{_PATH}){_WHERE}"
)
SHORT_ANCHOR = re.compile(rf"(?P<path>{_PATH}){_WHERE}")
_ANCHOR_FORMS = ("REPO@VERSION:PATH:LINE, PATH:LINE, REPO@VERSION:PATH#Symbol, "
                 "PATH#Symbol, or an http(s):// URL")
_ANCHOR_EXAMPLE = (
    "for example NVIDIA/TensorRT-LLM@v1.2.0:cpp/kvCacheManager.cpp:120, or "
    "cpp/kvCacheManager.cpp:120 to take the repository and version from the runtime "
    "header"
)

#: Parameters that must be ordered (lowest first) for the kind to make sense.
ORDERED_PARAMS: Mapping[PrimitiveKind, tuple[str, ...]] = {
    PrimitiveKind.EVICTION_PRIORITY: ("minimum", "default", "maximum"),
}

#: Evidence classes a row kind can never receive (DESIGN §4, step 3).
IMPOSSIBLE_CLASSES: Mapping[RowKind, tuple[EvidenceClass, str]] = {
    RowKind.LOWERING: (
        EvidenceClass.APPROXIMATION_SUBSTRATE,
        "a lowering row that fails is rejected_mapping",
    ),
    RowKind.SUBSTRATE: (
        EvidenceClass.REJECTED_MAPPING,
        "a substrate row that fails is approximation_substrate",
    ),
}


def validate(
    source: SourceFile, bundles: Mapping[Mode, Bundle] | None = None
) -> Descriptor:
    """Check a parsed descriptor and build its domain model; raises DescriptorErrors.

    `bundles` (default: the standard library) is used to check that the atoms a row
    names in `because` belong to its mode's bundle.
    """
    return _Validator(source, load_stdlib() if bundles is None else bundles).run()


def _spellings(enum: type[Enum]) -> tuple[str, ...]:
    return tuple(str(member.value) for member in enum)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def escapes_tree(path: str) -> bool:
    """True for a path that could leave the repository it is anchored in."""
    if path.startswith(("/", "~", "\\")):
        return True
    return ".." in re.split(r"[/\\]", path)


def _symbol_hint(target: str) -> str | None:
    """For `path#Symbol`: a source anchor pins a line; the symbol goes in `symbol`."""
    where, sep, symbol = target.rpartition("#")
    if not sep or not where or not symbol:
        return None
    where, symbol = (quoted(part)[1:-1] for part in (where, symbol))  # escaped, unquoted
    return (f'pin a line and name the symbol separately: anchor "{where}:LINE" '
            f'symbol "{symbol}"')


class _Validator:
    """One validation pass over one file; every check appends to `report`."""

    def __init__(self, source: SourceFile, bundles: Mapping[Mode, Bundle]) -> None:
        self.source = source
        self.bundles = bundles
        self.report = ErrorCollector(source.path, source.text)
        self.repo: str | None = None
        self.version: str | None = None

    def error(
        self,
        span: Span,
        message: str,
        expected: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.report.add(span.line, span.column, message, expected, hint)

    def member(self, name: Name, enum: type[E], what: str) -> E | None:
        """Look a written word up in a closed vocabulary, reporting a miss."""
        try:
            return enum(name.text)
        except ValueError:
            spellings = _spellings(enum)
            self.error(name.span, f"unknown {what} '{name.text}'", one_of(spellings),
                       did_you_mean(name.text, spellings))
            return None

    def ranged(self, stmt: IntStmt, low: int, high: int, what: str) -> int | None:
        if low <= stmt.value <= high:
            return stmt.value
        self.error(stmt.span, f"{what} {stmt.value} is out of range",
                   f"a number from {low:,} to {high:,}")
        return None

    def run(self) -> Descriptor:
        runtime = self.runtime(self.source.runtimes)
        self.reject_bundles()
        declared, primitives = self.primitives(self.source.primitives)
        scenario_decls, scenarios = self.scenarios(self.source.scenarios)
        rows = [
            row
            for row in (
                self.row(decl, declared, primitives, scenario_decls, scenarios)
                for decl in self.unique_rows(self.source.rows)
            )
            if row is not None
        ]
        self.report.raise_if_any()
        assert runtime is not None  # a missing runtime is an error, raised above
        return Descriptor(
            path=self.source.path,
            runtime=runtime,
            primitives=tuple(primitives.values()),
            rows=tuple(rows),
            scenarios=tuple(scenarios.values()),
        )

    # ------------------------------------------------------------------ runtime

    def runtime(self, decls: tuple[RuntimeDecl, ...]) -> Runtime | None:
        if not decls:
            self.error(Span(1, 1), "descriptor has no runtime block",
                       'runtime KEY { name "..." repo "owner/name" version "..." }',
                       "every descriptor names the runtime release it describes")
            return None
        for extra in decls[1:]:
            self.error(extra.span, "more than one runtime block",
                       hint=f"a descriptor describes one runtime (the first is on line "
                       f"{decls[0].span.line}); put the other one in its own file")
        decl = decls[0]
        values = self.runtime_fields(decl)
        missing = [key for key in REQUIRED_RUNTIME_FIELDS if key not in values]
        if missing:
            self.error(decl.name.span,
                       f"runtime '{decl.name.text}' has no "
                       + " or ".join(f"'{key}'" for key in missing) + " field",
                       hint="add " + " ".join(f'{key} "..."' for key in missing))
        self.repo = values.get("repo")
        self.version = values.get("version")
        if missing or not all(values.get(key) for key in REQUIRED_RUNTIME_FIELDS):
            return None
        return Runtime(decl.name.text, values["name"], values["repo"], values["version"])

    def runtime_fields(self, decl: RuntimeDecl) -> dict[str, str]:
        values: dict[str, str] = {}
        lines: dict[str, int] = {}
        for field in decl.fields:
            key = field.key.text
            if key not in RUNTIME_FIELDS:
                self.error(field.key.span, f"unknown runtime field '{key}'",
                           one_of(RUNTIME_FIELDS), did_you_mean(key, RUNTIME_FIELDS))
                continue
            if key in values:
                self.error(field.key.span, f"duplicate runtime field '{key}'",
                           hint=f"first given on line {lines[key]}")
                continue
            values[key] = field.value
            lines[key] = field.span.line
            if not field.value.strip():
                self.error(field.span, f"runtime field '{key}' is empty")
            elif key == "repo" and not REPO_FORM.fullmatch(field.value):
                self.error(field.span, f"runtime repo {quoted(field.value)} is malformed",
                           "'owner/name' or 'name'", "for example NVIDIA/TensorRT-LLM")
            elif key == "version" and not VERSION_FORM.fullmatch(field.value):
                self.error(field.span, f"runtime version {quoted(field.value)} is malformed",
                           "a tag or commit without spaces, ':' or '@'")
        return values

    def reject_bundles(self) -> None:
        for decl in self.source.bundles:
            self.error(decl.span,
                       f"bundles are defined by the standard library ({STDLIB_PATH})",
                       hint="a descriptor declares a runtime, primitives, rows and "
                       "scenarios; each mode's bundle is fixed")

    # --------------------------------------------------------------- primitives

    def primitives(
        self, decls: tuple[PrimitiveDecl, ...]
    ) -> tuple[dict[str, PrimitiveDecl], dict[str, Primitive]]:
        """All first declarations by name, and the ones that validated."""
        declared: dict[str, PrimitiveDecl] = {}
        valid: dict[str, Primitive] = {}
        for decl in decls:
            name = decl.name.text
            if name in declared:
                self.error(decl.name.span, f"duplicate primitive '{name}'",
                           hint=f"first declared on line {declared[name].span.line}")
                continue
            declared[name] = decl
            primitive = self.primitive(decl)
            if primitive is not None:
                valid[name] = primitive
        return declared, valid

    def primitive(self, decl: PrimitiveDecl) -> Primitive | None:
        name = decl.name.text
        kind = provenance = None
        if decl.kind is None:
            self.error(decl.name.span, f"primitive '{name}' has no kind",
                       one_of(PrimitiveKind.spellings()), "add 'kind KIND'")
        else:
            kind = self.member(decl.kind, PrimitiveKind, "primitive kind")
        if decl.provenance is None:
            self.error(decl.name.span, f"primitive '{name}' has no provenance",
                       one_of(Provenance.spellings()), "add 'provenance PROVENANCE'")
        else:
            provenance = self.member(decl.provenance, Provenance, "provenance")
        params = self.params(decl, kind) if kind is not None else None
        anchors = [self.anchor(anchor) for anchor in decl.anchors]
        if kind is None or provenance is None or params is None or None in anchors:
            return None
        return Primitive(
            name=name,
            kind=kind,
            provenance=provenance,
            params=params,
            anchors=tuple(anchor for anchor in anchors if anchor is not None),
            line=decl.span.line,
        )

    def params(
        self, decl: PrimitiveDecl, kind: PrimitiveKind
    ) -> tuple[tuple[str, ParamScalar], ...] | None:
        """Every parameter of the kind, given or defaulted, sorted by name."""
        spec = CATALOGUE[kind]
        names = sorted(param.name for param in spec.params)
        given: dict[str, ParamScalar] = {}
        seen: dict[str, Param] = {}
        ok = True
        for param in decl.params:
            key = param.key.text
            param_spec = spec.param(key)
            if param_spec is None:
                self.error(param.key.span, f"primitive kind '{kind}' has no parameter "
                           f"'{key}'", one_of(names) if names else
                           f"no parameters (kind '{kind}' takes none)",
                           did_you_mean(key, names))
                ok = False
                continue
            if key in seen:
                self.error(param.key.span, f"duplicate parameter '{key}'",
                           hint=f"first given on line {seen[key].span.line}")
                ok = False
                continue
            seen[key] = param
            value = self.param_value(param, param_spec)
            if value is None:
                ok = False
            else:
                given[key] = value
        if not ok:
            return None
        values = {p.name: given.get(p.name, p.default) for p in spec.params}
        if not self.ordered(decl, kind, values):
            return None
        return tuple(sorted(values.items()))

    def param_value(self, param: Param, spec: ParamSpec) -> ParamScalar | None:
        """A written value checked against its spec: closed names, bounded ints."""
        key, value = param.key.text, param.value
        if spec.choices:
            if not value.is_name:
                written = "a number" if isinstance(value.value, int) else "a quoted string"
                bare = isinstance(value.value, str) and value.value in spec.choices
                self.error(value.span, f"parameter '{key}' takes a bare name, not "
                           f"{written}", one_of(spec.choices),
                           f"write it without quotes: {key} = {value.value}" if bare
                           else None)
                return None
            if value.value not in spec.choices:
                self.error(value.span, f"'{value.value}' is not a value of parameter "
                           f"'{key}'", one_of(spec.choices),
                           did_you_mean(str(value.value), spec.choices))
                return None
            return value.value == "true" if spec.is_bool else str(value.value)
        if spec.is_int:
            low = spec.minimum if spec.minimum is not None else -(10**9)
            high = spec.maximum if spec.maximum is not None else 10**9
            if not isinstance(value.value, int):
                quoted = not value.is_name and str(value.value).strip().isdigit()
                self.error(value.span, f"parameter '{key}' takes a number",
                           f"a number from {low:,} to {high:,}",
                           "write numbers without quotes" if quoted else None)
                return None
            if not low <= value.value <= high:
                self.error(value.span, f"parameter '{key}' is {value.value}, out of "
                           "range", f"a number from {low:,} to {high:,}")
                return None
            return value.value
        if value.is_name or not isinstance(value.value, str):
            self.error(value.span, f"parameter '{key}' takes a quoted string",
                       hint=f'write {key} = "..."')
            return None
        return value.value

    def ordered(
        self, decl: PrimitiveDecl, kind: PrimitiveKind, values: Mapping[str, ParamScalar]
    ) -> bool:
        keys = ORDERED_PARAMS.get(kind, ())
        numbers = [int(values[key]) for key in keys]
        if all(low <= high for low, high in itertools.pairwise(numbers)):
            return True
        written = ", ".join(f"{key} = {values[key]}" for key in keys)
        self.error(decl.name.span, f"parameters of '{decl.name.text}' are out of order "
                   f"({written})", " <= ".join(keys))
        return False

    # ------------------------------------------------------------------ anchors

    def anchor(self, decl: AnchorDecl) -> Anchor | None:
        """A doc URL, or a pinned source line inside the runtime's repository."""
        target = decl.target
        if decl.symbol is not None and not decl.symbol.strip():
            self.error(decl.span, "anchor symbol is empty",
                       hint="omit 'symbol' or give the text expected on that line")
            return None
        if target.startswith(("http://", "https://")):
            return self.doc_anchor(decl)
        match = FULL_ANCHOR.fullmatch(target) or SHORT_ANCHOR.fullmatch(target)
        if match is None:
            self.error(decl.span, f"malformed anchor {quoted(target)}", _ANCHOR_FORMS,
                       _symbol_hint(target) or _ANCHOR_EXAMPLE)
            return None
        path = match.group("path")
        if escapes_tree(path):
            self.error(decl.span, "anchor path escapes the source tree",
                       "a path relative to the repository root",
                       "remove the leading '/' or '~' and any '..' segment")
            return None
        groups = match.groupdict()
        line: int | None = None
        if groups.get("symbol"):
            # a symbol anchor: the symbol is the check, the line is to be resolved
            if decl.symbol is not None and decl.symbol != groups["symbol"]:
                self.error(decl.span, "anchor names two different symbols",
                           hint="keep either PATH#Symbol or symbol \"...\", not both")
                return None
        else:
            digits = match.group("line").lstrip("0")
            if not digits or len(digits) > 8 or int(digits) > MAX_ANCHOR_LINE:
                self.error(decl.span, f"anchor line {match.group('line')} is out of range",
                           f"a line number from 1 to {MAX_ANCHOR_LINE:,}")
                return None
            line = int(digits)
        return Anchor(
            kind=AnchorKind.SOURCE,
            text=target,
            repo=groups.get("repo") or self.repo,
            version=groups.get("version") or self.version,
            path=path,
            line=line,
            url=None,
            symbol=decl.symbol or groups.get("symbol"),
            line_in_descriptor=decl.span.line,
        )

    def doc_anchor(self, decl: AnchorDecl) -> Anchor | None:
        target = decl.target
        if not urlsplit(target).netloc or any(char.isspace() for char in target):
            self.error(decl.span, f"malformed documentation URL {quoted(target)}",
                       "a URL such as https://docs.vllm.ai/en/latest/page.html#section")
            return None
        return Anchor(
            kind=AnchorKind.DOC,
            text=target,
            repo=None,
            version=None,
            path=None,
            line=None,
            url=target,
            symbol=decl.symbol,
            line_in_descriptor=decl.span.line,
        )

    # ---------------------------------------------------------------- scenarios

    def scenarios(
        self, decls: tuple[ScenarioDecl, ...]
    ) -> tuple[dict[str, ScenarioDecl], dict[str, Scenario]]:
        declared: dict[str, ScenarioDecl] = {}
        valid: dict[str, Scenario] = {}
        for decl in decls:
            name = decl.name.text
            if name in declared:
                self.error(decl.name.span, f"duplicate scenario '{name}'",
                           hint=f"first declared on line {declared[name].span.line}")
                continue
            declared[name] = decl
            scenario = self.scenario(decl)
            if scenario is not None:
                valid[name] = scenario
        return declared, valid

    def once(self, stmts: Iterable[IntStmt], where: str) -> dict[str, IntStmt]:
        """Statements by keyword, reporting repeats (each may appear once)."""
        found: dict[str, IntStmt] = {}
        for stmt in stmts:
            if stmt.keyword in found:
                self.error(stmt.span, f"duplicate '{stmt.keyword}' in {where}",
                           hint=f"first given on line {found[stmt.keyword].span.line}")
            else:
                found[stmt.keyword] = stmt
        return found

    def scenario(self, decl: ScenarioDecl) -> Scenario | None:
        name = decl.name.text
        ok = self.unique_members(decl)
        usable = None
        if decl.usable:
            first = self.once(decl.usable, f"scenario '{name}'")["usable"]
            ok = len(decl.usable) == 1 and ok
            usable = self.ranged(first, 1, MAX_BLOCKS, "usable")
            ok = usable is not None and ok
        if len(decl.claims) > MAX_CLAIMS:
            self.error(decl.claims[MAX_CLAIMS].span,
                       f"scenario '{name}' has {len(decl.claims)} claims; the model has "
                       f"{MAX_CLAIMS} claim slots", f"at most {MAX_CLAIMS} claims",
                       "split it into several scenarios")
            ok = False
        claims = [self.claim(claim, name) for claim in decl.claims]
        demand = None
        if len(decl.actives) > MAX_ACTIVES:
            self.error(decl.actives[MAX_ACTIVES].span,
                       f"scenario '{name}' has {len(decl.actives)} active requests; "
                       f"the model has {_plural(MAX_ACTIVES, 'active slot')}",
                       f"at most {_plural(MAX_ACTIVES, 'active request')}")
            ok = False
        if decl.actives:
            demand = self.active_demand(decl)
            ok = demand is not None and ok
        if not ok or None in claims:
            return None
        specs = tuple(claim for claim in claims if claim is not None)
        total = sum(claim.footprint for claim in specs)
        if usable is not None and total > usable:
            self.error(decl.usable[0].span,
                       f"claims do not fit in usable blocks: footprints sum to {total:,} "
                       f"but usable is {usable:,}",
                       f"usable >= {total:,}", "raise 'usable' or shrink the footprints")
            return None
        return Scenario(name, usable, specs, demand, decl.span.line)

    def unique_members(self, decl: ScenarioDecl) -> bool:
        """Claim and active names inside one scenario are distinct (traces name them)."""
        seen: dict[str, Span] = {}
        ok = True
        members: tuple[ClaimDecl | ActiveDecl, ...] = (*decl.claims, *decl.actives)
        for member in members:
            if member.name.text in seen:
                self.error(member.name.span, f"duplicate name '{member.name.text}' in "
                           f"scenario '{decl.name.text}'",
                           hint=f"first used on line {seen[member.name.text].line}")
                ok = False
            else:
                seen[member.name.text] = member.span
        return ok

    def active_demand(self, decl: ScenarioDecl) -> int | None:
        active = decl.actives[0]
        found = self.once(active.numbers, f"active request '{active.name.text}'")
        if "demand" not in found:
            self.error(active.name.span, f"active request '{active.name.text}' has no "
                       "demand", f"demand N (1 to {MAX_BLOCKS:,})")
            return None
        demand = self.ranged(found["demand"], 1, MAX_BLOCKS, "demand")
        return demand if len(active.numbers) == len(found) else None

    def claim(self, decl: ClaimDecl, scenario: str) -> ClaimSpec | None:
        name = decl.name.text
        found = self.once(decl.numbers, f"claim '{name}'")
        ok = len(found) == len(decl.numbers)
        footprint = None
        if "footprint" not in found:
            self.error(decl.name.span, f"claim '{name}' has no footprint",
                       f"footprint N (1 to {MAX_BLOCKS:,})")
            ok = False
        else:
            footprint = self.ranged(found["footprint"], 1, MAX_BLOCKS, "footprint")
        priority = duration = None
        if "priority" in found:
            priority = self.ranged(found["priority"], *PRIORITY_RANGE, "priority")
            ok = priority is not None and ok
        if "duration" in found:
            duration = self.ranged(found["duration"], *DURATION_RANGE, "duration")
            ok = duration is not None and ok
        predicate = self.predicate(decl, footprint)
        if not ok or footprint is None or predicate is None:
            return None
        kind, start, required = predicate
        return ClaimSpec(name, footprint, kind, required, start, priority, duration)

    def predicate(
        self, decl: ClaimDecl, footprint: int | None
    ) -> tuple[PredicateKind, int, int] | None:
        """(kind, start, required) of a claim's predicate, range checked."""
        pred = decl.predicate
        if pred is None:
            self.error(decl.name.span, f"claim '{decl.name.text}' has no predicate",
                       "leading_prefix_at_least(n) or contiguous_range(s, n)")
            return None
        kind = self.member(pred.kind, PredicateKind, "predicate")
        if kind is None:
            return None
        if kind is PredicateKind.LEADING_PREFIX_AT_LEAST:
            if len(pred.args) != 1:
                self.error(pred.span, f"{kind} takes 1 argument, got {len(pred.args)}",
                           f"{kind}(n)")
                return None
            start, required = 0, pred.args[0]
        else:
            if len(pred.args) != 2:
                self.error(pred.span, f"{kind} takes 2 arguments, got {len(pred.args)}",
                           f"{kind}(s, n)")
                return None
            start, required = pred.args
            if start < 0:
                self.error(pred.span, f"{kind} start {start} is negative",
                           "s >= 0 (positions count from 0)")
                return None
        if required < 1:
            self.error(pred.span, f"predicate requires {required} blocks",
                       "n >= 1", "a predicate names at least one block position")
            return None
        if footprint is not None and start + required > footprint:
            claim = f"claim '{decl.name.text}'"
            if kind is PredicateKind.LEADING_PREFIX_AT_LEAST:
                message = (f"predicate needs {required} leading blocks but {claim} has "
                           f"footprint {footprint}")
                rule = f"n <= footprint ({footprint})"
            else:
                last = start + required - 1
                message = (f"predicate range {start}..{last} does not fit in {claim} "
                           f"(footprint {footprint})")
                rule = f"s + n <= footprint ({footprint})"
            self.error(pred.span, message, rule,
                       "positions count from 0 to footprint - 1")
            return None
        return kind, start, required

    # --------------------------------------------------------------------- rows

    def unique_rows(self, decls: tuple[RowDecl, ...]) -> list[RowDecl]:
        first: dict[str, RowDecl] = {}
        for decl in decls:
            if decl.name.text in first:
                self.error(decl.name.span, f"duplicate row '{decl.name.text}'",
                           hint=f"first declared on line "
                           f"{first[decl.name.text].span.line}")
            else:
                first[decl.name.text] = decl
        return list(first.values())

    def row(
        self,
        decl: RowDecl,
        declared: Mapping[str, PrimitiveDecl],
        primitives: Mapping[str, Primitive],
        scenario_decls: Mapping[str, ScenarioDecl],
        scenarios: Mapping[str, Scenario],
    ) -> Row | None:
        kind = RowKind(decl.kind.text)
        mode = self.member(decl.mode, Mode, "mode")
        via = self.via(decl, declared)
        assumptions = self.assumptions(decl)
        scenario: Scenario | None = None
        scenario_ok = True
        if decl.scenario is not None:
            scenario_ok = decl.scenario.text in scenario_decls
            if not scenario_ok:
                known = sorted(scenario_decls)
                self.error(decl.scenario.span, f"unknown scenario '{decl.scenario.text}'",
                           one_of(known) if known else "a declared scenario",
                           did_you_mean(decl.scenario.text, known))
            scenario = scenarios.get(decl.scenario.text)
        expected, because = self.expectation(decl, kind, mode)
        if (
            mode is None
            or via is None
            or assumptions is None
            or not scenario_ok
            or because is None
            or (decl.expect is not None and expected is None)
            or any(name not in primitives for name in via)
        ):
            return None
        return Row(
            kind=kind,
            name=decl.name.text,
            mode=mode,
            primitives=tuple(primitives[name] for name in via),
            assumptions=assumptions,
            scenario=scenario,
            expected=expected,
            because=because,
            line=decl.span.line,
            column=decl.span.column,
        )

    def via(
        self, decl: RowDecl, declared: Mapping[str, PrimitiveDecl]
    ) -> list[str] | None:
        names: list[str] = []
        ok = True
        known = sorted(declared)
        for name in decl.via:
            if name.text in names:
                self.error(name.span, f"primitive '{name.text}' is listed twice in row "
                           f"'{decl.name.text}'", hint="list each primitive once")
                ok = False
            elif name.text not in declared:
                self.error(name.span, f"unknown primitive '{name.text}'",
                           one_of(known) if known else "a declared primitive",
                           did_you_mean(name.text, known)
                           or f"declare it with 'primitive {name.text} {{ ... }}'")
                ok = False
            else:
                names.append(name.text)
        return names if ok else None

    def assumptions(self, decl: RowDecl) -> tuple[Assumption, ...] | None:
        found: list[Assumption] = []
        ok = True
        for name in decl.assume:
            assumption = self.member(name, Assumption, "assumption")
            if assumption is None:
                ok = False
            elif assumption in found:
                self.error(name.span, f"assumption '{assumption}' is listed twice",
                           hint="list each assumption once")
                ok = False
            else:
                found.append(assumption)
        return tuple(found) if ok else None

    def expectation(
        self, decl: RowDecl, kind: RowKind, mode: Mode | None
    ) -> tuple[EvidenceClass | None, tuple[Atom, ...] | None]:
        """The expected class and the atoms `because` blames (None: invalid)."""
        if decl.expect is None:
            return None, ()
        expected = self.member(decl.expect.evidence_class, EvidenceClass,
                               "evidence class")
        impossible, why = IMPOSSIBLE_CLASSES[kind]
        if expected is impossible:
            span = decl.expect.evidence_class.span
            self.error(span, f"a {kind} row is never classified {expected}",
                       one_of([c.value for c in EvidenceClass if c is not impossible]),
                       why)
            expected = None
        bundle = self.bundles.get(mode) if mode is not None else None
        atoms: list[Atom] = []
        ok = True
        for name in decl.expect.because:
            atom = self.member(name, Atom, "atom")
            if atom is None:
                ok = False
            elif atom in atoms:
                self.error(name.span, f"atom '{atom}' is listed twice",
                           hint="list each atom once")
                ok = False
            elif bundle is not None and atom not in bundle.atoms:
                self.error(name.span, f"atom '{atom}' is not an obligation of mode "
                           f"'{mode}'", one_of([str(a) for a in bundle.atoms]),
                           "'because' names atoms of the row's mode bundle")
                ok = False
            else:
                atoms.append(atom)
        return expected, (tuple(atoms) if ok else None)
