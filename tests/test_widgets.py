"""Tests of kamsim.views.widgets (built and driven programmatically, no browser)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kamsim.analysis import key_accounts as ka
from kamsim.views.widgets import ConcentrationExplorer, concentration_explorer

ROOT = Path(__file__).resolve().parent.parent

# --- concentration ----------------------------------------------------------------------


@pytest.fixture
def panel(sample) -> ConcentrationExplorer:
    return concentration_explorer(sample, top=10)


def test_builds_with_one_slider_per_available_criterion(panel):
    import ipywidgets as widgets

    assert isinstance(panel, widgets.VBox)
    assert list(panel.sliders) == list(ka.CRITERIA)
    assert panel.sliders["volume"].value == ka.DEFAULT_WEIGHTS["volume"]
    assert panel.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "contribution" in panel.table.value
    assert "key: " in panel.counts.value


def test_weight_slider_rescores_and_redraws_in_place(panel):
    fig = panel.figure
    table0, image0, score0 = panel.table.value, panel.image.value, panel.result.score.copy()
    panel.sliders["volume"].value = 0.0
    panel.sliders["growth"].value = 1.0
    assert panel.figure is fig  # same figure, redrawn
    assert panel.table.value != table0
    assert panel.image.value != image0
    assert not np.allclose(panel.result.score, score0)
    assert panel.result.weights["growth"] > panel.result.weights["volume"] == 0.0
    # the table shows the new ranking
    top = panel.result.to_frame().iloc[0]
    assert str(top["account_id"]) in panel.table.value


def test_threshold_slider_changes_tiers(panel):
    n_key = int(panel.result.tier_counts()["key"])
    counts0 = panel.counts.value
    panel.key_threshold.value = 0.1
    assert int(panel.result.tier_counts()["key"]) > n_key
    assert panel.counts.value != counts0
    # strategic above key is clamped to key
    panel.strategic_threshold.value = 0.9
    assert panel.result.tier_rule.strategic == pytest.approx(0.1)


def test_all_zero_weights_show_message(panel):
    sliders = list(panel.sliders.values())
    for s in sliders[:-1]:
        s.value = 0.0
    before = panel.result
    sliders[-1].value = 0.0
    assert "positive weight" in panel.message.value
    assert panel.result is before


def test_missing_criteria_warn_once_and_are_listed():
    from kamsim.portfolio.datasets import load_wholesale

    with pytest.warns(ka.MissingCriterionWarning):
        p = concentration_explorer(load_wholesale())
    assert list(p.sliders) == ["volume", "product_line"]
    p.sliders["volume"].value = 0.9  # no further warning (filterwarnings = error)
