"""priority_order compares a claim that loses its predicate with every other claim.
The gate asks it once per (numbers, state) the other claims are in and counts the
claims there (`Gate._pairwise`); `Simple` below asks it of each other claim, as the
atom reads.  They must say the same on any trace: same breaks, same locations, as
many of them."""

from __future__ import annotations

import io
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from rkvformal.smt.trace import Move, Phase
from rkvformal.trace.gate import Gate
from rkvformal.trace.reader import read_batches
from rkvformal.trace.steps import CLAIM_STATE, SHARED_STATE, Step
from rkvformal.trace.window import NO_EVENTS
from rkvformal.vocab import Mode


class Simple(Gate):
    """The gate, with priority_order asked of every other claim, one by one."""

    def _pairwise(self, track: Any, after_config: int, where: tuple[Any, int]) -> None:
        required, priority, state, shared, history = self.configs[track.config]
        before = dict(zip(CLAIM_STATE, state, strict=True))
        after = dict(zip(CLAIM_STATE, self.configs[after_config][2], strict=True))
        shared_map = dict(zip(SHARED_STATE, shared, strict=True))
        step = Step(Move.IDLE, False, dict(NO_EVENTS), after, shared_map, shared_map,
                    before["inr"] - after["inr"])
        phase = CLAIM_STATE.index("phase")
        for other in self.tracks.values():
            values = self.configs[other.config]
            if other is track or values[2][phase] != Phase.ACCEPTED:
                continue
            view = self._view(step, before, (required, priority), values[:3], history)
            for i in self.pairwise:
                if self.atoms[i][0].violation(view, 0, 0, self.atoms[i][1]):
                    self._break(track, i, where)


EVENTS = ["resident_claim_materialized", "resident_claim_harmed",
          "allocation_victim_selected", "kv_block_removed", "resident_claim_offloaded",
          "resident_claim_restore_required", "resident_claim_restored",
          "resident_claim_block_lost_after_release", "resident_claim_demoted",
          "resident_claim_expired", "active_request_admitted", "active_request_refused",
          "resident_claim_accepted", "resident_claim_rejected"]


@st.composite
def claims_under_pressure(draw: Any) -> list[dict[str, Any]]:
    """Many claims of a few priorities and sizes, accepted, materialized, losing
    blocks (now and then a claim never accepted, a gap, a capacity decision)."""
    n = draw(st.integers(2, 12))
    names = [f"c{i}" for i in range(n)]
    # (few sizes and priorities: claims alike, several of them in one configuration)
    sizes = draw(st.sampled_from([[1], [1, 2]]))
    priorities = draw(st.sampled_from([[0, 90], [0, 10, 90]]))
    records: list[dict[str, Any]] = []
    for name in names:
        if draw(st.integers(0, 5)):
            records.append({"event": "resident_claim_accepted", "claim_id": name,
                            "predicate_id": "p", "prefix_id": name,
                            "resident_blocks_required": draw(st.sampled_from(sizes)),
                            "priority": draw(st.sampled_from(priorities))})
    for _ in range(draw(st.integers(1, 60))):
        event = draw(st.sampled_from(EVENTS))
        rec: dict[str, Any] = {"event": event, "predicate_id": "p"}
        if not (event.startswith("active_request") and draw(st.booleans())):
            name = draw(st.sampled_from(names))
            rec.update(claim_id=name, prefix_id=name)
        if event == "resident_claim_materialized":
            rec["resident_blocks_materialized"] = draw(st.sampled_from([1, 2]))
        elif event == "resident_claim_harmed":
            rec["predicate_after_leading_blocks"] = draw(st.sampled_from([0, 1]))
        elif event in ("allocation_victim_selected", "kv_block_removed"):
            rec["logical_block_position"] = draw(st.sampled_from([0, 1, 5]))
        elif event == "resident_claim_restored":
            rec["restoration_source"] = "offload_tier"
        records.append(rec)
    seq = 0
    for rec in records:
        seq += 1 + (not draw(st.integers(0, 40)))  # (now and then a gap)
        rec["event_sequence"] = seq
    return records


@settings(max_examples=300, deadline=None)
@given(claims_under_pressure())
def test_grouping_claims_by_configuration_says_what_asking_each_says(
        records: list[dict[str, Any]]) -> None:
    data = b"".join(orjson.dumps(r) + b"\n" for r in records)
    verdicts = []
    for gate in (Gate(Mode.SOFT_PRIORITY, path="t.jsonl"),
                 Simple(Mode.SOFT_PRIORITY, path="t.jsonl")):
        gate.consume_batches(read_batches(io.BytesIO(data), "t.jsonl"))
        verdicts.append(gate.verdict())
    assert verdicts[0] == verdicts[1]
