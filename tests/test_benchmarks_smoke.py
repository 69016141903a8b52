"""The benchmark scripts keep working, and their baselines answer what the model answers.

No timings are asserted (docs/BENCHMARKS.md records them); these check the answers the
benchmarks time: the exhaustive simulator enumeration of benchmarks/baselines.py finds a
protected_exclusion violation exactly when the SMT model's pinned question is sat, and
the capacity descriptors of benchmarks/capacity.py give the same answers at 80 and at
1,000,000 usable blocks.
"""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import baselines  # noqa: E402
import benchlib  # noqa: E402
import capacity  # noqa: E402

from rkvformal import pipeline  # noqa: E402


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert benchlib.percentile(values, 50) == 3.0
    assert benchlib.percentile(values, 90) == 5.0
    assert benchlib.percentile(values, 0) == 1.0


@pytest.mark.parametrize("name", ["paper", "scaled x12,500"])
def test_capacity_answers_do_not_depend_on_the_scale(tmp_path, name: str) -> None:
    rows = capacity.rows(str(tmp_path), name, capacity.CAPACITIES[name])
    assert capacity.pinned(rows["hard"])[0] == "unsat"
    assert capacity.pinned(rows["prio"])[0] == "sat"
    status, in_scenario, usable = capacity.counterexample(rows["prio"])
    assert (status, in_scenario, usable) == ("refuted", True, capacity.CAPACITIES[name][0])


def test_simulator_enumeration_agrees_with_the_pinned_smt_question(tmp_path) -> None:
    """Small numbers with the same conflict (6 + 7 > 8), depth = bound = 5, the fewest
    moves that reach a violation (submit, accept, materialize, arrive, admit)."""
    rows = capacity.rows(str(tmp_path), "small", (8, 6, 7))
    for name, violated in (("hard", False), ("prio", True)):
        row = rows[name]
        found = baselines.enumerate_states(row, 8, 6, 7, depth=5)
        assert found.states > 1 and found.transitions >= found.states - 1
        assert (found.violations > 0) is violated, name
        assert row.scenario is not None
        answer, _ = baselines.smt_pinned(row, 5, row.scenario)
        assert answer == ("sat" if violated else "unsat"), name


def test_the_shipped_hard_exclusion_row_is_the_one_the_baselines_time() -> None:
    descriptor = pipeline.load(os.path.join(ROOT, "models", "vllm_hard_exclusion_patch.rkv"))
    row = next(r for r in descriptor.rows if r.name == "patched_hard_protected")
    assert row.scenario is not None
    assert (row.scenario.usable, row.scenario.claims[0].required,
            row.scenario.active_demand) == (80, 60, 70)


def test_solver_work_is_the_same_on_every_run_and_names_each_step() -> None:
    """benchmarks/solver_work.py judges changes by Z3's rlimit count because it does not
    swing with the machine: the same row gives the same count, check for check; and the
    suite's way of proving a case asks fewer shrinking checks than a full proof."""
    import solver_work

    row = pipeline.load(os.path.join(ROOT, "bad_lowerings", "duration_as_expiring.rkv")).rows[0]
    full = solver_work.work([(row, pipeline.Options())])
    again = solver_work.work([(row, pipeline.Options())])
    suite_way = solver_work.work([(row, pipeline.Options(by_stated_atoms=True))])

    def counts(work: solver_work.Work) -> dict[tuple[str, str], tuple[float, float]]:
        return {key: (checks, rlimit) for key, (checks, rlimit, _cpu) in work.items()}

    def shrinking(work: solver_work.Work) -> float:
        return sum(entry[0] for (step, _), entry in work.items() if step == "_fewest_steps")

    assert counts(full) == counts(again)
    assert {step for step, _ in full} >= {"search", "_fewest_steps", "confirm"}
    assert "?" not in {step for step, _ in full}  # every check is attributed to a step
    assert sum(entry[1] for entry in full.values()) > 0
    assert 0 < shrinking(suite_way) < shrinking(full)
