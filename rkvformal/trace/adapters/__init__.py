"""Native KV event stream adapters: a runtime's block events -> canonical claim events.

`ADAPTERS` maps an adapter name to a ready instance (construct your own, e.g.
`VllmKVAdapter(path="events.jsonl")`, to name the input in errors or change a default);
`load_claims` reads the claims file that says which claims the adapter accepts and how
to recognise their blocks.  Formats and verified runtime sources: docs/ADAPTERS.md.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from rkvformal.trace.adapters.join import (
    IDENTITY_FIELDS,
    canonical_hash,
    parse_extra_keys,
    predicate_text,
)
from rkvformal.trace.adapters.lmcache import LMCacheAdapter
from rkvformal.trace.adapters.trtllm import TrtllmKVAdapter
from rkvformal.trace.adapters.vllm import SGLangKVAdapter, VllmKVAdapter
from rkvformal.trace.schema import Adapter, ClaimSpec, TraceInputError

__all__ = [
    "ADAPTERS",
    "MAX_CLAIMS_BYTES",
    "LMCacheAdapter",
    "SGLangKVAdapter",
    "TrtllmKVAdapter",
    "VllmKVAdapter",
    "load_claims",
]

ADAPTERS: dict[str, Adapter] = {
    adapter.name: adapter
    for adapter in (VllmKVAdapter(), SGLangKVAdapter(), TrtllmKVAdapter(), LMCacheAdapter())
}

# A claims file is a small declaration; anything bigger is a mistake, not a workload.
MAX_CLAIMS_BYTES = 16 * 1024 * 1024

_CLAIM_KEYS = ("claim_id", "required_blocks", "block_size", "token_ids", "block_hashes",
               "extra_keys", "hash_algorithm", "identity")
_TOP_KEYS = ("schema_version", "claims")
_HINT = 'a claims file is {"claims": [{"claim_id": ..., "required_blocks": n, ...}]}'
_WS = re.compile(r"[ \t\n\r]*")
# (the decoder's own string scanner: it exists at run time, but typeshed does not list it)
_SCANSTRING = json.decoder.scanstring  # type: ignore[attr-defined]


def _past_space(text: str, i: int) -> int:
    """Where JSON whitespace starting at `i` ends."""
    match = _WS.match(text, i)
    assert match is not None  # (the pattern matches the empty string anywhere)
    return match.end()


def load_claims(path: str | os.PathLike[str]) -> tuple[ClaimSpec, ...]:
    """Read and check a JSON claims file (docs/ADAPTERS.md); never executes anything."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read(MAX_CLAIMS_BYTES + 1)
    except OSError as exc:
        raise TraceInputError(name, 0, f"cannot read the claims file: {exc.strerror}") from None
    if len(raw) > MAX_CLAIMS_BYTES:
        raise TraceInputError(name, 0, f"the claims file is larger than {MAX_CLAIMS_BYTES} bytes",
                              "declare the claims only; block events belong in the trace")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TraceInputError(name, line, "the claims file is not UTF-8") from None
    try:
        doc = json.loads(text, object_pairs_hook=_unique_keys,
                         parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise TraceInputError(name, exc.lineno, f"not valid JSON: {exc.msg}", _HINT) from None
    except (ValueError, RecursionError) as exc:
        raise TraceInputError(name, 1, f"not valid JSON: {exc}", _HINT) from None
    if not isinstance(doc, dict):
        raise TraceInputError(name, 1, "the claims file must hold a JSON object", _HINT)
    _known_keys(name, 1, doc, _TOP_KEYS, "the claims file")
    if doc.get("schema_version", 1) != 1:
        raise TraceInputError(name, 1, "unsupported schema_version (this reader knows 1)")
    claims = doc.get("claims")
    if not isinstance(claims, list):
        raise TraceInputError(name, 1, "field 'claims' must be an array of claims", _HINT)
    lines = _claim_lines(text)
    specs: list[ClaimSpec] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(claims):
        line = lines[index] if index < len(lines) else 1
        spec = _claim(name, line, index, item)
        if spec.claim_id in seen:
            raise TraceInputError(name, line, f"claim {spec.claim_id!r} is declared twice "
                                  f"(first at line {seen[spec.claim_id]})")
        seen[spec.claim_id] = line
        specs.append(spec)
    return tuple(specs)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constant(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON")


def _claim_lines(text: str) -> list[int]:
    """The 1-based line on which each element of the top-level "claims" array starts.

    Runs on text `json.loads` already accepted, so it only has to step over values.
    """
    decoder = json.JSONDecoder()
    lines: list[int] = []
    i = _past_space(text, 0)
    if text[i : i + 1] != "{":
        return lines
    i += 1
    while True:
        i = _past_space(text, i)
        if text[i] == ",":
            i += 1
            continue
        if text[i] == "}":
            return lines
        key, i = _SCANSTRING(text, i + 1)
        i = _past_space(text, _past_space(text, i) + 1)  # past ':'
        if key == "claims" and text[i] == "[":
            i += 1
            counted, line = 0, 1
            while True:
                i = _past_space(text, i)
                if text[i] == ",":
                    i += 1
                    continue
                if text[i] == "]":
                    return lines
                line += text.count("\n", counted, i)
                counted = i
                lines.append(line)
                _, i = decoder.raw_decode(text, i)
        _, i = decoder.raw_decode(text, i)


def _known_keys(path: str, line: int, obj: Mapping[str, Any], known: tuple[str, ...],
                what: str) -> None:
    for key in obj:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            raise TraceInputError(
                path, line, f"{what}: unknown field {key!r}",
                f"did you mean {close[0]!r}?" if close else "known fields: " + ", ".join(known))


def _claim(path: str, line: int, index: int, item: Any) -> ClaimSpec:
    what = f"claims[{index}]"

    def fail(message: str, hint: str | None = None) -> TraceInputError:
        return TraceInputError(path, line, f"{what}: {message}", hint)

    if not isinstance(item, dict):
        raise fail("a claim must be a JSON object", _HINT)
    _known_keys(path, line, item, _CLAIM_KEYS, what)
    claim_id = item.get("claim_id")
    if not isinstance(claim_id, str) or not claim_id:
        raise fail("field 'claim_id' must be a non-empty string")
    what = f"claim {claim_id!r}"
    required = _positive(item, "required_blocks", None, fail)
    block_size = _positive(item, "block_size", 16, fail)
    tokens = item.get("token_ids", [])
    if not isinstance(tokens, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens):
        raise fail("field 'token_ids' must be an array of non-negative integers")
    hashes_in = item.get("block_hashes", [])
    if not isinstance(hashes_in, list):
        raise fail("field 'block_hashes' must be an array of strings or integers")
    try:
        hashes = tuple(canonical_hash(value) for value in hashes_in)
    except ValueError as exc:
        raise fail(f"field 'block_hashes': {exc}") from None
    if len(set(hashes)) != len(hashes):
        raise fail("field 'block_hashes' repeats a hash", "position i has its own hash")
    if hashes and len(hashes) < required:
        raise fail(f"declares {len(hashes)} block_hashes but requires {required} blocks")
    if not hashes and len(tokens) < required * block_size:
        raise fail(f"needs {required} block_hashes or at least {required * block_size} "
                   f"token_ids ({required} full blocks of {block_size})")
    extra = item.get("extra_keys", [])
    if isinstance(extra, dict):
        if not all(isinstance(value, str) for value in extra.values()):
            raise fail("field 'extra_keys' values must be strings")
        extra = [f"{key}={value}" for key, value in extra.items()]
    if not isinstance(extra, list) or not all(isinstance(e, str) for e in extra):
        raise fail("field 'extra_keys' must be an object of strings or an array of "
                   "\"name=value\" strings")
    try:
        parse_extra_keys(extra)
    except ValueError as exc:
        raise fail(str(exc)) from None
    algorithm = item.get("hash_algorithm", "sha256")
    if not isinstance(algorithm, str) or not algorithm:
        raise fail("field 'hash_algorithm' must be a non-empty string")
    identity = item.get("identity", {})
    if not isinstance(identity, dict):
        raise fail("field 'identity' must be an object of strings")
    _known_keys(path, line, identity, IDENTITY_FIELDS, f"{what} identity")
    for key, value in identity.items():
        if not isinstance(value, str) or not value:
            raise fail(f"identity field {key!r} must be a non-empty string")
    declared = identity.get("materialization_predicate", predicate_text(required))
    if declared != predicate_text(required):
        raise fail(f"identity says {declared!r} but required_blocks means "
                   f"{predicate_text(required)!r}",
                   "block events can judge leading_prefix_at_least(required_blocks) only")
    return ClaimSpec(
        claim_id=claim_id, required_blocks=required, token_ids=tuple(tokens),
        block_size=block_size, block_hashes=hashes, extra_keys=tuple(extra),
        hash_algorithm=algorithm, identity=dict(identity))


def _positive(item: Mapping[str, Any], key: str, default: int | None, fail: Any) -> int:
    value = item.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise fail(f"field {key!r} must be a positive integer")
    return value
