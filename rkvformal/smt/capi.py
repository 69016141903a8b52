"""The few Z3 C functions that build a row's model, called straight through ctypes.

A row's model is some 10^5 terms, each one C call.  Through z3.py's own bindings
(`z3core`) every such call also: converts each argument in a Python-level `from_param`,
releases and retakes the interpreter lock around a call that takes a microsecond, and
asks Z3 for its error code in a second C call.  Here the same functions of the same
library are bound with plain pointer arguments (converted in C) on a `PyDLL` handle
(the lock is kept), so a call costs about half (docs/BENCHMARKS.md, session 9).
Nothing else changes: the same functions get the same arguments in the same order,
so Z3 builds the same terms (`benchmarks/solver_input.py` prints the same digest).

Errors are not lost: these functions return a null term when Z3 refuses to build one
(a sort mismatch, say), and every caller then raises Z3's error through `made`.
Asserting asks for the error code after each formula (`assert_all`); reference counting
cannot fail.
Solver checks stay with z3.py: they are long, and there the lock should be released.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from typing import Any

import z3
from z3 import z3core
from z3.z3types import Ast

_P, _U = ctypes.c_void_p, ctypes.c_uint


def _libz3() -> Any:
    """z3.py's own handle on libz3, the one every z3core function holds (None where
    z3core is built differently: then its own functions are used, `_bind`)."""
    try:
        return z3core.Z3_mk_eq.__defaults__[-1].f._objects["0"]
    except (AttributeError, IndexError, KeyError, TypeError):
        return getattr(z3core, "_lib", None)


def _open(libz3: Any) -> Any:
    """The same library, already loaded, opened again without releasing the
    interpreter lock around each call."""
    if libz3 is None:
        return None
    return ctypes.PyDLL(libz3._name, handle=libz3._handle)


_DLL = _open(_libz3())


def _bind(name: str, args: list[Any], result: Any = Ast, dll: Any = _DLL) -> Any:
    """Z3's C function `name` with these argument and result types; without a handle,
    z3core's own binding of it (slower, checked after every call, and taking the same
    arguments: contexts, terms, bytes and numbers)."""
    if dll is None:
        return getattr(z3core, name)
    function = getattr(dll, name)
    function.argtypes, function.restype = args, result
    return function


# (context, name) -> symbol; (context, symbol, sort) -> a constant of that sort
mk_string_symbol = _bind("Z3_mk_string_symbol", [_P, ctypes.c_char_p], z3.Symbol)
mk_const = _bind("Z3_mk_const", [_P, _P, _P])
mk_int_symbol = _bind("Z3_mk_int_symbol", [_P, ctypes.c_int], z3.Symbol)
# (context, terms...) -> term
mk_eq = _bind("Z3_mk_eq", [_P, _P, _P])
mk_not = _bind("Z3_mk_not", [_P, _P])
mk_ite = _bind("Z3_mk_ite", [_P, _P, _P, _P])
mk_implies = _bind("Z3_mk_implies", [_P, _P, _P])
mk_lt = _bind("Z3_mk_lt", [_P, _P, _P])
mk_le = _bind("Z3_mk_le", [_P, _P, _P])
mk_gt = _bind("Z3_mk_gt", [_P, _P, _P])
mk_ge = _bind("Z3_mk_ge", [_P, _P, _P])
# (context, count, array of terms) -> term
mk_and = _bind("Z3_mk_and", [_P, _U, _P])
mk_or = _bind("Z3_mk_or", [_P, _U, _P])
mk_add = _bind("Z3_mk_add", [_P, _U, _P])
mk_sub = _bind("Z3_mk_sub", [_P, _U, _P])
mk_distinct = _bind("Z3_mk_distinct", [_P, _U, _P])
# (context, decimal text, sort) -> term; (context, term) -> sort
mk_numeral = _bind("Z3_mk_numeral", [_P, ctypes.c_char_p, _P])
get_sort = _bind("Z3_get_sort", [_P, _P], z3.Sort)
# reading a model's values: (context, app, index) -> argument; (context, term) -> value
get_app_arg = _bind("Z3_get_app_arg", [_P, _P, _U])
get_bool_value = _bind("Z3_get_bool_value", [_P, _P], ctypes.c_int)
get_numeral_string = _bind("Z3_get_numeral_string", [_P, _P], ctypes.c_char_p)
# (context, term): reference counts
inc_ref = _bind("Z3_inc_ref", [_P, _P], None)
dec_ref = _bind("Z3_dec_ref", [_P, _P], None)
# (context, solver, formula); (context) -> the last call's error code (0: none)
solver_assert = _bind("Z3_solver_assert", [_P, _P, _P], None)
get_error_code = _bind("Z3_get_error_code", [_P], ctypes.c_int)
get_error_msg = _bind("Z3_get_error_msg", [_P, ctypes.c_int], ctypes.c_char_p)


def error(ctx: Any) -> z3.Z3Exception:
    """Z3's error of the last call on this context (`ctx`: the context's `ref()`)."""
    return z3.Z3Exception(get_error_msg(ctx, get_error_code(ctx)).decode())


def made(term: Ast, ctx: Any) -> Ast:
    """`term`, or Z3's error if it built none.  Hot callers test `if not term`
    themselves and raise `error(ctx)` only then."""
    if not term:
        raise error(ctx)
    return term


def _assert(ctx: Any, solver: Any, ast: Ast) -> None:
    """Assert one Boolean term's `ast`, raising Z3's error if it refuses it."""
    solver_assert(ctx, solver, ast)
    if get_error_code(ctx):
        raise error(ctx)


def assert_all(ctx: Any, solver: Any, formulas: Iterable[z3.ExprRef]) -> None:
    """Assert each of `formulas` (`solver`: the raw solver), raising Z3's error for one
    it refuses (a term that is not Boolean).  (Each is held while it is asserted: a
    term's reference count falls with its last Python object.)"""
    for formula in formulas:
        _assert(ctx, solver, formula.ast)


def assert_implied(ctx: Any, solver: Any,
                   pairs: Iterable[tuple[z3.ExprRef, z3.ExprRef]]) -> None:
    """Assert `a -> b` for each pair, as `assert_all` would assert the implications
    (each is built and asserted at once, with no Python object for it: a row asserts
    every primitive's constraints this way; the solver holds it once asserted)."""
    for a, b in pairs:
        _assert(ctx, solver, made(mk_implies(ctx, a.ast, b.ast), ctx))
