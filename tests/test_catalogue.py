"""Each primitive kind is defined once: its user-facing parameters (catalogue) and its
formal semantics (smt.primitives) list exactly the same kinds, and every parameter a
kind declares is read by its semantics."""

from __future__ import annotations

import inspect

from rkvformal.semantics.catalogue import CATALOGUE
from rkvformal.smt import encoding, primitives
from rkvformal.smt.obligations import ATOMS
from rkvformal.vocab import Atom, PrimitiveKind


def test_every_kind_has_parameters_docs_and_semantics() -> None:
    assert set(CATALOGUE) == set(PrimitiveKind) == set(primitives.SEMANTICS)
    for kind, spec in CATALOGUE.items():
        assert spec.doc, kind


def test_every_declared_parameter_is_read_by_the_semantics() -> None:
    source = inspect.getsource(primitives) + inspect.getsource(encoding)
    for spec in CATALOGUE.values():
        for param in spec.params:
            assert f'param("{param.name}")' in source, (spec.kind, param.name)


def test_every_atom_is_defined_once_with_words_and_a_trigger() -> None:
    assert set(ATOMS) == set(Atom)
    for atom, definition in ATOMS.items():
        assert definition.atom is atom and definition.words and definition.trigger_words
        assert definition.violation.__doc__, atom


def test_the_language_reference_lists_every_kind_parameter_mode_and_assumption() -> None:
    from pathlib import Path

    from rkvformal.vocab import Assumption, Mode

    text = (Path(__file__).resolve().parents[1] / "docs" / "LANGUAGE.md").read_text()
    for spec in CATALOGUE.values():
        assert f"`{spec.kind.value}`" in text
        for param in spec.params:
            assert f"`{param.name}`" in text, (spec.kind, param.name)
    for member in (*Mode, *Assumption):
        assert f"`{member.value}`" in text, member
