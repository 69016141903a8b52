"""`rkvformal report`: one self-contained HTML file.

Inline CSS and inline SVG only: no script, no external stylesheet, font, image or link,
so the file opens the same offline, in a CI artifact viewer or attached to a mail.  It
holds the runtime x mode matrix, every row with its atoms, and for every counterexample
an SVG timeline of block occupancy (per claim, GPU and host tier) over the steps, with
the events of each step marked (hover a mark or a bar for its details) and the
violating step highlighted, followed by the step table.  Everything shown comes from
the proved rows (the prove/1 document); deterministic, no timestamps.
"""

from __future__ import annotations

import re
from html import escape
from importlib import metadata
from typing import Any

from rkvformal.pipeline import ProvedFile
from rkvformal.report import matrix as matrix_report
from rkvformal.report.explain import dropped_events
from rkvformal.report.json_report import document
from rkvformal.smt.counterexample import describe_move
from rkvformal.vocab import Atom, EvidenceClass

Json = dict[str, Any]

CLAIM_COLOURS = (("#1f5fa8", "#93bde9"), ("#7b3fa0", "#cdb1e3"))
ACTIVE_COLOUR, CACHED_COLOUR, FREE_COLOUR = "#e8862a", "#b4b4b4", "#ffffff"
CLASS_COLOUR = {
    EvidenceClass.NATIVE_CONFORMANCE: "#1b7f3b",
    EvidenceClass.ADAPTER_OBSERVATIONAL: "#3f9b57",
    EvidenceClass.ADAPTER_POLICY: "#1f7f8f",
    EvidenceClass.APPROXIMATION_SUBSTRATE: "#9b3f8f",
    EvidenceClass.REJECTED_MAPPING: "#b8322a",
    EvidenceClass.UNKNOWN_EVIDENCE: "#a07a00",
}
STATUS_COLOUR = {"proven": "#1b7f3b", "refuted": "#b8322a", "unknown": "#a07a00",
                 "vacuous": "#a07a00"}

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #1d1d1f; max-width: 1200px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin-top: 32px; }
h3 { font-size: 15px; margin: 24px 0 6px; } p { margin: 4px 0; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #d0d0d4; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f5; font-weight: 600; }
table.matrix td { text-align: center; min-width: 90px; }
table.matrix td.runtime { text-align: left; font-weight: 600; }
table.matrix a { display: block; text-decoration: none; font-weight: 600; }
.cls { font-weight: 600; } .muted { color: #77777c; } .bad { color: #b8322a; font-weight: 700; }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
              font-size: 12.5px; }
section.row { border-top: 1px solid #e4e4e8; margin-top: 18px; }
figure.cex { margin: 12px 0 20px; padding: 8px 12px; background: #fafafc;
             border: 1px solid #e4e4e8; border-radius: 6px; }
figcaption { margin-bottom: 6px; } svg.timeline { display: block; max-width: 100%; height: auto; }
.legend span.swatch { display: inline-block; width: 11px; height: 11px; margin: 0 4px 0 12px;
                      border: 1px solid #888; vertical-align: -1px; }
table.steps td { font-size: 12.5px; } table.steps tr.violation td { background: #fbe9e7; }
details summary { cursor: pointer; color: #1f5fa8; }
"""


def _version() -> str:
    try:
        return metadata.version("rkvformal")
    except metadata.PackageNotFoundError:
        return "0"


def _id(*parts: object) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", str(p)) for p in parts)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


# --- the matrix ---------------------------------------------------------------------

def matrix_table(files: list[ProvedFile], row_ids: dict[tuple[str, str], str]) -> str:
    grid = matrix_report.build(files)
    head = "".join(f"<th>{_e(m.value)}</th>" for m in grid.modes)
    body = []
    for runtime in grid.runtimes:
        cells = [f'<td class="runtime">{_e(runtime)}</td>']
        for mode in grid.modes:
            entries = grid.cell(runtime, mode)
            if not entries:
                cells.append('<td class="muted">·</td>')
                continue
            links = []
            for entry in entries:
                mark = ' <span class="bad">!</span>' if entry.matches_expectation is False else ""
                links.append(
                    f'<a href="#{row_ids[(entry.path, entry.lowering)]}" '
                    f'style="color:{CLASS_COLOUR[entry.evidence_class]}" '
                    f'title="{_e(entry.lowering)} ({_e(entry.path)}:{entry.line}): '
                    f'{_e(entry.evidence_class.value)}">'
                    f"{_e(matrix_report.SHORT[entry.evidence_class])}{mark}</a>")
            cells.append(f"<td>{''.join(links)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<table class="matrix"><thead><tr><th>runtime</th>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>"
            f'<p class="legend muted">{_e(matrix_report.legend())}; each entry links to its '
            "row</p>")


# --- the SVG timeline -----------------------------------------------------------------

def _event_colour(event: Json, claims: list[str]) -> str:
    claim = event.get("claim_id")
    if event.get("blocks_of") is not None:
        return CACHED_COLOUR if claim is None else CLAIM_COLOURS[claims.index(claim) % 2][1]
    if claim in claims:
        return CLAIM_COLOURS[claims.index(claim) % 2][0]
    return ACTIVE_COLOUR


def _event_text(event: Json) -> str:
    fields = " ".join(f"{k}={','.join(v) if isinstance(v, list) else v}"
                      for k, v in event.items() if k not in ("event", "by") and v is not None)
    return f"{event['event']} {fields} (by {', '.join(event.get('by', [])) or '?'})"


def timeline_svg(cex: Json, dropped: dict[int, list[str]] | None = None) -> str:
    """Block occupancy over the steps: a stacked bar of the GPU pool per step (each
    claim's required and other blocks, the active request's live blocks, unclaimed
    cached and free blocks), the host tier's copies per claim below it, each claim's
    state, and the step's events as marks above (hollow: dropped by a lossy stream)."""
    steps = cex["steps"]
    claims = list(steps[0]["state"]["claims"])
    usable = max(1, cex["numbers"]["usable"])
    host_max = max(1, sum(c["required"] for c in steps[0]["state"]["claims"].values()))
    left, col, bar = 150, 70, 46
    ev_top, ev_h = 28, 26
    gpu_top, gpu_h = ev_top + ev_h + 6, 170
    host_top, host_h = gpu_top + gpu_h + 14, 48
    state_top = host_top + host_h + 16
    axis_top = state_top + 16 * len(claims) + 6
    width = left + col * len(steps) + 20
    height = axis_top + 84
    out = [f'<svg class="timeline" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="{_e(cex["atom"])} counterexample '
           f'timeline, {len(steps)} steps" font-family="system-ui, sans-serif" font-size="11">']
    labels = ((ev_top + 16, "events"), (gpu_top + gpu_h / 2, f"GPU pool ({usable} blocks)"),
              (host_top + host_h / 2, "host tier"))
    for y, text in labels:
        out.append(f'<text x="8" y="{y:.0f}" fill="#444">{_e(text)}</text>')
    for i, name in enumerate(claims):
        out.append(f'<text x="8" y="{state_top + 16 * i + 11}" fill="{CLAIM_COLOURS[i % 2][0]}">'
                   f"{_e(name)} state</text>")
    out.append(f'<rect x="{left - 4}" y="{gpu_top}" width="{col * len(steps) + 8}" '
               f'height="{gpu_h}" fill="none" stroke="#e0e0e4"/>')
    for i, step in enumerate(steps):
        x = left + i * col + (col - bar) / 2
        n = step["step"]
        state = step["state"]
        if n == cex["violated_at_step"]:
            out.append(f'<rect class="violation" x="{left + i * col}" y="{ev_top - 22}" '
                       f'width="{col}" height="{axis_top - ev_top + 26}" fill="#b8322a" '
                       'fill-opacity="0.09"><title>violation: '
                       f'{_e(cex["broken"])}</title></rect>')
            out.append(f'<text x="{left + i * col + col / 2}" y="{ev_top - 8}" '
                       'text-anchor="middle" fill="#b8322a" font-weight="700">'
                       "✗ violated</text>")
        # GPU pool, stacked from the bottom
        segments = []
        for ci, name in enumerate(claims):
            c = state["claims"][name]
            dark, light = CLAIM_COLOURS[ci % 2]
            segments.append((c["required_resident"], dark,
                             f"{name}: {c['required_resident']}/{c['required']} required blocks"))
            segments.append((c["other_resident"], light, f"{name}: {c['other_resident']} other "
                                                         "blocks"))
        active = state["active"]
        segments.append((active["live"], ACTIVE_COLOUR,
                         f"active request: {active['live']}/{active['demand']} live "
                         f"({active['status']})"))
        segments.append((state["cached_unclaimed"], CACHED_COLOUR,
                         f"{state['cached_unclaimed']} unclaimed cached blocks"))
        segments.append((state["free"], FREE_COLOUR, f"{state['free']} free blocks"))
        y = gpu_top + gpu_h
        for count, colour, words in segments:
            if count <= 0:
                continue
            h = count * gpu_h / usable
            y -= h
            out.append(f'<rect x="{x:.1f}" y="{y:.2f}" width="{bar}" height="{h:.2f}" '
                       f'fill="{colour}" stroke="#8a8a90" stroke-width="0.5">'
                       f"<title>step {n}: {_e(words)}</title></rect>")
        # host tier
        hy = host_top + host_h
        for ci, name in enumerate(claims):
            c = state["claims"][name]
            if c["offloaded"] > 0:
                h = c["offloaded"] * host_h / host_max
                hy -= h
                out.append(f'<rect x="{x:.1f}" y="{hy:.2f}" width="{bar}" height="{h:.2f}" '
                           f'fill="{CLAIM_COLOURS[ci % 2][0]}" fill-opacity="0.55" '
                           f'stroke="#8a8a90" stroke-width="0.5"><title>step {n}: {_e(name)} '
                           f"{c['offloaded']} blocks on the host tier</title></rect>")
        out.append(f'<line x1="{x - 4:.1f}" y1="{host_top + host_h}" x2="{x + bar + 4:.1f}" '
                   f'y2="{host_top + host_h}" stroke="#c8c8cc"/>')
        # claim states
        for ci, name in enumerate(claims):
            c = state["claims"][name]
            colour = "#b8322a" if c["state"] == "harmed" else "#444"
            out.append(f'<text x="{left + i * col + col / 2}" y="{state_top + 16 * ci + 11}" '
                       f'text-anchor="middle" font-size="9.5" fill="{colour}">'
                       f"{_e(c['state'])}</text>")
        # events: filled marks; dropped events: hollow dashed marks
        marks = [(e, _event_colour(e, claims), _event_text(e), False) for e in step["events"]]
        marks += [({}, CACHED_COLOUR, f"dropped: {words}", True)
                  for words in (dropped or {}).get(n, [])]
        for k, (_event, colour, words, hollow) in enumerate(marks):
            cx = left + i * col + col / 2 + (k - (len(marks) - 1) / 2) * 12
            style = (f'fill="none" stroke="{colour}" stroke-dasharray="2 1.5" stroke-width="1.6"'
                     if hollow else f'fill="{colour}" stroke="#333" stroke-width="0.6"')
            out.append(f'<circle class="event" cx="{cx:.1f}" cy="{ev_top + 12}" r="5" {style}>'
                       f"<title>step {n}: {_e(words)}</title></circle>")
        # axis: step number and move
        move = step["move"]
        what = move["name"] + (f" {move['claim']}" if "claim" in move else "")
        mx, my = left + i * col + col / 2, axis_top + 12
        out.append(f'<text x="{mx}" y="{my}" text-anchor="middle" font-weight="600">{n}</text>')
        out.append(f'<text x="{mx}" y="{my + 14}" text-anchor="end" '
                   f'transform="rotate(-35 {mx} {my + 14})" fill="#333">'
                   f"<title>{_e(_move_text(move))}</title>{_e(what)}</text>")
    out.append("</svg>")
    return "".join(out)


def _move_text(move: Json) -> str:
    return describe_move(move)


def _legend(claims: list[str]) -> str:
    items = []
    for i, name in enumerate(claims):
        dark, light = CLAIM_COLOURS[i % 2]
        items.append(f'<span class="swatch" style="background:{dark}"></span>{_e(name)} required')
        items.append(f'<span class="swatch" style="background:{light}"></span>{_e(name)} other')
    items.append(f'<span class="swatch" style="background:{ACTIVE_COLOUR}"></span>active live')
    items.append(f'<span class="swatch" style="background:{CACHED_COLOUR}"></span>'
                 "unclaimed cached")
    items.append(f'<span class="swatch" style="background:{FREE_COLOUR}"></span>free')
    return f'<p class="legend muted">{"".join(items)}; dots are events (hover for details)</p>'


def steps_table(cex: Json, dropped: dict[int, list[str]] | None = None) -> str:
    rows = []
    for step in cex["steps"]:
        state = step["state"]
        claims = "<br>".join(
            f"{_e(name)}: {c['required_resident']}/{c['required']} required, "
            f"{c['other_resident']} other, {c['offloaded']} offloaded [{_e(c['state'])}]"
            for name, c in state["claims"].items())
        active = state["active"]
        events = [_e(_event_text(e)) for e in step["events"]]
        events += [f"<i>dropped: {_e(w)}</i>" for w in (dropped or {}).get(step["step"], [])]
        violation = ' class="violation"' if step["step"] == cex["violated_at_step"] else ""
        rows.append(
            f"<tr{violation}><td>{step['step']}</td><td>{_e(_move_text(step['move']))}</td>"
            f"<td>{claims}</td><td>{state['free']}</td><td>{state['cached_unclaimed']}</td>"
            f"<td>{_e(active['status'])} {active['live']}/{active['demand']}</td>"
            f"<td>{'<br>'.join(events) or '<span class=muted>none</span>'}</td></tr>")
    return ('<table class="steps"><thead><tr><th>step</th><th>move</th><th>claims</th>'
            "<th>free</th><th>cached</th><th>active</th><th>events</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def counterexample_figure(fig_id: str, cex: Json, dropped: dict[int, list[str]]) -> str:
    numbers = ", ".join(f"{k}={v}" for k, v in cex["numbers"].items() if not isinstance(v, dict))
    source = "the scenario's numbers" if cex["scenario_numbers"] else "small numbers"
    claims = list(cex["steps"][0]["state"]["claims"])
    return (f'<figure class="cex" id="{fig_id}"><figcaption><b>{_e(cex["atom"])}</b> refuted: '
            f"violated at step {cex['violated_at_step']} by {_e(cex['claim'])} — "
            f"{_e(cex['broken'])} <span class=\"muted\">({source}: {_e(numbers)})</span>"
            f"</figcaption>{timeline_svg(cex, dropped)}{_legend(claims)}"
            f"<details><summary>steps</summary>{steps_table(cex, dropped)}</details></figure>")


# --- rows and files ------------------------------------------------------------------------

def atoms_table(row: Json) -> str:
    body = []
    for ob in row["obligations"]:
        status = ob["status"]
        detail = ob["reason"] or (", ".join(ob["needs"]) if status == "proven" else "")
        if ob["counterexample"]:
            detail = f"violated at step {ob['counterexample']['violated_at_step']}: " \
                     f"{ob['counterexample']['broken']}"
        proof = ob["proof"] or ""
        body.append(f'<tr><td><code>{_e(ob["atom"])}</code></td>'
                    f'<td style="color:{STATUS_COLOUR[status]};font-weight:600">{_e(status)}</td>'
                    f"<td>{_e(proof)}</td><td>{_e(detail)}</td></tr>")
    return ('<table class="atoms"><thead><tr><th>atom</th><th>status</th><th>proof</th>'
            "<th>needs / reason / counterexample</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def row_section(row_id: str, row: Json, figures: list[str]) -> str:
    cls = EvidenceClass(row["class"])
    expected = row["expected"] or "none stated"
    mismatch = ' <span class="bad">MISMATCH</span>' if row["matches_expectation"] is False else ""
    prims = "; ".join(
        f"<code>{_e(p['name'])}</code> ({_e(p['kind'])}, {_e(p['provenance'])})"
        for p in row["primitives"]) or "none"
    assumed = ", ".join(row["assumptions"])
    parts = [
        f'<section class="row" id="{row_id}"><h3>{_e(row["kind"])} <code>{_e(row["lowering"])}'
        f'</code> · mode {_e(row["mode"])} · <span class="cls" style="color:'
        f'{CLASS_COLOUR[cls]}">{_e(cls.value)}</span>{mismatch}</h3>',
        f'<p class="muted">line {row["line"]} · expected {_e(expected)} · stage '
        f'{_e(row["stage"])}{" · " + _e("; ".join(row["reasons"])) if row["reasons"] else ""}'
        "</p>",
        f"<p>primitives: {prims}{' · assumes ' + _e(assumed) if assumed else ''}</p>",
        atoms_table(row),
        *figures,
        "</section>",
    ]
    return "".join(parts)


def _summary_row(row: Json, row_id: str) -> str:
    colour = CLASS_COLOUR[EvidenceClass(row["class"])]
    mismatch = " <span class=bad>MISMATCH</span>" if row["matches_expectation"] is False else ""
    return (f'<tr><td><a href="#{row_id}">{_e(row["lowering"])}</a></td>'
            f'<td>{_e(row["mode"])}</td><td style="color:{colour};font-weight:600">'
            f'{_e(row["class"])}</td><td>{_e(row["expected"] or "-")}{mismatch}</td></tr>')


def render_html(files: list[ProvedFile], bound: int) -> str:
    """The whole report as one HTML document."""
    doc = document(files, bound)
    row_ids = {(f["path"], r["lowering"]): _id("row", i, r["lowering"])
               for i, f in enumerate(doc["files"]) for r in f["rows"]}
    n_rows = sum(len(f["rows"]) for f in doc["files"])
    n_cex = sum(1 for f in doc["files"] for r in f["rows"] for o in r["obligations"]
                if o["counterexample"])
    sections = []
    for i, (f, proved) in enumerate(zip(doc["files"], files, strict=True)):
        rt = f["runtime"]
        rows_html = []
        for row, proved_row in zip(f["rows"], proved.rows, strict=True):
            checks = {c.atom: c for c in proved_row.result.checks}
            figures = []
            for ob in row["obligations"]:
                cex = ob["counterexample"]
                if cex is None:
                    continue
                check = checks[Atom(ob["atom"])]
                dropped = dropped_events(proved_row.result.row, check.trace,
                                         cex["violated_at_step"])
                figures.append(counterexample_figure(
                    _id("cex", i, row["lowering"], ob["atom"]), cex, dropped))
            rows_html.append(row_section(row_ids[(f["path"], row["lowering"])], row, figures))
        summary = "".join(_summary_row(r, row_ids[(f["path"], r["lowering"])])
                          for r in f["rows"])
        sections.append(
            f'<section class="file" id="{_id("file", i)}"><h2>{_e(f["path"])} — {_e(rt["name"])}'
            f' <span class="muted mono">{_e(rt["repo"])}@{_e(rt["version"])}</span></h2>'
            '<table class="rows"><thead><tr><th>row</th><th>mode</th><th>class</th>'
            f"<th>expected</th></tr></thead><tbody>{summary}</tbody></table>"
            f"{''.join(rows_html)}</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>rkvformal report</title><style>{CSS}</style></head><body>"
        f"<header><h1>rkvformal report</h1><p class=\"muted\">bounded k={bound} · "
        f"{len(files)} descriptor{'s' if len(files) != 1 else ''} · {n_rows} rows · "
        f"{n_cex} counterexamples · rkvformal {_e(_version())}</p></header>"
        '<section id="matrix"><h2>Runtime × mode</h2>'
        f"{matrix_table(files, row_ids)}</section>"
        f"{''.join(sections)}</body></html>\n"
    )
