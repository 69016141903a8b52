"""Claim-event JSONL, read as a stream: one record per line, checked as it comes.

A malformed or truncated line is an error with its line number (exit 2), never
skipped.  Order is `event_sequence` when records carry it (a repeat or a step back is
an error: the order cannot be trusted; a jump forward is a gap the gate reports as
unknown), else `timestamp_ns` (must not go back), else the order of the lines.

Lines are read `CHUNK_LINES` at a time (memory stays bounded) and handed on as a
`Batch`.  Each line is still parsed on its own (no joining: what one line holds can
never change how the next is read).  A chunk whose lines are all records numbered one
after the other, which is what a healthy trace is, is checked with a few C-level
passes (`map`) instead of a Python loop per line; any other chunk is checked line by
line, by the same rules, which is what names the bad line.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice, repeat
from typing import IO, Any, NamedTuple

import orjson

from rkvformal.trace import schema
from rkvformal.trace.schema import Record, TraceInputError

MAX_LINE_BYTES = 1 << 20  # one record; a longer line is not a record of this schema
CHUNK_LINES = 128  # lines checked together (a chunk's records stay in the CPU's caches)
# A trace file's read buffer: the default (the file system's block, 4 KiB) makes one
# read system call per ten records, which cost as much as a tenth of a pass
# (docs/BENCHMARKS.md).
READ_BUFFER = 1 << 20

_LOADS, _DECODE_ERROR = orjson.loads, orjson.JSONDecodeError
_BLANK: Any = object()  # a blank line's value: it separates nothing, and is allowed


def record_keys(names: Iterable[str]) -> dict[str, str]:
    """name -> the string orjson gives for it as a key.  orjson makes the string of a
    key (up to 64 bytes) once and hands that same object out for it in every record it
    reads: a dict lookup by that very object finds the entry without comparing
    characters.  (It is an equal string, so a lookup by it is the same lookup whatever
    orjson does; only its speed is orjson's.)"""
    return {key: key for key in _LOADS(orjson.dumps(dict.fromkeys(names)))}


_KEYS = record_keys(("event", "event_sequence"))
_EVENT, _SEQUENCE = repeat(_KEYS["event"]), repeat(_KEYS["event_sequence"])  # (endless)


class Batch(NamedTuple):
    """Consecutive records of one trace, with the two fields every consumer reads."""

    lines: Sequence[int]  # the input line each record came from
    records: Sequence[Mapping[str, Any]]
    events: Sequence[Any]  # each record's `event`
    sequences: Sequence[Any]  # each record's `event_sequence` (None: it has none)


class _Order:
    """One trace being read: its path, and where its order stands."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.last_seq: int | None = None
        self.last_ts: int | None = None

    def chunk(self, start: int, raws: list[bytes], size: int | None = None) -> Iterator[Batch]:
        """The records of `raws` (the first is line `start`; `size`, if known, is the
        bytes of them all), checked."""
        records: list[Any] | None = None
        if (size is not None and size <= MAX_LINE_BYTES) or max(map(len, raws)) <= MAX_LINE_BYTES:
            try:
                records = list(map(_LOADS, raws))
            except _DECODE_ERROR:  # a blank or bad line: said line by line
                records = None
        if records is not None:
            try:  # (`dict.get` takes nothing but a dict: a line that is not an object)
                events = list(map(dict.get, records, _EVENT))
            except TypeError:
                yield from self._line_by_line(start, raws, records)
                return
            seqs: list[Any] = list(map(dict.get, records, _SEQUENCE))  # (ints: checked below)
            first = seqs[0]
            if (set(map(type, events)) == {str} and all(events)
                    and set(map(type, seqs)) == {int}
                    and (self.last_seq is None or first == self.last_seq + 1)
                    and seqs == list(range(first, first + len(seqs)))):
                self.last_seq = seqs[-1]
                yield Batch(range(start, start + len(raws)), records, events, seqs)
                return
        yield from self._line_by_line(start, raws, records)

    def _line_by_line(self, start: int, raws: list[bytes],
                      parsed: list[Any] | None) -> Iterator[Batch]:
        """`chunk`, one line at a time.  At a bad line, the records before it are
        handed on first, so what the gate finds wrong in them is reported first, as if
        the trace had been read one line at a time."""
        lines: list[int] = []
        records: list[Record] = []
        try:
            for i, raw in enumerate(raws):
                number = start + i
                rec = self._parse(number, raw) if parsed is None else parsed[i]
                if rec is _BLANK:
                    continue
                gap = self._check(number, rec)
                if gap is not None:
                    lines.append(number)
                    records.append(gap)
                lines.append(number)
                records.append(rec)
        except TraceInputError:
            if records:
                yield _batch(lines, records)
            raise
        if records:
            yield _batch(lines, records)

    def _parse(self, number: int, raw: bytes) -> Any:
        if len(raw) > MAX_LINE_BYTES:
            raise TraceInputError(self.path, number, f"line longer than {MAX_LINE_BYTES} bytes",
                                  "one JSON object per line")
        try:
            return _LOADS(raw)
        except _DECODE_ERROR as exc:
            if not raw.strip():
                return _BLANK
            raise TraceInputError(self.path, number, f"not a JSON object: {exc}",
                                  "each line must be one complete JSON object "
                                  "(a truncated last line is reported, not skipped)") from None

    def _check(self, number: int, rec: Any) -> Record | None:
        """Check one parsed line; the `sequence_gap` record before it, if numbers are
        missing."""
        path = self.path
        if rec.__class__ is not dict:
            raise TraceInputError(path, number, "a record must be a JSON object",
                                  'e.g. {"event": "resident_claim_accepted", ...}')
        event = rec.get("event")
        if event.__class__ is not str or not event:
            raise TraceInputError(path, number, "the record has no 'event' name",
                                  "every record carries its event name in 'event'")
        seq = rec.get("event_sequence")
        if seq is not None:
            if seq.__class__ is not int:
                raise TraceInputError(path, number, "'event_sequence' must be an integer")
            last_seq, self.last_seq = self.last_seq, seq
            if last_seq is None or seq == last_seq + 1:
                return None
            if seq <= last_seq:
                raise TraceInputError(
                    path, number, f"event_sequence {seq} after {last_seq}: out of order",
                    "records must be written in event_sequence order")
            return {"event": schema.SEQUENCE_GAP, "missing_from": last_seq + 1,
                    "missing_to": seq - 1}
        ts = rec.get("timestamp_ns")
        if ts.__class__ is int:
            if self.last_ts is not None and ts < self.last_ts:
                raise TraceInputError(
                    path, number, f"timestamp_ns {ts} is before the previous record's",
                    "without event_sequence, records must be in timestamp order")
            self.last_ts = ts
        return None


def _batch(lines: Sequence[int], records: Sequence[Mapping[str, Any]]) -> Batch:
    return Batch(lines, records, [r.get("event") for r in records],
                 [r.get("event_sequence") for r in records])


def read_batches(stream: IO[bytes], path: str) -> Iterator[Batch]:
    """The trace's checked records, in `Batch`es, with a `sequence_gap` record where
    numbers are missing."""
    order = _Order(path)
    start = 1
    # A file's or a BytesIO's position says how many bytes a chunk's lines are (if no
    # more than MAX_LINE_BYTES, no line is longer), without measuring each line.
    tell = stream.tell if type(stream) in (io.BufferedReader, io.BytesIO) else None
    at = tell() if tell is not None else 0
    while raws := list(islice(stream, CHUNK_LINES)):
        if tell is not None:
            before, at = at, tell()
            yield from order.chunk(start, raws, at - before)
        else:
            yield from order.chunk(start, raws)
        start += len(raws)


def pairs(chunks: Iterable[Batch]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The (line, record) pairs of `Batch`es."""
    for batch in chunks:
        yield from zip(batch.lines, batch.records, strict=True)


def read_jsonl(stream: IO[bytes], path: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Yield (line, record), with `sequence_gap` records where numbers are missing."""
    return pairs(read_batches(stream, path))


def batches(records: Iterable[tuple[int, Mapping[str, Any]]]) -> Iterator[Batch]:
    """(line, record) pairs from any source (an adapter), in `Batch`es.  If the source
    fails, the records it gave before are handed on first (as `read_batches` does)."""
    source = iter(records)
    while True:
        chunk: list[tuple[int, Mapping[str, Any]]] = []
        try:
            for pair in islice(source, CHUNK_LINES):
                chunk.append(pair)
        except Exception:
            if chunk:
                yield _pairs_batch(chunk)
            raise
        if not chunk:
            return
        yield _pairs_batch(chunk)


def _pairs_batch(chunk: list[tuple[int, Mapping[str, Any]]]) -> Batch:
    lines, records = zip(*chunk, strict=True)
    return _batch(lines, records)
