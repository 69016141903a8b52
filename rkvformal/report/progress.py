"""Progress for long runs: a bar on a terminal, nothing at all otherwise.

Output that is piped, redirected or captured (CI logs, `--format json > file`, tests)
must stay byte-identical to a run without progress, so the bar exists only when both
stdout and stderr are terminals; it is drawn on stderr and vanishes when done.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from rkvformal import pipeline
from rkvformal.semantics.domain import Descriptor
from rkvformal.smt.prover import DEFAULT_BOUND

Advance = Callable[[str], None]


def on_terminal() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


def _nothing(label: str) -> None:
    """Advance of a run that shows no progress."""


@contextmanager
def progress(total: int | None, description: str,
             enabled: bool | None = None) -> Iterator[Advance]:
    """Yield `advance(label)`: one unit of `total` done (`None`: an unknown number of
    units).  A no-op unless `enabled` (default: stdout and stderr are terminals)."""
    if not (on_terminal() if enabled is None else enabled) or total == 0:
        yield _nothing
        return
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    with bar:
        task = bar.add_task(description, total=total)

        def advance(label: str) -> None:
            bar.update(task, advance=1, description=f"{description} {label}".rstrip())

        yield advance


def _one_row(task: tuple[Descriptor, str, int, float | None, dict[str, Any]]
             ) -> pipeline.ProvedRow:
    descriptor, name, bound, timeout_s, options = task
    proved = pipeline.prove_descriptors([descriptor], bound, timeout_s, name, 1, **options)
    return proved[0].rows[0]


def prove_descriptors(descriptors: list[Descriptor], bound: int = DEFAULT_BOUND,
                      timeout_s: float | None = None, only: str | None = None,
                      jobs: int = 1, **options: Any) -> list[pipeline.ProvedFile]:
    """`pipeline.prove_descriptors` with a bar of rows proved on a terminal; elsewhere it
    is exactly that function.  Results are the same either way (each row is proved in
    its own Z3 context), in file/row order."""
    tasks = [(d, row.name, bound, timeout_s, options) for d in descriptors for row in d.rows
             if only is None or row.name == only]
    if not on_terminal() or not tasks:
        return pipeline.prove_descriptors(descriptors, bound, timeout_s, only, jobs, **options)
    results: dict[int, pipeline.ProvedRow] = {}
    with progress(len(tasks), f"proving {len(tasks)} rows") as advance:
        if jobs > 1 and len(tasks) > 1:
            context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
            with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)),
                                     mp_context=context) as pool:
                futures = {pool.submit(_one_row, task): i for i, task in enumerate(tasks)}
                for future in as_completed(futures):
                    i = futures[future]
                    results[i] = future.result()
                    advance(tasks[i][1])
        else:
            for i, task in enumerate(tasks):
                results[i] = _one_row(task)
                advance(task[1])
    by_row = iter(results[i] for i in range(len(tasks)))
    return [
        pipeline.ProvedFile(d, tuple(next(by_row) for row in d.rows
                                     if only is None or row.name == only))
        for d in descriptors
    ]
