"""The block simulator's physical layer and mechanics: hash chains, the LRU free queue
freed tail-first, lazy eviction, the host tier's checked restores, predicates over
logical positions, live-KV plans, atomic moves, primitive rules and the JSONL log."""

from __future__ import annotations

import json

import numpy as np
import pytest
from atom_cases import HEADER, prim

from rkvformal.semantics.validate import validate
from rkvformal.sim.pool import (
    BlockPool,
    CacheIdentity,
    HostTier,
    MaterializationPredicate,
    hash_chain,
    leading_prefix_length,
    object_tokens,
    payload_for,
    verify_restore,
)
from rkvformal.sim.runtime import (
    NO_VICTIMS,
    Attention,
    ClaimNumbers,
    IllegalMove,
    LivePlan,
    Numbers,
    Simulator,
    Victims,
)
from rkvformal.smt.trace import Active, Move, Phase, Reuse, Source
from rkvformal.syntax.parser import parse_text
from rkvformal.vocab import PredicateKind

LEADING = PredicateKind.LEADING_PREFIX_AT_LEAST


def prims(text: str) -> tuple:
    names = ", ".join(line.split()[1] for line in text.splitlines()
                      if line.startswith("primitive"))
    source = HEADER + text + f"lowering r mode best_effort via {names}\n"
    return validate(parse_text(source, "t.rkv")).rows[0].primitives


def materialized_pool(n: int = 6,
                      usable: int = 10) -> tuple[BlockPool, tuple[bytes, ...], list[int]]:
    pool = BlockPool(usable)
    hashes = hash_chain(object_tokens("obj", n), (), "salt")
    return pool, hashes, pool.compute(hashes)


def stored_payload(pool: BlockPool, block: int) -> np.ndarray:
    """The payload of a block that holds one (`payload` is None once a block is freed)."""
    payload = pool.blocks[block].payload
    assert payload is not None
    return payload


# --- hash chains --------------------------------------------------------------------------

def test_hash_chain_is_deterministic_and_prefix_dependent() -> None:
    tokens = object_tokens("doc", 4)
    a = hash_chain(tokens, ("model=m",), "tenant-a")
    assert a == hash_chain(tokens, ("model=m",), "tenant-a")
    assert len(set(a)) == 4
    changed = tokens.copy()
    changed[1, 0] += 1  # block 1 differs: its hash and every later one change
    b = hash_chain(changed, ("model=m",), "tenant-a")
    assert a[0] == b[0] and all(x != y for x, y in zip(a[1:], b[1:], strict=True))


def test_cache_salt_and_extra_keys_separate_identities() -> None:
    tokens = object_tokens("doc", 3)
    base = hash_chain(tokens, ("model=m",), "tenant-a")
    assert not set(base) & set(hash_chain(tokens, ("model=m",), "tenant-b"))
    assert not set(base) & set(hash_chain(tokens, ("model=n",), "tenant-a"))


def test_cache_identity_requires_its_fields() -> None:
    ident = CacheIdentity("d", "m", "t", "s", 16)
    assert "model=m" in ident.extra_keys()
    assert ident.on_tier("host").cache_key_domain == "host:d"
    with pytest.raises(ValueError):
        CacheIdentity("", "m", "t", "s", 16)
    with pytest.raises(ValueError):
        CacheIdentity("d", "m", "t", "s", 0)


# --- free queue and lazy eviction ---------------------------------------------------------

def test_finished_request_is_freed_tail_first_so_the_tail_is_evicted_first() -> None:
    pool, hashes, blocks = materialized_pool(6, usable=6)
    pool.release(list(reversed(blocks)))
    assert pool.queue() == list(reversed(blocks))  # head: the tail block
    assert pool.free_uncached() == []
    taken = pool.take(pool.queue()[0])
    assert taken.old_hash == hashes[-1] and taken.free_queue_rank == 0
    assert pool.resident(hashes) == [0, 1, 2, 3, 4]


def test_cached_blocks_keep_their_hash_until_reallocated() -> None:
    pool, hashes, blocks = materialized_pool(3, usable=5)
    pool.release(list(reversed(blocks)))
    assert [pool.lookup(h) for h in hashes] == blocks
    assert len(pool.free_uncached()) == 2
    pool.check()


def test_acquire_pins_a_cached_block_out_of_the_queue() -> None:
    pool, _hashes, blocks = materialized_pool(2, usable=3)
    pool.release(list(reversed(blocks)))
    pool.acquire(blocks[0])
    assert not pool.in_queue(blocks[0]) and pool.blocks[blocks[0]].ref_cnt == 1
    pool.release([blocks[0]])
    assert pool.queue()[-1] == blocks[0]
    pool.check()


# --- host tier ----------------------------------------------------------------------------

def test_host_tier_restore_checks_payloads() -> None:
    pool, hashes, blocks = materialized_pool(3)
    tier = HostTier()
    tier.offload("obj", 1, [(p, hashes[p], stored_payload(pool, b)) for p, b in enumerate(blocks)])
    expected = dict(enumerate(hashes))
    good = tier.fetch("obj", [0, 1, 2])
    assert verify_restore(good, expected) == [] and good.generation == 1
    tier.arm_fault()
    bad = tier.fetch("obj", [0, 1, 2])
    assert verify_restore(bad, expected) == [0]  # corrupted in flight: detected
    assert not tier.fault_armed  # one-shot: the stored copy is intact
    assert verify_restore(tier.fetch("obj", [0, 1, 2]), expected) == []
    missing = tier.fetch("obj", [0, 1, 2, 3])
    assert verify_restore(missing, {**expected, 3: hashes[0]}) == [3]  # withheld copy


def test_payload_is_a_function_of_the_hash() -> None:
    h = hash_chain(object_tokens("x", 1))[0]
    assert np.array_equal(payload_for(h), payload_for(h))
    assert payload_for(h).dtype == np.float32


# --- predicates over logical positions ----------------------------------------------------

@pytest.mark.parametrize(("surviving", "required", "materialized"), [
    (range(1, 6), 4, False),  # 5 survivors, leading 0
    (range(1, 60), 60, False),  # litmus L6
    (range(1, 61), 60, False),  # 60 survivors, but position 0 is missing
    (range(0, 60), 60, True),
    (list(range(0, 70))[:-1], 60, True),  # losing position 69 of 70 keeps >= 60
    (range(1, 70), 60, False),  # losing position 0 breaks it
])
def test_leading_prefix_is_judged_on_positions(surviving, required, materialized) -> None:
    result = MaterializationPredicate(LEADING, required).evaluate(surviving)
    assert result.materialized is materialized


def test_leading_prefix_length_and_contiguous_range() -> None:
    assert leading_prefix_length([0, 1, 2, 8, 9, 10]) == 3
    rng = MaterializationPredicate(PredicateKind.CONTIGUOUS_RANGE, 3, start=8)
    assert rng.evaluate([0, 1, 2, 8, 9, 10]).materialized
    assert not rng.evaluate([8, 10]).materialized
    assert rng.text == "contiguous_range(8, 3)"
    with pytest.raises(ValueError):
        MaterializationPredicate(LEADING, -1)


# --- live-KV plans ------------------------------------------------------------------------

def test_full_attention_chunks_accumulate_and_a_window_bounds_them() -> None:
    chunks = (20, 20, 20, 10)
    assert LivePlan(chunks).profile() == (20, 40, 60, 70)
    assert LivePlan(chunks).peak == 70
    assert LivePlan(chunks, Attention.SLIDING_WINDOW, 20).profile() == (20, 20, 20, 20)
    assert LivePlan(chunks, Attention.RECOMPUTE_BETWEEN_CHUNKS).peak == 20


def test_chunked_prefill_allocates_its_peak_and_evicts_as_one_move() -> None:
    sim = Simulator((), Numbers(80, LivePlan((20, 20, 20, 10)), (ClaimNumbers(60),)))
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE, Move.FINISH_HOLD):
        sim.step(move, 0)
    sim.step(Move.ARRIVE)
    rec = sim.step(Move.ADMIT)
    assert rec.need == 70 and rec.victims.required == (50, 0)
    windowed = Simulator((), Numbers(80, LivePlan((20, 20, 20, 10), Attention.SLIDING_WINDOW, 20),
                                     (ClaimNumbers(60),)))
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE, Move.FINISH_HOLD):
        windowed.step(move, 0)
    windowed.step(Move.ARRIVE)
    assert windowed.step(Move.ADMIT).victims == NO_VICTIMS  # 60 + 20 fit in 80


# --- the simulator's mechanics ------------------------------------------------------------

def canonical(primitives=(), usable: int = 80) -> Simulator:
    sim = Simulator(primitives, Numbers(usable, LivePlan.single(70), (ClaimNumbers(60),)),
                    claim_names=["resident"])
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE, Move.FINISH_HOLD):
        sim.step(move, 0)
    sim.step(Move.ARRIVE)
    return sim


def test_native_pool_evicts_the_resident_tail_first() -> None:
    sim = canonical()
    rec = sim.step(Move.ADMIT)
    assert rec.victims.required == (50, 0)
    assert sorted(sim.positions(0)) == list(range(10))
    assert sim.claims[0].phase is Phase.HARMED  # accepted, predicate lost, no event


def test_a_dictated_split_is_checked_and_an_illegal_move_changes_nothing() -> None:
    sim = canonical(prims(prim("hard", "hard_exclusion", "patch")))
    before = sim.history
    with pytest.raises(IllegalMove, match="pinned"):
        sim.step(Move.ADMIT, victims=Victims(0, (50, 0), (0, 0)))
    with pytest.raises(IllegalMove, match="Cannot get 70 free blocks"):
        sim.step(Move.ADMIT)
    with pytest.raises(IllegalMove):
        sim.step(Move.SERVE, 0)
    after = sim.history
    assert after.steps == before.steps and sim.pred(0)
    assert sim.decide_active() == (Move.REFUSE, None)


def test_wrong_victim_count_is_illegal() -> None:
    sim = canonical()
    with pytest.raises(IllegalMove, match="need 50 victims"):
        sim.step(Move.ADMIT, victims=Victims(0, (49, 0), (0, 0)))


def test_priority_orders_victims() -> None:
    primitives = prims(prim("prio", "eviction_priority", default=1, minimum=0, maximum=3))
    sim = Simulator(primitives, Numbers(4, LivePlan.single(2), (
        ClaimNumbers(1, 0, 0, 1, 2), ClaimNumbers(1, 0, 0, 1, 0)), cached=2))
    for c in (0, 1):
        for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE, Move.FINISH_HOLD):
            sim.step(move, c)
    sim.step(Move.ARRIVE)
    # c1 (priority 0) goes before the cached blocks (default 1) before c0 (priority 2)
    assert sim.victim_options(Move.ADMIT, None) == [Victims(1, (0, 1), (0, 0))]
    with pytest.raises(IllegalMove, match="prio"):
        sim.step(Move.ADMIT, victims=Victims(0, (1, 1), (0, 0)))
    assert sim.step(Move.ADMIT).victims == Victims(1, (0, 1), (0, 0))


def test_lock_ref_pins_only_while_held_and_ttl_pins_until_it_passes() -> None:
    locked = Simulator(prims(prim("lock", "lock_ref")),
                       Numbers(2, LivePlan.single(2), (ClaimNumbers(2),)))
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE):
        locked.step(move, 0)
    locked.step(Move.ARRIVE)
    assert not locked.fits()
    locked.step(Move.FINISH_HOLD, 0)
    assert locked.fits()
    ttl = Simulator(prims(prim("ttl", "cache_control_ttl", ttl=1)),
                    Numbers(2, LivePlan.single(2), (ClaimNumbers(2),)))
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE, Move.FINISH_HOLD):
        ttl.step(move, 0)
    ttl.step(Move.ARRIVE)
    assert not ttl.fits()
    ttl.step(Move.TICK)
    assert ttl.fits()


def test_without_lock_ref_a_running_request_does_not_pin_its_blocks() -> None:
    sim = Simulator((), Numbers(2, LivePlan.single(2), (ClaimNumbers(2),)))
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE):
        sim.step(move, 0)
    sim.step(Move.ARRIVE)
    rec = sim.step(Move.ADMIT)
    assert rec.victims.required == (2, 0) and sim.claims[0].request_blocks == []
    sim.pool.check()


def offloaded(policy: str = "fail", extra: str = "") -> Simulator:
    primitives = prims(prim("offload", "tier_offload", on_restore_failure=policy) + extra)
    sim = Simulator(primitives, Numbers(3, LivePlan.single(2), (ClaimNumbers(2),)))
    for move in (Move.SUBMIT, Move.ACCEPT, Move.MATERIALIZE, Move.OFFLOAD, Move.FINISH_HOLD):
        sim.step(move, 0)
    sim.step(Move.ARRIVE)
    sim.step(Move.ADMIT)  # evicts the claim's GPU copy; the host copy stays
    assert not sim.pred(0) and sim.host(0) and sim.claims[0].phase is Phase.ACCEPTED
    assert sim.claims[0].nr
    return sim


def test_restore_brings_back_the_verified_host_copy() -> None:
    sim = offloaded()
    original = {p: payload_for(h) for p, h in enumerate(sim.claims[0].obj.hashes)}
    sim.step(Move.FINISH_ACTIVE)
    sim.step(Move.REUSE, 0)
    missing = 2 - sim.counts(0)[0]
    rec = sim.step(Move.RESTORE, 0)
    assert rec.need == missing == 1 and sim.pred(0) and sim.claims[0].src is Source.RESTORED
    for p, h in enumerate(sim.claims[0].obj.hashes):
        bid = sim.pool.lookup(h)
        assert bid is not None
        assert np.array_equal(stored_payload(sim.pool, bid), original[p])
    assert not sim.claims[0].nr and sim.claims[0].held


def test_injected_fault_is_a_restore_failure_never_silently_accepted() -> None:
    sim = offloaded()
    sim.step(Move.FINISH_ACTIVE)
    sim.step(Move.FAIL_RESTORE)
    sim.step(Move.REUSE, 0)
    rec = sim.step(Move.RESTORE, 0)
    assert rec.need == 0 and not sim.pred(0)
    assert sim.claims[0].rq is Reuse.RESTORE_FAILED and sim.claims[0].rfl
    with pytest.raises(IllegalMove, match="never recomputed"):
        sim.step(Move.RECOMPUTE, 0)
    sim.step(Move.FAIL_REUSE, 0)


def test_recompute_policy_falls_back_unless_a_failure_outcome_drives_the_request() -> None:
    sim = offloaded("recompute")
    sim.step(Move.FINISH_ACTIVE)
    sim.step(Move.FAIL_RESTORE)
    sim.step(Move.REUSE, 0)
    sim.step(Move.RESTORE, 0)
    with pytest.raises(IllegalMove, match="recomputed, not failed"):
        sim.step(Move.FAIL_REUSE, 0)
    sim.step(Move.RECOMPUTE, 0)
    assert sim.claims[0].src is Source.RECOMPUTED and sim.claims[0].nr  # never a restore
    driven = offloaded("recompute", prim("outcome", "claim_failure_outcome", "patch"))
    driven.step(Move.FINISH_ACTIVE)
    driven.step(Move.FAIL_RESTORE)
    driven.step(Move.REUSE, 0)
    driven.step(Move.RESTORE, 0)
    events = [e.name for e in driven.step(Move.FAIL_REUSE, 0).events]
    assert "resident_claim_restoration_failed" in events and "resident_claim_outcome" in events


def test_illegal_restore_keeps_the_armed_fault() -> None:
    sim = offloaded()
    sim.step(Move.FAIL_RESTORE)
    sim.step(Move.REUSE, 0)
    assert sim.tier.fault_armed
    with pytest.raises(IllegalMove):
        sim.step(Move.RESTORE, 0, victims=Victims(1, (0, 0), (0, 0)))
    assert sim.tier.fault_armed


def test_write_no_admit_frees_live_blocks_uncached() -> None:
    sim = canonical(prims(prim("wna", "write_no_admit")), usable=130)
    sim.step(Move.ADMIT)
    assert sim.act is Active.RUNNING and len(sim.active_blocks) == 70
    rec = sim.step(Move.FINISH_ACTIVE)
    assert sim.future_reuse_admitted is False and sim.free() == 70
    assert [e.name for e in rec.events if e.origin.value == "runtime"] == ["future_reuse_denied"]


def test_demote_needs_a_conflict() -> None:
    sim = canonical(prims(prim("hard", "hard_exclusion", "patch", on_conflict="demote")),
                    usable=130)
    with pytest.raises(IllegalMove, match="conflict"):
        sim.step(Move.DEMOTE, 0)
    assert sim.decide_active() == (Move.ADMIT, None)


def test_numbers_are_validated_against_the_primitives() -> None:
    monotone = prims(prim("prio", "eviction_priority")
                     + prim("policy", "priority_policy", "policy"))
    with pytest.raises(ValueError, match="monotone"):
        Simulator(monotone, Numbers(4, claims=(ClaimNumbers(1, 0, 2, 1, 5),
                                               ClaimNumbers(1, 0, 1, 1, 9))))
    derived = Simulator(monotone, Numbers(4, claims=(ClaimNumbers(1, 0, 2), ClaimNumbers(1, 0, 1))))
    assert [c.native_priority for c in derived.numbers.claims] == [2, 1]
    with pytest.raises(ValueError):
        Simulator((), Numbers(4, cached=5))


# --- the JSONL log ------------------------------------------------------------------------

def test_jsonl_log_is_ordered_and_carries_the_identity_tuple() -> None:
    sim = canonical(prims(prim("hard", "hard_exclusion", "patch")))
    sim.step(Move.REFUSE)
    lines = [json.loads(line) for line in sim.jsonl().splitlines()]
    seqs = [e["event_sequence"] for e in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for e in lines:
        for key in ("schema_version", "timestamp_ns", "run_id", "event", "request_id",
                    "claim_id", "prefix_id", "policy", "usable_blocks"):
            assert key in e
    claim_events = [e for e in lines if e["event"].startswith("resident_claim_")]
    assert [e["event"] for e in claim_events] == ["resident_claim_accepted",
                                                 "resident_claim_materialized"]
    identity = {json.dumps({k: e[k] for k in ("claim_id", "predicate_id", "reusable_object_id",
                                              "cache_identity", "request_token_map_id")},
                           sort_keys=True) for e in claim_events}
    assert len(identity) == 1  # single-valued per claim
    refused = next(e for e in lines if e["event"] == "active_request_refused")
    assert refused["blocking_claim_ids"] == ["claim:resident"]
    assert refused["capacity_shortfall_blocks"] == 50
    line = sim.jsonl().splitlines()[0]
    assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"))
