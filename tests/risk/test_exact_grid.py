"""The exact twin's even-grid (trapezoid) rule over the factor: its stated error is honest.

For smooth integrands (shared-shock correlations well below 1) the exact twin integrates
over the factor's normal score with the trapezoid rule and estimates its error from the
rule's own sub-grids (:func:`kamsim._util.quadrature.grid_error`). Here the result is
compared with an independent reference: the conditional distributions (a direct
recursion written here) integrated with scipy's ``quad_vec`` (adaptive Gauss–Kronrod,
asked for 1e-13) over the factor, and for the t copula over both the mixing variable and
the factor. Tolerance: the CDF must agree within the twin's own ``integration_error``
(plus 1e-12 for the reference); the twin's estimate must stay below ``tol``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special, stats

from kamsim._util.quadrature import integrate_normal_grid
from kamsim.risk.exact import loss_distribution_from_arrays

N = 150
RNG = np.random.default_rng(2026)
W = np.rint(RNG.lognormal(1.0, 1.0, N))  # whole-number weights: an exact lattice
W[W < 1] = 1
Q = RNG.uniform(0.01, 0.3, N)


def conditional_pmf(p: np.ndarray, w: np.ndarray = W) -> np.ndarray:
    """Distributions of sum_i w_i X_i, X_i ~ Bernoulli(p[..., i]) independent (recursion)."""
    k = w.astype(np.int64)
    p = np.atleast_2d(p)
    f = np.zeros((p.shape[0], int(k.sum()) + 1))
    f[:, 0] = 1.0
    for i, ki in enumerate(k):
        pi = p[:, i:i + 1]
        f[:, ki:] = f[:, ki:] * (1 - pi) + f[:, :-ki] * pi
        f[:, :ki] *= 1 - pi
    return f


def gaussian_reference(rho: float) -> np.ndarray:
    c = special.ndtri(Q)

    def fun(z: float) -> np.ndarray:
        p = special.ndtr((c - np.sqrt(rho) * z) / np.sqrt(1 - rho))
        return stats.norm.pdf(z) * conditional_pmf(p)[0]

    return integrate.quad_vec(fun, -9.0, 9.0, epsabs=1e-13, points=(-3, 0, 3))[0]


@pytest.mark.parametrize("rho", [0.05, 0.2, 0.5])
def test_grid_rule_within_its_stated_error(rho):
    d = loss_distribution_from_arrays(W, Q, correlations=rho, step=1.0)
    assert d.error_bound == 0.0
    assert d.converged
    assert d.integration_error <= 1e-7
    want = gaussian_reference(rho)
    got_cdf = np.cumsum(d.pmf)
    err = np.max(np.abs(got_cdf - np.cumsum(want / want.sum())))
    assert err <= d.integration_error + 1e-12
    # the marginal churn probabilities of the rule
    assert d.quadrature_error < 1e-9


def test_grid_rule_t_copula_within_its_stated_error():
    # 40 accounts; the reference: quad_vec over the chi-square's probability, 200
    # Gauss-Hermite nodes over the factor (accurate to ~1e-13 at this size)
    n, rho, nu = 40, 0.3, 4.0
    w, q = W[:n], Q[:n]
    d = loss_distribution_from_arrays(w, q, correlations=rho, copula="t", nu=nu, step=1.0)
    assert d.converged
    c = stats.t.ppf(q, nu)
    zs, zw = np.polynomial.hermite_e.hermegauss(200)
    zw = zw / zw.sum()

    def over_u(u: float) -> np.ndarray:
        g = np.sqrt(stats.chi2.ppf(u, nu) / nu)
        p = special.ndtr((c[None, :] * g - np.sqrt(rho) * zs[:, None]) / np.sqrt(1 - rho))
        return zw @ conditional_pmf(p, w)

    want = integrate.quad_vec(over_u, 0.0, 1.0, epsabs=1e-12)[0]
    err = np.max(np.abs(np.cumsum(d.pmf) - np.cumsum(want / want.sum())))
    assert err <= d.integration_error + 1e-10


def test_grid_halves_until_the_estimate_meets_tol():
    # a coarse start on a narrow step: the estimate forces refinement, and is honest
    s = 0.3
    r = integrate_normal_grid(lambda y: special.ndtr((0.5 - y) / s)[:, None], h=1.0,
                              tol=1e-9, norm="max")
    exact = special.ndtr(0.5 / np.sqrt(1 + s * s))
    assert r.converged
    assert r.points.size > 13  # it refined
    assert abs(float(r.integral[0]) - exact) <= r.error
