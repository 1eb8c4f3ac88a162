"""Shared fixtures. Randomness comes from local generators with fixed seeds, never from
global reseeding."""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


@pytest.fixture(scope="session")
def sample():
    from kamsim.datasets import load_sample

    return load_sample()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
