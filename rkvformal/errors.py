"""Errors a user can act on: where the problem is, what was expected, how to fix it.

Every failure a descriptor author can cause is an `RkvError` with a `render()` that
prints a compiler-style message with a caret under the offending column, so the CLI
never has to show a Python traceback for bad input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence

# A source line longer than this is shown as a window around the caret.
_SHOWN_WIDTH = 160
_SHOWN_BEFORE = 80


class RkvError(Exception):
    """Base of every error rkvformal reports to a user (never an internal bug)."""

    def render(self) -> str:
        return str(self)


def quoted(text: str, limit: int = 60) -> str:
    """User text inside a message: quoted, one line, control characters escaped."""
    escaped = "".join(
        char if char.isprintable() else repr(char)[1:-1] for char in text
    )
    if len(escaped) > limit:
        escaped = escaped[: limit - 3] + "..."
    return f"'{escaped}'"


def _visible(line: str) -> str:
    """Replace tabs and control characters by one printable character each.

    One character in, one character out, so the caret stays under the column.
    """
    out = []
    for char in line:
        if char == "\t":
            out.append(" ")
        elif ord(char) < 0x20 or ord(char) == 0x7F or 0xD800 <= ord(char) <= 0xDFFF:
            out.append("?")
        else:
            out.append(char)
    return "".join(out)


def _window(line: str, column: int) -> tuple[str, int]:
    """Cut a very long source line down to the part around `column` (1-based)."""
    if len(line) <= _SHOWN_WIDTH:
        return line, column
    start = max(0, column - 1 - _SHOWN_BEFORE)
    shown = line[start : start + _SHOWN_WIDTH]
    prefix = "..." if start else ""
    suffix = "..." if start + _SHOWN_WIDTH < len(line) else ""
    return prefix + shown + suffix, column - start + len(prefix)


def source_line_of(text: str, line: int) -> str | None:
    """The 1-based `line` of `text` without its line ending, or None if out of range."""
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        return lines[line - 1].rstrip("\r")
    return None


class DescriptorError(RkvError):
    """One problem at one place in a descriptor (syntax or meaning)."""

    def __init__(
        self,
        path: str,
        line: int,
        column: int,
        message: str,
        expected: str | None = None,
        hint: str | None = None,
        source_line: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        self.expected = expected
        self.hint = hint
        self.source_line = source_line
        super().__init__(self.header)

    @classmethod
    def at(
        cls,
        path: str,
        text: str,
        line: int,
        column: int,
        message: str,
        expected: str | None = None,
        hint: str | None = None,
    ) -> DescriptorError:
        """Build an error, taking the quoted source line from the file's text."""
        return cls(path, line, column, message, expected, hint, source_line_of(text, line))

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions pickle through `args`; ours has richer constructor arguments.
        return (
            type(self),
            (
                self.path,
                self.line,
                self.column,
                self.message,
                self.expected,
                self.hint,
                self.source_line,
            ),
        )

    @property
    def header(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: error: {self.message}"

    @property
    def sort_key(self) -> tuple[int, int, str]:
        return (self.line, self.column, self.message)

    def render(self) -> str:
        lines = [self.header]
        if self.source_line is not None:
            shown, column = _window(_visible(self.source_line), max(1, self.column))
            number = str(self.line)
            width = max(5, len(number))
            lines.append(f"{number:>{width}} | {shown}".rstrip())
            lines.append(f"{'':>{width}} | {' ' * (column - 1)}^")
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.hint is not None:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class DescriptorErrors(RkvError):
    """Every problem found in one file, in source order."""

    def __init__(self, errors: Iterable[DescriptorError]) -> None:
        self.errors: tuple[DescriptorError, ...] = tuple(
            sorted(errors, key=lambda error: error.sort_key)
        )
        count = len(self.errors)
        first = self.errors[0].header if self.errors else "no errors"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(first + more)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.errors,))

    def __iter__(self) -> Iterator[DescriptorError]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def render(self) -> str:
        return "\n".join(error.render() for error in self.errors)


class InputError(RkvError):
    """A file that cannot be read as a descriptor at all (missing, too big, ...)."""

    def __init__(self, path: str, message: str, hint: str | None = None) -> None:
        self.path = path
        self.message = message
        self.hint = hint
        super().__init__(f"{path}: error: {message}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.path, self.message, self.hint))

    def render(self) -> str:
        lines = [f"{self.path}: error: {self.message}"]
        if self.hint is not None:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


def one_of(choices: Sequence[str]) -> str:
    """Phrase a closed list for an `expected:` line."""
    if not choices:
        return "nothing (none are defined)"
    if len(choices) == 1:
        return choices[0]
    return "one of " + ", ".join(choices)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A spelling hint for a near miss, or None when nothing is close."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None


class ErrorCollector:
    """Gathers every problem in one file so validation can report them all at once."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.errors: list[DescriptorError] = []

    def add(
        self,
        line: int,
        column: int,
        message: str,
        expected: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.errors.append(
            DescriptorError.at(self.path, self.text, line, column, message, expected, hint)
        )

    def raise_if_any(self) -> None:
        if self.errors:
            raise DescriptorErrors(self.errors)


class InputFailure(Exception):
    """A usage or input error, already rendered for the user (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
