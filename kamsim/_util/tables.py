"""Counting in sorted tables: the one search the engine's inversions share.

Examples
--------
>>> import numpy as np
>>> t = np.array([[1, 5, 9, 2**32]], dtype=np.uint64)  # last column: a sentinel
>>> count_in_rows(t, np.array([0, 0]), np.array([5, 100], dtype=np.uint64), strict=False)
array([2, 3])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["count_in_rows"]

IntArray = npt.NDArray[np.int64]


def count_in_rows(table: npt.NDArray[Any], row: IntArray, v: npt.NDArray[Any],
                  strict: bool, guess: IntArray | None = None) -> IntArray:
    """``#{k : table[row, k] < v}`` (``strict``) or ``<= v`` per element.

    ``table`` is ``rows x (K + 1)`` with ascending rows whose last column (a sentinel of
    the compiled kernel) is not searched; ``row`` and ``v`` are per element. From
    ``guess`` (any integers; a good guess saves steps) the count is found by steps of
    one, else by binary search.
    """
    width = table.shape[1]
    k1 = width - 1
    if k1 == 0 or row.size == 0:
        return np.zeros(row.size, dtype=np.int64)
    flat = table.ravel()
    base = row * width

    def below(at: IntArray, sel: IntArray | slice) -> npt.NDArray[np.bool_]:
        tv = flat[base[sel] + at]
        out: npt.NDArray[np.bool_] = tv < v[sel] if strict else tv <= v[sel]
        return out

    if guess is not None:
        a = np.clip(guess, 0, k1).astype(np.int64)
        for step in (-1, 1):  # down while table[a - 1] is not below, up while table[a] is
            sel = np.arange(row.size)
            while sel.size:
                if step < 0:
                    sel = sel[a[sel] > 0]
                    move = ~below(a[sel] - 1, sel)
                else:
                    sel = sel[a[sel] < k1]
                    move = below(a[sel], sel)
                sel = sel[move]
                a[sel] += step
        return a
    lo = np.zeros(row.size, dtype=np.int64)
    hi = np.full(row.size, k1, dtype=np.int64)
    sel = np.arange(row.size)
    while sel.size:
        mid = (lo[sel] + hi[sel]) >> 1
        right = below(mid, sel)
        lo[sel[right]] = mid[right] + 1
        hi[sel[~right]] = mid[~right]
        sel = sel[lo[sel] < hi[sel]]
    return lo
