"""Counterexamples as ITF traces (the Informal Trace Format of Apalache and Quint).

ITF (https://apalache-mc.org/docs/adr/015adr-trace.html) is JSON: `#meta`, the list of
state variables `vars`, and `states`, each with its own `#meta` (`index`) and a value per
variable.  Integers are `{"#bigint": "N"}`, records are JSON objects, sequences are
arrays, strings and booleans are themselves.  ITF has no null: a field the prove/1 JSON
sets to null (an event that names no claim) is left out of its record.  One state per
counterexample step, step 0 being the initial state; the move that led to a state is
that state's `move` (and `mbt::actionTaken`, as Quint's model-based-testing traces name
it).  Deterministic: no timestamps; file names from descriptor, row and atom.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from rkvformal.pipeline import ProvedFile
from rkvformal.report.json_report import document

Json = dict[str, Any]

FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
VARS = ("mbt::actionTaken", "move", "free", "cached_unclaimed", "claims", "active", "events")


def itf_value(value: Any) -> Any:
    """A prove/1 JSON value as an ITF value (ints as #bigint, nulls dropped)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {"#bigint": str(value)}
    if isinstance(value, dict):
        return {str(k): itf_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [itf_value(v) for v in value]
    return value


def _move(move: Json) -> Json:
    """Every move record has the same fields, so the trace is well typed."""
    return {
        "name": move["name"],
        "by": move["by"],
        "claim": move.get("claim", ""),
        "allocates": itf_value(move.get("allocates", 0)),
        "victims": {"#map": [[k, itf_value(v)] for k, v in move.get("victims", {}).items()]},
        "result": move.get("result", ""),
    }


def trace(path: str, runtime: str, row: Json, cex: Json) -> Json:
    """One counterexample of one row of the prove/1 document as an ITF trace."""
    states = []
    for i, step in enumerate(cex["steps"]):
        state = step["state"]
        states.append({
            "#meta": {"index": i, "step": step["step"]},
            "mbt::actionTaken": step["move"]["name"],
            "move": _move(step["move"]),
            "free": itf_value(state["free"]),
            "cached_unclaimed": itf_value(state["cached_unclaimed"]),
            "claims": itf_value(state["claims"]),
            "active": itf_value(state["active"]),
            "events": itf_value(step["events"]),
        })
    return {
        "#meta": {
            "format": "ITF",
            "format-description": FORMAT_DESCRIPTION,
            "source": path,
            "description": f"rkvformal counterexample: {row['lowering']} ({row['mode']}, "
                           f"{row['class']}) refutes {cex['atom']} at step "
                           f"{cex['violated_at_step']}: {cex['broken']}",
            "runtime": runtime,
            "lowering": row["lowering"],
            "line": row["line"],
            "mode": row["mode"],
            "class": row["class"],
            "atom": cex["atom"],
            "claim": cex["claim"],
            "violated_at_step": cex["violated_at_step"],
            "broken": cex["broken"],
            "scenario_numbers": cex["scenario_numbers"],
            "numbers": cex["numbers"],
        },
        "vars": list(VARS),
        "states": states,
    }


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def write_itf(files: list[ProvedFile], directory: str) -> list[str]:
    """Write `<file-stem>.<row>.<atom>.itf.json` per counterexample into `directory`
    (created if missing); returns the paths written, in file/row/atom order.  Two
    descriptors with the same stem get `-2`, `-3`... after the stem, in input order."""
    os.makedirs(directory, exist_ok=True)
    doc = document(files, 0)  # the bound is not part of a trace
    used: set[str] = set()
    written: list[str] = []
    for f in doc["files"]:
        base = stem = _safe(os.path.splitext(os.path.basename(f["path"]))[0])
        n = 1
        while stem in used:
            n += 1
            stem = f"{base}-{n}"
        used.add(stem)
        runtime = f["runtime"]["name"]
        for row in f["rows"]:
            for ob in row["obligations"]:
                cex = ob["counterexample"]
                if cex is None:
                    continue
                name = f"{stem}.{_safe(row['lowering'])}.{_safe(ob['atom'])}.itf.json"
                target = os.path.join(directory, name)
                with open(target, "w", encoding="utf-8") as out:
                    json.dump(trace(f["path"], runtime, row, cex), out, indent=2,
                              ensure_ascii=False)
                    out.write("\n")
                written.append(target)
    return written
