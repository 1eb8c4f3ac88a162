"""Money decisions on common random numbers.

Pricing and rebates, the KAM program, negotiation, the retention-budget optimiser.
"""

from __future__ import annotations

from kamsim.economics import negotiation, pricing, program, retention
from kamsim.economics.negotiation import (
    ConcessionDecision,
    NegotiationAssumptions,
    evaluate_concession,
    negotiation_table,
    replacement_curve,
    walk_away_curve,
)
from kamsim.economics.pricing import (
    EfficiencyGains,
    OptimalPassThrough,
    PassThroughBreakdown,
    PolicyComparison,
    PricingAssumptions,
    RebateSchedule,
    RetentionBreakEven,
    RetentionResponse,
    break_even_retention,
    compare_pass_through,
    discount_factors,
    optimal_pass_through,
    pass_through_breakdown,
    pass_through_curve,
)
from kamsim.economics.program import (
    DEFAULT_TACTICS,
    ILLUSTRATIVE_NOTE,
    KamProgram,
    ProgramResult,
    Tactic,
    evaluate_program,
)
from kamsim.economics.retention import (
    Allocation,
    RetentionFrontier,
    RetentionFutures,
    RetentionOptimum,
    RetentionStudy,
    evaluate_allocations,
    optimise_retention,
    plan_retention,
    retention_budget_table,
    retention_frontier,
    retention_futures,
    simple_rules,
)

__all__ = [
    "DEFAULT_TACTICS",
    "ILLUSTRATIVE_NOTE",
    "Allocation",
    "ConcessionDecision",
    "EfficiencyGains",
    "KamProgram",
    "NegotiationAssumptions",
    "OptimalPassThrough",
    "PassThroughBreakdown",
    "PolicyComparison",
    "PricingAssumptions",
    "ProgramResult",
    "RebateSchedule",
    "RetentionBreakEven",
    "RetentionFrontier",
    "RetentionFutures",
    "RetentionOptimum",
    "RetentionResponse",
    "RetentionStudy",
    "Tactic",
    "break_even_retention",
    "compare_pass_through",
    "discount_factors",
    "evaluate_allocations",
    "evaluate_concession",
    "evaluate_program",
    "negotiation",
    "negotiation_table",
    "optimal_pass_through",
    "optimise_retention",
    "pass_through_breakdown",
    "pass_through_curve",
    "plan_retention",
    "pricing",
    "program",
    "replacement_curve",
    "retention",
    "retention_budget_table",
    "retention_frontier",
    "retention_futures",
    "simple_rules",
    "walk_away_curve",
]
