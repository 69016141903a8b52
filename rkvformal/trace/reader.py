"""Claim-event JSONL, read as a stream: one record per line, checked as it comes.

A malformed or truncated line is an error with its line number (exit 2), never
skipped.  Order is `event_sequence` when records carry it (a repeat or a step back is
an error: the order cannot be trusted; a jump forward is a gap the gate reports as
unknown), else `timestamp_ns` (must not go back), else the order of the lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import orjson

from rkvformal.trace import schema
from rkvformal.trace.schema import Record, TraceInputError

MAX_LINE_BYTES = 1 << 20  # one record; a longer line is not a record of this schema


def read_jsonl(stream: IO[bytes], path: str) -> Iterator[tuple[int, Record]]:
    """Yield (line, record), with `sequence_gap` records where numbers are missing."""
    last_seq: int | None = None
    last_ts: int | None = None
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for number, raw in enumerate(stream, 1):
        if len(raw) > MAX_LINE_BYTES:
            raise TraceInputError(path, number, f"line longer than {MAX_LINE_BYTES} bytes",
                                  "one JSON object per line")
        try:
            rec: Any = loads(raw)
        except decode_error as exc:
            if not raw.strip():
                continue  # blank lines separate nothing and are allowed
            raise TraceInputError(path, number, f"not a JSON object: {exc}",
                                  "each line must be one complete JSON object "
                                  "(a truncated last line is reported, not skipped)") from None
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
            if last_seq is not None and seq != last_seq + 1:
                if seq <= last_seq:
                    raise TraceInputError(
                        path, number, f"event_sequence {seq} after {last_seq}: out of order",
                        "records must be written in event_sequence order")
                yield number, {"event": schema.SEQUENCE_GAP, "missing_from": last_seq + 1,
                               "missing_to": seq - 1}
            last_seq = seq
        else:
            ts = rec.get("timestamp_ns")
            if ts.__class__ is int:
                if last_ts is not None and ts < last_ts:
                    raise TraceInputError(
                        path, number, f"timestamp_ns {ts} is before the previous record's",
                        "without event_sequence, records must be in timestamp order")
                last_ts = ts
        yield number, rec
