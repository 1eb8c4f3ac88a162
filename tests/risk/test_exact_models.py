"""The exact twin's heavier models against independent computations (issue 17).

Each model's outcome probabilities for a small portfolio are computed independently by
enumerating all outcomes and integrating over the factors with scipy's adaptive
``quad_vec`` (a different algorithm from kamsim's nested Gauss–Kronrod panels), plus
closed forms where they exist (pairwise joint churn from scipy's bivariate normal and t
CDFs) and limits (``nu -> inf`` gives the Gaussian copula).

Tolerances: the reference integrals are asked for 1e-11 absolute; kamsim's CDF must
agree within its own reported ``integration_error`` plus 1e-9 (the references' error, 2e-9),
and closed-form moments within 1e-7. Partial churn is checked on an exact lattice against
a direct per-account convolution (numpy.convolve) to 1e-12.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from kamsim.exceptions import AssumptionError
from kamsim.model import ChurnAssumptions
from kamsim.model.copulas import Factor, double_t_cdf, double_t_thresholds, t_scale
from kamsim.risk.exact import loss_distribution, loss_distribution_from_arrays
from tests.risk.test_exact import make_scenario, pmf_on_support

W = np.array([6.0, 4.0, 3.0, 2.0, 1.0])
Q = np.array([0.05, 0.1, 0.2, 0.15, 0.3])
X = np.array(list(itertools.product([0, 1], repeat=W.size)), dtype=float)


def outcome_probs(cond):
    """Outcome probabilities (rows of X) given conditional churn probabilities (n,)."""
    return np.prod(np.where(X == 1, cond, 1 - cond), axis=1)


def reference_pmf(d, prob):
    return pmf_on_support(d, X @ W, prob)


def check_cdf(d, want):
    got = np.cumsum(d.pmf)
    assert np.max(np.abs(got - np.cumsum(want))) <= d.integration_error + 2e-9


# ---------------------------------------------------------------------------------------
# Student-t copula
# ---------------------------------------------------------------------------------------
def t_reference(rho, nu):
    """quad_vec over the chi-square's probability, 120 Gauss-Hermite nodes over Z."""
    c = stats.t.ppf(Q, nu)
    a, b = np.sqrt(rho), np.sqrt(1 - rho)
    zs, zw = np.polynomial.hermite_e.hermegauss(120)
    zw = zw / zw.sum()

    def over_s(us):
        g = np.sqrt(stats.chi2.ppf(us, nu) / nu)
        cond = stats.norm.cdf((c[None, :] * g - a * zs[:, None]) / b)
        return zw @ np.prod(np.where(X[None] == 1, cond[:, None, :], 1 - cond[:, None, :]),
                            axis=2)

    return integrate.quad_vec(over_s, 0, 1, epsabs=1e-11)[0]


@pytest.mark.parametrize(("rho", "nu"), [(0.3, 4.0), (0.0, 3.0), (0.6, 10.0)])
def test_t_copula_matches_enumeration(rho, nu):
    d = loss_distribution_from_arrays(W, Q, correlations=rho, copula="t", nu=nu)
    assert d.copula == "t"
    assert d.converged
    prob = t_reference(rho, nu)
    assert prob.sum() == pytest.approx(1.0, abs=1e-9)
    check_cdf(d, reference_pmf(d, prob))


def test_t_copula_pairwise_joint_churn_is_bivariate_t():
    rho, nu = 0.3, 4.0
    d = loss_distribution_from_arrays([1.0, 2.0], Q[:2], correlations=rho, copula="t",
                                      nu=nu, step=1.0)
    c = stats.t.ppf(Q[:2], nu)
    joint = stats.multivariate_t(loc=[0, 0], shape=[[1, rho], [rho, 1]], df=nu).cdf(
        c, maxpts=4_000_000, random_state=0)
    assert d.pmf[3] == pytest.approx(joint, abs=1e-6)  # both lost: loss 3
    assert d.pmf[1] + d.pmf[3] == pytest.approx(Q[0], abs=1e-9)


def test_t_copula_tends_to_gaussian():
    g = loss_distribution_from_arrays(W, Q, correlations=0.3)
    t = loss_distribution_from_arrays(W, Q, correlations=0.3, copula="t", nu=1e8)
    np.testing.assert_allclose(t.pmf, g.pmf, atol=1e-6)
    inf = loss_distribution_from_arrays(W, Q, correlations=0.3, copula="t", nu=np.inf)
    np.testing.assert_array_equal(inf.pmf, g.pmf)


def test_t_copula_has_fatter_joint_tail_than_gaussian():
    g = loss_distribution_from_arrays(W, Q, correlations=0.2)
    t = loss_distribution_from_arrays(W, Q, correlations=0.2, copula="t", nu=3.0)
    assert t.pmf[-1] > 2.5 * g.pmf[-1]  # all five lost together
    assert t.mean == pytest.approx(g.mean, abs=1e-8)


# ---------------------------------------------------------------------------------------
# double-t (Hull and White)
# ---------------------------------------------------------------------------------------
def test_double_t_cdf_matches_direct_integration():
    a, nu, nu_e = 0.6, 4.0, 6.0
    b = np.sqrt(1 - a * a)
    sf, se = t_scale(nu), t_scale(nu_e)
    for x in (-3.0, -1.0, 0.4):
        want = integrate.quad(lambda t, x=x: stats.t.pdf(t, nu)
                              * stats.t.cdf((x - a * sf * t) / (b * se), nu_e),
                              -np.inf, np.inf, epsabs=1e-13)[0]
        assert float(double_t_cdf(x, a, nu, nu_e)) == pytest.approx(want, abs=1e-11)


@pytest.mark.parametrize(("a", "nu", "nu_e"), [(0.45, 4.0, 4.0), (0.9, 3.0, 8.0),
                                              (0.05, 5.0, 3.0)])
def test_double_t_thresholds_invert_the_cdf(a, nu, nu_e):
    # tabulated bracket + Illinois iterations: H(c) = q to H's own accuracy (~1e-14),
    # relatively in the far tails too
    q = np.array([1e-10, 1e-6, 0.01, 0.05, 0.2, 0.5, 0.9, 1 - 1e-6])
    c = double_t_thresholds(q, np.full(q.size, a), nu, nu_e)
    assert np.all(np.diff(c) > 0)
    h = double_t_cdf(c, a, nu, nu_e)
    np.testing.assert_allclose(h, q, rtol=1e-5, atol=5e-14)


@pytest.mark.parametrize(("rho", "nu", "nu_e"), [(0.3, 4.0, 4.0), (0.8, 3.0, 8.0)])
def test_double_t_matches_enumeration(rho, nu, nu_e):
    d = loss_distribution_from_arrays(W, Q, correlations=rho, copula="double_t", nu=nu,
                                      nu_idio=nu_e)
    a = np.sqrt(rho)
    b = np.sqrt(1 - rho)
    c = double_t_thresholds(Q, np.full(Q.size, a), nu, nu_e)
    np.testing.assert_allclose(double_t_cdf(c[0], a, nu, nu_e), Q[0], atol=1e-11)
    sf, se = t_scale(nu), t_scale(nu_e)

    def over_u(u):
        t = stats.t.ppf(u, nu)
        return outcome_probs(stats.t.cdf((c - a * sf * t) / (b * se), nu_e))

    prob = integrate.quad_vec(over_u, 0, 1, epsabs=1e-12, limit=400)[0]
    check_cdf(d, reference_pmf(d, prob))
    assert d.quadrature_error < 1e-8


def test_double_t_tends_to_gaussian():
    g = loss_distribution_from_arrays(W, Q, correlations=0.4)
    t = loss_distribution_from_arrays(W, Q, correlations=0.4, copula="double_t", nu=1e7)
    np.testing.assert_allclose(t.pmf, g.pmf, atol=1e-5)


# ---------------------------------------------------------------------------------------
# several factors
# ---------------------------------------------------------------------------------------
LOAD = np.array([  # global, group A, group B, a second common factor
    [0.4, 0.5, 0.0, 0.2],
    [0.4, 0.3, 0.0, 0.0],
    [0.3, 0.0, 0.6, 0.3],
    [0.5, 0.0, 0.4, 0.0],
    [0.2, 0.0, 0.0, 0.4],
])


def mf_reference(a, n_nodes=48):
    """Tensor-product Gauss-Hermite over every factor (no nesting), in chunks."""
    c = stats.norm.ppf(Q)
    b = np.sqrt(1 - np.sum(a * a, axis=1))
    z, wz = np.polynomial.hermite_e.hermegauss(n_nodes)
    wz = wz / wz.sum()
    k = a.shape[1]
    grid = np.array(list(itertools.product(range(n_nodes), repeat=k)))
    out = np.zeros(X.shape[0])
    for s in range(0, grid.shape[0], 20_000):
        g = grid[s:s + 20_000]
        wt = np.prod(wz[g], axis=1)
        cond = stats.norm.cdf((c[None, :] - z[g] @ a.T) / b[None, :])
        out += wt @ np.prod(np.where(X[None] == 1, cond[:, None, :], 1 - cond[:, None, :]),
                            axis=2)
    return out


def test_global_plus_group_factors_match_enumeration():
    a = LOAD[:, :3]  # group factors A, B nested inside the global one
    d = loss_distribution_from_arrays(W, Q, loadings=a)
    prob = mf_reference(a)
    check_cdf(d, reference_pmf(d, prob))


def test_two_common_factors_and_groups_match_enumeration():
    d = loss_distribution_from_arrays(W, Q, loadings=LOAD)
    prob = mf_reference(LOAD, n_nodes=24)
    want = reference_pmf(d, prob)
    assert np.max(np.abs(np.cumsum(d.pmf) - np.cumsum(want))) <= 1e-6  # reference: 24^4


def test_multi_factor_pairwise_moments_closed_form():
    d = loss_distribution_from_arrays(W, Q, loadings=LOAD[:, :3])
    a = LOAD[:, :3]
    r = a @ a.T
    c = stats.norm.ppf(Q)
    cov = np.diag(Q * (1 - Q))
    for i, j in itertools.combinations(range(Q.size), 2):
        joint = stats.multivariate_normal(cov=[[1, r[i, j]], [r[i, j], 1]]).cdf([c[i], c[j]])
        cov[i, j] = cov[j, i] = joint - Q[i] * Q[j]
    assert d.mean == pytest.approx(Q @ W, abs=1e-9)
    assert d.variance == pytest.approx(W @ cov @ W, rel=1e-6)


def test_one_factor_as_loadings_is_todays_result():
    a = loss_distribution_from_arrays(W, Q, correlations=0.3)
    b = loss_distribution_from_arrays(W, Q, loadings=np.full((5, 1), np.sqrt(0.3)))
    np.testing.assert_array_equal(a.pmf, b.pmf)


def test_scenario_factors_and_validation():
    sc = make_scenario([5.0, 3.0, 2.0, 4.0], 0.2, correlation=0.2,
                       segment=["a", "a", "b", "b"])
    sc = sc.with_churn(factors=(Factor(name="seg", by="segment", correlation=0.3),))
    a = sc.loading_matrix()
    assert sc.factor_names() == ["global", "seg[a]", "seg[b]"]
    np.testing.assert_allclose(a[:, 1], np.sqrt(0.3) * np.array([1, 1, 0, 0]))
    d = loss_distribution(sc, step=1.0)
    ref = loss_distribution_from_arrays([5.0, 3.0, 2.0, 4.0], sc.horizon_probs(),
                                        loadings=a, step=1.0)
    np.testing.assert_array_equal(d.pmf, ref.pmf)
    with pytest.raises(AssumptionError, match=r"total correlation of 1\.1"):
        sc.with_churn(factors=(Factor(name="seg", by="segment", correlation=0.9),))
    with pytest.raises(AssumptionError, match="no 'region' column"):
        sc.with_churn(factors=(Factor(name="r", by="region", correlation=0.1),))
    with pytest.raises(AssumptionError, match="total loading"):
        loss_distribution_from_arrays([1.0, 1.0], [0.1, 0.1], loadings=[[0.8, 0.7], [0, 0]])


def tensor_reference(w, q, a, n_nodes):
    """Brute force over all 2^n outcomes, tensor Gauss-Hermite over every factor."""
    x = np.array(list(itertools.product([0, 1], repeat=len(w))), dtype=float)
    c = stats.norm.ppf(q)
    b = np.sqrt(1 - np.sum(a * a, axis=1))
    z, wz = np.polynomial.hermite_e.hermegauss(n_nodes)
    wz = wz / wz.sum()
    grid = np.array(list(itertools.product(range(n_nodes), repeat=a.shape[1])))
    out = np.zeros(x.shape[0])
    for s in range(0, grid.shape[0], 20_000):
        g = grid[s:s + 20_000]
        cond = stats.norm.cdf((c[None, :] - z[g] @ a.T) / b[None, :])
        out += np.prod(wz[g], axis=1) @ np.prod(
            np.where(x[None] == 1, cond[:, None, :], 1 - cond[:, None, :]), axis=2)
    return x @ np.asarray(w, float), out


SEG = np.array([0, 0, 1, 1, 1])
REG = np.array([0, 1, 0, 1, 0])


def crossed_loadings(region_load):
    a = np.zeros((5, 5))  # global, segment 0, segment 1, region 0, region 1
    a[:, 0] = 0.35
    a[np.arange(5), 1 + SEG] = [0.4, 0.4, 0.3, 0.3, 0.3]
    a[np.arange(5), 3 + REG] = region_load
    return a


@pytest.mark.parametrize(("region_load", "outer"), [
    (0.35, 2),  # uniform: global + 2 regions rotate into 2 outer dimensions
    ([0.3, 0.45, 0.35, 0.25, 0.4], 3),  # per-account region loadings: 3 outer dimensions
])
def test_crossed_factors_match_enumeration(region_load, outer):
    a = crossed_loadings(region_load)
    d = loss_distribution_from_arrays(W, Q, loadings=a)
    assert len(d.factor_dimensions) == outer
    assert d.converged
    loss, prob = tensor_reference(W, Q, a, 14)  # 14^5 nodes
    want = pmf_on_support(d, loss, prob)
    assert prob.sum() == pytest.approx(1.0, abs=1e-12)
    # the reference's own error (14 nodes per factor) is ~1e-7; kamsim states < 1e-7
    assert np.max(np.abs(np.cumsum(d.pmf) - np.cumsum(want))) <= 1e-6
    assert d.mean == pytest.approx(Q @ W, abs=1e-9)


def test_uniform_groups_and_dependent_common_factors_match_enumeration():
    # groups whose accounts share loadings are tabulated once (one number s per block);
    # a second common factor with a uniform loading is the global one rotated: both are
    # exact, checked against 2^5 outcomes x 40^3 tensor Gauss-Hermite nodes (error of
    # the reference far below 1e-9 at these loadings)
    a = np.zeros((5, 4))
    a[:, 0] = 0.3
    a[:2, 1] = 0.4
    a[2:, 2] = 0.35
    a[:, 3] = 0.2
    d = loss_distribution_from_arrays(W, Q, loadings=a)
    assert d.factor_dimensions == ("factor 0",)  # the two common factors are one
    assert d.converged
    comb = a[:, :3].copy()
    comb[:, 0] = np.hypot(0.3, 0.2)
    loss, prob = tensor_reference(W, Q, comb, 40)
    want = pmf_on_support(d, loss, prob)
    assert np.max(np.abs(np.cumsum(d.pmf) - np.cumsum(want))) <= d.integration_error + 1e-9


def test_crossed_factors_beyond_three_outer_dimensions_are_refused_clearly():
    n = 16
    seg = np.repeat([0, 1, 2, 3], 4)
    reg = np.tile([0, 1, 2, 3], 4)
    a = np.zeros((n, 9))
    a[:, 0] = 0.3
    a[np.arange(n), 1 + seg] = 0.3
    a[np.arange(n), 5 + reg] = 0.3
    with pytest.raises(AssumptionError, match="up to 3 outer dimensions"):
        loss_distribution_from_arrays(np.ones(n), np.full(n, 0.1), loadings=a)


# ---------------------------------------------------------------------------------------
# partial churn
# ---------------------------------------------------------------------------------------
def per_account_convolution(w, q_cond, partial, beta, step):
    """Loss pmf by convolving each account's own lattice distribution (numpy.convolve)."""
    f = np.ones(1)
    for wi, qi, pi in zip(w, q_cond, partial, strict=True):
        k = round(wi / step)
        g = np.zeros(k + 1)
        g[0] = 1 - qi
        g[k] += qi * (1 - pi)
        j = np.arange(k + 1)
        lo = np.clip((j - 0.5) * step / wi, 0, 1)
        hi = np.clip((j + 0.5) * step / wi, 0, 1)
        hi[-1] = 1.0
        g += qi * pi * (special.betainc(*beta, hi) - special.betainc(*beta, lo))
        f = np.convolve(f, g)
    return f


def test_partial_churn_independent_matches_direct_convolution():
    w = np.array([7.0, 5.0, 3.0, 2.0])
    q = np.array([0.2, 0.1, 0.3, 0.25])
    part = np.array([0.5, 0.0, 1.0, 0.3])
    d = loss_distribution_from_arrays(w, q, partial_probs=part, partial_beta=(2.0, 3.0),
                                      step=1.0)
    want = per_account_convolution(w, q, part, (2.0, 3.0), 1.0)
    np.testing.assert_allclose(d.pmf, want, atol=1e-12)
    assert d.error_bound == pytest.approx(0.5 * 3)  # three accounts can churn partly
    mean_true = float(np.sum(q * w * (1 - part * 0.6)))
    assert d.exact_mean == pytest.approx(mean_true)
    assert abs(d.mean - mean_true) <= d.error_bound


def test_partial_churn_correlated_matches_enumeration():
    w = np.array([7.0, 5.0, 3.0, 2.0])
    q = np.array([0.2, 0.1, 0.3, 0.25])
    part = np.array([0.5, 0.2, 1.0, 0.3])
    rho = 0.4
    d = loss_distribution_from_arrays(w, q, correlations=rho, partial_probs=part, step=1.0)
    c = stats.norm.ppf(q)

    def over_u(u):
        qz = stats.norm.cdf((c - np.sqrt(rho) * stats.norm.ppf(u)) / np.sqrt(1 - rho))
        return per_account_convolution(w, qz, part, (2.0, 3.0), 1.0)

    want = integrate.quad_vec(over_u, 0, 1, epsabs=1e-12)[0]
    assert np.max(np.abs(np.cumsum(d.pmf) - np.cumsum(want))) <= d.integration_error + 1e-9
    fft = loss_distribution_from_arrays(w, q, correlations=rho, partial_probs=part, step=1.0,
                                        method="fft")
    np.testing.assert_allclose(fft.pmf, d.pmf, atol=1e-13)


def test_partial_churn_negative_weights():
    w = np.array([4.0, -2.0, 3.0])
    q = np.array([0.3, 0.4, 0.2])
    part = np.array([0.5, 0.5, 0.0])
    d = loss_distribution_from_arrays(w, q, partial_probs=part, step=1.0)
    # reference: shift the negative account's distribution
    f = per_account_convolution(np.abs(w), q, part, (2.0, 3.0), 1.0)
    assert d.support[0] == -2.0
    assert d.pmf.sum() == pytest.approx(1.0)
    assert d.mean == pytest.approx(float(np.sum(q * w * (1 - part * 0.6))), abs=d.error_bound)
    assert f.size == d.pmf.size


# ---------------------------------------------------------------------------------------
# invariants (hypothesis)
# ---------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       copula=st.sampled_from(["gaussian", "t", "double_t"]), rho=st.floats(0.0, 0.9),
       nu=st.floats(2.5, 30.0), partial=st.floats(0.0, 1.0))
def test_invariants(n, seed, copula, rho, nu, partial):
    rng = np.random.default_rng(seed)
    w = rng.integers(1, 15, n).astype(float)
    q = rng.uniform(0.0, 0.6, n)
    d = loss_distribution_from_arrays(w, q, correlations=rho, copula=copula, nu=nu,
                                      partial_probs=partial, step=1.0)
    assert d.pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(d.pmf >= 0)
    # the marginals survive any copula: the mean is the exact one (up to the lattice)
    assert abs(d.mean - d.exact_mean) <= d.error_bound + 1e-6 * w.sum()
    assert d.quadrature_error < 1e-7
    # more churn never lowers the loss (first-order dominance), under every copula
    more = loss_distribution_from_arrays(w, np.minimum(q * 1.3 + 0.01, 1.0),
                                         correlations=rho, copula=copula, nu=nu,
                                         partial_probs=partial, step=1.0)
    assert np.all(more.cdf(d.support) <= d.cdf(d.support) + 1e-7)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"nu": 4.0}, "nu is used by copula='t' or 'double_t' only"),
    ({"copula": "t", "nu_idio": 4.0, "nu": 4.0}, "nu_idio is used by"),
    ({"copula": "t"}, "needs nu"),
    ({"copula": "double_t", "nu": 2.0}, "must be > 2"),
    ({"copula": "magic"}, "unknown copula"),
    ({"copula": "double_t", "nu": 4.0,
      "factors": (Factor(name="s", correlation=0.1),)}, "one factor"),
])
def test_churn_assumptions_refuse_inconsistent_copulas(kwargs, match):
    with pytest.raises(AssumptionError, match=match):
        ChurnAssumptions(**kwargs)
