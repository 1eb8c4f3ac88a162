"""The replacement process's random numbers: per-level counts by inversion, per-path streams.

Each path's replacement draws come from its own SplitMix64 counters
(:func:`kamsim.engine.replacement.path_draws`): one draw per month of effort gives the
opportunities opened (Poisson or fixed) and won (Binomial), one draw per win its cycle and
size. Checked here as statistics against the exact distributions (fixed seeds, stated
tolerances), and the common-random-number properties as invariants.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from kamsim.engine import replacement as R
from kamsim.model import ReplacementAssumptions


def params(**kw: object) -> R.ReplacementParams:
    base: dict[str, object] = dict(opportunities_per_month=25.0, win_rate=0.3,
                                   response_lag_months=0, cycle_mean_months=4.0,
                                   cycle_cv=0.5, account_size="lognormal",
                                   size_median=1.0, size_sigma=0.0, ramp_shape="none",
                                   ramp_months=0)
    base.update(kw)
    return R.replacement_params(ReplacementAssumptions(**base))  # type: ignore[arg-type]


def keys(n: int, seed: int = 0) -> np.ndarray:
    out = np.random.default_rng(seed).bit_generator.random_raw(n)
    assert isinstance(out, np.ndarray)
    return out


def test_splitmix64_reference_values() -> None:
    # SplitMix64 seeded with 0 (Steele, Lea & Flood 2014; reference C by Vigna)
    want = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    got = R.path_draws(np.zeros(3, dtype=np.uint64), np.arange(1, 4, dtype=np.uint64))
    assert [int(x) for x in got] == want


@pytest.mark.parametrize("cdf", [
    special.pdtr(np.arange(80.0), 25.0),
    special.pdtr(np.arange(30.0), 0.2),
    special.bdtr(np.arange(41.0), 40, 0.3),
    special.bdtr(np.arange(6.0), 5, 0.999),
])
def test_inversion_thresholds_give_the_cdf_within_half_a_step(cdf: np.ndarray) -> None:
    """P(X <= k) over all 2^32 draws is within 2^-33 of F(k) (exact, by counting)."""
    lo, t = R.inversion_thresholds(cdf)
    full = np.concatenate([np.zeros(lo), t.astype(np.float64)])  # thresholds by k
    # X <= k  iff  fewer than k + 1 thresholds are <= r  iff  r < full[k]
    k = np.arange(min(full.size, cdf.size))
    share = full[k] / 2.0**32
    assert np.max(np.abs(share - cdf[k])) <= 2.0**-33 + 1e-15
    # beyond the table every draw is counted: F(k) >= 1 - 2^-33 there
    assert np.all(cdf[full.size:] >= 1 - 2.0**-33)


def test_opened_and_won_per_level_follow_poisson_and_binomial() -> None:
    p = params()
    n, levels = 40_000, 6
    admitted, won = R.level_counts(p, keys(n, 1), levels)
    o, w = admitted.ravel(), won.ravel()
    # opened: Poisson(25), chi-square over the bins with >= 5 expected
    for sample, pmf in ((o, lambda k: stats.poisson.pmf(k, 25.0)),
                        (w, lambda k: stats.poisson.pmf(k, 7.5))):  # thinned: Poisson(7.5)
        kmax = int(sample.max())
        obs = np.bincount(sample, minlength=kmax + 1).astype(float)
        exp = pmf(np.arange(kmax + 1)) * sample.size
        keep = exp >= 5
        chi2 = float(np.sum((obs[keep] - exp[keep]) ** 2 / exp[keep]))
        dof = int(keep.sum()) - 1
        assert stats.chi2.sf(chi2, dof) > 1e-4
    # wins given opened: Binomial(opened, 0.3) -> mean and variance of w - 0.3 o
    resid = w - 0.3 * o
    assert abs(resid.mean()) < 4 * math.sqrt(0.21 * 25 / o.size)
    assert abs(resid.var() / (0.21 * 25) - 1) < 0.05
    # levels and paths are independent of each other
    c = np.corrcoef(admitted[:, :-1].ravel(), admitted[:, 1:].ravel())[0, 1]
    assert abs(c) < 4 / math.sqrt(admitted[:, 1:].size)


def test_the_cap_admits_exactly_the_first_opportunities() -> None:
    free = params()
    capped = params(max_opportunities=60)
    k = keys(5_000, 2)
    o_free, w_free = R.level_counts(free, k, 8)
    o_cap, w_cap = R.level_counts(capped, k, 8)
    before = np.cumsum(o_free, axis=1) - o_free
    assert np.array_equal(o_cap, np.clip(60 - before, 0, o_free))
    assert np.all(o_cap.sum(axis=1) == np.minimum(o_free.sum(axis=1), 60))
    assert np.all(w_cap <= w_free)  # fewer admitted never wins more (same draws)
    assert np.all(w_cap <= o_cap)


def test_fixed_arrivals_open_the_jth_opportunity_at_level_ceil_j_over_rate() -> None:
    p = params(arrivals="fixed", opportunities_per_month=2.5, win_rate=1.0)
    o, w = R.level_counts(p, keys(3), 6)
    want = [math.ceil(j / 2.5) for j in range(1, 100)]
    counts = [sum(1 for x in want if x == e) for e in range(1, 7)]
    assert o.tolist() == [counts] * 3
    assert np.array_equal(w, o)  # win rate 1: every opportunity won


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(0.5, 60.0), more=st.floats(1.0, 3.0), win=st.floats(0.05, 0.95),
       better=st.floats(0.0, 0.5), seed=st.integers(0, 2**32 - 1))
def test_more_capacity_or_a_higher_win_rate_never_opens_or_wins_less(
        rate: float, more: float, win: float, better: float, seed: int) -> None:
    k = keys(300, seed)
    o1, w1 = R.level_counts(params(opportunities_per_month=rate, win_rate=win), k, 5)
    o2, w2 = R.level_counts(params(opportunities_per_month=rate * more, win_rate=win), k, 5)
    o3, w3 = R.level_counts(params(opportunities_per_month=rate,
                                   win_rate=min(win + better, 1.0)), k, 5)
    assert np.all(o2 >= o1)
    assert np.all(w2 >= w1)
    assert np.array_equal(o3, o1)
    assert np.all(w3 >= w1)


def test_expected_wins_by_month_match_the_exact_formula() -> None:
    """A loss never covered: effort every month, so E[wins ordered by month m] is exact.

    Level ``e`` is worked in month ``t = e + lag`` and wins ``rate x win_rate`` in
    expectation, each ordering ``max(1, ceil(C))`` months later.
    """
    lag, h = 1, 18
    p = params(response_lag_months=lag, cycle_mean_months=3.0, cycle_cv=0.7)
    n = 20_000
    out = R.replace_lost(p, np.full((n, h), 1e15), np.random.default_rng(7))
    got = out.wins.sum(axis=0).cumsum() / n  # mean wins ordered by month m
    k = 1.0 / 0.7**2
    m = np.arange(h + 1)
    cyc_cdf = special.gammainc(k, np.maximum(m, 0) * k / 3.0)  # P(ceil C <= m) = F(m)
    cyc_cdf[0] = 0.0  # ceil(C) >= 1
    want = np.zeros(h)
    for e in range(1, h - lag + 1):
        t = e + lag
        for mm in range(t + 1, h + 1):
            want[mm - 1] += 7.5 * cyc_cdf[mm - t]
    var = want  # Poisson counts: the variance of the total is its mean (sizes aside)
    z = (got - want) / np.sqrt(np.maximum(var, 1e-12) / n)
    assert np.all(np.abs(z[want > 0]) < 4.5)
    assert np.all(got[want == 0] == 0)
    assert abs(out.opportunities.mean() / ((h - lag) * 25.0) - 1) < 0.01


@pytest.mark.parametrize(("mean", "cv", "gamma", "horizon"), [
    (4.0, 0.5, True, 24),     # the sample: steps spread over the buckets
    (1.2, 3.0, False, 120),   # heavy tail: dozens of steps crowd the top buckets
    (30.0, 0.05, True, 60),   # a sharp cycle: most steps at 0 or 2^32
])
def test_the_kernels_cycle_lookup_counts_the_steps_below_every_draw(
        mean: float, cv: float, gamma: bool, horizon: int) -> None:
    """``first[r >> 20]`` counted on while ``steps[m] < r`` is ``searchsorted(steps, r)``.

    This is the compiled kernel's lookup (``cycle_months`` in ``_ckernel.c``), emulated
    step by step: at every step boundary and its neighbours, every bucket edge and
    200,000 random draws. The sentinel stops the count after the last step.
    """
    steps = R.cycle_table(mean, cv, gamma, horizon)[0]
    padded, first = R._kernel_cycle_table(mean, cv, gamma, horizon)
    assert padded.size == steps.size + 1
    assert padded[-1] == np.uint64(2**64 - 1)
    assert first.size == 4096
    assert first.dtype == np.int16
    edges = np.arange(4096, dtype=np.int64) << 20
    inner = steps[steps < 2**32].astype(np.int64)
    r = np.unique(np.clip(np.concatenate([
        inner - 1, inner, inner + 1, edges, edges - 1, [0, 2**32 - 1],
        np.random.default_rng(3).integers(0, 2**32, 200_000)]), 0, 2**32 - 1)
    ).astype(np.uint64)
    m = first[(r >> np.uint64(20)).astype(np.int64)].astype(np.int64)
    for _ in range(padded.size):  # the kernel's while loop, for every draw at once
        step = padded[m] < r
        if not step.any():
            break
        m += step
    np.testing.assert_array_equal(m, np.searchsorted(steps, r, side="left"))
