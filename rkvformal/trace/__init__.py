"""Recorded traces: read them, join them to claims, and check or admit them.

Pipeline: `reader` (JSONL lines -> canonical records, with line numbers and sequence
gaps) or an adapter in `adapters/` (a runtime's native KV event stream -> canonical
records joined to claims) -> `gate` (the bundle's atoms evaluated on the stream) ->
`report`.  `admit` asks the SMT model whether a recorded trace is possible at all.
"""
