"""Monte Carlo churn engine: closed forms, reproducibility, properties, errors.

Statistical tests use fixed seeds (so they are deterministic) and tolerances of 5 standard
errors computed from the samples themselves, so a correct engine fails them with
probability below 1e-6 for a fresh seed; a biased one (e.g. an off-by-one month) fails.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kamsim import AssumptionError
from kamsim.engine import BLOCK_SIZE, simulate
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio import Portfolio
from kamsim.portfolio.datasets import synthetic_portfolio


def small_portfolio(rev, p, margin=0.3, segment=None):
    df = pd.DataFrame({"account_id": [f"a{i}" for i in range(len(rev))],
                       "revenue": np.asarray(rev, float), "churn_prob": p,
                       "gross_margin": margin})
    if segment is not None:
        df["segment"] = segment
    return Portfolio(df)


@pytest.fixture(scope="module")
def scen():
    pf = synthetic_portfolio(200, rng=5)
    return Scenario(portfolio=pf, churn=ChurnAssumptions(), horizon_months=24,
                    fixed_costs=0.85 * pf.gross_profit.sum())


def five_se(samples):
    return 5 * samples.std(ddof=1) / np.sqrt(samples.size)


def test_mean_and_variance_match_closed_forms(scen):
    res = simulate(scen, n_paths=60_000, rng=11)
    x = res.losses("run_rate_lost")
    q = scen.horizon_probs()
    w = scen.portfolio.revenue
    mean, var = float(np.sum(q * w)), float(np.sum(q * (1 - q) * w * w))
    assert abs(x.mean() - mean) < five_se(x)
    m4 = np.mean((x - x.mean()) ** 4)
    se_var = np.sqrt((m4 - x.var() ** 2) / x.size)
    assert abs(x.var(ddof=1) - var) < 5 * se_var
    # per-account loss frequency equals q_i
    freq = res.account_table()["simulated_loss_freq"].to_numpy()
    se = np.sqrt(q * (1 - q) / res.n_paths)
    assert np.all(np.abs(freq - q) < 5 * se + 1e-12)


def test_single_account_is_bernoulli_with_geometric_month():
    pf = small_portfolio([1200.0], [0.3])
    sc = Scenario(portfolio=pf, churn=ChurnAssumptions(), horizon_months=12)
    res = simulate(sc, n_paths=50_000, rng=2)
    x = res.losses("run_rate_lost")
    assert set(np.unique(x)) <= {0.0, 1200.0}
    assert abs(np.mean(x > 0) - 0.3) < 5 * np.sqrt(0.3 * 0.7 / x.size)
    # revenue forgone: lost from the decision month on; month ~ geometric with hazard h
    h = 1 - 0.7 ** (1 / 12)
    months = np.arange(1, 13)
    pm = (1 - h) ** (months - 1) * h
    expected = float(np.sum(pm * (12 - months + 1) * 100.0))
    y = res.losses("revenue_lost")
    assert abs(y.mean() - expected) < five_se(y)


def test_notice_period_delays_revenue_loss():
    pf = small_portfolio([1200.0], [0.5])
    base = Scenario(portfolio=pf, churn=ChurnAssumptions(), horizon_months=12)
    late = base.with_churn(notice_months=3)
    q = late.horizon_probs()[0]
    assert q == pytest.approx(1 - 0.5 ** (9 / 12))
    res = simulate(late, n_paths=40_000, rng=3)
    x = res.losses("run_rate_lost")
    assert abs(np.mean(x > 0) - q) < 5 * np.sqrt(q * (1 - q) / x.size)


def test_correlation_raises_tail_not_mean(scen):
    corr = scen.with_churn(correlation=0.3)
    a = simulate(scen, n_paths=40_000, rng=4).losses()
    b = simulate(corr, n_paths=40_000, rng=4).losses()
    assert abs(a.mean() - b.mean()) < 5 * np.hypot(a.std(), b.std()) / np.sqrt(a.size)
    assert np.quantile(b, 0.99) > np.quantile(a, 0.99) * 1.05


def test_correlated_pair_matches_bivariate_normal():
    pf = small_portfolio([1.0, 1.0], [0.2, 0.2])
    sc = Scenario(portfolio=pf, churn=ChurnAssumptions(correlation=0.4), horizon_months=12)
    res = simulate(sc, n_paths=100_000, rng=8)
    both = np.mean(res.per_path["accounts_lost"] == 2)
    t = stats.norm.ppf(0.2)
    p2 = stats.multivariate_normal(cov=[[1, 0.4], [0.4, 1]]).cdf([t, t])
    assert abs(both - p2) < 5 * np.sqrt(p2 * (1 - p2) / res.n_paths)


def test_partial_losses_use_beta_fraction():
    pf = small_portfolio([1000.0] * 5, [0.5] * 5)
    sc = Scenario(portfolio=pf, churn=ChurnAssumptions(partial_prob=1.0,
                                                        partial_beta=(2.0, 3.0)),
                  horizon_months=12)
    res = simulate(sc, n_paths=20_000, rng=9)
    x = res.losses()
    assert np.all(x <= 5000.0)
    assert abs(x.mean() - 5 * 0.5 * 0.4 * 1000.0) < five_se(x)
    assert np.all(res.per_path["partial_losses"] == res.per_path["accounts_lost"])


def test_losses_never_exceed_revenue_and_break_even(scen):
    res = simulate(scen.with_churn(level=3.0), n_paths=5_000, rng=1)
    total = scen.portfolio.total_revenue
    assert res.losses("run_rate_lost").max() <= total * (1 + 1e-12)
    assert res.losses("revenue_lost").max() <= total * 2 + 1e-6  # 24 months
    df = res.to_frame()
    assert str(df["first_month_below_break_even"].dtype) == "Int64"
    p = res.prob_below_break_even()
    assert p == pytest.approx(df["first_month_below_break_even"].notna().mean())


@pytest.mark.parametrize("chunk", [1, BLOCK_SIZE, 3 * BLOCK_SIZE + 5, 10**6])
def test_same_seed_same_result_any_chunk(scen, chunk):
    ref = simulate(scen.with_churn(correlation=0.2, partial_prob=0.3), n_paths=9_000,
                   rng=123)
    res = simulate(scen.with_churn(correlation=0.2, partial_prob=0.3), n_paths=9_000,
                   rng=123, chunk_size=chunk)
    pd.testing.assert_frame_equal(ref.to_frame(), res.to_frame(), check_exact=True)
    np.testing.assert_array_equal(ref.monthly_revenue_hist, res.monthly_revenue_hist)


def test_same_result_any_executor(scen):
    sc = scen.with_churn(correlation=0.2)
    ref = simulate(sc, n_paths=7_000, rng=5)
    with ThreadPoolExecutor(2) as ex:
        t = simulate(sc, n_paths=7_000, rng=5, executor=ex, chunk_size=BLOCK_SIZE)
    with ProcessPoolExecutor(2) as ex:
        p = simulate(sc, n_paths=7_000, rng=5, executor=ex, chunk_size=2 * BLOCK_SIZE)
    for other in (t, p):
        pd.testing.assert_frame_equal(ref.to_frame(), other.to_frame(), check_exact=True)


@pytest.mark.slow
def test_same_result_on_dask_cluster(scen):
    import distributed
    sc = scen.with_churn(correlation=0.2)
    ref = simulate(sc, n_paths=6_000, rng=5)
    with distributed.Client(processes=True, n_workers=2, threads_per_worker=1,
                            dashboard_address="127.0.0.1:0") as client:
        res = simulate(sc, n_paths=6_000, rng=5, executor=client.get_executor(),
                       chunk_size=BLOCK_SIZE)
    pd.testing.assert_frame_equal(ref.to_frame(), res.to_frame(), check_exact=True)


def test_generator_rng_and_recorded_seed_reproduce(scen):
    res = simulate(scen, n_paths=3_000, rng=np.random.default_rng(77))
    again = simulate(scen, n_paths=3_000, rng=np.random.SeedSequence(res.seed))
    pd.testing.assert_frame_equal(res.to_frame(), again.to_frame())
    other = simulate(scen, n_paths=3_000, rng=78)
    assert not res.to_frame().equals(other.to_frame())


def test_risk_contributions_add_up_to_expected_shortfall(scen):
    res = simulate(scen.with_churn(correlation=0.2), n_paths=20_000, rng=6)
    for measure in ("run_rate_lost", "revenue_lost"):
        rc = res.risk_contributions(0.95, measure=measure)
        assert rc["contribution"].sum() == pytest.approx(res.es(0.95, measure), rel=1e-9)
        assert rc["contribution"].is_monotonic_decreasing
    top = scen.portfolio.account_ids[np.argmax(scen.portfolio.revenue)]
    assert rc["account_id"].iloc[0] == top


def test_risk_contributions_with_ties_at_var():
    # two equal accounts: VaR sits on a lattice point shared by many paths
    pf = small_portfolio([100.0, 100.0, 10.0], [0.3, 0.3, 0.5])
    sc = Scenario(portfolio=pf, churn=ChurnAssumptions(), horizon_months=12)
    res = simulate(sc, n_paths=20_000, rng=4)
    x = res.losses()
    assert np.sum(x == res.var(0.8)) > 100  # ties present
    rc = res.risk_contributions(0.8)
    assert rc["contribution"].sum() == pytest.approx(res.es(0.8), rel=1e-12)


def test_monthly_quantiles_are_consistent(scen):
    res = simulate(scen, n_paths=8_000, rng=3, keep_paths=True)
    q = res.monthly_quantiles((0.1, 0.5, 0.9))
    paths = res.monthly_revenue_paths
    assert paths.shape == (8_000, 24)
    step = 1.5 * scen.portfolio.total_revenue / 12 / 4000
    for col, qq in (("q0.1", 0.1), ("q0.5", 0.5), ("q0.9", 0.9)):
        exact = np.quantile(paths, qq, axis=0, method="inverted_cdf")
        assert np.all(np.abs(q[col].to_numpy() - exact) <= step)
    np.testing.assert_allclose(q["mean"], paths.mean(axis=0), rtol=1e-12)
    assert q["q0.5"].is_monotonic_decreasing


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.0, 0.9), min_size=2, max_size=6), st.integers(0, 5),
       st.floats(0.0, 0.9))
def test_more_churn_never_lowers_expected_loss(p, j, rho):
    j = j % len(p)
    rev = np.linspace(100.0, 1000.0, len(p))
    lo = Scenario(portfolio=small_portfolio(rev, p),
                  churn=ChurnAssumptions(correlation=rho), horizon_months=12)
    p2 = list(p)
    p2[j] = min(1.0, p2[j] + 0.1)
    hi = Scenario(portfolio=small_portfolio(rev, p2),
                  churn=ChurnAssumptions(correlation=rho), horizon_months=12)
    # common random numbers: the same draws, a higher threshold for account j
    a = simulate(lo, n_paths=2_000, rng=1).losses()
    b = simulate(hi, n_paths=2_000, rng=1).losses()
    assert np.all(b >= a - 1e-9)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"annual_prob": 1.2}, "annual_prob"),
        ({"correlation": 1.0}, "correlation"),
        ({"correlation": -0.1}, "correlation"),
        ({"notice_months": -1}, "notice_months"),
        ({"partial_prob": 2}, "partial_prob"),
        ({"partial_beta": (0, 1)}, "partial_beta"),
        ({"level": -1}, "level"),
    ],
)
def test_bad_churn_assumptions_name_the_field(kwargs, field):
    with pytest.raises(AssumptionError, match=f"^{field}: ") as info:
        ChurnAssumptions(**kwargs)
    assert info.value.field == field


def test_bad_scenarios_name_the_field(scen):
    pf = scen.portfolio
    with pytest.raises(AssumptionError, match="horizon_months"):
        Scenario(portfolio=pf, horizon_months=-3)
    with pytest.raises(AssumptionError, match=r"unknown tier\(s\) \['vip'\]"):
        Scenario(portfolio=pf, churn=ChurnAssumptions(
            tier_probs={"vip": 0.1, "key": 0.1, "strategic": 0.1, "standard": 0.1}))
    with pytest.raises(AssumptionError, match=r"no value for tier\(s\) \['standard'\]"):
        Scenario(portfolio=pf, churn=ChurnAssumptions(
            tier_probs={"key": 0.1, "strategic": 0.1}))
    with pytest.raises(AssumptionError, match="fixed_costs"):
        Scenario(portfolio=pf, fixed_costs=-1)
    with pytest.raises(ValueError, match="n_paths"):
        simulate(scen, n_paths=0)
