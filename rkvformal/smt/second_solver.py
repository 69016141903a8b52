"""A second, independent solver (cvc5) for the same formulas.

The row's assertions are exported from Z3 as SMT-LIB 2 and handed to cvc5 with the
same assumption literals (`check-sat-assuming`), so both solvers answer exactly the
same question.  Used two ways: `--solver cvc5` (cvc5 decides every verdict; Z3 only
reads back a model to present a counterexample cvc5 has already found) and
`--cross-check` (Z3 decides, cvc5 must agree on every reported atom).  A disagreement is
a bug in one of the solvers or in rkvformal's export: it is raised, never averaged.
"""

from __future__ import annotations

from collections.abc import Sequence

import z3
from z3 import z3core

SOLVERS = ("z3", "cvc5")


class SolverDisagreement(RuntimeError):
    """Two solvers gave different answers to one question."""


def available() -> bool:
    try:
        import cvc5  # noqa: F401
    except ImportError:
        return False
    return True


def smtlib(solver: z3.Solver) -> str:
    """Everything asserted to `solver`, as SMT-LIB 2 declarations and one `assert`
    (no `check-sat`).  One conjunction, because Z3 prints shared subterms once (`let`)
    only within a term: the model's states are terms over the history below them
    (`SymbolicView.define`), and printed assertion by assertion (`solver.sexpr()`)
    every assertion would spell its own copy of that history (a K=12 row: megabytes
    and seconds, against 0.2 MB in 30 ms)."""
    ctx = solver.ctx
    ref, formulas = ctx.ref(), solver.assertions()
    args = (z3.Ast * len(formulas))(*(f.as_ast() for f in formulas))
    whole = z3.BoolRef(z3core.Z3_mk_and(ref, len(formulas), args), ctx) if len(formulas) \
        else z3.BoolVal(True, ctx)  # held, so the term lives while it is printed
    text = z3core.Z3_benchmark_to_smtlib_string(ref, "rkvformal", "ALL", "unknown", "", 0,
                                                (z3.Ast * 0)(), whole.as_ast())
    text = text.rstrip()
    return text.removesuffix("(check-sat)").rstrip() + "\n"


def cvc5_check(solver: z3.Solver, assumptions: Sequence[z3.BoolRef],
               timeout_s: float | None = None) -> z3.CheckSatResult:
    """Ask cvc5 the question `solver.check(*assumptions)` asks Z3."""
    import cvc5

    options = f"(set-option :tlimit-per {int(timeout_s * 1000)})\n" if timeout_s else ""
    script = (smtlib(solver) + options + "(check-sat-assuming ("
              + " ".join(lit.sexpr() for lit in assumptions) + "))\n")
    manager = cvc5.TermManager()
    engine = cvc5.Solver(manager)
    parser = cvc5.InputParser(engine)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, script, "rkvformal")
    symbols = parser.getSymbolManager()
    answer = ""
    while True:
        command = parser.nextCommand()
        if command.isNull():
            break
        printed = command.invoke(engine, symbols).strip()
        if printed:
            answer = printed
    return {"sat": z3.sat, "unsat": z3.unsat}.get(answer, z3.unknown)
