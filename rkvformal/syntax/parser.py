"""Text to AST: the Lark LALR parser for `.rkv` descriptors, with readable errors.

The grammar (package data `rkvformal/data/rkv.lark`, a link to `grammar/rkv.lark`)
accepts any identifier where a name goes; checking names against the vocabularies is
validation's job.  This module only turns text into positioned AST nodes and turns every
Lark failure, oversized input or undecodable byte into a `DescriptorError` or
`InputError`, so no input can produce a Python traceback.

Conventions: spans are 1-based.  A declaration's or statement's span is its leading
keyword (for rows: the `lowering`/`substrate` word); an anchor's span is its target
string, the part a user has to fix; a name's span is the name itself.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from rkvformal.errors import DescriptorError, InputError, one_of
from rkvformal.syntax.ast import (
    ActiveDecl,
    AnchorDecl,
    BundleAtom,
    BundleDecl,
    ClaimDecl,
    Expectation,
    Field,
    IntStmt,
    Name,
    Param,
    ParamValue,
    PredicateDecl,
    PrimitiveDecl,
    RowDecl,
    RuntimeDecl,
    ScenarioDecl,
    SourceFile,
    Span,
)

MAX_FILE_BYTES = 1024 * 1024
MAX_LINE_CHARS = 10_000
MAX_ABS_INT = 10**9

#: Words of the grammar; none may name a declared runtime, primitive, row, scenario,
#: claim, active request or bundle (a test checks this matches the grammar).
RESERVED_KEYWORDS = frozenset({
    "runtime", "primitive", "kind", "provenance", "param", "anchor", "symbol", "note",
    "lowering", "substrate", "mode", "via", "assume", "scenario", "expect", "because",
    "usable", "claim", "active", "footprint", "predicate", "priority", "duration",
    "demand", "bundle", "includes",
})

_VALUE_WORDS = {
    "NAME": "a name",
    "STRING": "a quoted string",
    "INT": "a number",
    "$END": "end of file",
}
_ROW_KIND_WORDS = ("'lowering'", "'substrate'")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_LIST_KEYWORD = re.compile(r"\b(via|assume|because|includes)\b")
_BRACE_SCAN = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|[{}]')
_TRAILING_SCENARIO_CLAUSE = re.compile(r"\bscenario\s+[A-Za-z_][A-Za-z0-9_]*\s*$")
_DISPLAY_LIMIT = 40
_WORD_ALTERNATION = re.compile(r"\(\?:((?:[a-z_]+\|)+[a-z_]+)\)")


@cache
def _lark() -> Lark:
    """The one parser instance: building the LALR tables is the slow part."""
    grammar = resources.files("rkvformal.data").joinpath("rkv.lark")
    return Lark(
        grammar.read_text(encoding="utf-8"), parser="lalr", propagate_positions=True
    )


@cache
def _keyword_terminals() -> dict[str, str]:
    """Terminal name -> literal text, for the grammar's fixed-string terminals."""
    return {
        term.name: term.pattern.value
        for term in _lark().terminals
        if term.pattern.type == "str"
    }


def grammar_keywords() -> frozenset[str]:
    """Every word the grammar spells out: string literals and word alternations
    such as ROW_KIND ("lowering" | "substrate")."""
    words = {text for text in _keyword_terminals().values() if text.isidentifier()}
    for term in _lark().terminals:
        alternation = _WORD_ALTERNATION.fullmatch(term.pattern.value)
        if term.pattern.type == "re" and alternation:
            words.update(alternation.group(1).split("|"))
    return frozenset(words)


# ---------------------------------------------------------------------------- input


def parse_text(text: str, path: str) -> SourceFile:
    """Parse descriptor text; `path` is only used to label errors.

    Raises `InputError` for oversized input and `DescriptorError` for the first syntax
    problem (parsing cannot continue past it).
    """
    _check_text(text, path)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(error, text, path) from None
    except LarkError as error:
        raise DescriptorError.at(path, text, 1, 1, f"cannot parse: {error}") from None
    return _Builder(path, text).source_file(tree)


def parse_file(
    path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None
) -> SourceFile:
    """Read, decode and parse one descriptor file.

    With `root`, the file must resolve to a location inside that directory (so a
    descriptor list cannot make the tool read arbitrary files).
    """
    shown = os.fspath(path)
    data = _read_bytes(Path(shown), shown, root)
    return parse_text(_decode(data, shown), shown)


def _read_bytes(
    path: Path, shown: str, root: str | os.PathLike[str] | None
) -> bytes:
    """Read at most the size limit (plus one byte to detect overflow) from a file."""
    if root is not None:
        base = Path(root).resolve()
        if not path.resolve().is_relative_to(base):
            raise InputError(
                shown,
                f"path escapes the directory {os.fspath(root)!r}",
                hint="give a descriptor inside that directory, without '..' or links "
                "pointing out of it",
            )
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError(shown, "is a directory, not a descriptor file",
                             hint="pass the .rkv file itself")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(shown, "is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _too_large(shown, info.st_size)
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(shown, "no such file", hint="check the path") from None
    except PermissionError:
        raise InputError(shown, "permission denied") from None
    except OSError as error:
        raise InputError(shown, f"cannot read file: {error.strerror or error}") from None
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(shown, len(data))
    return data


def _too_large(shown: str, size: int) -> InputError:
    return InputError(
        shown,
        f"file is {size:,} bytes; the limit is 1 MiB ({MAX_FILE_BYTES:,} bytes)",
        hint="a descriptor is a short list of primitives and rows; is this the right "
        "file?",
    )


def _decode(data: bytes, shown: str) -> str:
    """Strict UTF-8 (a leading byte-order mark is allowed and dropped)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        start = error.start
        line_start = data.rfind(b"\n", 0, start) + 1
        line_end = data.find(b"\n", start)
        line_end = len(data) if line_end < 0 else line_end
        prefix = data[line_start:start].decode("utf-8", "replace")
        raise DescriptorError(
            shown,
            data.count(b"\n", 0, start) + 1,
            len(prefix) + 1,
            f"invalid UTF-8 byte 0x{data[start]:02x}",
            hint="descriptors are UTF-8 text; re-save the file as UTF-8",
            source_line=data[line_start:line_end].decode("utf-8", "replace").rstrip("\r"),
        ) from None


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _check_text(text: str, path: str) -> None:
    """Bounded, NUL-free input before Lark sees it (its errors would be unreadable)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise _too_large(path, size)
    nul = text.find("\0")
    if nul >= 0:
        line, column = _position(text, nul)
        raise DescriptorError.at(
            path, text, line, column, "NUL byte in descriptor",
            hint="descriptors are UTF-8 text; this looks like a binary or UTF-16 file",
        )
    for number, line_text in enumerate(text.split("\n"), start=1):
        length = len(line_text.rstrip("\r"))
        if length > MAX_LINE_CHARS:
            raise DescriptorError.at(
                path, text, number, MAX_LINE_CHARS + 1,
                f"line is {length:,} characters long; the limit is {MAX_LINE_CHARS:,}",
                hint="break it up; a long note can be split into several 'note' "
                "statements",
            )


# --------------------------------------------------------------------- syntax errors


def _accepted(error: UnexpectedInput) -> set[str]:
    """Terminals the parser could really take here.

    LALR merges look-ahead sets, so `expected` can list tokens that would fail one
    reduction later; asking the interactive parser gives the exact set.
    """
    parser = getattr(error, "interactive_parser", None)
    if parser is not None:
        try:
            return set(parser.accepts())
        except LarkError:
            pass
    return set(getattr(error, "expected", None) or getattr(error, "allowed", None) or ())


def describe_expected(terminals: Iterable[str]) -> str | None:
    """Terminal names in words: keywords, then punctuation, then classes, then EOF."""
    literals = _keyword_terminals()
    keywords: set[str] = set()
    punctuation: set[str] = set()
    classes: list[str] = []
    for name in terminals:
        if name == "ROW_KIND":
            keywords.update(_ROW_KIND_WORDS)
        elif name in literals:
            text = literals[name]
            (keywords if text.isidentifier() else punctuation).add(f"'{text}'")
        elif name != "$END":
            classes.append(_VALUE_WORDS.get(name, name.lower()))
    words = sorted(keywords) + sorted(punctuation) + sorted(classes)
    if "$END" in terminals:
        words.append(_VALUE_WORDS["$END"])
    return one_of(words) if words else None


def _shown(text: str) -> str:
    """A token inside a message: control characters escaped, long tokens cut."""
    text = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return text if len(text) <= _DISPLAY_LIMIT else text[: _DISPLAY_LIMIT - 3] + "..."


def _describe_token(token: Token) -> str:
    if token.type == "STRING":
        return f"string {_shown(token.value)}"
    if token.type == "INT":
        return f"number {_shown(token.value)}"
    return f"'{_shown(token.value)}'"


def _end_position(text: str) -> tuple[int, int]:
    """Just after the last non-blank character: where the missing text would go."""
    end = len(text.rstrip())
    return _position(text, end) if end else (1, 1)


def _unclosed_brace(text: str) -> tuple[int, int] | None:
    """Where the innermost still-open `{` is, ignoring strings and comments."""
    opened: list[int] = []
    for match in _BRACE_SCAN.finditer(text):
        if match.group() == "{":
            opened.append(match.start())
        elif match.group() == "}" and opened:
            opened.pop()
    return _position(text, opened[-1]) if opened else None


def _eof_hint(text: str, accepted: set[str]) -> str | None:
    brace = _unclosed_brace(text)
    if "RBRACE" in accepted and brace is not None:
        return f"add '}}' to close the block opened at line {brace[0]}, column {brace[1]}"
    if accepted == {"NAME"}:
        return "the file ends where a name is needed"
    return None


def _token_hint(token: Token, accepted: set[str], before: str) -> str | None:
    """The obvious fix for a misplaced token, when there is one."""
    keyword = _keyword_terminals().get(token.type)
    if token.type == "NAME" and "COMMA" in accepted:
        found = list(_LIST_KEYWORD.finditer(before))
        word = found[-1].group() if found else "via"
        return f"'{word}' takes a comma-separated list, for example: {word} a, b"
    if keyword is not None and keyword.isidentifier() and "NAME" in accepted:
        return f"'{keyword}' is a reserved keyword and cannot be used as a name"
    if token.type == "LBRACE" and _TRAILING_SCENARIO_CLAUSE.search(before):
        return (
            "right after a row, 'scenario NAME' is read as the row's scenario clause; "
            "declare scenario blocks before the rows that follow them, or end the row "
            "with 'expect CLASS'"
        )
    if token.type == "BECAUSE":
        return "'because' follows 'expect CLASS': expect rejected_mapping because ATOM"
    if token.type == "SYMBOL":
        return "'symbol' follows an anchor: anchor \"path:line\" symbol \"text\""
    if token.type == "RBRACE" and "EQUAL" in accepted:
        return "a parameter needs a value: param NAME = VALUE"
    return None


def _character_error(
    error: UnexpectedCharacters, text: str
) -> tuple[str, str | None]:
    char = error.char
    if char == '"':
        return "unterminated string", (
            "close the string with '\"' on the same line (write \\\" for a quote "
            "inside it)"
        )
    if char == "'":
        return "unexpected character \"'\"", "strings use double quotes: \"text\""
    if char.isprintable() and not char.isspace():
        return f"unexpected character '{char}'", None
    return f"unexpected character U+{ord(char):04X}", None


def _syntax_error(error: UnexpectedInput, text: str, path: str) -> DescriptorError:
    """One Lark failure as a located, worded DescriptorError."""
    accepted = _accepted(error)
    expected = describe_expected(accepted)
    token = getattr(error, "token", None)
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and token is not None and token.type == "$END"
    ):
        line, column = _end_position(text)
        return DescriptorError.at(
            path, text, line, column, "unexpected end of file", expected,
            _eof_hint(text, accepted),
        )
    if isinstance(error, UnexpectedToken) and token is not None:
        offset = token.start_pos if token.start_pos is not None else 0
        return DescriptorError.at(
            path, text, token.line or 1, token.column or 1,
            f"unexpected {_describe_token(token)}", expected,
            _token_hint(token, accepted, text[:offset]),
        )
    if isinstance(error, UnexpectedCharacters):
        message, hint = _character_error(error, text)
        return DescriptorError.at(
            path, text, error.line, error.column, message, expected, hint
        )
    line = error.line if isinstance(error.line, int) and error.line > 0 else 1
    column = error.column if isinstance(error.column, int) and error.column > 0 else 1
    return DescriptorError.at(path, text, line, column, "syntax error", expected)


# --------------------------------------------------------------------- tree -> AST


def _token_span(token: Token) -> Span:
    return Span(token.line or 1, token.column or 1)


def _tree_span(tree: Tree) -> Span:
    meta = tree.meta
    if meta.empty:
        return Span(1, 1)
    return Span(meta.line, meta.column)


def _tokens(tree: Tree) -> list[Token]:
    return [child for child in tree.children if isinstance(child, Token)]


def _subtrees(tree: Tree) -> list[Tree]:
    return [child for child in tree.children if isinstance(child, Tree)]


class _Builder:
    """Turns one Lark tree into AST nodes; raises on the few things the grammar allows
    but the AST cannot hold (reserved names, huge numbers, bad escapes, repeated
    single-valued statements)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, span: Span, message: str, expected: str | None = None,
             hint: str | None = None) -> DescriptorError:
        return DescriptorError.at(
            self.path, self.text, span.line, span.column, message, expected, hint
        )

    # -- tokens

    def name(self, token: Token) -> Name:
        return Name(str(token), _token_span(token))

    def declared(self, token: Token, what: str) -> Name:
        """A name being declared: must not be a keyword of the language."""
        name = self.name(token)
        if name.text in RESERVED_KEYWORDS:
            raise self.fail(
                name.span,
                f"'{name.text}' is a reserved keyword and cannot name a {what}",
                "a name that is not a keyword",
                f"pick another name, such as '{name.text}_1'",
            )
        return name

    def integer(self, token: Token) -> int:
        """An INT token, refusing absurd sizes before converting it."""
        text = str(token)
        digits = text.lstrip("-").lstrip("0") or "0"
        if len(digits) > len(str(MAX_ABS_INT)) or int(digits) > MAX_ABS_INT:
            shown = text if len(text) <= 20 else f"{text[:12]}... ({len(digits)} digits)"
            raise self.fail(
                _token_span(token),
                f"number {shown} is out of range",
                f"a number between -{MAX_ABS_INT:,} and {MAX_ABS_INT:,}",
                "block counts, priorities and line numbers are far smaller than this",
            )
        return int(text)

    def string(self, token: Token) -> str:
        """Unquote a STRING token; escapes are \\" \\\\ \\n \\t and nothing else."""
        body = str(token)[1:-1]
        out: list[str] = []
        index = 0
        while index < len(body):
            char = body[index]
            if char != "\\":
                out.append(char)
                index += 1
                continue
            escaped = body[index + 1]
            if escaped not in _ESCAPES:
                span = Span(token.line or 1, (token.column or 1) + 1 + index)
                raise self.fail(
                    span, f"unknown escape '\\{escaped}' in string",
                    one_of(["\\\"", "\\\\", "\\n", "\\t"]),
                    "write '\\\\' for a backslash",
                )
            out.append(_ESCAPES[escaped])
            index += 2
        return "".join(out)

    def name_list(self, tree: Tree) -> tuple[Name, ...]:
        return tuple(self.name(token) for token in _tokens(tree))

    # -- items

    def source_file(self, tree: Tree) -> SourceFile:
        runtimes: list[RuntimeDecl] = []
        primitives: list[PrimitiveDecl] = []
        rows: list[RowDecl] = []
        scenarios: list[ScenarioDecl] = []
        bundles: list[BundleDecl] = []
        for item in _subtrees(tree):
            if item.data == "runtime":
                runtimes.append(self.runtime(item))
            elif item.data == "primitive":
                primitives.append(self.primitive(item))
            elif item.data == "row":
                rows.append(self.row(item))
            elif item.data == "scenario":
                scenarios.append(self.scenario(item))
            elif item.data == "bundle":
                bundles.append(self.bundle(item))
        return SourceFile(
            path=self.path,
            text=self.text,
            runtimes=tuple(runtimes),
            primitives=tuple(primitives),
            rows=tuple(rows),
            scenarios=tuple(scenarios),
            bundles=tuple(bundles),
        )

    def runtime(self, tree: Tree) -> RuntimeDecl:
        name = self.declared(_tokens(tree)[0], "runtime")
        fields = []
        for field in _subtrees(tree):
            key, value = _tokens(field)
            fields.append(Field(self.name(key), self.string(value), _token_span(key)))
        return RuntimeDecl(name, tuple(fields), _tree_span(tree))

    def primitive(self, tree: Tree) -> PrimitiveDecl:
        name = self.declared(_tokens(tree)[0], "primitive")
        single: dict[str, Name] = {}
        params: list[Param] = []
        anchors: list[AnchorDecl] = []
        notes: list[str] = []
        for stmt in _subtrees(tree):
            tokens = _tokens(stmt)
            if stmt.data in ("kind", "provenance"):
                if stmt.data in single:
                    first = single[stmt.data].span.line
                    raise self.fail(
                        _tree_span(stmt),
                        f"duplicate '{stmt.data}' in primitive '{name.text}'",
                        hint=f"a primitive has one {stmt.data}; the first is on line "
                        f"{first}",
                    )
                single[stmt.data] = self.name(tokens[0])
            elif stmt.data == "param":
                value = self.param_value(_subtrees(stmt)[0])
                params.append(Param(self.name(tokens[0]), value, _tree_span(stmt)))
            elif stmt.data == "anchor":
                symbol = self.string(tokens[1]) if len(tokens) > 1 else None
                anchors.append(
                    AnchorDecl(self.string(tokens[0]), symbol, _token_span(tokens[0]))
                )
            elif stmt.data == "note":
                notes.append(self.string(tokens[0]))
        return PrimitiveDecl(
            name=name,
            kind=single.get("kind"),
            provenance=single.get("provenance"),
            params=tuple(params),
            anchors=tuple(anchors),
            notes=tuple(notes),
            span=_tree_span(tree),
        )

    def param_value(self, tree: Tree) -> ParamValue:
        token = _tokens(tree)[0]
        span = _token_span(token)
        if tree.data == "int_value":
            return ParamValue(self.integer(token), False, span)
        if tree.data == "string_value":
            return ParamValue(self.string(token), False, span)
        return ParamValue(str(token), True, span)

    def row(self, tree: Tree) -> RowDecl:
        kind_token, name_token, mode_token = _tokens(tree)
        via: tuple[Name, ...] = ()
        assume: tuple[Name, ...] = ()
        scenario: Name | None = None
        expect: Expectation | None = None
        for part in _subtrees(tree):
            if part.data == "name_list":
                via = self.name_list(part)
            elif part.data == "assume":
                assume = self.name_list(_subtrees(part)[0])
            elif part.data == "use_scenario":
                scenario = self.name(_tokens(part)[0])
            elif part.data == "expectation":
                expect = self.expectation(part)
        return RowDecl(
            kind=self.name(kind_token),
            name=self.declared(name_token, "row"),
            mode=self.name(mode_token),
            via=via,
            assume=assume,
            scenario=scenario,
            expect=expect,
            span=_token_span(kind_token),
        )

    def expectation(self, tree: Tree) -> Expectation:
        because: tuple[Name, ...] = ()
        for part in _subtrees(tree):
            because = self.name_list(_subtrees(part)[0])
        return Expectation(self.name(_tokens(tree)[0]), because, _tree_span(tree))

    def int_stmt(self, tree: Tree) -> IntStmt:
        return IntStmt(str(tree.data), self.integer(_tokens(tree)[0]), _tree_span(tree))

    def scenario(self, tree: Tree) -> ScenarioDecl:
        name = self.declared(_tokens(tree)[0], "scenario")
        usable: list[IntStmt] = []
        claims: list[ClaimDecl] = []
        actives: list[ActiveDecl] = []
        for stmt in _subtrees(tree):
            if stmt.data == "usable":
                usable.append(self.int_stmt(stmt))
            elif stmt.data == "claim":
                claims.append(self.claim(stmt))
            elif stmt.data == "active":
                actives.append(self.active(stmt))
        return ScenarioDecl(
            name, tuple(usable), tuple(claims), tuple(actives), _tree_span(tree)
        )

    def claim(self, tree: Tree) -> ClaimDecl:
        name = self.declared(_tokens(tree)[0], "claim")
        numbers: list[IntStmt] = []
        predicate: PredicateDecl | None = None
        for stmt in _subtrees(tree):
            if stmt.data != "predicate":
                numbers.append(self.int_stmt(stmt))
                continue
            if predicate is not None:
                raise self.fail(
                    _tree_span(stmt),
                    f"duplicate 'predicate' in claim '{name.text}'",
                    hint=f"a claim has one predicate; the first is on line "
                    f"{predicate.span.line}",
                )
            kind, *args = _tokens(stmt)
            predicate = PredicateDecl(
                self.name(kind),
                tuple(self.integer(arg) for arg in args),
                _tree_span(stmt),
            )
        return ClaimDecl(name, tuple(numbers), predicate, _tree_span(tree))

    def active(self, tree: Tree) -> ActiveDecl:
        name = self.declared(_tokens(tree)[0], "active request")
        numbers = tuple(self.int_stmt(stmt) for stmt in _subtrees(tree))
        return ActiveDecl(name, numbers, _tree_span(tree))

    def bundle(self, tree: Tree) -> BundleDecl:
        name = self.declared(_tokens(tree)[0], "bundle")
        includes: tuple[Name, ...] = ()
        atoms: list[BundleAtom] = []
        for part in _subtrees(tree):
            if part.data == "name_list":
                includes = self.name_list(part)
            elif part.data == "bundle_atom":
                tokens = _tokens(part)
                qualifier = self.name(tokens[1]) if len(tokens) > 1 else None
                atoms.append(BundleAtom(self.name(tokens[0]), qualifier, _tree_span(part)))
        return BundleDecl(name, includes, tuple(atoms), _tree_span(tree))
