"""The gate's batched hot loop (`Gate.consume`) answers what feeding one record at a
time through the general path (`Gate.feed`) answers: its raw-field memo, the
acceptance of a new claim (`Gate._accept`) and the steps it applies itself are
shortcuts, never other rules.  Records here are well typed (a field of the wrong type
is input the gate reports; which record reports it is the reader tests' business)."""

from __future__ import annotations

import gc
import io
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rkvformal.trace import reader
from rkvformal.trace.gate import CAPACITY_KINDS, FAST_FIELDS, Gate
from rkvformal.trace.reader import read_batches
from rkvformal.trace.vocabulary import IDENTITY_FIELDS, STAGES, VOCABULARY, Kind
from rkvformal.vocab import Mode

CLAIMS = ("c0", "c1", "c2")
LIFECYCLE = ["resident_claim_accepted", "resident_claim_materialized",
             "resident_claim_offloaded", "resident_claim_restore_required",
             "resident_claim_restored", "resident_claim_reuse_after_restore",
             "resident_claim_restoration_failed", "active_request_refused",
             "resident_claim_harmed", "allocation_victim_selected", "kv_block_removed",
             "request_initialized", "offload_store_job_created",
             "offload_request_finished_pending_jobs"]
EVENTS = st.sampled_from(LIFECYCLE) | st.sampled_from(LIFECYCLE) | st.sampled_from(
    sorted(VOCABULARY)) | st.just("mystery")
# well-typed values of the fields the gate reads (null included: it is absent)
VALUES: dict[str, Any] = {
    "claim_registration": st.sampled_from(["pre_registered", "post_hoc", None]),
    "resident_blocks_required": st.sampled_from([1, 2, 8, 0, None]),
    "resident_blocks_materialized": st.sampled_from([0, 1, 2, 8, None]),
    "leading_blocks_survived": st.sampled_from([0, 2, 8, None]),
    "predicate_materialized": st.sampled_from([True, False, None]),
    "restoration_source": st.sampled_from(["offload_tier", "recompute", None]),
    "restored_from_offload_tier": st.sampled_from([True, False, None]),
    "predicate_after_leading_blocks": st.sampled_from([0, 1, None]),
    "claim_scoped_outcome_type": st.sampled_from(["refusal", "harm", "fallback", None]),
    "outcome_type": st.sampled_from(["refusal", "expiry", None]),
    "feasibility": st.sampled_from(["infeasible", "infeasible_restore_x", "ok", None]),
    "resident_plus_active_blocks": st.sampled_from([1, 100, None]),
    "usable_blocks": st.sampled_from([10, None]),
    "medium": st.sampled_from(["gpu", "GPU", "cpu", None]),
    "logical_block_position": st.sampled_from([0, 1, 7, None]),
    "resident_claim_role": st.sampled_from(["resident", "active", None]),
    "resident_claim": st.sampled_from([True, False, None]),
    "restoration_failure_event_sequence": st.sampled_from([3, None]),
    "priority": st.sampled_from([0, 5, 90, None]),
    "retention_priority": st.sampled_from([10, None]),
    "materialization_predicate": st.sampled_from(["leading_prefix_at_least(2)",
                                                  "leading_prefix_at_least(8)", None]),
    "predicate": st.sampled_from(["leading_prefix_at_least", None]),
    "useful_threshold_blocks": st.sampled_from([2, None]),
}
IDENTITY = st.sampled_from(["id:a", "id:b", 7, "", None])
TEXT_IDENTITY = st.sampled_from(["leading_prefix_at_least(2)", "id:b", "", None])


def identity(name: str) -> Any:
    return TEXT_IDENTITY if name == "materialization_predicate" else IDENTITY


@st.composite
def traces(draw: Any) -> list[dict[str, Any]]:
    """Records of up to three claims, mostly each claim's own (most claims accepted
    first), carrying its identity values (now and then one changes, or is left out),
    with the fields the gate reads for their kinds."""
    identities = {c: {f: draw(identity(f)) for f in IDENTITY_FIELDS
                      if draw(st.integers(0, 4))} for c in CLAIMS}
    events = [*(["resident_claim_accepted"] * draw(st.integers(0, 3))),
              *draw(st.lists(EVENTS, min_size=1, max_size=60))]
    records = []
    for seq, event in enumerate(events):
        claim = CLAIMS[seq] if seq < len(CLAIMS) else draw(st.sampled_from(CLAIMS))
        rec: dict[str, Any] = {"event": event, "event_sequence": seq}
        if draw(st.integers(0, 9)):
            rec["claim_id"] = claim
        rec.update(identities[claim])
        if not draw(st.integers(0, 9)):
            name = draw(st.sampled_from(IDENTITY_FIELDS))
            rec[name] = draw(identity(name))
        for name in draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=8)):
            rec[name] = draw(VALUES[name])
        if draw(st.integers(0, 3)) == 0:
            rec["outcome_claim_id"] = draw(st.sampled_from([claim, *CLAIMS, None]))
        if draw(st.integers(0, 3)) == 0:
            rec["blocking_claim_ids"] = draw(st.sampled_from(
                [[claim], [], [claim, "c1"], None, list(CLAIMS)]))
        records.append(rec)
    return records


@st.composite
def focused(draw: Any) -> list[dict[str, Any]]:
    """Two claims, accepted, then a few records of the kinds the memo keys on raw
    fields (each of those fields there, of one of two values, or not) over and over,
    now and then one changed: a key that left something out, or a memo entry made for
    another record, answers for a record it does not fit."""
    base = {"predicate_id": "p", "prefix_id": "x"}
    if draw(st.booleans()):  # (every identity field known)
        base.update({f: "v" for f in IDENTITY_FIELDS if f not in base})
    pools = {name: draw(st.lists(VALUES[name], min_size=1, max_size=2)) for name in VALUES}
    pattern = []
    for _ in range(draw(st.integers(1, 6))):
        claim = draw(st.sampled_from(CLAIMS[:2]))
        rec = {"event": draw(st.sampled_from(FOCUSED)), "claim_id": claim, **base}
        kind = VOCABULARY[rec["event"]]
        for name in FAST_FIELDS.get(kind, ()):
            if draw(st.integers(0, 2)):
                rec[name] = draw(st.sampled_from(pools[name]))
        if kind in CAPACITY_KINDS or kind is Kind.RESTORATION_FAILED:
            for name, values in (("outcome_claim_id", [claim, None]),
                                 ("blocking_claim_ids", [[claim], [], None]),
                                 ("restoration_failure_event_sequence", [3, None])):
                if not draw(st.integers(0, 2)):
                    rec[name] = draw(st.sampled_from(values))
        pattern.append(rec)
    records = [{"event": "resident_claim_accepted", "claim_id": claim, **base,
                "resident_blocks_required": draw(st.sampled_from([1, 2])),
                "priority": draw(st.sampled_from([0, 50]))} for claim in CLAIMS[:2]]
    for _ in range(draw(st.integers(1, 5))):
        for rec in pattern:
            rec = dict(rec)
            change = draw(st.integers(0, 15))
            if change == 0:
                rec[draw(st.sampled_from(IDENTITY_FIELDS))] = draw(st.sampled_from(["w", None]))
            elif change == 1:
                rec.pop(draw(st.sampled_from(sorted(set(rec) - {"event", "claim_id"}))))
            elif change == 2:
                name = draw(st.sampled_from(sorted(pools)))
                rec[name] = draw(st.sampled_from(pools[name]))
            elif change <= 5:  # (what decides `extra`, there or not)
                name = ("outcome_claim_id", "blocking_claim_ids",
                        "restoration_failure_event_sequence")[change - 3]
                if rec.pop(name, None) is None:
                    rec[name] = [rec["claim_id"]] if change == 4 else (
                        rec["claim_id"] if change == 3 else 3)
            records.append(rec)
    for seq, rec in enumerate(records):
        rec["event_sequence"] = seq
    return records


FOCUSED = ["resident_claim_materialized", "resident_claim_block_lost_after_release",
           "resident_claim_restored",
           "resident_claim_restoration_failed", "active_request_refused",
           "active_request_admitted", "active_request_deferred", "resident_claim_harmed",
           "offload_store_job_created", "offload_request_finished_pending_jobs",
           "resident_claim_offloaded", "resident_claim_restore_required"]


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


@settings(max_examples=500, deadline=None)
@given(traces() | focused(), st.sampled_from(list(Mode)), st.integers(1, 9),
       st.lists(st.sampled_from(STAGES), max_size=2))
def test_the_batched_loop_judges_as_one_record_at_a_time(
        records: list[dict[str, Any]], mode: Mode, chunk: int, require: list[str]) -> None:
    data = _jsonl(records)
    one = Gate(mode, require, path="t.jsonl")
    for line, rec in enumerate(records, 1):
        one.feed(line, orjson.loads(orjson.dumps(rec)))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(reader, "CHUNK_LINES", chunk)
        batched = Gate(mode, require, path="t.jsonl")
        batched.consume_batches(read_batches(io.BytesIO(data), "t.jsonl"))
    assert batched.verdict() == one.verdict()
    assert _claims_state(batched) == _claims_state(one)


def _claims_state(gate: Gate) -> dict[str, tuple[Any, ...]]:
    """What the gate knows of each claim, its shortcuts' flags included (a shortcut that
    set one wrongly would send later records the wrong way)."""
    return {name: (t.identity, t.whole, t.exact_identity, gate.configs[t.config])
            for name, t in gate.tracks.items()}


@pytest.mark.parametrize("empty", ["", None])
def test_an_acceptance_tells_an_empty_identity_value_from_a_null_one(empty: Any) -> None:
    """Claims a and b are accepted alike but for one identity value, empty for one and
    null for the other (the same truth): b's acceptance meets the memo entry a's made,
    and must still learn its own identity (null: not known yet)."""
    full = {f: "v" for f in IDENTITY_FIELDS}
    accepted = {"event": "resident_claim_accepted", **full}
    records = [{**accepted, "claim_id": "a", "prefix_id": "" if empty is None else None},
               {**accepted, "claim_id": "b", "prefix_id": empty},
               {"event": "resident_claim_offloaded", "claim_id": "b", **full,
                "prefix_id": "y"}]
    for seq, rec in enumerate(records):
        rec["event_sequence"] = seq
    for upto in (2, 3):  # (after the acceptances, and after b's next record)
        one = Gate(Mode.OFFLOADABLE, path="t.jsonl")
        for line, rec in enumerate(records[:upto], 1):
            one.feed(line, orjson.loads(orjson.dumps(rec)))
        batched = Gate(Mode.OFFLOADABLE, path="t.jsonl")
        batched.consume_batches(read_batches(io.BytesIO(_jsonl(records[:upto])), "t.jsonl"))
        assert _claims_state(batched) == _claims_state(one)
        assert batched.verdict() == one.verdict()
    (b,) = (c for c in batched.verdict().claims if c.claim_id == "b")
    # accepted with "" then seen with "y": its identity changed; with null: learned
    status = {a.atom.value: a.status.value for a in b.atoms}["claim_identity"]
    assert status == ("fail" if empty == "" else "pass")


def test_a_verdict_keeps_what_it_said_when_more_records_come() -> None:
    def rec(seq: int, event: str) -> dict[str, Any]:
        return {"event": event, "event_sequence": seq, "claim_id": "c",
                "predicate_id": "p", "prefix_id": "x"}

    gate = Gate(Mode.OFFLOADABLE)
    gate.consume([(1, rec(0, "resident_claim_accepted"))])
    first = gate.verdict()
    gate.consume([(2, rec(1, "resident_claim_offloaded"))])
    gate.feed(3, rec(2, "resident_claim_restore_required"))
    gate.observe(4, rec(3, "resident_claim_restored"))
    (claim,) = first.claims
    assert list(claim.stages) == ["accepted"]
    (later,) = gate.verdict().claims
    assert list(later.stages) == ["accepted", "offloaded", "restore_required"]


def _pass(claims: int = 50) -> Gate:
    records = [{"event": "resident_claim_accepted", "event_sequence": i, "claim_id": f"c{i}",
                "predicate_id": "p", "prefix_id": "x"} for i in range(claims)]
    gate = Gate(Mode.OFFLOADABLE, path="t.jsonl")
    gate.consume_batches(read_batches(io.BytesIO(_jsonl(records)), "t.jsonl"))
    return gate


def test_a_pass_leaves_its_state_in_the_oldest_generation_and_the_collector_on() -> None:
    assert gc.isenabled() and not gc.get_freeze_count()
    gate = _pass()
    assert gc.isenabled() and not gc.get_freeze_count()
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(track) in oldest for track in gate.tracks.values())


def test_a_pass_thaws_nobody_elses_frozen_objects_and_keeps_the_collector_off() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        _pass()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        _pass()
        assert not gc.isenabled()
    finally:
        gc.enable()
