"""The report's data-dependent sections without a kernel: key-account criteria, ledger
exclusions, and "What it takes to break us" (reverse stress test and parameter band)."""

from __future__ import annotations

import pandas as pd
import pytest

from kamsim._util.format import money, percent
from kamsim.analysis.stress import reverse_stress_test
from kamsim.analysis.uncertainty import parameter_uncertainty
from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.model import Scenario
from kamsim.portfolio import Portfolio
from kamsim.risk.exact import loss_distribution
from kamsim.views.report import (
    SNAKE_CASE,
    STRESS_LEVEL,
    ReportError,
    StressSection,
    cents,
    key_account_section,
    ledger_exclusions_view,
    read_exclusions,
    stress_section,
    validate_parameters,
)
from tests.conftest import DATA

SEED = 11
DRAWS = 20  # the report uses 100 (notebook 05's count); 20 keep this test quick


@pytest.fixture(scope="module")
def sample() -> Scenario:
    return Scenario.from_yaml(DATA / "sample_scenario.yaml")


@pytest.fixture(scope="module")
def section(sample):
    return stress_section(sample, seed=SEED, band_draws=DRAWS)


def test_key_accounts_on_a_ledger_like_portfolio_say_what_is_missing():
    pf = Portfolio(pd.DataFrame({"account_id": ["a", "b", "c"], "revenue": [5.0, 3.0, 2.0],
                                 "gross_margin": [0.35] * 3}))
    s = key_account_section(pf)
    assert list(s.table.frame.columns) == ["Name", "Tier", "Score (0 to 1)", "Volume",
                                           "Profit"]
    assert s.note == (
        "Scored on 2 of the 7 criteria, the ones the data has: volume (share of revenue) 60 % "
        "and profit (share of gross profit) 40 %. Not scored, because the data has nothing to "
        "measure them by: product lines (no revenue per product line column), national "
        "presence (no national/international flag column), proximity (no distance column), "
        "growth (no expected growth column) and simplicity (no cost to serve column); they "
        "are left out, not guessed. Their weights (50 % of the total) were shared out in "
        "proportion among the criteria used, so the weights still add up to 100 % (by default "
        "volume (share of revenue) 30 % and profit (share of gross profit) 20 %). Add the "
        "missing columns to the accounts file to score on every criterion.")
    assert abs(sum(s.scores.weights.values()) - 1) < 1e-12


def test_key_accounts_with_every_criterion_keep_the_short_note(sample):
    s = key_account_section(sample.portfolio)
    assert s.note.startswith("Scored on volume (share of revenue) 30 %, product lines 10 %")
    assert "Not scored" not in s.note
    assert len(s.table.frame.columns) == 10


def _exclusions(kept: float = 8008923.524, total: float = 9747747.934) -> pd.DataFrame:
    return pd.DataFrame(
        {"lines": [270, 135080, 14803, 391756, 541909],
         "amount": [-13481.060000000005, 1447682.1199999999, 304623.35, kept, total]},
        index=pd.Index(["net revenue <= 0", "no customer id", "outside period", "kept",
                        "ledger total"], name="reason"))


def test_ledger_exclusions_reconcile_to_the_cent():
    table, sentence = ledger_exclusions_view(_exclusions())
    assert sentence == ("Kept €8,008,923.52 (391,756 lines) + excluded €1,738,824.41 "
                        "(150,153 lines) = €9,747,747.93 (541,909 lines), the ledger total "
                        "to the cent.")
    rows = table.frame.set_index("Ledger lines")
    assert rows.loc["Customers whose net revenue is zero or less", "Amount"] == "-€13,481.06"
    assert rows.loc["Returns and credit notes", "Treatment"] == "netted off, inside kept"
    assert rows.loc["Ledger total", "Lines"] == "541,909"
    assert not [h for h in table.frame.columns if SNAKE_CASE.search(h)]


def test_ledger_exclusions_that_do_not_add_up_say_so():
    _, sentence = ledger_exclusions_view(_exclusions(total=9747748.934))
    assert sentence.endswith("against a ledger total of €9,747,748.93 (541,909 lines): they "
                             "differ by -€1.00; check the ledger export.")


def test_cents():
    assert cents(-0.004) == "€0.00"
    assert cents(1234.565, "$") in ("$1,234.56", "$1,234.57")


def test_a_table_that_is_not_an_exclusions_table_is_refused(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("reason,lines\nkept,3\n")
    with pytest.raises(InputDataError, match=r"is not a ledger exclusions table: missing "
                       r"column\(s\) \['amount'\] or row\(s\) \['ledger total'\]"):
        read_exclusions(p)
    with pytest.raises(ReportError, match="'ledger_exclusions_file': file not found"):
        validate_parameters({"ledger_exclusions_file": str(tmp_path / "none.csv")})


def test_the_stress_section_shows_the_library_figures(sample, section):
    exact = loss_distribution(sample)
    st = reverse_stress_test(sample, exact.var(STRESS_LEVEL))  # notebook 02's call
    assert section.stress is not None
    assert section.stress.threshold == st.threshold
    assert section.stress.p_breach == st.p_breach
    view = section.accounts_table(8).frame
    top = st.table(8)
    names = dict(zip(sample.portfolio.account_ids, sample.portfolio.names, strict=True))
    assert view["Account"].tolist() == [names[a] for a in top["account_id"]]
    assert view["Chance lost, given the breach"].tolist() == [
        percent(v) for v in top["prob_given_breach"]]
    assert view["Chance lost, ordinary"].tolist() == [percent(v) for v in top["prob"]]
    assert money(st.threshold) in section.headline()
    design = section.design_point_table().frame.iloc[0]
    assert design["A year as bad as the worst"] == percent(st.design_point["y0_mode_percentile"])
    # the band: notebook 05's call, same interval, draws and seed
    band = parameter_uncertainty(sample, intervals={"level": (0.8, 1.3)}, n_draws=DRAWS,
                                 rng=SEED)
    assert section.band_sentence() == band.sentence()
    # revenue lost only (margins left out of the draws, which halves the cost) and each
    # draw interpolated between BAND_NODES exact runs of the churn level: the same VaRs,
    # bit for bit (lattice values), ES within cents (relative 1e-8; the report prints 3
    # significant figures), the same printed table
    got = section.band_frame().set_index("metric")
    want = band.bands.drop(index=["p_below_break_even"])
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-8, atol=0.0)
    for m in ("var_0.95", "var_0.99"):
        assert got.loc[m, "point"] == want.loc[m, "point"]
        assert got.loc[m, "low"] == want.loc[m, "low"]
        assert got.loc[m, "high"] == want.loc[m, "high"]
    assert section.band is not None
    assert section.band.interpolation_error < 1e-8
    notebook = StressSection(scenario=sample, stress=None, band=band)
    pd.testing.assert_frame_equal(section.band_table().frame, notebook.band_table().frame)
    b = section.band_table().frame.set_index("Annual revenue lost")
    assert b.loc["VaR 95 % (1 year in 20)", "90 % band: low"] == money(
        band.bands.loc["var_0.95", "low"])
    text = section.band_text(15_384_151.0)
    assert f"drawn between 0.8x and 1.3x of our estimates, {DRAWS} times" in text
    assert "differs a little from the Monte Carlo figure above, €15.4M." in text
    for t in (section.design_point_table(), section.accounts_table(), section.band_table()):
        assert not [h for h in t.frame.columns if SNAKE_CASE.search(h)]
        assert not t.frame.map(lambda v: "e+" in v or "nan" in v.lower()).any().any()


def test_the_stress_section_is_skipped_in_words_above_max_accounts(sample):
    s = stress_section(sample, seed=1, max_accounts=100)
    assert s.stress is None
    assert s.band is None
    assert s.headline() == (
        "The reverse stress test and the parameter band are exact computations whose cost "
        "grows with the number of accounts; with 300 accounts (more than 100) they are left "
        "out of this report to keep its run time short (the stress test alone takes about "
        "40 s for 4,248 accounts). Run them with -p exact_max_accounts 300, or in notebooks "
        "02 and 05.")


def test_partial_churn_keeps_the_band_and_says_why_there_is_no_stress_test(sample):
    sc = sample.with_churn(partial_prob=0.3)
    s = stress_section(sc, seed=1, band_draws=20)
    assert s.stress is None
    assert s.band is not None
    assert s.headline().startswith("The reverse stress test does not apply to this scenario (")


@pytest.mark.parametrize(("params", "match"), [
    ({"band_draws": 5}, r"'band_draws' must be 0 \(no band\) or at least 20 outer draws"),
    ({"band_draws": -1}, r"'band_draws' must be a finite number in \[0, 10000\]"),
    ({"churn_level_range": [1.3, 0.8]}, r"'churn_level_range' must be two numbers 0 < low "
                                        r"<= high such as \[0.8, 1.3\]"),
    ({"churn_level_range": [0.8]}, "'churn_level_range' must be two numbers"),
])
def test_bad_stress_parameters_fail_before_any_kernel(params, match):
    with pytest.raises(ReportError, match=match):
        validate_parameters(params)
    with pytest.raises(AssumptionError, match="must be two numbers 0 < low <= high"):
        stress_section(Scenario.from_yaml(DATA / "sample_scenario.yaml"), seed=1,
                       churn_level_range=(0.0, 1.0))


def test_a_scenario_with_columns_feeds_the_report_directly(tmp_path):
    from kamsim.views.report import report_scenario
    from tests.conftest import ROOT

    p = tmp_path / "mine.yaml"
    p.write_text(f"accounts: {ROOT / 'tests' / 'fixtures' / 'own_accounts.xlsx'}\ncolumns:\n"
                 "  Customer: account_id\n  Sales 2025: revenue\nchurn:\n  annual_prob: 0.1\n")
    assert validate_parameters({"scenario_file": str(p)})["accounts_file"].endswith(
        "own_accounts.xlsx")
    assert report_scenario(scenario_file=p).scenario.portfolio.n_accounts == 40


def test_the_band_falls_back_to_exact_draws_when_interpolation_is_off(sample, monkeypatch):
    # no interpolation is good enough (the globals the section's code reads, whichever
    # module object --import-mode=importlib gave it)
    monkeypatch.setitem(stress_section.__globals__, "BAND_TOLERANCE", -1.0)
    s = stress_section(sample, seed=SEED, band_draws=DRAWS)
    band = parameter_uncertainty(sample, intervals={"level": (0.8, 1.3)}, n_draws=DRAWS,
                                 rng=SEED)
    assert s.band is not None
    assert s.band.interpolation_error == 0.0
    pd.testing.assert_frame_equal(s.band_frame().set_index("metric"),
                                  band.bands.drop(index=["p_below_break_even"]),
                                  check_exact=True)
