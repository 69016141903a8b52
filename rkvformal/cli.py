"""The `rkvformal` command line.

Exit codes (README, docs/CLI.md): 0 every row decided and as expected; 1 a row
contradicts its expectation; 2 usage or input error; 3 a row is undecided (solver
unknown or timeout) and none contradicts; 4 internal error (a bug in rkvformal).
click's own exit 1 on exceptions and Ctrl-C would blur these, so `entry` owns them.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click
from rich.console import Console

from rkvformal import pipeline
from rkvformal.errors import InputFailure, RkvError
from rkvformal.report import itf, json_report, progress, sarif, text
from rkvformal.smt import second_solver
from rkvformal.smt.prover import DEFAULT_BOUND

EXIT_OK, EXIT_CONTRADICTED, EXIT_INPUT, EXIT_UNKNOWN, EXIT_INTERNAL = 0, 1, 2, 3, 4


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False)


# Commands that live beside their own layer: name -> (module, the command in it).  They
# are imported when asked for (click's lazy subcommands), so that `rkvformal prove`
# does not load the simulator (and numpy), the trace gate or the HTML report: about a
# third of the start-up (docs/BENCHMARKS.md, session 9).
ELSEWHERE = {
    "suite": ("rkvformal.suite", "suite_command"),
    "explain": ("rkvformal.report.commands", "explain_command"),
    "matrix": ("rkvformal.report.commands", "matrix_command"),
    "report": ("rkvformal.report.commands", "report_command"),
    "anchors": ("rkvformal.anchors", "anchors_group"),
    "simulate": ("rkvformal.sim", "simulate_command"),
    "litmus": ("rkvformal.sim", "litmus_command"),
    "trace": ("rkvformal.trace.commands", "trace_group"),
}


class _Commands(click.Group):
    """The command group, with the commands of ELSEWHERE imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *ELSEWHERE})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in ELSEWHERE and name not in self.commands:
            module, attribute = ELSEWHERE[name]
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rkvformal")
def main() -> None:
    """Prove whether runtime KV-cache primitives can carry a ResidentClaim mode."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--lowering", "only", metavar="NAME", help="Prove only the row with this name.")
@click.option("--bound", "-k", type=int, default=DEFAULT_BOUND, show_default=True,
              help=f"Steps of the bounded model (1..{pipeline.MAX_BOUND}).")
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Solver timeout per check; a timeout is reported as unknown.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="sarif: SARIF 2.1.0, one result per refuted row.")
@click.option("--trace-out", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Write every counterexample as an ITF JSON trace into DIR.")
@click.option("--jobs", "-j", type=int, default=None, metavar="N",
              help="Rows proved in parallel (default: the number of CPUs, at most 8).")
@click.option("--induction", type=int, default=pipeline.DEFAULT_INDUCTION, show_default=True,
              metavar="K", help="Try k-induction up to K on proven atoms (0: bounded only).")
@click.option("--solver", type=click.Choice(second_solver.SOLVERS), default="z3",
              show_default=True, help="The solver that decides verdicts.")
@click.option("--cross-check", is_flag=True,
              help="Run both solvers on every verdict and fail (exit 4) on disagreement.")
def prove(files: tuple[str, ...], only: str | None, bound: int, timeout: float | None,
          fmt: str, trace_out: str | None, jobs: int | None, induction: int, solver: str,
          cross_check: bool) -> None:
    """Classify every row of each descriptor FILE, with counterexamples."""
    if not 1 <= bound <= pipeline.MAX_BOUND:
        raise InputFailure(f"error: --bound must be between 1 and {pipeline.MAX_BOUND}, "
                           f"got {bound}")
    if timeout is not None and timeout <= 0:
        raise InputFailure("error: --timeout must be a positive number of seconds")
    descriptors = []
    for path in files:
        try:
            descriptors.append(pipeline.load(path))
        except RkvError as error:
            raise InputFailure(error.render()) from error
    if only is not None and not any(r.name == only for d in descriptors for r in d.rows):
        names = ", ".join(r.name for d in descriptors for r in d.rows)
        raise InputFailure(f"error: no row named {only!r}\n  rows: {names}")
    if jobs is not None and not 1 <= jobs <= 64:
        raise InputFailure(f"error: --jobs must be between 1 and 64, got {jobs}")
    if not 0 <= induction <= 8:
        raise InputFailure(f"error: --induction must be between 0 and 8, got {induction}")
    if (solver == "cvc5" or cross_check) and not second_solver.available():
        raise InputFailure("error: cvc5 is not installed\n  hint: pip install cvc5")
    proved = progress.prove_descriptors(descriptors, bound, timeout, only,
                                        jobs or pipeline.default_jobs(), induction=induction,
                                        solver=solver, cross_check=cross_check)
    if trace_out is not None:
        written = itf.write_itf(proved, trace_out)
        click.echo(f"wrote {len(written)} ITF traces to {trace_out}", err=True)
    if fmt == "json":
        sys.stdout.write(json_report.render(proved, bound))
    elif fmt == "sarif":
        sys.stdout.write(sarif.render_sarif(proved, bound))
    else:
        text.render(proved, bound, _console())
    sys.exit(pipeline.exit_code(proved))


def entry() -> None:
    """Console-script entry point: maps every way out onto the documented exit codes."""
    # z3's Python API re-checks every argument of every term it builds; rkvformal builds
    # its terms through one View, so the checks cost ~6% of a proof and catch nothing
    # (docs/BENCHMARKS.md).  Terms, and so verdicts and counterexamples, are unchanged.
    import z3

    z3.z3.Z3_DEBUG = False
    try:
        code = main.main(standalone_mode=False)
    except SystemExit:
        raise
    except InputFailure as failure:
        click.echo(failure.message, err=True)
        sys.exit(EXIT_INPUT)
    except click.UsageError as error:
        error.show()
        sys.exit(EXIT_INPUT)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERNAL)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_INPUT)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERNAL)
    except second_solver.SolverDisagreement as disagreement:
        click.echo(f"internal error: the solvers disagree: {disagreement}", err=True)
        sys.exit(EXIT_INTERNAL)
    except Exception:  # a bug in rkvformal: say so, never pass it off as a verdict
        click.echo("internal error (please report):", err=True)
        traceback.print_exc()
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else EXIT_OK)  # --help, --version


if __name__ == "__main__":
    entry()
