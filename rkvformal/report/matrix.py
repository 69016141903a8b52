"""`rkvformal matrix`: the runtime x mode table of evidence classes, on one screen.

Each cell lists the classes of the rows that lower that mode onto that runtime, best
first; an empty cell means no row asks the question.  The boundary of what runtimes
carry natively, with adapters, with policy or patches, or not at all is then visible
at a glance.  Read from the proved rows only; nothing is re-proved here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rkvformal.pipeline import ProvedFile
from rkvformal.vocab import EvidenceClass, Mode

SCHEMA = "rkvformal.matrix/1"

SHORT = {
    EvidenceClass.NATIVE_CONFORMANCE: "native",
    EvidenceClass.ADAPTER_OBSERVATIONAL: "observational",
    EvidenceClass.ADAPTER_POLICY: "policy",
    EvidenceClass.APPROXIMATION_SUBSTRATE: "substrate",
    EvidenceClass.REJECTED_MAPPING: "rejected",
    EvidenceClass.UNKNOWN_EVIDENCE: "unknown",
}
STYLE = {
    EvidenceClass.NATIVE_CONFORMANCE: "bold green",
    EvidenceClass.ADAPTER_OBSERVATIONAL: "green",
    EvidenceClass.ADAPTER_POLICY: "cyan",
    EvidenceClass.APPROXIMATION_SUBSTRATE: "magenta",
    EvidenceClass.REJECTED_MAPPING: "red",
    EvidenceClass.UNKNOWN_EVIDENCE: "yellow",
}
COMPACT = {cls: SHORT[cls][:3] for cls in EvidenceClass}  # nat obs pol sub rej unk
ORDER = {cls: i for i, cls in enumerate(EvidenceClass)}  # best first, as in vocab
FULL_WIDTH = 128  # below this many columns the matrix uses the three-letter codes


@dataclass(frozen=True)
class Entry:
    """One row's verdict, as a cell shows it."""

    path: str
    lowering: str
    line: int
    evidence_class: EvidenceClass
    matches_expectation: bool | None


@dataclass(frozen=True)
class Matrix:
    runtimes: tuple[str, ...]  # runtime names, in input order
    modes: tuple[Mode, ...]
    cells: dict[tuple[str, Mode], tuple[Entry, ...]]

    def cell(self, runtime: str, mode: Mode) -> tuple[Entry, ...]:
        return self.cells.get((runtime, mode), ())


def build(files: list[ProvedFile]) -> Matrix:
    """Group rows by runtime name (files that share one are one matrix row) and mode."""
    runtimes: dict[str, None] = {}
    cells: dict[tuple[str, Mode], list[Entry]] = {}
    for f in files:
        name = f.descriptor.runtime.name
        runtimes[name] = None
        for r in f.rows:
            res = r.result
            cells.setdefault((name, res.row.mode), []).append(Entry(
                f.descriptor.path, res.row.name, res.row.line, res.evidence_class,
                res.matches_expectation))
    ordered = {key: tuple(sorted(entries, key=lambda e: (ORDER[e.evidence_class], e.lowering)))
               for key, entries in cells.items()}
    return Matrix(tuple(runtimes), tuple(Mode), ordered)


def cell_words(entries: tuple[Entry, ...], compact: bool = False
               ) -> list[tuple[EvidenceClass, str]]:
    """Distinct classes of a cell, best first, with a count and a `!` for a row that
    contradicts its expectation."""
    out: list[tuple[EvidenceClass, str]] = []
    for cls in EvidenceClass:
        hits = [e for e in entries if e.evidence_class is cls]
        if not hits:
            continue
        words = (COMPACT if compact else SHORT)[cls] + (f" ×{len(hits)}" if len(hits) > 1
                                                        else "")
        if any(e.matches_expectation is False for e in hits):
            words += " !"
        out.append((cls, words))
    return out


def table(matrix: Matrix, bound: int, compact: bool = False) -> Table:
    grid = Table(title=f"evidence classes, runtime x mode (bounded k={bound})",
                 title_justify="left", show_lines=True)
    # fold rather than cut: on a narrow terminal a word may wrap, it never loses letters
    grid.add_column("runtime", overflow="fold", max_width=34)
    for mode in matrix.modes:
        grid.add_column(mode.value.replace("_", "\n" if compact else " "), justify="center",
                        overflow="fold")
    for runtime in matrix.runtimes:
        cells = []
        for mode in matrix.modes:
            words = cell_words(matrix.cell(runtime, mode), compact)
            text = Text("·", style="dim") if not words else Text("\n").join(
                Text(w, style=STYLE[cls]) for cls, w in words)
            cells.append(text)
        grid.add_row(runtime, *cells)
    return grid


def legend(compact: bool = False) -> str:
    names = ", ".join(f"{(COMPACT if compact else SHORT)[cls]} = {cls.value}"
                      for cls in EvidenceClass)
    return f"{names}; ×N rows; ! a row contradicts its expect; · no row"


def render_text(matrix: Matrix, bound: int, console: Console) -> None:
    """Full class words on a wide console, three-letter codes on a narrow one."""
    compact = console.width < FULL_WIDTH
    console.print(table(matrix, bound, compact))
    console.print(legend(compact), highlight=False, markup=False)


def to_json(matrix: Matrix, bound: int) -> dict[str, Any]:
    """`rkvformal matrix --format json` (deterministic: input order, fixed keys)."""
    return {
        "schema": SCHEMA,
        "bound": bound,
        "modes": [m.value for m in matrix.modes],
        "runtimes": [
            {
                "name": runtime,
                "cells": {
                    mode.value: [
                        {"path": e.path, "lowering": e.lowering, "line": e.line,
                         "class": e.evidence_class.value,
                         "matches_expectation": e.matches_expectation}
                        for e in matrix.cell(runtime, mode)
                    ]
                    for mode in matrix.modes
                },
            }
            for runtime in matrix.runtimes
        ],
    }
