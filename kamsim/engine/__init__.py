"""The one Monte Carlo engine.

:func:`simulate`, :func:`churn_events`, :class:`SimulationResult`, the samplers and the
replacement kernel.
"""

from __future__ import annotations

from kamsim.engine import samplers
from kamsim.engine.kernel import (
    BLOCK_SIZE,
    DEFAULT_QMC_REPLICATES,
    LOSS_MEASURES,
    REPLACEMENT_COLUMNS,
    SAMPLERS,
    LossMeasure,
    Sampler,
)
from kamsim.engine.result import (
    ReplacementOutcome,
    SimulationResult,
    risk_contributions,
)
from kamsim.engine.simulate import (
    churn_events,
    dask_client,
    simulate,
)

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_QMC_REPLICATES",
    "LOSS_MEASURES",
    "REPLACEMENT_COLUMNS",
    "SAMPLERS",
    "LossMeasure",
    "ReplacementOutcome",
    "Sampler",
    "SimulationResult",
    "churn_events",
    "dask_client",
    "risk_contributions",
    "samplers",
    "simulate",
]
