"""The streaming reading of a trace is the whole-trace reading, atom by atom.

`trace check` judges a recorded trace one step at a time through a `WindowView` that
carries history flags forward; the prover's counterexamples are judged on the whole
trace through a `ConcreteView`.  Both run the same atom definitions, so for any values
at all (the atoms are plain functions of the trace), each atom must say the same
thing at every step for every claim.  A mistake in carrying history (an `ever` read
one step late, a `seen` that forgets) shows up here.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rkvformal.smt.obligations import ATOMS
from rkvformal.smt.trace import (
    CHOICES,
    CLAIMS,
    CONSTANTS,
    EVENTS,
    STATE,
    ConcreteView,
    Key,
    Move,
    all_keys,
)
from rkvformal.trace.window import WindowView

K = 4
QUALIFIERS = (None, "demotion", "expiry")


def _value(key: Key) -> st.SearchStrategy[Any]:
    kind = {**CONSTANTS, **STATE, **CHOICES, **EVENTS}[key.name][0]
    if kind == "bool":
        return st.booleans()
    if key.name == "mv":
        return st.sampled_from([int(m) for m in Move])
    if key.name in ("mc", "rf_for"):
        return st.integers(-1, 1)
    return st.integers(0, 3)


traces = st.fixed_dictionaries({key: _value(key) for key in all_keys(K)})


def _window(values: dict[Key, Any], t: int, history: dict[tuple[str, int], bool]) -> WindowView:
    def per_claim(c: int) -> tuple[dict, dict, dict, dict]:
        consts = {n: values[Key(n, None, c if pc else None)] for n, (_k, pc) in CONSTANTS.items()}
        before = {n: values[Key(n, t, c)] for n, (_k, pc) in STATE.items() if pc}
        after = {n: values[Key(n, t + 1, c)] for n, (_k, pc) in STATE.items() if pc}
        events = {n: values[Key(n, t, c)] for n, (_k, pc) in EVENTS.items() if pc}
        return consts, before, after, events

    def shared_at(u: int) -> dict[str, Any]:
        return {n: values[Key(n, u, None)] for n, (_k, pc) in STATE.items() if not pc}

    shared = (shared_at(t), shared_at(t + 1))
    step: dict[str, Any] = {}
    for n, (_k, pc) in {**CHOICES, **EVENTS}.items():
        step[n] = tuple(values[Key(n, t, c)] for c in CLAIMS) if pc else values[Key(n, t, None)]
    return WindowView(tuple(per_claim(c) for c in CLAIMS), shared, step, history)


@settings(max_examples=300, deadline=None)
@given(traces)
def test_window_reading_equals_whole_trace_reading(values: dict[Key, Any]) -> None:
    whole = ConcreteView(K, values)
    history: dict[tuple[str, int], bool] = {}
    for t in range(K):
        window = _window(values, t, history)
        for atom, d in ATOMS.items():
            for q in QUALIFIERS:
                for c in CLAIMS:
                    assert bool(d.violation(window, c, 0, q)) == bool(
                        d.violation(whole, c, t, q)), (atom, q, c, t)
        history = {**history, **window.fired}
