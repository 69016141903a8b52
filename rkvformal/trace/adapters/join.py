"""Join hash-keyed native KV block events to declared claims (docs/ADAPTERS.md).

No runtime puts a request or claim id on its KV events: a block is named by its hash
alone.  To say "this removal hurts claim c" an observational adapter needs, for each
claim, the hash of each logical block position.  This module gets them three ways:

* explicit: `ClaimSpec.block_hashes`, as the runtime printed them;
* recomputed: the runtime's own hash chain re-run over `ClaimSpec.token_ids`, where we
  reproduce it byte for byte (vLLM sha256 / sha256_cbor, SGLang; see the docs for the
  exact inputs);
* learned: following the stream's parent links: a stored block whose parent is the
  claim's position i-1 (or the root, for i = 0) and whose tokens are the claim's
  block-i tokens *is* position i, whatever hash function made it.

`Session` is the per-pass engine the adapters share: the dense `event_sequence`, native
sequence cursors (gaps and regressions), per-claim residency by tier, and the claim
events the join justifies (materialized / harmed / lost after release).  Its memory is
proportional to the claims and their block hashes, never to the events.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import pickle
import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rkvformal.trace.schema import (
    KV_ALL_BLOCKS_CLEARED,
    KV_BLOCK_REMOVED,
    KV_BLOCK_STORED,
    SEQUENCE_GAP,
    ClaimSpec,
    Record,
    TraceInputError,
)

EXPLICIT = "explicit"
HASH_CHAIN = "hash_chain"

CLAIM_ACCEPTED = "resident_claim_accepted"
CLAIM_MATERIALIZED = "resident_claim_materialized"
CLAIM_HARMED = "resident_claim_harmed"
CLAIM_LOST_AFTER_RELEASE = "resident_claim_block_lost_after_release"

# Identity fields a claim may declare; every claim-scoped record carries them.
IDENTITY_FIELDS = (
    "predicate_id",
    "materialization_predicate",
    "prefix_id",
    "reusable_object_id",
    "cache_identity",
    "request_token_map_id",
    "owner_scope",
    "protection_mode",
)

# `ClaimSpec.extra_keys` entries are "name=value"; these are the names we understand.
EXTRA_KEY_NAMES = frozenset(
    {"cache_salt", "lora_name", "lora_path", "none_hash_seed", "model_name"})

_U64 = 1 << 64
_I64_MIN = -(1 << 63)
_DECIMAL = re.compile(r"-?[0-9]+")
_HEX = re.compile(r"[0-9a-fA-F]+")


def predicate_text(required_blocks: int) -> str:
    """The one materialization predicate an adapter can judge from block events."""
    return f"leading_prefix_at_least({required_blocks})"


# --------------------------------------------------------------------------- hashes


def canonical_hash(value: object) -> str:
    """One spelling per block hash, so the runtime's, the dump's and the claim's agree.

    Integers (vLLM with `VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1`, SGLang's signed int64,
    TRT-LLM's size_t) are written in decimal modulo 2**64, so a signed and an unsigned
    print of the same 64 bits are equal.  Byte hashes are lower-case hex; a string in a
    dump is read as decimal if it is all digits, else as hex if it is hex, else as
    base64 (what `msgspec.json` writes for bytes).
    """
    if isinstance(value, bool):
        raise ValueError("a block hash is an integer or a string, not a boolean")
    if isinstance(value, int):
        return str(value % _U64) if _I64_MIN <= value < _U64 else str(value)
    if isinstance(value, bytes | bytearray):
        if not value:
            raise ValueError("an empty block hash")
        return bytes(value).hex()
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value):
            return canonical_hash(int(value))
        if value and len(value) % 2 == 0 and _HEX.fullmatch(value):
            return value.lower()
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            raise ValueError(f"{value[:40]!r} is neither decimal, hex nor base64")
        return raw.hex()
    raise ValueError(f"a block hash is an integer or a string, not {type(value).__name__}")


def parse_extra_keys(extra_keys: Sequence[str]) -> dict[str, str]:
    """`("cache_salt=a", ...)` -> `{"cache_salt": "a"}`; unknown or repeated names fail."""
    parsed: dict[str, str] = {}
    for entry in extra_keys:
        name, sep, value = entry.partition("=")
        if not sep or name not in EXTRA_KEY_NAMES:
            raise ValueError(
                f"extra key {entry!r} is not NAME=VALUE with NAME one of "
                + ", ".join(sorted(EXTRA_KEY_NAMES))
            )
        if name in parsed:
            raise ValueError(f"extra key {name!r} is given twice")
        parsed[name] = value
    return parsed


class UnsupportedHash(Exception):
    """The runtime's hash cannot be reproduced exactly for these inputs (say why)."""


# vLLM ---------------------------------------------------------------------------------
# vllm@v0.33.0: vllm/utils/hashing.py:26-60 (sha256 = sha256(pickle.dumps(x, HIGHEST)),
# sha256_cbor = sha256(cbor2.dumps(x, canonical=True))), vllm/v1/core/kv_cache_utils.py:
# 707-737 (hash_block_tokens), :108 (DEFAULT_NONE_HASH_SEED), :146-158 (init_none_hash),
# :590-675 (extra keys), :82-85 (published int form).
VLLM_DEFAULT_NONE_HASH_SEED = "vllm-none-hash"
_PICKLE_PROTOCOL = 5  # pickle.HIGHEST_PROTOCOL on every CPython vLLM 0.33 supports


def _cbor_head(major: int, value: int, out: bytearray) -> None:
    if value < 24:
        out.append(major << 5 | value)
    elif value < 1 << 8:
        out += bytes((major << 5 | 24, value))
    elif value < 1 << 16:
        out.append(major << 5 | 25)
        out += value.to_bytes(2, "big")
    elif value < 1 << 32:
        out.append(major << 5 | 26)
        out += value.to_bytes(4, "big")
    elif value < _U64:
        out.append(major << 5 | 27)
        out += value.to_bytes(8, "big")
    else:
        raise UnsupportedHash("an integer beyond 64 bits needs a CBOR bignum")


def cbor_canonical(obj: object, out: bytearray | None = None) -> bytes:
    """Canonical CBOR (RFC 8949 4.2.1) of the few types vLLM's hash input contains.

    Equals `cbor2.dumps(obj, canonical=True)` for None, bool, int within 64 bits, bytes,
    str and tuples/lists of those (checked against cbor2 in the tests).
    """
    buf = bytearray() if out is None else out
    if obj is None:
        buf.append(0xF6)
    elif obj is True:
        buf.append(0xF5)
    elif obj is False:
        buf.append(0xF4)
    elif isinstance(obj, int):
        if obj >= 0:
            _cbor_head(0, obj, buf)
        else:
            _cbor_head(1, -1 - obj, buf)
    elif isinstance(obj, bytes):
        _cbor_head(2, len(obj), buf)
        buf += obj
    elif isinstance(obj, str):
        raw = obj.encode("utf-8")
        _cbor_head(3, len(raw), buf)
        buf += raw
    elif isinstance(obj, tuple | list):
        _cbor_head(4, len(obj), buf)
        for item in obj:
            cbor_canonical(item, buf)
    else:
        raise UnsupportedHash(f"no canonical CBOR for {type(obj).__name__}")
    return bytes(buf)


def _vllm_hash_fn(algorithm: str) -> Callable[[object], bytes]:
    if algorithm == "sha256":
        return lambda obj: hashlib.sha256(pickle.dumps(obj, protocol=_PICKLE_PROTOCOL)).digest()
    if algorithm == "sha256_cbor":
        return lambda obj: hashlib.sha256(cbor_canonical(obj)).digest()
    if algorithm in ("xxhash", "xxhash_cbor"):
        raise UnsupportedHash(
            f"vLLM's {algorithm} needs the xxhash package and, unless PYTHONHASHSEED is set, "
            "a per-process random seed"
        )
    raise UnsupportedHash(f"vLLM has no prefix-caching hash algorithm {algorithm!r}")


def vllm_block_hashes(
    token_ids: Sequence[int],
    block_size: int,
    *,
    algorithm: str = "sha256",
    cache_salt: str | None = None,
    lora: tuple[str, str] | None = None,
    none_hash_seed: str | None = None,
) -> list[bytes]:
    """vLLM's full-block hash chain for one request's tokens (the raw digests).

    Each block hashes `(parent digest or NONE_HASH, tuple(block tokens), extra keys)`;
    extra keys are `(("lora", name, path),)` on every block when a LoRA is used, plus
    `("cache_salt", salt)` on block 0.  `NONE_HASH = hash_fn(seed)`, the seed being
    "vllm-none-hash" unless the server set PYTHONHASHSEED (`none_hash_seed`).
    """
    fn = _vllm_hash_fn(algorithm)
    parent = fn(VLLM_DEFAULT_NONE_HASH_SEED if none_hash_seed is None else none_hash_seed)
    digests: list[bytes] = []
    for start in range(0, len(token_ids) - block_size + 1, block_size):
        keys: list[tuple[str, ...]] = []
        if lora is not None:
            keys.append(("lora", lora[0], lora[1]))
        if start == 0 and cache_salt:
            keys.append(("cache_salt", cache_salt))
        extra = tuple(keys) if keys else None
        parent = fn((parent, tuple(token_ids[start : start + block_size]), extra))
        digests.append(parent)
    return digests


def vllm_int_hash(digest: bytes) -> int:
    """The form vLLM publishes by default (`maybe_convert_block_hash`): low 64 bits."""
    return int.from_bytes(digest, "big") & (_U64 - 1)


# SGLang -------------------------------------------------------------------------------
# sglang@v0.5.23: python/sglang/srt/mem_cache/cpp_utils/hash_binding.cpp:62-81 (page
# hash = sha256(prior digest || tokens as u32 LE), :71-75 and :98-115 (0xff tag and u64
# LE once a token exceeds u32), mem_cache/utils.py:155-163 (hash_str_to_int64), :178-214
# (salted event chain), disaggregation/kv_events.py:309-340 (dynamo-format namespacing).
_SGLANG_SALT_TAG = b"sglang-cache-salt-v1\0"
_SGLANG_NAMESPACE_TAG = b"sglang-kv-event-namespace-v1"


def _sglang_page_digest(prior: bytes | None, tokens: Sequence[int]) -> bytes:
    digest = hashlib.sha256()
    if prior is not None:
        digest.update(prior)
    if any(token > 0xFFFFFFFF for token in tokens):
        if any(token > (1 << 63) - 1 for token in tokens):
            raise UnsupportedHash("SGLang rejects token ids beyond int64")
        digest.update(b"\xff")
        digest.update(b"".join(token.to_bytes(8, "little") for token in tokens))
    else:
        digest.update(b"".join(token.to_bytes(4, "little") for token in tokens))
    return digest.digest()


def _sglang_namespace_seed(cache_salt: str | None) -> bytes | None:
    if cache_salt is None:
        return None
    digest = hashlib.sha256(_SGLANG_NAMESPACE_TAG)
    digest.update(b"\x00")  # extra_key absent
    raw = cache_salt.encode("utf-8")
    digest.update(b"\x01" + len(raw).to_bytes(8, "little") + raw)
    return digest.digest()


def sglang_block_hashes(
    token_ids: Sequence[int],
    block_size: int,
    *,
    cache_salt: str | None = None,
    event_format: str = "default",
) -> list[int]:
    """SGLang's published BlockStored hashes (signed int64) for one radix path from the root.

    Covers requests without a LoRA extra_key; `cache_salt` seeds the chain as SGLang's
    event chain does, and the "dynamo" event format namespaces each hash by the salt.
    """
    if event_format not in ("default", "dynamo"):
        raise UnsupportedHash(f"SGLang has no KV event format {event_format!r}")
    if any(token < 0 for token in token_ids):
        raise UnsupportedHash("SGLang hashes non-negative token ids only")
    prior = hashlib.sha256(_SGLANG_SALT_TAG + cache_salt.encode("utf-8")).digest() if (
        cache_salt is not None
    ) else None
    seed = _sglang_namespace_seed(cache_salt) if event_format == "dynamo" else None
    out: list[int] = []
    for start in range(0, len(token_ids) - block_size + 1, block_size):
        prior = _sglang_page_digest(prior, token_ids[start : start + block_size])
        value = int.from_bytes(prior[:8], "big", signed=True)
        if seed is not None:
            value = int.from_bytes(
                hashlib.sha256(seed + value.to_bytes(8, "big", signed=True)).digest()[:8],
                "big",
                signed=True,
            )
        out.append(value)
    return out


# ---------------------------------------------------------------------- input helpers


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(path: str, line: int, text: str, hint: str | None = None) -> Any:
    """JSON of one native line, or a `TraceInputError` that points at it."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise TraceInputError(path, line, f"not valid JSON: {exc.msg} (column {exc.colno})",
                              hint) from None
    except (ValueError, RecursionError) as exc:
        raise TraceInputError(path, line, f"not valid JSON: {exc}", hint) from None


_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "str": (str,),
    "list": (list,),
    "object": (dict,),
    "bool": (bool,),
    "number": (int, float),
}


@dataclass(frozen=True)
class Where:
    """Where a native value sits, so a bad one is reported at its line and place."""

    path: str
    line: int
    what: str
    hint: str | None = None

    def error(self, message: str, hint: str | None = None) -> TraceInputError:
        return TraceInputError(self.path, self.line, f"{self.what}: {message}", hint or self.hint)

    def at(self, what: str) -> Where:
        return Where(self.path, self.line, f"{self.what}: {what}", self.hint)

    def check(self, value: Any, kind: str, name: str) -> Any:
        ok = isinstance(value, _KINDS[kind]) and not (kind in ("int", "number")
                                                      and isinstance(value, bool))
        if not ok:
            raise self.error(f"field {name!r} must be {_article(kind)}, not {_json_type(value)}")
        return value

    def req(self, obj: Mapping[str, Any], name: str, kind: str) -> Any:
        if name not in obj:
            raise self.error(f"missing required field {name!r}")
        return self.check(obj[name], kind, name)

    def opt(self, obj: Mapping[str, Any], name: str, kind: str, default: Any = None) -> Any:
        value = obj.get(name)
        return default if value is None else self.check(value, kind, name)

    def req_hash(self, obj: Mapping[str, Any], name: str) -> str:
        if name not in obj:
            raise self.error(f"missing required field {name!r}")
        return self.hash_value(obj[name], name)

    def hash_value(self, value: Any, name: str) -> str:
        try:
            return canonical_hash(value)
        except ValueError as exc:
            raise self.error(f"field {name!r}: {exc}") from None

    def ints(self, values: list[Any], name: str) -> tuple[int, ...]:
        for value in values:
            if not isinstance(value, int) or isinstance(value, bool):
                raise self.error(f"field {name!r} must hold integers, not {_json_type(value)}")
        return tuple(values)


def _article(kind: str) -> str:
    return {"int": "an integer", "object": "an object", "list": "an array"}.get(kind, f"a {kind}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def nonblank(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """JSON Lines convention: blank lines carry nothing and are passed over."""
    for line, text in lines:
        if text.strip():
            yield line, text


# -------------------------------------------------------------------------- the engine

ANY_SCOPE: Hashable = object()
# A placement of a block at one (medium, slice, sub): slice is a parallel shard the block
# needs all of (LMCache kv_rank), sub a further copy (LMCache backend + object group).
_Key = tuple[str, Hashable, Hashable]


@dataclass
class _Cell:
    """Where one claim position is held in one scope (DP rank, instance)."""

    counts: dict[_Key, int] = field(default_factory=dict)
    need: int = 1


@dataclass
class _Claim:
    spec: ClaimSpec
    n: int
    hashes: list[str | None]
    how: list[str | None]
    blocks: list[tuple[int, ...]]
    namespace: dict[str, str]
    fields: dict[str, Any]
    cells: dict[tuple[int, Hashable], _Cell] = field(default_factory=dict)
    resident_in: dict[Hashable, int] = field(default_factory=dict)
    predicate: bool = False
    materialized: bool = False
    harmed: bool = False


ChainHashes = Callable[[ClaimSpec, Mapping[str, str]], list[tuple[str, ...]]]
Accept = Callable[[Mapping[str, str], int], bool]


class Session:
    """One pass of one adapter over one native stream (see the module docstring)."""

    def __init__(
        self,
        adapter: str,
        path: str,
        claims: tuple[ClaimSpec, ...],
        *,
        chain_hashes: ChainHashes | None,
        learn: bool,
        resident_media: frozenset[str],
        refcount: bool,
        default_medium: str | None,
        spellings: Callable[[str], tuple[str, ...]] | None = None,
    ) -> None:
        self.adapter, self.path = adapter, path
        self.resident_media, self.refcount = resident_media, refcount
        self.default_medium = default_medium
        self.learn = learn
        self._spellings = spellings or (lambda name: (name,))
        self._sequence = 0
        self._cursors: dict[Hashable, int] = {}
        self.claims: list[_Claim] = []
        self._index: dict[str, list[tuple[_Claim, int]]] = {}
        self._roots: dict[tuple[int, ...], list[_Claim]] = {}
        seen: set[str] = set()
        for spec in claims:
            claim = self._prepare(spec, chain_hashes)
            if spec.claim_id in seen:
                raise self._claim_error(spec, "is declared twice")
            seen.add(spec.claim_id)
            self.claims.append(claim)

    # -- claims --------------------------------------------------------------------

    def _claim_error(self, spec: ClaimSpec, message: str,
                     hint: str | None = None) -> TraceInputError:
        return TraceInputError(self.path, 0, f"claim {spec.claim_id!r} {message}", hint)

    def _prepare(self, spec: ClaimSpec, chain_hashes: ChainHashes | None) -> _Claim:
        if not spec.claim_id:
            raise TraceInputError(self.path, 0, "a claim has an empty claim_id")
        if spec.required_blocks < 1 or spec.block_size < 1:
            raise self._claim_error(spec, "needs required_blocks and block_size of at least 1")
        try:
            namespace = parse_extra_keys(spec.extra_keys)
            explicit = [canonical_hash(value) for value in spec.block_hashes]
        except ValueError as exc:
            raise self._claim_error(spec, str(exc)) from None
        n, size = spec.required_blocks, spec.block_size
        blocks = [tuple(spec.token_ids[i : i + size])
                  for i in range(0, len(spec.token_ids) - size + 1, size)]
        spellings: list[tuple[str, ...]] = []
        how: str | None = None
        reason = "it declares no block_hashes"
        if explicit:
            if len(explicit) < n:
                raise self._claim_error(
                    spec, f"declares {len(explicit)} block_hashes but requires {n} blocks",
                    "give one hash per required position 0..n-1, or none and token_ids")
            spellings, how = [self._spellings(value) for value in explicit], EXPLICIT
        elif len(blocks) < n:
            raise self._claim_error(
                spec, f"has neither {n} block_hashes nor {n * size} token_ids "
                f"({n} full blocks of {size})")
        elif chain_hashes is not None:
            try:
                spellings, how = chain_hashes(spec, namespace), HASH_CHAIN
            except UnsupportedHash as exc:
                reason = f"its hashes cannot be recomputed ({exc})"
        if how is None and not self.learn:
            raise self._claim_error(
                spec, f"cannot be joined by the {self.adapter} adapter: {reason}",
                "declare the claim's block_hashes as the runtime prints them")
        positions = max(len(spellings), len(blocks))
        claim = _Claim(
            spec=spec, n=n, hashes=[None] * positions, how=[None] * positions, blocks=blocks,
            namespace=namespace, fields=self._claim_fields(spec))
        for position, names in enumerate(spellings):
            claim.hashes[position], claim.how[position] = names[0], how
            for name in names:
                self._index.setdefault(name, []).append((claim, position))
        if claim.hashes and claim.hashes[0] is None and blocks:
            self._roots.setdefault(blocks[0], []).append(claim)
        return claim

    @staticmethod
    def _claim_fields(spec: ClaimSpec) -> dict[str, Any]:
        fields: dict[str, Any] = {"claim_id": spec.claim_id}
        for name in IDENTITY_FIELDS:
            if name in spec.identity:
                fields[name] = spec.identity[name]
        fields["materialization_predicate"] = predicate_text(spec.required_blocks)
        return fields

    # -- records -------------------------------------------------------------------

    def emit(self, line: int, record: Record) -> tuple[int, Record]:
        """Stamp the dense `event_sequence` in the order records are yielded."""
        stamped: Record = {"event": record["event"], "event_sequence": self._sequence}
        stamped.update(record)
        self._sequence += 1
        return line, stamped

    def accepted(self) -> Iterator[tuple[int, Record]]:
        """The adapter is where acceptance happens: one record per declared claim."""
        for claim in self.claims:
            yield self.emit(0, {
                "event": CLAIM_ACCEPTED,
                "claim_registration": "adapter",
                "resident_blocks_required": claim.n,
                "runtime_adapter": self.adapter,
                **claim.fields,
            })

    def sequence(self, line: int, stream: Hashable, label: str, value: int,
                 first: int) -> Iterator[tuple[int, Record]]:
        """Check a native sequence number: a gap is a record, a regression an error."""
        last = self._cursors.get(stream)
        expected = first if last is None else last + 1
        if last is not None and value <= last:
            raise TraceInputError(
                self.path, line,
                f"native sequence goes backwards on {label}: {value} after {last}",
                "keep one publisher's stream in its own order; replayed or merged dumps "
                "must not repeat sequence numbers")
        self._cursors[stream] = value
        if value > expected:
            yield self.emit(line, {
                "event": SEQUENCE_GAP, "missing_from": expected, "missing_to": value - 1,
                "native_stream": label, "runtime_adapter": self.adapter})

    def reset_stream(self, stream: Hashable) -> None:
        self._cursors.pop(stream, None)

    def _block_record(self, event: str, base: Mapping[str, Any], block_hash: str | None,
                      medium: str | None, claim: _Claim | None, position: int | None,
                      parent: str | None = None, stored: bool = False) -> Record:
        record: Record = {"event": event, "native_sequence": base.get("native_sequence"),
                          "claim_id": None, "logical_block_position": position,
                          "block_hash": block_hash}
        if stored:
            record["parent_block_hash"] = parent
        record["medium"] = medium
        record["joined_by"] = None if claim is None or position is None else claim.how[position]
        record.update((k, v) for k, v in base.items() if k != "native_sequence")
        if claim is not None:
            record.update(claim.fields)
        return record

    # -- joining -------------------------------------------------------------------

    def _known(self, block_hash: str, accept: Accept | None) -> list[tuple[_Claim, int]]:
        return [(c, p) for c, p in self._index.get(block_hash, ())
                if accept is None or accept(c.namespace, p)]

    def _learn(self, block_hash: str, parent: str | None, tokens: tuple[int, ...] | None,
               accept: Accept | None) -> list[tuple[_Claim, int]]:
        if not self.learn or tokens is None:
            return []
        if parent is None:
            candidates = [(c, 0) for c in self._roots.get(tokens, ())]
        else:
            candidates = [(c, p + 1) for c, p in self._index.get(parent, ())]
        learned = []
        for claim, position in candidates:
            if (position < len(claim.hashes) and claim.hashes[position] is None
                    and claim.blocks[position] == tokens
                    and (accept is None or accept(claim.namespace, position))):
                claim.hashes[position], claim.how[position] = block_hash, HASH_CHAIN
                self._index.setdefault(block_hash, []).append((claim, position))
                if position == 0:
                    self._roots[tokens].remove(claim)
                learned.append((claim, position))
        return learned

    # -- residency -----------------------------------------------------------------

    def _resident(self, cell: _Cell) -> bool:
        for medium in self.resident_media:
            slices = {key[1] for key, count in cell.counts.items() if key[0] == medium and count}
            if len(slices) >= cell.need:
                return True
        return False

    def _flip(self, claim: _Claim, position: int, scope: Hashable, before: bool,
              after: bool, lost: list[int]) -> None:
        if position < claim.n and before != after:
            claim.resident_in[scope] = claim.resident_in.get(scope, 0) + (1 if after else -1)
            if before:
                lost.append(position)

    def _best(self, claim: _Claim) -> tuple[int, int]:
        """(most required positions resident, longest resident leading run) over scopes."""
        best_count = max(claim.resident_in.values(), default=0)
        best_lead = 0
        for scope in claim.resident_in:
            lead = 0
            while lead < claim.n:
                cell = claim.cells.get((lead, scope))
                if cell is None or not self._resident(cell):
                    break
                lead += 1
            best_lead = max(best_lead, lead)
        return best_count, best_lead

    def _outcomes(self, line: int, base: Mapping[str, Any], claim: _Claim, lost: list[int],
                  cause: str, position: int | None) -> Iterator[tuple[int, Record]]:
        """The claim events this change justifies (materialized / harmed / lost)."""
        was = claim.predicate
        claim.predicate = now = any(v == claim.n for v in claim.resident_in.values())
        lost = sorted(set(lost))
        common = {"native_sequence": base.get("native_sequence"), **claim.fields,
                  "resident_blocks_required": claim.n, "cause_event": cause,
                  "runtime_adapter": self.adapter}
        if now and not claim.materialized:
            claim.materialized = True
            count, lead = self._best(claim)
            yield self.emit(line, {
                "event": CLAIM_MATERIALIZED, **common, "predicate_materialized": True,
                "resident_blocks_materialized": count, "leading_blocks_survived": lead,
                "resident_media": sorted(self.resident_media),
                "logical_block_position": position,
                "block_hash": None if position is None else claim.hashes[position]})
        elif claim.materialized and was and not now and not claim.harmed:
            claim.harmed = True
            count, lead = self._best(claim)
            first = min(lost)
            yield self.emit(line, {
                "event": CLAIM_HARMED, **common, "predicate_before": True,
                "predicate_after": False, "resident_blocks_materialized": count,
                "leading_blocks_survived": lead, "logical_block_position": first,
                "block_hash": claim.hashes[first], "lost_block_positions": lost})
        elif claim.harmed:
            for lost_position in lost:
                yield self.emit(line, {
                    "event": CLAIM_LOST_AFTER_RELEASE, **common,
                    "logical_block_position": lost_position,
                    "block_hash": claim.hashes[lost_position]})

    def stored(self, line: int, base: Mapping[str, Any], block_hash: str, parent: str | None,
               tokens: tuple[int, ...] | None, *, scope: Hashable, medium: str | None,
               accept: Accept | None = None, learn_accept: Accept | None = None,
               slice_: Hashable = None, sub: Hashable = None,
               need: int = 1) -> Iterator[tuple[int, Record]]:
        """A block placed on `medium` in `scope`: its record(s), then what it justifies."""
        matches = self._known(block_hash, accept)
        matches += self._learn(block_hash, parent, tokens, learn_accept or accept)
        held = medium if medium is not None else self.default_medium
        if not matches:
            yield self.emit(line, self._block_record(
                KV_BLOCK_STORED, base, block_hash, medium, None, None, parent, True))
            return
        for claim, position in matches:
            yield self.emit(line, self._block_record(
                KV_BLOCK_STORED, base, block_hash, medium, claim, position, parent, True))
            if held is None:
                continue
            cell = claim.cells.setdefault((position, scope), _Cell())
            before = self._resident(cell)
            key = (held, slice_, sub)
            cell.counts[key] = cell.counts.get(key, 0) + 1 if self.refcount else 1
            cell.need = max(cell.need, need)
            lost: list[int] = []
            self._flip(claim, position, scope, before, self._resident(cell), lost)
            yield from self._outcomes(line, base, claim, lost, KV_BLOCK_STORED, position)

    def removed(self, line: int, base: Mapping[str, Any], block_hash: str, *,
                scope: Hashable, medium: str | None, any_medium: bool = False,
                accept: Accept | None = None, slice_: Hashable = None,
                sub: Hashable = None) -> Iterator[tuple[int, Record]]:
        """A block gone from `medium` (or, with `any_medium`, from wherever it was held)."""
        matches = self._known(block_hash, accept)
        if not matches:
            yield self.emit(line, self._block_record(
                KV_BLOCK_REMOVED, base, block_hash, medium, None, None))
            return
        held = medium if medium is not None else self.default_medium
        for claim, position in matches:
            cell = claim.cells.get((position, scope))
            shown = medium
            lost: list[int] = []
            if cell is not None:
                before = self._resident(cell)
                if any_medium:
                    keys = list(cell.counts)
                    media = {key[0] for key in keys}
                    shown = media.pop() if len(media) == 1 and medium is None else medium
                else:
                    keys = [(held, slice_, sub)] if held is not None else []
                for key in keys:
                    count = cell.counts.get(key, 0)
                    if count > 1 and self.refcount:
                        cell.counts[key] = count - 1
                    else:
                        cell.counts.pop(key, None)
                self._flip(claim, position, scope, before, self._resident(cell), lost)
            yield self.emit(line, self._block_record(
                KV_BLOCK_REMOVED, base, block_hash, shown, claim, position))
            yield from self._outcomes(line, base, claim, lost, KV_BLOCK_REMOVED, position)

    def cleared(self, line: int, base: Mapping[str, Any], *, scope: Hashable = ANY_SCOPE,
                media: frozenset[str] | None = None,
                medium: str | None = None) -> Iterator[tuple[int, Record]]:
        """Every block of `scope` (all scopes by default) gone from `media` (all)."""
        record: Record = {"event": KV_ALL_BLOCKS_CLEARED,
                          "native_sequence": base.get("native_sequence"), "claim_id": None,
                          "logical_block_position": None, "block_hash": None,
                          "medium": medium, "joined_by": None}
        record.update((k, v) for k, v in base.items() if k != "native_sequence")
        yield self.emit(line, record)
        for claim in self.claims:
            lost: list[int] = []
            for (position, cell_scope), cell in claim.cells.items():
                if scope is not ANY_SCOPE and cell_scope != scope:
                    continue
                before = self._resident(cell)
                for key in [k for k in cell.counts if media is None or k[0] in media]:
                    del cell.counts[key]
                self._flip(claim, position, cell_scope, before, self._resident(cell), lost)
            if lost:
                yield from self._outcomes(line, base, claim, lost, KV_ALL_BLOCKS_CLEARED, None)
