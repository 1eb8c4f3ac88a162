"""Tiered volume discounts and rebates: :class:`RebateSchedule` (all-units or incremental)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim._util.validate import from_dict
from kamsim._util.validate import number as _number
from kamsim.exceptions import AssumptionError

__all__ = ["RebateSchedule"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


# ---------------------------------------------------------------------------------------
# rebates and volume discounts


@dataclass(frozen=True, slots=True, kw_only=True)
class RebateSchedule:
    """A tiered volume discount or rebate.

    Parameters
    ----------
    thresholds : sequence of float
        Volumes (units per period) at which each rate starts, strictly increasing, the
        first usually 0.
    rates : sequence of float
        Discount rate of each tier, in [0, 1), one per threshold.
    kind : {"all_units", "incremental"}
        ``"all_units"`` (retroactive): the rate of the highest tier reached applies to
        every unit. ``"incremental"``: each tier's rate applies only to the units within
        that tier's band.

    Examples
    --------
    1,000 units at 10 each, 2 % from 500 units and 5 % from 800:

    >>> from dataclasses import replace
    >>> s = RebateSchedule(thresholds=(0, 500, 800), rates=(0.0, 0.02, 0.05))
    >>> float(s.cost(1000, unit_price=10.0))
    500.0
    >>> float(replace(s, kind="incremental").cost(1000, unit_price=10.0))
    160.0
    >>> float(s.effective_price(1000, unit_price=10.0))
    9.5
    """

    thresholds: tuple[float, ...] = (0.0,)
    rates: tuple[float, ...] = (0.0,)
    kind: Literal["all_units", "incremental"] = "all_units"

    def __post_init__(self) -> None:
        try:
            th = tuple(float(x) for x in self.thresholds)
            rt = tuple(float(x) for x in self.rates)
        except (TypeError, ValueError):
            raise AssumptionError("thresholds and rates must be sequences of numbers",
                                  field="rebate") from None
        if not th or len(th) != len(rt):
            raise AssumptionError(f"need one rate per threshold, got {len(th)} thresholds "
                                  f"and {len(rt)} rates", field="rebate.rates")
        if th[0] < 0 or any(b <= a for a, b in itertools.pairwise(th)) or not all(
                math.isfinite(x) for x in th):
            raise AssumptionError(f"must be finite, >= 0 and strictly increasing, got {th}",
                                  field="rebate.thresholds")
        for i, r in enumerate(rt):
            _number(r, f"rebate.rates[{i}]", lo=0.0, hi=1.0, hi_open=True)
        if self.kind not in ("all_units", "incremental"):
            raise AssumptionError(f"must be 'all_units' or 'incremental', got {self.kind!r}",
                                  field="rebate.kind")
        object.__setattr__(self, "thresholds", th)
        object.__setattr__(self, "rates", rt)

    def rate_reached(self, volume: npt.ArrayLike) -> FloatArray:
        """Rate of the highest tier reached at each volume (0 below the first threshold)."""
        v = np.asarray(volume, dtype=np.float64)
        idx = np.searchsorted(np.asarray(self.thresholds), v, side="right") - 1
        rates = np.concatenate([[0.0], np.asarray(self.rates)])
        return np.asarray(rates[idx + 1], dtype=np.float64)

    def cost(self, volume: npt.ArrayLike, unit_price: float = 1.0) -> FloatArray:
        """Total rebate (currency) at each volume, for a list price per unit."""
        v = np.asarray(volume, dtype=np.float64)
        if np.any(v < 0) or not np.all(np.isfinite(v)):
            raise AssumptionError("volumes must be finite and >= 0", field="volume")
        match self.kind:
            case "all_units":
                out = self.rate_reached(v) * v * unit_price
            case "incremental":
                th = np.asarray(self.thresholds)
                upper = np.append(th[1:], np.inf)
                units = np.clip(v[..., None] - th, 0.0, upper - th)
                out = (units * np.asarray(self.rates)).sum(axis=-1) * unit_price
            case _:  # pragma: no cover - validated in __post_init__
                msg = f"kind must be 'all_units' or 'incremental', got {self.kind!r}"
                raise AssumptionError(msg)
        return np.asarray(out, dtype=np.float64)

    def effective_price(self, volume: npt.ArrayLike, unit_price: float = 1.0) -> FloatArray:
        """Net price per unit after the rebate (the list price at zero volume)."""
        v = np.asarray(volume, dtype=np.float64)
        cost = self.cost(v, unit_price)
        per_unit = np.divide(cost, v, out=np.zeros_like(cost), where=v > 0)
        return np.asarray(unit_price - per_unit, dtype=np.float64)

    def table(self, volumes: npt.ArrayLike, unit_price: float = 1.0) -> pd.DataFrame:
        """``volume, gross_revenue, rebate, net_revenue, effective_price, effective_rate``."""
        v = np.asarray(volumes, dtype=np.float64)
        cost = self.cost(v, unit_price)
        gross = v * unit_price
        return pd.DataFrame({
            "volume": v, "gross_revenue": gross, "rebate": cost, "net_revenue": gross - cost,
            "effective_price": self.effective_price(v, unit_price),
            "effective_rate": np.divide(cost, gross, out=np.zeros_like(cost), where=gross > 0),
        })

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        return {"thresholds": list(self.thresholds), "rates": list(self.rates),
                "kind": self.kind}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RebateSchedule:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        return from_dict(cls, d, "rebate")
