"""The bad-lowering suite: descriptors that must be rejected, each for the atom it states.

A suite case is one row of a descriptor under a suite directory.  It says what must
happen in the language itself: `expect rejected_mapping because ATOM, ...` (the mapping
is false, and these atoms must be refuted) or `expect unknown_evidence` (the evidence is
missing, so no verdict may be better).  `rkvformal suite DIR...` proves every case and
checks that it comes out exactly so: a case that is accepted, or rejected only for some
other reason, means the checker (or the case) lost the boundary the case teaches.

Every refutation of a stated atom carries a counterexample; `replay` is the hook through
which the block simulator confirms it is real (DESIGN §6).  Without a simulator it is
None and the report says `counterexample_replayed: null`, never a made-up true.  A case
is decided by its stated atoms: at the last stage they are searched first, and once
all are refuted (which rejects the row whatever the others do) no other atom is
searched and no other counterexample built; `rkvformal prove` shows every atom.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from rkvformal import pipeline
from rkvformal.errors import InputFailure, RkvError
from rkvformal.semantics.domain import Descriptor, Row
from rkvformal.smt.counterexample import Counterexample
from rkvformal.smt.prover import DEFAULT_BOUND
from rkvformal.vocab import AtomStatus, EvidenceClass

SCHEMA = "rkvformal.suite/2"  # 2: refuted_atoms as the stated atoms decide a case (SUITE.md)
EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 4

# A case may expect only these classes: a bad lowering is rejected, or its evidence is
# missing.  Anything better would make it a conformance test, not a bad lowering.
CASE_CLASSES = (EvidenceClass.REJECTED_MAPPING, EvidenceClass.UNKNOWN_EVIDENCE)

Replay = Callable[[Row, Counterexample], bool]


@dataclass(frozen=True)
class SuiteCase:
    """One row's verdict against what the row says must happen."""

    path: str
    lowering: str
    line: int
    expected_class: EvidenceClass
    expected_atoms: tuple[str, ...]
    evidence_class: EvidenceClass
    refuted_atoms: tuple[str, ...]
    counterexample_replayed: bool | None
    ok: bool
    reason: str  # why the case is not ok, in words ("" when ok)

    @property
    def expected_atom(self) -> str | None:
        return self.expected_atoms[0] if self.expected_atoms else None


@dataclass(frozen=True)
class SuiteReport:
    cases: tuple[SuiteCase, ...]

    @property
    def all_ok(self) -> bool:
        return all(case.ok for case in self.cases)

    @property
    def exit_code(self) -> int:
        """0 all ok; 4 a counterexample did not replay (a bug in rkvformal, DESIGN §8,
        never a verdict); 1 some case is accepted or rejected for another reason."""
        if any(case.counterexample_replayed is False for case in self.cases):
            return EXIT_INTERNAL
        return EXIT_OK if self.all_ok else EXIT_FAILED


def _input_failure(message: str) -> Exception:
    """The CLI's input error (exit 2)."""
    return InputFailure(message)


def collect(paths: list[str]) -> list[str]:
    """Every `*.rkv` under each DIR (recursively, sorted), or the file itself; each once."""
    found: dict[str, None] = {}
    missing: list[str] = []
    for given in paths:
        if os.path.isfile(given):
            found[given] = None
        elif os.path.isdir(given):
            inside = sorted(
                os.path.join(root, name)
                for root, _dirs, names in os.walk(given)
                for name in names
                if name.endswith(".rkv")
            )
            if not inside:
                missing.append(f"error: {given}: no *.rkv descriptors in this directory")
            found.update(dict.fromkeys(inside))
        else:
            missing.append(f"error: {given}: no such file or directory")
    if missing:
        raise _input_failure("\n".join(missing))
    return list(found)


def _check_case_rows(descriptor: Descriptor) -> list[str]:
    """A suite row must state what must break; say which rows do not."""
    problems = []
    for row in descriptor.rows:
        where = f"{descriptor.path}:{row.line}:{row.column}: error: suite case '{row.name}'"
        if row.expected not in CASE_CLASSES:
            stated = f"expects {row.expected}" if row.expected else "states no expectation"
            problems.append(f"{where} {stated}\n  expected: expect rejected_mapping because "
                            "ATOM, ... or expect unknown_evidence")
        elif row.expected is EvidenceClass.REJECTED_MAPPING and not row.because:
            problems.append(f"{where} does not say which atom must break\n  hint: write "
                            "'expect rejected_mapping because ATOM'")
    return problems


def load_cases(paths: list[str]) -> list[Descriptor]:
    """Parse and validate every descriptor, reporting all bad files at once."""
    descriptors: list[Descriptor] = []
    problems: list[str] = []
    for path in collect(paths):
        try:
            descriptor = pipeline.load(path)
        except RkvError as error:
            problems.append(error.render())
            continue
        if not descriptor.rows:
            problems.append(f"{path}: error: no lowering rows: a suite case is a row")
        problems.extend(_check_case_rows(descriptor))
        descriptors.append(descriptor)
    if problems:
        raise _input_failure("\n".join(problems))
    return descriptors


def judge(path: str, proved: pipeline.ProvedRow, replay: Replay | None) -> SuiteCase:
    """Did the row come out as it says it must?"""
    result = proved.result
    row = result.row
    assert row.expected is not None  # load_cases admits only rows with an expectation
    expected = tuple(atom.value for atom in row.because)
    refuted = tuple(c.atom.value for c in result.checks if c.status is AtomStatus.REFUTED)
    replayed: bool | None = None
    if replay is not None and expected and all(a in proved.counterexamples for a in expected):
        replayed = all(replay(row, proved.counterexamples[a]) for a in expected)
    reason = ""
    if result.evidence_class is not row.expected:
        if pipeline.is_conformance(result.evidence_class):
            reason = f"accepted as {result.evidence_class}"
        else:
            reason = f"classified {result.evidence_class}, not {row.expected}"
        if result.undecided:
            reason += " (the solver did not decide every atom)"
    elif missing := [a for a in expected if a not in refuted]:
        others = ", ".join(refuted) or "nothing"
        reason = f"{', '.join(missing)} not refuted (rejected for {others})"
    elif replayed is False:
        reason = "a counterexample did not replay in the simulator"
    return SuiteCase(path, row.name, row.line, row.expected, expected, result.evidence_class,
                     refuted, replayed, ok=not reason, reason=reason)


def run_suite(paths: list[str], jobs: int, replay: Replay | None = None,
              bound: int = DEFAULT_BOUND) -> SuiteReport:
    """Prove every case under `paths`, `jobs` rows at a time, and judge each one."""
    descriptors = load_cases(paths)
    # a case is decided, and its counterexamples replayed, by the atoms it states
    proved = pipeline.prove_descriptors(descriptors, bound, jobs=jobs, by_stated_atoms=True)
    return SuiteReport(tuple(
        judge(file.descriptor.path, row, replay) for file in proved for row in file.rows
    ))


def case_json(case: SuiteCase) -> dict[str, Any]:
    return {
        "path": case.path,
        "lowering": case.lowering,
        "expected_atom": case.expected_atom,
        "expected_atoms": list(case.expected_atoms),
        "class": case.evidence_class.value,
        "refuted_atoms": list(case.refuted_atoms),
        "counterexample_replayed": case.counterexample_replayed,
        "ok": case.ok,
    }


def render_json(report: SuiteReport) -> str:
    """Deterministic: no timings, cases in collection order, keys in a fixed order."""
    document = {"schema": SCHEMA, "cases": [case_json(case) for case in report.cases]}
    return json.dumps(document, indent=2) + "\n"


def render_text(report: SuiteReport, console: Console) -> None:
    table = Table(title="bad-lowering suite", title_justify="left")
    for column in ("case", "class", "expected atom", "refuted atoms", "ok"):
        table.add_column(column, overflow="fold")
    for case in report.cases:
        expected = ", ".join(case.expected_atoms) or f"({case.expected_class})"
        table.add_row(f"{case.path} · {case.lowering}", case.evidence_class.value, expected,
                      ", ".join(case.refuted_atoms) or "-",
                      "[green]ok[/green]" if case.ok else "[red]FAIL[/red]")
    console.print(table)
    for case in report.cases:
        if not case.ok:
            console.print(f"[red]FAIL[/red] {case.path}:{case.line}: {case.lowering}: "
                          f"{case.reason}", highlight=False)
    failed = sum(not case.ok for case in report.cases)
    replayed = "; counterexamples not replayed (no simulator)" if all(
        case.counterexample_replayed is None for case in report.cases) else ""
    console.print(f"{len(report.cases)} cases, {len(report.cases) - failed} ok, "
                  f"{failed} failed{replayed}", highlight=False)


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False)


@click.command("suite")
@click.argument("dirs", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True)
@click.option("--jobs", "-j", type=int, default=None, metavar="N",
              help="Cases proved in parallel (default: the number of CPUs, at most 8).")
def suite_command(dirs: tuple[str, ...], fmt: str, jobs: int | None) -> None:
    """Check that every bad lowering under each DIR is rejected for its stated atom."""
    if jobs is not None and not 1 <= jobs <= 64:
        raise _input_failure(f"error: --jobs must be between 1 and 64, got {jobs}")
    from rkvformal.sim.abstraction import replay  # the simulator is the ground truth

    report = run_suite(list(dirs), jobs or pipeline.default_jobs(), replay=replay)
    if fmt == "json":
        sys.stdout.write(render_json(report))
    elif fmt == "sarif":
        from rkvformal.report.sarif import render_suite_sarif

        sys.stdout.write(render_suite_sarif(report))
    else:
        render_text(report, _console())
    sys.exit(report.exit_code)
