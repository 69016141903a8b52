"""The `rkvformal trace` commands: `check` (the bundle gate) and `admit` (the model).

Exit codes (docs/TRACES.md): `check`: 0 every trace passes; 1 a trace fails (an atom
is broken, a required stage is missing, or no claim was accepted); 2 unreadable input,
with the line of the bad record; 3 nothing fails but something is unknown (a sequence
gap, an unrecognised event naming a claim).  `admit`: 0 admitted, 1 not admitted,
2 input error, 3 the solver gave up.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from rkvformal.errors import InputFailure, one_of
from rkvformal.trace.gate import Gate, Status, TraceVerdict
from rkvformal.trace.reader import READ_BUFFER, Batch, batches, pairs, read_batches
from rkvformal.trace.report import render_json, render_text
from rkvformal.trace.schema import TraceInputError
from rkvformal.trace.vocabulary import STAGES
from rkvformal.vocab import Mode

EXIT = {Status.PASS: 0, Status.FAIL: 1, Status.UNKNOWN: 3}
SOURCES = ("jsonl", "vllm-kv", "sglang-kv", "trtllm-kv", "lmcache")


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 160, soft_wrap=False)


def records(path: str, source: str, claims_file: str | None) -> Iterator[tuple[int, Any]]:
    """The canonical records of one trace file, from whichever source format."""
    return pairs(record_batches(path, source, claims_file))


def record_batches(path: str, source: str, claims_file: str | None) -> Iterator[Batch]:
    """`records`, in `reader.Batch`es (what `Gate.consume_batches` takes)."""
    file = Path(path)
    if not file.is_file():
        raise InputFailure(f"error: {path}: no such trace file")
    if source == "jsonl":
        with file.open("rb", buffering=READ_BUFFER) as stream:
            yield from read_batches(stream, path)
        return
    from dataclasses import replace

    from rkvformal.trace.adapters import ADAPTERS, load_claims

    if claims_file is None:
        raise InputFailure(f"error: --source {source} needs --claims FILE\n"
                           "  hint: the claims file says which blocks belong to which claim "
                           "(docs/ADAPTERS.md)")
    adapter = replace(ADAPTERS[source], path=path)
    claims = load_claims(claims_file)
    with file.open("rb", buffering=READ_BUFFER) as stream:
        yield from batches(adapter.records(_text_lines(stream, path), claims))


def _text_lines(stream: Any, path: str) -> Iterator[tuple[int, str]]:
    """(line, text) of a native event dump; a line that is not UTF-8 is reported."""
    for number, raw in enumerate(stream, 1):
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TraceInputError(path, number, f"not UTF-8 text: {exc.reason}",
                                  "native event dumps are JSON Lines in UTF-8") from None


def check_trace(path: str, mode: Mode, require: tuple[str, ...], claim: str | None,
                source: str = "jsonl", claims_file: str | None = None) -> TraceVerdict:
    gate = Gate(mode, require, claim, path)
    gate.consume_batches(record_batches(path, source, claims_file))
    return gate.verdict()


@click.group("trace")
def trace_group() -> None:
    """Check recorded runtime traces against a mode's bundle, or against a model."""


@trace_group.command("check")
@click.argument("traces", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--mode", "mode_name", required=True, metavar="MODE",
              help="The claim mode whose bundle the trace must satisfy.")
@click.option("--claim", default=None, metavar="ID", help="Judge only this claim.")
@click.option("--require", "require", multiple=True, metavar="STAGE",
              help=f"Also demand that a lifecycle stage was observed: {', '.join(STAGES)}.")
@click.option("--source", type=click.Choice(SOURCES), default="jsonl", show_default=True,
              help="jsonl: the claim-event schema; others: a runtime's native KV events.")
@click.option("--claims", "claims_file", default=None, type=click.Path(dir_okay=False),
              help="Claims file for native sources (docs/ADAPTERS.md).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def check_command(traces: tuple[str, ...], mode_name: str, claim: str | None,
                  require: tuple[str, ...], source: str, claims_file: str | None,
                  fmt: str) -> None:
    """Evaluate MODE's obligation atoms on each TRACE, streaming, in one pass."""
    try:
        mode = Mode(mode_name)
    except ValueError:
        raise InputFailure(f"error: unknown mode {mode_name!r}\n  expected "
                           f"{one_of([m.value for m in Mode])}") from None
    for stage in require:
        if stage not in STAGES:
            raise InputFailure(f"error: unknown stage {stage!r} for --require\n"
                               f"  expected {one_of(STAGES)}")
    verdicts = []
    for path in traces:
        try:
            verdicts.append(check_trace(path, mode, require, claim, source, claims_file))
        except TraceInputError as error:
            raise InputFailure(error.render()) from None
    if fmt == "json":
        sys.stdout.write(render_json(verdicts))
    else:
        render_text(verdicts, _console())
    worst = max((EXIT[v.status] for v in verdicts), key=lambda c: (c == 1, c == 3, c))
    sys.exit(worst)


@trace_group.command("admit")
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--model", "model_file", required=True, type=click.Path(dir_okay=False),
              help="The descriptor (.rkv) whose semantics must explain the trace.")
@click.option("--lowering", "lowering", required=True, metavar="NAME",
              help="The row whose primitives and assumptions are switched on.")
@click.option("--source", type=click.Choice(SOURCES), default="jsonl", show_default=True)
@click.option("--claims", "claims_file", default=None, type=click.Path(dir_okay=False))
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Solver timeout per question; a timeout is reported as unknown.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def admit_command(trace: str, model_file: str, lowering: str, source: str,
                  claims_file: str | None, timeout: float | None, fmt: str) -> None:
    """Is TRACE a behaviour the descriptor's row allows?  Prints the first record the
    model cannot explain, and why."""
    from rkvformal import pipeline
    from rkvformal.errors import RkvError
    from rkvformal.trace.admit import AdmitError, admit

    try:
        descriptor = pipeline.load(model_file)
    except RkvError as error:
        raise InputFailure(error.render()) from None
    row = next((r for r in descriptor.rows if r.name == lowering), None)
    if row is None:
        raise InputFailure(f"error: {model_file}: no lowering named {lowering!r}\n  expected "
                           f"{one_of([r.name for r in descriptor.rows])}")
    if timeout is not None and timeout <= 0:
        raise InputFailure("error: --timeout must be a positive number of seconds")
    try:
        result = admit(row, records(trace, source, claims_file), timeout_s=timeout,
                       path=trace)
    except TraceInputError as error:
        raise InputFailure(error.render()) from None
    except AdmitError as error:
        raise InputFailure(f"error: {trace}: {error}") from None
    status = "unknown" if result.unknown else "admitted" if result.admitted else "not admitted"
    if fmt == "json":
        sys.stdout.write(json.dumps({
            "schema": "rkvformal.trace_admit/1", "trace": trace, "model": model_file,
            "lowering": lowering, "status": status, "records": result.records,
            "bound": result.bound, "claims": list(result.claims),
            "first_unexplained": None if result.line is None else {
                "line": result.line, "event_sequence": result.sequence,
                "event": result.event, "why": list(result.why)},
        }, indent=2, sort_keys=True) + "\n")
    else:
        out = _console()
        style = {"admitted": "green", "not admitted": "red", "unknown": "yellow"}[status]
        out.print(f"[bold]{escape(trace)}[/] against {escape(lowering)} "
                  f"({escape(model_file)}): [{style}]{status.upper()}[/]")
        out.print(f"  {result.records} records with model events, placed in a "
                  f"{result.bound}-step run; claims: {escape(', '.join(result.claims)) or 'none'}")
        if result.unknown:
            out.print("  [yellow]the solver gave up (timeout or unknown): no verdict[/]")
        elif result.line is not None:
            where = (f"#{result.sequence}" if result.sequence is not None else "") + \
                f" line {result.line}"
            out.print(f"  first record the model cannot explain: {escape(str(result.event))} "
                      f"({escape(where.strip())})")
            for reason in result.why:
                out.print(f"    the model {escape(reason)}")
            out.print("  the descriptor is wrong about the runtime, or the trace is")
    sys.exit(3 if result.unknown else 0 if result.admitted else 1)
