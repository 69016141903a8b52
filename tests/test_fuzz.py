"""Robustness: no input makes the parser or validator crash.

Hypothesis feeds random text, random bytes, token soups and mutations of every shipped
model (deleted, duplicated and swapped tokens, huge numbers, deep nesting, NUL and
non-UTF-8 bytes, very long lines) through `parse_text`/`parse_file` and `validate`.
The only exceptions allowed are `RkvError`s whose rendering starts `path:line:col:`
(or `path:` for a file-level `InputError`) with the location inside the input; a
mutation that stays valid is fine, but its source anchors must not leave the tree.
A few subprocess runs check the same through `rkvformal prove` (exit 2, no traceback).

Profiles: `RKV_HYPOTHESIS_PROFILE=default` (200 examples per property, well under a
minute in all) or `thorough` (10,000).  They are applied per test, not loaded
globally, so other tests' Hypothesis settings are untouched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from conftest import MODELS, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rkvformal.errors import DescriptorError, DescriptorErrors, InputError, RkvError
from rkvformal.semantics.catalogue import CATALOGUE
from rkvformal.semantics.domain import AnchorKind
from rkvformal.semantics.validate import MAX_BLOCKS, escapes_tree, validate
from rkvformal.syntax.ast import SourceFile
from rkvformal.syntax.parser import (
    MAX_ABS_INT,
    MAX_FILE_BYTES,
    MAX_LINE_CHARS,
    RESERVED_KEYWORDS,
    grammar_keywords,
    parse_file,
    parse_text,
)
from rkvformal.vocab import (
    Assumption,
    EvidenceClass,
    Mode,
    PredicateKind,
    PrimitiveKind,
    Provenance,
)

_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,  # every run explores afresh; failures print a reproduction blob
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.large_base_example],
}
settings.register_profile("rkv-fuzz-default", max_examples=200, **_COMMON)
settings.register_profile("rkv-fuzz-thorough", max_examples=10_000, **_COMMON)
PROFILE = os.environ.get("RKV_HYPOTHESIS_PROFILE", "default")
if PROFILE not in ("default", "thorough"):
    raise pytest.UsageError(f"RKV_HYPOTHESIS_PROFILE must be default or thorough, "
                            f"got {PROFILE!r}")
FUZZ = settings.get_profile(f"rkv-fuzz-{PROFILE}")

LABEL = "fuzz/input.rkv"
_LOCATED = re.compile(r".+:[1-9][0-9]*:[1-9][0-9]*: error: \S.*")  # path:line:col: error: ...
_FILE_LEVEL = re.compile(r".+: error: \S.*")  # path: error: ...
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
#: Once-raw messages (fixed; each keeps a regression test below): the parser's
#: misplaced-string message and the validator's hint for a malformed `path#symbol` anchor.
RAW_STRING_MESSAGE = "unexpected string "
RAW_SYMBOL_HINT = "pin a line and name the symbol separately"



MODEL_TEXT = {Path(path).name: Path(path).read_text(encoding="utf-8") for path in MODELS}
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|-?[0-9]+|\s+|.',
                    re.S)
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(rb"-?[0-9]+")


def tokens(text: str) -> list[bytes]:
    return [match.group().encode("utf-8") for match in _TOKEN.finditer(text)]


# --------------------------------------------------------------------- the property


def check_error(error: RkvError, path: str, data: str | None) -> None:
    """An RkvError is acceptable when it renders with a location inside the input."""
    rendered = error.render()
    assert rendered.encode("utf-8"), rendered  # printable on any UTF-8 terminal
    if isinstance(error, InputError):
        assert _FILE_LEVEL.fullmatch(rendered.split("\n")[0]), rendered
        assert rendered.startswith(f"{path}: error: "), rendered
        return
    located = list(error) if isinstance(error, DescriptorErrors) else [error]
    assert located, rendered
    for one in located:
        assert isinstance(one, DescriptorError), type(one)
        assert not _CONTROL.search(one.render()), one.render()  # control bytes escaped
        header = one.render().split("\n")[0]
        assert _LOCATED.fullmatch(header), header
        assert header.startswith(f"{path}:{one.line}:{one.column}: error: "), header
        if data is not None:
            assert one.line <= data.count("\n") + 1, header
        if one.source_line is not None:
            assert one.column <= len(one.source_line) + 1, header


def outcome(run: Callable[[], SourceFile], path: str, data: str | None) -> None:
    """Parse and validate; anything but a located RkvError fails the test."""
    try:
        descriptor = validate(run())
    except RkvError as error:
        check_error(error, path, data)
        return
    for primitive in descriptor.primitives:  # a valid result never points outside its tree
        for anchor in primitive.anchors:
            if anchor.kind is AnchorKind.SOURCE:
                assert anchor.path is not None and not escapes_tree(anchor.path), anchor


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """One file rewritten per example (function-scoped tmp_path does not mix with @given)."""
    with tempfile.TemporaryDirectory(prefix="rkv-fuzz-") as directory:
        yield Path(directory) / "input.rkv"


def check_bytes(data: bytes, path: Path) -> None:
    path.write_bytes(data)
    decoded = data.decode("utf-8", "replace")
    outcome(lambda: parse_file(path), str(path), decoded)


# --------------------------------------------------------------------- strategies

WORDS = sorted(grammar_keywords() | {
    "lock_ref", "hard_exclusion", "eviction_priority", "native", "patch", "hard_protected",
    "soft_priority", "best_effort", "offloadable", "rejected_mapping", "adapter_policy",
    "leading_prefix_at_least", "contiguous_range", "canonical", "p", "q", "r",
})
PIECES = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(list("{}(),=#\"\\\n\t ") + ["\r\n", "//", "@", ":", "-"]),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    st.sampled_from(['"src/a.py:1"', '"https://x.example/d"', '"/etc/passwd:1"',
                     '"../up.py:3"', '"a.py#Sym"', '"org/r@v1:a.py:0"', '"x"', '""']),
    st.text(max_size=8),
)

HUGE = st.one_of(
    st.sampled_from(["1000000000000", "-1000000000000", "9" * 5000, "0" * 200 + "7",
                     "4294967296", "18446744073709551616", "1000000001", "0", "-0", "-1"]),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
)
BAD_BYTES = st.sampled_from([b"\x00", b"\xff", b"\xfe\xff", b"\x80", b"\xc3", b"\xe2\x82",
                             b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xef\xbb\xbf",
                             b"\xc0\xaf", b"\r", b"\x1b[31m", b"\x7f"])
NESTING = st.tuples(st.sampled_from(["{", "(", "{ claim c {", "primitive p { ",
                                     "scenario s { ", '"']),
                    st.integers(min_value=1, max_value=5000))


# Structural edits twice as likely: a limit error (long line, bad byte) masks the rest.
OPS = st.sampled_from(["delete", "duplicate", "swap_names", "insert", "keyword"] * 2
                      + ["huge_number", "nesting", "bad_bytes", "long_line", "truncate"])


@st.composite
def mutated(draw: st.DrawFn, text: str) -> bytes:
    """One shipped model with one to four token-level mutations applied."""
    parts = tokens(text)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        if not parts:
            parts = [b""]
        at = draw(st.integers(min_value=0, max_value=len(parts) - 1))
        op = draw(OPS)
        if op == "delete":
            del parts[at]
        elif op == "duplicate":
            parts.insert(at, parts[at])
        elif op == "swap_names":
            names = [i for i, part in enumerate(parts) if _NAME.fullmatch(part)]
            if len(names) >= 2:
                i, j = draw(st.sampled_from(names)), draw(st.sampled_from(names))
                parts[i], parts[j] = parts[j], parts[i]
        elif op == "huge_number":
            numbers = [i for i, part in enumerate(parts) if _INT.fullmatch(part)]
            target = draw(st.sampled_from(numbers)) if numbers else at
            parts[target] = draw(HUGE).encode()
        elif op == "nesting":
            opener, depth = draw(NESTING)
            parts.insert(at, (opener * depth).encode())
        elif op == "bad_bytes":
            parts.insert(at, draw(BAD_BYTES))
        elif op == "long_line":
            length = draw(st.one_of(
                st.integers(min_value=MAX_LINE_CHARS - 5, max_value=MAX_LINE_CHARS + 5),
                st.integers(min_value=MAX_LINE_CHARS, max_value=2 * MAX_LINE_CHARS)))
            filler = draw(st.sampled_from(["x", "é", " ", "9"]))
            body = filler * length
            parts.insert(at, draw(st.sampled_from([body, f'"{body}"', f"# {body}"])).encode())
        elif op == "insert":
            parts.insert(at, draw(PIECES).encode("utf-8"))
        elif op == "keyword":
            parts[at] = draw(st.sampled_from(WORDS)).encode()
        else:
            parts = parts[:at]
    return b"".join(parts)


# A generator of descriptors that parse and are mostly valid, with a fault now and then,
# so the validator (not the parser) does the rejecting: a made-up word, a number past a
# limit, an anchor of a bad form (or one leaving the tree), a dropped or repeated
# statement.  Each fault site goes wrong one time in `FAULT_ODDS`.
FAULT_ODDS = 25
IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True).filter(
    lambda word: word not in RESERVED_KEYWORDS and word not in grammar_keywords())
NUMBER = st.one_of(st.integers(min_value=-3, max_value=130),
                   st.sampled_from([0, 64, 65, 1000, 1001, MAX_BLOCKS, MAX_BLOCKS + 1,
                                    MAX_ABS_INT, -MAX_ABS_INT]),
                   st.integers(min_value=-MAX_ABS_INT, max_value=MAX_ABS_INT))
GOOD_ANCHORS = st.sampled_from(["src/a.py:10", "org/r@v1:src/a.py:3", "a.py#Foo.bar",
                                "org/r@v1:a.py#Sym", "https://x.example/p"])
BAD_ANCHORS = st.one_of(
    st.sampled_from(["http://", "../x.py:1", "/abs.py:1", "~/x:1", "a/../../b:2", "a.py:0",
                     "a.py:00012", "a.py:99999999999", "a b:1", "a.py", "a.py:1#x", "@v:a:1",
                     "C:\\x:1", "https://x.example/a b", "org@v:a.py:1", "a.py#9bad",
                     "src\\..\\..\\x:1", "a.py#", "org/r@:a.py:1"]),
    st.text(max_size=20),
)
TEXT = st.text(max_size=30)
BEST_EFFORT_ATOMS = ["explicit_acceptance", "claim_identity", "materialization_predicate",
                     "no_silent_loss"]  # in every mode's bundle


def sometimes(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good`, except about one time in FAULT_ODDS.

    The fault sits mid-list: Hypothesis favours the ends of a range, and shrinks to
    the start, so a fault is neither over-drawn nor kept by shrinking unless needed.
    """
    half = FAULT_ODDS // 2
    return st.sampled_from([False] * half + [True] + [False] * half).flatmap(
        lambda fault: bad if fault else good)


def word(values: list[str]) -> st.SearchStrategy[str]:
    return sometimes(st.sampled_from(values), IDENT)


def number(low: int, high: int) -> st.SearchStrategy[int]:
    return sometimes(st.integers(min_value=low, max_value=max(low, high)), NUMBER)


def vocab(enum: type[Enum]) -> list[str]:
    return [member.value for member in enum]


def string(text: st.SearchStrategy[str] = TEXT) -> st.SearchStrategy[str]:
    """A STRING literal of `text`, escaped as the grammar wants (raw NULs dropped)."""
    return text.map(lambda body: '"' + body.replace("\\", "\\\\").replace('"', '\\"')
                    .replace("\n", "\\n").replace("\0", "") + '"')


def names(pool: list[str], most: int = 3) -> st.SearchStrategy[str]:
    return st.lists(word(pool), min_size=1, max_size=most, unique=True).map(", ".join)


@st.composite
def faulty(draw: st.DrawFn, stmts: list[str], extra: st.SearchStrategy[str]) -> list[str]:
    """The statements, or one of them dropped or repeated, or an extra one added."""
    edit = draw(sometimes(st.just("keep"), st.sampled_from(["drop", "repeat", "extra"])))
    if not stmts or edit == "keep":
        return stmts
    at = draw(st.integers(min_value=0, max_value=len(stmts) - 1))
    if edit == "drop":
        return stmts[:at] + stmts[at + 1:]
    if edit == "repeat":
        return stmts[:at + 1] + stmts[at:]
    return stmts[:at] + [draw(extra)] + stmts[at:]


@st.composite
def primitive(draw: st.DrawFn, name: str) -> str:
    kind = draw(word(vocab(PrimitiveKind)))
    spec = CATALOGUE.get(PrimitiveKind(kind)) if kind in vocab(PrimitiveKind) else None
    stmts = [f"kind {kind}", f"provenance {draw(word(vocab(Provenance)))}"]
    params = spec.params if spec else ()
    chosen = draw(st.lists(st.sampled_from(params), unique=True)) if params else []
    for param in sorted(chosen, key=lambda p: p.name):
        if param.is_int:  # an ordered minimum <= default <= maximum is the validator's job
            value = str(draw(number(param.minimum or 0, min(param.maximum or 100, 100))))
        else:
            value = draw(word(list(param.choices)))
        stmts.append(f"param {param.name} = {value}")
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        target = draw(string(sometimes(GOOD_ANCHORS, BAD_ANCHORS)))
        symbol = None if "#" in target else draw(
            st.one_of(st.none(), string(st.text(min_size=1, max_size=20))))
        stmts.append(f"anchor {target}" + (f" symbol {symbol}" if symbol else ""))
    if draw(st.booleans()):
        stmts.append(f"note {draw(string())}")
    extra = st.one_of(IDENT.map(lambda v: f"param {v} = 1"), string().map(lambda v: f"note {v}"))
    return f"primitive {name} {{ {' '.join(draw(faulty(stmts, extra)))} }}"


@st.composite
def claim(draw: st.DrawFn, room: int) -> str:
    footprint = draw(number(1, room))
    predicate = draw(word(vocab(PredicateKind)))
    required = draw(number(1, footprint))
    if predicate == "contiguous_range":
        args = [draw(number(0, footprint - required)), required]
    else:
        args = [required]
    args = draw(sometimes(st.just(args), st.lists(NUMBER, min_size=1, max_size=3)))
    stmts = [f"footprint {footprint}", f"predicate {predicate}({', '.join(map(str, args))})"]
    if draw(st.booleans()):
        stmts.append(f"priority {draw(number(0, 100))}")
    if draw(st.booleans()):
        stmts.append(f"duration {draw(number(1, 64))}")
    body = " ".join(draw(faulty(stmts, NUMBER.map(lambda n: f"priority {n}"))))
    return f"claim {draw(IDENT)} {{ {body} }}"


@st.composite
def scenario(draw: st.DrawFn, name: str) -> str:
    usable = draw(number(2, 200))
    claims = draw(sometimes(st.integers(min_value=1, max_value=2), st.just(3)))
    stmts = [f"usable {usable}"]
    stmts += [draw(claim(max(1, usable // claims))) for _ in range(claims)]
    actives = draw(sometimes(st.integers(min_value=0, max_value=1), st.just(2)))
    stmts += [f"active {draw(IDENT)} {{ demand {draw(number(1, 200))} }}"
              for _ in range(actives)]
    body = " ".join(draw(faulty(stmts, claim(10))))
    return f"scenario {name} {{ {body} }}"


@st.composite
def row(draw: st.DrawFn, primitives: list[str], scenarios: list[str]) -> str:
    kind = draw(st.sampled_from(["lowering", "substrate"]))
    text = (f"{kind} {draw(IDENT)} mode {draw(word(vocab(Mode)))} "
            f"via {draw(names(primitives))}")
    if draw(st.booleans()):
        text += f" assume {draw(names(vocab(Assumption), 2))}"
    if bool(scenarios) and draw(st.booleans()):
        text += f" scenario {draw(word(scenarios))}"
    if draw(st.booleans()):
        never = "approximation_substrate" if kind == "lowering" else "rejected_mapping"
        text += f" expect {draw(word([c for c in vocab(EvidenceClass) if c != never]))}"
        if draw(st.booleans()):
            text += f" because {draw(names(BEST_EFFORT_ATOMS, 2))}"
    return text


@st.composite
def descriptor_text(draw: st.DrawFn) -> str:
    fields = [f"name {draw(string(st.text(min_size=1, max_size=20)))}",
              f"repo {draw(string(sometimes(st.just('org/r'), TEXT)))}",
              f"version {draw(string(sometimes(st.just('v1.0'), TEXT)))}"]
    extra = st.sampled_from(["backend", "url"]).map(lambda field: f'{field} "x"')
    items = [f"runtime {draw(IDENT)} {{ {' '.join(draw(faulty(fields, extra)))} }}"]
    primitives = draw(st.lists(IDENT, min_size=1, max_size=4, unique=True))
    items += [draw(primitive(name)) for name in primitives]
    scenarios = draw(st.lists(IDENT, max_size=2, unique=True))
    items += [draw(scenario(name)) for name in scenarios]
    items += draw(st.lists(row(primitives, scenarios), max_size=3))
    items = draw(faulty(items, st.sampled_from(["bundle b { no_silent_loss }",
                                                'runtime r2 { name "x" }'])))
    return "\n".join(draw(st.permutations(items)))


# --------------------------------------------------------------------- properties


@FUZZ
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    outcome(lambda: parse_text(text, LABEL), LABEL, text)


@FUZZ
@given(st.lists(PIECES, max_size=80).map(" ".join))
def test_token_soup(text: str) -> None:
    outcome(lambda: parse_text(text, LABEL), LABEL, text)


@FUZZ
@given(descriptor_text())
def test_generated_descriptors(text: str) -> None:
    outcome(lambda: parse_text(text, LABEL), LABEL, text)


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes(scratch: Path, data: bytes) -> None:
    check_bytes(data, scratch)


@pytest.mark.parametrize("name", sorted(MODEL_TEXT))
@FUZZ
@given(data=st.data())
def test_mutated_models(scratch: Path, name: str, data: st.DataObject) -> None:
    check_bytes(data.draw(mutated(MODEL_TEXT[name]), label="descriptor"), scratch)


@pytest.mark.parametrize("name", sorted(MODEL_TEXT))
def test_shipped_models_pass_the_same_check(scratch: Path, name: str) -> None:
    """The unmutated models are valid, so the mutation tests start from a valid text."""
    check_bytes(MODEL_TEXT[name].encode("utf-8"), scratch)
    validate(parse_text(MODEL_TEXT[name], name))


def test_misplaced_string_token_is_shown_escaped() -> None:
    """Falsifying example `'" \x1f "'`: ESC, CR or BEL in a stray string reach the
    terminal through the error message (the quoted source line is escaped)."""
    with pytest.raises(DescriptorError) as caught:
        parse_text('"\x1b[2J\r\x07"', LABEL)
    assert caught.value.message.startswith(RAW_STRING_MESSAGE)
    assert not _CONTROL.search(caught.value.render()), repr(caught.value.render())


def test_malformed_symbol_anchor_hint_is_escaped() -> None:
    """Falsifying example `anchor "0#\x1f"`: the hint repeats the symbol unescaped."""
    text = ('runtime t { name "T" repo "org/t" version "v1" }\n'
            'primitive p { kind lock_ref provenance native anchor "a.py#\x1b[2J" }\n')
    with pytest.raises(DescriptorErrors) as caught:
        validate(parse_text(text, LABEL))
    (error,) = caught.value
    assert (error.hint or "").startswith(RAW_SYMBOL_HINT)
    assert not _CONTROL.search(error.render()), repr(error.render())


# --------------------------------------------------------------------- the command


HEADER = 'runtime t { name "T" repo "org/t" version "v1" }\n'
HARD = 'primitive hard { kind hard_exclusion provenance patch anchor "src/x.py:1" }\n'
ROW = "lowering ok mode hard_protected via hard expect adapter_policy\n"


def prove(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rkvformal.cli", "prove", "-j", "1", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def three_claims() -> str:
    claims = " ".join(f"claim c{i} {{ footprint 10 predicate leading_prefix_at_least(10) }}"
                      for i in range(3))
    return (HEADER + HARD + f"scenario s {{ usable 80 {claims} }}\n"
            "lowering ok mode hard_protected via hard scenario s expect adapter_policy\n")


CLI_CASES: dict[str, tuple[bytes, str]] = {
    # name: (file content, the located message expected on stderr; {path} is the file)
    "2_mib_file": ((HEADER + "# padding\n" * (2 * MAX_FILE_BYTES // 10)).encode(),
                   "{path}: error: file is 2,097,"),
    "20000_char_line": ((HEADER + "# " + "x" * 20_000 + "\n").encode(),
                        "{path}:2:10001: error: line is 20,002 characters long"),
    "nul_byte": ((HEADER + HARD.replace("patch", "pa\0tch")).encode(),
                 "{path}:2:51: error: NUL byte in descriptor"),
    "invalid_utf8": (HEADER.encode() + b"primitive \xff { }\n",
                     "{path}:2:11: error: invalid UTF-8 byte 0xff"),
    "10_pow_12": ((HEADER + HARD + "scenario s { usable 1000000000000 }\n" + ROW).encode(),
                  "{path}:3:21: error: number 1000000000000 is out of range"),
    "three_claims": (three_claims().encode(), "{path}:3:"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_prove_exits_2_with_a_location(tmp_path: Path, case: str) -> None:
    content, expected = CLI_CASES[case]
    path = tmp_path / f"{case}.rkv"
    path.write_bytes(content)
    result = prove(str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert expected.format(path=path) in result.stderr, result.stderr
    if case == "three_claims":
        assert "has 3 claims; the model has 2 claim slots" in result.stderr


def test_prove_rejects_a_huge_bound(tmp_path: Path) -> None:
    path = tmp_path / "ok.rkv"
    path.write_text(HEADER + HARD + ROW, encoding="utf-8")
    result = prove(str(path), "--bound", "1000")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--bound must be between 1 and 64, got 1000" in result.stderr
