"""LMCache MP-coordinator cache events -> canonical claim-event records (docs/ADAPTERS.md).

An MP server reports `CacheEventBatch`es (lmcache@v0.5.6 `lmcache/v1/mp_coordinator/
api.py`): `instance_id`, `incarnation` (restart counter), `seq` (per instance and
incarnation, from 1), `event_type` (store / delete / access / config), `tier` (l1 /
l2), `backend`, `shared`, `entries[]` of `{key: {chunk_hash_hex, model_name, kv_rank,
object_group_id, cache_salt}, size_bytes, token_ids, token_offset}`.  A dump holds one
batch per line, as `POST /events` carries it, or one `{"batches": [...]}` body per line.

LMCache's chunk hash depends on the vLLM build it runs beside and carries no parent
link, so claims are joined by explicit chunk hashes only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rkvformal.trace.adapters.join import Accept, Session, Where, nonblank, parse_json
from rkvformal.trace.schema import ClaimSpec, Record

_DUMP_HINT = ('each line is one CacheEventBatch as POST /events carries it, '
              '{"instance_id": ..., "incarnation": I, "seq": N, "event_type": ..., '
              '"tier": ..., "backend": ..., "entries": [...]}, or a {"batches": [...]} body')
_EVENT_TYPES = ("store", "delete", "access", "config")
_TIERS = ("l1", "l2")


def world_size(kv_rank: int) -> int:
    """`ObjectKey.WorldSizeFromKVRank`: a chunk is usable only with every rank's slice."""
    return max(1, (kv_rank >> 24) & 0xFF)


@dataclass(frozen=True)
class LMCacheAdapter:
    """LMCache cache-event batches; residency is judged on `resident_media` (tiers).

    LMCache has no GPU tier: its L1 is host memory, its L2 storage.  The default judges
    a claim on L1 (`{"l1"}`); pass `{"l2"}` for claims about L2 (where coordinator pins
    act).  A higher incarnation of an instance voids that instance's L1 placements,
    as the coordinator's ingest gate does.
    """

    path: str = "<lmcache-events>"
    resident_media: frozenset[str] = frozenset({"l1"})
    name: str = field(default="lmcache", init=False)

    def records(self, lines: Iterable[tuple[int, str]],
                claims: tuple[ClaimSpec, ...]) -> Iterator[tuple[int, Record]]:
        session = Session(
            self.name, self.path, claims, chain_hashes=None, learn=False,
            resident_media=self.resident_media, refcount=False, default_medium=None)
        incarnations: dict[str, int] = {}
        yield from session.accepted()
        for line, text in nonblank(lines):
            obj = parse_json(self.path, line, text, _DUMP_HINT)
            where = Where(self.path, line, "batch", _DUMP_HINT)
            if isinstance(obj, dict) and "batches" in obj:
                batches = where.check(obj["batches"], "list", "batches")
            else:
                batches = [obj]
            for index, batch in enumerate(batches):
                at = where if len(batches) == 1 else where.at(f"batches[{index}]")
                yield from self._batch(session, at, line, batch, incarnations)

    def _batch(self, session: Session, where: Where, line: int, batch: Any,
               incarnations: dict[str, int]) -> Iterator[tuple[int, Record]]:
        if not isinstance(batch, dict):
            raise where.error("a batch must be a JSON object")
        instance = where.req(batch, "instance_id", "str")
        if not instance:
            raise where.error("field 'instance_id' must not be empty")
        incarnation = where.req(batch, "incarnation", "int")
        seq = where.req(batch, "seq", "int")
        kind = where.req(batch, "event_type", "str")
        tier = where.req(batch, "tier", "str")
        if incarnation < 0 or seq < 1:
            raise where.error("incarnation must be >= 0 and seq >= 1")
        if kind not in _EVENT_TYPES:
            raise where.error(f"unknown event_type {kind!r}",
                              "expected one of " + ", ".join(_EVENT_TYPES))
        if tier not in _TIERS:
            raise where.error(f"tier must be 'l1' or 'l2', not {tier!r}")
        backend = where.opt(batch, "backend", "str", "")
        shared = where.opt(batch, "shared", "bool", False)
        entries = where.opt(batch, "entries", "list", [])
        base: dict[str, Any] = {"native_sequence": seq, "native_event": kind,
                                "instance_id": instance, "incarnation": incarnation,
                                "tier": tier, "backend": backend, "shared": shared}
        current = incarnations.get(instance)
        if current is not None and incarnation < current:
            raise where.error(
                f"incarnation goes backwards for instance {instance!r}: {incarnation} "
                f"after {current}", "a lower incarnation is a stale emitter; drop its batches")
        if current is not None and incarnation > current:
            session.reset_stream((instance, current))
            fence = {**base, "native_event": "incarnation_fence", "tier": "l1", "backend": None}
            yield from session.cleared(line, fence, scope=instance, media=frozenset({"l1"}),
                                       medium="l1")
        incarnations[instance] = incarnation
        yield from session.sequence(line, (instance, incarnation),
                                    f"instance_id={instance} incarnation={incarnation}",
                                    seq, first=1)
        if kind not in ("store", "delete"):
            return  # access refreshes recency, config declares capacity: no placement moves
        scope = "shared" if shared else instance
        for index, entry in enumerate(entries):
            at = where.at(f"entries[{index}]")
            at.check(entry, "object", f"entries[{index}]")
            key = at.req(entry, "key", "object")
            kat = at.at("key")
            chunk = kat.req(key, "chunk_hash_hex", "str")
            try:
                bytes.fromhex(chunk)
            except ValueError:
                raise kat.error("field 'chunk_hash_hex' is not hex") from None
            block_hash = kat.hash_value(chunk, "chunk_hash_hex")
            model = kat.req(key, "model_name", "str")
            kv_rank = kat.req(key, "kv_rank", "int")
            group = kat.opt(key, "object_group_id", "int", 0)
            salt = kat.opt(key, "cache_salt", "str", "")
            record_base = {**base, "model_name": model, "kv_rank": kv_rank}
            sub = (backend, group, model, salt)
            accept = _accept(model, salt)
            if kind == "store":
                yield from session.stored(
                    line, record_base, block_hash, None, None, scope=scope, medium=tier,
                    accept=accept, slice_=kv_rank, sub=sub, need=world_size(kv_rank))
            else:
                yield from session.removed(
                    line, record_base, block_hash, scope=scope, medium=tier, accept=accept,
                    slice_=kv_rank, sub=sub)


def _accept(model: str, salt: str) -> Accept:
    """A chunk hash joins a claim only within the claim's model and salt namespace."""

    def accept(namespace: Mapping[str, str], position: int) -> bool:
        if "model_name" in namespace and namespace["model_name"] != model:
            return False
        return namespace.get("cache_salt", "") == salt

    return accept
