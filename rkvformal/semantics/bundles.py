"""The obligation bundles O[m], read from the standard library written in rkv itself.

Bundles are data (`stdlib.rkv`), atoms are code: this module parses the library,
checks it against the closed vocabularies and flattens `includes`, so the rest of the
checker sees one ordered, duplicate-free tuple of atoms per mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rkvformal.errors import ErrorCollector, did_you_mean, one_of
from rkvformal.semantics.domain import Bundle, BundleEntry
from rkvformal.syntax.ast import BundleAtom, BundleDecl, Name, SourceFile, Span
from rkvformal.syntax.parser import parse_text
from rkvformal.vocab import Atom, Mode

#: How the library file is named in error messages.
STDLIB_PATH = "rkvformal/semantics/stdlib.rkv"

#: Atoms that need a qualifier, and the qualifiers each accepts.
QUALIFIERS: Mapping[Atom, tuple[str, ...]] = {
    Atom.RELEASE_BEFORE_LOSS: ("demotion", "expiry"),
}


def load_stdlib() -> dict[Mode, Bundle]:
    """The seven bundles of the standard library (parsed once, copied per call)."""
    return dict(_stdlib())


@cache
def _stdlib() -> tuple[tuple[Mode, Bundle], ...]:
    text = resources.files("rkvformal.semantics").joinpath("stdlib.rkv")
    source = parse_text(text.read_text(encoding="utf-8"), STDLIB_PATH)
    return tuple(resolve_bundles(source).items())


@dataclass(frozen=True)
class _Placed:
    """A bundle entry with the place that put it into the bundle being resolved."""

    entry: BundleEntry
    span: Span


def resolve_bundles(source: SourceFile) -> dict[Mode, Bundle]:
    """Check a bundle library and flatten its includes; raises DescriptorErrors.

    Includes are expanded depth-first in the order written, then the bundle's own
    atoms; an atom already present is skipped, but never with a different qualifier.
    """
    report = ErrorCollector(source.path, source.text)
    _reject_other_items(source, report)
    decls = _bundle_decls(source.bundles, report)
    own = {mode: _own_entries(decl, report) for mode, decl in decls.items()}
    includes = {mode: _includes(decl, decls, report) for mode, decl in decls.items()}
    _check_cycles(includes, report)
    missing = [f"'{mode}'" for mode in Mode if mode not in decls]
    if missing:
        report.add(1, 1, "the standard library defines no bundle for mode "
                   + ", ".join(missing), expected="a bundle for every mode")
    report.raise_if_any()
    resolved: dict[Mode, tuple[_Placed, ...]] = {}
    for mode in Mode:
        _resolve(mode, own, includes, resolved, report)
    report.raise_if_any()
    return {
        mode: Bundle(mode, tuple(placed.entry for placed in resolved[mode]))
        for mode in Mode
    }


def _reject_other_items(source: SourceFile, report: ErrorCollector) -> None:
    """The library is bundles only: anything else there would be silently ignored."""
    spans = (
        [item.span for item in source.runtimes]
        + [item.span for item in source.primitives]
        + [item.span for item in source.rows]
        + [item.span for item in source.scenarios]
    )
    for span in spans:
        report.add(span.line, span.column,
                   "the standard library holds only bundle declarations",
                   hint="runtimes, primitives, rows and scenarios belong in descriptors")


def _bundle_decls(
    bundles: tuple[BundleDecl, ...], report: ErrorCollector
) -> dict[Mode, BundleDecl]:
    decls: dict[Mode, BundleDecl] = {}
    for decl in bundles:
        mode = _mode(decl.name, report)
        if mode is None:
            continue
        if mode in decls:
            report.add(decl.name.span.line, decl.name.span.column,
                       f"duplicate bundle '{mode}'",
                       hint=f"first defined on line {decls[mode].span.line}")
            continue
        decls[mode] = decl
    return decls


def _mode(name: Name, report: ErrorCollector) -> Mode | None:
    try:
        return Mode(name.text)
    except ValueError:
        report.add(name.span.line, name.span.column,
                   f"unknown mode '{name.text}'", one_of(Mode.spellings()),
                   did_you_mean(name.text, Mode.spellings()))
        return None


def _own_entries(decl: BundleDecl, report: ErrorCollector) -> tuple[_Placed, ...]:
    entries: list[_Placed] = []
    seen: dict[Atom, BundleAtom] = {}
    for item in decl.atoms:
        entry = _entry(item, report)
        if entry is None:
            continue
        if entry.atom in seen:
            report.add(item.span.line, item.span.column,
                       f"atom '{entry.atom}' is listed twice in bundle '{decl.name.text}'",
                       hint=f"first listed on line {seen[entry.atom].span.line}")
            continue
        seen[entry.atom] = item
        entries.append(_Placed(entry, item.span))
    return tuple(entries)


def _entry(item: BundleAtom, report: ErrorCollector) -> BundleEntry | None:
    """One written atom with its qualifier, checked against the closed lists."""
    span = item.name.span
    try:
        atom = Atom(item.name.text)
    except ValueError:
        report.add(span.line, span.column, f"unknown atom '{item.name.text}'",
                   one_of(Atom.spellings()), did_you_mean(item.name.text, Atom.spellings()))
        return None
    allowed = QUALIFIERS.get(atom, ())
    qualifier = item.qualifier
    if qualifier is None:
        if allowed:
            report.add(span.line, span.column, f"atom '{atom}' needs a qualifier",
                       one_of([f"{atom}({word})" for word in allowed]))
            return None
        return BundleEntry(atom, None)
    where = qualifier.span
    if not allowed:
        report.add(where.line, where.column, f"atom '{atom}' takes no qualifier",
                   hint=f"write just '{atom}'")
        return None
    if qualifier.text not in allowed:
        report.add(where.line, where.column,
                   f"unknown qualifier '{qualifier.text}' for '{atom}'",
                   one_of(allowed), did_you_mean(qualifier.text, allowed))
        return None
    return BundleEntry(atom, qualifier.text)


def _includes(
    decl: BundleDecl, decls: Mapping[Mode, BundleDecl], report: ErrorCollector
) -> tuple[tuple[Mode, Span], ...]:
    found: list[tuple[Mode, Span]] = []
    for name in decl.includes:
        mode = _mode(name, report)
        if mode is None:
            continue
        if mode not in decls:
            report.add(name.span.line, name.span.column,
                       f"bundle '{decl.name.text}' includes undefined bundle '{mode}'")
            continue
        found.append((mode, name.span))
    return tuple(found)


def _check_cycles(
    includes: Mapping[Mode, tuple[tuple[Mode, Span], ...]], report: ErrorCollector
) -> None:
    """Report each include that closes a cycle (depth-first, back edges)."""
    state: dict[Mode, str] = {}

    def visit(mode: Mode, path: tuple[Mode, ...]) -> None:
        state[mode] = "open"
        for target, span in includes.get(mode, ()):
            if state.get(target) == "open":
                loop = " -> ".join(str(step) for step in _cycle(path, mode, target))
                report.add(span.line, span.column,
                           f"bundle includes form a cycle: {loop}",
                           hint="a bundle cannot include itself, even indirectly")
            elif target not in state:
                visit(target, path + (mode,))
        state[mode] = "done"

    for mode in includes:
        if mode not in state:
            visit(mode, ())


def _cycle(path: tuple[Mode, ...], mode: Mode, target: Mode) -> tuple[Mode, ...]:
    """The modes of the cycle closed by the edge mode -> target, starting at target."""
    stack = path + (mode,)
    return stack[stack.index(target):] + (target,)


def _resolve(
    mode: Mode,
    own: Mapping[Mode, tuple[_Placed, ...]],
    includes: Mapping[Mode, tuple[tuple[Mode, Span], ...]],
    resolved: dict[Mode, tuple[_Placed, ...]],
    report: ErrorCollector,
) -> tuple[_Placed, ...]:
    """Flatten one bundle (its includes are acyclic: checked before)."""
    if mode in resolved:
        return resolved[mode]
    merged: list[_Placed] = []
    for target, span in includes[mode]:
        for placed in _resolve(target, own, includes, resolved, report):
            _merge(merged, _Placed(placed.entry, span), report)
    for placed in own[mode]:
        _merge(merged, placed, report)
    resolved[mode] = tuple(merged)
    return resolved[mode]


def _merge(merged: list[_Placed], new: _Placed, report: ErrorCollector) -> None:
    for old in merged:
        if old.entry.atom is not new.entry.atom:
            continue
        if old.entry.qualifier != new.entry.qualifier:
            report.add(new.span.line, new.span.column,
                       f"atom '{new.entry.atom}' appears with qualifiers "
                       f"'{old.entry.qualifier}' and '{new.entry.qualifier}'",
                       hint="a bundle can require an atom with one qualifier only")
        return
    merged.append(new)
