"""The physical layer of the reference simulator: a paged GPU KV pool and a host tier.

Everything here is block-level and knows nothing about claims or primitives:

* blocks have ids, a ref count, and (once their tokens are computed) a prefix hash and
  a payload array;
* prefix hashes form a sha256 chain over the parent hash, the block's tokens and extra
  keys (a cache salt, an adapter id), as vLLM's prefix cache does, so a block is only
  reusable in the cache identity it was computed in;
* the free queue is LRU ordered (head = evicted first); a finished request frees its
  blocks tail-first, so the tail of a prefix sits nearest the head and goes first;
* cached blocks keep their hash in the free queue until they are reallocated (lazy
  eviction);
* the host tier stores real copies of payloads; a restore checks what it brings back
  against the payload the block's hash determines, so a missing or corrupted copy is a
  failure the caller sees, never silently accepted.

Predicates over surviving logical positions live here too (`MaterializationPredicate`):
they are pure functions of a position set, which is what litmus L6 is about.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rkvformal.vocab import PredicateKind

BLOCK_SIZE = 16  # tokens per block unless a runtime says otherwise (paper 1)
HEAD_DIM = 8  # payload width per token: small, but a real array that can be corrupted
ROOT_HASH = hashlib.sha256(b"rkvformal-sim:root").digest()


# --- cache identity, hash chains and payloads ---------------------------------------------

@dataclass(frozen=True)
class CacheIdentity:
    """The equivalence domain in which reuse is valid (paper 1 §2.1).  Its keys enter
    the hash chain, so a block computed under another identity never matches."""

    cache_key_domain: str
    model_id: str
    tokenizer_id: str
    salt_namespace: str
    block_size: int
    adapter_id: str | None = None
    prompt_embedding_id: str | None = None
    kv_format: str = "opaque"

    def __post_init__(self) -> None:
        for name in ("cache_key_domain", "model_id", "tokenizer_id", "salt_namespace",
                     "kv_format"):
            if not getattr(self, name):
                raise ValueError(f"cache identity needs a non-empty {name}")
        if self.block_size < 1:
            raise ValueError("cache identity needs a positive block size")

    def extra_keys(self) -> tuple[str, ...]:
        keys = [f"domain={self.cache_key_domain}", f"model={self.model_id}",
                f"tokenizer={self.tokenizer_id}", f"block_size={self.block_size}",
                f"kv_format={self.kv_format}"]
        if self.adapter_id:
            keys.append(f"adapter={self.adapter_id}")
        if self.prompt_embedding_id:
            keys.append(f"prompt_embedding={self.prompt_embedding_id}")
        return tuple(keys)

    def on_tier(self, tier: str) -> CacheIdentity:
        """The identity a per-tier join reports: the tier's own key domain."""
        return replace(self, cache_key_domain=f"{tier}:{self.cache_key_domain}")

    def to_json(self) -> dict[str, Any]:
        return {
            "cache_key_domain": self.cache_key_domain, "model_id": self.model_id,
            "tokenizer_id": self.tokenizer_id, "salt_namespace": self.salt_namespace,
            "block_size": self.block_size, "adapter_id": self.adapter_id,
            "prompt_embedding_id": self.prompt_embedding_id, "kv_format": self.kv_format,
        }


def object_tokens(object_id: str, blocks: int, block_size: int = BLOCK_SIZE) -> np.ndarray:
    """Deterministic token ids of a reusable object (distinct objects never share a
    prefix, as the model assumes: a claim's object is not resident before its claim)."""
    seed = int.from_bytes(hashlib.sha256(object_id.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    return rng.integers(0, 50_000, size=(blocks, block_size), dtype=np.int64)


def block_hash(parent: bytes, tokens: np.ndarray, extra_keys: tuple[str, ...]) -> bytes:
    """sha256 over the parent hash, the block's token ids and its extra keys."""
    h = hashlib.sha256(parent)
    h.update(np.ascontiguousarray(tokens, dtype=np.int64).tobytes())
    for key in extra_keys:
        h.update(b"\x00" + key.encode())
    return h.digest()


def hash_chain(tokens: np.ndarray, extra_keys: tuple[str, ...] = (),
               salt: str = "") -> tuple[bytes, ...]:
    """The prefix hash of every block: block p's hash covers blocks 0..p.  The cache
    salt enters the first block only, and through the chain every later one."""
    out: list[bytes] = []
    parent = ROOT_HASH
    for p, row in enumerate(tokens):
        keys = (*extra_keys, f"salt={salt}") if p == 0 else extra_keys
        parent = block_hash(parent, row, keys)
        out.append(parent)
    return tuple(out)


def payload_for(h: bytes, block_size: int = BLOCK_SIZE) -> np.ndarray:
    """The KV a block with hash `h` holds: a deterministic function of the hash, so a
    restore can check a host copy without keeping a second copy around."""
    rng = np.random.default_rng(int.from_bytes(h[:8], "little"))
    return rng.standard_normal((block_size, HEAD_DIM)).astype(np.float32)


# --- predicates over logical positions ----------------------------------------------------

def leading_prefix_length(positions: Iterable[int]) -> int:
    """The largest k such that positions 0..k-1 all survive."""
    have = set(positions)
    k = 0
    while k in have:
        k += 1
    return k


@dataclass(frozen=True)
class PredicateResult:
    materialized: bool
    surviving_blocks: int
    leading_blocks: int
    required_blocks: int


@dataclass(frozen=True)
class MaterializationPredicate:
    """`leading_prefix_at_least(n)` or `contiguous_range(start, n)`, judged over the set
    of surviving logical positions, never over a raw count."""

    kind: PredicateKind
    required: int
    start: int = 0

    def __post_init__(self) -> None:
        if self.required < 0 or self.start < 0:
            raise ValueError("required blocks and start block must be >= 0")
        if self.kind is PredicateKind.LEADING_PREFIX_AT_LEAST and self.start != 0:
            raise ValueError("a leading prefix starts at position 0")

    @property
    def positions(self) -> range:
        return range(self.start, self.start + self.required)

    @property
    def text(self) -> str:
        if self.kind is PredicateKind.LEADING_PREFIX_AT_LEAST:
            return f"leading_prefix_at_least({self.required})"
        return f"contiguous_range({self.start}, {self.required})"

    @property
    def predicate_id(self) -> str:
        if self.kind is PredicateKind.LEADING_PREFIX_AT_LEAST:
            return f"predicate:leading-prefix-{self.required}"
        return f"predicate:contiguous-{self.start}-{self.required}"

    def evaluate(self, surviving: Iterable[int]) -> PredicateResult:
        have = set(surviving)
        leading = leading_prefix_length(have)
        if self.kind is PredicateKind.LEADING_PREFIX_AT_LEAST:
            ok = leading >= self.required
        else:
            ok = all(p in have for p in self.positions)
        return PredicateResult(ok, len(have), leading, self.required)


# --- the GPU pool -------------------------------------------------------------------------

@dataclass
class Block:
    block_id: int
    ref_cnt: int = 0
    block_hash: bytes | None = None
    payload: np.ndarray | None = None


@dataclass(frozen=True)
class Taken:
    """One block handed out by the allocator, with what it held before."""

    block_id: int
    free_queue_rank: int | None  # None: taken from a running request (no ref-count pin)
    ref_count: int
    old_hash: bytes | None


class PoolError(RuntimeError):
    """The pool was asked for something its invariants forbid (a simulator bug)."""


class BlockPool:
    """`num_blocks` usable GPU blocks with an LRU free queue and a hash index."""

    def __init__(self, num_blocks: int, block_size: int = BLOCK_SIZE) -> None:
        if num_blocks < 1 or block_size < 1:
            raise ValueError("a pool needs at least one block of at least one token")
        self.block_size = block_size
        self.blocks = [Block(i) for i in range(num_blocks)]
        self._queue: OrderedDict[int, None] = OrderedDict((i, None) for i in range(num_blocks))
        self._by_hash: dict[bytes, int] = {}

    # --- reading ------------------------------------------------------------------------
    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def queue(self) -> list[int]:
        """The free queue, head (next to go) first."""
        return list(self._queue)

    def in_queue(self, block_id: int) -> bool:
        return block_id in self._queue

    def rank(self, block_id: int) -> int | None:
        for i, b in enumerate(self._queue):
            if b == block_id:
                return i
        return None

    def free_uncached(self) -> list[int]:
        """Free blocks without a hash, in queue order: allocation takes these first."""
        return [b for b in self._queue if self.blocks[b].block_hash is None]

    def lookup(self, h: bytes) -> int | None:
        return self._by_hash.get(h)

    def resident(self, hashes: Sequence[bytes]) -> list[int]:
        """Positions (indices into `hashes`) whose block is resident."""
        return [p for p, h in enumerate(hashes) if h in self._by_hash]

    # --- writing ------------------------------------------------------------------------
    def take(self, block_id: int) -> Taken:
        """Hand a block to a new holder: out of the free queue (or, for a runtime that
        does not honour ref counts, away from its holder), its hash dropped."""
        block = self.blocks[block_id]
        rank = self.rank(block_id)
        if rank is not None:
            del self._queue[block_id]
        elif block.ref_cnt == 0:
            raise PoolError(f"block {block_id} is neither free nor held")
        taken = Taken(block_id, rank, block.ref_cnt, block.block_hash)
        self._uncache(block)
        block.ref_cnt = 1
        return taken

    def store(self, block_id: int, h: bytes, payload: np.ndarray) -> None:
        """Register a computed block under its prefix hash."""
        block = self.blocks[block_id]
        if h in self._by_hash and self._by_hash[h] != block_id:
            raise PoolError("a hash is already resident in another block")
        self._uncache(block)
        block.block_hash = h
        block.payload = payload
        self._by_hash[h] = block_id

    def compute(self, hashes: Sequence[bytes]) -> list[int]:
        """Prefill an object: take a free block per hash, in order, and store it (the
        blocks stay held until released)."""
        blocks = []
        for h in hashes:
            block_id = self.free_uncached()[0]
            self.take(block_id)
            self.store(block_id, h, payload_for(h))
            blocks.append(block_id)
        return blocks

    def release(self, block_ids: Sequence[int], *, keep_hash: bool = True) -> None:
        """Drop one reference from each block, in the order given; a block nobody holds
        goes to the tail of the free queue (cached, unless `keep_hash` is false)."""
        for b in block_ids:
            block = self.blocks[b]
            if block.ref_cnt <= 0:
                raise PoolError(f"block {b} released more often than held")
            block.ref_cnt -= 1
            if not keep_hash:
                self._uncache(block)
            if block.ref_cnt == 0:
                self._queue[b] = None

    def acquire(self, block_id: int) -> None:
        """A request references a resident block (a prefix-cache hit): out of the free
        queue while referenced."""
        block = self.blocks[block_id]
        if block.block_hash is None:
            raise PoolError(f"block {block_id} holds nothing to reference")
        self._queue.pop(block_id, None)
        block.ref_cnt += 1

    def touch(self, block_ids: Sequence[int]) -> None:
        """Move free cached blocks to the queue tail in the order given (a hit)."""
        for b in block_ids:
            if b in self._queue:
                self._queue.move_to_end(b)

    def _uncache(self, block: Block) -> None:
        if block.block_hash is not None:
            del self._by_hash[block.block_hash]
        block.block_hash = None
        block.payload = None

    def check(self) -> None:
        """Invariants: the queue holds exactly the unreferenced blocks; the hash index
        is the blocks' hashes."""
        for block in self.blocks:
            if (block.ref_cnt == 0) != (block.block_id in self._queue):
                raise PoolError(f"block {block.block_id}: ref count and queue disagree")
            if block.ref_cnt < 0:
                raise PoolError(f"block {block.block_id}: negative ref count")
        index = {b.block_hash: b.block_id for b in self.blocks if b.block_hash is not None}
        if index != self._by_hash:
            raise PoolError("hash index out of sync")


# --- the host tier ------------------------------------------------------------------------

@dataclass(frozen=True)
class HostCopy:
    block_hash: bytes
    generation: int
    payload: np.ndarray


@dataclass(frozen=True)
class Fetched:
    """What a restore brought back: per position, the payload or None (withheld)."""

    payloads: dict[int, np.ndarray | None]
    generation: int


@dataclass
class HostTier:
    """Real copies of offloaded blocks, keyed by (object, logical position).

    A fault injected with `arm_fault` corrupts the next transfer in flight; the stored
    copy stays intact (the model's restore failure is one-shot: a later restore of the
    same generation can succeed)."""

    copies: dict[tuple[str, int], HostCopy] = field(default_factory=dict)
    fault_armed: bool = False

    def offload(self, object_key: str, generation: int,
                blocks: Sequence[tuple[int, bytes, np.ndarray]]) -> None:
        for position, h, payload in blocks:
            self.copies[(object_key, position)] = HostCopy(h, generation, payload.copy())

    def holds(self, object_key: str, positions: Iterable[int]) -> bool:
        return all((object_key, p) in self.copies for p in positions)

    def generation(self, object_key: str) -> int:
        gens = [c.generation for (k, _p), c in self.copies.items() if k == object_key]
        return max(gens, default=0)

    def arm_fault(self) -> None:
        self.fault_armed = True

    def fetch(self, object_key: str, positions: Sequence[int]) -> Fetched:
        """Transfer copies back; an armed fault corrupts the first one (and is used up)."""
        out: dict[int, np.ndarray | None] = {}
        corrupt = self.fault_armed
        self.fault_armed = False
        for p in positions:
            copy = self.copies.get((object_key, p))
            if copy is None:
                out[p] = None
                continue
            data = copy.payload.copy()
            if corrupt:
                data.flat[0] = data.flat[0] + np.float32(1.0)
                corrupt = False
            out[p] = data
        return Fetched(out, self.generation(object_key))


def verify_restore(fetched: Fetched, expected: dict[int, bytes],
                   block_size: int = BLOCK_SIZE) -> list[int]:
    """Positions whose fetched payload is missing or differs from what its hash says."""
    bad: list[int] = []
    for p, h in expected.items():
        data = fetched.payloads.get(p)
        if data is None or not np.array_equal(data, payload_for(h, block_size)):
            bad.append(p)
    return bad
