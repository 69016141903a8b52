"""Every command of docs/tutorial.md runs, exits as the tutorial says, and prints the
excerpt shown under it (a ```text block right after the command's ```sh block)."""

from __future__ import annotations

import glob
import os
import re
import shlex
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import click
from click.testing import CliRunner
from conftest import ROOT

TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
EXITS = re.compile(r"#\s*exits\s+(\d+)\s*$")


@dataclass(frozen=True)
class Command:
    line: str
    exit_code: int
    excerpt: tuple[str, ...]


def commands() -> list[Command]:
    """Each `rkvformal ...  # exits N` line of a ```sh block, with the ```text block that
    follows the sh block directly (blank lines aside)."""
    with open(TUTORIAL, encoding="utf-8") as handle:
        text = handle.read()
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)]
    found = []
    for i, (lang, body, _start, end) in enumerate(blocks):
        if lang != "sh":
            continue
        excerpt: tuple[str, ...] = ()
        if i + 1 < len(blocks) and blocks[i + 1][0] == "text" and \
                not text[end:blocks[i + 1][2]].strip():
            excerpt = tuple(line for line in blocks[i + 1][1].splitlines() if line.strip())
        for line in body.splitlines():
            if not line.startswith("rkvformal "):
                continue
            match = EXITS.search(line)
            assert match, f"tutorial command states no exit code ('# exits N'): {line}"
            found.append(Command(line[: match.start()].strip(), int(match.group(1)), excerpt))
    return found


def _dispatch(args: list[str]) -> tuple[click.Command, list[str]]:
    """`rkvformal SUB ...` -> the click command that runs it: the CLI group when it knows
    SUB, else the report commands themselves (until the CLI registers them)."""
    from rkvformal import cli
    from rkvformal.report.commands import explain_command, matrix_command, report_command

    sub = args[0]
    if sub in cli.main.list_commands(click.Context(cli.main)):
        return cli.main, args
    own = {"explain": explain_command, "matrix": matrix_command, "report": report_command}
    assert sub in own, f"unknown subcommand {sub!r}"
    return own[sub], args[1:]


def run(line: str) -> tuple[int, str]:
    """Run one tutorial command in-process from the repository root."""
    from rkvformal.cli import InputFailure

    os.chdir(ROOT)
    args: list[str] = []
    for word in shlex.split(line)[1:]:
        args.extend(sorted(glob.glob(word)) if any(ch in word for ch in "*?[") else [word])
    command, rest = _dispatch(args)
    result = CliRunner().invoke(command, rest)
    if isinstance(result.exception, InputFailure):
        return 2, result.output + result.exception.message
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _collapse(text: str) -> str:
    return " ".join(text.split())


def test_the_tutorial_teaches_six_counterexamples() -> None:
    found = commands()
    refuted = [c for c in found if c.line.startswith("rkvformal explain") and "--atom" in c.line]
    assert len(refuted) >= 6
    assert all(c.excerpt for c in found), "every command shows what it prints"


def test_every_tutorial_command_runs_as_the_tutorial_says() -> None:
    found = commands()
    workers = max(1, min(4, os.cpu_count() or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(run, [c.line for c in found]))
    for command, (code, output) in zip(found, results, strict=True):
        assert code == command.exit_code, f"{command.line}: exit {code}\n{output}"
        printed = _collapse(output)
        for line in command.excerpt:
            assert _collapse(line) in printed, f"{command.line}: not printed: {line}\n{output}"
