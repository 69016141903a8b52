"""The package, its tests and its benchmarks stay ruff-clean and mypy-clean, with
pyproject.toml's settings.

Both tools come with the test extras (`pip install -e '.[test]'`, pinned there so that
a new release's new rules cannot fail an unchanged tree); where one is missing, its
tests say so and skip.  Each tool is also shown a file it must reject, so that a check
that passes is one that could have failed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", name, *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)


def test_ruff_finds_nothing() -> None:
    out = _tool("ruff", "check", ".")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_rejects_an_unused_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    out = _tool("ruff", "check", "--config", str(ROOT / "pyproject.toml"), str(bad))
    assert out.returncode == 1 and "F401" in out.stdout, out.stdout + out.stderr


def test_mypy_finds_nothing() -> None:
    out = _tool("mypy")  # (no paths: [tool.mypy] files names rkvformal, tests, benchmarks)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_rejects_a_mistyped_assignment(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('count: int = "three"\n')
    out = _tool("mypy", "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental",
                str(bad))
    assert out.returncode == 1 and "[assignment]" in out.stdout, out.stdout + out.stderr
