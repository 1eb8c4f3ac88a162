"""Figures (matplotlib, no pyplot state), one module per analysis and one style."""

from __future__ import annotations

from kamsim.views.plots.concentration import (
    lorenz_plot,
    pareto_plot,
    score_contribution_plot,
)
from kamsim.views.plots.engine import (
    fan_chart,
    loss_histogram,
    risk_contribution_plot,
    worst_case_waterfall,
)
from kamsim.views.plots.pricing import (
    pass_through_curve_plot,
    pass_through_waterfall,
    rebate_plot,
    tactic_roi_plot,
    walk_away_plot,
)
from kamsim.views.plots.replacement import (
    cash_path_plot,
    recovery_time_plot,
    replacement_revenue_plot,
)
from kamsim.views.plots.retention import (
    retention_frontier_plot,
)
from kamsim.views.plots.sensitivity import (
    global_sensitivity_plot,
    scenario_comparison_plot,
    survival_plot,
    tornado_plot,
)
from kamsim.views.plots.style import (
    CRITERION_COLORS,
    TIER_COLORS,
    currency_formatter,
    percent_formatter,
)

__all__ = [
    "CRITERION_COLORS",
    "TIER_COLORS",
    "cash_path_plot",
    "currency_formatter",
    "fan_chart",
    "global_sensitivity_plot",
    "lorenz_plot",
    "loss_histogram",
    "pareto_plot",
    "pass_through_curve_plot",
    "pass_through_waterfall",
    "percent_formatter",
    "rebate_plot",
    "recovery_time_plot",
    "replacement_revenue_plot",
    "retention_frontier_plot",
    "risk_contribution_plot",
    "scenario_comparison_plot",
    "score_contribution_plot",
    "survival_plot",
    "tactic_roi_plot",
    "tornado_plot",
    "walk_away_plot",
    "worst_case_waterfall",
]
