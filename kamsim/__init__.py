"""kamsim: key-account-management scenario planning.

Measure how much revenue leans on a few key accounts, simulate losing them, and plan
the response. See the README for a tour.
"""

from importlib.metadata import PackageNotFoundError, version

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
from kamsim.engine import SimulationResult, risk_contributions, simulate
from kamsim.exact import (
    ExactLossDistribution,
    loss_distribution,
    loss_distribution_from_arrays,
    vasicek_cdf,
    vasicek_ppf,
)
from kamsim.exceptions import AssumptionError, InputDataError, KamsimError
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
from kamsim.risk import expected_shortfall, value_at_risk
from kamsim.scenario import ChurnAssumptions, Scenario
from kamsim.worst_case import lose_accounts, lose_group, lose_top_k, worst_cases

try:
    __version__ = version("kamsim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "CANONICAL_COLUMNS",
    "DEFAULT_TACTICS",
    "AssumptionError",
    "CapacityRequirement",
    "ChurnAssumptions",
    "EfficiencyGains",
    "ExactLossDistribution",
    "InputDataError",
    "KamProgram",
    "KamsimError",
    "KeyAccountCriteria",
    "KeyAccountScores",
    "LorenzCurve",
    "MissingCriterionWarning",
    "Portfolio",
    "PricingAssumptions",
    "RebateSchedule",
    "ReplacementAssumptions",
    "ReplacementTimeline",
    "RetentionResponse",
    "Scenario",
    "SimulationResult",
    "Tactic",
    "TierRule",
    "__version__",
    "account_shares",
    "break_even_retention",
    "compare_pass_through",
    "concentration_ratio",
    "concentration_summary",
    "evaluate_program",
    "expected_shortfall",
    "from_ledger",
    "gini",
    "hhi",
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
    "pass_through_breakdown",
    "read_accounts",
    "recovery_summary",
    "replacement_timeline",
    "required_capacity",
    "risk_contributions",
    "simulate",
    "survival_curve",
    "value_at_risk",
    "vasicek_cdf",
    "vasicek_ppf",
    "with_certain_loss",
    "worst_cases",
]
