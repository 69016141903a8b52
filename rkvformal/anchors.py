"""`rkvformal anchors verify`: check a descriptor's source anchors against a source tree.

An anchor says "this behaviour is at PATH:LINE of REPO@VERSION, on a line holding
SYMBOL".  Line numbers go stale when code moves, so this module re-reads the cited
files in a tree at the pinned version (an unpacked wheel or a checkout) and reports,
for every anchor, whether the line still holds the text, where the text moved to, or
that the file or text is gone.  It never touches the network (documentation URLs are
skipped) and never reads outside the roots it is given: every path is resolved and
must stay inside its root, so a symlink pointing out of the tree is refused.

Wheels do not keep a repository's layout, so a path that is not found as written is
retried through `WHEEL_REWRITES` (docs/ANCHORS.md, "Verifying with rkvformal anchors
verify").
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import click

from rkvformal import pipeline
from rkvformal.errors import InputError, InputFailure, RkvError
from rkvformal.errors import quoted as _quoted
from rkvformal.semantics.domain import Anchor, AnchorKind, Descriptor

SCHEMA = "rkvformal.anchors/1"

#: Source files larger than this are not read (no descriptor cites a 20 MiB file).
MAX_SOURCE_BYTES = 20 * 1024 * 1024

#: (repository prefix, wheel prefix), tried in order after the path as written: a
#: repository path starting with the first is looked up with it replaced by the second
#: (a wheel), and a path starting with the second with it replaced by the first (a
#: checkout, for an anchor written against a wheel).
WHEEL_REWRITES: tuple[tuple[str, str], ...] = (
    ("python/", ""),  # SGLang: repo python/sglang/... is wheel sglang/...
    ("components/src/", ""),  # Dynamo: repo components/src/dynamo/... is wheel dynamo/...
    ("src/", ""),  # src-layout packages: repo src/pkg/... is wheel pkg/...
)


class CheckStatus(str, Enum):
    OK = "ok"  # the cited line holds the symbol (or a path#Symbol was found)
    DRIFTED = "drifted"  # the symbol is in the file, on another line
    MISSING_FILE = "missing_file"
    MISSING_SYMBOL = "missing_symbol"  # the file exists; the symbol is nowhere in it
    MISSING_LINE = "missing_line"  # no symbol to look for, and the file is too short
    NO_SYMBOL_TO_CHECK = "no_symbol_to_check"  # the line exists; nothing to compare
    UNREADABLE = "unreadable"  # a directory, a device, too large, permission denied
    ESCAPES_ROOT = "escapes_root"  # the path resolves outside its root: not read
    SKIPPED_DOC = "skipped_doc"  # a URL: never fetched
    SKIPPED_OTHER_REPO = "skipped_other_repo"  # another repo or version, not mapped


#: Statuses that make `verify` exit 1: the anchor as written cannot be trusted.
FAILING = frozenset({
    CheckStatus.DRIFTED, CheckStatus.MISSING_FILE, CheckStatus.MISSING_SYMBOL,
    CheckStatus.MISSING_LINE, CheckStatus.UNREADABLE, CheckStatus.ESCAPES_ROOT,
})
SKIPPED = frozenset({CheckStatus.SKIPPED_DOC, CheckStatus.SKIPPED_OTHER_REPO})


@dataclass(frozen=True)
class AnchorCheck:
    """The verdict on one anchor of one primitive."""

    primitive: str
    anchor: str  # as written in the descriptor
    descriptor_line: int
    status: CheckStatus
    symbol: str | None  # the text expected on the line, or the path#Symbol name
    expected_line: int | None  # the cited line; None for path#Symbol and doc anchors
    found_line: int | None  # where the symbol is (ok, drifted, path#Symbol)
    checked_path: str | None  # the file read, relative to its root (after rewrites)
    message: str

    @property
    def failed(self) -> bool:
        return self.status in FAILING

    def to_json(self) -> dict[str, Any]:
        return {
            "primitive": self.primitive,
            "anchor": self.anchor,
            "descriptor_line": self.descriptor_line,
            "status": self.status.value,
            "symbol": self.symbol,
            "expected_line": self.expected_line,
            "found_line": self.found_line,
            "checked_path": self.checked_path,
            "message": self.message,
        }


# ------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class _Found:
    """A located, readable source file split into lines (1-based via `lines[n - 1]`)."""

    relative: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class _NotFound:
    status: CheckStatus
    relative: str | None
    message: str


def quoted(text: str) -> str:
    """User or source text in a message: one line, escaped, long enough to recognise."""
    return _quoted(text, limit=100)


def candidate_paths(path: str) -> list[str]:
    """The path as written, then as in a wheel, then as in a checkout; no repeats."""
    candidates = [path]
    candidates += [wheel + path[len(repo):] for repo, wheel in WHEEL_REWRITES
                   if path.startswith(repo)]
    candidates += [repo + path[len(wheel):] for repo, wheel in WHEEL_REWRITES
                   if path.startswith(wheel)]
    return [c for i, c in enumerate(candidates) if c and c not in candidates[:i]]


def _split_lines(data: bytes) -> tuple[str, ...]:
    """Lines as `sed -n Np` counts them: split on LF only, CR dropped, bad bytes replaced."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return tuple(line.removesuffix("\r") for line in lines)


def _locate(root: Path, path: str) -> _Found | _NotFound:
    """Find `path` under `root` (already resolved), refusing anything that leaves it."""
    for relative in candidate_paths(path):
        joined = root / relative
        try:
            resolved = joined.resolve()
        except (OSError, RuntimeError) as error:  # a symlink loop
            return _NotFound(CheckStatus.UNREADABLE, relative,
                             f"cannot resolve {quoted(relative)}: {error}")
        if not resolved.is_relative_to(root):
            return _NotFound(
                CheckStatus.ESCAPES_ROOT, relative,
                f"{quoted(relative)} resolves outside {root}; not read",
            )
        try:
            info = resolved.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as error:
            return _NotFound(CheckStatus.UNREADABLE, relative,
                             f"cannot read {quoted(relative)}: {error.strerror or error}")
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            return _NotFound(CheckStatus.UNREADABLE, relative, f"{quoted(relative)} is {what}")
        if info.st_size > MAX_SOURCE_BYTES:
            return _NotFound(CheckStatus.UNREADABLE, relative,
                             f"{quoted(relative)} is {info.st_size:,} bytes; the limit is "
                             f"{MAX_SOURCE_BYTES:,}")
        try:
            with resolved.open("rb") as handle:
                data = handle.read(MAX_SOURCE_BYTES + 1)
        except OSError as error:
            return _NotFound(CheckStatus.UNREADABLE, relative,
                             f"cannot read {quoted(relative)}: {error.strerror or error}")
        if len(data) > MAX_SOURCE_BYTES:
            return _NotFound(CheckStatus.UNREADABLE, relative,
                             f"{quoted(relative)} is larger than {MAX_SOURCE_BYTES:,} bytes")
        return _Found(relative, _split_lines(data))
    tried = ", ".join(quoted(c) for c in candidate_paths(path))
    return _NotFound(CheckStatus.MISSING_FILE, None, f"no such file (tried {tried})")


# ------------------------------------------------------------------------ matching


def _occurrences(lines: tuple[str, ...], text: str) -> Iterator[int]:
    return (number for number, line in enumerate(lines, start=1) if text in line)


def _nearest(lines: tuple[str, ...], text: str, line: int) -> tuple[int | None, int]:
    """The occurrence of `text` closest to `line` (the earlier on a tie), and the count."""
    found = list(_occurrences(lines, text))
    if not found:
        return None, 0
    return min(found, key=lambda number: (abs(number - line), number)), len(found)


_WORD = r"(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"
_DEFINITION_TIERS = (
    r"\b(?:def|class|struct|enum|union|interface|trait|impl|fn|func|function|type"
    r"|namespace|module)\s+" + _WORD,
    _WORD + r"\s*\(",
    _WORD + r"\s*(?::[^=\n]*)?=(?!=)",
    _WORD,
)


def _definition(lines: tuple[str, ...], name: str, start: int) -> int | None:
    """The line (from `start`, 1-based) that best looks like where `name` is defined."""
    for tier in _DEFINITION_TIERS:
        pattern = re.compile(tier.format(re.escape(name)))
        for number in range(start, len(lines) + 1):
            if pattern.search(lines[number - 1]):
                return number
    return None


def find_symbol(lines: tuple[str, ...], symbol: str) -> int | None:
    """Resolve a `path#Symbol` target; `Outer.inner` / `ns::f` find each part in turn."""
    parts = [part for part in re.split(r"\.|::", symbol) if part]
    found: int | None = None
    start = 1
    for part in parts:
        found = _definition(lines, part, start)
        if found is None:
            return None
        start = found
    return found


# ------------------------------------------------------------------------ verify


def _root_for(
    anchor: Anchor, descriptor: Descriptor, source_root: Path, repo_roots: Mapping[str, Path]
) -> Path | None:
    """The tree an anchor is checked in: `REPO@VERSION` mapping, header, `REPO` mapping."""
    repo = (anchor.repo or "").casefold()  # GitHub names are case-insensitive; versions not
    by_key: dict[tuple[str, str | None], Path] = {}
    for key, root in repo_roots.items():
        name, at, version = key.partition("@")
        by_key[(name.strip().casefold(), version.strip() if at else None)] = root
    exact = by_key.get((repo, anchor.version))
    if exact is not None:
        return exact
    header = descriptor.runtime
    if repo == header.repo.casefold() and anchor.version == header.version:
        return source_root
    return by_key.get((repo, None))


def _check_lines(anchor: Anchor, found: _Found) -> tuple[CheckStatus, int | None, str]:
    lines = found.lines
    if anchor.line is None:  # path#Symbol
        symbol = anchor.symbol or ""
        at = find_symbol(lines, symbol)
        if at is None:
            return CheckStatus.MISSING_SYMBOL, None, f"{quoted(symbol)} not found in the file"
        return CheckStatus.OK, at, f"{quoted(symbol)} found on line {at}"
    line = anchor.line
    if anchor.symbol is None:
        if line <= len(lines):
            return CheckStatus.NO_SYMBOL_TO_CHECK, line, "line exists, nothing to compare"
        return (CheckStatus.MISSING_LINE, None,
                f"the file has {len(lines):,} lines; line {line:,} does not exist")
    symbol = anchor.symbol
    if line <= len(lines) and symbol in lines[line - 1]:
        return CheckStatus.OK, line, f"{quoted(symbol)} on line {line}"
    at, count = _nearest(lines, symbol, line)
    if at is None:
        return CheckStatus.MISSING_SYMBOL, None, f"{quoted(symbol)} is nowhere in the file"
    shift = f"{at - line:+d}"
    others = f", the nearest of {count} occurrences" if count > 1 else ""
    return (CheckStatus.DRIFTED, at,
            f"{quoted(symbol)} is on line {at} ({shift}{others}), not {line}; "
            f"cite {found.relative}:{at}")


def _check(
    primitive: str, anchor: Anchor, descriptor: Descriptor, source_root: Path,
    repo_roots: Mapping[str, Path], cache: dict[tuple[Path, str], _Found | _NotFound],
) -> AnchorCheck:
    def result(status: CheckStatus, found_line: int | None, checked: str | None,
               message: str) -> AnchorCheck:
        return AnchorCheck(primitive, anchor.text, anchor.line_in_descriptor, status,
                           anchor.symbol, anchor.line, found_line, checked, message)

    if anchor.kind is AnchorKind.DOC or anchor.path is None:
        return result(CheckStatus.SKIPPED_DOC, None, None, "documentation URL, not fetched")
    root = _root_for(anchor, descriptor, source_root, repo_roots)
    if root is None:
        where = f"{anchor.repo}@{anchor.version}"
        header = f"{descriptor.runtime.repo}@{descriptor.runtime.version}"
        same_repo = (anchor.repo or "").casefold() == descriptor.runtime.repo.casefold()
        return result(CheckStatus.SKIPPED_OTHER_REPO, None, None,
                      f"{where} is not the header's {header}; map it with --repo-root "
                      f"{where if same_repo else anchor.repo}=DIR")
    key = (root, anchor.path)
    if key not in cache:
        cache[key] = _locate(root, anchor.path)
    located = cache[key]
    if isinstance(located, _NotFound):
        return result(located.status, None, located.relative, located.message)
    status, found_line, message = _check_lines(anchor, located)
    if located.relative != anchor.path:
        message += f" (read as {located.relative})"
    return result(status, found_line, located.relative, message)


def _resolved_root(root: str | os.PathLike[str]) -> Path:
    shown = os.fspath(root)
    path = Path(shown)
    if not path.is_dir():
        raise InputError(shown, "no such directory" if not path.exists() else
                         "is not a directory",
                         hint="give an unpacked wheel or a checkout at the pinned version")
    return path.resolve()


def verify(
    descriptor: Descriptor,
    source_root: str | os.PathLike[str],
    *,
    repo_roots: Mapping[str, str | os.PathLike[str]] | None = None,
) -> list[AnchorCheck]:
    """Check every anchor of `descriptor`, in primitive and anchor order.

    `source_root` holds the runtime header's repository at its version; `repo_roots`
    maps `REPO` or `REPO@VERSION` to the tree for anchors into other repositories or
    versions.  Raises `InputError` when a root is not a directory.
    """
    root = _resolved_root(source_root)
    mapped = {key: _resolved_root(path) for key, path in (repo_roots or {}).items()}
    cache: dict[tuple[Path, str], _Found | _NotFound] = {}
    return [
        _check(primitive.name, anchor, descriptor, root, mapped, cache)
        for primitive in descriptor.primitives
        for anchor in primitive.anchors
    ]


def counts(checks: list[AnchorCheck]) -> dict[str, int]:
    """Every status (zeros included, enum order), so reports have a fixed shape."""
    tally = Counter(check.status for check in checks)
    return {status.value: tally[status] for status in CheckStatus}


# ------------------------------------------------------------------------ command


def _repo_roots(specs: tuple[str, ...]) -> dict[str, str]:
    roots: dict[str, str] = {}
    for spec in specs:
        repo, sep, directory = spec.partition("=")
        if not sep or not repo.strip() or not directory:
            raise InputFailure(f"error: --repo-root takes REPO=DIR (or REPO@VERSION=DIR), "
                               f"got {spec!r}")
        roots[repo.strip()] = directory
    return roots


def _text_report(path: str, descriptor: Descriptor, checks: list[AnchorCheck]) -> None:
    runtime = descriptor.runtime
    click.echo(f"{path}: runtime {runtime.repo}@{runtime.version}")
    for check in checks:
        click.echo(f"{path}:{check.descriptor_line}: {check.status.value}: "
                   f"{check.primitive}: {check.anchor}: {check.message}")
    click.echo(f"{path}: {_summary(checks)}")


def _summary(checks: list[AnchorCheck]) -> str:
    tally = counts(checks)
    parts = [f"{n} {status}" for status, n in tally.items() if n]
    return f"{len(checks)} anchors: " + (", ".join(parts) if parts else "none")


@click.group(name="anchors")
def anchors_group() -> None:
    """Check descriptors' anchors against source trees."""


@anchors_group.command(name="verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--source-root", required=True, metavar="DIR",
              help="The runtime header's repository at its version: an unpacked wheel "
              "or a checkout.")
@click.option("--repo-root", "repo_root_specs", multiple=True, metavar="REPO=DIR",
              help="A tree for anchors into another repository (REPO or REPO@VERSION); "
              "repeatable.  Unmapped ones are skipped.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def verify_command(files: tuple[str, ...], source_root: str,
                   repo_root_specs: tuple[str, ...], fmt: str) -> None:
    """Check every anchor of each descriptor FILE against the source tree.

    Exit 0 when every checked anchor holds; 1 when one drifted (the new line is
    reported) or its file or symbol is missing; 2 for input errors.
    """
    repo_roots = _repo_roots(repo_root_specs)
    results: list[tuple[str, Descriptor, list[AnchorCheck]]] = []
    for path in files:
        try:
            descriptor = pipeline.load(path)
            results.append((path, descriptor,
                            verify(descriptor, source_root, repo_roots=repo_roots)))
        except RkvError as error:
            raise InputFailure(error.render()) from error
    every = [check for _, _, checks in results for check in checks]
    if fmt == "json":
        document = {
            "schema": SCHEMA,
            "source_root": source_root,
            "repo_roots": dict(sorted(repo_roots.items())),
            "files": [
                {
                    "path": path,
                    "runtime": {"repo": d.runtime.repo, "version": d.runtime.version},
                    "anchors": [check.to_json() for check in checks],
                    "counts": counts(checks),
                }
                for path, d, checks in results
            ],
            "counts": counts(every),
            "passed": not any(check.failed for check in every),
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        for path, descriptor, checks in results:
            _text_report(path, descriptor, checks)
        if len(results) > 1:
            click.echo(f"total: {_summary(every)}")
    sys.exit(1 if any(check.failed for check in every) else 0)
