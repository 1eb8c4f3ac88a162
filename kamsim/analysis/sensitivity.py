"""Which assumptions matter: tornado charts, global sensitivity and scenario comparison.

Three tools, all on common random numbers (every run of one analysis uses the same root
seed, so the engine draws the same shared shocks and account noise; see
:func:`kamsim.engine.churn_events`), so differences between runs are caused by the
assumptions, not by Monte Carlo noise:

* :func:`tornado`: one assumption at a time from a low to a high value, the others at
  their base values; the change in one output (expected loss, 95 % VaR, probability of
  falling below break-even, ...). Bars sorted by swing.
* :func:`global_sensitivity`: all assumptions drawn together over their ranges
  (Latin hypercube) and a *moment-independent* importance measure computed with SALib:
  PAWN (default) or Borgonovo's delta.
* :func:`compare_scenarios`: several named scenarios side by side.

Parameters and metrics are open sets. A :class:`Parameter` is a name plus a function
``(scenario, value) -> scenario`` (and one reading the current value); a :class:`Metric`
is a name plus a function ``SimulationResult -> float``. Pass your own (e.g. replacement
or pricing assumptions) alongside :func:`default_parameters`.

Which global measure applies when
---------------------------------
Variance-based Sobol indices split the output variance into parts due to each input and
their interactions; the split is only meaningful when the inputs are *independent*, and
variance is a poor summary of a skewed, heavy-tailed loss. Churn of individual accounts
is dependent through shared shocks, so a Sobol analysis over per-account churn (or over
assumptions that move together, such as churn level and correlation in a recession) is
the wrong tool. Here the inputs are the *assumptions themselves*, drawn independently by
construction over user-set ranges; the dependence between accounts lives inside the
model. For those, a moment-independent measure compares the whole output distribution
with and without knowing one input:

* PAWN (Pianosi & Wagener 2015): Kolmogorov-Smirnov distance between the conditional and
  unconditional output distributions, summarised over slices of the input (median).
  Deterministic given the sample; robust at small sample sizes; good for ranking and
  screening. The default.
* delta (Borgonovo 2007): the expected L1 distance between conditional and unconditional
  output densities; its definition does not require independent inputs, and SALib
  reports bootstrap confidence intervals. SALib's estimator draws from NumPy's legacy
  global generator; kamsim seeds it from ``rng`` for the call only and restores the
  previous global state afterwards (so results are reproducible and callers' global
  state is untouched; not thread-safe while it runs).

If assumptions are genuinely dependent (a recession raises churn *and* correlation),
do not treat them as independent inputs: define one combined :class:`Parameter` that
moves both (see :func:`with_changes`) or compare named scenarios instead.

References
----------
Pianosi, F. and Wagener, T. (2015). A simple and efficient method for global sensitivity
analysis based on cumulative distribution functions. Environ. Model. Softw. 67, 1-11.
Khorashadi Zadeh, F. et al. (2017). Comparison of variance-based and moment-independent
global sensitivity analysis approaches by application to the SWAT model. Environ. Model.
Softw. 91, 210-222 (a dummy input as the screening threshold).
Borgonovo, E. (2007). A new uncertainty importance measure. Reliab. Eng. Syst. Saf.
92(6), 771-784.
Saltelli, A. et al. (2008). Global Sensitivity Analysis: The Primer. Wiley (Sobol indices
and their independence assumption).
Herman, J. and Usher, W. (2017). SALib: an open-source Python library for sensitivity
analysis. JOSS 2(9), 97.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim._util.rng import root_seed
from kamsim.engine import SimulationResult, simulate
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario
from kamsim.portfolio import Portfolio

__all__ = [
    "DUMMY",
    "METRICS",
    "MIN_CORRELATION",
    "GlobalSensitivityResult",
    "Metric",
    "Parameter",
    "ScenarioComparison",
    "TornadoResult",
    "TornadoRuns",
    "compare_scenarios",
    "default_parameters",
    "get_metric",
    "global_sensitivity",
    "price_cut_portfolio",
    "replacement_parameters",
    "tornado",
    "tornado_runs",
    "tornado_table",
    "with_changes",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Name of the no-effect input of :func:`global_sensitivity` (its noise floor).
DUMMY = "dummy"

#: Smallest correlation used when a range reaches 0 (see :func:`default_parameters`).
MIN_CORRELATION = 1e-6


# ---------------------------------------------------------------------------------------
# metrics


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    """An output of a simulation: a name and a function of the result.

    Parameters
    ----------
    name : str
        Short identifier (``"var_95"``).
    label : str
        Text for tables and charts.
    fn : callable
        ``SimulationResult -> float``.
    unit : str
        ``"currency"``, ``"probability"``, ...

    Examples
    --------
    >>> m = Metric(name="p_no_loss", label="P(no account lost)", unit="probability",
    ...            fn=lambda r: float((r.per_path["accounts_lost"] == 0).mean()))
    >>> m.name
    'p_no_loss'
    """

    name: str
    label: str
    fn: Callable[[SimulationResult], float]
    unit: str = "currency"

    def __post_init__(self) -> None:
        if not self.name:
            raise AssumptionError("must be a non-empty string", field="name")
        if not callable(self.fn):
            raise AssumptionError("must be callable (SimulationResult -> float)",
                                  field="fn")


def _mean(measure: str) -> Callable[[SimulationResult], float]:
    return lambda r: float(r.per_path[measure].mean())


#: Built-in metrics by name.
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric(name="expected_loss", label="expected run-rate revenue lost",
           fn=_mean("run_rate_lost")),
    Metric(name="var_95", label="95 % VaR of run-rate revenue lost",
           fn=lambda r: r.var(0.95)),
    Metric(name="var_99", label="99 % VaR of run-rate revenue lost",
           fn=lambda r: r.var(0.99)),
    Metric(name="es_95", label="95 % ES of run-rate revenue lost",
           fn=lambda r: r.es(0.95)),
    Metric(name="expected_gross_profit_lost", label="expected gross profit lost in horizon",
           fn=_mean("gross_profit_lost")),
    Metric(name="var_95_gross_profit", label="95 % VaR of gross profit lost in horizon",
           fn=lambda r: r.var(0.95, "gross_profit_lost")),
    Metric(name="prob_below_break_even", label="P(below break-even within horizon)",
           fn=lambda r: r.prob_below_break_even(), unit="probability"),
    Metric(name="expected_accounts_lost", label="expected accounts lost",
           fn=_mean("accounts_lost"), unit="count"),
    # these two need replacement assumptions (and opening cash) in the scenario
    Metric(name="prob_out_of_cash", label="P(cash below zero within horizon)",
           fn=lambda r: r.prob_out_of_cash(), unit="probability"),
    Metric(name="expected_revenue_gap", label="expected cumulative revenue gap",
           fn=lambda r: r.expected_gap("revenue")),
)}


def get_metric(metric: str | Metric) -> Metric:
    """A built-in metric by name (see :data:`METRICS`), or ``metric`` itself.

    Examples
    --------
    >>> get_metric("var_95").label
    '95 % VaR of run-rate revenue lost'
    """
    if isinstance(metric, Metric):
        return metric
    if metric not in METRICS:
        msg = f"unknown metric {metric!r}; choose one of {sorted(METRICS)} or pass a Metric"
        raise AssumptionError(msg, field="metric")
    return METRICS[metric]


# ---------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameter:
    """One assumption that sensitivity analyses can move.

    Parameters
    ----------
    name : str
        Identifier (``"churn_level"``); keys of ``ranges`` and ``changes`` use it.
    label : str
        Text for tables and charts.
    apply : callable
        ``(scenario, value) -> scenario``: a copy of the scenario with the assumption set
        to ``value``.
    current : callable
        ``scenario -> float``: the assumption's value in a scenario.
    spread : float
        Default range: ``current ± max(spread * |current|, min_spread)``...
    min_spread : float
        ...so that an assumption at 0 still gets a range.
    bounds : tuple of float
        Values are clipped into ``[bounds[0], bounds[1]]``.
    integer : bool
        Round values to whole numbers (e.g. months).
    unit : str
        Unit of the value, for tables.

    Examples
    --------
    >>> p = default_parameters()["churn_level"]
    >>> from kamsim.portfolio.datasets import load_sample
    >>> sc = Scenario(portfolio=load_sample())
    >>> p.default_range(sc)
    (0.5, 1.5)
    >>> p.apply(sc, 1.2).churn.level
    1.2
    """

    name: str
    label: str
    apply: Callable[[Scenario, float], Scenario]
    current: Callable[[Scenario], float]
    spread: float = 0.5
    min_spread: float = 0.0
    bounds: tuple[float, float] = (-math.inf, math.inf)
    integer: bool = False
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise AssumptionError("must be a non-empty string", field="name")
        if not (callable(self.apply) and callable(self.current)):
            raise AssumptionError("apply and current must be callable", field=self.name)
        if not (self.spread >= 0 and self.min_spread >= 0):
            raise AssumptionError("spread and min_spread must be >= 0", field=self.name)
        if not self.bounds[0] <= self.bounds[1]:
            raise AssumptionError(f"bounds must be (low, high), got {self.bounds}",
                                  field=self.name)

    def clip(self, value: float) -> float:
        """``value`` clipped into the bounds (and rounded if ``integer``)."""
        v = min(max(float(value), self.bounds[0]), self.bounds[1])
        return float(round(v)) if self.integer else v

    def default_range(self, scenario: Scenario) -> tuple[float, float]:
        """``(low, high)`` around the scenario's current value."""
        cur = float(self.current(scenario))
        d = max(self.spread * abs(cur), self.min_spread)
        return self.clip(cur - d), self.clip(cur + d)


def _set_level(sc: Scenario, v: float) -> Scenario:
    return sc.with_churn(level=float(v))


def _set_correlation(sc: Scenario, v: float) -> Scenario:
    # the engine draws uniforms (not normals) when every correlation is 0; a tiny floor
    # keeps the normal draws, i.e. the common random numbers, across the range
    return sc.with_churn(correlation=max(float(v), MIN_CORRELATION))


def _set_partial(sc: Scenario, v: float) -> Scenario:
    return sc.with_churn(partial_prob=float(v))


def _partial_now(sc: Scenario) -> float:
    return float(np.mean(sc.partial_probs()))


def _set_notice(sc: Scenario, v: float) -> Scenario:
    return sc.with_churn(notice_months=round(v))


def _set_fixed(sc: Scenario, v: float) -> Scenario:
    return replace(sc, fixed_costs=float(v))


def _set_replacement(field_name: str) -> Callable[[Scenario, float], Scenario]:
    def apply(sc: Scenario, v: float) -> Scenario:
        if sc.replacement is None:
            msg = f"{field_name} needs replacement assumptions in the scenario"
            raise AssumptionError(msg, field=field_name)
        changes: dict[str, Any] = {
            field_name: round(v) if field_name == "ramp_months" else float(v)}
        return replace(sc, replacement=replace(sc.replacement, **changes))

    return apply


def _replacement_now(field_name: str) -> Callable[[Scenario], float]:
    def current(sc: Scenario) -> float:
        if sc.replacement is None:
            msg = f"{field_name} needs replacement assumptions in the scenario"
            raise AssumptionError(msg, field=field_name)
        return float(getattr(sc.replacement, field_name))

    return current


def replacement_parameters() -> dict[str, Parameter]:
    """Tornado parameters of the replacement assumptions (scenarios with ``replacement``).

    ``opportunities_per_month``, ``win_rate`` (in [0.01, 1]), ``cycle_mean_months`` and
    ``ramp_months`` (whole months, at least 1), each ±50 %. They move how fast lost revenue
    is won back, so they show in outputs such as ``prob_out_of_cash``,
    ``expected_revenue_gap`` or ``prob_below_break_even``, and leave churn losses (VaR of
    revenue lost) unchanged: a zero-width bar is then the right answer.

    Examples
    --------
    >>> sorted(replacement_parameters())
    ['cycle_mean_months', 'opportunities_per_month', 'ramp_months', 'win_rate']
    """
    specs = (
        ("opportunities_per_month", "sales capacity (opportunities a month)", (0.0, math.inf),
         False, "count per month"),
        ("win_rate", "win rate", (0.01, 1.0), False, "probability"),
        ("cycle_mean_months", "sales cycle (months)", (0.0, math.inf), False, "months"),
        ("ramp_months", "ramp-up (months)", (1.0, math.inf), True, "months"),
    )
    return {name: Parameter(name=name, label=label, apply=_set_replacement(name),
                            current=_replacement_now(name), spread=0.5, bounds=bounds,
                            integer=integer, unit=unit)
            for name, label, bounds, integer, unit in specs}


def _set_price_cut(sc: Scenario, v: float) -> Scenario:
    return replace(sc, portfolio=price_cut_portfolio(sc.portfolio, v))


def price_cut_portfolio(portfolio: Portfolio, cut: float) -> Portfolio:
    """The portfolio after a uniform price cut of ``cut`` (0.03 = 3 %).

    Revenue falls by ``cut * revenue`` and, volumes and costs unchanged, so does gross
    profit (one for one). A simple stand-in until :mod:`kamsim.economics.pricing` models pass-
    through; retention effects are separate assumptions (e.g. ``churn_level``).

    Examples
    --------
    >>> pf = Portfolio(pd.DataFrame({"account_id": ["a"], "revenue": [100.0],
    ...                              "gross_margin": [0.3]}))
    >>> cut = price_cut_portfolio(pf, 0.1)
    >>> float(cut.revenue[0]), round(float(cut.gross_profit[0]), 6)
    (90.0, 20.0)
    """
    if not 0 <= cut < 1:
        raise AssumptionError(f"must be in [0, 1), got {cut!r}", field="price_cut")
    df = portfolio.to_frame()
    rev = df["revenue"].to_numpy(dtype=np.float64)
    if "gross_profit" in df.columns:
        df["gross_profit"] = df["gross_profit"].to_numpy(dtype=np.float64) - cut * rev
    df = df.drop(columns=[c for c in ("gross_margin",) if c in df.columns])
    df["revenue"] = rev * (1.0 - cut)
    return Portfolio(df, source=portfolio.source)


def default_parameters(*, include_decisions: bool = False) -> dict[str, Parameter]:
    """The built-in assumptions, by name.

    ``churn_level`` (±50 %), ``correlation`` (±50 %, at least ±0.1, in [0, 0.95]; a value
    of 0 is run as 1e-6 to keep common random numbers), ``partial_prob`` (±50 %, at least
    ±0.2; sets one value for all tiers), ``notice_months`` (±3 months), ``fixed_costs``
    (±20 %); with ``include_decisions=True`` also ``price_cut`` (0 to 10 %: revenue
    and gross profit fall by the cut). A price cut is a decision rather than an uncertain
    assumption, and it shrinks the revenue at risk itself, so it is left out of tornado
    and global analyses unless asked for; :func:`with_changes` always knows it.

    Replacement and pricing assumptions can be added as further :class:`Parameter`
    objects: ``{**default_parameters(), "win_rate": Parameter(...)}``.

    Examples
    --------
    >>> sorted(default_parameters())
    ['churn_level', 'correlation', 'fixed_costs', 'notice_months', 'partial_prob']
    >>> "price_cut" in default_parameters(include_decisions=True)
    True
    """
    params = (
        Parameter(name="churn_level", label="churn level (x base probabilities)",
                  apply=_set_level, current=lambda s: s.churn.level, spread=0.5,
                  bounds=(0.0, math.inf), unit="multiplier"),
        Parameter(name="correlation", label="shared-shock correlation",
                  apply=_set_correlation, current=lambda s: s.churn.correlation,
                  spread=0.5, min_spread=0.1, bounds=(0.0, 0.95), unit="correlation"),
        Parameter(name="partial_prob", label="share of churn that is partial",
                  apply=_set_partial, current=_partial_now, spread=0.5, min_spread=0.2,
                  bounds=(0.0, 1.0), unit="probability"),
        Parameter(name="notice_months", label="notice period (months)",
                  apply=_set_notice, current=lambda s: float(s.churn.notice_months),
                  spread=0.0, min_spread=3.0, bounds=(0.0, math.inf), integer=True,
                  unit="months"),
        Parameter(name="fixed_costs", label="annual fixed costs",
                  apply=_set_fixed, current=lambda s: s.fixed_costs, spread=0.2,
                  bounds=(0.0, math.inf), unit="currency per year"),
    )
    decisions = (
        Parameter(name="price_cut", label="price cut passed to all accounts",
                  apply=_set_price_cut, current=lambda s: 0.0, spread=0.0,
                  min_spread=0.1, bounds=(0.0, 0.5), unit="fraction of price"),
    )
    chosen: tuple[Parameter, ...] = (*params, *decisions) if include_decisions else params
    return {p.name: p for p in chosen}


def _param_map(parameters: Mapping[str, Parameter] | Sequence[Parameter] | None,
               *, include_decisions: bool = False) -> dict[str, Parameter]:
    if parameters is None:
        return default_parameters(include_decisions=include_decisions)
    items = list(parameters.values()) if isinstance(parameters, Mapping) else list(parameters)
    out: dict[str, Parameter] = {}
    for p in items:
        if not isinstance(p, Parameter):
            msg = f"parameters must be Parameter objects, got {type(p).__name__}"
            raise AssumptionError(msg, field="parameters")
        out[p.name] = p
    return out


def _clamp_notice(sc: Scenario, name: str, value: float) -> float:
    if name == "notice_months":
        return min(value, sc.horizon_months - 1.0)
    return value


def with_changes(
    scenario: Scenario,
    changes: Mapping[str, float],
    *,
    parameters: Mapping[str, Parameter] | Sequence[Parameter] | None = None,
    name: str | None = None,
) -> Scenario:
    """A copy of ``scenario`` with named assumptions set (e.g. a recession).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> base = Scenario(portfolio=load_sample(), horizon_months=24)
    >>> rec = with_changes(base, {"churn_level": 1.5, "correlation": 0.35}, name="recession")
    >>> rec.name, rec.churn.level, rec.churn.correlation
    ('recession', 1.5, 0.35)
    """
    params = _param_map(parameters, include_decisions=True)
    unknown = sorted(set(changes) - set(params))
    if unknown:
        msg = f"unknown parameter(s) {unknown}; known: {sorted(params)}"
        raise AssumptionError(msg, field="changes")
    sc = scenario
    for k, v in changes.items():
        sc = params[k].apply(sc, params[k].clip(v))
    return replace(sc, name=name) if name is not None else sc


def _resolve_range(p: Parameter, sc: Scenario,
                   ranges: Mapping[str, tuple[float, float]] | None) -> tuple[float, float]:
    if ranges is not None and p.name in ranges:
        lo, hi = (float(x) for x in ranges[p.name])
        if not lo <= hi:
            raise AssumptionError(f"range must be (low, high), got {ranges[p.name]}",
                                  field=f"ranges[{p.name!r}]")
        lo, hi = p.clip(lo), p.clip(hi)
    else:
        lo, hi = p.default_range(sc)
    return _clamp_notice(sc, p.name, lo), _clamp_notice(sc, p.name, hi)


# ---------------------------------------------------------------------------------------
# tornado


@dataclass(frozen=True, slots=True, kw_only=True)
class TornadoResult:
    """What :func:`tornado` returns.

    ``table`` (also ``to_frame()``) has one row per parameter, largest swing first:
    ``parameter, label, unit, base_value, low_value, high_value, output_low,
    output_high, change_low, change_high, swing`` (``swing = |output_high -
    output_low|``; changes are relative to ``base_output``).
    """

    scenario_name: str
    metric: str
    metric_label: str
    metric_unit: str
    base_output: float
    n_paths: int
    seed: int
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The tornado table (a copy)."""
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """Short table: ``parameter, low_value, high_value, change_low, change_high``."""
        return self.table[["parameter", "low_value", "high_value", "change_low",
                           "change_high", "swing"]].copy()


def tornado(
    scenario: Scenario,
    *,
    metric: str | Metric = "var_95",
    parameters: Mapping[str, Parameter] | Sequence[Parameter] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    n_paths: int = 20_000,
    rng: np.random.Generator | int | None = None,
) -> TornadoResult:
    """One-at-a-time sensitivity of ``metric`` to each assumption (tornado table).

    Each assumption is set to its low and then its high value, the others kept at the
    scenario's values; every run uses the same root seed (common random numbers), so a
    bar shows the effect of the assumption, not simulation noise. Parameters whose low
    and high coincide (e.g. a bound) get a zero swing.

    Parameters
    ----------
    scenario : Scenario
        The base case.
    metric : str or Metric
        Output measured (see :data:`METRICS`), default the 95 % VaR of run-rate revenue
        lost.
    parameters : mapping or sequence of Parameter, optional
        Assumptions to move; default :func:`default_parameters`, plus
        :func:`replacement_parameters` when the scenario has replacement assumptions.
    ranges : mapping of str to (low, high), optional
        Ranges by parameter name; others use their default range.
    n_paths : int
        Paths per run (``1 + 2 x parameters`` runs).
    rng : numpy.random.Generator, int or None
        Root seed of all runs (SPEC 7); recorded in ``result.seed``.

    Returns
    -------
    TornadoResult

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> t = tornado(sc, metric="expected_loss", n_paths=2048, rng=1)
    >>> t.table["parameter"].iloc[0]
    'churn_level'
    >>> bool((t.table["swing"].diff().dropna() <= 0).all())
    True
    """
    runs = tornado_runs(scenario, parameters=parameters, ranges=ranges, n_paths=n_paths,
                        rng=rng)
    return runs.tornado(metric)


@dataclass(frozen=True, eq=False)
class TornadoRuns:
    """The simulations behind a tornado chart, kept so that any metric is instant.

    One run of the base scenario and one per parameter value, all on the same root seed
    (common random numbers). :meth:`tornado` evaluates a metric on them without
    simulating again, which is what makes switching the output of an interactive tornado
    instant.
    """

    scenario_name: str
    n_paths: int
    seed: int
    base: SimulationResult = field(repr=False)
    rows: tuple[tuple[Parameter, float, float, SimulationResult, SimulationResult], ...] = (
        field(repr=False))
    base_values: tuple[float, ...] = field(repr=False)

    def tornado(self, metric: str | Metric = "var_95") -> TornadoResult:
        """The tornado of ``metric`` (see :func:`tornado`)."""
        m = get_metric(metric)
        base_out = float(m.fn(self.base))
        rows = []
        for (p, lo, hi, res_lo, res_hi), base_value in zip(self.rows, self.base_values,
                                                            strict=True):
            out_lo = float(m.fn(res_lo))
            out_hi = out_lo if res_hi is res_lo else float(m.fn(res_hi))
            rows.append({
                "parameter": p.name, "label": p.label, "unit": p.unit,
                "base_value": base_value, "low_value": lo, "high_value": hi,
                "output_low": out_lo, "output_high": out_hi,
                "change_low": out_lo - base_out, "change_high": out_hi - base_out,
                "swing": abs(out_hi - out_lo),
            })
        table = (pd.DataFrame(rows)
                 .sort_values(["swing", "parameter"], ascending=[False, True], kind="stable")
                 .reset_index(drop=True))
        table.index.name = "rank"
        return TornadoResult(scenario_name=self.scenario_name, metric=m.name,
                             metric_label=m.label, metric_unit=m.unit, base_output=base_out,
                             n_paths=self.n_paths, seed=self.seed, table=table)


def tornado_runs(
    scenario: Scenario,
    *,
    parameters: Mapping[str, Parameter] | Sequence[Parameter] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    n_paths: int = 20_000,
    rng: np.random.Generator | int | None = None,
) -> TornadoRuns:
    """Run the simulations of a tornado once; evaluate any metric later.

    Same arguments as :func:`tornado` (without the metric).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> runs = tornado_runs(sc, n_paths=2048, rng=1)
    >>> runs.tornado("var_95").table.equals(tornado(sc, n_paths=2048, rng=1).table)
    True
    """
    params = _param_map(parameters)
    if parameters is None and scenario.replacement is not None:
        params.update(replacement_parameters())
    if ranges is not None:
        unknown = sorted(set(ranges) - set(params))
        if unknown:
            msg = f"ranges for unknown parameter(s) {unknown}; known: {sorted(params)}"
            raise AssumptionError(msg, field="ranges")
    seed = root_seed(rng)

    def run(sc: Scenario) -> SimulationResult:
        return simulate(sc, n_paths=n_paths, rng=seed, progress=False)

    base = run(scenario)
    rows = []
    base_values = []
    for p in params.values():
        lo, hi = _resolve_range(p, scenario, ranges)
        res_lo = run(p.apply(scenario, lo))
        res_hi = res_lo if hi == lo else run(p.apply(scenario, hi))
        rows.append((p, lo, hi, res_lo, res_hi))
        base_values.append(float(p.current(scenario)))
    return TornadoRuns(scenario_name=scenario.name, n_paths=n_paths, seed=seed, base=base,
                       rows=tuple(rows), base_values=tuple(base_values))


def tornado_table(scenario: Scenario, **kwargs: Any) -> pd.DataFrame:
    """The tornado table of :func:`tornado` (same keyword arguments), for reports.

    Returns
    -------
    pandas.DataFrame
        ``TornadoResult.table``, with the metric, base output and seed in ``attrs``.
    """
    res = tornado(scenario, **kwargs)
    tab = res.to_frame()
    tab.attrs.update(metric=res.metric, metric_label=res.metric_label,
                     base_output=res.base_output, seed=res.seed, n_paths=res.n_paths)
    return tab


# ---------------------------------------------------------------------------------------
# global sensitivity


@dataclass(frozen=True, slots=True, kw_only=True)
class GlobalSensitivityResult:
    """What :func:`global_sensitivity` returns.

    ``table``: one row per parameter, most important first; columns ``parameter,
    label, low, high, importance`` (PAWN: the median KS statistic; delta: delta) and the
    method's own columns (PAWN ``minimum, mean, median, maximum, CV, stdev``; delta
    ``delta, delta_conf, S1, S1_conf``: S1 is a first-order Sobol index shown for
    comparison only). ``samples``: the drawn inputs and the output per sample.
    """

    method: str
    metric: str
    metric_label: str
    n_samples: int
    n_paths: int
    seed: int
    table: pd.DataFrame = field(repr=False)
    samples: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The importance table (a copy)."""
        return self.table.copy()


def _delta_isolated(problem: dict[str, object], x: FloatArray, y: FloatArray,
                    seed: int, num_resamples: int) -> pd.DataFrame:
    """SALib's delta with its global-state side effects contained (see module notes)."""
    from SALib.analyze import delta

    # SALib's delta resamples with NumPy's legacy global generator and offers only global
    # seeding: seed it for this call and restore the caller's state afterwards
    state = np.random.get_state()  # noqa: NPY002
    fmt = warnings.formatwarning
    try:
        np.random.seed(seed % 2**32)  # noqa: NPY002
        # SALib resets the warning filters to "once"; record its notices (restored on
        # exit) and pass them to the log instead of the caller's warning filters
        with warnings.catch_warnings(record=True) as caught:
            res = delta.analyze(problem, x, y, num_resamples=num_resamples, seed=None,
                                print_to_console=False)
        for w in caught:
            logger.info("SALib delta: %s", w.message)
    finally:
        np.random.set_state(state)  # noqa: NPY002
        warnings.formatwarning = fmt
    return pd.DataFrame({
        "delta": np.asarray(res["delta_balanced"], dtype=np.float64),
        "delta_conf": np.asarray(res["delta_balanced_conf"], dtype=np.float64),
        "S1": np.asarray(res["S1"], dtype=np.float64),
        "S1_conf": np.asarray(res["S1_conf"], dtype=np.float64),
    })


def global_sensitivity(
    scenario: Scenario,
    *,
    metric: str | Metric = "var_95",
    parameters: Mapping[str, Parameter] | Sequence[Parameter] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    method: Literal["pawn", "delta"] = "pawn",
    n_samples: int = 200,
    n_paths: int = 4096,
    slices: int = 10,
    num_resamples: int = 100,
    dummy: bool = True,
    rng: np.random.Generator | int | None = None,
) -> GlobalSensitivityResult:
    """Moment-independent global sensitivity of ``metric`` to independent assumptions.

    The assumptions are drawn together, independently and uniformly over their ranges
    (Latin hypercube, SALib), each sample is simulated with the same root seed (common
    random numbers: the output is then a smooth function of the assumptions), and PAWN
    or delta ranks them. See the module notes for which measure applies when; do not
    pass assumptions here that you believe move together.

    Parameters
    ----------
    scenario : Scenario
    metric : str or Metric
    parameters : mapping or sequence of Parameter, optional
        Default :func:`default_parameters` (uncertain assumptions, no decisions).
    ranges : mapping of str to (low, high), optional
    method : {"pawn", "delta"}
    n_samples : int
        Assumption samples (>= 20; 200+ for stable rankings).
    n_paths : int
        Paths per sample.
    slices : int
        PAWN's number of conditioning slices.
    num_resamples : int
        delta's bootstrap resamples (its bias correction and confidence interval); the
        delta estimator's cost grows with it.
    dummy : bool
        Add a dummy input that changes nothing (row ``"dummy"``): its importance is the
        estimator's noise floor, and assumptions scoring near it do not matter
        (Khorashadi Zadeh et al. 2017).
    rng : numpy.random.Generator, int or None
        Seeds the sampling and the simulations (SPEC 7).

    Returns
    -------
    GlobalSensitivityResult
    """
    from SALib.analyze import pawn
    from SALib.sample import latin

    m = get_metric(metric)
    params = _param_map(parameters)
    if dummy:
        params[DUMMY] = Parameter(name=DUMMY, label="(dummy: no effect, noise floor)",
                                  apply=lambda s, v: s, current=lambda s: 0.5,
                                  bounds=(0.0, 1.0), spread=1.0)
    if not isinstance(n_samples, int) or n_samples < 20:
        raise AssumptionError(f"must be a whole number >= 20, got {n_samples!r}",
                              field="n_samples")
    if method not in ("pawn", "delta"):
        msg = f"method must be 'pawn' or 'delta', got {method!r}"
        raise AssumptionError(msg, field="method")
    seed = root_seed(rng)
    # the sample gets its own child stream; every simulation shares the root seed
    sample_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    names, bounds = [], []
    for p in params.values():
        lo, hi = _resolve_range(p, scenario, ranges)
        if hi > lo:
            names.append(p.name)
            bounds.append([lo, hi])
    if len(names) < 2:
        msg = "need at least two parameters with a non-empty range"
        raise AssumptionError(msg, field="parameters")
    problem: dict[str, object] = {"num_vars": len(names), "names": names, "bounds": bounds}
    x = np.asarray(latin.sample(problem, n_samples, seed=sample_rng), dtype=np.float64)
    y = np.empty(n_samples)
    for i in range(n_samples):
        sc = scenario
        for j, nm in enumerate(names):
            x[i, j] = params[nm].clip(x[i, j])
            sc = params[nm].apply(sc, x[i, j])
        y[i] = float(m.fn(simulate(sc, n_paths=n_paths, rng=seed, progress=False)))
    match method:
        case "pawn":
            res = pawn.analyze(problem, x, y, S=slices, print_to_console=False, seed=None)
            tab = pd.DataFrame({k: np.asarray(res[k], dtype=np.float64) for k in
                                ("minimum", "mean", "median", "maximum", "CV", "stdev")})
            importance = tab["median"].to_numpy()
        case "delta":
            tab = _delta_isolated(problem, x, y, seed, num_resamples)
            importance = tab["delta"].to_numpy()
    tab.insert(0, "importance", importance)
    tab.insert(0, "high", [b[1] for b in bounds])
    tab.insert(0, "low", [b[0] for b in bounds])
    tab.insert(0, "label", [params[n].label for n in names])
    tab.insert(0, "parameter", names)
    tab = (tab.sort_values(["importance", "parameter"], ascending=[False, True],
                           kind="stable").reset_index(drop=True))
    tab.index.name = "rank"
    samples = pd.DataFrame(x, columns=names)
    samples[m.name] = y
    return GlobalSensitivityResult(method=method, metric=m.name, metric_label=m.label,
                                   n_samples=n_samples, n_paths=n_paths, seed=seed,
                                   table=tab, samples=samples)


# ---------------------------------------------------------------------------------------
# scenario comparison


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioComparison:
    """What :func:`compare_scenarios` returns.

    ``table`` (tidy, also ``to_frame()``): ``scenario, metric, label, unit, value,
    change`` (vs the first scenario), one row per scenario and metric.
    """

    scenarios: tuple[str, ...]
    n_paths: int
    seed: int
    common_accounts: bool
    table: pd.DataFrame = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The tidy table (a copy)."""
        return self.table.copy()

    def wide(self) -> pd.DataFrame:
        """Scenarios as rows, metric labels as columns."""
        w = self.table.pivot_table(index="scenario", columns="label", values="value",
                                   aggfunc="first", sort=False)
        w = w.reindex(index=list(self.scenarios))
        w.columns.name = None
        return w


def compare_scenarios(
    scenarios: Sequence[Scenario] | Mapping[str, Scenario],
    *,
    metrics: Sequence[str | Metric] = ("expected_loss", "var_95", "es_95",
                                       "prob_below_break_even"),
    n_paths: int = 20_000,
    rng: np.random.Generator | int | None = None,
) -> ScenarioComparison:
    """Several named scenarios side by side, on common random numbers.

    Scenarios on the same accounts share their random draws (same root seed), so their
    differences are due to the assumptions. ``common_accounts`` is False when the
    portfolios differ in accounts (the draws then do not line up account by account).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> base = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> rec = with_changes(base, {"churn_level": 1.5}, name="recession")
    >>> cmp = compare_scenarios([base, rec], metrics=["expected_loss"], n_paths=2048, rng=0)
    >>> cmp.wide().index.tolist()
    ['baseline', 'recession']
    >>> bool(cmp.table["change"].iloc[1] > 0)
    True
    """
    if isinstance(scenarios, Mapping):
        named = [(str(k), v) for k, v in scenarios.items()]
    else:
        named = [(s.name, s) for s in scenarios]
    if not named:
        raise AssumptionError("give at least one scenario", field="scenarios")
    labels = [n for n, _ in named]
    if len(set(labels)) != len(labels):
        msg = f"scenario names must be unique, got {labels}"
        raise AssumptionError(msg, field="scenarios")
    ms = [get_metric(x) for x in metrics]
    seed = root_seed(rng)
    ids0 = named[0][1].portfolio.account_ids.tolist()
    common = all(s.portfolio.account_ids.tolist() == ids0 for _, s in named)
    rows = []
    first: dict[str, float] = {}
    for name, sc in named:
        res = simulate(sc, n_paths=n_paths, rng=seed, progress=False)
        for m in ms:
            v = float(m.fn(res))
            first.setdefault(m.name, v)
            rows.append({"scenario": name, "metric": m.name, "label": m.label,
                         "unit": m.unit, "value": v, "change": v - first[m.name]})
    return ScenarioComparison(scenarios=tuple(labels), n_paths=n_paths, seed=seed,
                              common_accounts=common, table=pd.DataFrame(rows))
