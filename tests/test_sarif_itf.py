"""SARIF 2.1.0 for CI annotations and ITF traces for Apalache/Quint tooling: structure,
locations, levels, and one ITF state per counterexample step."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from rkvformal import pipeline, suite
from rkvformal.report.itf import write_itf
from rkvformal.report.sarif import SCHEMA_URI, render_sarif, render_suite_sarif
from rkvformal.vocab import Atom

TEXT = """runtime t { name "T" repo "org/t" version "v1" }
primitive hard { kind hard_exclusion provenance patch anchor "src/h.py:1" }
primitive prio { kind eviction_priority provenance native anchor "src/p.py:1" }
primitive events { kind block_events provenance native param delivery = lossy anchor "src/e.py:1" }

lowering carried mode hard_protected via hard expect adapter_policy
lowering prio_hard mode hard_protected via prio expect rejected_mapping because protected_exclusion
lowering prio_claimed mode hard_protected via prio expect adapter_policy
substrate events_only mode best_effort via events
"""


@pytest.fixture(scope="module")
def proved(tmp_path_factory: pytest.TempPathFactory) -> list[pipeline.ProvedFile]:
    path = tmp_path_factory.mktemp("sarif") / "t.rkv"
    path.write_text(TEXT, encoding="utf-8")
    return pipeline.prove_descriptors([pipeline.load(str(path))], jobs=pipeline.default_jobs())


def _lines(files: list[pipeline.ProvedFile]) -> dict[str, int]:
    return {r.result.row.name: r.result.row.line for f in files for r in f.rows}


def test_sarif_log_structure(proved) -> None:
    log = json.loads(render_sarif(proved))
    assert log["version"] == "2.1.0" and log["$schema"] == SCHEMA_URI
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "rkvformal"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids[: len(Atom)] == [a.value for a in Atom]
    assert all(rule["shortDescription"]["text"] for rule in driver["rules"])
    path = proved[0].descriptor.path
    assert run["artifacts"][0]["location"]["uri"].endswith("/t.rkv")
    assert run["artifacts"][0]["location"]["uri"] == "file://" + path
    lines = _lines(proved)
    assert run["results"], "refuted rows are results"
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == run["artifacts"][0]["location"]["uri"]
        assert location["region"]["startLine"] == lines[result["properties"]["lowering"]]


def test_sarif_levels_follow_expectations(proved) -> None:
    results = json.loads(render_sarif(proved))["runs"][0]["results"]

    def of(row: str) -> list[dict[str, Any]]:
        return [r for r in results if r["properties"]["lowering"] == row]

    assert of("carried") == []  # proven: nothing to annotate
    expected = of("prio_hard")
    assert {r["level"] for r in expected} == {"note"}
    assert "protected_exclusion" in {r["ruleId"] for r in expected}
    contradicted = of("prio_claimed")
    assert {r["level"] for r in contradicted} == {"error"}
    assert [r["ruleId"] for r in contradicted][-1] == "expectation"
    assert "expected adapter_policy" in contradicted[-1]["message"]["text"]
    assert {r["level"] for r in of("events_only")} == {"warning"}  # no expectation stated
    flow = next(r for r in expected if r["ruleId"] == "protected_exclusion")["codeFlows"][0]
    steps = flow["threadFlows"][0]["locations"]
    cex = next(r for f in proved for r in f.rows if r.result.row.name == "prio_hard"
               ).counterexamples["protected_exclusion"]
    assert len(steps) == len(cex.steps)
    assert [s["importance"] for s in steps].count("essential") == 1
    assert render_sarif(proved) == render_sarif(proved)  # deterministic


def test_suite_sarif_marks_ok_cases_as_notes(tmp_path: Path) -> None:
    case = tmp_path / "case.rkv"
    case.write_text(TEXT.split("\n\n")[0] + "\n\nlowering prio_hard mode hard_protected via "
                    "prio expect rejected_mapping because protected_exclusion\n", encoding="utf-8")
    report = suite.run_suite([str(tmp_path)], jobs=1)
    log = json.loads(render_suite_sarif(report))
    results = log["runs"][0]["results"]
    assert log["version"] == "2.1.0"
    assert {r["level"] for r in results} == {"note"}
    assert "protected_exclusion" in {r["ruleId"] for r in results}
    assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] == 6
               for r in results)


def _walk(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for v in value.values():
            out.extend(_walk(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_walk(v))
    return out


def test_itf_traces_one_state_per_step(proved, tmp_path: Path) -> None:
    written = write_itf(proved, str(tmp_path / "traces"))
    cexs = {(r.result.row.name, atom): cex for f in proved for r in f.rows
            for atom, cex in r.counterexamples.items()}
    assert len(written) == len(cexs) > 0
    for path in written:
        stem, row, atom, *_rest = os.path.basename(path).split(".")
        assert stem == "t" and path.endswith(".itf.json")
        trace = json.loads(Path(path).read_text(encoding="utf-8"))
        cex = cexs[(row, atom)]
        assert trace["#meta"]["format"] == "ITF"
        assert trace["#meta"]["atom"] == atom and trace["#meta"]["lowering"] == row
        assert len(trace["states"]) == len(cex.steps)
        for i, state in enumerate(trace["states"]):
            assert state["#meta"]["index"] == i
            assert set(trace["vars"]) <= set(state)
            assert state["free"] == {"#bigint": str(cex.steps[i]["state"]["free"])}
            assert state["mbt::actionTaken"] == cex.steps[i]["move"]["name"]
        values = _walk(trace["states"])
        assert None not in values  # ITF has no null
        # every integer of a state is a #bigint (index metadata aside)
        assert not [v for s in trace["states"] for v in _walk({k: x for k, x in s.items()
                                                               if k != "#meta"})
                    if isinstance(v, int) and not isinstance(v, bool)]


def test_itf_names_are_unique_across_files_with_one_stem(proved, tmp_path: Path) -> None:
    written = write_itf([proved[0], proved[0]], str(tmp_path))
    assert len(set(written)) == len(written)
    assert any(os.path.basename(p).startswith("t-2.") for p in written)
