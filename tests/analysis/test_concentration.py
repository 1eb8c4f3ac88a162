"""Tests of kamsim.analysis.concentration: cross-checks, properties, edge cases and scoring."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kamsim.analysis import concentration as c
from kamsim.analysis import key_accounts as ka
from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.portfolio import Portfolio
from kamsim.portfolio.datasets import load_sample, load_wholesale, synthetic_portfolio


def make_pf(revenue, **cols) -> Portfolio:
    n = len(revenue)
    df = pd.DataFrame({"account_id": [f"a{i}" for i in range(n)],
                       "revenue": np.asarray(revenue, dtype=float), **cols})
    return Portfolio(df)


@pytest.fixture(scope="module")
def wholesale() -> Portfolio:
    return load_wholesale()


@pytest.fixture(scope="module")
def sample_pf() -> Portfolio:
    return load_sample()


# --- cross-check: UCI Wholesale customers (figures from shared/data/README.md §1) -------


class TestWholesaleCrossCheck:
    def test_headline_figures(self, wholesale):
        x = wholesale.revenue
        assert wholesale.n_accounts == 440
        assert c.hhi(x) == pytest.approx(0.0036995448, abs=5e-11)
        assert c.hhi(x, scale="points") == pytest.approx(36.9954, abs=5e-5)
        assert c.effective_number(x) == pytest.approx(270.3035, abs=5e-5)
        assert c.normalized_hhi(x) == pytest.approx(0.0014300676, abs=5e-11)
        assert c.gini(x) == pytest.approx(0.3640222371, abs=5e-11)
        assert c.gini(x, form="sample") == pytest.approx(0.3648514449, abs=5e-11)
        assert c.concentration_ratio(x, 1) == pytest.approx(0.0136729026, abs=5e-11)
        assert c.concentration_ratio(x, 5) == pytest.approx(0.0639103937, abs=5e-11)
        assert c.concentration_ratio(x, 10) == pytest.approx(0.1062954957, abs=5e-11)
        assert c.concentration_ratio(x, 88) == pytest.approx(0.4290483943, abs=5e-11)

    def test_lorenz_points(self, wholesale):
        lc = c.lorenz_curve(wholesale.revenue)
        # L(k/n) at k = 220, 352, 396 (exact grid points) ...
        assert lc(0.5) == pytest.approx(0.2558152468, abs=5e-11)
        assert lc(0.8) == pytest.approx(0.5709516057, abs=5e-11)
        assert lc(0.9) == pytest.approx(0.7239898081, abs=5e-11)
        # ... and the README's L(0.99) is the grid point k = ceil(0.99 * 440) = 436
        assert lc.value_share[436] == pytest.approx(0.9474361640, abs=5e-11)
        assert lc.gini == pytest.approx(0.3640222371, abs=5e-11)

    def test_summary_matches(self, wholesale):
        s = c.summary(wholesale).iloc[0]
        assert s["n_accounts"] == 440
        assert s["total"] == 14_619_500.0
        assert s["largest_account"] == "86"  # row index 85, 0-based
        assert s["hhi"] == pytest.approx(0.0036995448, abs=5e-11)
        assert s["gini"] == pytest.approx(0.3640222371, abs=5e-11)
        assert s["cr10"] == pytest.approx(0.1062954957, abs=5e-11)
        assert s["n_major_customers"] == 0
        assert s["hmg2010_band_reference"] == "unconcentrated"

    def test_category_ginis(self, wholesale):
        expected = {"line_fresh": 0.509475, "line_milk": 0.529512, "line_grocery": 0.524837,
                    "line_frozen": 0.590309, "line_detergents_paper": 0.679788,
                    "line_delicassen": 0.548535}
        s = c.summary(wholesale, list(expected))
        got = dict(zip(s["measure"], s["gini"], strict=True))
        for k, v in expected.items():
            assert got[k] == pytest.approx(v, abs=5e-7)


# --- independent implementation: concentrationMetrics ----------------------------------


def test_against_concentration_metrics(wholesale):
    import concentrationMetrics as cm
    idx = cm.Index()
    rng = np.random.default_rng(20_251_127)
    vectors = [wholesale.revenue, rng.lognormal(10, 1.5, 500), rng.uniform(0, 1, 37),
               np.array([0.0, 0.0, 5.0, 1.0])]
    for x in vectors:
        assert c.gini(x) == pytest.approx(idx.gini(np.asarray(x)), rel=1e-9, abs=1e-12)
        assert c.hhi(x) == pytest.approx(idx.hhi(np.asarray(x), normalized=False), rel=1e-9)
        assert c.concentration_ratio(x, 3) == pytest.approx(idx.cr(np.asarray(x), 3),
                                                            rel=1e-9)


def test_gini_matches_mean_absolute_difference():
    rng = np.random.default_rng(7)
    x = rng.lognormal(0, 1, 300)
    mad = np.abs(x[:, None] - x[None, :]).mean()
    assert c.gini(x) == pytest.approx(mad / (2 * x.mean()), rel=1e-12)


# --- properties -----------------------------------------------------------------------

positive_vectors = arrays(
    np.float64, st.integers(1, 60),
    elements=st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False),
).filter(lambda a: a.sum() > 1e-3)


@settings(max_examples=200, deadline=None)
@given(positive_vectors)
def test_hhi_bounds(x):
    n = x.size
    h = c.hhi(x)
    assert 1.0 / n - 1e-12 <= h <= 1.0 + 1e-12
    assert c.hhi(x, scale="points") == pytest.approx(h * 10_000)
    assert 0.0 <= c.normalized_hhi(x) <= 1.0


@settings(max_examples=200, deadline=None)
@given(positive_vectors, st.floats(1e-3, 1e3), st.randoms(use_true_random=False))
def test_scale_and_order_invariance(x, factor, rnd):
    perm = np.array(rnd.sample(range(x.size), x.size))
    y = x[perm] * factor
    for f in (c.hhi, c.gini, c.theil_index, c.normalized_hhi):
        assert f(y) == pytest.approx(f(x), rel=1e-9, abs=1e-12)
    assert c.concentration_ratio(y, 3) == pytest.approx(c.concentration_ratio(x, 3),
                                                        rel=1e-9, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(positive_vectors.filter(lambda a: a.size >= 2), st.data())
def test_merging_never_lowers_hhi(x, data):
    i = data.draw(st.integers(0, x.size - 1))
    j = data.draw(st.integers(0, x.size - 1).filter(lambda v: v != i))
    merged = np.delete(x, j)
    merged[i if i < j else i - 1] = x[i] + x[j]
    assert c.hhi(merged) >= c.hhi(x) - 1e-12


@settings(max_examples=200, deadline=None)
@given(positive_vectors)
def test_crk_non_decreasing_and_gini_bounds(x):
    n = x.size
    cr = [c.concentration_ratio(x, k) for k in range(1, n + 2)]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(cr))
    assert cr[-1] == pytest.approx(1.0)
    g = c.gini(x)
    assert -1e-12 <= g <= 1.0 - 1.0 / n + 1e-12
    assert c.shares(x).sum() == pytest.approx(1.0)
    assert c.theil_index(x) == pytest.approx(math.log(n) - c.shannon_entropy(x), abs=1e-9)
    assert 0.0 <= c.theil_index(x) <= math.log(n) + 1e-9


@settings(max_examples=100, deadline=None)
@given(positive_vectors)
def test_lorenz_is_convex_and_below_diagonal(x):
    lc = c.lorenz_curve(x)
    assert lc.value_share[0] == 0.0
    assert lc.value_share[-1] == 1.0
    assert np.all(lc.value_share <= lc.population_share + 1e-12)
    assert np.all(np.diff(lc.value_share, 2) >= -1e-12)


@settings(max_examples=100, deadline=None)
@given(positive_vectors)
def test_abc_classes_cover_cutoffs(x):
    cls = c.abc_classes(x)
    s = c.shares(x)
    a = s[cls == "A"].sum()
    # A is the smallest set of largest accounts reaching 80 %: without its smallest
    # member it falls short of 80 %
    assert a >= 0.8 - 1e-9 or (cls != "A").sum() == 0 or s[cls != "A"].sum() == 0
    if (cls == "A").any():
        assert a - s[cls == "A"].min() < 0.8 + 1e-9
    assert set(cls) <= {"A", "B", "C"}


# --- edge cases -------------------------------------------------------------------------


class TestEdgeCases:
    def test_one_account(self):
        x = [123.0]
        assert c.hhi(x) == 1.0
        assert c.normalized_hhi(x) == 1.0
        assert c.gini(x) == 0.0
        assert c.gini(x, form="sample") == 0.0
        assert c.concentration_ratio(x, 5) == 1.0
        assert c.theil_index(x) == 0.0
        assert c.abc_classes(x).tolist() == ["A"]
        s = c.summary(make_pf(x)).iloc[0]
        assert s["n_major_customers"] == 1
        assert s["hmg2010_band_reference"] == "highly concentrated"
        res = ka.key_account_scores(make_pf(x), {"volume": 1.0})
        assert res.tier_column() == ["key"]

    def test_all_equal(self):
        x = np.full(8, 50.0)
        assert c.hhi(x) == pytest.approx(1 / 8)
        assert c.normalized_hhi(x) == pytest.approx(0.0, abs=1e-15)
        assert c.effective_number(x) == pytest.approx(8.0)
        assert c.gini(x) == pytest.approx(0.0, abs=1e-15)
        assert c.theil_index(x) == pytest.approx(0.0, abs=1e-12)
        assert c.concentration_ratio(x, 2) == pytest.approx(0.25)

    def test_zero_revenue_accounts(self):
        x = [0.0, 0.0, 10.0, 30.0]
        assert c.hhi(x) == pytest.approx(0.25**2 + 0.75**2)
        assert c.gini(x) == pytest.approx(c.gini([0.0, 0.0, 1.0, 3.0]))
        assert c.abc_classes(x).tolist() == ["C", "C", "A", "A"]  # 75 % < 80 %: 10 joins A
        pf = make_pf(x)
        t = c.account_shares(pf)
        assert t["share"].tolist() == [0.75, 0.25, 0.0, 0.0]
        assert t["rank"].tolist() == [1, 2, 3, 4]
        res = ka.key_account_scores(pf, {"volume": 1.0})
        assert res.score[:2].tolist() == [0.0, 0.0]

    def test_100k_accounts(self):
        rng = np.random.default_rng(11)
        x = rng.lognormal(9, 1.4, 100_000)
        s = c.summary(make_pf(x)).iloc[0]
        assert s["n_accounts"] == 100_000
        assert s["hhi"] == pytest.approx(c.hhi(x))
        assert s["gini"] == pytest.approx(c.gini(x))
        assert 0.6 < s["gini"] < 0.8

    def test_exactly_ten_percent_is_major(self):
        x = [10.0, 20.0, 70.0, 0.0]
        assert c.major_customer_flags(x).tolist() == [True, True, True, False]
        assert c.major_customer_flags([1.0, 9.0 * (1 + 1e-9)]).tolist() == [False, True]
        assert c.major_customer_flags([0.999999, 9.0])[0] == np.False_

    @pytest.mark.parametrize(
        ("values", "match"),
        [([], "empty"), ([1.0, -2.0], "negative"), ([1.0, np.nan], "missing or infinite"),
         ([0.0, 0.0], "sum to zero"), ([[1.0, 2.0]], "one-dimensional")],
    )
    def test_bad_values(self, values, match):
        with pytest.raises(InputDataError, match=match):
            c.hhi(values)

    def test_bad_options(self):
        with pytest.raises(AssumptionError, match="whole number >= 1"):
            c.concentration_ratio([1.0], 0)
        with pytest.raises(AssumptionError, match=r"scale: must be one of \['fraction', 'p"):
            c.hhi([1.0], scale="percent")  # type: ignore[arg-type]
        with pytest.raises(AssumptionError, match="form: must be one of"):
            c.gini([1.0], form="other")  # type: ignore[arg-type]
        with pytest.raises(AssumptionError, match="add up to 1"):
            c.abc_classes([1.0, 2.0], cutoffs=(0.8, 0.1))
        with pytest.raises(AssumptionError, match="share in"):
            c.major_customer_flags([1.0], threshold=0.0)


# --- reference bands --------------------------------------------------------------------


def test_hhi_bands():
    assert c.hhi_band(1499.9) == "unconcentrated"
    assert c.hhi_band(1500.0) == "moderately concentrated"
    assert c.hhi_band(2500.0) == "moderately concentrated"
    assert c.hhi_band(2500.1) == "highly concentrated"
    assert c.hhi_band(1800.0, "2023") == "not highly concentrated"
    assert c.hhi_band(1800.1, "2023") == "highly concentrated"
    with pytest.raises(AssumptionError, match="between 0 and 10,000"):
        c.hhi_band(12_000.0)
    bands = c.hhi_reference_bands()
    assert bands["note"].str.contains("not a kamsim verdict").all()
    assert set(bands["guidelines"]) == {"2010", "2023"}


# --- Portfolio-level tables -------------------------------------------------------------


class TestPortfolioTables:
    def test_account_shares_by_segment(self, sample_pf):
        t = c.account_shares(sample_pf, ["revenue", "gross_profit"], by="segment")
        assert set(t.columns) >= {"measure", "segment", "account_id", "share", "rank",
                                  "abc_class", "major_customer", "cumulative_share"}
        sums = t.groupby(["measure", "segment"])["share"].sum()
        np.testing.assert_allclose(sums.to_numpy(), 1.0)
        assert len(t) == 2 * sample_pf.n_accounts

    def test_summary_default_measures_and_by(self, sample_pf):
        s = c.summary(sample_pf)
        assert s["measure"].tolist() == ["revenue", "gross_profit"]
        rev = s.iloc[0]
        assert rev["cr1"] == pytest.approx(0.18, abs=1e-6)
        assert rev["n_major_customers"] == 1
        assert rev["major_customers_share"] == pytest.approx(0.18, abs=1e-6)
        # profit concentration differs from revenue concentration
        assert s.iloc[1]["cr1"] != pytest.approx(rev["cr1"], abs=1e-3)
        g = c.summary(sample_pf, "revenue", by="region", k=(1, 3))
        assert "cr3" in g.columns
        assert g["share_of_total"].sum() == pytest.approx(1.0)
        assert g["n_accounts"].sum() == sample_pf.n_accounts

    def test_group_with_zero_total_is_nan(self):
        pf = make_pf([0.0, 0.0, 5.0], segment=["x", "x", "y"])
        s = c.summary(pf, "revenue", by="segment")
        assert s.loc[s["segment"] == "x", "n_accounts"].item() == 2
        assert np.isnan(s.loc[s["segment"] == "x", "hhi"].item())

    def test_major_customers_note(self, sample_pf):
        m = c.major_customers(sample_pf)
        assert len(m) == 1
        assert "ASC 280-10-50-42" in m["note"].iloc[0]
        assert "IFRS 8.34" in m["note"].iloc[0]
        assert "ASC 280-10-50-42" in (c.major_customers.__doc__ or "")

    def test_measure_errors(self, wholesale):
        with pytest.raises(InputDataError, match="no gross_margin or gross_profit"):
            c.summary(wholesale, "gross_profit")
        with pytest.raises(InputDataError, match="has no column 'bogus'"):
            c.summary(wholesale, "bogus")
        with pytest.raises(InputDataError, match="cannot group by 'tier'"):
            c.summary(wholesale, by="tier")
        with pytest.raises(InputDataError, match="not a numeric column"):
            c.summary(wholesale, "segment")

    def test_negative_gross_profit_names_accounts(self):
        pf = make_pf([10.0, 20.0], gross_profit=[-1.0, 5.0])
        with pytest.raises(InputDataError, match=r"account_id: a0\)") as err:
            c.summary(pf, "gross_profit")
        assert err.value.column == "gross_profit"
        assert err.value.rows == [2]


# --- key-account scoring ----------------------------------------------------------------


class TestScoring:
    def test_contributions_add_up(self, sample_pf):
        res = ka.key_account_scores(sample_pf)
        np.testing.assert_allclose(res.contributions.sum(axis=1), res.score)
        assert sum(res.weights.values()) == pytest.approx(1.0)
        assert res.criteria == ka.CRITERIA
        assert ((res.score >= 0) & (res.score <= 1)).all()
        df = res.to_frame()
        assert list(df.columns[:5]) == ["account_id", "name", "score", "rank", "tier"]
        assert [col for col in df.columns if col.startswith("contrib_")] == [
            f"contrib_{k}" for k in ka.CRITERIA]
        assert df["rank"].tolist() == list(range(1, sample_pf.n_accounts + 1))
        assert df["score"].is_monotonic_decreasing
        # the 18 % account is key
        assert df.iloc[0]["account_id"] == "A0042"
        assert df.iloc[0]["tier"] == "key"

    def test_criteria_normalised(self, sample_pf):
        crit = ka.key_account_criteria(sample_pf)
        assert crit.matrix.shape == (sample_pf.n_accounts, len(ka.CRITERIA))
        assert (crit.matrix >= 0).all()
        assert (crit.matrix <= 1).all()
        assert not crit.matrix.flags.writeable
        vol = crit.to_frame().set_index("account_id")["volume"]
        assert vol["A0042"] == 1.0  # 18 % >= 10 % reference share
        share = sample_pf.revenue / sample_pf.total_revenue
        np.testing.assert_allclose(crit.matrix[:, 0], np.minimum(share / 0.1, 1.0))

    def test_volume_only_weights_rank_by_revenue(self, sample_pf):
        res = ka.key_account_scores(sample_pf, {"volume": 2.0})
        assert res.weights == {k: (1.0 if k == "volume" else 0.0) for k in ka.CRITERIA}
        order = np.argsort(res.rank)
        assert np.all(np.diff(sample_pf.revenue[order]) <= 0)

    def test_tier_names_feed_the_churn_model(self, sample_pf):
        from kamsim.model import TIERS, account_tiers

        assert tuple(c.TIERS) == tuple(TIERS)
        res = ka.key_account_scores(sample_pf, tiers=ka.TierRule(method="top_k", key=3,
                                                               strategic=7))
        assert res.tier_counts().to_dict() == {"key": 3, "strategic": 7, "standard": 290}
        pf2 = sample_pf.replace(tier=res.tier_column())
        assert account_tiers(pf2) == res.tier_column()

    def test_threshold_tiers(self, sample_pf):
        res = ka.key_account_scores(sample_pf, tiers=ka.TierRule(key=0.5, strategic=0.3))
        assert (res.score[res.tier == "key"] >= 0.5).all()
        strat = res.score[res.tier == "strategic"]
        assert ((strat >= 0.3) & (strat < 0.5)).all()
        assert (res.score[res.tier == "standard"] < 0.3).all()

    def test_missing_criteria_warn_and_are_skipped(self, wholesale):
        with pytest.warns(ka.MissingCriterionWarning, match="skipped, not guessed") as rec:
            res = ka.key_account_scores(wholesale)
        msg = str(rec[0].message)
        for k in ("profit", "national", "proximity", "growth", "simplicity"):
            assert k in msg
        assert res.criteria == ("volume", "product_line")
        assert sum(res.weights.values()) == pytest.approx(1.0)
        assert res.weights["volume"] == pytest.approx(0.30 / 0.40)

    def test_no_warning_when_missing_criteria_have_zero_weight(self, wholesale):
        res = ka.key_account_scores(wholesale, {"volume": 1.0, "profit": 0.0})
        assert res.criteria == ("volume", "product_line")

    def test_product_line_choice(self, sample_pf):
        crit = ka.key_account_criteria(sample_pf, product_line="line_premium")
        x = sample_pf.column("line_premium")
        np.testing.assert_allclose(crit.matrix[:, 1], np.minimum(x / x.sum() / 0.1, 1.0))
        with pytest.raises(InputDataError, match="not a product-line column"):
            ka.key_account_criteria(sample_pf, product_line="revenue")

    @pytest.mark.parametrize(
        ("weights", "match"),
        [({"size": 1.0}, "unknown criteria"), ({"volume": -1.0}, "finite number >= 0"),
         ({"volume": 0.0}, r"all weights on the available criteria \[.*\] are zero")],
    )
    def test_bad_weights(self, sample_pf, weights, match):
        with pytest.raises(AssumptionError, match=match):
            ka.key_account_scores(sample_pf, weights)

    def test_bad_tier_rules(self):
        with pytest.raises(AssumptionError, match="strategic <= key"):
            ka.TierRule(key=0.2, strategic=0.4)
        with pytest.raises(AssumptionError, match="whole number"):
            ka.TierRule(method="top_k", key=2.5, strategic=1)
        with pytest.raises(AssumptionError, match="method: must be one of"):
            ka.TierRule(method="quantile")  # type: ignore[arg-type]

    def test_percentile_criteria_and_ties(self):
        pf = make_pf([1.0, 2.0, 3.0], distance_km=[5.0, 5.0, 50.0], growth=[0.1, 0.2, 0.3],
                     cost_to_serve=[0.5, 0.2, 0.4], national=[True, False, False])
        crit = ka.key_account_criteria(pf).to_frame()
        assert crit["proximity"].tolist() == [0.75, 0.75, 0.0]
        assert crit["growth"].tolist() == [0.0, 0.5, 1.0]
        # cost to serve / revenue: 0.5, 0.1, 0.133 -> cheapest to serve scores 1
        assert crit["simplicity"].tolist() == [0.0, 1.0, 0.5]
        assert crit["national"].tolist() == [1.0, 0.0, 0.0]

    def test_scale_invariance_of_scores(self):
        pf = synthetic_portfolio(60, top_share=0.3, rng=3)
        df = pf.to_frame().drop(columns="gross_profit")
        money = ["revenue", "cost_to_serve", *pf.product_lines]
        df[money] = df[money] * 7.5
        a = ka.key_account_scores(pf).score
        b = ka.key_account_scores(Portfolio(df)).score
        np.testing.assert_allclose(a, b, rtol=1e-9)
