"""Frozen inputs only.

Churn, replacement and retention-plan assumptions and the :class:`Scenario` (with its YAML
form).
"""

from __future__ import annotations

from kamsim.model.plans import (
    PLAN_EFFECTS,
    PlanOverride,
    RetentionBudget,
    RetentionPlan,
    RetentionPlans,
    check_plan_inputs,
)
from kamsim.model.replacement import (
    ARRIVALS,
    CYCLE_DISTRIBUTIONS,
    RAMP_SHAPES,
    SIZE_METHODS,
    ReplacementAssumptions,
)
from kamsim.model.scenario import (
    TIERS,
    ChurnAssumptions,
    Scenario,
    account_tiers,
    load_yaml,
)

__all__ = [
    "ARRIVALS",
    "CYCLE_DISTRIBUTIONS",
    "PLAN_EFFECTS",
    "RAMP_SHAPES",
    "SIZE_METHODS",
    "TIERS",
    "ChurnAssumptions",
    "PlanOverride",
    "ReplacementAssumptions",
    "RetentionBudget",
    "RetentionPlan",
    "RetentionPlans",
    "Scenario",
    "account_tiers",
    "check_plan_inputs",
    "load_yaml",
]
