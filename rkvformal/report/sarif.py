"""SARIF 2.1.0 output, so CI systems can annotate descriptors (docs/REPORTS.md).

Built from the `rkvformal.prove/1` document, never from re-proving.  One result per
refuted atom of a row (rule = the atom), located at the row's line in the descriptor and
carrying its counterexample as a code flow; one `expectation` result for every row that
contradicts its `expect`, and one `undecided` result for every row the solver left
undecided.  Levels follow the exit codes: a contradiction is an `error`, an undecided
row a `warning`, and a refutation the row itself expects a `note` (the mapping is false,
as the descriptor says).  Deterministic: no timestamps, fixed order.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from rkvformal.pipeline import ProvedFile
from rkvformal.report.json_report import document
from rkvformal.smt.counterexample import describe_move, name_claim
from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.prover import DEFAULT_BOUND
from rkvformal.vocab import Atom

if TYPE_CHECKING:
    from rkvformal.suite import SuiteReport

Json = dict[str, Any]

SCHEMA_URI = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
              "sarif-schema-2.1.0.json")
EXPECTATION, UNDECIDED = "expectation", "undecided"


def _version() -> str:
    try:
        return metadata.version("rkvformal")
    except metadata.PackageNotFoundError:
        return "0"


def _rules() -> list[Json]:
    rules = [{
        "id": atom.value,
        "name": "".join(part.capitalize() for part in atom.value.split("_")),
        "shortDescription": {"text": name_claim(ATOMS[atom].words, "the claim")},
        "fullDescription": {"text": f"Obligation atom {atom.value}: "
                                    f"{name_claim(ATOMS[atom].words, 'the claim')}; it is "
                                    f"about traces in which {ATOMS[atom].trigger_words}."},
        "defaultConfiguration": {"level": "warning"},
    } for atom in Atom]
    rules.append({
        "id": EXPECTATION, "name": "Expectation",
        "shortDescription": {"text": "the row's class or refuted atoms contradict its expect"},
        "defaultConfiguration": {"level": "error"},
    })
    rules.append({
        "id": UNDECIDED, "name": "Undecided",
        "shortDescription": {"text": "the solver left an atom of the row undecided "
                                     "(unknown or timeout)"},
        "defaultConfiguration": {"level": "warning"},
    })
    return rules


def artifact_uri(path: str) -> str:
    """A relative path stays relative (CI resolves it against the checkout); an absolute
    one becomes a file URI."""
    posix = path.replace(os.sep, "/")
    if os.path.isabs(path):
        return "file://" + quote(posix if posix.startswith("/") else "/" + posix)
    return quote(posix)


def _location(uri: str, index: int, line: int) -> Json:
    return {"physicalLocation": {"artifactLocation": {"uri": uri, "index": index},
                                 "region": {"startLine": max(1, line)}}}


def _step_text(step: Json) -> str:
    words = [f"step {step['step']}: {describe_move(step['move'])}"]
    claims = "; ".join(f"{name} {c['required_resident']}/{c['required']} required "
                       f"[{c['state']}]" for name, c in step["state"]["claims"].items())
    events = ", ".join(e["event"] for e in step["events"]) or "no events"
    return f"{' '.join(words)} — {claims or 'no claims'} — {events}"


def _code_flow(cex: Json, location: Json) -> Json:
    return {"threadFlows": [{"locations": [
        {"location": {**location, "message": {"text": _step_text(step)}},
         "importance": "essential" if step["step"] == cex["violated_at_step"] else "unimportant"}
        for step in cex["steps"]
    ]}]}


def _level(matches: bool | None) -> str:
    if matches is False:
        return "error"
    return "note" if matches else "warning"


def _expectation_words(row: Json) -> str:
    refuted = [o["atom"] for o in row["obligations"] if o["status"] == "refuted"]
    missing = [a for a in row["expected_because"] if a not in refuted]
    words = f"classified {row['class']}, expected {row['expected']}"
    if missing:
        words += f"; expected refuted but not: {', '.join(missing)}"
    return words


def _row_results(row: Json, uri: str, index: int, rule_index: dict[str, int]) -> list[Json]:
    where = _location(uri, index, row["line"])
    common = {"lowering": row["lowering"], "mode": row["mode"], "class": row["class"],
              "expected": row["expected"], "stage": row["stage"]}
    results: list[Json] = []
    matches = row["matches_expectation"]
    verdict = {True: "as expected", False: f"contradicting expect {row['expected']}",
               None: "no expectation stated"}[matches]
    for ob in row["obligations"]:
        if ob["status"] != "refuted":
            continue
        cex = ob["counterexample"]
        text = f"{row['lowering']}: {ob['atom']} refuted ({row['class']}, {verdict})"
        result: Json = {
            "ruleId": ob["atom"], "ruleIndex": rule_index[ob["atom"]], "level": _level(matches),
            "message": {"text": text + (f"; broken at step {cex['violated_at_step']}: "
                                        f"{cex['broken']}" if cex else "")},
            "locations": [where],
            "partialFingerprints": {"rkvformal/v1": f"{row['lowering']}:{ob['atom']}"},
            "properties": {**common},
        }
        if cex:
            result["codeFlows"] = [_code_flow(cex, where)]
            result["properties"].update(violated_at_step=cex["violated_at_step"],
                                        claim=cex["claim"])
        results.append(result)
    def row_result(rule: str, level: str, text: str) -> Json:
        """A result about the row as a whole (not one refuted atom)."""
        return {
            "ruleId": rule, "ruleIndex": rule_index[rule], "level": level,
            "message": {"text": f"{row['lowering']}: {text}"},
            "locations": [where],
            "partialFingerprints": {"rkvformal/v1": f"{row['lowering']}:{rule}"},
            "properties": {**common},
        }

    if matches is False:
        results.append(row_result(EXPECTATION, "error", _expectation_words(row)))
    unknown = [o for o in row["obligations"] if o["status"] == "unknown"]
    if unknown:
        reasons = "; ".join(f"{o['atom']}: {o['reason']}" for o in unknown)
        results.append(row_result(UNDECIDED, "warning", f"undecided ({reasons})"))
    return results


def sarif_log(files: list[ProvedFile], bound: int | None = None) -> Json:
    """The SARIF log as a dict (one run, every file an artifact)."""
    if bound is None:
        bound = max((c.bound for f in files for r in f.rows for c in r.result.checks),
                    default=DEFAULT_BOUND)
    doc = document(files, bound)
    rules = _rules()
    rule_index = {rule["id"]: i for i, rule in enumerate(rules)}
    artifacts, results = [], []
    for index, f in enumerate(doc["files"]):
        uri = artifact_uri(f["path"])
        artifacts.append({"location": {"uri": uri}, "roles": ["analysisTarget"]})
        for row in f["rows"]:
            results.extend(_row_results(row, uri, index, rule_index))
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "rkvformal", "version": _version(), "rules": rules}},
            "artifacts": artifacts,
            "results": results,
            "properties": {"bound": bound},
        }],
    }


def render_sarif(files: list[ProvedFile], bound: int | None = None) -> str:
    """`rkvformal prove --format sarif`: the SARIF log as text."""
    return json.dumps(sarif_log(files, bound), indent=2, ensure_ascii=False) + "\n"


def suite_sarif_log(report: SuiteReport) -> Json:
    """The suite's SARIF log: each case's refuted atoms (a `note` when the case is ok, an
    `error` when it is not) and one `expectation` error per failed case, with its reason."""
    rules = _rules()
    rule_index = {rule["id"]: i for i, rule in enumerate(rules)}
    uris: dict[str, int] = {}
    results: list[Json] = []
    for case in report.cases:
        uri = artifact_uri(case.path)
        index = uris.setdefault(uri, len(uris))
        where = _location(uri, index, case.line)
        common = {"lowering": case.lowering, "class": case.evidence_class.value,
                  "expected": case.expected_class.value,
                  "expected_atoms": list(case.expected_atoms), "ok": case.ok,
                  "counterexample_replayed": case.counterexample_replayed}
        for atom in case.refuted_atoms:
            stated = "a stated atom" if atom in case.expected_atoms else "not a stated atom"
            results.append({
                "ruleId": atom, "ruleIndex": rule_index[atom],
                "level": "note" if case.ok else "error",
                "message": {"text": f"{case.lowering}: {atom} refuted ({stated}; case "
                                    f"{'ok' if case.ok else 'FAILED'})"},
                "locations": [where],
                "partialFingerprints": {"rkvformal/v1": f"{case.lowering}:{atom}"},
                "properties": dict(common),
            })
        if not case.ok:
            results.append({
                "ruleId": EXPECTATION, "ruleIndex": rule_index[EXPECTATION], "level": "error",
                "message": {"text": f"{case.lowering}: {case.reason}"},
                "locations": [where],
                "partialFingerprints": {"rkvformal/v1": f"{case.lowering}:{EXPECTATION}"},
                "properties": dict(common),
            })
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "rkvformal", "version": _version(), "rules": rules}},
            "artifacts": [{"location": {"uri": uri}, "roles": ["analysisTarget"]}
                          for uri in uris],
            "results": results,
        }],
    }


def render_suite_sarif(report: SuiteReport) -> str:
    """`rkvformal suite --format sarif`: the suite's SARIF log as text."""
    return json.dumps(suite_sarif_log(report), indent=2, ensure_ascii=False) + "\n"
