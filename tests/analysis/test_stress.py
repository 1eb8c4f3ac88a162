"""Reverse stress test against brute force: all 2^n outcomes integrated over the factor
(scipy quad, as in tests/risk/test_exact.py). Conditional churn probabilities must agree
to 1e-7 (the factor integral's accuracy), the breach probability likewise; the design
point must be the mode of the factor's conditional density (checked against a fine grid
to 0.01 in normal-score units, the grid spacing 0.005)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kamsim.analysis.stress import reverse_stress_test
from kamsim.exceptions import AssumptionError
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio import Portfolio
from kamsim.risk.exact import loss_distribution
from tests.risk.test_exact import brute_correlated, brute_independent, conditional_q

W = np.array([10.0, 7.0, 5.0, 3.0, 2.0, 1.0])
Q = np.array([0.05, 0.1, 0.2, 0.15, 0.3, 0.02])


def scenario(rho, margin=None, fixed_costs=0.0):
    data = {"account_id": [f"A{i}" for i in range(W.size)], "revenue": W,
            "churn_prob": Q}
    if margin is not None:
        data["gross_margin"] = margin
    return Scenario(portfolio=Portfolio(pd.DataFrame(data)),
                    churn=ChurnAssumptions(correlation=rho), horizon_months=12,
                    fixed_costs=fixed_costs)


@pytest.mark.parametrize("rho", [0.0, 0.3])
def test_conditional_churn_matches_enumeration(rho):
    x = 12.0
    st = reverse_stress_test(scenario(rho), x, step=1.0)
    losses, prob, ind = (brute_correlated(W, Q, rho) if rho else brute_independent(W, Q))
    breach = losses > x
    p = prob[breach].sum()
    assert st.p_breach == pytest.approx(p, abs=1e-7)
    want = (ind[breach] * prob[breach, None]).sum(axis=0) / p
    got = st.accounts.set_index("account_id").loc[[f"A{i}" for i in range(W.size)]]
    np.testing.assert_allclose(got["prob_given_breach"], want, atol=1e-7)
    assert st.accounts["expected_loss_given_breach"].is_monotonic_decreasing
    assert st.accounts.loc[st.accounts["in_likely_set"], "weight"].sum() > x


def test_design_point_is_the_conditional_mode():
    rho, x = 0.3, 12.0
    st = reverse_stress_test(scenario(rho), x, step=1.0)
    z = np.linspace(-5, 2, 1401)
    losses, _, ind = brute_independent(W, Q)
    dens = []
    for zz in z:
        qz = conditional_q(Q, rho, zz)
        pr = np.prod(np.where(ind == 1, qz, 1 - qz), axis=1)
        dens.append(stats.norm.pdf(zz) * pr[losses > x].sum())
    mode = z[int(np.argmax(dens))]
    assert st.design_point["y0_mode"] == pytest.approx(mode, abs=0.01)
    assert st.design_point["y0_mean_given_breach"] < 0
    s = st.summary()
    assert s.loc["p_breach", "value"] == st.p_breach


def test_profit_below_fixed_costs():
    sc = scenario(0.2, margin=0.3, fixed_costs=0.3 * W.sum() - 4.0)
    st = reverse_stress_test(sc, kind="profit_below_fixed_costs", step=0.3)
    assert st.threshold == pytest.approx(4.0)
    assert st.p_breach > 0
    with pytest.raises(AssumptionError, match="unknown kind"):
        reverse_stress_test(sc, kind="cash")  # type: ignore[arg-type]


def test_partial_churn_is_refused_clearly():
    sc = scenario(0.2)
    sc = sc.with_churn(partial_prob=0.3)
    with pytest.raises(AssumptionError, match="full churn"):
        reverse_stress_test(sc, 10.0, step=1.0)


def test_a_given_distribution_is_used_as_is():
    sc = scenario(0.3)
    d = loss_distribution(sc, step=1.0)
    st = reverse_stress_test(sc, 12.0, distribution=d)
    assert st.distribution is d
    ref = reverse_stress_test(sc, 12.0, step=1.0)
    pd.testing.assert_frame_equal(st.accounts, ref.accounts)
    assert st.design_point == ref.design_point
    with pytest.raises(AssumptionError, match="needs 'gross_profit'"):
        reverse_stress_test(scenario(0.3, margin=0.3), kind="profit_below_fixed_costs",
                            distribution=d)
