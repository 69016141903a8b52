"""The `rkvformal.prove/1` JSON document (docs/JSON.md).

Deterministic by construction: keys are emitted in a fixed order, nothing depends on
time, hashing or the machine, and the solver's models are shrunk to a canonical
form before they are read.  The same inputs give byte-identical output.
"""

from __future__ import annotations

import json
from typing import Any

from rkvformal.pipeline import ProvedFile, ProvedRow

SCHEMA = "rkvformal.prove/1"


def _row(proved: ProvedRow) -> dict[str, Any]:
    result = proved.result
    row = result.row
    obligations = []
    for check in result.checks:
        cex = proved.counterexamples.get(check.atom.value)
        obligations.append({
            "atom": check.atom.value,
            "status": check.status.value,
            "bound": check.bound,
            "proof": check.proof,
            "induction_k": check.induction_depth,
            "reason": check.reason or None,
            "needs": list(check.core),
            "counterexample": cex.to_json() if cex else None,
        })
    return {
        "lowering": row.name,
        "kind": row.kind.value,
        "line": row.line,
        "mode": row.mode.value,
        "class": result.evidence_class.value,
        "expected": row.expected.value if row.expected else None,
        "expected_because": [a.value for a in row.because],
        "matches_expectation": result.matches_expectation,
        "stage": result.stage,
        "reasons": list(result.reasons),
        "primitives": [
            {
                "name": p.name,
                "kind": p.kind.value,
                "provenance": p.provenance.value,
                "params": {k: v for k, v in p.params},
                "anchors": [a.render() for a in p.anchors],
            }
            for p in row.primitives
        ],
        "assumptions": [a.value for a in row.assumptions],
        "scenario": row.scenario.name if row.scenario else None,
        "needed": list(result.needed),
        "obligations": obligations,
    }


def document(files: list[ProvedFile], bound: int) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "bound": bound,
        "files": [
            {
                "path": f.descriptor.path,
                "runtime": {
                    "name": f.descriptor.runtime.name,
                    "repo": f.descriptor.runtime.repo,
                    "version": f.descriptor.runtime.version,
                },
                "rows": [_row(r) for r in f.rows],
            }
            for f in files
        ],
    }


def render(files: list[ProvedFile], bound: int) -> str:
    return json.dumps(document(files, bound), indent=2, ensure_ascii=False) + "\n"
