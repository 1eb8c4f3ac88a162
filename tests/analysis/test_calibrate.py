"""Tests of kamsim.analysis.calibrate: churn hazards from account histories and ledgers.

Statistical tests use fixed seeds. Each checks that a known hazard lies inside the fit's
95 % confidence interval; with the fixed seed the outcome is deterministic (not flaky),
and the sample sizes (1,000+ accounts) make the intervals narrow enough that a wrong
estimator (e.g. one that drops censored accounts) falls far outside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kamsim.analysis.calibrate import (
    fit_churn,
    histories_from_ledger,
    history_from_durations,
    partial_churn_from_ledger,
    validate_history,
)
from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.portfolio import Portfolio
from tests.conftest import DATA

AS_OF = pd.Timestamp("2024-01-01")


def weibull_history(n: int, scale, shape: float, *, seed: int, years: int = 8,
                    extra: dict | None = None) -> pd.DataFrame:
    """Accounts starting uniformly over ``years`` before AS_OF with Weibull lifetimes."""
    rng = np.random.default_rng(seed)
    start = AS_OF - pd.to_timedelta(rng.integers(30, int(years * 365.25), n), unit="D")
    life_years = np.asarray(scale) * rng.weibull(shape, n)
    end = start + pd.to_timedelta(np.round(life_years * 365.25), unit="D")
    h = pd.DataFrame({"account_id": [f"A{i:04d}" for i in range(n)],
                      "start_date": start, "end_date": end.where(end <= AS_OF)})
    for k, v in (extra or {}).items():
        h[k] = v
    return h


def true_conditional(tenure, scale, shape, horizon=1.0):
    s = lambda t: np.exp(-((t / scale) ** shape))  # noqa: E731
    return 1.0 - s(tenure + horizon) / s(tenure)


# --- recovery of known hazards ---------------------------------------------------------


def test_weibull_parameters_and_probabilities_recovered():
    scale, shape = 4.0, 1.4
    h = weibull_history(1500, scale, shape, seed=11)
    fit = fit_churn(h, model="weibull", as_of=AS_OF)
    summ = fit.summary()
    for name, true in (("lambda_", scale), ("rho_", shape)):
        lo, hi = summ.loc[name, "coef lower 95%"], summ.loc[name, "coef upper 95%"]
        assert lo <= true <= hi, (name, lo, true, hi)
    probs = fit.account_probs(rng=0)
    truth = true_conditional(probs["tenure_years"].to_numpy(), scale, shape)
    inside = (probs["churn_prob_low"] <= truth) & (truth <= probs["churn_prob_high"])
    assert inside.all()
    # the interval is informative, not everything
    assert (probs["churn_prob_high"] - probs["churn_prob_low"]).max() < 0.08
    # rising hazard: longer-tenured accounts are more likely to leave next year
    order = np.argsort(probs["tenure_years"].to_numpy())
    assert np.all(np.diff(probs["churn_prob"].to_numpy()[order]) >= -1e-12)


def test_exponential_and_piecewise_recover_constant_hazard():
    rate = 0.15  # annual hazard -> p = 1 - exp(-0.15) = 0.139
    h = weibull_history(2000, 1 / rate, 1.0, seed=3)
    p_true = 1 - np.exp(-rate)
    # piecewise: three band hazards at once, so Bonferroni-corrected 95 % intervals
    for model, alpha in (("exponential", 0.05), ("piecewise_exponential", 0.05 / 3)):
        fit = fit_churn(h, model=model, as_of=AS_OF, breakpoints=(2.0, 4.0), alpha=alpha)
        p = fit.account_probs(rng=1)
        assert ((p["churn_prob_low"] <= p_true) & (p_true <= p["churn_prob_high"])).all()
        summ = fit.summary()
        lo = summ.filter(like="coef lower").iloc[:, 0]
        hi = summ.filter(like="coef upper").iloc[:, 0]
        assert ((lo <= 1 / rate) & (1 / rate <= hi)).all()


def test_weibull_aft_and_cox_recover_tier_effect_and_match_lifelines():
    rng = np.random.default_rng(5)
    n = 2000
    tier = rng.choice(["key", "standard"], n, p=[0.4, 0.6])
    scale = np.where(tier == "key", 8.0, 3.0)
    shape = 1.2
    h = weibull_history(n, scale, shape, seed=6, extra={"tier": tier})
    fit = fit_churn(h, model="weibull_aft", covariates=["tier"], as_of=AS_OF)
    tp = fit.tier_probs("tier", rng=2)
    probs = fit.account_probs(rng=2)
    truth = true_conditional(probs["tenure_years"].to_numpy(),
                             np.where(probs["tier"] == "key", 8.0, 3.0), shape)
    for t in ("key", "standard"):
        true_mean = truth[(probs["tier"] == t).to_numpy()].mean()
        assert tp.loc[t, "churn_prob_low"] <= true_mean <= tp.loc[t, "churn_prob_high"]
    assert tp.loc["key", "churn_prob"] < tp.loc["standard", "churn_prob"]
    # kamsim's own survival formula equals lifelines' prediction (AFT and Cox)
    for model in ("weibull_aft", "cox"):
        f = fit_churn(h, model=model, covariates=["tier"], as_of=AS_OF)
        x = pd.DataFrame(f._x(None), columns=list(f.design_columns))
        ours = np.exp(-f._cum_hazard(np.full(n, 2.5), f._theta()[None, :], f._x(None)))[0]
        ref = f.fitter.predict_survival_function(x, times=[2.5]).to_numpy()[0]
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)
    # tier_probs feed ChurnAssumptions directly
    from kamsim.model import ChurnAssumptions

    ca = ChurnAssumptions(tier_probs=tp["churn_prob"].to_dict())
    assert set(ca.tier_probs) == {"key", "standard"}


def test_kaplan_meier_matches_lifelines_reference_values():
    df = pd.read_csv(DATA / "pysurvival_saas_churn.csv")
    h = history_from_durations(df["months_active"], df["churned"], unit="months")
    fit = fit_churn(h, model="kaplan_meier")
    s = fit.survival_table([0.25, 0.5, 1.0], n_draws=20, rng=0)["survival"].to_numpy()
    # reference values recorded with the data (lifelines 0.30.3), see data/README.md
    np.testing.assert_allclose(s, [0.613254, 0.477789, 0.243572], atol=5e-7)


# --- censoring -------------------------------------------------------------------------


def test_censored_accounts_are_kept_and_dropping_them_would_bias():
    rate = 0.10
    h = weibull_history(1500, 1 / rate, 1.0, seed=21, years=5)
    p_true = 1 - np.exp(-rate)
    fit = fit_churn(h, model="exponential", as_of=AS_OF)
    assert fit.n_accounts == 1500  # censored accounts are part of the fit
    assert fit.n_accounts - fit.n_churned > 1000  # heavily censored data
    p = fit.account_probs(rng=0).iloc[0]
    assert p["churn_prob_low"] <= p_true <= p["churn_prob_high"]
    # the naive estimate from churned accounts only is far above the truth
    naive = fit_churn(h[h["end_date"].notna()], model="exponential", as_of=AS_OF)
    p_naive = 1 - np.exp(-1 / naive.fitter.params_["lambda_"])
    assert p_naive > 3 * p_true
    assert p_naive > p["churn_prob_high"]


def test_explicit_churned_flag_censors_at_end_date():
    h = pd.DataFrame({"account_id": ["a", "b"], "start_date": ["2020-01-01"] * 2,
                      "end_date": ["2021-01-01", "2021-01-01"], "lost": [True, False]})
    v = validate_history(h, churned="lost", as_of="2023-01-01")
    assert v["churned"].tolist() == [True, False]
    assert v["duration_years"].iloc[1] == pytest.approx(367 / 365.25)


# --- bad rows --------------------------------------------------------------------------


def _hist(**cols):
    base = {"account_id": ["a", "b", "c"],
            "start_date": ["2020-01-01", "2020-06-01", "2021-01-01"],
            "end_date": [None, "2021-06-01", None]}
    base.update(cols)
    return pd.DataFrame(base)


def test_end_before_start_names_rows():
    h = _hist(end_date=[None, "2019-06-01", None])
    with pytest.raises(InputDataError, match="before the start date") as ei:
        validate_history(h, as_of="2023-01-01")
    assert ei.value.rows == [3]
    assert ei.value.column == "end_date"


def test_duplicate_ids_name_rows():
    h = _hist(account_id=["a", "b", "a"])
    with pytest.raises(InputDataError, match="duplicate account id") as ei:
        fit_churn(h, as_of="2023-01-01")
    assert ei.value.rows == [2, 4]
    assert ei.value.column == "account_id"


def test_future_dates_name_rows():
    h = _hist(start_date=["2020-01-01", "2030-06-01", "2021-01-01"],
              end_date=[None, None, None])
    with pytest.raises(InputDataError, match="in the future") as ei:
        validate_history(h, as_of="2023-01-01")
    assert (ei.value.rows, ei.value.column) == ([3], "start_date")
    h = _hist(end_date=[None, "2024-06-01", None])
    with pytest.raises(InputDataError, match="in the future") as ei:
        validate_history(h, as_of="2023-01-01")
    assert (ei.value.rows, ei.value.column) == ([3], "end_date")


def test_unparseable_and_missing_values_name_rows():
    with pytest.raises(InputDataError, match="unparseable") as ei:
        validate_history(_hist(start_date=["2020-01-01", "soon", "2021-01-01"]),
                         as_of="2023-01-01")
    assert ei.value.rows == [3]
    with pytest.raises(InputDataError, match="missing date") as ei:
        validate_history(_hist(start_date=["2020-01-01", None, "2021-01-01"]),
                         as_of="2023-01-01")
    assert ei.value.rows == [3]
    with pytest.raises(InputDataError, match="missing column"):
        validate_history(_hist().drop(columns="end_date"), as_of="2023-01-01")
    with pytest.raises(InputDataError, match="missing value") as ei:
        validate_history(_hist(tier=["key", None, "standard"]), covariates=["tier"],
                         as_of="2023-01-01")
    assert (ei.value.rows, ei.value.column) == ([3], "tier")


def test_option_errors():
    h = _hist()
    with pytest.raises(AssumptionError, match="model must be one of"):
        fit_churn(h, model="gompertz", as_of="2023-01-01")  # type: ignore[arg-type]
    with pytest.raises(AssumptionError, match="needs covariates"):
        fit_churn(h, model="cox", as_of="2023-01-01")
    with pytest.raises(InputDataError, match="no account in the history churned"):
        fit_churn(_hist(end_date=[None] * 3), as_of="2023-01-01")


# --- into the simulation ---------------------------------------------------------------


def test_to_portfolio_plugs_probabilities_into_churn_prob():
    h = weibull_history(300, 5.0, 1.0, seed=8)
    fit = fit_churn(h, model="exponential", as_of=AS_OF)
    active = fit.account_probs(rng=0)
    ids = active["account_id"].tolist()[:5]
    pf = Portfolio(pd.DataFrame({"account_id": ids, "revenue": [1.0] * 5}))
    out = fit.to_portfolio(pf, rng=0)
    np.testing.assert_allclose(out.column("churn_prob"), active["churn_prob"].to_numpy()[:5])
    pf2 = Portfolio(pd.DataFrame({"account_id": [*ids, "zz"], "revenue": [1.0] * 6}))
    with pytest.raises(InputDataError, match="not active in the history") as ei:
        fit.to_portfolio(pf2, rng=0)
    assert ei.value.rows == [7]
    filled = fit.to_portfolio(pf2, missing="mean", rng=0).column("churn_prob")
    assert filled[-1] == pytest.approx(active["churn_prob"].mean())


# --- ledgers ---------------------------------------------------------------------------


def test_histories_from_ledger_inactivity_rule_and_cutoff_censoring():
    led = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b", "c", "d", None, "e"],
        "date": ["2020-01-01", "2020-03-01", "2020-02-01", "2020-11-15", "2020-12-20",
                 "2020-05-01", "2020-06-01", "2020-04-01"],
        "amount": [10.0, 5.0, 8.0, 8.0, 3.0, 4.0, 9.0, -5.0],
    })
    h = histories_from_ledger(led, inactivity_days=90, as_of="2021-01-01")
    cutoff = pd.Timestamp("2021-01-01") - pd.Timedelta(days=90)
    assert h.attrs["as_of"] == cutoff
    assert h.attrs["entered_after_cutoff"] == 1  # c
    by = h.set_index("account_id")
    assert set(by.index) == {"a", "b", "d"}  # e only returned goods, no order
    assert by.loc["a", "churned"]
    assert by.loc["d", "churned"]
    assert not by.loc["b", "churned"]
    # b is censored at the cutoff, not at as_of
    assert by.loc["b", "end_date"] == cutoff
    assert by.loc["a", "duration_years"] == pytest.approx(61 / 365.25)
    with pytest.raises(AssumptionError, match="inactivity_days"):
        histories_from_ledger(led, inactivity_days=0)
    with pytest.raises(InputDataError, match="unparseable date") as ei:
        histories_from_ledger(led.assign(date=["x", *led["date"][1:]]))
    assert ei.value.rows == [2]


def test_partial_churn_from_ledger():
    led = pd.DataFrame({
        "customer_id": list("aabbccdd"),
        "date": ["2020-02-01", "2021-02-01"] * 4,
        "amount": [100.0, 50.0, 100.0, 0.0, 100.0, 95.0, 100.0, 30.0],
    })
    led = led[led["amount"] > 0]
    est = partial_churn_from_ledger(led, as_of="2022-01-01", threshold=0.2)
    status = est.table.set_index("account_id")["status"].to_dict()
    assert status == {"a": "partial loss", "b": "full loss", "c": "kept",
                      "d": "partial loss"}
    assert est.partial_prob == pytest.approx(2 / 3)
    a, b = est.partial_beta
    assert a / (a + b) == pytest.approx(0.6)  # mean of 0.5 and 0.7 lost
    assert est.summary().set_index("metric").loc["full losses", "value"] == 1


def test_real_online_retail_ledger_illustrative():
    path = DATA / "online_retail.parquet"
    if not path.exists():
        pytest.skip("data/online_retail.parquet not bundled")
    led = pd.read_parquet(path)
    kw = {"customer": "CustomerID", "date": "InvoiceDate", "amount": None,
          "quantity": "Quantity", "unit_price": "UnitPrice"}
    h = histories_from_ledger(led, inactivity_days=90, **kw)
    assert h.attrs["as_of"] == pd.Timestamp("2011-09-11")
    assert (h.shape[0], int(h["churned"].sum())) == (3370, 1449)
    fit = fit_churn(h, model="weibull")
    rho = fit.summary().loc["rho_", "coef"]
    assert 0.25 < rho < 0.45  # strongly falling hazard: one-off buyers lapse early
    probs = fit.account_probs(n_draws=200, rng=0)
    assert probs["extrapolated"].all()  # < 1 year of follow-up: flagged
    assert 0.15 < probs["churn_prob"].mean() < 0.30
