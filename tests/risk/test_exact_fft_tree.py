"""The FFT tree's faster recursion (odds form, lattice-major) against the exact recursion.

The FFT tree runs the recursion within its groups in odds form (``f + r shift(f)``,
``r = p / (1 - p)`` capped at ``1e15``) and merges the groups by FFT. Its stated error per
conditional distribution is the total-variation bound of the capped odds
(``_fft_tree_error``); FFT rounding adds about ``1e-15`` per point. The reference is the
plain recursion ``_dp`` (relative accuracy, no cap), on the same conditional
probabilities. Tolerance: stated error + ``1e-12`` in the CDF norm.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from kamsim.risk import exact
from kamsim.risk.exact import loss_distribution_from_arrays

FFT_ROUNDING = 1e-12


def _cond(q: np.ndarray, rho: float, y: np.ndarray) -> np.ndarray:
    c = special.ndtri(q)
    return np.asarray(special.ndtr((c[None, :] - np.sqrt(rho) * y[:, None])
                                   / np.sqrt(1.0 - rho)), dtype=np.float64)


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(20_261_201)
    n = 1000
    w = rng.lognormal(0.0, 1.3, n)
    q = rng.uniform(0.01, 0.3, n)
    w18 = rng.lognormal(0.0, 1.0, 300)
    w18[0] = 0.18 / 0.82 * float(w18[1:].sum())  # one account is 18 % of revenue
    q18 = rng.uniform(0.02, 0.2, 300)
    return {"1,000 accounts rho 0.2": (w, q, 0.2),
            "1,000 accounts rho 0.5": (w, q, 0.5),
            "one account 18 % rho 0.3": (w18, q18, 0.3),
            "near-certain churn rho 0.9": (w[:200], np.full(200, 0.7), 0.9)}


@pytest.mark.parametrize("name", list(_cases()))
def test_conditional_distributions_match_the_recursion(name: str) -> None:
    w, q, rho = _cases()[name]
    h = float(w.sum()) / 4999.0
    k = np.rint(w / h).astype(np.int64)
    y = np.linspace(-7.0, 7.0, 41)  # far tails included: probabilities reach 0 and 1
    p = _cond(q, rho, y)
    f, err = exact._node_distributions_err(k, p, "fft")
    ref = exact._dp(k, p)
    ref /= ref.sum(axis=1, keepdims=True)
    gap = np.max(np.abs(np.cumsum(f - ref, axis=1)), axis=1)
    assert np.all(err >= 0)
    assert np.all(gap <= err + FFT_ROUNDING), float(np.max(gap - err))
    assert np.allclose(f.sum(axis=1), 1.0, atol=1e-14)


def test_capped_odds_are_in_the_stated_error() -> None:
    # conditional probabilities of exactly 1 (far out on the factor): the cap moves them
    # by 1e-15 each, which the stated error covers
    k = np.array([3, 5, 7, 2], dtype=np.int64)
    p = np.array([[1.0, 1.0, 0.5, 1.0], [0.2, 0.3, 0.4, 0.5]])
    f, err = exact._node_distributions_err(k, p, "fft")
    assert err[0] == pytest.approx(3e-15, rel=0.1)
    assert err[1] == 0.0
    ref = exact._dp(k, p)
    gap = np.max(np.abs(np.cumsum(f - ref, axis=1)), axis=1)
    assert np.all(gap <= err + FFT_ROUNDING)
    assert f[0, 10] == pytest.approx(0.5, abs=1e-14)  # 3 + 5 + 2 always, 7 half the time
    assert f[0, 17] == pytest.approx(0.5, abs=1e-14)


@pytest.mark.parametrize("name", ["1,000 accounts rho 0.2", "one account 18 % rho 0.3"])
def test_integrated_fft_matches_integrated_recursion(name: str) -> None:
    w, q, rho = _cases()[name]
    fft = loss_distribution_from_arrays(w, q, correlations=rho, max_points=5000,
                                        method="fft")
    dp = loss_distribution_from_arrays(w, q, correlations=rho, max_points=5000,
                                       method="dp")
    assert fft.method == "fft"
    assert dp.method == "dp"
    np.testing.assert_array_equal(fft.support, dp.support)
    gap = float(np.max(np.abs(np.cumsum(fft.pmf - dp.pmf))))
    # same nodes, so the rule's own error cancels; what is left is the tree's
    assert gap <= 1e-11
    assert fft.integration_error == pytest.approx(dp.integration_error, rel=1e-3)
