"""Shared fixtures: the shipped models are proved once per test session."""

from __future__ import annotations

import glob
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests import their helper modules

from rkvformal import pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = sorted(glob.glob(os.path.join(ROOT, "models", "*.rkv")))


@pytest.fixture(scope="session")
def proved_models() -> dict[str, pipeline.ProvedFile]:
    """Every shipped model, proved with the default bound, keyed by file name."""
    descriptors = [pipeline.load(path) for path in MODELS]
    proved = pipeline.prove_descriptors(descriptors, jobs=pipeline.default_jobs())
    return {os.path.basename(p.descriptor.path): p for p in proved}
