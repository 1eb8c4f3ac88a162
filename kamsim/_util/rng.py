"""The one random-number resolver (Scientific Python SPEC 7).

Every random function in kamsim takes ``rng``: a :class:`numpy.random.Generator`, a
:class:`numpy.random.SeedSequence`, a non-negative int seed, or None (fresh entropy). The
engine turns it into a root ``(entropy, spawn_key)`` pair and derives one stream per block
from it, so results do not depend on chunking or executors.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

from kamsim.exceptions import AssumptionError

__all__ = ["RngLike", "resolve_entropy", "root_seed"]

#: What every ``rng`` argument accepts.
RngLike: TypeAlias = np.random.Generator | np.random.SeedSequence | int | None


def resolve_entropy(rng: RngLike) -> tuple[int | tuple[int, ...], tuple[int, ...]]:
    """The root ``(entropy, spawn_key)`` of ``rng``.

    A Generator is consumed (four 63-bit integers are drawn from it); a SeedSequence keeps
    its entropy and spawn key; an int is the entropy; None draws fresh OS entropy.

    Parameters
    ----------
    rng : numpy.random.Generator, numpy.random.SeedSequence, int or None

    Returns
    -------
    tuple
        ``(entropy, spawn_key)`` for :class:`numpy.random.SeedSequence`.

    Raises
    ------
    AssumptionError
        For a negative seed, a bool, or any other type.

    Examples
    --------
    >>> resolve_entropy(2026)
    (2026, ())
    >>> resolve_entropy(np.random.SeedSequence(7, spawn_key=(1,)))
    (7, (1,))
    """
    if isinstance(rng, np.random.Generator):
        ent = rng.integers(0, 2**63, size=4, dtype=np.uint64)
        return tuple(int(e) for e in ent), ()
    if isinstance(rng, np.random.SeedSequence):
        ent_ss = rng.entropy
        if isinstance(ent_ss, int):
            return ent_ss, tuple(rng.spawn_key)
        return tuple(int(e) for e in (ent_ss or ())), tuple(rng.spawn_key)
    if rng is None:
        ss = np.random.SeedSequence()
        assert isinstance(ss.entropy, int)
        return ss.entropy, ()
    return root_seed(rng), ()


def root_seed(rng: RngLike) -> int:
    """One integer root seed shared by a family of runs (common random numbers).

    Parameters
    ----------
    rng : numpy.random.Generator, numpy.random.SeedSequence, int or None

    Returns
    -------
    int
        In ``[0, 2**63)``; recorded in results so a run can be repeated.

    Raises
    ------
    AssumptionError
        For a negative seed, a bool, or any other type.

    Examples
    --------
    >>> root_seed(42)
    42
    >>> root_seed(-1)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: rng: seed must be >= 0, got -1
    """
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63))
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))
    if rng is None:
        ent = np.random.SeedSequence().entropy
        assert isinstance(ent, int)
        return ent % 2**63
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        if rng < 0:
            raise AssumptionError(f"seed must be >= 0, got {rng}", field="rng")
        return int(rng)
    msg = (f"must be a numpy Generator, a SeedSequence, an int seed >= 0 or None, "
           f"got {type(rng).__name__}")
    raise AssumptionError(msg, field="rng")
