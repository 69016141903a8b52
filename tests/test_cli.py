"""The command line: exit codes, error rendering, JSON schema and determinism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner
from conftest import ROOT

HEADER = 'runtime t { name "T" repo "org/t" version "v1" }\n'
HARD = 'primitive hard { kind hard_exclusion provenance patch anchor "src/x.py:1" }\n'


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rkvformal.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_exit_0_when_every_row_is_as_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.rkv", HEADER + HARD +
                 "lowering ok mode hard_protected via hard expect adapter_policy\n")
    result = run("prove", path, "-j", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "adapter_policy" in result.stdout


def test_exit_1_when_a_row_contradicts_its_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.rkv", HEADER + HARD +
                 "lowering wrong mode hard_protected via hard expect rejected_mapping\n")
    result = run("prove", path, "-j", "1")
    assert result.returncode == 1
    assert "MISMATCH" in result.stdout


def test_exit_2_with_location_caret_and_hint_never_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "typo.rkv", HEADER +
                 "primitive p { kind evicton_priority provenance native }\n")
    result = run("prove", path)
    assert result.returncode == 2
    assert f"{path}:2:20: error: unknown primitive kind 'evicton_priority'" in result.stderr
    assert "^" in result.stderr and "did you mean 'eviction_priority'" in result.stderr
    assert "Traceback" not in result.stderr


def test_exit_2_for_missing_files_bad_bounds_and_unknown_rows(tmp_path: Path) -> None:
    assert run("prove", str(tmp_path / "missing.rkv")).returncode == 2
    model = f"{ROOT}/models/vllm_native.rkv"
    for args in (("--bound", "0"), ("--bound", "65"), ("--timeout", "-1"),
                 ("--lowering", "nope"), ("--format", "yaml"), ("--jobs", "0")):
        result = run("prove", model, *args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr
    assert run("frobnicate").returncode == 2


def test_exit_3_when_the_solver_times_out_and_it_is_unknown_never_conformance() -> None:
    result = run("prove", f"{ROOT}/models/vllm_hard_exclusion_patch.rkv",
                 "--lowering", "patched_hard_protected", "--timeout", "0.001",
                 "--format", "json", "-j", "1")
    assert result.returncode == 3, result.stderr
    row = json.loads(result.stdout)["files"][0]["rows"][0]
    assert row["class"] == "unknown_evidence"
    assert {o["status"] for o in row["obligations"]} == {"unknown"}


def test_json_has_the_documented_fields_and_is_byte_identical_across_runs() -> None:
    args = ("prove", f"{ROOT}/models/trtllm.rkv", "--lowering", "trt_hard_protected",
            "--format", "json")
    first, second = run(*args, "-j", "1"), run(*args, "-j", "2")
    assert first.returncode == 0
    assert first.stdout == second.stdout
    doc = json.loads(first.stdout)
    assert doc["schema"] == "rkvformal.prove/1"
    (file,) = doc["files"]
    assert {"path", "runtime", "rows"} <= set(file)
    (row,) = file["rows"]
    for key in ("lowering", "mode", "class", "expected", "matches_expectation", "primitives",
                "assumptions", "obligations"):
        assert key in row
    assert row["class"] == "rejected_mapping" and row["matches_expectation"] is True
    assert all(o["proof"] in (None, "bounded", "unbounded") for o in row["obligations"])
    by_atom = {o["atom"]: o for o in row["obligations"]}
    exclusion = by_atom["protected_exclusion"]
    assert exclusion["status"] == "refuted" and exclusion["bound"] == 12
    steps = exclusion["counterexample"]["steps"]
    assert [s["step"] for s in steps] == list(range(len(steps)))
    assert {"step", "move", "state", "events"} <= set(steps[-1])
    assert all(o["counterexample"] is None for o in row["obligations"]
               if o["status"] != "refuted")


def test_text_output_says_bounded_and_ends_each_counterexample_with_the_broken_atom() -> None:
    result = run("prove", f"{ROOT}/models/trtllm.rkv", "--lowering", "trt_hard_protected")
    assert result.returncode == 0
    assert "bounded k=12; unbounded = proven for all depths by k-induction" in result.stdout
    assert "broken at step 5: while under responsibility, resident never loses its predicate" \
        in result.stdout
    assert "evicts resident.required=50" in result.stdout


def test_prove_does_not_load_the_other_layers_commands() -> None:
    """`rkvformal prove` starts without the simulator, the trace gate, the suite or the
    reports' HTML (their commands are imported when asked for), and every command is
    still listed and runs."""
    code = ("import sys; import rkvformal.cli as cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('rkvformal.sim', "
            "'rkvformal.trace', 'rkvformal.suite', 'rkvformal.report.html', 'numpy'))))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert loaded == "[]"
    from rkvformal import cli

    names = cli.main.list_commands(click.Context(cli.main))
    assert set(cli.ELSEWHERE) < set(names) and "prove" in names
    for name in cli.ELSEWHERE:
        assert cli.main.get_command(click.Context(cli.main), name) is not None, name
    assert CliRunner().invoke(cli.main, ["suite", "--help"]).exit_code == 0
