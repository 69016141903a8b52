"""The reader checks lines a chunk at a time; it must say exactly what reading one
line at a time would: the same records, the same gap records, the same first error on
the same line.  `reference` below is that one-line-at-a-time reading, written from
the rules in `reader`'s docstring (and the gate's error order with them)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rkvformal.trace import reader
from rkvformal.trace.gate import Gate, Location, StageLocations
from rkvformal.trace.reader import batches, read_batches, read_jsonl
from rkvformal.trace.schema import SEQUENCE_GAP, TraceInputError
from rkvformal.vocab import Mode


def reference(data: bytes, path: str = "t.jsonl") -> Iterator[tuple[int, Any]]:
    """One line at a time: (line, record), or TraceInputError at the first bad line."""
    last_seq = last_ts = None
    for number, raw in enumerate(io.BytesIO(data), 1):
        if len(raw) > reader.MAX_LINE_BYTES:
            raise TraceInputError(path, number, f"line longer than {reader.MAX_LINE_BYTES} bytes")
        try:
            rec = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if not raw.strip():
                continue
            raise TraceInputError(path, number, f"not a JSON object: {exc}") from None
        if type(rec) is not dict:
            raise TraceInputError(path, number, "a record must be a JSON object")
        if type(rec.get("event")) is not str or not rec["event"]:
            raise TraceInputError(path, number, "the record has no 'event' name")
        seq = rec.get("event_sequence")
        if seq is not None:
            if type(seq) is not int:
                raise TraceInputError(path, number, "'event_sequence' must be an integer")
            if last_seq is not None and seq != last_seq + 1:
                if seq <= last_seq:
                    raise TraceInputError(path, number,
                                          f"event_sequence {seq} after {last_seq}: out of order")
                yield number, {"event": SEQUENCE_GAP, "missing_from": last_seq + 1,
                               "missing_to": seq - 1}
            last_seq = seq
        elif type(rec.get("timestamp_ns")) is int:
            if last_ts is not None and rec["timestamp_ns"] < last_ts:
                raise TraceInputError(path, number, f"timestamp_ns {rec['timestamp_ns']} is "
                                      "before the previous record's")
            last_ts = rec["timestamp_ns"]
        yield number, rec


def outcome(records: Iterator[tuple[int, Any]]) -> tuple[list[tuple[int, Any]], Any]:
    """The records read, and the first error's (line, message), if any."""
    got: list[tuple[int, Any]] = []
    try:
        for pair in records:
            got.append(pair)
    except TraceInputError as error:
        return got, (error.line, error.message)
    return got, None


class Stream(io.BytesIO):
    """A stream the reader does not know the position of (it measures each line)."""


def chunked(data: bytes, monkeypatch: pytest.MonkeyPatch, size: int,
            stream: type[io.BytesIO] = io.BytesIO) -> Any:
    monkeypatch.setattr(reader, "CHUNK_LINES", size)
    return outcome(read_jsonl(stream(data), "t.jsonl"))


def _rec(seq: int | None, **fields: Any) -> bytes:
    rec: dict[str, Any] = {"event": "resident_claim_offloaded", "claim_id": "c", **fields}
    if seq is not None:
        rec["event_sequence"] = seq
    return json.dumps(rec).encode()


LINES = st.one_of(
    st.integers(0, 12).map(lambda s: _rec(s)),  # numbered (repeats, steps back, jumps)
    st.integers(0, 50).map(lambda t: _rec(None, timestamp_ns=t)),
    st.just(_rec(None)),
    st.sampled_from([b"", b"   ", b"[1, 2]", b'{"event": "x", "ev', b'"event"', b"null",
                     b"{}", b'{"event": ""}', b'{"event": 5}', b'{"event": ["a"]}',
                     b'{"event": "a", "event_sequence": "3"}',
                     b'{"event": "a", "event_sequence": true}',
                     b'{"event": "a", "event_sequence": 1.0}', b"\xff\xfe{}",
                     b'{"event": "a"} {"event": "b"}', b'{"event": "a"},{"event": "b"}']),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, max_size=30), st.integers(1, 9), st.booleans(),
       st.sampled_from([io.BytesIO, Stream]))
def test_chunked_reading_agrees_with_line_by_line(lines: list[bytes], size: int,
                                                  newline_at_end: bool,
                                                  stream: type[io.BytesIO]) -> None:
    data = b"\n".join(lines) + (b"\n" if newline_at_end else b"")
    expected = outcome(reference(data))
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert chunked(data, monkeypatch, size, stream) == expected


LONG = st.sampled_from([reader.MAX_LINE_BYTES - 1, reader.MAX_LINE_BYTES,
                        reader.MAX_LINE_BYTES + 1, 1000])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=6), st.lists(LONG, max_size=3),
       st.integers(1, 4), st.sampled_from([io.BytesIO, Stream]))
def test_long_lines_are_reported_whatever_the_chunk_holds(
        short: list[int], long: list[int], size: int, stream: type[io.BytesIO]) -> None:
    """A line longer than MAX_LINE_BYTES (its newline counted) is an error at its line,
    wherever it falls in a chunk and however many bytes the chunk holds besides."""
    lines = [_rec(i) for i in range(len(short))]
    for n, at in zip(long, short, strict=False):
        pad = b'{"event": "x", "pad": "'
        lines.insert(at, pad + b"y" * (n - len(pad) - 3) + b'"}')
    data = b"\n".join(lines) + b"\n"
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert chunked(data, monkeypatch, size, stream) == outcome(reference(data))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 40), st.integers(1, 12), st.lists(st.integers(0, 39), max_size=3))
def test_a_long_numbered_run_agrees_whatever_the_chunk(n: int, size: int,
                                                       gaps: list[int]) -> None:
    numbers = [s + 2 * sum(g <= s for g in gaps) for s in range(n)]
    data = b"".join(_rec(s) + b"\n" for s in numbers)
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert chunked(data, monkeypatch, size) == outcome(reference(data))


@pytest.mark.parametrize("bad", [0, 3, 4, 5, 9])
@pytest.mark.parametrize("line", [b'{"event": "x", "ev', b"[1]", b"\xff",
                                  b'{"event": "a", "event_sequence": "2"}', b"again"])
def test_a_bad_line_in_a_chunk_is_reported_with_its_own_number(
        monkeypatch: pytest.MonkeyPatch, bad: int, line: bytes) -> None:
    monkeypatch.setattr(reader, "CHUNK_LINES", 4)
    lines = [_rec(s) for s in range(10)]
    lines[bad] = line if line != b"again" else _rec(bad - 1) if bad else b"{}"
    with pytest.raises(TraceInputError) as error:
        list(read_batches(io.BytesIO(b"\n".join(lines) + b"\n"), "t.jsonl"))
    assert error.value.line == bad + 1
    assert error.value.render().startswith(f"t.jsonl:{bad + 1}: error:")


def _gate_error(monkeypatch: pytest.MonkeyPatch, data: bytes) -> TraceInputError:
    monkeypatch.setattr(reader, "CHUNK_LINES", 8)
    gate = Gate(Mode.OFFLOADABLE, path="t.jsonl")
    with pytest.raises(TraceInputError) as error:
        gate.consume_batches(read_batches(io.BytesIO(data), "t.jsonl"))
    return error.value


def test_a_bad_field_before_a_bad_line_is_reported_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Line 2's field type is the gate's to report; line 4 cannot be parsed.  Read one
    line at a time, the gate would stop at line 2 before line 4 was read."""
    lines = [_rec(0), _rec(1, prefix_id=True), _rec(2), b'{"event": "x", "ev']
    error = _gate_error(monkeypatch, b"\n".join(lines) + b"\n")
    assert (error.line, error.message) == (2, "field 'prefix_id' must be a string or an "
                                               "integer, got a boolean")
    lines[1] = _rec(1)
    assert _gate_error(monkeypatch, b"\n".join(lines) + b"\n").line == 4


def test_records_an_adapter_gave_before_it_failed_are_judged_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def source() -> Iterator[tuple[int, dict[str, Any]]]:
        yield 1, {"event": "resident_claim_accepted", "claim_id": "c"}
        yield 2, {"event": "resident_claim_offloaded", "claim_id": "c", "prefix_id": 0.5}
        raise TraceInputError("native.jsonl", 3, "not UTF-8 text")

    monkeypatch.setattr(reader, "CHUNK_LINES", 8)
    with pytest.raises(TraceInputError) as error:
        Gate(Mode.OFFLOADABLE).consume(source())
    assert error.value.line == 2
    got = [line for batch in batches([(1, {"event": "a"}), (2, {"event": "b"})])
           for line in batch.lines]
    assert got == [1, 2]


def test_reading_holds_one_chunk_of_lines_not_the_trace() -> None:
    class Counting(io.BytesIO):
        lines = 0

        def __next__(self) -> bytes:
            Counting.lines += 1
            return super().__next__()

    stream = Counting(b"".join(_rec(s) + b"\n" for s in range(10 * reader.CHUNK_LINES)))
    first = next(read_batches(stream, "t.jsonl"))
    assert len(first.records) == reader.CHUNK_LINES
    assert Counting.lines <= reader.CHUNK_LINES + 1


def test_stage_locations_read_like_a_dict() -> None:
    data = b"".join(_rec(s) + b"\n" for s in range(3)).replace(
        b"resident_claim_offloaded", b"resident_claim_accepted", 1)
    gate = Gate(Mode.OFFLOADABLE)
    gate.consume(read_jsonl(io.BytesIO(data), "t.jsonl"))
    (claim,) = gate.verdict().claims
    stages = claim.stages
    assert isinstance(stages, StageLocations)
    expected = {"accepted": Location(0, 1), "offloaded": Location(1, 2)}
    assert dict(stages) == expected and stages == expected and len(stages) == 2
    assert list(stages) == ["accepted", "offloaded"] and "restored" not in stages
    assert stages["offloaded"].sequence == 1 and repr(stages) == repr(expected)
    with pytest.raises(KeyError):
        stages["restored"]
    with pytest.raises(KeyError):
        stages["no such stage"]
