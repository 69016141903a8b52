"""A field is type-checked exactly where the gate reads it (`gate.READS`), the same way
whichever path a record takes: the general path, the hot loop's memo (whose keys must
not take `true` for `1`), or `trace admit`'s `observe`.

Before READS, every record was checked for every field the gate reads anywhere, but a
record the memo answered was not checked at all: a mistyped field was reported or not
depending on what came before it, and `"resident_blocks_materialized": true` after a
record with `1` was read as 1."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_trace_gate_paths import focused, traces

from rkvformal.trace import reader
from rkvformal.trace.gate import CLAIM_READS, FIELD_TYPES, READS, Gate
from rkvformal.trace.reader import read_batches
from rkvformal.trace.schema import TraceInputError
from rkvformal.trace.vocabulary import VOCABULARY, Kind
from rkvformal.vocab import Mode

# a value of each JSON type, and the schema types it has
WRONG: list[tuple[Any, type]] = [(True, bool), (False, bool), (1, int), (0, int), (1.5, float),
                                 (1.0, float), ("1", str), ([1], list), ({"a": 1}, dict)]


class Recording(dict[str, Any]):
    """A record that notes every field read from it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: Any) -> bool:
        self.read.add(key)
        return super().__contains__(key)


@settings(max_examples=300, deadline=None)
@given(traces() | focused(), st.sampled_from(list(Mode)))
def test_the_general_path_reads_only_what_reads_says(records: list[dict[str, Any]],
                                                     mode: Mode) -> None:
    gate = Gate(mode, path="t.jsonl")
    for line, rec in enumerate(records, 1):
        recording = Recording(rec)
        with pytest.MonkeyPatch.context() as monkeypatch:  # (its own reads are READS)
            monkeypatch.setattr(Gate, "_validate", lambda *args: None)
            gate.feed(line, recording)
        kind = VOCABULARY.get(rec["event"])
        read = recording.read & set(FIELD_TYPES)
        assert read <= set(READS[kind]), (rec["event"], read - set(READS[kind]))


def _outcome(run: Any) -> Any:
    try:
        return "verdict", run().verdict()
    except TraceInputError as error:
        return "error", error.line, error.message


@settings(max_examples=400, deadline=None)
@given(traces() | focused(), st.sampled_from(list(Mode)), st.integers(1, 9),
       st.data())
def test_a_mistyped_field_is_reported_iff_its_record_reads_it(
        records: list[dict[str, Any]], mode: Mode, chunk: int, data: Any) -> None:
    at = data.draw(st.integers(0, len(records) - 1))
    name = data.draw(st.sampled_from(sorted(FIELD_TYPES)))
    wanted = FIELD_TYPES[name][0]
    value = data.draw(st.sampled_from([v for v, t in WRONG if t not in (
        wanted if isinstance(wanted, tuple) else (wanted,))]))
    if name == "claim_id" and isinstance(value, (list, dict)):
        value = 1.5  # (an unhashable claim id is the reader tests' business)
    records[at][name] = value
    raw = b"".join(orjson.dumps(r) + b"\n" for r in records)

    def one_at_a_time() -> Gate:
        gate = Gate(mode, path="t.jsonl")
        for line, rec in enumerate(records, 1):
            gate.feed(line, orjson.loads(orjson.dumps(rec)))
        return gate

    def batched() -> Gate:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setattr(reader, "CHUNK_LINES", chunk)
            gate = Gate(mode, path="t.jsonl")
            gate.consume_batches(read_batches(io.BytesIO(raw), "t.jsonl"))
        return gate

    def observed() -> Gate:
        gate = Gate(mode, path="t.jsonl")
        for line, rec in enumerate(records, 1):
            gate.observe(line, orjson.loads(orjson.dumps(rec)))
        return gate

    outcome = _outcome(one_at_a_time)
    assert _outcome(batched) == outcome
    read = name in READS[VOCABULARY.get(records[at]["event"])]
    assert (outcome[0] == "error") == read
    if read:
        assert outcome[1] == at + 1 and repr(name) in outcome[2]
        assert _outcome(observed)[:2] == ("error", at + 1)


def _trace(*records: dict[str, Any]) -> bytes:
    base = {"claim_id": "c", "predicate_id": "p", "prefix_id": "x"}
    return b"".join(orjson.dumps({**base, "event_sequence": seq, **rec}) + b"\n"
                    for seq, rec in enumerate(records))


def _check(raw: bytes) -> Any:
    gate = Gate(Mode.OFFLOADABLE, path="t.jsonl")

    def consumed() -> Gate:
        gate.consume_batches(read_batches(io.BytesIO(raw), "t.jsonl"))
        return gate

    return _outcome(consumed)


def _twins(accepted: dict[str, Any], step: dict[str, Any], field: str, bad: Any) -> bytes:
    """Claims a and b accepted alike, then the same step for each, b's with `field` bad:
    b's record meets the memo entry a's made (the same configuration and kind)."""
    return _trace({**accepted, "claim_id": "a"}, {**accepted, "claim_id": "b"},
                  {**step, "claim_id": "a"}, {**step, "claim_id": "b", field: bad})


@pytest.mark.parametrize(("event", "field", "good", "bad"), [
    ("resident_claim_materialized", "resident_blocks_materialized", 1, True),
    ("resident_claim_materialized", "resident_blocks_materialized", 8, 8.0),
    ("resident_claim_materialized", "predicate_materialized", True, 1),
    ("resident_claim_materialized", "predicate_materialized", False, 0),
    ("resident_claim_restored", "restored_from_offload_tier", True, 1),
    ("resident_claim_harmed", "predicate_after_leading_blocks", 0, False),
    ("resident_claim_restoration_failed", "outcome_type", "refusal", 1),
    ("active_request_refused", "resident_plus_active_blocks", 1, True),
    ("active_request_deferred", "usable_blocks", 10, 10.0),
    ("active_request_admitted", "feasibility", "ok", 0),
])
def test_the_memo_does_not_take_a_flag_for_a_number(event: str, field: str, good: Any,
                                                    bad: Any) -> None:
    """(One case per layout of the memo's keys, `gate._layout`.)"""
    accepted = {"event": "resident_claim_accepted", "resident_blocks_required": 1}
    step = {"event": event, field: good}
    assert _check(_twins(accepted, step, field, bad))[:2] == ("error", 4)
    assert _check(_twins(accepted, step, field, good))[0] == "verdict"


def test_a_numeric_identity_is_not_matched_by_a_flag() -> None:
    accepted = {"event": "resident_claim_accepted", "prefix_id": 1}
    offloaded = {"event": "resident_claim_offloaded", "prefix_id": 1}
    assert _check(_twins(accepted, offloaded, "prefix_id", 1))[0] == "verdict"
    error = _check(_twins(accepted, offloaded, "prefix_id", True))
    assert error[:2] == ("error", 4) and "'prefix_id'" in error[2]


@pytest.mark.parametrize(("field", "good", "bad"), [
    ("resident_blocks_required", 1, True),
    ("resident_blocks_required", 8, 8.0),
    ("priority", 0, False),
    ("useful_threshold_blocks", 2, 2.0),
    ("claim_registration", "pre_registered", 1),
    ("prefix_id", "x", True),
    ("prefix_id", 1, 1.0),
])
def test_a_new_claims_acceptance_is_checked_whatever_came_before(field: str, good: Any,
                                                                 bad: Any) -> None:
    """Claim b's acceptance meets the memo entry claim a's made (`Gate._accept`)."""
    accepted = {"event": "resident_claim_accepted", field: good}
    raw = _trace({**accepted, "claim_id": "a"}, {**accepted, "claim_id": "b", field: bad})
    error = _check(raw)
    assert error[:2] == ("error", 2) and f"'{field}'" in error[2]
    assert _check(_trace({**accepted, "claim_id": "a"},
                         {**accepted, "claim_id": "b"}))[0] == "verdict"


def test_a_refusal_citing_a_failure_by_text_is_reported_after_one_citing_it_by_number(
        ) -> None:
    accepted = {"event": "resident_claim_accepted"}
    refused = {"event": "active_request_refused", "restoration_failure_event_sequence": 3}
    field = "restoration_failure_event_sequence"
    assert _check(_twins(accepted, refused, field, "3"))[:2] == ("error", 4)
    assert _check(_twins(accepted, refused, field, 4))[0] == "verdict"


def test_a_field_a_kind_does_not_read_is_carried_along() -> None:
    """`priority` is read at acceptance; an offload carrying a text priority is judged."""
    accepted = {"event": "resident_claim_accepted", "priority": 5}
    raw = _trace(accepted, {"event": "resident_claim_offloaded", "priority": "high"})
    assert _check(raw)[0] == "verdict"
    assert _check(_trace({**accepted, "priority": "high"}))[:2] == ("error", 1)


def test_the_docs_say_what_each_kind_reads() -> None:
    """docs/TRACES.md's per-kind table is READS (beyond the claims and identity)."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "TRACES.md").read_text()
    table = doc.split("<!-- reads:")[1].split("\n\n")[0]
    said: dict[Kind | None, tuple[str, ...]] = {}
    for row in table.splitlines()[3:]:
        kinds, fields = row.strip("|").split("|")
        names = tuple(f.strip(" `") for f in fields.split(","))
        for kind in kinds.split(","):
            kind = kind.split("(")[0].strip(" `")
            said[None if kind.startswith("an event") else Kind(kind)] = names
    no_claims = (None, Kind.GAP, Kind.BOOKKEEPING)
    expected = {kind: names if kind in no_claims else tuple(
        f for f in names if f not in CLAIM_READS) for kind, names in READS.items()}
    assert said == {k: v for k, v in expected.items() if v}
    assert all(set(CLAIM_READS) <= set(READS[k]) for k in Kind
               if k not in (Kind.BOOKKEEPING, Kind.GAP))


@pytest.mark.parametrize(("step", "null", "fallback"), [
    ({"event": "resident_claim_materialized"}, "resident_blocks_materialized",
     {"leading_blocks_survived": 0}),
    ({"event": "resident_claim_restoration_failed", "outcome_claim_id": "a"},
     "claim_scoped_outcome_type", {"outcome_type": "refusal"}),
    ({"event": "active_request_refused", "outcome_type": "refusal"},
     "restoration_failure_event_sequence", {}),
])
def test_null_is_absent(step: dict[str, Any], null: str, fallback: dict[str, Any]) -> None:
    """A null field means what an absent one means, on every path (the memo's key holds
    None for both, so a difference would make a verdict depend on the order: found by
    the batched-loop property test)."""
    accepted = {"event": "resident_claim_accepted", "resident_blocks_required": 1}
    given_null = {**step, **fallback, null: None}
    absent = {**step, **fallback}
    for first, second in ((given_null, absent), (absent, given_null)):
        records = [{**accepted, "claim_id": "a"}, {**accepted, "claim_id": "b"},
                   {**first, "claim_id": "a"}, {**second, "claim_id": "b"}]
        for rec in records:
            if rec.get("outcome_claim_id"):
                rec["outcome_claim_id"] = rec["claim_id"]
        raw = _trace(*records)
        one = Gate(Mode.OFFLOADABLE, path="t.jsonl")
        for line, encoded in enumerate(raw.splitlines(), 1):
            one.feed(line, orjson.loads(encoded))
        verdict = one.verdict()
        assert _check(raw) == ("verdict", verdict)
        a, b = verdict.claims
        assert [x.status for x in a.atoms] == [x.status for x in b.atoms]
        assert list(a.stages) == list(b.stages)
