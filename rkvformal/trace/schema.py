"""The canonical record every trace source is turned into (docs/TRACES.md).

A record is a plain `dict` (fast to build from JSON) in the claim-event schema of
DESIGN §1: `event` plus flattened fields.  Sources differ only in how they produce it:

* `reader.read_jsonl` reads the claim-event JSONL of the papers' artifact as is;
* an adapter (`adapters/`) reads a runtime's native KV event stream and yields the
  same records, joined to declared claims (`ClaimSpec`).

Both yield `(line, record)` pairs: `line` is the 1-based line of the input the record
came from (records an adapter synthesises carry the line of the native event that
caused them), so every report can point back at the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

Record = dict[str, Any]

# Canonical names of native block events once an adapter has read them.  `claim_id` is
# the joined claim (or None when the block belongs to no declared claim);
# `logical_block_position` is the block's position inside that claim's object.
KV_BLOCK_STORED = "kv_block_stored"
KV_BLOCK_REMOVED = "kv_block_removed"
KV_ALL_BLOCKS_CLEARED = "kv_all_blocks_cleared"
# An adapter that sees the native stream skip sequence numbers says so with this
# record (fields `missing_from`, `missing_to`, both inclusive): the gate then reports
# the atoms it can no longer judge as unknown, never as passing.
SEQUENCE_GAP = "sequence_gap"


@dataclass(frozen=True)
class ClaimSpec:
    """A claim declared to an adapter: what it is and how to recognise its blocks.

    Blocks are recognised either by `block_hashes` given explicitly (position i is
    the i-th hash, as the runtime prints it) or by recomputing the runtime's hash
    chain from `token_ids`, `block_size`, the `extra_keys` (cache salt, LoRA name,
    multimodal hashes) and the runtime's hash algorithm.
    """

    claim_id: str
    required_blocks: int  # leading_prefix_at_least(n): positions 0..n-1
    token_ids: tuple[int, ...] = ()
    block_size: int = 16
    block_hashes: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()
    hash_algorithm: str = "sha256"
    identity: Mapping[str, str] = field(default_factory=dict)  # predicate_id, prefix_id, ...


class Adapter(Protocol):
    """Native stream -> canonical records.  Malformed input raises `TraceInputError`.
    Adapters are frozen dataclasses with a `path` field (the input's name in errors):
    `dataclasses.replace(adapter, path=...)` names the input being read."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def name(self) -> str: ...  # (read-only: the adapters are frozen dataclasses)

    @property
    def path(self) -> str: ...

    def records(self, lines: Iterable[tuple[int, str]],
                claims: tuple[ClaimSpec, ...]) -> Iterator[tuple[int, Record]]: ...


class TraceInputError(Exception):
    """A record that cannot be read: where it is, what was wrong, and a hint."""

    def __init__(self, path: str, line: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.path, self.line, self.message, self.hint = path, line, message, hint

    def render(self) -> str:
        text = f"{self.path}:{self.line}: error: {self.message}"
        return text + (f"\n  hint: {self.hint}" if self.hint else "")
