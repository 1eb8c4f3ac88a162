"""Parameter uncertainty: bands on VaR, ES and P(below break-even) from what we do not know.

Churn probabilities and correlations are estimates. :func:`parameter_uncertainty` runs an
*outer loop* of parameter draws around the exact twin (:mod:`kamsim.risk.exact`): each
draw is one plausible set of churn parameters, from a calibration fit
(:meth:`kamsim.analysis.calibrate.ChurnFit.probability_draws`,
:meth:`kamsim.analysis.calibrate.RenewalFit.probability_draws`) or from intervals the
user gives (``{"level": (0.8, 1.3), "correlation": (0.1, 0.3)}``, drawn uniformly and
independently), and the exact twin gives that draw's whole loss distribution with no
sampling noise.

Which band is which
-------------------
* **Parameter band** (``low``, ``high``): the central ``band`` share (default 90 %) of a
  figure (e.g. the 95 % VaR) across the parameter draws: "95 % VaR 15.4M; 90 % band
  13.9-17.2M from churn-estimate uncertainty". It is *only* parameter uncertainty: the
  randomness of churn itself is already inside each VaR, and the exact twin adds no
  Monte Carlo noise of its own.
* **Point** (``point``): the figure at the central parameters (the scenario as given, or
  the fit's estimates).
* **Predictive** (``predictive``): the figure of the *mixture* over the draws (the loss
  distribution averaged over parameter uncertainty, as a Bayesian predictive). It folds
  the parameter uncertainty into a single, usually larger, number.

How many outer draws
--------------------
The band's ends are sample quantiles of the outer draws, so they have sampling error of
their own. ``low_ci`` / ``high_ci`` give a distribution-free 95 % order-statistic interval
for each end, and ``stable`` is True when both intervals are narrower than 10 % of the
band's width. :func:`band_stability` shows how the ends would move with fewer draws. On
the sample scenario (``level`` in (0.8, 1.3), ``correlation`` in (0.1, 0.3), 95 % VaR),
the standard deviation of each end of the 90 % band was 10 % of the band's width with 25
outer draws, 6.5 % with 50, 5 % with 100, 3 % with 200 and 1.7 % with 400 (shrinking like
``1 / sqrt(n)``); ``stable`` first held at about 400. So: 100 draws for a first look,
200 for a slide (ends within about 6 % of the width, two standard deviations), 400 for a
stable band. 400 draws took about a minute there with ``max_points=2000``.

Interpolating across one parameter
----------------------------------
With a single interval and no ``prob_draws``, ``interpolate=K`` computes the exact twin at
``K`` Chebyshev nodes of the interval only, and each draw's loss distribution as the
polynomial through them (every lattice probability is a smooth function of the parameter).
The draws, and so the band, are the same; each draw's figures are those of its
interpolated distribution. One more exact run, at the first draw, measures the
interpolation error in the CDF norm (``interpolation_error``). On the sample scenario
(``level`` in (0.8, 1.3)), 9 nodes gave a CDF error of about 1e-9 (the exact twin's own
integration error), the same lattice VaR at every draw and ES within a few cents, for 10
exact runs instead of 100.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

import kamsim.risk.measures as risk
from kamsim._util.validate import whole
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario
from kamsim.risk.exact import ExactLossDistribution, loss_distribution

__all__ = ["UNCERTAIN_FIELDS", "UncertaintyResult", "band_stability",
           "parameter_uncertainty"]

FloatArray = npt.NDArray[np.float64]

#: Churn fields that ``intervals`` may cover.
UNCERTAIN_FIELDS = ("level", "correlation", "partial_prob", "nu")


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class UncertaintyResult:
    """Result of :func:`parameter_uncertainty`.

    Attributes
    ----------
    draws : pandas.DataFrame
        One row per outer draw: the drawn interval parameters, then ``var_<level>``,
        ``es_<level>`` and ``p_below_break_even`` (when the portfolio has margins).
    bands : pandas.DataFrame
        One row per figure (index ``metric``): ``point, predictive, median, low, high,
        low_ci_low, low_ci_high, high_ci_low, high_ci_high, stable``.
    band : float
        Central share of the draws the band covers (e.g. 0.9).
    n_draws : int
        Outer draws.
    interpolation_error : float
        With ``interpolate``: ``max_x |F_interpolated(x) - F_exact(x)|`` at the first
        draw (0 when every draw was computed exactly).
    """

    draws: pd.DataFrame
    bands: pd.DataFrame
    band: float
    n_draws: int
    interpolation_error: float = 0.0
    _notes: tuple[str, ...] = field(default=(), repr=False)

    def sentence(self, metric: str = "var_0.95", *, unit: float = 1e6,
                 suffix: str = "M") -> str:
        """A plain sentence, e.g. "95 % VaR 15.4M; 90 % band 13.9-17.2M from ...".

        Examples
        --------
        >>> import pandas as pd
        >>> b = pd.DataFrame({"point": [15.4e6], "low": [13.9e6], "high": [17.2e6]},
        ...                  index=pd.Index(["var_0.95"], name="metric"))
        >>> r = UncertaintyResult(draws=pd.DataFrame(), bands=b, band=0.9, n_draws=200)
        >>> r.sentence()
        '95 % VaR 15.4M; 90 % band 13.9-17.2M from churn-estimate uncertainty'
        """
        row = self.bands.loc[metric]
        kind, _, lv = metric.partition("_")
        label = {"var": "VaR", "es": "ES"}.get(kind, metric)
        if lv and kind in ("var", "es"):
            label = f"{float(lv):.0%}".replace("%", " %") + f" {label}"
        pct = f"{self.band:.0%}".replace("%", " %")
        return (f"{label} {row['point'] / unit:.1f}{suffix}; {pct} band "
                f"{row['low'] / unit:.1f}-{row['high'] / unit:.1f}{suffix} from "
                "churn-estimate uncertainty")


def _quantile_ci(x: FloatArray, p: float, conf: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval for the ``p`` quantile from order statistics."""
    xs = np.sort(x)
    n = xs.size
    lo = int(stats.binom.ppf((1 - conf) / 2, n, p))
    hi = int(stats.binom.ppf((1 + conf) / 2, n, p))
    return float(xs[max(lo - 1, 0)]), float(xs[min(hi, n - 1)])


def _draw_intervals(intervals: Mapping[str, tuple[float, float]], n: int,
                    rng: np.random.Generator) -> pd.DataFrame:
    cols: dict[str, FloatArray] = {}
    for name, bounds in intervals.items():
        if name not in UNCERTAIN_FIELDS:
            raise AssumptionError(f"unknown field {name!r}; intervals can cover "
                                  f"{', '.join(UNCERTAIN_FIELDS)}", field="intervals")
        try:
            lo, hi = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise AssumptionError(f"must be (low, high), got {bounds!r}",
                                  field=f"intervals[{name!r}]") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise AssumptionError(f"must be finite with low <= high, got {bounds!r}",
                                  field=f"intervals[{name!r}]")
        cols[name] = rng.uniform(lo, hi, n)
    return pd.DataFrame(cols, index=pd.RangeIndex(n, name="draw"))


def _figures(sc: Scenario, levels: Sequence[float], break_even: bool,
             exact_kwargs: Mapping[str, Any],
             d: ExactLossDistribution | None = None) -> tuple[dict[str, float], Any, Any]:
    if d is None:
        d = loss_distribution(sc, **exact_kwargs)
    out: dict[str, float] = {}
    for a in levels:
        out[f"var_{a:g}"] = d.var(a)
        out[f"es_{a:g}"] = d.es(a)
    g = None
    if break_even:
        g = loss_distribution(sc, measure="gross_profit", **exact_kwargs)
        x = float(np.sum(g.weights)) - float(sc.fixed_costs)
        out["p_below_break_even"] = float(g.sf(x))
    return out, d, g


def parameter_uncertainty(
    scenario: Scenario,
    *,
    intervals: Mapping[str, tuple[float, float]] | None = None,
    prob_draws: pd.DataFrame | npt.ArrayLike | None = None,
    n_draws: int = 200,
    levels: Sequence[float] = (0.95, 0.99),
    band: float = 0.9,
    rng: np.random.Generator | int | None = None,
    interpolate: int | None = None,
    point_distribution: ExactLossDistribution | None = None,
    **exact_kwargs: Any,
) -> UncertaintyResult:
    """Bands on VaR, ES and P(below break-even) from churn-parameter uncertainty.

    Parameters
    ----------
    scenario : Scenario
        The central scenario.
    intervals : mapping of str to (float, float), optional
        Ranges of churn fields (:data:`UNCERTAIN_FIELDS`), each drawn uniformly and
        independently per outer draw (e.g. ``{"level": (0.8, 1.3)}``).
    prob_draws : DataFrame or array, optional
        Draws of every account's annual churn probability: a DataFrame with one column per
        account id (as from :meth:`~kamsim.analysis.calibrate.ChurnFit.probability_draws`;
        accounts missing from it keep their probability) or an array of shape
        ``(draws, n_accounts)`` in portfolio order (e.g.
        :meth:`~kamsim.analysis.calibrate.RenewalFit.probability_draws`). Their count sets
        ``n_draws``. They replace the portfolio's ``churn_prob`` per draw (``tier_probs``
        and ``annual_prob`` are then not used).
    n_draws : int
        Outer draws when only ``intervals`` are given.
    levels : sequence of float
        VaR / ES levels.
    band : float
        Central share of the draws in the band (0.9: the 5 % and 95 % quantiles).
    rng : numpy.random.Generator, int or None
        Randomness of the interval draws (SPEC 7).
    interpolate : int, optional
        With exactly one interval and no ``prob_draws``: compute the exact twin at this
        many Chebyshev nodes of the interval (at least 3) and interpolate each draw's
        distribution between them, plus one exact check run (see the module notes);
        ``interpolation_error`` reports its error. None: every draw exactly.
    point_distribution : ExactLossDistribution, optional
        The scenario's own ``run_rate`` distribution, if already computed with the same
        ``exact_kwargs`` (saves one exact run).
    **exact_kwargs
        Passed to :func:`kamsim.risk.exact.loss_distribution` (e.g. ``max_points=2000``
        to trade lattice resolution for speed; the lattice, and so the mixture, is the
        same for every draw).

    Returns
    -------
    UncertaintyResult

    Examples
    --------
    >>> import pandas as pd
    >>> from kamsim.model import ChurnAssumptions, Scenario
    >>> from kamsim.portfolio import Portfolio
    >>> pf = Portfolio(pd.DataFrame({"account_id": list("ABCD"),
    ...                              "revenue": [500.0, 300.0, 150.0, 50.0]}))
    >>> sc = Scenario(portfolio=pf, horizon_months=12,
    ...               churn=ChurnAssumptions(annual_prob=0.1, correlation=0.2))
    >>> r = parameter_uncertainty(sc, intervals={"level": (0.7, 1.4)}, n_draws=40, rng=1)
    >>> b = r.bands.loc["var_0.95"]
    >>> bool(b["low"] <= b["point"] <= b["high"]), r.n_draws
    (True, 40)
    """
    if not 0 < band < 1:
        raise AssumptionError(f"must be in (0, 1), got {band!r}", field="band")
    if intervals is None and prob_draws is None:
        raise AssumptionError("give intervals={...} and/or prob_draws=...; with neither "
                              "there is no uncertainty to propagate", field="intervals")
    g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    pf = scenario.portfolio
    probs: FloatArray | None = None
    if prob_draws is not None:
        base = scenario.annual_probs()
        if isinstance(prob_draws, pd.DataFrame):
            ids = [str(a) for a in pf.account_ids]
            unknown = sorted(set(map(str, prob_draws.columns)) - set(ids))
            if unknown:
                raise AssumptionError(f"prob_draws has accounts not in the portfolio: "
                                      f"{unknown[:5]}", field="prob_draws")
            probs = np.tile(base, (len(prob_draws), 1))
            pos = {a: i for i, a in enumerate(ids)}
            for col in prob_draws.columns:
                probs[:, pos[str(col)]] = prob_draws[col].to_numpy(np.float64)
        else:
            probs = np.asarray(prob_draws, dtype=np.float64)
            if probs.ndim != 2 or probs.shape[1] != pf.n_accounts:
                raise AssumptionError(f"must have shape (draws, {pf.n_accounts}), got "
                                      f"{probs.shape}", field="prob_draws")
        if not np.all((probs >= 0) & (probs <= 1)):
            raise AssumptionError("must be probabilities in [0, 1]", field="prob_draws")
        n = probs.shape[0]
    else:
        n = whole(n_draws, "n_draws", lo=2)
    drawn = _draw_intervals(intervals or {}, n, g)
    lv = [float(a) for a in levels]
    break_even = pf.has_gross_profit
    point, _, _ = _figures(scenario, lv, break_even, exact_kwargs, point_distribution)
    interp: _Interpolated | None = None
    if interpolate is not None:
        if probs is not None or len(drawn.columns) != 1:
            raise AssumptionError("interpolate needs exactly one interval and no prob_draws",
                                  field="interpolate")
        name = str(drawn.columns[0])
        interp = _Interpolated(scenario, name, (intervals or {})[name],
                               whole(interpolate, "interpolate", lo=3), break_even,
                               exact_kwargs)
    rows = []
    pmf_sum: FloatArray | None = None
    gp_sum: FloatArray | None = None
    support = gp_support = None
    for i in range(n):
        sc = scenario
        if probs is not None:
            sc = replace(sc, portfolio=pf.replace(churn_prob=probs[i]),
                         churn=replace(sc.churn, tier_probs=None, annual_prob=None))
        changes = {k: float(drawn[k].to_numpy(np.float64)[i]) for k in drawn.columns}
        if changes:
            sc = sc.with_churn(**changes)
        if interp is not None:
            figs, d, gd = interp.figures(next(iter(changes.values())), lv)
        else:
            figs, d, gd = _figures(sc, lv, break_even, exact_kwargs)
        rows.append(changes | figs)
        if pmf_sum is None:
            pmf_sum, support = np.array(d.pmf), d.support
        elif d.pmf.size == pmf_sum.size:
            pmf_sum += d.pmf
        if gd is not None:
            if gp_sum is None:
                gp_sum, gp_support = np.array(gd.pmf), gd.support
            elif gd.pmf.size == gp_sum.size:
                gp_sum += gd.pmf
    table = pd.DataFrame(rows, index=pd.RangeIndex(n, name="draw"))
    predictive: dict[str, float] = {}
    if pmf_sum is not None and support is not None:
        mix = pmf_sum / pmf_sum.sum()
        for a in lv:
            predictive[f"var_{a:g}"] = risk.value_at_risk(support, a, weights=mix)
            predictive[f"es_{a:g}"] = risk.expected_shortfall(support, a, weights=mix)
    if gp_sum is not None and gp_support is not None:
        mix = gp_sum / gp_sum.sum()
        x = float(np.sum(pf.gross_profit)) - float(scenario.fixed_costs)
        predictive["p_below_break_even"] = float(mix[gp_support > x].sum())
    lo_q, hi_q = (1 - band) / 2, (1 + band) / 2
    out = []
    for m in point:
        vals = table[m].to_numpy(np.float64)
        low, high = float(np.quantile(vals, lo_q)), float(np.quantile(vals, hi_q))
        lci, hci = _quantile_ci(vals, lo_q), _quantile_ci(vals, hi_q)
        width = high - low
        stable = bool(width > 0 and max(lci[1] - lci[0], hci[1] - hci[0]) <= 0.1 * width)
        out.append({"metric": m, "point": point[m], "predictive": predictive.get(m, np.nan),
                    "median": float(np.median(vals)), "low": low, "high": high,
                    "low_ci_low": lci[0], "low_ci_high": lci[1], "high_ci_low": hci[0],
                    "high_ci_high": hci[1], "stable": stable})
    bands = pd.DataFrame(out).set_index("metric")
    err = 0.0 if interp is None or n == 0 else interp.check(
        float(drawn[drawn.columns[0]].to_numpy(np.float64)[0]))
    return UncertaintyResult(draws=table, bands=bands, band=float(band), n_draws=n,
                             interpolation_error=err)


@dataclass(frozen=True, slots=True)
class _Pmf:
    """A lattice distribution (support and pmf) standing in for an exact one."""

    support: FloatArray
    pmf: FloatArray


class _Barycentric:
    """Barycentric interpolation of rows at Chebyshev points, the same bits in every run.

    At the ``k`` Chebyshev points of the first kind ``cos((2j + 1) pi / 2k)`` (mapped to
    any interval) the barycentric weights are ``(-1)^j sin((2j + 1) pi / 2k)`` (Berrut &
    Trefethen 2004, SIAM Review 46(3)). Not :class:`scipy.interpolate.BarycentricInterpolator`:
    it computes its weights over a random permutation of the nodes and sums the weighted
    rows with a BLAS product, so the last bits of every interpolated figure changed from
    one run to the next; here the rows are added one node at a time, elementwise.
    """

    def __init__(self, nodes: FloatArray, rows: FloatArray) -> None:
        self.nodes = np.asarray(nodes, dtype=np.float64)
        self.rows = np.asarray(rows, dtype=np.float64)
        j = np.arange(self.nodes.size)
        self.weights = (-1.0) ** j * np.sin((2 * j + 1) * np.pi / (2 * self.nodes.size))

    def __call__(self, v: float) -> FloatArray:
        d = float(v) - self.nodes
        hit = np.flatnonzero(d == 0.0)
        if hit.size:
            node: FloatArray = self.rows[hit[0]].copy()
            return node
        c = (self.weights / d).tolist()
        acc = c[0] * self.rows[0]
        for cj, row in zip(c[1:], self.rows[1:], strict=True):
            acc += cj * row
        out: FloatArray = acc / math.fsum(c)
        return out


class _Interpolated:
    """Exact twins at Chebyshev nodes of one parameter, interpolated in between."""

    def __init__(self, scenario: Scenario, name: str, bounds: tuple[float, float], k: int,
                 break_even: bool, exact_kwargs: Mapping[str, Any]) -> None:
        lo, hi = (float(b) for b in bounds)
        self.scenario, self.name, self.exact_kwargs = scenario, name, exact_kwargs
        self.x = float(np.sum(scenario.portfolio.gross_profit)) - float(
            scenario.fixed_costs) if break_even else math.nan
        j = np.arange(k)
        nodes = (np.full(1, lo) if hi == lo else
                 0.5 * (lo + hi) + 0.5 * (hi - lo) * np.cos((2 * j + 1) * np.pi / (2 * k)))
        runs = [self._exact(float(v)) for v in nodes]
        self.support = runs[0][0].support
        self.rr = self._fit(nodes, np.array([r[0].pmf for r in runs]))
        gps = [r[1] for r in runs if r[1] is not None]
        self.gp_support = gps[0].support if gps else None
        self.gp = self._fit(nodes, np.array([g.pmf for g in gps])) if gps else None

    def _exact(self, v: float, margins: bool = True) -> tuple[ExactLossDistribution,
                                                                ExactLossDistribution | None]:
        sc = self.scenario.with_churn(**{self.name: v})
        d = loss_distribution(sc, **self.exact_kwargs)
        g = (None if math.isnan(self.x) or not margins
             else loss_distribution(sc, measure="gross_profit", **self.exact_kwargs))
        return d, g

    @staticmethod
    def _fit(nodes: FloatArray, pmfs: FloatArray) -> Any:
        if nodes.size == 1:
            return lambda v: pmfs[0]
        return _Barycentric(nodes, pmfs)

    @staticmethod
    def _pmf(fit: Any, v: float) -> FloatArray:
        p = np.clip(np.asarray(fit(v), dtype=np.float64).reshape(-1), 0.0, None)
        return np.asarray(p / p.sum(), dtype=np.float64)

    def figures(self, v: float, levels: Sequence[float]) -> tuple[dict[str, float], _Pmf,
                                                                  _Pmf | None]:
        d = _Pmf(self.support, self._pmf(self.rr, v))
        out: dict[str, float] = {}
        for a in levels:
            out[f"var_{a:g}"] = risk.value_at_risk(d.support, a, weights=d.pmf)
            out[f"es_{a:g}"] = risk.expected_shortfall(d.support, a, weights=d.pmf)
        g = None
        if self.gp is not None and self.gp_support is not None:
            g = _Pmf(self.gp_support, self._pmf(self.gp, v))
            out["p_below_break_even"] = float(g.pmf[g.support > self.x].sum())
        return out, d, g

    def check(self, v: float) -> float:
        """``max |F_interpolated - F_exact|`` at ``v`` (one more exact run)."""
        d, _ = self._exact(v, margins=False)
        p = self._pmf(self.rr, v)
        return float(np.max(np.abs(np.cumsum(p) - np.cumsum(d.pmf))))


def band_stability(result: UncertaintyResult, sizes: Sequence[int] = (25, 50, 100, 200),
                   metric: str = "var_0.95", *, n_boot: int = 200,
                   rng: np.random.Generator | int | None = None) -> pd.DataFrame:
    """How much the band's ends would move with fewer outer draws (resampled).

    For each size ``m``, draws ``m`` of the result's outer draws with replacement
    ``n_boot`` times and reports the standard deviation of each band end, relative to the
    full band's width: a stable band has ends that move by a small fraction of its width.

    Returns
    -------
    pandas.DataFrame
        Index ``n_draws``; columns ``low_sd, high_sd, relative_to_width``.
    """
    g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    x = result.draws[metric].to_numpy(np.float64)
    lo_q, hi_q = (1 - result.band) / 2, (1 + result.band) / 2
    width = float(np.quantile(x, hi_q) - np.quantile(x, lo_q))
    rows = []
    for m in sizes:
        mm = whole(int(m), "sizes", lo=2)
        s = x[g.integers(0, x.size, (int(n_boot), mm))]
        lo = np.quantile(s, lo_q, axis=1)
        hi = np.quantile(s, hi_q, axis=1)
        sd_lo, sd_hi = float(lo.std()), float(hi.std())
        rows.append({"n_draws": mm, "low_sd": sd_lo, "high_sd": sd_hi,
                     "relative_to_width": max(sd_lo, sd_hi) / width if width > 0
                     else math.nan})
    return pd.DataFrame(rows).set_index("n_draws")
