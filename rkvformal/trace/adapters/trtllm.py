"""TensorRT-LLM KV cache events (LLM API JSON) -> canonical claim-event records.

`LLM.get_kv_cache_events()` (or `trtllm-serve` `/kv_cache_events`) returns events
serialized by `KVCacheEventSerializer` (tensorrt_llm/_utils.py): `{event_id, data,
window_size, attention_dp_rank?}` with `data.type` one of `created`, `stored`
(`parent_hash`, `blocks[]` of `{block_hash, tokens[{token_id, token_extra_id}],
cache_level, priority}`), `removed` (`block_hashes`) and `updated` (`block_hash`,
`cache_level` / `priority` as `{old_value, new_value}`).  A dump holds one event per
line, or one drained list of events per line.

TRT-LLM's block hash (`BlockKeyHasher`, C++) changed across versions and cannot be
run here, so claims are joined by explicit hashes or learned from the stream's parent
links and tokens, never recomputed.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rkvformal.trace.adapters.join import (
    Accept,
    Session,
    Where,
    nonblank,
    parse_json,
)
from rkvformal.trace.schema import ClaimSpec, Record

_DUMP_HINT = ('each line is one KV cache event as the LLM API serializes it, '
              '{"event_id": N, "data": {"type": ...}, "window_size": W}, or an array of them')
_TYPES = ("created", "stored", "removed", "updated")
# cache level 0 is the primary (GPU) pool, 1 the secondary (host) pool: kvCacheManager.h
# kPrimaryLevel / kSecondaryLevel, evictionPolicy.cpp getCacheLevel.
_LEVELS = {0: "gpu", 1: "cpu"}


def medium_of_level(level: int) -> str:
    return _LEVELS.get(level, f"cache_level_{level}")


@dataclass(frozen=True)
class TrtllmKVAdapter:
    """TensorRT-LLM KV cache event stream; see the module docstring for the shape.

    `path` names the native file in errors.  A `removed` event does not say from which
    cache level; a claim block is removed from wherever the adapter last saw it.
    """

    path: str = "<trtllm-kv-events>"
    resident_media: frozenset[str] = frozenset({"gpu"})
    name: str = field(default="trtllm-kv", init=False)

    def records(self, lines: Iterable[tuple[int, str]],
                claims: tuple[ClaimSpec, ...]) -> Iterator[tuple[int, Record]]:
        session = Session(
            self.name, self.path, claims, chain_hashes=None, learn=True,
            resident_media=self.resident_media, refcount=False, default_medium=None)
        yield from session.accepted()
        for line, text in nonblank(lines):
            obj = parse_json(self.path, line, text, _DUMP_HINT)
            events = obj if isinstance(obj, list) else [obj]
            for index, event in enumerate(events):
                what = "event" if not isinstance(obj, list) else f"event {index}"
                yield from self._event(session, Where(self.path, line, what, _DUMP_HINT),
                                       line, event)

    def _event(self, session: Session, where: Where, line: int,
               event: Any) -> Iterator[tuple[int, Record]]:
        if not isinstance(event, dict):
            raise where.error("an event must be a JSON object")
        event_id = where.req(event, "event_id", "int")
        if event_id < 0:
            raise where.error("field 'event_id' must not be negative")
        data = where.req(event, "data", "object")
        kind = where.req(data, "type", "str")
        if kind not in _TYPES:
            raise where.error(f"unknown data.type {kind!r}", "expected one of " + ", ".join(_TYPES))
        rank = where.opt(event, "attention_dp_rank", "int")
        window = where.opt(event, "window_size", "int")
        yield from session.sequence(line, rank, f"attention_dp_rank={rank}", event_id, first=0)
        where = Where(where.path, where.line, f"{where.what} {event_id} ({kind})", where.hint)
        base: dict[str, Any] = {"native_sequence": event_id, "native_event": kind,
                                "attention_dp_rank": rank, "window_size": window}
        if kind == "stored":
            yield from self._stored(session, where, line, data, base, rank)
        elif kind == "removed":
            raw = where.req(data, "block_hashes", "list")
            for i, value in enumerate(raw):
                block_hash = where.hash_value(value, f"block_hashes[{i}]")
                yield from session.removed(line, base, block_hash, scope=rank, medium=None,
                                           any_medium=True)
        elif kind == "updated":
            yield from self._updated(session, where, line, data, base, rank)
        # `created` declares pool sizes per cache level: no block changes place.

    def _stored(self, session: Session, where: Where, line: int, data: Mapping[str, Any],
                base: Mapping[str, Any], rank: Hashable) -> Iterator[tuple[int, Record]]:
        if "parent_hash" not in data:
            raise where.error("missing required field 'parent_hash'")
        parent = None if data["parent_hash"] is None else where.hash_value(
            data["parent_hash"], "parent_hash")
        data_salt = where.opt(data, "cache_salt", "str")
        lora = where.opt(data, "lora_name", "str")
        for index, block in enumerate(where.req(data, "blocks", "list")):
            at = where.at(f"blocks[{index}]")
            at.check(block, "object", f"blocks[{index}]")
            block_hash = at.req_hash(block, "block_hash")
            level = at.req(block, "cache_level", "int")
            priority = at.opt(block, "priority", "int")
            salt = at.opt(block, "cache_salt", "str", data_salt)
            tokens = self._tokens(at, at.req(block, "tokens", "list"))
            record_base = {**base, "cache_level": level, "priority": priority}
            yield from session.stored(
                line, record_base, block_hash, parent, tokens, scope=rank,
                medium=medium_of_level(level), learn_accept=_accept(salt, lora))
            parent = block_hash

    @staticmethod
    def _tokens(where: Where, tokens: list[Any]) -> tuple[int, ...] | None:
        """Token ids for learning; None when extra ids make them more than the ids."""
        ids: list[int] = []
        plain = True
        for i, token in enumerate(tokens):
            where.check(token, "object", f"tokens[{i}]")
            ids.append(where.req(token, "token_id", "int"))
            if where.opt(token, "token_extra_id", "int", 0) != 0:
                plain = False
        return tuple(ids) if plain else None

    def _updated(self, session: Session, where: Where, line: int, data: Mapping[str, Any],
                 base: Mapping[str, Any], rank: Hashable) -> Iterator[tuple[int, Record]]:
        block_hash = where.req_hash(data, "block_hash")
        level = self._diff(where, data, "cache_level")
        priority = self._diff(where, data, "priority")
        common = {**base, "priority": None if priority is None else priority[1]}
        if level is None or level[0] == level[1]:
            return  # a priority-only change moves no block
        old, new = (medium_of_level(value) for value in level)
        yield from session.removed(line, {**common, "cache_level": level[0]}, block_hash,
                                   scope=rank, medium=old)
        yield from session.stored(line, {**common, "cache_level": level[1]}, block_hash,
                                  None, None, scope=rank, medium=new)

    @staticmethod
    def _diff(where: Where, data: Mapping[str, Any], name: str) -> tuple[int, int] | None:
        diff = where.opt(data, name, "object")
        if diff is None:
            return None
        at = where.at(name)
        return at.req(diff, "old_value", "int"), at.req(diff, "new_value", "int")


def _accept(salt: str | None, lora: str | None) -> Accept:
    """A learned block must not report a salt or LoRA other than the claim's (absent: unknown)."""

    def accept(namespace: Mapping[str, str], position: int) -> bool:
        if salt is not None and namespace.get("cache_salt") != salt:
            return False
        return lora is None or namespace.get("lora_name") == lora

    return accept
