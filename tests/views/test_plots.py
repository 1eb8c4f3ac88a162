"""Tests of kamsim.views.plots."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from kamsim.analysis import concentration as c
from kamsim.analysis import key_accounts as ka
from kamsim.views import plots

# --- shared helpers ---------------------------------------------------------------------


def test_formatters():
    cur = plots.currency_formatter()
    assert cur(950.0) == "€950"
    assert cur(12_500.0) == "€12.5k"
    assert cur(3_000_000.0) == "€3M"
    assert cur(-1_200_000_000.0) == "-€1.2bn"
    assert plots.currency_formatter("$")(2_000.0) == "$2k"
    assert plots.percent_formatter()(0.25) == "25%"
    assert plots.percent_formatter(1)(0.125) == "12.5%"


# --- concentration ----------------------------------------------------------------------


@pytest.fixture
def no_pyplot_figures():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "library code must not create pyplot figures"


@pytest.mark.usefixtures("no_pyplot_figures")
class TestConcentrationPlots:
    def test_lorenz_plot(self, sample):
        fig = plots.lorenz_plot(sample, ["revenue", "gross_profit"])
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        g = c.gini(sample.revenue)
        assert labels[0] == f"revenue (Gini {g:.2f})"
        assert labels[1].startswith("gross profit (Gini ")  # no code names in a legend
        line = ax.get_lines()[0]
        lc = c.lorenz_curve(sample.revenue)
        np.testing.assert_allclose(line.get_ydata(), lc.value_share)
        assert ax.xaxis.get_major_formatter()(0.5) == "50%"

    def test_lorenz_plot_array_into_given_axes(self):
        fig = Figure()
        ax = fig.add_subplot()
        out = plots.lorenz_plot([1.0, 2.0, 7.0], ax=ax)
        assert out is fig
        assert "Gini 0.40" in ax.get_legend().get_texts()[0].get_text()

    def test_pareto_plot(self, sample):
        res = ka.key_account_scores(sample, tiers=ka.TierRule(method="top_k", key=3,
                                                             strategic=5))
        fig = plots.pareto_plot(sample, top=12, highlight=res)
        ax, ax2 = fig.axes
        bars = ax.patches
        assert len(bars) == 12
        heights = [b.get_height() for b in bars]
        assert heights == sorted(heights, reverse=True)
        assert heights[0] == pytest.approx(sample.revenue.max())
        # the 10 % major-customer line
        hline = [ln for ln in ax.get_lines() if "major customer" in ln.get_label()]
        assert len(hline) == 1
        assert hline[0].get_ydata()[0] == pytest.approx(0.1 * sample.total_revenue)
        # cumulative share line ends at CR12
        cum = ax2.get_lines()[0].get_ydata()
        assert cum[-1] == pytest.approx(c.concentration_ratio(sample.revenue, 12))
        # key accounts highlighted
        colors = [tuple(np.round(b.get_facecolor(), 3)) for b in bars]
        from matplotlib.colors import to_rgba

        key_color = tuple(np.round(to_rgba(plots.TIER_COLORS["key"]), 3))
        top3 = set(res.to_frame().head(3)["account_id"])
        order = np.argsort(-sample.revenue, kind="stable")[:12]
        expected = [a in top3 for a in sample.account_ids[order]]
        assert [col == key_color for col in colors] == expected
        assert ax.yaxis.get_major_formatter()(2_000_000.0) == "€2M"
        legend = [t.get_text() for t in ax2.get_legend().get_texts()]
        assert any("ASC 280 / IFRS 8" in t for t in legend)

    def test_pareto_highlight_ids_and_errors(self, sample):
        fig = plots.pareto_plot(sample, "gross_profit", top=5, highlight=["A0042"])
        assert len(fig.axes[0].patches) == 5
        with pytest.raises(ValueError, match="top must be a whole number"):
            plots.pareto_plot(sample, top=0)

    def test_score_contribution_plot(self, sample):
        res = ka.key_account_scores(sample)
        fig = plots.score_contribution_plot(res, top=6)
        ax = fig.axes[0]
        n_crit = len(res.criteria)
        # one collection of rectangles per criterion, one rectangle per account
        assert [len(c.get_paths()) for c in ax.collections] == [6] * n_crit
        # the right end of each stacked bar equals the account's score
        best = res.to_frame().head(6)
        ends: dict[float, float] = {}
        for coll in ax.collections:
            for path in coll.get_paths():
                (_, y0), (x1, y1) = path.vertices.min(0), path.vertices.max(0)
                y = round((y0 + y1) / 2, 6)
                ends[y] = max(ends.get(y, 0.0), x1)
        got = [ends[k] for k in sorted(ends, reverse=True)]  # top bar = best account
        np.testing.assert_allclose(got, best["score"].to_numpy())
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[0].startswith(str(best.iloc[0]["name"]))  # best account on top
        assert "[key]" in labels[0]
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(t.startswith("key threshold") for t in legend)
