"""Parser tests: the AST it builds, and every syntax or input error it can raise.

Each error test pins the message, the exact line:column and the caret line, because
those are what a descriptor author reads.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from rkvformal.errors import DescriptorError, DescriptorErrors, InputError, RkvError
from rkvformal.syntax.ast import Span
from rkvformal.syntax.parser import (
    MAX_FILE_BYTES,
    MAX_LINE_CHARS,
    RESERVED_KEYWORDS,
    grammar_keywords,
    parse_file,
    parse_text,
)

PATH = "models/t.rkv"

VALID = """\
# a comment before anything
runtime rt { name "Runtime" repo "org/rt" version "v1.0" }  # trailing comment
primitive prio {
    kind eviction_priority   # the kind
    provenance native
    param default = 40
    param clock = from_release
    param label = "x"
    anchor "src/a.py:10" symbol "def f"
    anchor "https://docs.example.org/x"
    note "say \\"hi\\" \\\\ there\\n"
}
scenario canonical {
    usable 80
    claim resident { footprint 60 predicate leading_prefix_at_least(60) priority 9 }
    active bulky { demand 70 }
}
lowering row_a mode soft_priority via prio, other assume single_claim
    scenario canonical expect rejected_mapping because priority_order, no_silent_loss
substrate row_b mode best_effort via prio
bundle demotable includes best_effort { release_before_loss(demotion) }
"""


def caret_line(column: int) -> str:
    return "      | " + " " * (column - 1) + "^"


def syntax_error(text: str) -> DescriptorError:
    with pytest.raises(DescriptorError) as caught:
        parse_text(text, PATH)
    return caught.value


def check(error: DescriptorError, line: int, column: int, message: str) -> None:
    assert message in error.message
    assert (error.line, error.column) == (line, column)
    rendered = error.render()
    assert rendered.startswith(f"{PATH}:{line}:{column}: error: ")
    assert caret_line(column) in rendered.splitlines()


# ---------------------------------------------------------------------- AST


def test_valid_descriptor_builds_positioned_ast() -> None:
    source = parse_text(VALID, PATH)
    assert source.path == PATH and source.text == VALID
    (runtime,) = source.runtimes
    assert runtime.name.text == "rt" and runtime.span == Span(2, 1)
    assert [(f.key.text, f.value) for f in runtime.fields] == [
        ("name", "Runtime"), ("repo", "org/rt"), ("version", "v1.0"),
    ]
    (prim,) = source.primitives
    assert prim.name.text == "prio" and prim.name.span == Span(3, 11)
    assert prim.kind is not None and prim.kind.text == "eviction_priority"
    assert prim.kind.span == Span(4, 10)
    assert prim.provenance is not None and prim.provenance.text == "native"
    values = [(p.key.text, p.value.value, p.value.is_name) for p in prim.params]
    assert values == [
        ("default", 40, False), ("clock", "from_release", True), ("label", "x", False),
    ]
    assert prim.params[0].span == Span(6, 5)
    assert prim.params[0].value.span == Span(6, 21)
    assert [(a.target, a.symbol, a.span) for a in prim.anchors] == [
        ("src/a.py:10", "def f", Span(9, 12)),
        ("https://docs.example.org/x", None, Span(10, 12)),
    ]
    assert prim.notes == ('say "hi" \\ there\n',)


def test_scenario_row_and_bundle_nodes() -> None:
    source = parse_text(VALID, PATH)
    (scenario,) = source.scenarios
    assert scenario.span == Span(13, 1)
    assert [(s.keyword, s.value, s.span) for s in scenario.usable] == [
        ("usable", 80, Span(14, 5)),
    ]
    (claim,) = scenario.claims
    assert [(n.keyword, n.value) for n in claim.numbers] == [
        ("footprint", 60), ("priority", 9),
    ]
    assert claim.predicate is not None
    assert claim.predicate.kind.text == "leading_prefix_at_least"
    assert claim.predicate.args == (60,) and claim.predicate.span == Span(15, 35)
    (active,) = scenario.actives
    assert active.name.text == "bulky" and active.numbers[0].value == 70

    row_a, row_b = source.rows
    assert (row_a.kind.text, row_a.name.text, row_a.mode.text) == (
        "lowering", "row_a", "soft_priority",
    )
    assert row_a.span == Span(18, 1)
    assert [n.text for n in row_a.via] == ["prio", "other"]
    assert row_a.via[1].span == Span(18, 45)
    assert [n.text for n in row_a.assume] == ["single_claim"]
    assert row_a.scenario is not None and row_a.scenario.text == "canonical"
    assert row_a.expect is not None
    assert row_a.expect.evidence_class.text == "rejected_mapping"
    assert [n.text for n in row_a.expect.because] == ["priority_order", "no_silent_loss"]
    assert row_b.kind.text == "substrate" and row_b.expect is None
    assert row_b.assume == () and row_b.scenario is None

    (bundle,) = source.bundles
    assert [n.text for n in bundle.includes] == ["best_effort"]
    (atom,) = bundle.atoms
    assert atom.name.text == "release_before_loss"
    assert atom.qualifier is not None and atom.qualifier.text == "demotion"


def test_comments_and_blank_files_are_ignored() -> None:
    with_comments = parse_text("# only\n\n   # comments\n", PATH)
    assert with_comments.runtimes == () and with_comments.primitives == ()
    assert parse_text("", PATH).rows == ()
    commented = parse_text('runtime r { # a { brace in a comment\n name "x" }', PATH)
    assert commented.runtimes[0].fields[0].value == "x"


def test_negative_numbers_and_crlf_parse() -> None:
    source = parse_text("primitive p {\r\n  param minimum = -3\r\n}\r\n", PATH)
    param = source.primitives[0].params[0]
    assert param.value.value == -3 and param.value.span == Span(2, 19)


def test_reserved_keywords_are_exactly_the_grammar_words() -> None:
    assert grammar_keywords() == RESERVED_KEYWORDS


def test_parse_file_reads_utf8_and_drops_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.rkv"
    path.write_bytes(b'\xef\xbb\xbfruntime r { name "caf\xc3\xa9" }\n')
    source = parse_file(path)
    assert source.path == str(path)
    assert source.runtimes[0].fields[0].value == "café"
    assert source.runtimes[0].span == Span(1, 1)


# ------------------------------------------------------------- syntax errors


def test_unexpected_token_with_list_hint() -> None:
    error = syntax_error("primitive p { kind lock_ref }\nlowering r mode m via a b\n")
    check(error, 2, 25, "unexpected 'b'")
    assert error.expected is not None and "','" in error.expected
    assert "'{'" not in error.expected  # LALR look-ahead noise is filtered out
    assert error.hint == "'via' takes a comma-separated list, for example: via a, b"


def test_unexpected_token_names_expected_keywords() -> None:
    error = syntax_error("primitive p {\n  kind lock_ref\n  colour red\n}\n")
    check(error, 3, 3, "unexpected 'colour'")
    assert error.expected == (
        "one of 'anchor', 'kind', 'note', 'param', 'provenance', '}'"
    )


def test_unexpected_end_of_file_missing_brace() -> None:
    error = syntax_error("runtime r { name \"x\" }\nprimitive p {\n  kind lock_ref\n")
    check(error, 3, 16, "unexpected end of file")
    assert error.expected is not None and "'}'" in error.expected
    assert error.hint == "add '}' to close the block opened at line 2, column 13"


def test_keyword_used_as_a_name() -> None:
    error = syntax_error("runtime r { }\nprimitive kind { kind lock_ref }\n")
    check(error, 2, 11, "'kind' is a reserved keyword")
    assert error.expected == "a name that is not a keyword"


def test_keyword_as_row_name() -> None:
    error = syntax_error("lowering   via mode best_effort via p\n")
    check(error, 1, 12, "'via' is a reserved keyword and cannot name a row")


def test_scenario_block_right_after_a_row_gets_a_hint() -> None:
    error = syntax_error("substrate r mode best_effort via p\nscenario s { usable 3 }\n")
    check(error, 2, 12, "unexpected '{'")
    assert error.hint is not None and "row's scenario clause" in error.hint


def test_because_without_expect() -> None:
    error = syntax_error("lowering r mode best_effort via p because no_silent_loss\n")
    check(error, 1, 35, "unexpected 'because'")
    assert error.hint is not None and "follows 'expect CLASS'" in error.hint


def test_unterminated_string() -> None:
    error = syntax_error('runtime r {\n  name "TensorRT\n}\n')
    check(error, 2, 8, "unterminated string")
    assert error.expected == "a quoted string"


def test_unexpected_character() -> None:
    error = syntax_error("scenario s {\n  usable 3 @\n}\n")
    check(error, 2, 12, "unexpected character '@'")


def test_unknown_string_escape() -> None:
    error = syntax_error('primitive p { note "a\\qb" }\n')
    check(error, 1, 22, "unknown escape '\\q'")


def test_absurd_number_is_rejected_before_conversion() -> None:
    digits = "9" * 5000  # int() of this would raise ValueError in Python 3.11
    error = syntax_error(f"scenario s {{\n  usable {digits}\n}}\n")
    check(error, 2, 10, "out of range")
    assert "(5000 digits)" in error.message
    check(syntax_error("scenario s { usable 1000000001 }"), 1, 21, "out of range")


def test_repeated_single_valued_statements() -> None:
    error = syntax_error("primitive p {\n  kind lock_ref\n  kind tier_offload\n}\n")
    check(error, 3, 3, "duplicate 'kind' in primitive 'p'")
    predicate = (
        "scenario s { claim c {\n  predicate contiguous_range(0, 1)\n"
        "  predicate leading_prefix_at_least(1) } }"
    )
    check(syntax_error(predicate), 3, 3, "duplicate 'predicate' in claim 'c'")


# ---------------------------------------------------------------- input limits


def test_nul_byte() -> None:
    error = syntax_error('runtime r {\n  name "a\x00" }\n')
    check(error, 2, 10, "NUL byte")


def test_invalid_utf8_reports_the_byte_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.rkv"
    path.write_bytes(b'runtime r {\n  name "caf\xff" }\n')
    with pytest.raises(DescriptorError) as caught:
        parse_file(path)
    error = caught.value
    assert (error.line, error.column) == (2, 12)
    assert "invalid UTF-8 byte 0xff" in error.message
    assert caret_line(12) in error.render().splitlines()


def test_invalid_utf8_column_counts_characters(tmp_path: Path) -> None:
    path = tmp_path / "bad.rkv"
    path.write_bytes(b"# \xc3\xa9\xc3\n")
    with pytest.raises(DescriptorError) as caught:
        parse_file(path)
    assert (caught.value.line, caught.value.column) == (1, 4)


def test_too_long_line() -> None:
    # '  note "' is 8 characters, so the Z sits exactly at column 10,001.
    long_note = "x" * (MAX_LINE_CHARS - 8) + "Z" + "x" * 5
    error = syntax_error(f'primitive p {{\n  note "{long_note}"\n}}\n')
    assert (error.line, error.column) == (2, MAX_LINE_CHARS + 1)
    assert error.message == "line is 10,007 characters long; the limit is 10,000"
    header, source, caret, _hint = error.render().splitlines()
    assert header.startswith(f"{PATH}:2:10001: error: ")
    assert source.startswith("    2 | ...") and len(source) < 200
    assert source[caret.index("^")] == "Z"


def test_too_large_text_and_file(tmp_path: Path) -> None:
    big = "#" * (MAX_FILE_BYTES + 1)
    with pytest.raises(InputError, match="the limit is 1 MiB"):
        parse_text(big, PATH)
    path = tmp_path / "big.rkv"
    path.write_text(big)
    with pytest.raises(InputError) as caught:
        parse_file(path)
    assert caught.value.render().startswith(f"{path}: error: file is 1,048,577 bytes")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        parse_file(tmp_path / "nope.rkv")
    with pytest.raises(InputError, match="is a directory"):
        parse_file(tmp_path)


def test_path_escaping_root(tmp_path: Path) -> None:
    inside = tmp_path / "models"
    inside.mkdir()
    outside = tmp_path / "secret.rkv"
    outside.write_text("")
    with pytest.raises(InputError, match="path escapes"):
        parse_file(inside / ".." / "secret.rkv", root=inside)
    (inside / "ok.rkv").write_text("# fine\n")
    assert parse_file(inside / "ok.rkv", root=inside).runtimes == ()


# ------------------------------------------------------------------ rendering


def test_render_shape_is_exact() -> None:
    text = "\n" * 11 + "\tkind evicton_priority\n"
    error = DescriptorError.at(
        "models/x.rkv", text, 12, 7, "unknown primitive kind 'evicton_priority'",
        expected="one of eviction_priority, priority_duration",
        hint="did you mean 'eviction_priority'?",
    )
    assert error.render() == (
        "models/x.rkv:12:7: error: unknown primitive kind 'evicton_priority'\n"
        "   12 |  kind evicton_priority\n"
        "      |       ^\n"
        "  expected: one of eviction_priority, priority_duration\n"
        "  hint: did you mean 'eviction_priority'?"
    )
    bare = DescriptorError("f.rkv", 1, 1, "oops")
    assert bare.render() == "f.rkv:1:1: error: oops"
    assert str(bare) == "f.rkv:1:1: error: oops"


def test_errors_sort_render_and_pickle() -> None:
    late = DescriptorError("f.rkv", 3, 1, "late")
    early = DescriptorError("f.rkv", 1, 9, "early")
    errors = DescriptorErrors([late, early])
    assert [e.message for e in errors] == ["early", "late"] and len(errors) == 2
    assert errors.render() == "f.rkv:1:9: error: early\nf.rkv:3:1: error: late"
    clone = pickle.loads(pickle.dumps(errors))
    assert clone.render() == errors.render()
    assert pickle.loads(pickle.dumps(InputError("p", "m", "h"))).render() == (
        "p: error: m\n  hint: h"
    )


def test_every_prefix_of_a_descriptor_fails_cleanly() -> None:
    """Truncated files are the commonest broken input: none may escape as a crash."""
    for end in range(len(VALID)):
        try:
            parse_text(VALID[:end], PATH)
        except RkvError as error:
            assert error.render()
