"""Shared fixtures. Randomness comes from local generators with fixed seeds, never from
global reseeding."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import matplotlib
import pytest
from hypothesis import settings

# CI runs property tests with a fixed example sequence (a green run stays green); local
# runs draw fresh examples each time, so new counterexamples keep turning up where a
# developer can look at them. Select with HYPOTHESIS_PROFILE=ci.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


@pytest.fixture(scope="session")
def sample():
    from kamsim.portfolio.datasets import load_sample

    return load_sample()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
