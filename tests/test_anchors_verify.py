"""`rkvformal anchors verify`: every status on small source trees built here, path
rewrites for wheel layouts, the root containment rule, and the command's exit codes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rkvformal import anchors, cli
from rkvformal.anchors import (
    SCHEMA,
    AnchorCheck,
    CheckStatus,
    anchors_group,
    candidate_paths,
    find_symbol,
    verify,
)
from rkvformal.errors import InputError
from rkvformal.semantics.domain import Descriptor
from rkvformal.semantics.validate import validate
from rkvformal.syntax.parser import parse_text

HEADER = 'runtime t { name "T" repo "org/t" version "v1" }\n'

POOL = """\
import os


class BlockPool:
    def touch(self, blocks):
        for block in blocks:
            block.ref_cnt += 1

    def free(self, blocks):
        self.touch([])
"""


def descriptor(*anchor_lines: str, header: str = HEADER) -> Descriptor:
    body = "\n".join(f"  anchor {line}" for line in anchor_lines)
    text = f"{header}primitive p {{\n  kind lock_ref\n  provenance native\n{body}\n}}\n"
    return validate(parse_text(text, "t.rkv"))


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def one(checks: list[AnchorCheck]) -> AnchorCheck:
    assert len(checks) == 1, checks
    return checks[0]


# ------------------------------------------------------------------------ statuses


def test_line_holding_its_symbol_is_ok(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    check = one(verify(descriptor('"pkg/pool.py:5" symbol "def touch"'), root))
    assert check.status is CheckStatus.OK
    assert (check.found_line, check.expected_line, check.checked_path) == (5, 5, "pkg/pool.py")
    assert check.primitive == "p" and check.anchor == "pkg/pool.py:5"
    assert check.descriptor_line == 5 and not check.failed


def test_moved_symbol_is_drift_with_the_nearest_new_line(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    check = one(verify(descriptor('"pkg/pool.py:3" symbol "def touch"'), root))
    assert check.status is CheckStatus.DRIFTED and check.failed
    assert check.found_line == 5
    assert "on line 5 (+2)" in check.message and "cite pkg/pool.py:5" in check.message
    # two occurrences (lines 5 and 10): the one nearest the cited line is reported
    check = one(verify(descriptor('"pkg/pool.py:9" symbol "touch("'), root))
    assert check.status is CheckStatus.DRIFTED and check.found_line == 10
    assert "nearest of 2 occurrences" in check.message


def test_cited_line_past_the_end_with_the_symbol_elsewhere_is_drift(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    check = one(verify(descriptor('"pkg/pool.py:900" symbol "class BlockPool"'), root))
    assert (check.status, check.found_line) == (CheckStatus.DRIFTED, 4)


def test_missing_file_lists_the_paths_tried(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    check = one(verify(descriptor('"python/pkg/gone.py:1" symbol "x"'), root))
    assert check.status is CheckStatus.MISSING_FILE and check.failed
    assert "'python/pkg/gone.py'" in check.message and "'pkg/gone.py'" in check.message


def test_missing_symbol(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    check = one(verify(descriptor('"pkg/pool.py:5" symbol "def evict"'), root))
    assert (check.status, check.found_line) == (CheckStatus.MISSING_SYMBOL, None)
    assert check.failed


def test_line_without_symbol_exists_or_is_missing(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    check = one(verify(descriptor('"pkg/pool.py:10"'), root))
    assert check.status is CheckStatus.NO_SYMBOL_TO_CHECK and not check.failed
    assert check.message == "line exists, nothing to compare"
    check = one(verify(descriptor('"pkg/pool.py:11"'), root))  # POOL has 10 lines
    assert check.status is CheckStatus.MISSING_LINE and check.failed
    assert "has 10 lines" in check.message


def test_symbol_anchor_prefers_a_definition_over_a_use(tmp_path: Path) -> None:
    source = "touch(None)\nx = touch\n\ndef touch(blocks):\n    pass\n"
    root = tree(tmp_path / "src", {"pool.py": source, "pkg/pool.py": POOL})
    check = one(verify(descriptor('"pool.py#touch"'), root))
    assert (check.status, check.found_line, check.expected_line) == (CheckStatus.OK, 4, None)
    check = one(verify(descriptor('"pkg/pool.py#BlockPool.free"'), root))
    assert (check.status, check.found_line) == (CheckStatus.OK, 9)
    check = one(verify(descriptor('"pkg/pool.py#BlockPool.evict"'), root))
    assert check.status is CheckStatus.MISSING_SYMBOL


def test_find_symbol_tiers() -> None:
    lines = ("use(Foo)", "Foo(1)", "Foo: int = 3", "FooBar = 1", "class Foo:")
    assert find_symbol(lines, "Foo") == 5  # a keyword definition beats everything
    assert find_symbol(lines[:4], "Foo") == 2  # then a call/definition with '('
    assert find_symbol(("Foo == 2", "Foo: int = 3"), "Foo") == 2  # then an assignment
    assert find_symbol(("use(Foo)", "FooBar"), "Foo") == 1  # then any whole word
    assert find_symbol(("FooBar",), "Foo") is None
    assert find_symbol(("namespace ns {", "void f();"), "ns::f") == 2


def test_doc_urls_are_skipped(tmp_path: Path) -> None:
    check = one(verify(descriptor('"https://docs.example.org/page"'), tmp_path))
    assert check.status is CheckStatus.SKIPPED_DOC and not check.failed


def test_other_repository_is_skipped_unless_mapped(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {})
    other = tree(tmp_path / "other", {"lib/a.py": "x = 1\ndef g():\n"})
    d = descriptor('"org/other@v9:lib/a.py:2" symbol "def g"',
                   '"org/t@v0:lib/a.py:2" symbol "def g"')  # same repo, another version
    skipped = verify(d, root)
    assert [c.status for c in skipped] == [CheckStatus.SKIPPED_OTHER_REPO] * 2
    assert "--repo-root org/other=DIR" in skipped[0].message
    assert "--repo-root org/t@v0=DIR" in skipped[1].message
    mapped = verify(d, root, repo_roots={"ORG/Other": other, "org/t@v0": other})
    assert [c.status for c in mapped] == [CheckStatus.OK] * 2
    # REPO@VERSION keys are exact: another version of org/other stays skipped
    only_v8 = verify(d, root, repo_roots={"org/other@v8": other})
    assert only_v8[0].status is CheckStatus.SKIPPED_OTHER_REPO


def test_header_anchors_written_in_full_use_the_source_root(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    check = one(verify(descriptor('"org/t@v1:pkg/pool.py:5" symbol "def touch"'), root))
    assert check.status is CheckStatus.OK


# ------------------------------------------------------------------- wheel layouts


def test_sglang_wheel_layout_drops_python_prefix(tmp_path: Path) -> None:
    root = tree(tmp_path / "wheel", {"sglang/srt/cache.py": "a\nb\nclass RadixCache:\n"})
    check = one(verify(descriptor('"python/sglang/srt/cache.py:3" symbol "class RadixCache"'),
                       root))
    assert check.status is CheckStatus.OK
    assert check.checked_path == "sglang/srt/cache.py"
    assert "(read as sglang/srt/cache.py)" in check.message


def test_dynamo_wheel_layout_drops_components_src(tmp_path: Path) -> None:
    root = tree(tmp_path / "wheel", {"dynamo/router/args.py": '"kv",\n'})
    check = one(verify(descriptor('"components/src/dynamo/router/args.py:1" symbol "\\"kv\\","'),
                       root))
    assert (check.status, check.checked_path) == (CheckStatus.OK, "dynamo/router/args.py")


def test_checkout_layout_wins_and_wheel_paths_find_checkouts(tmp_path: Path) -> None:
    root = tree(tmp_path / "checkout", {"python/sglang/a.py": "def f():\n",
                                        "sglang/a.py": "nothing here\n"})
    check = one(verify(descriptor('"python/sglang/a.py:1" symbol "def f"'), root))
    assert (check.status, check.checked_path) == (CheckStatus.OK, "python/sglang/a.py")
    root = tree(tmp_path / "checkout2", {"components/src/dynamo/b.py": "def g():\n"})
    check = one(verify(descriptor('"dynamo/b.py:1" symbol "def g"'), root))
    assert (check.status, check.checked_path) == (CheckStatus.OK, "components/src/dynamo/b.py")


def test_candidate_paths_order() -> None:
    assert candidate_paths("python/sglang/x.py") == [
        "python/sglang/x.py", "sglang/x.py", "python/python/sglang/x.py",
        "components/src/python/sglang/x.py", "src/python/sglang/x.py",
    ]
    assert candidate_paths("components/src/dynamo/x.py")[:2] == [
        "components/src/dynamo/x.py", "dynamo/x.py",
    ]


# ------------------------------------------------------------------ containment


def test_symlinked_directory_escaping_the_root_is_refused(tmp_path: Path) -> None:
    outside = tree(tmp_path / "outside", {"secret.py": "def touch():\n"})
    root = tree(tmp_path / "src", {})
    (root / "pkg").symlink_to(outside, target_is_directory=True)
    check = one(verify(descriptor('"pkg/secret.py:1" symbol "def touch"'), root))
    assert check.status is CheckStatus.ESCAPES_ROOT and check.failed
    assert check.found_line is None and "not read" in check.message


def test_symlinked_file_escaping_the_root_is_refused(tmp_path: Path) -> None:
    outside = tree(tmp_path / "outside", {"secret.py": "def touch():\n"})
    root = tree(tmp_path / "src", {})
    (root / "pool.py").symlink_to(outside / "secret.py")
    check = one(verify(descriptor('"pool.py:1" symbol "def touch"'), root))
    assert check.status is CheckStatus.ESCAPES_ROOT


def test_symlinks_inside_the_root_are_followed(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"real/pool.py": POOL})
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    check = one(verify(descriptor('"alias/pool.py:5" symbol "def touch"'), root))
    assert check.status is CheckStatus.OK


def test_symlink_loop_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {})
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    check = one(verify(descriptor('"a/x.py:1" symbol "x"'), root))
    assert check.status is CheckStatus.UNREADABLE and "cannot resolve" in check.message


def test_root_that_is_itself_a_symlink_is_fine(tmp_path: Path) -> None:
    real = tree(tmp_path / "real", {"pkg/pool.py": POOL})
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    check = one(verify(descriptor('"pkg/pool.py:5" symbol "def touch"'), tmp_path / "link"))
    assert check.status is CheckStatus.OK


# ------------------------------------------------------------------ odd files


def test_non_utf8_and_crlf_files_are_read(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"a.py": b"# caf\xe9\r\ndef f():\r\n    pass\r\n"})
    check = one(verify(descriptor('"a.py:2" symbol "def f():"'), root))
    assert check.status is CheckStatus.OK
    check = one(verify(descriptor('"a.py:1" symbol "caf"'), root))
    assert check.status is CheckStatus.OK


def test_lines_are_counted_like_sed(tmp_path: Path) -> None:
    # a form feed or U+2028 is not a line break for sed, so it must not shift lines
    root = tree(tmp_path / "src", {"a.py": "x = 1\x0c\ny = '\u2028'\ndef f():\n"})
    check = one(verify(descriptor('"a.py:3" symbol "def f"'), root))
    assert check.status is CheckStatus.OK


def test_directories_and_oversized_files_are_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "src", {"pkg/a.py": "x" * 100})
    check = one(verify(descriptor('"pkg:1" symbol "x"'), root))
    assert check.status is CheckStatus.UNREADABLE and "is a directory" in check.message
    monkeypatch.setattr(anchors, "MAX_SOURCE_BYTES", 50)
    check = one(verify(descriptor('"pkg/a.py:1" symbol "x"'), root))
    assert check.status is CheckStatus.UNREADABLE and "limit is 50" in check.message


def test_a_file_used_as_a_directory_is_missing(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"a.py": "x\n"})
    check = one(verify(descriptor('"a.py/b.py:1" symbol "x"'), root))
    assert check.status is CheckStatus.MISSING_FILE


def test_bad_source_roots_are_input_errors(tmp_path: Path) -> None:
    d = descriptor('"a.py:1"')
    with pytest.raises(InputError, match="no such directory"):
        verify(d, tmp_path / "nope")
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="is not a directory"):
        verify(d, tmp_path / "file")
    with pytest.raises(InputError, match="no such directory"):
        verify(d, tmp_path, repo_roots={"org/x": tmp_path / "nope"})


# ------------------------------------------------------------------ the command


def model(tmp_path: Path, *anchor_lines: str, name: str = "m.rkv") -> str:
    body = "\n".join(f"  anchor {line}" for line in anchor_lines)
    path = tmp_path / name
    path.write_text(f"{HEADER}primitive p {{\n  kind lock_ref\n  provenance native\n{body}\n}}\n",
                    encoding="utf-8")
    return str(path)


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(anchors_group, list(args))


def test_command_exit_0_when_every_checked_anchor_holds(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    path = model(tmp_path, '"pkg/pool.py:5" symbol "def touch"', '"https://d.example/x"',
                 '"org/o@v1:a.py:1"')
    result = invoke("verify", path, "--source-root", str(root))
    assert result.exit_code == 0, result.output
    assert f"{path}:5: ok: p: pkg/pool.py:5: 'def touch' on line 5" in result.stdout
    assert "3 anchors: 1 ok, 1 skipped_doc, 1 skipped_other_repo" in result.stdout


def test_command_exit_1_on_drift_reports_the_new_line(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    path = model(tmp_path, '"pkg/pool.py:3" symbol "def touch"')
    result = invoke("verify", path, "--source-root", str(root))
    assert result.exit_code == 1
    assert "drifted" in result.stdout and "cite pkg/pool.py:5" in result.stdout


def test_command_exit_1_on_missing_file_or_symbol(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    for anchor in ('"pkg/gone.py:1" symbol "x"', '"pkg/pool.py:1" symbol "nowhere"'):
        result = invoke("verify", model(tmp_path, anchor), "--source-root", str(root))
        assert result.exit_code == 1, anchor


def test_command_json_document(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    other = tree(tmp_path / "other", {"a.py": "hello\n"})
    path = model(tmp_path, '"pkg/pool.py:3" symbol "def touch"', '"org/o@v1:a.py:1"')
    result = invoke("verify", path, "--source-root", str(root), "--repo-root",
                    f"org/o={other}", "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["schema"] == SCHEMA == "rkvformal.anchors/1"
    assert document["passed"] is False and document["repo_roots"] == {"org/o": str(other)}
    (entry,) = document["files"]
    assert entry["path"] == path and entry["runtime"] == {"repo": "org/t", "version": "v1"}
    first, second = entry["anchors"]
    assert first == {
        "primitive": "p", "anchor": "pkg/pool.py:3", "descriptor_line": 5,
        "status": "drifted", "symbol": "def touch", "expected_line": 3, "found_line": 5,
        "checked_path": "pkg/pool.py", "message": first["message"],
    }
    assert second["status"] == "no_symbol_to_check"
    assert list(entry["counts"]) == [status.value for status in CheckStatus]
    assert entry["counts"]["drifted"] == 1 and document["counts"] == entry["counts"]


def test_command_input_errors(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {})
    good = model(tmp_path, '"a.py:1"')
    bad = tmp_path / "bad.rkv"
    bad.write_text(HEADER + "primitive p { kind lock_reff provenance native }\n",
                   encoding="utf-8")
    cases = [
        (("verify", good, "--source-root", str(tmp_path / "nope")), "no such directory"),
        (("verify", str(bad), "--source-root", str(root)),
         f"{bad}:2:20: error: unknown primitive kind 'lock_reff'"),
        (("verify", good, "--source-root", str(root), "--repo-root", "org/x"),
         "--repo-root takes REPO=DIR"),
        (("verify", str(tmp_path / "missing.rkv"), "--source-root", str(root)),
         "no such file"),
    ]
    for args, message in cases:  # `cli.entry` prints these and exits 2 (test below)
        result = invoke(*args)
        assert isinstance(result.exception, cli.InputFailure), (args, result.output)
        assert message in result.exception.message, (args, result.exception.message)
    assert invoke("verify", good).exit_code == 2  # click: --source-root is required


def test_entry_maps_outcomes_to_documented_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `cli.entry` once `anchors` is registered: a private group, so `cli.main` is untouched
    group = click.Group(commands={"anchors": anchors_group})
    monkeypatch.setattr(cli, "main", group)
    root = tree(tmp_path / "src", {"pkg/pool.py": POOL})
    runs = [
        ([model(tmp_path, '"pkg/pool.py:5" symbol "def touch"', name="ok.rkv"),
          "--source-root", str(root)], 0),
        ([model(tmp_path, '"pkg/pool.py:3" symbol "def touch"', name="drift.rkv"),
          "--source-root", str(root)], 1),
        ([model(tmp_path, '"pkg/pool.py:5"', name="any.rkv"),
          "--source-root", os.fspath(tmp_path / "no")], 2),
        ([model(tmp_path, '"pkg/pool.py:5"', name="spec.rkv"), "--source-root", str(root),
          "--repo-root", "no-equals-sign"], 2),
    ]
    for args, code in runs:
        monkeypatch.setattr(sys, "argv", ["rkvformal", "anchors", "verify", *args])
        with pytest.raises(SystemExit) as exited:
            cli.entry()
        assert exited.value.code == code, capsys.readouterr()
    err = capsys.readouterr().err
    assert "no such directory" in err and "--repo-root takes REPO=DIR" in err
    assert "Traceback" not in err
