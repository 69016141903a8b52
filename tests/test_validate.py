"""Validation tests: the domain model a good descriptor yields, every rule a bad one
breaks (message, exact line:column, caret), and the standard library of bundles."""

from __future__ import annotations

import pytest

from rkvformal.errors import DescriptorError, DescriptorErrors
from rkvformal.semantics.bundles import load_stdlib, resolve_bundles
from rkvformal.semantics.catalogue import CATALOGUE
from rkvformal.semantics.domain import AnchorKind, Descriptor
from rkvformal.semantics.validate import validate
from rkvformal.syntax.parser import parse_text
from rkvformal.vocab import (
    Assumption,
    Atom,
    EvidenceClass,
    Mode,
    PredicateKind,
    PrimitiveKind,
    Provenance,
    RowKind,
)

PATH = "models/t.rkv"
HEADER = 'runtime rt { name "TensorRT-LLM" repo "NVIDIA/TensorRT-LLM" version "v1.2.0" }\n'
LOCK = "primitive lock { kind lock_ref provenance native }\n"

GOOD = HEADER + """\
# retention priority, anchored three ways
primitive retention {
    kind eviction_priority
    provenance native
    param default = 40
    anchor "cpp/kvCacheManager.cpp:812" symbol "setPriority"
    anchor "NVIDIA/TensorRT-LLM@0123abc:cpp/include/kvCacheConfig.h:55"
    anchor "https://nvidia.github.io/TensorRT-LLM/kv-cache.html#retention"
}
primitive guard {
    kind hard_exclusion
    provenance patch
    param claim_events = false
    param on_conflict = defer
}
primitive telemetry { kind claim_telemetry provenance observational }
scenario canonical {
    usable 80
    claim resident { footprint 60 predicate leading_prefix_at_least(60) priority 90 }
    claim side { footprint 20 predicate contiguous_range(5, 10) duration 4 }
    active bulky { demand 70 }
}
lowering trt_soft mode soft_priority via retention, telemetry
    assume single_claim scenario canonical
    expect rejected_mapping because priority_order
substrate trt_hard mode hard_protected via guard
"""


def good() -> Descriptor:
    return validate(parse_text(GOOD, PATH))


def caret_line(column: int) -> str:
    return "      | " + " " * (column - 1) + "^"


def errors_of(text: str) -> tuple[DescriptorError, ...]:
    with pytest.raises(DescriptorErrors) as caught:
        validate(parse_text(text, PATH))
    return caught.value.errors


def expect_error(text: str, line: int, column: int, message: str) -> DescriptorError:
    """The one error whose message contains `message`, at exactly line:column."""
    found = [error for error in errors_of(text) if message in error.message]
    assert found, f"no error containing {message!r}"
    (error,) = found
    assert (error.line, error.column) == (line, column), error.render()
    rendered = error.render()
    assert rendered.startswith(f"{PATH}:{line}:{column}: error: ")
    assert caret_line(column) in rendered.splitlines()
    return error


# ----------------------------------------------------------------- positive


def test_runtime_and_primitive_kinds() -> None:
    descriptor = good()
    assert descriptor.path == PATH
    runtime = descriptor.runtime
    assert (runtime.key, runtime.name, runtime.repo, runtime.version) == (
        "rt", "TensorRT-LLM", "NVIDIA/TensorRT-LLM", "v1.2.0",
    )
    names = [p.name for p in descriptor.primitives]
    assert names == ["retention", "guard", "telemetry"]
    retention, guard, telemetry = descriptor.primitives
    assert retention.kind is PrimitiveKind.EVICTION_PRIORITY
    assert retention.provenance is Provenance.NATIVE
    assert guard.provenance is Provenance.PATCH
    assert telemetry.provenance is Provenance.OBSERVATIONAL
    assert retention.line == 3


def test_params_are_sorted_with_defaults_filled() -> None:
    retention, guard, telemetry = good().primitives
    assert retention.params == (("default", 40), ("maximum", 100), ("minimum", 0))
    assert guard.params == (
        ("blocking_ids", "involved"),
        ("claim_events", False),
        ("demote_event", "before_loss"),
        ("on_conflict", "defer"),
    )
    assert guard.param("claim_events") is False
    expected = sorted((p.name, p.default) for p in CATALOGUE[telemetry.kind].params)
    assert list(telemetry.params) == expected


def test_anchors_short_full_and_doc_forms() -> None:
    retention, guard, _ = good().primitives
    short, full, doc = retention.anchors
    assert short.kind is AnchorKind.SOURCE
    assert (short.repo, short.version, short.path, short.line) == (
        "NVIDIA/TensorRT-LLM", "v1.2.0", "cpp/kvCacheManager.cpp", 812,
    )
    assert short.symbol == "setPriority" and short.line_in_descriptor == 7
    assert short.render() == (
        "NVIDIA/TensorRT-LLM@v1.2.0:cpp/kvCacheManager.cpp:812 (setPriority)"
    )
    assert (full.repo, full.version, full.path, full.line) == (
        "NVIDIA/TensorRT-LLM", "0123abc", "cpp/include/kvCacheConfig.h", 55,
    )
    assert full.text == "NVIDIA/TensorRT-LLM@0123abc:cpp/include/kvCacheConfig.h:55"
    assert doc.kind is AnchorKind.DOC and doc.path is None and doc.line is None
    assert doc.url == "https://nvidia.github.io/TensorRT-LLM/kv-cache.html#retention"
    assert retention.anchored
    # Zero anchors is legal (unknown evidence later), and none are invented.
    assert guard.anchors == () and not guard.anchored


def test_rows_and_scenarios() -> None:
    descriptor = good()
    (scenario,) = descriptor.scenarios
    assert (scenario.name, scenario.usable, scenario.active_demand, scenario.line) == (
        "canonical", 80, 70, 18,
    )
    resident, side = scenario.claims
    assert resident.predicate is PredicateKind.LEADING_PREFIX_AT_LEAST
    assert (resident.footprint, resident.required, resident.start) == (60, 60, 0)
    assert (resident.priority, resident.duration) == (90, None)
    assert side.predicate_text == "contiguous_range(5, 10)"
    assert (side.start, side.required, side.duration) == (5, 10, 4)

    soft, hard = descriptor.rows
    assert soft.kind is RowKind.LOWERING and soft.mode is Mode.SOFT_PRIORITY
    assert [p.name for p in soft.primitives] == ["retention", "telemetry"]
    assert soft.assumptions == (Assumption.SINGLE_CLAIM,)
    assert soft.scenario == scenario
    assert soft.expected is EvidenceClass.REJECTED_MAPPING
    assert soft.because == (Atom.PRIORITY_ORDER,)
    assert (soft.line, soft.column) == (24, 1)
    assert hard.kind is RowKind.SUBSTRATE and hard.expected is None
    assert hard.scenario is None and hard.because == ()


def test_comments_do_not_change_the_model() -> None:
    commented = GOOD.replace("\n", "  # note\n").replace("# retention", "#")
    assert validate(parse_text(commented, PATH)) == good()


# ------------------------------------------------------------ runtime rules


def test_missing_runtime() -> None:
    expect_error(LOCK, 1, 1, "descriptor has no runtime block")


def test_second_runtime() -> None:
    expect_error(HEADER + HEADER, 2, 1, "more than one runtime block")


def test_unknown_runtime_field_and_missing_one() -> None:
    text = 'runtime rt {\n  name "R"\n  repo "org/r"\n  versoin "1"\n}\n'
    error = expect_error(text, 4, 3, "unknown runtime field 'versoin'")
    assert error.hint == "did you mean 'version'?"
    expect_error(text, 1, 9, "has no 'version' field")


def test_empty_runtime_field() -> None:
    expect_error('runtime rt { name "" repo "o/r" version "v" }', 1, 14,
                 "runtime field 'name' is empty")


# ---------------------------------------------------------- primitive rules


def test_unknown_kind_with_did_you_mean() -> None:
    text = HEADER + "primitive p {\n    kind evicton_priority\n    provenance native\n}\n"
    error = expect_error(text, 3, 10, "unknown primitive kind 'evicton_priority'")
    assert error.expected is not None
    assert error.expected.startswith("one of eviction_priority, priority_duration")
    assert error.hint == "did you mean 'eviction_priority'?"


def test_missing_kind_and_provenance() -> None:
    text = HEADER + "primitive p { }\n"
    expect_error(text, 2, 11, "primitive 'p' has no kind")
    expect_error(text, 2, 11, "primitive 'p' has no provenance")


def test_unknown_provenance() -> None:
    text = HEADER + "primitive p { kind lock_ref provenance adaptor }\n"
    error = expect_error(text, 2, 40, "unknown provenance 'adaptor'")
    assert error.expected == "one of native, observational, policy, patch"


def test_unknown_param_lists_the_kinds_params() -> None:
    text = HEADER + "primitive p { kind cache_control_ttl provenance native param tll = 3 }\n"
    error = expect_error(text, 2, 62,
                         "primitive kind 'cache_control_ttl' has no parameter 'tll'")
    assert error.expected == "ttl"
    assert error.hint == "did you mean 'ttl'?"
    no_params = HEADER + "primitive p { kind lock_ref provenance native param x = 1 }\n"
    error = expect_error(no_params, 2, 53, "has no parameter 'x'")
    assert error.expected == "no parameters (kind 'lock_ref' takes none)"


def test_wrong_param_types() -> None:
    text = HEADER + (
        "primitive p {\n  kind hard_exclusion\n  provenance patch\n"
        '  param claim_events = "true"\n  param on_conflict = 3\n}\n'
        'primitive q { kind cache_control_ttl provenance native param ttl = "4" }\n'
    )
    error = expect_error(text, 5, 24, "parameter 'claim_events' takes a bare name")
    assert error.expected == "one of true, false"
    assert error.hint == "write it without quotes: claim_events = true"
    expect_error(text, 6, 23, "parameter 'on_conflict' takes a bare name, not a number")
    error = expect_error(text, 8, 68, "parameter 'ttl' takes a number")
    assert error.hint == "write numbers without quotes"


def test_unknown_choice_value() -> None:
    text = HEADER + (
        "primitive p { kind tier_offload provenance native "
        "param on_restore_failure = recomput }\n"
    )
    error = expect_error(text, 2, 78, "'recomput' is not a value of parameter")
    assert error.hint == "did you mean 'recompute'?"


def test_out_of_range_int_param() -> None:
    text = HEADER + "primitive p {\n  kind cache_control_ttl\n  provenance native\n" \
        "  param ttl = 65\n}\n"
    error = expect_error(text, 5, 15, "parameter 'ttl' is 65, out of range")
    assert error.expected == "a number from 1 to 64"


def test_unordered_priority_params() -> None:
    text = HEADER + (
        "primitive p { kind eviction_priority provenance native "
        "param minimum = 50 param default = 10 }\n"
    )
    expect_error(text, 2, 11, "parameters of 'p' are out of order")


def test_duplicate_param() -> None:
    text = HEADER + (
        "primitive p {\n  kind cache_control_ttl\n  provenance native\n"
        "  param ttl = 3\n  param ttl = 4\n}\n"
    )
    error = expect_error(text, 6, 9, "duplicate parameter 'ttl'")
    assert error.hint == "first given on line 5"


def test_duplicate_primitive() -> None:
    error = expect_error(HEADER + LOCK + LOCK, 3, 11, "duplicate primitive 'lock'")
    assert error.hint == "first declared on line 2"


# ------------------------------------------------------------- anchor rules


def anchored(target: str) -> str:
    return HEADER + f'primitive p {{\n  kind lock_ref\n  provenance native\n' \
        f'  anchor "{target}"\n}}\n'


def test_malformed_anchor() -> None:
    error = expect_error(anchored("kvCacheManager.cpp"), 5, 10,
                         "malformed anchor 'kvCacheManager.cpp'")
    assert error.expected == ("REPO@VERSION:PATH:LINE, PATH:LINE, REPO@VERSION:PATH#Symbol, "
                              "PATH#Symbol, or an http(s):// URL")
    assert error.hint is not None and "@v1.2.0:" in error.hint


def test_symbol_anchor_pins_a_symbol_without_a_line() -> None:
    descriptor = validate(parse_text(anchored("vllm/v1/core/block_pool.py#touch"), "t.rkv"))
    (anchor,) = descriptor.primitives[0].anchors
    assert anchor.path == "vllm/v1/core/block_pool.py"
    assert anchor.line is None and anchor.symbol == "touch"


def test_anchor_path_escape() -> None:
    for target in ("../secrets/x.py:3", "src/../../x.py:3", "/etc/passwd:1",
                   "~/x.py:2", "vllm@v1:../x.py:9"):
        expect_error(anchored(target), 5, 10, "anchor path escapes the source tree")


def test_anchor_line_out_of_range() -> None:
    expect_error(anchored("a.py:0"), 5, 10, "anchor line 0 is out of range")
    expect_error(anchored("a.py:10000001"), 5, 10, "is out of range")


def test_malformed_doc_url() -> None:
    expect_error(anchored("https:///nohost"), 5, 10, "malformed documentation URL")


# --------------------------------------------------------------- row rules


def test_duplicate_row() -> None:
    rows = "lowering r mode best_effort via lock\nsubstrate r mode best_effort via lock\n"
    error = expect_error(HEADER + LOCK + rows, 4, 11, "duplicate row 'r'")
    assert error.hint == "first declared on line 3"


def test_unknown_primitive_in_via() -> None:
    text = HEADER + LOCK + "lowering r mode best_effort via lcok\n"
    error = expect_error(text, 3, 33, "unknown primitive 'lcok'")
    assert error.expected == "lock"
    assert error.hint == "did you mean 'lock'?"


def test_primitive_listed_twice() -> None:
    text = HEADER + LOCK + "lowering r mode best_effort via lock, lock\n"
    expect_error(text, 3, 39, "primitive 'lock' is listed twice in row 'r'")


def test_unknown_mode() -> None:
    text = HEADER + LOCK + "lowering r mode hard_protect via lock\n"
    error = expect_error(text, 3, 17, "unknown mode 'hard_protect'")
    assert error.hint == "did you mean 'hard_protected'?"


def test_unknown_assumption() -> None:
    text = HEADER + LOCK + "lowering r mode best_effort via lock assume single_clam\n"
    error = expect_error(text, 3, 45, "unknown assumption 'single_clam'")
    assert error.hint == "did you mean 'single_claim'?"


def test_unknown_scenario() -> None:
    text = HEADER + LOCK + "lowering r mode best_effort via lock scenario nowhere\n"
    expect_error(text, 3, 47, "unknown scenario 'nowhere'")


def test_unknown_expect_class() -> None:
    text = HEADER + LOCK + "lowering r mode best_effort via lock expect rejected\n"
    error = expect_error(text, 3, 45, "unknown evidence class 'rejected'")
    assert error.hint == "did you mean 'rejected_mapping'?"


def test_class_impossible_for_row_kind() -> None:
    text = HEADER + LOCK + "lowering r mode best_effort via lock expect approximation_substrate\n"
    expect_error(text, 3, 45, "a lowering row is never classified approximation_substrate")


def test_unknown_atom_in_because() -> None:
    text = HEADER + LOCK + (
        "lowering r mode best_effort via lock\n"
        "  expect rejected_mapping because no_silent_los\n"
    )
    error = expect_error(text, 4, 35, "unknown atom 'no_silent_los'")
    assert error.hint == "did you mean 'no_silent_loss'?"


def test_because_atom_outside_the_modes_bundle() -> None:
    text = HEADER + LOCK + (
        "lowering r mode best_effort via lock expect rejected_mapping "
        "because routed_presence\n"
    )
    error = expect_error(text, 3, 70, "not an obligation of mode 'best_effort'")
    assert error.expected == (
        "one of explicit_acceptance, claim_identity, materialization_predicate, "
        "no_silent_loss"
    )


# ----------------------------------------------------------- scenario rules


def scenario(body: str) -> str:
    return HEADER + "scenario s {\n" + body + "}\n"


def test_predicate_longer_than_footprint() -> None:
    text = scenario("  claim c { footprint 60 predicate leading_prefix_at_least(61) }\n")
    error = expect_error(text, 3, 26, "predicate needs 61 leading blocks")
    assert "footprint 60" in error.message
    ranged = scenario("  claim c { footprint 10 predicate contiguous_range(5, 6) }\n")
    expect_error(ranged, 3, 26, "predicate range 5..10 does not fit")


def test_predicate_arity_and_kind() -> None:
    text = scenario("  claim c { footprint 9 predicate contiguous_range(1) }\n")
    expect_error(text, 3, 25, "contiguous_range takes 2 arguments, got 1")
    text = scenario("  claim c { footprint 9 predicate prefix(1) }\n")
    error = expect_error(text, 3, 35, "unknown predicate 'prefix'")
    assert error.expected == "one of leading_prefix_at_least, contiguous_range"


def test_claim_needs_footprint_and_predicate() -> None:
    text = scenario("  claim c { priority 3 }\n")
    expect_error(text, 3, 9, "claim 'c' has no footprint")
    expect_error(text, 3, 9, "claim 'c' has no predicate")


def test_scenario_with_three_claims() -> None:
    claim = "  claim {} {{ footprint 1 predicate leading_prefix_at_least(1) }}\n"
    text = scenario("".join(claim.format(name) for name in ("a", "b", "c")))
    error = expect_error(text, 5, 3, "has 3 claims; the model has 2 claim slots")
    assert error.expected == "at most 2 claims"


def test_two_active_requests_and_missing_demand() -> None:
    text = scenario("  active a { demand 3 }\n  active b { demand 4 }\n")
    expect_error(text, 4, 3, "the model has 1 active slot")
    expect_error(scenario("  active a { }\n"), 3, 10, "active request 'a' has no demand")


def test_out_of_range_scenario_numbers() -> None:
    text = scenario(
        "  usable 0\n"
        "  claim c { footprint 4 predicate leading_prefix_at_least(1) priority 101 "
        "duration 65 }\n"
    )
    expect_error(text, 3, 3, "usable 0 is out of range")
    expect_error(text, 4, 62, "priority 101 is out of range")
    expect_error(text, 4, 75, "duration 65 is out of range")


def test_duplicate_scenario_statements_and_names() -> None:
    text = scenario("  usable 5\n  usable 6\n")
    expect_error(text, 4, 3, "duplicate 'usable' in scenario 's'")
    twice = HEADER + "scenario s { }\nscenario s { }\n"
    expect_error(twice, 3, 10, "duplicate scenario 's'")


def test_claims_that_do_not_fit() -> None:
    text = scenario(
        "  usable 80\n"
        "  claim a { footprint 60 predicate leading_prefix_at_least(60) }\n"
        "  claim b { footprint 30 predicate leading_prefix_at_least(1) }\n"
    )
    error = expect_error(text, 3, 3, "claims do not fit in usable blocks")
    assert "sum to 90" in error.message


# -------------------------------------------------------------- whole files


def test_bundle_in_a_descriptor() -> None:
    text = HEADER + "bundle best_effort { explicit_acceptance }\n"
    expect_error(text, 2, 1, "bundles are defined by the standard library "
                 "(rkvformal/semantics/stdlib.rkv)")


def test_all_errors_are_reported_in_source_order() -> None:
    text = HEADER + (
        "primitive p { kind lock_reff provenance native }\n"
        "primitive p { kind lock_ref provenance native }\n"
        "lowering r mode best_efort via q\n"
    )
    errors = errors_of(text)
    assert [(e.line, e.column) for e in errors] == [(2, 20), (3, 11), (4, 17), (4, 32)]
    with pytest.raises(DescriptorErrors) as caught:
        validate(parse_text(text, PATH))
    assert caught.value.render().count(": error: ") == 4


def test_custom_bundles_drive_the_because_check() -> None:
    text = HEADER + LOCK + (
        "lowering r mode best_effort via lock expect rejected_mapping "
        "because routed_presence\n"
    )
    bundles = load_stdlib()
    bundles[Mode.BEST_EFFORT] = bundles[Mode.ROUTED_REUSE]
    row = validate(parse_text(text, PATH), bundles).rows[0]
    assert row.because == (Atom.ROUTED_PRESENCE,)


# ------------------------------------------------------------- stdlib


def test_stdlib_defines_every_mode() -> None:
    bundles = load_stdlib()
    assert set(bundles) == set(Mode)
    assert all(bundles[mode].mode is mode for mode in Mode)


def test_stdlib_includes_resolve_in_order() -> None:
    bundles = load_stdlib()
    best = bundles[Mode.BEST_EFFORT].atoms
    assert best == (
        Atom.EXPLICIT_ACCEPTANCE, Atom.CLAIM_IDENTITY,
        Atom.MATERIALIZATION_PREDICATE, Atom.NO_SILENT_LOSS,
    )
    assert bundles[Mode.SOFT_PRIORITY].atoms == best + (
        Atom.PRIORITY_ORDER, Atom.EXCLUSIVE_ATTRIBUTION,
    )
    assert bundles[Mode.ROUTED_REUSE].atoms == best + (Atom.ROUTED_PRESENCE,)
    hard = bundles[Mode.HARD_PROTECTED].atoms
    assert Atom.NO_SILENT_LOSS not in hard and Atom.INFEASIBILITY_OUTCOME in hard
    assert len(bundles[Mode.OFFLOADABLE].atoms) == 8


def test_stdlib_qualifiers() -> None:
    bundles = load_stdlib()
    demotable = bundles[Mode.DEMOTABLE]
    assert demotable.atoms == bundles[Mode.BEST_EFFORT].atoms + (
        Atom.ORDERED_LIFECYCLE, Atom.RELEASE_BEFORE_LOSS,
    )
    assert demotable.qualifier(Atom.RELEASE_BEFORE_LOSS) == "demotion"
    assert bundles[Mode.EXPIRING].qualifier(Atom.RELEASE_BEFORE_LOSS) == "expiry"
    assert demotable.qualifier(Atom.NO_SILENT_LOSS) is None


def test_load_stdlib_returns_a_fresh_mapping() -> None:
    first = load_stdlib()
    first.clear()
    assert len(load_stdlib()) == 7


STDLIB_TAIL = "".join(
    f"bundle {mode} {{ claim_identity }}\n"
    for mode in Mode
    if mode not in (Mode.BEST_EFFORT, Mode.SOFT_PRIORITY)
)


def library_errors(text: str) -> tuple[DescriptorError, ...]:
    with pytest.raises(DescriptorErrors) as caught:
        resolve_bundles(parse_text(text, "lib.rkv"))
    return caught.value.errors


def test_library_include_cycle() -> None:
    text = (
        "bundle best_effort includes soft_priority { claim_identity }\n"
        "bundle soft_priority includes best_effort { priority_order }\n" + STDLIB_TAIL
    )
    (error,) = library_errors(text)
    assert (error.line, error.column) == (2, 31)
    assert error.message == (
        "bundle includes form a cycle: best_effort -> soft_priority -> best_effort"
    )


def test_library_rejects_bad_atoms_and_qualifiers() -> None:
    text = (
        "bundle best_effort { claim_identiy release_before_loss(expiry) }\n"
        "bundle soft_priority { release_before_loss no_silent_loss(demotion) "
        "release_before_loss(later) }\n"
        "bundle fast { claim_identity }\n"
        "primitive p { kind lock_ref }\n"
    )
    found = {(e.line, e.column): e.message for e in library_errors(text)}
    assert found[(1, 22)] == "unknown atom 'claim_identiy'"
    assert found[(2, 24)] == "atom 'release_before_loss' needs a qualifier"
    assert found[(2, 59)] == "atom 'no_silent_loss' takes no qualifier"
    assert found[(2, 89)] == "unknown qualifier 'later' for 'release_before_loss'"
    assert found[(3, 8)] == "unknown mode 'fast'"
    assert found[(4, 1)] == "the standard library holds only bundle declarations"
    assert "defines no bundle for mode 'hard_protected'" in found[(1, 1)]


def test_library_conflicting_qualifiers() -> None:
    text = (
        "bundle best_effort { release_before_loss(expiry) }\n"
        "bundle soft_priority includes best_effort { release_before_loss(demotion) }\n"
        + STDLIB_TAIL
    )
    (error,) = library_errors(text)
    assert (error.line, error.column) == (2, 45)
    assert "appears with qualifiers 'expiry' and 'demotion'" in error.message
