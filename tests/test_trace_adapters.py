"""Native KV event adapters: small hand-built streams per runtime, concrete outputs.

The hash vectors below were produced by running the runtimes' own code (vLLM 0.33.0's
`vllm/utils/hashing.py` + `hash_block_tokens`, SGLang 0.5.23's compiled
`hash_binding.cpp` + `hash_str_to_int64` / `namespaced_block_hash`) on the same inputs;
docs/ADAPTERS.md says how.  They pin our reimplementation to the runtimes' bytes.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import pytest

from rkvformal.trace.adapters import (
    ADAPTERS,
    LMCacheAdapter,
    SGLangKVAdapter,
    TrtllmKVAdapter,
    VllmKVAdapter,
    load_claims,
)
from rkvformal.trace.adapters import join as J
from rkvformal.trace.schema import (
    KV_ALL_BLOCKS_CLEARED,
    KV_BLOCK_REMOVED,
    KV_BLOCK_STORED,
    SEQUENCE_GAP,
    ClaimSpec,
    TraceInputError,
)

TOKENS = tuple(range(100, 116))  # four blocks of four tokens

# vLLM 0.33.0, block_size 4, TOKENS, NONE_HASH seed "vllm-none-hash".
VLLM_SHA256_HEX = [
    "007f699eb7d4928d9961af00e454b36a0a0a4098a8d565689dc54be60c72d352",
    "7067919812d6ecf8ea6b4199b9c36fc7afe48233e61604824281af633744a7d8",
    "6910c68aa4e180c2f9750095acc2dd53e6fea460f0c1aa835c4c2942a367378d",
    "184928fcfc4bf3353c729dd5ca60b3667f6944aa21c9999dd236657030bbb6f3",
]
VLLM_SHA256_INT = [11368576285790098258, 4792304319162787800,
                   6650736115905410957, 15147405929235592947]
# SGLang 0.5.23, page size 4, TOKENS: published (signed int64) BlockStored hashes.
SGLANG_PLAIN = [-7118152853857507680, -5037572900866013165,
                -8052603281837994718, 5043830065565855565]
SGLANG_SALT_DEFAULT = [2237429982236694403, -1784128511650267368,
                       7724210378949922068, 3168352126377952049]
SGLANG_SALT_DYNAMO = [3503575060894691320, -4016814832501230458,
                      -6808571542670457224, -3341729570889514637]


def run(adapter: Any, lines: list[str], claims: tuple[ClaimSpec, ...]) -> list[tuple[int, dict]]:
    return list(adapter.records(enumerate(lines, 1), claims))


def view(out: list[tuple[int, dict]]) -> list[tuple]:
    """(line, event, claim, position, medium, joined_by) per record: what tests pin."""
    return [(line, r["event"], r.get("claim_id"), r.get("logical_block_position"),
             r.get("medium"), r.get("joined_by")) for line, r in out]


def events(out: list[tuple[int, dict]]) -> list[str]:
    return [r["event"] for _, r in out]


# --------------------------------------------------------------------- hash chains


def test_vllm_sha256_chain_reproduces_vllm_bytes() -> None:
    digests = J.vllm_block_hashes(TOKENS, 4)
    assert [d.hex() for d in digests] == VLLM_SHA256_HEX
    assert [J.vllm_int_hash(d) for d in digests] == VLLM_SHA256_INT


def test_vllm_extra_keys_and_cbor_reproduce_vllm_bytes() -> None:
    salted = J.vllm_block_hashes(TOKENS, 4, cache_salt="tenant-a")
    assert salted[0].hex() == "749184ef43d40d21d4804393c2861535202b942ed016446cb8c2e5427ce513de"
    assert salted[1].hex() == "47f98c3a70f8ecb1a95a78ab60e95f2004eef1bfe167a216864d8851a07a4de6"
    lora = J.vllm_block_hashes(TOKENS, 4, lora=("ad", "/p/ad"))
    assert J.vllm_int_hash(lora[3]) == 16757300717584993386
    cbor = J.vllm_block_hashes(TOKENS, 4, algorithm="sha256_cbor")
    assert cbor[0].hex() == "f6660814c0f5fab668e3a3e4cc9d7c843f32e254d6a433791cccfba573d0cf8a"
    assert J.vllm_int_hash(cbor[3]) == 5526965471597387741
    with pytest.raises(J.UnsupportedHash, match="xxhash"):
        J.vllm_block_hashes(TOKENS, 4, algorithm="xxhash")


def test_canonical_cbor_matches_cbor2() -> None:
    cbor2 = pytest.importorskip("cbor2")
    for obj in (None, 0, 23, 24, 255, 256, 65536, 2**32, 2**64 - 1, -1, -25, b"", b"x" * 300,
                "", "é" * 30, (1, (2, "x"), None), (b"\0" * 32, tuple(range(300)),
                                                    (("cache_salt", "s"),))):
        assert J.cbor_canonical(obj) == cbor2.dumps(obj, canonical=True)


def test_sglang_chain_reproduces_sglang_hashes() -> None:
    assert J.sglang_block_hashes(TOKENS, 4) == SGLANG_PLAIN
    assert J.sglang_block_hashes(TOKENS, 4, cache_salt="tenant-a") == SGLANG_SALT_DEFAULT
    assert J.sglang_block_hashes(TOKENS, 4, cache_salt="tenant-a",
                                 event_format="dynamo") == SGLANG_SALT_DYNAMO
    # a token beyond u32 switches a page to SGLang's tagged u64 encoding
    assert J.sglang_block_hashes([1, 2, 3, 2**32 + 5, 7, 8, 9, 10], 4) == [
        5525726128425902421, 8109873234951674284]


def test_canonical_hash_spellings() -> None:
    assert J.canonical_hash(-1) == J.canonical_hash(2**64 - 1) == "18446744073709551615"
    assert J.canonical_hash("12") == J.canonical_hash(12) == "12"
    raw = bytes.fromhex(VLLM_SHA256_HEX[0])
    assert J.canonical_hash(base64.b64encode(raw).decode()) == VLLM_SHA256_HEX[0]
    assert J.canonical_hash(VLLM_SHA256_HEX[0].upper()) == VLLM_SHA256_HEX[0]
    for bad in (True, "", "not a hash!", 1.5, None):
        with pytest.raises(ValueError):
            J.canonical_hash(bad)


# ------------------------------------------------------------------------------ vLLM


def vbatch(seq: int, *events: dict, rank: int = 0) -> str:
    return json.dumps({"seq": seq, "batch": [1700000000.5, list(events), rank]})


def stored(hashes: list, parent: Any, tokens: tuple, medium: str = "GPU", **extra: Any) -> dict:
    return {"type": "BlockStored", "block_hashes": hashes, "parent_block_hash": parent,
            "token_ids": list(tokens), "block_size": 4, "lora_id": None, "medium": medium,
            "lora_name": None, **extra}


def removed(hashes: list, medium: str | None = "GPU") -> dict:
    return {"type": "BlockRemoved", "block_hashes": hashes, "medium": medium}


CLAIM = ClaimSpec("claim:a", 4, token_ids=TOKENS, block_size=4,
                  identity={"predicate_id": "pred:a", "prefix_id": "prefix:a",
                            "reusable_object_id": "obj:a", "cache_identity": "cache:v1",
                            "request_token_map_id": "map:a"})

V = VLLM_SHA256_INT
VLLM_STREAM = [
    vbatch(0, stored(V[:2], None, TOKENS[:8])),
    vbatch(1, stored(V[2:], V[1], TOKENS[8:])),
    vbatch(2, removed([V[3]], "CPU")),                # another tier: not a GPU loss
    vbatch(3, stored([42], None, (1, 2, 3, 4))),      # an unrelated block
    vbatch(5, removed([V[1]])),                        # seq 4 missing; GPU loss: harm
    vbatch(6, removed([V[2]])),                        # later loss
    vbatch(7, {"type": "AllBlocksCleared"}),
]


def test_vllm_stream_materializes_harms_and_reports_gaps() -> None:
    out = run(VllmKVAdapter(path="v.jsonl"), VLLM_STREAM, (CLAIM,))
    c, hc = "claim:a", "hash_chain"
    assert view(out) == [
        (0, "resident_claim_accepted", c, None, None, None),
        (1, KV_BLOCK_STORED, c, 0, "gpu", hc),
        (1, KV_BLOCK_STORED, c, 1, "gpu", hc),
        (2, KV_BLOCK_STORED, c, 2, "gpu", hc),
        (2, KV_BLOCK_STORED, c, 3, "gpu", hc),
        (2, "resident_claim_materialized", c, 3, None, None),
        (3, KV_BLOCK_REMOVED, c, 3, "cpu", hc),
        (4, KV_BLOCK_STORED, None, None, "gpu", None),
        (5, SEQUENCE_GAP, None, None, None, None),
        (5, KV_BLOCK_REMOVED, c, 1, "gpu", hc),
        (5, "resident_claim_harmed", c, 1, None, None),
        (6, KV_BLOCK_REMOVED, c, 2, "gpu", hc),
        (6, "resident_claim_block_lost_after_release", c, 2, None, None),
        (7, KV_ALL_BLOCKS_CLEARED, None, None, None, None),
        (7, "resident_claim_block_lost_after_release", c, 0, None, None),
        (7, "resident_claim_block_lost_after_release", c, 3, None, None),
    ]
    records = [r for _, r in out]
    assert [r["event_sequence"] for r in records] == list(range(len(records)))
    accepted, materialized, harmed = records[0], records[5], records[10]
    assert accepted == {
        "event": "resident_claim_accepted", "event_sequence": 0, "claim_registration": "adapter",
        "resident_blocks_required": 4, "runtime_adapter": "vllm-kv", "claim_id": c,
        "predicate_id": "pred:a", "materialization_predicate": "leading_prefix_at_least(4)",
        "prefix_id": "prefix:a", "reusable_object_id": "obj:a", "cache_identity": "cache:v1",
        "request_token_map_id": "map:a"}
    assert materialized["predicate_materialized"] is True
    assert materialized["resident_blocks_materialized"] == 4
    assert materialized["leading_blocks_survived"] == 4
    assert (harmed["predicate_before"], harmed["predicate_after"]) == (True, False)
    assert harmed["resident_blocks_materialized"] == 3
    assert harmed["leading_blocks_survived"] == 1
    assert harmed["native_sequence"] == 5 and harmed["prefix_id"] == "prefix:a"
    gap = records[8]
    assert (gap["missing_from"], gap["missing_to"]) == (4, 4)
    first_block = records[1]
    assert first_block["block_hash"] == str(V[0])
    assert first_block["parent_block_hash"] is None
    assert first_block["native_sequence"] == 0 and first_block["data_parallel_rank"] == 0
    assert first_block["request_token_map_id"] == "map:a"
    assert records[2]["parent_block_hash"] == str(V[0])   # chained inside one event
    assert records[7]["claim_id"] is None and records[7]["block_hash"] == "42"


def test_vllm_explicit_and_hash_chain_joins_agree() -> None:
    explicit = ClaimSpec("claim:a", 4, block_hashes=tuple(VLLM_SHA256_HEX),
                         identity=CLAIM.identity)
    by_chain = run(VllmKVAdapter(), VLLM_STREAM, (CLAIM,))
    by_hash = run(VllmKVAdapter(), VLLM_STREAM, (explicit,))
    strip = [[(k, v) for k, v in r.items() if k != "joined_by"] for _, r in by_chain]
    assert strip == [[(k, v) for k, v in r.items() if k != "joined_by"] for _, r in by_hash]
    assert {r["joined_by"] for _, r in by_hash if "joined_by" in r and r["claim_id"]} \
        == {"explicit"}
    assert {r["joined_by"] for _, r in by_chain if "joined_by" in r and r["claim_id"]} \
        == {"hash_chain"}


def test_vllm_byte_hashes_in_base64_join_the_int_claim() -> None:
    """VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0 publishes digests; msgspec JSON writes base64."""
    b64 = [base64.b64encode(bytes.fromhex(h)).decode() for h in VLLM_SHA256_HEX]
    stream = [vbatch(0, stored(b64, None, TOKENS))]
    out = run(VllmKVAdapter(), stream, (CLAIM,))
    assert events(out)[-1] == "resident_claim_materialized"
    assert out[1][1]["block_hash"] == VLLM_SHA256_HEX[0]


def test_vllm_parent_chain_learns_hashes_it_cannot_recompute() -> None:
    """xxhash cannot be reproduced: positions are learned from parent links + tokens."""
    claim = ClaimSpec("claim:x", 2, token_ids=TOKENS[:8], block_size=4, hash_algorithm="xxhash")
    stream = [
        vbatch(0, stored([7], None, TOKENS[:4])),
        vbatch(1, stored([9], 7, (0, 0, 0, 0))),        # child with other tokens: not ours
        vbatch(2, stored([8], 7, TOKENS[4:8])),
    ]
    assert view(run(VllmKVAdapter(), stream, (claim,))) == [
        (0, "resident_claim_accepted", "claim:x", None, None, None),
        (1, KV_BLOCK_STORED, "claim:x", 0, "gpu", "hash_chain"),
        (2, KV_BLOCK_STORED, None, None, "gpu", None),
        (3, KV_BLOCK_STORED, "claim:x", 1, "gpu", "hash_chain"),
        (3, "resident_claim_materialized", "claim:x", 1, None, None),
    ]


def test_vllm_learning_respects_the_cache_salt() -> None:
    claim = ClaimSpec("claim:s", 1, token_ids=TOKENS[:4], block_size=4,
                      hash_algorithm="xxhash", extra_keys=("cache_salt=tenant-a",))
    other = vbatch(0, stored([5], None, TOKENS[:4], extra_keys=[["tenant-b"]]))
    ours = vbatch(1, stored([6], None, TOKENS[:4], extra_keys=[["tenant-a"]]))
    out = run(VllmKVAdapter(), [other, ours], (claim,))
    assert [(r["block_hash"], r["claim_id"]) for _, r in out if r["event"] == KV_BLOCK_STORED] \
        == [("5", None), ("6", "claim:s")]


def test_vllm_refcount_needs_every_copy_removed() -> None:
    stream = [vbatch(0, stored(V, None, TOKENS)), vbatch(1, stored([V[0]], None, TOKENS[:4])),
              vbatch(2, removed([V[0]]))]
    counted = events(run(VllmKVAdapter(), stream, (CLAIM,)))
    assert "resident_claim_harmed" not in counted
    plain = events(run(VllmKVAdapter(refcount=False), stream, (CLAIM,)))
    assert plain[-1] == "resident_claim_harmed"


def test_vllm_named_batch_form_and_rank_streams() -> None:
    named = [json.dumps({"seq": 0, "ts": 1.0, "events": [stored(V, None, TOKENS)],
                         "data_parallel_rank": 1}),
             vbatch(0, removed([V[0]]), rank=0),      # rank 0 has its own sequence
             json.dumps({"seq": 1, "events": [removed([V[0]])], "data_parallel_rank": 1})]
    got = [(line, r["event"]) for line, r in run(VllmKVAdapter(), named, (CLAIM,))]
    # the rank-0 removal does not touch rank 1's copy; the rank-1 one does
    assert got[-3:] == [(2, KV_BLOCK_REMOVED), (3, KV_BLOCK_REMOVED),
                        (3, "resident_claim_harmed")]


def test_vllm_backwards_sequence_is_an_error_at_its_line() -> None:
    stream = [vbatch(0), vbatch(1), "", vbatch(1, removed([1]))]
    with pytest.raises(TraceInputError) as err:
        run(VllmKVAdapter(path="v.jsonl"), stream, ())
    assert (err.value.path, err.value.line) == ("v.jsonl", 4)
    assert "backwards" in err.value.message and "1 after 1" in err.value.message


@pytest.mark.parametrize(("line", "message"), [
    ('{"seq": 0, "batch": [1.0, []]', "not valid JSON"),
    ('{"seq": 0, "batch": [1.0, [{"type": "BlockRemoved"}]]}', "missing required field "
                                                               "'block_hashes'"),
    ('{"seq": "0", "batch": [1.0, []]}', "field 'seq' must be an integer, not a string"),
    ('{"seq": 0, "batch": [1.0, [{"type": "BlockStored", "block_hashes": [1], '
     '"token_ids": [], "block_size": 4}]]}', "missing required field 'parent_block_hash'"),
    ('{"seq": 0, "batch": [1.0, [{"type": "BlockEvicted"}]]}', "unknown event type"),
    ('{"seq": 0, "batch": [1.0, [{"type": "BlockRemoved", "block_hashes": [true]}]]}',
     "not a boolean"),
    ('[1, 2]', "must be a JSON object"),
    ('{"seq": 0, "batch": [NaN, []]}', "NaN is not valid JSON"),
])
def test_vllm_malformed_lines_are_errors_at_their_line(line: str, message: str) -> None:
    with pytest.raises(TraceInputError) as err:
        run(VllmKVAdapter(path="v.jsonl"), [vbatch(0), line], (CLAIM,))
    assert err.value.line == 2 and message in err.value.message
    assert err.value.render().startswith("v.jsonl:2: error: ")


def test_adapter_streams_lazily() -> None:
    """An endless stream: records come out as lines go in, nothing is buffered."""
    endless = ((i + 1, vbatch(i, removed([i]))) for i in itertools.count())
    first = list(itertools.islice(VllmKVAdapter().records(endless, (CLAIM,)), 4))
    assert [r["native_sequence"] for _, r in first[1:]] == [0, 1, 2]


# ---------------------------------------------------------------------------- SGLang


def sbatch(seq: int, *events: dict) -> str:
    return json.dumps({"seq": seq, "batch": [1.0, list(events), 0]})


def sstored(hashes: list, parent: Any, tokens: tuple, medium: str | None = "GPU",
            **extra: Any) -> dict:
    event = {"type": "BlockStored", "block_hashes": hashes, "parent_block_hash": parent,
             "token_ids": list(tokens), "block_size": 4, "lora_id": None, **extra}
    if medium is not None:
        event["medium"] = medium
    return event


def test_sglang_stream_recomputes_and_tracks_tiers() -> None:
    s = SGLANG_PLAIN
    stream = [
        sbatch(0, sstored(s, None, TOKENS, medium=None)),        # medium omitted: GPU
        sbatch(1, sstored([s[2]], s[1], TOKENS[8:12], "CPU_PINNED")),
        sbatch(2, {"type": "BlockRemoved", "block_hashes": [s[2]], "medium": "CPU_PINNED"}),
        sbatch(3, {"type": "BlockRemoved", "block_hashes": [s[3]]}),
    ]
    out = run(SGLangKVAdapter(), stream, (CLAIM,))
    assert view(out)[1:] == [
        (1, KV_BLOCK_STORED, "claim:a", 0, None, "hash_chain"),
        (1, KV_BLOCK_STORED, "claim:a", 1, None, "hash_chain"),
        (1, KV_BLOCK_STORED, "claim:a", 2, None, "hash_chain"),
        (1, KV_BLOCK_STORED, "claim:a", 3, None, "hash_chain"),
        (1, "resident_claim_materialized", "claim:a", 3, None, None),
        (2, KV_BLOCK_STORED, "claim:a", 2, "cpu", "hash_chain"),
        (3, KV_BLOCK_REMOVED, "claim:a", 2, "cpu", "hash_chain"),
        (4, KV_BLOCK_REMOVED, "claim:a", 3, None, "hash_chain"),
        (4, "resident_claim_harmed", "claim:a", 3, None, None),
    ]
    assert out[1][1]["attn_dp_rank"] == 0 and out[0][1]["runtime_adapter"] == "sglang-kv"


def test_sglang_event_format_decides_the_salted_hashes() -> None:
    claim = ClaimSpec("claim:s", 4, token_ids=TOKENS, block_size=4,
                      extra_keys=("cache_salt=tenant-a",))
    stream = [sbatch(0, sstored(SGLANG_SALT_DYNAMO, None, TOKENS, cache_salt="tenant-a"))]
    assert events(run(SGLangKVAdapter(event_format="dynamo"), stream, (claim,)))[-1] \
        == "resident_claim_materialized"
    # the default format's hashes differ: recomputed in the wrong format, nothing joins
    default = run(SGLangKVAdapter(), stream, (claim,))
    assert {r["claim_id"] for _, r in default if r["event"] == KV_BLOCK_STORED} == {None}
    explicit = ClaimSpec("claim:s", 4, block_hashes=tuple(map(str, SGLANG_SALT_DEFAULT)))
    default_stream = [sbatch(0, sstored(SGLANG_SALT_DEFAULT, None, TOKENS,
                                        cache_salt="tenant-a"))]
    assert events(run(SGLangKVAdapter(), default_stream, (explicit,)))[-1] \
        == "resident_claim_materialized"


# --------------------------------------------------------------------------- TRT-LLM


def tblock(h: int, tokens: tuple, level: int = 0, priority: int = 35) -> dict:
    return {"type": "stored_block", "block_hash": h, "cache_level": level,
            "priority": priority,
            "tokens": [{"type": "unique_token", "token_id": t, "token_extra_id": 0}
                       for t in tokens]}


def tevent(event_id: int, data: dict, rank: int | None = None) -> str:
    event: dict = {"event_id": event_id, "data": data, "window_size": 64}
    if rank is not None:
        event["attention_dp_rank"] = rank
    return json.dumps(event)


# TRT-LLM hashes are size_t; 2**64 - 5 is printed unsigned and matched signed.
T = [11, 12, 2**64 - 5, 14]
TRT_STREAM = [
    tevent(0, {"type": "created", "num_blocks_per_cache_level": [128, 256]}),
    json.dumps([
        json.loads(tevent(1, {"type": "stored", "parent_hash": None,
                              "blocks": [tblock(T[0], TOKENS[:4]), tblock(T[1], TOKENS[4:8])]})),
        json.loads(tevent(2, {"type": "stored", "parent_hash": T[1],
                              "blocks": [tblock(T[2], TOKENS[8:12]), tblock(T[3], TOKENS[12:])]})),
    ]),
    tevent(3, {"type": "updated", "block_hash": T[1], "cache_level": None,
               "priority": {"type": "event_diff", "old_value": 35, "new_value": 90}}),
    tevent(5, {"type": "stored", "parent_hash": None, "blocks": [tblock(99, (9, 9, 9, 9))]}),
    tevent(6, {"type": "updated", "block_hash": T[3],
               "cache_level": {"type": "event_diff", "old_value": 0, "new_value": 1},
               "priority": None}),
    tevent(7, {"type": "removed", "block_hashes": [T[3], T[0]]}),
]


def test_trtllm_learns_materializes_and_offload_is_a_gpu_loss() -> None:
    out = run(TrtllmKVAdapter(), TRT_STREAM, (CLAIM,))
    c, hc = "claim:a", "hash_chain"
    assert view(out) == [
        (0, "resident_claim_accepted", c, None, None, None),
        (2, KV_BLOCK_STORED, c, 0, "gpu", hc),
        (2, KV_BLOCK_STORED, c, 1, "gpu", hc),
        (2, KV_BLOCK_STORED, c, 2, "gpu", hc),
        (2, KV_BLOCK_STORED, c, 3, "gpu", hc),
        (2, "resident_claim_materialized", c, 3, None, None),
        (4, SEQUENCE_GAP, None, None, None, None),
        (4, KV_BLOCK_STORED, None, None, "gpu", None),
        (5, KV_BLOCK_REMOVED, c, 3, "gpu", hc),             # cache level 0 -> 1 ...
        (5, "resident_claim_harmed", c, 3, None, None),
        (5, KV_BLOCK_STORED, c, 3, "cpu", hc),              # ... lands on the host
        (6, KV_BLOCK_REMOVED, c, 3, "cpu", hc),             # removed from where it was
        (6, KV_BLOCK_REMOVED, c, 0, "gpu", hc),
        (6, "resident_claim_block_lost_after_release", c, 0, None, None),
    ]
    gap = out[6][1]
    assert (gap["missing_from"], gap["missing_to"], gap["native_stream"]) == (
        4, 4, "attention_dp_rank=None")
    assert out[3][1]["block_hash"] == str(2**64 - 5)
    assert out[1][1]["cache_level"] == 0 and out[1][1]["priority"] == 35


def test_trtllm_explicit_and_learned_joins_agree() -> None:
    explicit = ClaimSpec("claim:a", 4, block_hashes=(str(T[0]), str(T[1]), str(-5), str(T[3])),
                         identity=CLAIM.identity)
    learned = run(TrtllmKVAdapter(), TRT_STREAM, (CLAIM,))
    direct = run(TrtllmKVAdapter(), TRT_STREAM, (explicit,))
    assert [{k: v for k, v in r.items() if k != "joined_by"} for _, r in learned] == \
        [{k: v for k, v in r.items() if k != "joined_by"} for _, r in direct]


def test_trtllm_sequences_per_rank_and_errors() -> None:
    ok = [tevent(0, {"type": "removed", "block_hashes": [1]}, rank=0),
          tevent(0, {"type": "removed", "block_hashes": [1]}, rank=1)]
    assert [r["event"] for _, r in run(TrtllmKVAdapter(), ok, ())] == [KV_BLOCK_REMOVED] * 2
    with pytest.raises(TraceInputError) as err:
        run(TrtllmKVAdapter(path="t.jsonl"), [*ok, tevent(0, {"type": "removed",
                                                               "block_hashes": [1]}, rank=1)], ())
    assert err.value.line == 3 and "backwards" in err.value.message
    with pytest.raises(TraceInputError) as err:
        run(TrtllmKVAdapter(), [tevent(0, {"type": "stored", "parent_hash": None,
                                           "blocks": [{"block_hash": 1}]})], ())
    assert err.value.line == 1 and "blocks[0]: missing required field 'cache_level'" \
        in err.value.message
    with pytest.raises(TraceInputError) as err:
        run(TrtllmKVAdapter(), [tevent(0, {"type": "stored"}), "{"], ())
    assert err.value.line == 1 and "parent_hash" in err.value.message


# --------------------------------------------------------------------------- LMCache

H = [f"{i:02x}" * 32 for i in range(0xA1, 0xA5)]  # four 32-byte chunk hashes


def lbatch(seq: int, kind: str, hashes: list[str], *, tier: str = "l1", incarnation: int = 7,
           instance: str = "mp-0", kv_rank: int = 0, salt: str = "") -> dict:
    return {"instance_id": instance, "incarnation": incarnation, "seq": seq, "event_type": kind,
            "tier": tier, "backend": "dram" if tier == "l1" else "fs", "shared": False,
            "ts": 1.0, "entries": [
                {"key": {"chunk_hash_hex": h, "model_name": "m", "kv_rank": kv_rank,
                         "object_group_id": 0, "cache_salt": salt},
                 "size_bytes": 10, "token_ids": [], "token_offset": -1} for h in hashes]}


LCLAIM = ClaimSpec("claim:l", 3, block_hashes=tuple(H[:3]), block_size=256)


def test_lmcache_store_delete_fence_and_gaps() -> None:
    stream = [json.dumps(b) for b in (
        lbatch(1, "store", H[:3]),
        lbatch(2, "store", H[1:2], tier="l2"),
        lbatch(3, "access", H[:3]),
        lbatch(4, "delete", H[1:2], tier="l2"),      # L2 copy gone: L1 still holds it
        lbatch(6, "delete", [H[3]]),                 # seq 5 missing; unrelated chunk
        lbatch(7, "store", H[:1]),                   # idempotent re-store
        lbatch(1, "store", H[:1], incarnation=8),    # restart: L1 placements voided
    )]
    out = run(LMCacheAdapter(), stream, (LCLAIM,))
    c, ex = "claim:l", "explicit"
    assert view(out) == [
        (0, "resident_claim_accepted", c, None, None, None),
        (1, KV_BLOCK_STORED, c, 0, "l1", ex),
        (1, KV_BLOCK_STORED, c, 1, "l1", ex),
        (1, KV_BLOCK_STORED, c, 2, "l1", ex),
        (1, "resident_claim_materialized", c, 2, None, None),
        (2, KV_BLOCK_STORED, c, 1, "l2", ex),
        (4, KV_BLOCK_REMOVED, c, 1, "l2", ex),
        (5, SEQUENCE_GAP, None, None, None, None),
        (5, KV_BLOCK_REMOVED, None, None, "l1", None),
        (6, KV_BLOCK_STORED, c, 0, "l1", ex),
        (7, KV_ALL_BLOCKS_CLEARED, None, None, "l1", None),
        (7, "resident_claim_harmed", c, 0, None, None),
        (7, KV_BLOCK_STORED, c, 0, "l1", ex),
    ]
    fence = out[10][1]
    assert fence["native_event"] == "incarnation_fence" and fence["incarnation"] == 8
    assert out[11][1]["lost_block_positions"] == [0, 1, 2]


def test_lmcache_tensor_parallel_chunk_needs_every_rank() -> None:
    tp2 = (2 << 24) | (0 << 16) | (2 << 8)  # ComputeKVRank(world_size=2, rank 0, local 2, 0)
    claim = ClaimSpec("claim:tp", 1, block_hashes=(H[0],))
    rank0 = lbatch(1, "store", H[:1], kv_rank=tp2)
    rank1 = lbatch(2, "store", H[:1], kv_rank=tp2 | (1 << 16) | 1)
    lose1 = lbatch(3, "delete", H[:1], kv_rank=tp2 | (1 << 16) | 1)
    got = events(run(LMCacheAdapter(), [json.dumps(b) for b in (rank0, rank1, lose1)], (claim,)))
    assert got == ["resident_claim_accepted", KV_BLOCK_STORED, KV_BLOCK_STORED,
                   "resident_claim_materialized", KV_BLOCK_REMOVED, "resident_claim_harmed"]


def test_lmcache_salt_body_form_and_errors() -> None:
    salted = lbatch(1, "store", H[:3], salt="tenant-b")
    body = json.dumps({"batches": [salted, lbatch(2, "store", H[:3])]})
    out = run(LMCacheAdapter(), [body], (LCLAIM,))
    assert [r["claim_id"] for _, r in out if r["event"] == KV_BLOCK_STORED] == \
        [None, None, None, "claim:l", "claim:l", "claim:l"]
    with pytest.raises(TraceInputError) as err:
        run(LMCacheAdapter(path="l.jsonl"),
            [json.dumps(lbatch(2, "store", [])), json.dumps(lbatch(2, "store", []))], ())
    assert err.value.line == 2 and "backwards" in err.value.message
    with pytest.raises(TraceInputError) as err:
        run(LMCacheAdapter(), [json.dumps(lbatch(1, "store", [], incarnation=3)),
                               json.dumps(lbatch(1, "store", [], incarnation=2))], ())
    assert err.value.line == 2 and "incarnation goes backwards" in err.value.message
    with pytest.raises(TraceInputError) as err:
        run(LMCacheAdapter(), [json.dumps(lbatch(1, "store", ["zz"]))], ())
    assert "not hex" in err.value.message


def test_lmcache_needs_explicit_hashes() -> None:
    claim = ClaimSpec("claim:t", 1, token_ids=tuple(range(256)), block_size=256)
    with pytest.raises(TraceInputError) as err:
        run(LMCacheAdapter(path="l.jsonl"), [], (claim,))
    assert err.value.line == 0 and "block_hashes" in (err.value.hint or "")


# ------------------------------------------------------------------- claims and registry


def test_registry_names() -> None:
    assert sorted(ADAPTERS) == ["lmcache", "sglang-kv", "trtllm-kv", "vllm-kv"]
    assert all(adapter.name == key for key, adapter in ADAPTERS.items())


def test_load_claims_reads_the_documented_format(tmp_path: Any) -> None:
    path = tmp_path / "claims.json"
    path.write_text(json.dumps({"schema_version": 1, "claims": [
        {"claim_id": "claim:a", "required_blocks": 4, "block_size": 4,
         "token_ids": list(TOKENS), "extra_keys": {"cache_salt": "tenant-a"},
         "identity": {"predicate_id": "pred:a", "prefix_id": "prefix:a"}},
        {"claim_id": "claim:b", "required_blocks": 2, "block_hashes": [1, "ff"]},
    ]}, indent=2))
    a, b = load_claims(path)
    assert a == ClaimSpec("claim:a", 4, token_ids=TOKENS, block_size=4,
                          extra_keys=("cache_salt=tenant-a",),
                          identity={"predicate_id": "pred:a", "prefix_id": "prefix:a"})
    assert b.block_hashes == ("1", "ff") and b.block_size == 16


@pytest.mark.parametrize(("text", "line", "message"), [
    ('{"claims": [\n  {"claim_id": "a",\n   "required_blocks": 1,\n', 4, "not valid JSON"),
    ('{"claims": [\n {"claim_id": "a", "required_blocks": 1, "block_hashes": [1]},\n'
     ' {"claim_id": "b", "required_blok": 1}]}', 3, "unknown field 'required_blok'"),
    ('{"claims": [{"claim_id": "a", "required_blocks": 1, "block_hashes": [1]},\n'
     '\n{"claim_id": "a", "required_blocks": 1, "block_hashes": [2]}]}', 3, "declared twice"),
    ('{"claims": [{"claim_id": "a", "required_blocks": 2, "block_hashes": [1]}]}', 1,
     "declares 1 block_hashes but requires 2"),
    ('{"claims": [{"claim_id": "a", "required_blocks": 2, "token_ids": [1, 2]}]}', 1,
     "at least 32 token_ids"),
    ('{"claims": [{"claim_id": "a", "required_blocks": 1, "block_hashes": [1],\n'
     ' "identity": {"materialization_predicate": "contiguous_range(0, 1)"}}]}', 1,
     "leading_prefix_at_least(1)"),
    ('{"claims": [{"claim_id": "a", "required_blocks": 1, "block_hashes": [1],'
     ' "extra_keys": ["salt=x"]}]}', 1, "NAME=VALUE"),
    ('{"claims": [], "claims": []}', 1, "appears twice"),
    ('[]', 1, "must hold a JSON object"),
])
def test_load_claims_rejects_bad_input_at_its_line(tmp_path: Any, text: str, line: int,
                                                   message: str) -> None:
    path = tmp_path / "claims.json"
    path.write_text(text)
    with pytest.raises(TraceInputError) as err:
        load_claims(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert message in err.value.message


def test_load_claims_is_bounded(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import rkvformal.trace.adapters as adapters

    monkeypatch.setattr(adapters, "MAX_CLAIMS_BYTES", 10)
    path = tmp_path / "claims.json"
    path.write_text('{"claims": []}')
    with pytest.raises(TraceInputError, match="larger than 10 bytes"):
        load_claims(path)
    with pytest.raises(TraceInputError, match="cannot read"):
        load_claims(tmp_path / "missing.json")


def test_the_documented_claims_example_loads(tmp_path: Any) -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "ADAPTERS.md").read_text()
    example = doc.split("```json\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "claims.json"
    path.write_text(example)
    first, second = load_claims(path)
    assert first.extra_keys == ("cache_salt=tenant-a",) and first.required_blocks == 2
    assert second.block_hashes == ("11368576285790098258", "4792304319162787800")


def test_a_dump_that_starts_late_reports_the_missing_start() -> None:
    out = run(VllmKVAdapter(), [vbatch(3)], ())
    assert [(r["event"], r["missing_from"], r["missing_to"]) for _, r in out] == [
        (SEQUENCE_GAP, 0, 2)]
