"""Recorded traces are input: whatever a line holds, `trace check` answers or reports
the line (exit 2), never a traceback.  Hypothesis writes records with the vocabulary's
event names and fields of every JSON type in every place."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from rkvformal.trace.gate import Gate, Status
from rkvformal.trace.reader import read_jsonl
from rkvformal.trace.schema import TraceInputError
from rkvformal.trace.vocabulary import IDENTITY_FIELDS, VOCABULARY
from rkvformal.vocab import Mode

FIELDS = ("claim_id", "outcome_claim_id", "blocking_claim_ids", "claim_registration",
          "resident_blocks_required", "resident_blocks_materialized", "leading_blocks_survived",
          "predicate_materialized", "restoration_source", "restored_from_offload_tier",
          "predicate_after_leading_blocks", "claim_scoped_outcome_type", "outcome_type",
          "feasibility", "resident_plus_active_blocks", "usable_blocks", "medium",
          "logical_block_position", "resident_claim_role", "resident_claim",
          "restoration_failure_event_sequence", "missing_from", "missing_to",
          "priority", "materialization_predicate", *IDENTITY_FIELDS)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**12) | st.floats(allow_nan=False)
    | st.sampled_from(["c0", "c1", "refusal", "offload_tier", "resident", "gpu",
                       "leading_prefix_at_least(2)", "infeasible", "post_hoc", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=2),
    max_leaves=4)
records = st.lists(st.fixed_dictionaries(
    {"event": st.sampled_from(sorted(VOCABULARY)) | st.text(max_size=4)},
    optional={name: json_values for name in FIELDS}), max_size=12)


@settings(max_examples=400, deadline=None)
@given(records, st.booleans(), st.sampled_from(list(Mode)))
def test_any_records_are_judged_or_reported(recs: list[dict], numbered: bool,
                                            mode: Mode) -> None:
    if numbered:
        for i, rec in enumerate(recs):
            rec["event_sequence"] = i
    text = "".join(json.dumps(rec) + "\n" for rec in recs).encode()
    gate = Gate(mode, ("outcome",), path="fuzz.jsonl")
    try:
        gate.consume(read_jsonl(io.BytesIO(text), "fuzz.jsonl"))
    except TraceInputError as error:
        assert error.line >= 1 and error.render().startswith("fuzz.jsonl:")
        return
    verdict = gate.verdict()
    assert verdict.status in set(Status)
    if not any(c.accepted for c in verdict.claims):
        assert verdict.status is Status.FAIL


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_any_bytes_are_judged_or_reported(lines: list[bytes]) -> None:
    text = b"\n".join(lines)
    try:
        Gate(Mode.OFFLOADABLE).consume(read_jsonl(io.BytesIO(text), "bytes.jsonl"))
    except TraceInputError as error:
        assert error.line >= 1
