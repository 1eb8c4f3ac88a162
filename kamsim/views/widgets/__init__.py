"""The ipywidgets explorers used by the notebooks and the app."""

from __future__ import annotations

from kamsim.views.widgets.base import Explorer, html_table
from kamsim.views.widgets.concentration import (
    ConcentrationExplorer,
    concentration_explorer,
)
from kamsim.views.widgets.data import DataStep, data_step, describe_portfolio, suggest_mapping
from kamsim.views.widgets.pricing import (
    NegotiationPanel,
    PricingExplorer,
    negotiation_panel,
    pricing_explorer,
)
from kamsim.views.widgets.replacement import (
    ReplacementExplorer,
    replacement_explorer,
)
from kamsim.views.widgets.retention import (
    RetentionExplorer,
    retention_explorer,
)
from kamsim.views.widgets.sensitivity import (
    LEVEL_METRICS,
    TornadoExplorer,
    tornado_explorer,
)
from kamsim.views.widgets.worst_case import (
    WorstCaseExplorer,
    worst_case_explorer,
)

__all__ = [
    "LEVEL_METRICS",
    "ConcentrationExplorer",
    "DataStep",
    "Explorer",
    "NegotiationPanel",
    "PricingExplorer",
    "ReplacementExplorer",
    "RetentionExplorer",
    "TornadoExplorer",
    "WorstCaseExplorer",
    "concentration_explorer",
    "data_step",
    "describe_portfolio",
    "html_table",
    "negotiation_panel",
    "pricing_explorer",
    "replacement_explorer",
    "retention_explorer",
    "suggest_mapping",
    "tornado_explorer",
    "worst_case_explorer",
]
