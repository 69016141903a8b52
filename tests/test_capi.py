"""`smt.capi` calls Z3's C functions without z3.py's per-call error check: a term Z3
refuses to build, or a formula it refuses to assert, must still raise, never turn into
a null term or a silently missing assertion."""

from __future__ import annotations

from typing import Any

import pytest
import z3

from rkvformal.smt import capi
from rkvformal.smt.trace import SymbolicView


def test_the_terms_are_the_ones_z3py_builds() -> None:
    v = SymbolicView(2)
    x, y = v.s("free", 0), v.s("cached", 0)
    p, q = v.ch("drop", 0), v.ch("drop", 1)
    ctx = v.ctx
    pairs = [
        (v.and_(p, q), z3.And(p, q)),
        (v.or_(p, q), z3.Or(p, q)),
        (v.not_(p), z3.Not(p)),
        (v.ite(p, x, y), z3.If(p, x, y)),
        (x + 3 <= y - 1, z3.ArithRef.__le__(z3.ArithRef.__add__(x, 3),
                                            z3.ArithRef.__sub__(y, 1))),
        (x != y, z3.Distinct(x, y)),
        (v.and_(), z3.BoolVal(True, ctx)),
        (v.or_(), z3.BoolVal(False, ctx)),
    ]
    for ours, theirs in pairs:
        assert ours.eq(theirs), (ours, theirs)


def test_a_refused_term_raises() -> None:
    ctx = z3.Context()
    x, q = z3.Int("x", ctx), z3.Bool("q", ctx)
    ref = ctx.ref()
    refused = capi.mk_and(ref, 2, (z3.Ast * 2)(x.as_ast(), q.as_ast()))
    assert not refused  # Z3 built nothing ...
    with pytest.raises(z3.Z3Exception, match=r"[Ss]ort mismatch"):
        capi.made(refused, ref)  # ... and says why
    with pytest.raises(z3.Z3Exception):
        capi.made(capi.mk_numeral(ref, b"not a number", capi.get_sort(ref, x.as_ast())), ref)


def test_a_non_boolean_assertion_raises_and_a_boolean_one_is_asserted() -> None:
    ctx = z3.Context()
    x, q = z3.Int("x", ctx), z3.Bool("q", ctx)
    solver = z3.Solver(ctx=ctx)
    with pytest.raises(z3.Z3Exception):
        capi.assert_all(ctx.ref(), solver.solver, [x])
    with pytest.raises(z3.Z3Exception):
        capi.assert_implied(ctx.ref(), solver.solver, [(q, x)])
    capi.assert_all(ctx.ref(), solver.solver, [q])
    capi.assert_implied(ctx.ref(), solver.solver, [(q, x > 2)])
    assert solver.check(x < 3) == z3.unsat  # both assertions are there
    assert solver.check(x > 3) == z3.sat


def test_without_a_handle_on_libz3_z3pys_own_bindings_build_the_same_terms() -> None:
    """Where z3core is built differently (no handle on the library to open again),
    `capi` falls back to z3core's functions, which take the same arguments."""
    ctx = z3.Context()
    x, p, q = z3.Int("x", ctx), z3.Bool("p", ctx), z3.Bool("q", ctx)
    ref = ctx.ref()
    def fallback(name: str) -> Any:
        function = capi._bind(name, [], dll=None)  # (no handle: argument types unused)
        assert function is getattr(z3.z3core, name)
        return function

    for fast, name, build in [
        (capi.mk_and, "Z3_mk_and", lambda f: f(ref, 2, (z3.Ast * 2)(p.as_ast(), q.as_ast()))),
        (capi.mk_not, "Z3_mk_not", lambda f: f(ref, p.as_ast())),
    ]:
        assert z3.BoolRef(build(fast), ctx).eq(z3.BoolRef(build(fallback(name)), ctx))
    assert fallback("Z3_mk_string_symbol")(ref, b"name")
    sort = capi.get_sort(ref, x.as_ast())
    numeral = fallback("Z3_mk_numeral")(ref, b"7", sort)
    assert z3.ArithRef(numeral, ctx).eq(z3.IntVal(7, ctx))
    assert capi._open(None) is None and capi._DLL is not None  # (this z3 has a handle)
