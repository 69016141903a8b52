"""The `explain`, `matrix` and `report` commands (registered by `rkvformal.cli`).

Exit codes are the CLI's: 0 every row proved is as expected, 1 a row contradicts its
expectation, 2 usage or input error (raised as `InputFailure`, rendered by the CLI),
3 a row is undecided.  The output files and text do not depend on the exit code.
"""

from __future__ import annotations

import json
import os
import sys

import click
from rich.console import Console

from rkvformal import pipeline
from rkvformal.errors import RkvError, did_you_mean, one_of
from rkvformal.report import html, matrix
from rkvformal.report.explain import explain_row_lines
from rkvformal.report.progress import progress, prove_descriptors
from rkvformal.semantics.bundles import load_stdlib
from rkvformal.semantics.domain import Descriptor
from rkvformal.smt.prover import DEFAULT_BOUND
from rkvformal.vocab import Atom


def _failure(message: str) -> Exception:
    """The CLI's input error (exit 2); imported late because the CLI imports this module."""
    from rkvformal.cli import InputFailure

    return InputFailure(message)


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False)


def check_options(bound: int, timeout: float | None, jobs: int | None) -> None:
    if not 1 <= bound <= pipeline.MAX_BOUND:
        raise _failure(f"error: --bound must be between 1 and {pipeline.MAX_BOUND}, got {bound}")
    if timeout is not None and timeout <= 0:
        raise _failure("error: --timeout must be a positive number of seconds")
    if jobs is not None and not 1 <= jobs <= 64:
        raise _failure(f"error: --jobs must be between 1 and 64, got {jobs}")


def load_all(paths: tuple[str, ...] | list[str]) -> list[Descriptor]:
    """Parse and validate every file, reporting every bad one at once."""
    descriptors, problems = [], []
    for path in paths:
        try:
            descriptors.append(pipeline.load(path))
        except RkvError as error:
            problems.append(error.render())
    if problems:
        raise _failure("\n".join(problems))
    return descriptors


def _bound_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option("--bound", "-k", type=int, default=DEFAULT_BOUND, show_default=True,
                        help=f"Steps of the bounded model (1..{pipeline.MAX_BOUND}).")(f)


def _timeout_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option("--timeout", type=float, default=None, metavar="SECONDS",
                        help="Solver timeout per check; a timeout is reported as unknown.")(f)


def _jobs_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option("--jobs", "-j", type=int, default=None, metavar="N",
                        help="Rows proved in parallel (default: the number of CPUs, "
                             "at most 8).")(f)


@click.command("explain")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--lowering", "name", required=True, metavar="NAME", help="The row to explain.")
@click.option("--atom", metavar="ATOM", help="The atom to explain (default: the first refuted "
                                             "one, or the whole proof of a proven row).")
@_bound_option
@_timeout_option
def explain_command(file: str, name: str, atom: str | None, bound: int,
                    timeout: float | None) -> None:
    """Take one row apart: a refuted atom's counterexample step by step, why it was
    allowed and which catalogue kinds would discharge it; or the smallest set of
    primitives and assumptions a proof needs."""
    check_options(bound, timeout, None)
    descriptor = load_all([file])[0]
    row = next((r for r in descriptor.rows if r.name == name), None)
    if row is None:
        names = [r.name for r in descriptor.rows]
        hint = did_you_mean(name, names)
        raise _failure(f"error: {file}: no row named {name!r}\n  rows: {', '.join(names)}"
                       + (f"\n  hint: {hint}" if hint else ""))
    chosen: Atom | None = None
    if atom is not None:
        bundle = load_stdlib()[row.mode].atoms
        if atom not in Atom.spellings():
            hint = did_you_mean(atom, Atom.spellings())
            raise _failure(f"error: unknown atom {atom!r}\n  expected {one_of(Atom.spellings())}"
                           + (f"\n  hint: {hint}" if hint else ""))
        if Atom(atom) not in bundle:
            raise _failure(f"error: atom {atom!r} is not in the {row.mode.value} bundle of "
                           f"row {name!r}\n  its atoms: {', '.join(a.value for a in bundle)}")
        chosen = Atom(atom)
    proved = pipeline.prove_descriptors([descriptor], bound, timeout, name, 1)
    with progress(None, f"explaining {name}") as advance:
        lines = explain_row_lines(file, proved[0].rows[0], bound, chosen, timeout, advance)
    click.echo("\n".join(lines))
    sys.exit(pipeline.exit_code(proved))


@click.command("matrix")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_bound_option
@_timeout_option
@_jobs_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def matrix_command(files: tuple[str, ...], bound: int, timeout: float | None,
                   jobs: int | None, fmt: str) -> None:
    """The runtime x mode matrix of evidence classes of every row of FILE..."""
    check_options(bound, timeout, jobs)
    descriptors = load_all(files)
    proved = prove_descriptors(descriptors, bound, timeout, None, jobs or pipeline.default_jobs())
    grid = matrix.build(proved)
    if fmt == "json":
        sys.stdout.write(json.dumps(matrix.to_json(grid, bound), indent=2,
                                    ensure_ascii=False) + "\n")
    else:
        matrix.render_text(grid, bound, _console())
    sys.exit(pipeline.exit_code(proved))


@click.command("report")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              metavar="FILE.html", help="Where to write the report.")
@_bound_option
@_timeout_option
@_jobs_option
def report_command(files: tuple[str, ...], output: str, bound: int, timeout: float | None,
                   jobs: int | None) -> None:
    """One self-contained HTML report of FILE...: the matrix, every row's atoms and an
    SVG timeline of every counterexample."""
    check_options(bound, timeout, jobs)
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise _failure(f"error: {output}: directory {parent} does not exist")
    descriptors = load_all(files)
    proved = prove_descriptors(descriptors, bound, timeout, None, jobs or pipeline.default_jobs())
    text = html.render_html(proved, bound)
    with open(output, "w", encoding="utf-8") as out:
        out.write(text)
    rows = sum(len(f.rows) for f in proved)
    cexs = sum(len(r.counterexamples) for f in proved for r in f.rows)
    click.echo(f"wrote {output}: {len(proved)} descriptors, {rows} rows, "
               f"{cexs} counterexamples")
    sys.exit(pipeline.exit_code(proved))
