"""kamsim: key-account-management scenario planning.

Measure how much revenue leans on a few key accounts, simulate losing them, and plan
the response. See the README for a tour.
"""

from importlib.metadata import PackageNotFoundError, version

from kamsim.calibrate import (
    ChurnFit,
    PartialChurnEstimate,
    fit_churn,
    histories_from_ledger,
    history_from_durations,
    partial_churn_from_ledger,
    validate_history,
)
from kamsim.concentration import (
    KeyAccountCriteria,
    KeyAccountScores,
    LorenzCurve,
    MissingCriterionWarning,
    TierRule,
    account_shares,
    concentration_ratio,
    gini,
    hhi,
    key_account_criteria,
    key_account_scores,
    lorenz_curve,
    major_customers,
)
from kamsim.concentration import summary as concentration_summary
from kamsim.engine import SAMPLERS, SimulationResult, risk_contributions, simulate
from kamsim.exact import (
    ExactLossDistribution,
    loss_distribution,
    loss_distribution_from_arrays,
    vasicek_cdf,
    vasicek_ppf,
)
from kamsim.exceptions import AssumptionError, InputDataError, KamsimError
from kamsim.plans import PlanOverride, RetentionBudget, RetentionPlan, RetentionPlans
from kamsim.portfolio import CANONICAL_COLUMNS, Portfolio, from_ledger, read_accounts
from kamsim.pricing import (
    EfficiencyGains,
    PricingAssumptions,
    RebateSchedule,
    RetentionResponse,
    break_even_retention,
    compare_pass_through,
    optimal_pass_through,
    pass_through_breakdown,
)
from kamsim.program import DEFAULT_TACTICS, KamProgram, Tactic, evaluate_program
from kamsim.replacement import (
    CapacityRequirement,
    ReplacementAssumptions,
    ReplacementTimeline,
    recovery_summary,
    replacement_timeline,
    required_capacity,
    survival_curve,
    with_certain_loss,
)
from kamsim.retention import (
    optimise_retention,
    plan_retention,
    retention_budget_table,
    retention_frontier,
    retention_futures,
    simple_rules,
)
from kamsim.risk import expected_shortfall, value_at_risk
from kamsim.scenario import ChurnAssumptions, Scenario
from kamsim.sensitivity import (
    GlobalSensitivityResult,
    Metric,
    Parameter,
    ScenarioComparison,
    TornadoResult,
    TornadoRuns,
    compare_scenarios,
    default_parameters,
    global_sensitivity,
    replacement_parameters,
    tornado,
    tornado_runs,
    tornado_table,
    with_changes,
)
from kamsim.worst_case import lose_accounts, lose_group, lose_top_k, worst_cases

try:
    __version__ = version("kamsim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "CANONICAL_COLUMNS",
    "DEFAULT_TACTICS",
    "SAMPLERS",
    "AssumptionError",
    "CapacityRequirement",
    "ChurnAssumptions",
    "ChurnFit",
    "EfficiencyGains",
    "ExactLossDistribution",
    "GlobalSensitivityResult",
    "InputDataError",
    "KamProgram",
    "KamsimError",
    "KeyAccountCriteria",
    "KeyAccountScores",
    "LorenzCurve",
    "Metric",
    "MissingCriterionWarning",
    "Parameter",
    "PartialChurnEstimate",
    "PlanOverride",
    "Portfolio",
    "PricingAssumptions",
    "RebateSchedule",
    "ReplacementAssumptions",
    "ReplacementTimeline",
    "RetentionBudget",
    "RetentionPlan",
    "RetentionPlans",
    "RetentionResponse",
    "Scenario",
    "ScenarioComparison",
    "SimulationResult",
    "Tactic",
    "TierRule",
    "TornadoResult",
    "TornadoRuns",
    "__version__",
    "account_shares",
    "break_even_retention",
    "compare_pass_through",
    "compare_scenarios",
    "concentration_ratio",
    "concentration_summary",
    "default_parameters",
    "evaluate_program",
    "expected_shortfall",
    "fit_churn",
    "from_ledger",
    "gini",
    "global_sensitivity",
    "hhi",
    "histories_from_ledger",
    "history_from_durations",
    "key_account_criteria",
    "key_account_scores",
    "lorenz_curve",
    "lose_accounts",
    "lose_group",
    "lose_top_k",
    "loss_distribution",
    "loss_distribution_from_arrays",
    "major_customers",
    "optimal_pass_through",
    "optimise_retention",
    "partial_churn_from_ledger",
    "pass_through_breakdown",
    "plan_retention",
    "read_accounts",
    "recovery_summary",
    "replacement_parameters",
    "replacement_timeline",
    "required_capacity",
    "retention_budget_table",
    "retention_frontier",
    "retention_futures",
    "risk_contributions",
    "simple_rules",
    "simulate",
    "survival_curve",
    "tornado",
    "tornado_runs",
    "tornado_table",
    "validate_history",
    "value_at_risk",
    "vasicek_cdf",
    "vasicek_ppf",
    "with_certain_loss",
    "with_changes",
    "worst_cases",
]
