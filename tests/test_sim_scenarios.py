"""`rkvformal simulate --scenario NAME`: the simulator takes a descriptor scenario's
numbers (usable blocks, each claim's footprint and required blocks, the active demand),
and says plainly which scenarios it cannot lay out."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from conftest import ROOT

from rkvformal.sim import simulate_command

SCENARIOS = """
scenario small { usable 40 claim resident { footprint 20 predicate leading_prefix_at_least(20) } active bulky { demand 30 } }
scenario offset { usable 80 claim resident { footprint 60 predicate contiguous_range(4, 40) } active bulky { demand 70 } }
"""  # noqa: E501  (a scenario is one line in the shipped models too)


def _descriptor(tmp_path: Path) -> str:
    """trtllm.rkv with two more scenarios."""
    path = tmp_path / "trtllm_scenarios.rkv"
    path.write_text(Path(ROOT, "models", "trtllm.rkv").read_text() + SCENARIOS)
    return str(path)


def _simulate(tmp_path: Path, *args: str) -> tuple[int, str, list[str]]:
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(simulate_command, [_descriptor(tmp_path), "--lowering",
                                                   "trt_hard_protected", "-o", str(out), *args])
    events = out.read_text().splitlines() if out.exists() else []
    return result.exit_code, result.output, events


def test_a_named_scenario_sets_the_numbers(tmp_path: Path) -> None:
    code, output, events = _simulate(tmp_path, "--scenario", "small")
    assert code == 0, output
    assert "(20/20 required blocks resident)" in output
    assert events and all('"usable_blocks":40' in e for e in events
                          if '"usable_blocks"' in e)
    # the row's own scenario (canonical: paper 1's 60/70/80) when none is named
    code, output, events = _simulate(tmp_path)
    assert code == 0, output
    assert "(60/60 required blocks resident)" in output
    assert any('"usable_blocks":80' in e for e in events)


def test_an_unknown_scenario_is_a_usage_error_naming_the_known_ones(tmp_path: Path) -> None:
    code, output, events = _simulate(tmp_path, "--scenario", "nope")
    assert code == 2 and events == []
    assert "no scenario named 'nope' (scenarios: canonical, small, offset)" in output
    assert "Traceback" not in output


def test_a_range_the_simulator_cannot_lay_out_is_refused(tmp_path: Path) -> None:
    code, output, events = _simulate(tmp_path, "--scenario", "offset")
    assert code == 2 and events == []
    assert "contiguous_range with a non-zero start is not supported" in output
