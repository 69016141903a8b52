"""vLLM and SGLang KV event streams -> canonical claim-event records (docs/ADAPTERS.md).

Both runtimes publish the same envelope over ZMQ: frames (topic, 8-byte big-endian
sequence number, msgpack `[ts, events, dp_rank]`), each event a map tagged by `type`:
`BlockStored` (block_hashes, parent_block_hash, token_ids, block_size, medium, ...),
`BlockRemoved` (block_hashes, medium), `AllBlocksCleared`.  A dump holds one batch per
line, with its sequence number: `{"seq": N, "batch": [ts, [events...], rank]}` (or the
named form `{"seq": N, "ts": ..., "events": [...], "data_parallel_rank": r}`).

They differ in how a block hash is made (vLLM: sha256 over pickle or CBOR of the parent
digest, the tokens and extra keys; SGLang: sha256 over the parent digest and the tokens
as little-endian u32), in what a BlockStored says about its namespace (vLLM: per-block
`extra_keys`; SGLang: `cache_salt`, `lora_name`) and in medium names.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rkvformal.trace.adapters.join import (
    Accept,
    Session,
    UnsupportedHash,
    Where,
    canonical_hash,
    nonblank,
    parse_json,
    sglang_block_hashes,
    vllm_block_hashes,
    vllm_int_hash,
)
from rkvformal.trace.schema import ClaimSpec, Record

_DUMP_HINT = ('each line is one published batch with its ZMQ sequence number: '
              '{"seq": N, "batch": [ts, [events...], dp_rank]}')
_EVENT_TYPES = ("BlockStored", "BlockRemoved", "AllBlocksCleared")
_DECIMAL = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class VllmKVAdapter:
    """vLLM v1 `KVEventBatch` stream (vllm@v0.33.0 `vllm/distributed/kv_events.py`).

    `path` names the native file in errors.  `refcount`: a hash stored twice needs two
    removals to leave a tier (vLLM can hold duplicate blocks of one hash; turn it off
    when a request uses `kv_cache_report_mode="full"`, which re-announces reused
    blocks).  An absent `medium` counts as `default_medium` for residency.
    """

    path: str = "<vllm-kv-events>"
    refcount: bool = True
    default_medium: str | None = "gpu"
    resident_media: frozenset[str] = frozenset({"gpu"})
    name: str = field(default="vllm-kv", init=False)

    rank_field: ClassVar[str] = "data_parallel_rank"
    media: ClassVar[Mapping[str, str]] = {"GPU": "gpu", "CPU": "cpu", "STORAGE": "storage"}

    # -- runtime specifics -----------------------------------------------------------

    def spellings(self, name: str) -> tuple[str, ...]:
        """A declared digest also matches the int form vLLM publishes by default."""
        if _DECIMAL.fullmatch(name) or len(name) < 16:
            return (name,)
        return name, canonical_hash(vllm_int_hash(bytes.fromhex(name)))

    def chain_hashes(self, spec: ClaimSpec, namespace: Mapping[str, str]) -> list[tuple[str, ...]]:
        """Both spellings vLLM may publish: the digest, and its low 64 bits (default)."""
        lora = None
        if "lora_name" in namespace:
            if "lora_path" not in namespace:
                raise UnsupportedHash("vLLM hashes a LoRA by name and path: declare lora_path=")
            lora = (namespace["lora_name"], namespace["lora_path"])
        digests = vllm_block_hashes(
            spec.token_ids, spec.block_size, algorithm=spec.hash_algorithm,
            cache_salt=namespace.get("cache_salt"), lora=lora,
            none_hash_seed=namespace.get("none_hash_seed"))
        return [(digest.hex(), canonical_hash(vllm_int_hash(digest))) for digest in digests]

    def learn_accept(self, where: Where, event: Mapping[str, Any], index: int,
                     count: int) -> Accept:
        """A learned block must carry the claim's extra keys (salt on block 0, LoRA name)."""
        extra = where.opt(event, "extra_keys", "list")
        if extra is not None and len(extra) != count:
            raise where.error(f"extra_keys has {len(extra)} entries for {count} block_hashes")
        entry = None if extra is None else extra[index]
        if entry is not None and not isinstance(entry, list):
            raise where.error("each extra_keys entry must be an array or null")
        got = tuple(entry or ())

        def accept(namespace: Mapping[str, str], position: int) -> bool:
            want: list[str] = []
            if "lora_name" in namespace:
                want.append(namespace["lora_name"])
            if position == 0 and namespace.get("cache_salt"):
                want.append(namespace["cache_salt"])
            return got == tuple(want)

        return accept

    def extras(self, where: Where, event: Mapping[str, Any]) -> dict[str, Any]:
        group = where.opt(event, "group_idx", "int")
        return {} if group is None else {"group_idx": group}

    # -- the stream --------------------------------------------------------------------

    def records(self, lines: Iterable[tuple[int, str]],
                claims: tuple[ClaimSpec, ...]) -> Iterator[tuple[int, Record]]:
        session = Session(
            self.name, self.path, claims, chain_hashes=self.chain_hashes, learn=True,
            resident_media=self.resident_media, refcount=self.refcount,
            default_medium=self.default_medium, spellings=self.spellings)
        yield from session.accepted()
        for line, text in nonblank(lines):
            where = Where(self.path, line, "batch", _DUMP_HINT)
            seq, ts, events, rank = self._batch(where, parse_json(self.path, line, text,
                                                                  _DUMP_HINT))
            label = f"{self.rank_field}={rank}"
            yield from session.sequence(line, rank, label, seq, first=0)
            base: dict[str, Any] = {"native_sequence": seq, self.rank_field: rank,
                                    "native_ts": ts}
            for index, event in enumerate(events):
                yield from self._event(session, where.at(f"event {index}"), line, event,
                                       base, rank)

    def _batch(self, where: Where, obj: Any) -> tuple[int, Any, list[Any], int | None]:
        if not isinstance(obj, dict):
            raise where.error("a line must be a JSON object")
        seq = where.req(obj, "seq", "int")
        if seq < 0:
            raise where.error("field 'seq' must not be negative")
        if "batch" in obj:
            batch = where.check(obj["batch"], "list", "batch")
            if len(batch) not in (2, 3):
                raise where.error("field 'batch' must be [ts, events] or [ts, events, rank]")
            ts = where.check(batch[0], "number", "batch[0] (ts)")
            events = where.check(batch[1], "list", "batch[1] (events)")
            rank = batch[2] if len(batch) == 3 else None
            if rank is not None:
                where.check(rank, "int", "batch[2] (rank)")
        else:
            events = where.req(obj, "events", "list")
            ts = where.opt(obj, "ts", "number")
            rank = where.opt(obj, self.rank_field, "int")
        return seq, ts, events, rank

    def _medium(self, where: Where, event: Mapping[str, Any]) -> str | None:
        medium = where.opt(event, "medium", "str")
        return None if medium is None else self.media.get(medium, medium.lower())

    def _hashes(self, where: Where, event: Mapping[str, Any]) -> list[str]:
        raw = where.req(event, "block_hashes", "list")
        return [where.hash_value(value, f"block_hashes[{i}]") for i, value in enumerate(raw)]

    def _event(self, session: Session, where: Where, line: int, event: Any,
               base: Mapping[str, Any], rank: Hashable) -> Iterator[tuple[int, Record]]:
        if not isinstance(event, dict):
            raise where.error("an event must be a JSON object tagged by 'type'",
                              "this adapter reads the map-encoded events of vLLM >= 0.10 "
                              "and SGLang; positional (array) events are not supported")
        kind = where.req(event, "type", "str")
        if kind not in _EVENT_TYPES:
            raise where.error(f"unknown event type {kind!r}",
                              "expected one of " + ", ".join(_EVENT_TYPES))
        where = Where(where.path, where.line, f"{where.what} ({kind})", where.hint)
        common = {**base, "native_event": kind}
        if kind == "AllBlocksCleared":
            yield from session.cleared(line, common, scope=rank)
            return
        hashes = self._hashes(where, event)
        medium = self._medium(where, event)
        common.update(self.extras(where, event))
        if kind == "BlockRemoved":
            for block_hash in hashes:
                yield from session.removed(line, common, block_hash, scope=rank, medium=medium)
            return
        parent = self._parent(where, event)
        tokens = where.req(event, "token_ids", "list")
        size = where.req(event, "block_size", "int")
        if size < 1:
            raise where.error("field 'block_size' must be positive")
        plain = all(isinstance(t, int) and not isinstance(t, bool) for t in tokens)
        if not plain and not all(isinstance(t, list) for t in tokens):
            raise where.error("field 'token_ids' must hold integers")
        sliced = plain and len(tokens) == size * len(hashes)
        for index, block_hash in enumerate(hashes):
            block_tokens = tuple(tokens[index * size:(index + 1) * size]) if sliced else None
            accept = self.learn_accept(where, event, index, len(hashes))
            yield from session.stored(
                line, common, block_hash, parent, block_tokens, scope=rank, medium=medium,
                learn_accept=accept)
            parent = block_hash

    def _parent(self, where: Where, event: Mapping[str, Any]) -> str | None:
        if "parent_block_hash" not in event:
            raise where.error("missing required field 'parent_block_hash'")
        value = event["parent_block_hash"]
        return None if value is None else where.hash_value(value, "parent_block_hash")


@dataclass(frozen=True)
class SGLangKVAdapter(VllmKVAdapter):
    """SGLang `KVEventBatch` stream (sglang@v0.5.23 `srt/disaggregation/kv_events.py`).

    `event_format` is the server's `--kv-events-config` `format` ("default" or
    "dynamo", which namespaces hashes by the cache salt).  SGLang's radix tree holds one
    node per hash, so refcounting and set semantics agree.
    """

    path: str = "<sglang-kv-events>"
    event_format: str = "default"
    name: str = field(default="sglang-kv", init=False)

    rank_field: ClassVar[str] = "attn_dp_rank"
    media: ClassVar[Mapping[str, str]] = {
        "GPU": "gpu", "CPU_PINNED": "cpu", "DISK": "disk", "EXTERNAL": "external"}

    def spellings(self, name: str) -> tuple[str, ...]:
        """SGLang publishes one spelling (signed int64)."""
        return (name,)

    def chain_hashes(self, spec: ClaimSpec, namespace: Mapping[str, str]) -> list[tuple[str, ...]]:
        if spec.hash_algorithm != "sha256":
            raise UnsupportedHash(f"SGLang hashes with sha256 only, not {spec.hash_algorithm!r}")
        if "lora_name" in namespace:
            raise UnsupportedHash("SGLang namespaces LoRA blocks by an internal extra_key")
        values = sglang_block_hashes(spec.token_ids, spec.block_size,
                                     cache_salt=namespace.get("cache_salt"),
                                     event_format=self.event_format)
        return [(canonical_hash(value),) for value in values]

    def learn_accept(self, where: Where, event: Mapping[str, Any], index: int,
                     count: int) -> Accept:
        salt = where.opt(event, "cache_salt", "str")
        lora = where.opt(event, "lora_name", "str")

        def accept(namespace: Mapping[str, str], position: int) -> bool:
            return namespace.get("cache_salt") == salt and namespace.get("lora_name") == lora

        return accept

    def extras(self, where: Where, event: Mapping[str, Any]) -> dict[str, Any]:
        salt = where.opt(event, "cache_salt", "str")
        return {} if salt is None else {"cache_salt": salt}
