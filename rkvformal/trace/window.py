"""A one-step window onto a recorded trace, read by the atoms' own definitions.

The atoms (`smt.obligations`) are written against `View` and look at most one step
ahead (state t+1) and back through history (`seen`/`ever`).  So a recorded trace can
be judged in one streaming pass: at each step, a `WindowView` holds the state before
and after the step, the step's move and events, and the history flags before it;
`ever` answers "before this step, or now".  This is the same history-as-state reading
the prover uses for k-induction (`SymbolicView.ever`), made concrete.

Slot 0 is the claim being judged.  Slot 1 is either nobody (an absent claim) or, for
atoms that compare two claims (priority_order), the claim it is compared with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rkvformal.smt.trace import CONSTANTS, EVENTS, STATE, ConcreteLogic, Key

# Values of a claim slot that holds nobody, and of events nobody emitted.
ABSENT_STATE: dict[str, int | bool] = {
    name: (False if kind == "bool" else 0) for name, (kind, _pc) in STATE.items()
}
NO_EVENTS: dict[str, int | bool] = {
    name: (False if kind == "bool" else 0) for name, (kind, _pc) in EVENTS.items()
}
NO_EVENTS["rf_for"] = -1  # an outcome claim id that names no slot
NO_CONSTANTS: dict[str, int] = {name: 0 for name in CONSTANTS}


class WindowView(ConcreteLogic):
    """Concrete values for one step (t = 0 -> 1) plus the history before it.

    `claims[c]` (kept as `slots`) = (constants, state before, state after, events) of
    slot c; `shared` is the global state before and after; `step` holds the global
    choices and events (mv, mc, need, refused, ..., and per-claim choices as pairs);
    `history[(tag, c)]` says whether the tagged fact held at some earlier step;
    `fired` collects every tag the atoms asked about, with its value now, so the
    caller can carry the history forward."""

    K = 1

    def __init__(self, claims: tuple[tuple[Mapping[str, Any], Mapping[str, Any],
                                          Mapping[str, Any], Mapping[str, Any]], ...],
                 shared: tuple[Mapping[str, Any], Mapping[str, Any]],
                 step: Mapping[str, Any], history: Mapping[tuple[str, int], bool]) -> None:
        self.slots = claims  # (View.claims is the slot ids: (0, 1))
        self.shared = shared  # global state before and after the step
        self.step = step
        self.history = history
        self.fired: dict[tuple[str, int], bool] = {}

    def value(self, key: Key) -> Any:
        name, t, c = key.name, key.t, key.c
        if c is None:
            if name in STATE:
                return self.shared[0 if t == 0 else 1][name]
            if name in CONSTANTS:
                return self.slots[0][0][name]
            return self.step[name]
        consts, before, after, events = self.slots[c]
        if t is None:
            return consts[name]
        if name in STATE:
            return before[name] if t == 0 else after[name]
        if name in EVENTS:
            return events[name]
        return self.step[name][c]  # per-claim choices: ev_in, ev_out

    def ever(self, tag: str, c: int | None, t: int, f: Callable[[int], Any]) -> Any:
        before = self.history.get((tag, c if c is not None else -1), False)
        if t < 0:
            return before
        now = bool(before or f(0))
        self.fired[(tag, c if c is not None else -1)] = now
        return now
