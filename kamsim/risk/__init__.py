"""Risk measures (VaR, Expected Shortfall, exceedance, Monte Carlo errors) and the exact twin.

Below the engine: the Monte Carlo result and the exact distribution both report through
these measures (the :class:`LossDistribution` protocol), and the engine's importance
sampler is tuned with the exact twin.
"""

from __future__ import annotations

from kamsim.risk import exact, measures
from kamsim.risk.exact import (
    ExactLossDistribution,
    loss_distribution,
    loss_distribution_from_arrays,
    vasicek_cdf,
    vasicek_ppf,
)
from kamsim.risk.measures import (
    DEFAULT_LEVELS,
    LossDistribution,
    es_standard_error,
    exceedance_probability,
    expected_shortfall,
    risk_table,
    value_at_risk,
    var_confidence_interval,
)

__all__ = [
    "DEFAULT_LEVELS",
    "ExactLossDistribution",
    "LossDistribution",
    "es_standard_error",
    "exact",
    "exceedance_probability",
    "expected_shortfall",
    "loss_distribution",
    "loss_distribution_from_arrays",
    "measures",
    "risk_table",
    "value_at_risk",
    "var_confidence_interval",
    "vasicek_cdf",
    "vasicek_ppf",
]
