"""`rkvformal matrix` and `rkvformal report`: the runtime x mode matrix and the
self-contained HTML report, rendered by headless Chromium when it is installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from rkvformal import pipeline
from rkvformal.report import html, matrix, progress
from rkvformal.report.commands import matrix_command, report_command
from rkvformal.vocab import EvidenceClass, Mode

ALPHA = """runtime alpha { name "Alpha" repo "org/alpha" version "v1" }
primitive hard { kind hard_exclusion provenance patch anchor "src/h.py:1" }
primitive prio { kind eviction_priority provenance native anchor "src/p.py:1" }
scenario canonical { usable 80 claim resident { footprint 60
  predicate leading_prefix_at_least(60) } active bulky { demand 70 } }
lowering alpha_hard mode hard_protected via hard expect adapter_policy
lowering alpha_prio_hard mode hard_protected via prio scenario canonical expect rejected_mapping
lowering alpha_prio_claimed mode hard_protected via prio expect adapter_policy
"""
BETA = """runtime beta { name "Beta" repo "org/beta" version "v2" }
primitive noevict { kind active_no_evict provenance native anchor "src/n.py:1" }
primitive events { kind block_events provenance native anchor "src/e.py:1" }
lowering beta_noevict_hard mode hard_protected via noevict expect rejected_mapping
substrate beta_events mode best_effort via events expect approximation_substrate
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[pipeline.ProvedFile]]:
    """Two small runtimes: a row carried by a patch, three rejected (one of them
    contradicting its expectation) and a substrate whose counterexamples carry events."""
    root = tmp_path_factory.mktemp("matrix")
    paths = []
    for name, text in (("alpha.rkv", ALPHA), ("beta.rkv", BETA)):
        (root / name).write_text(text, encoding="utf-8")
        paths.append(str(root / name))
    descriptors = [pipeline.load(p) for p in paths]
    return paths, pipeline.prove_descriptors(descriptors, jobs=pipeline.default_jobs())


def test_matrix_groups_rows_by_runtime_and_mode(files) -> None:
    _paths, proved = files
    grid = matrix.build(proved)
    assert grid.runtimes == ("Alpha", "Beta")
    assert grid.modes == tuple(Mode)
    hard = grid.cell("Alpha", Mode.HARD_PROTECTED)
    assert [e.evidence_class for e in hard] == [EvidenceClass.ADAPTER_POLICY,
                                                EvidenceClass.REJECTED_MAPPING,
                                                EvidenceClass.REJECTED_MAPPING]
    words = [w for _cls, w in matrix.cell_words(hard)]
    assert words == ["policy", "rejected ×2 !"]  # one of the rejected rows contradicts
    assert grid.cell("Alpha", Mode.DEMOTABLE) == ()
    doc = matrix.to_json(grid, 12)
    assert doc["schema"] == "rkvformal.matrix/1"
    assert [r["name"] for r in doc["runtimes"]] == ["Alpha", "Beta"]
    assert doc["runtimes"][1]["cells"]["hard_protected"][0]["class"] == "rejected_mapping"


def test_matrix_command_fits_one_screen_and_exits_like_prove(files) -> None:
    paths, _proved = files
    result = CliRunner().invoke(matrix_command, [*paths, "-j", "1"])
    assert result.exit_code == 1  # alpha_prio_claimed contradicts its expectation
    lines = result.output.splitlines()
    assert any("Alpha" in line and "policy" in line for line in lines)
    assert any("Beta" in line and "rejected" in line for line in lines)
    assert len(lines) <= 40 and max(len(line) for line in lines) <= 160
    as_json = CliRunner().invoke(matrix_command, [*paths, "-j", "1", "--format", "json"])
    assert json.loads(as_json.output)["modes"][0] == "best_effort"
    assert "\x1b[" not in result.output  # no progress bar or colour when not a terminal


def test_report_is_self_contained_with_matrix_atoms_and_timelines(files) -> None:
    _paths, proved = files
    text = html.render_html(proved, 12)
    assert text.startswith("<!DOCTYPE html>")
    assert '<table class="matrix">' in text
    n_cex = sum(len(r.counterexamples) for f in proved for r in f.rows)
    assert text.count('<svg class="timeline"') == n_cex > 0
    assert text.count('<table class="atoms">') == sum(len(f.rows) for f in proved)
    assert 'class="violation"' in text and 'class="event"' in text
    for external in ("<script", "<link", "src=", "@import", "url(", 'href="http', "xlink"):
        assert external not in text, external
    assert all(href.startswith("#") for href in re.findall(r'href="([^"]*)"', text))
    ids = set(re.findall(r'id="([^"]+)"', text))
    assert {href[1:] for href in re.findall(r'href="(#[^"]*)"', text)} <= ids
    assert html.render_html(proved, 12) == text  # deterministic


def test_report_command_writes_the_file(files, tmp_path: Path) -> None:
    paths, _proved = files
    out = tmp_path / "report.html"
    result = CliRunner().invoke(report_command, [*paths, "-o", str(out), "-j", "1"])
    assert result.exit_code == 1, result.output  # the contradicted row, as `prove` says
    assert out.read_text(encoding="utf-8").count("<svg") >= 1
    assert f"wrote {out}: 2 descriptors, 5 rows" in result.output
    missing = CliRunner().invoke(report_command, [*paths, "-o", str(tmp_path / "no" / "r.html")])
    assert missing.exception is not None and "does not exist" in str(missing.exception)


def test_progress_is_a_no_op_off_a_terminal(files) -> None:
    paths, proved = files
    with progress.progress(3, "nothing") as advance:
        advance("a")  # not a terminal under pytest: nothing is drawn, nothing fails
    assert not progress.on_terminal()
    again = progress.prove_descriptors([pipeline.load(p) for p in paths], jobs=1)
    assert [r.result.evidence_class for f in again for r in f.rows] == [
        r.result.evidence_class for f in proved for r in f.rows]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium(files, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("headless Chromium not installed (Debian: apt-get install chromium); "
                    "the report's HTML is still checked by the other tests")
    _paths, proved = files
    page = tmp_path / "report.html"
    page.write_text(html.render_html(proved, 12), encoding="utf-8")
    profile = tmp_path / "profile"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--dump-dom", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert '<table class="matrix">' in dom
    assert "<svg" in dom and 'class="timeline"' in dom and "<rect" in dom
    assert "alpha_prio_hard" in dom and "protected_exclusion" in dom
