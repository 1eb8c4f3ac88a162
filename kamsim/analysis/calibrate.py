"""Calibrate churn probabilities from account history, with censoring handled properly.

Hand-typed churn probabilities are guesses; a supplier has history. This module turns
that history into the per-account annual churn probabilities that the churn model of
:mod:`kamsim.model` uses (a ``churn_prob`` column, or ``tier_probs``).

The workflow
------------
1. An **account history table**: one row per account with a start date, an end date
   (empty while the account is still active) and optional covariates (tier, segment,
   revenue band). :func:`validate_history` checks it and computes each account's
   observed duration; accounts still active are *right-censored* at the observation
   date ``as_of``: we know they survived at least that long, not when they will leave.
   Or derive the table from a **transaction ledger** with
   :func:`histories_from_ledger` (a documented inactivity rule).
2. :func:`fit_churn` fits a survival model with lifelines: Kaplan-Meier (no shape
   assumed), exponential (constant hazard), Weibull (hazard rising or falling with
   tenure), piecewise-exponential (a constant hazard per tenure band), or with
   covariates a Weibull accelerated-failure-time model or a Cox proportional-hazards
   model. Censored accounts enter the likelihood (or the risk sets) as survivors, never
   dropped: dropping them keeps only the accounts that already left and overstates churn.
3. :meth:`ChurnFit.account_probs` converts the fit into each account's probability of
   leaving within the next year *given its current tenure*,
   ``p_i = 1 - S(a_i + 1 | x_i) / S(a_i | x_i)``, with a confidence interval, ready for
   ``Portfolio.replace(churn_prob=...)`` (:meth:`ChurnFit.to_portfolio`) or
   ``ChurnAssumptions(tier_probs=...)`` (:meth:`ChurnFit.tier_probs`). The simulation
   engine then draws its own churn times from these probabilities (lifelines fits, it
   does not sample); it treats each account's hazard as constant over the horizon, so
   the conditional one-year probability is the right summary of a tenure-dependent fit.

Confidence intervals
--------------------
Parametric models: the fitted parameters are drawn from their asymptotic normal
distribution (maximum-likelihood estimate and inverse Hessian from lifelines; positive
parameters on the log scale) and the probabilities recomputed per draw; the interval is
the ``alpha/2`` and ``1 - alpha/2`` quantiles of the draws. Cox: the coefficients are
drawn, the Breslow baseline hazard is held fixed, so the interval covers coefficient
uncertainty only (narrower than the truth for small data). Kaplan-Meier: the accounts are
resampled with replacement (bootstrap) and the curve refitted.

Row numbers in error messages use spreadsheet numbering: the header is row 1, the first
account is row 2.

References
----------
Kaplan, E. L. and Meier, P. (1958). Nonparametric estimation from incomplete
observations. JASA 53(282), 457-481.
Cox, D. R. (1972). Regression models and life-tables. JRSS B 34(2), 187-220.
Davidson-Pilon, C. (2019). lifelines: survival analysis in Python. JOSS 4(40), 1317.
Fader, P. S. and Hardie, B. G. S. (2009). Probability models for customer-base analysis.
Journal of Interactive Marketing 23(1), 61-69 (contractual vs non-contractual churn).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special, stats

from kamsim._util.validate import whole
from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.portfolio import Portfolio, ledger_lines
from kamsim.portfolio.tables import dayfirst_of, is_missing, parse_dates, read_table, table_rows

__all__ = [
    "CHURN_MODELS",
    "DAYS_PER_YEAR",
    "RENEWAL_MODELS",
    "ChurnFit",
    "PartialChurnEstimate",
    "RenewalFit",
    "compare_renewal_models",
    "fit_churn",
    "fit_renewals",
    "histories_from_ledger",
    "history_from_durations",
    "partial_churn_from_ledger",
    "read_history",
    "validate_history",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Days per year used to express durations in years.
DAYS_PER_YEAR = 365.25

ChurnModel = Literal["kaplan_meier", "exponential", "weibull", "piecewise_exponential",
                     "weibull_aft", "cox"]
#: Survival models offered by :func:`fit_churn`.
CHURN_MODELS: tuple[str, ...] = ("kaplan_meier", "exponential", "weibull",
                                 "piecewise_exponential", "weibull_aft", "cox")
_REGRESSION = ("weibull_aft", "cox")


# ---------------------------------------------------------------------------------------
# validation


def _rows(mask: npt.NDArray[np.bool_]) -> list[int]:
    """Spreadsheet row numbers (header = row 1) of the True entries of ``mask``."""
    return [int(i) + 2 for i in np.flatnonzero(mask)]


def _examples(values: Sequence[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def _parse_dates(col: pd.Series, name: str, *, required: bool, dayfirst: bool | None,
                 path: str | None, rows: npt.NDArray[np.int64]) -> pd.Series:
    raw = col.astype(object)
    blank = np.array([is_missing(v) for v in raw.tolist()], dtype=bool)
    parsed = parse_dates(col, dayfirst=dayfirst, column=name, path=path, rows=rows)
    bad = parsed.isna().to_numpy() & ~blank
    if bad.any():
        raise InputDataError(
            f"has {int(bad.sum())} unparseable date(s): {_examples(raw[bad].tolist())}",
            path=path, column=name, rows=rows[bad].tolist(),
            fix="write dates as YYYY-MM-DD (Excel date cells and serial numbers work too)")
    if required and blank.any():
        raise InputDataError(f"has {int(blank.sum())} missing date(s); every account needs "
                             "one", path=path, column=name, rows=rows[blank].tolist())
    return parsed.reset_index(drop=True)


def _as_of(as_of: str | pd.Timestamp | None) -> pd.Timestamp:
    if as_of is None:
        return pd.Timestamp.today().normalize()
    ts = pd.Timestamp(as_of)
    if pd.isna(ts):
        msg = f"as_of must be a date, got {as_of!r}"
        raise InputDataError(msg)
    return ts


def validate_history(
    history: pd.DataFrame,
    *,
    account_id: str = "account_id",
    start: str = "start_date",
    end: str = "end_date",
    churned: str | None = None,
    covariates: Sequence[str] = (),
    as_of: str | pd.Timestamp | None = None,
    dayfirst: bool | None = None,
    path: str | None = None,
    rows: npt.ArrayLike | None = None,
) -> pd.DataFrame:
    """Check an account history table and compute durations and censoring.

    Parameters
    ----------
    history : pandas.DataFrame
        One row per account.
    account_id, start, end : str
        Column names of the id, the start date and the end date. An empty end date means
        the account is still active (censored at ``as_of``).
    churned : str, optional
        Column of booleans: whether the end date is a churn (True) or only the last day
        the account was observed (False, censored there). Without it, every end date is
        a churn.
    covariates : sequence of str
        Columns carried over for regression models (no missing values allowed).
    as_of : date-like, optional
        Observation date: the day the history was extracted. Default: today. Dates after
        it are errors ("in the future").
    dayfirst : bool, optional
        Read ``01/02/2024``-style dates day first (True) or month first (False); by
        default decided from each whole date column (see
        :func:`kamsim.portfolio.parse_dates`), and refused when it cannot be.
    path, rows : optional
        The file the history came from and the spreadsheet rows of its records, for
        messages (:func:`read_history` passes them).

    Returns
    -------
    pandas.DataFrame
        Columns ``account_id`` (text), ``start_date``, ``end_date`` (``NaT`` while
        active), ``churned`` (bool), ``duration_years`` (start to end, or to ``as_of``
        when censored; days counted inclusively, so a same-day end lasts one day) and the
        covariates. ``attrs["as_of"]`` holds the observation date.

    Raises
    ------
    InputDataError
        Naming the column and spreadsheet rows (header = row 1): missing columns, empty
        or duplicate ids, unparseable or missing start dates, end before start, dates
        after ``as_of``, churned accounts without an end date, missing covariates.

    Examples
    --------
    >>> h = pd.DataFrame({"account_id": ["a", "b"], "start_date": ["2020-01-01", "2021-01-01"],
    ...                   "end_date": ["2021-01-01", None]})
    >>> v = validate_history(h, as_of="2022-01-01")
    >>> v[["account_id", "churned"]].to_dict("list")
    {'account_id': ['a', 'b'], 'churned': [True, False]}
    >>> validate_history(pd.DataFrame({"account_id": ["a", "a"],
    ...     "start_date": ["2020-01-01"] * 2, "end_date": [None, None]}), as_of="2021-01-01")
    Traceback (most recent call last):
    ...
    kamsim.exceptions.InputDataError: column 'account_id', rows 2, 3: duplicate ...
    """
    if not isinstance(history, pd.DataFrame):
        msg = f"history must be a pandas DataFrame, got {type(history).__name__}"
        raise InputDataError(msg, path=path)
    if history.shape[0] == 0:
        msg = "history holds no accounts"
        raise InputDataError(msg, path=path)
    needed = [account_id, start, end, *([churned] if churned else []), *covariates]
    missing = [c for c in needed if c not in history.columns]
    if missing:
        msg = (f"history is missing column(s) {missing}; found "
               f"{[str(c) for c in history.columns]}")
        raise InputDataError(msg, path=path)
    ts_as_of = _as_of(as_of)
    rws = (table_rows(history.shape[0]) if rows is None
           else np.asarray(rows, dtype=np.int64))
    ids_raw = history[account_id].astype(object)
    blank_id = np.array([is_missing(v) for v in ids_raw.tolist()], dtype=bool)
    if blank_id.any():
        raise InputDataError(f"has {int(blank_id.sum())} empty account id(s)",
                             path=path, column=account_id, rows=rws[blank_id].tolist())
    ids = ids_raw.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer()
                      else str(v).strip())
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        raise InputDataError(
            f"duplicate account id(s): {_examples(sorted(set(ids[dup])))}; give each "
            "account one row (its first start and last end)",
            path=path, column=account_id, rows=rws[dup].tolist())
    if dayfirst is None:  # one file writes its dates one way: let each column settle both
        df_s, df_e = dayfirst_of(history[start]), dayfirst_of(history[end])
        dayfirst = df_s if df_s is not None else df_e
    s = _parse_dates(history[start], start, required=True, dayfirst=dayfirst, path=path,
                     rows=rws)
    e = _parse_dates(history[end], end, required=False, dayfirst=dayfirst, path=path,
                     rows=rws)
    before = (e < s).to_numpy()
    if before.any():
        raise InputDataError(
            f"{int(before.sum())} end date(s) before the start date; swap or fix them",
            path=path, column=end, rows=rws[before].tolist())
    for name, col in ((start, s), (end, e)):
        future = (col > ts_as_of).to_numpy()
        if future.any():
            raise InputDataError(
                f"{int(future.sum())} date(s) in the future (after as_of "
                f"{ts_as_of.date()}); fix them or pass the extraction date as as_of",
                path=path, column=name, rows=rws[future].tolist())
    has_end = e.notna().to_numpy()
    if churned is not None:
        words = {"true": True, "false": False, "1": True, "0": False, "yes": True,
                 "no": False}
        flag_raw = history[churned].map(
            lambda v: words.get(v.strip().lower(), v) if isinstance(v, str) else v)
        bad = ~flag_raw.isin([True, False, 0, 1]).to_numpy()
        if bad.any():
            raise InputDataError(f"must be True/False (or 1/0); got "
                                 f"{_examples(flag_raw[bad].tolist())}",
                                 path=path, column=churned, rows=rws[bad].tolist())
        flag = flag_raw.astype(bool).to_numpy()
        no_end = flag & ~has_end
        if no_end.any():
            raise InputDataError("churned account(s) without an end date; give the date "
                                 "the account left", path=path, column=end,
                                 rows=rws[no_end].tolist())
    else:
        flag = has_end
    stop = e.where(e.notna(), ts_as_of)
    days = (stop - s).dt.days.to_numpy(dtype=np.float64) + 1.0
    out = pd.DataFrame({
        "account_id": ids.to_numpy(dtype=object),
        "start_date": s.to_numpy(),
        "end_date": e.to_numpy(),
        "churned": flag,
        "duration_years": days / DAYS_PER_YEAR,
    })
    for c in covariates:
        col = history[c]
        na = col.isna().to_numpy()
        if na.any():
            raise InputDataError(f"covariate has {int(na.sum())} missing value(s)",
                                 path=path, column=c, rows=rws[na].tolist())
        out[c] = col.to_numpy()
    out.attrs["as_of"] = ts_as_of
    return out


def read_history(
    path: str | os.PathLike[str],
    *,
    sheet: str | int | None = None,
    dayfirst: bool | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    r"""Read an account history file (CSV or Excel) and validate it.

    The file is read as :func:`kamsim.portfolio.read_accounts` reads accounts (dialect
    sniffed, byte-order mark, trailing delimiters, Excel dates and serial numbers), ids
    are kept as text, and the table is checked by :func:`validate_history`, whose keyword
    arguments (``account_id=``, ``start=``, ``end=``, ``churned=``, ``as_of=``, ...) pass
    through. Messages name the file and its spreadsheet rows.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "history.csv"
    >>> _ = p.write_text("account_id;start_date;end_date\n007;13/01/2020;\n"
    ...                  "008;02/03/2020;01/02/2021\n")
    >>> h = read_history(p, as_of="2022-01-01")
    >>> h["account_id"].tolist(), h["end_date"].dt.strftime("%Y-%m-%d").tolist()
    (['007', '008'], [nan, '2021-02-01'])
    """
    table = read_table(Path(path), sheet=sheet, what="history file")
    return validate_history(table.frame, dayfirst=dayfirst, path=str(path), rows=table.rows,
                            **kwargs)


def history_from_durations(
    durations: npt.ArrayLike,
    churned: npt.ArrayLike,
    *,
    unit: Literal["days", "months", "years"] = "years",
    account_ids: Sequence[str] | None = None,
    covariates: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A history table from tenures and churn flags (when no dates are at hand).

    Parameters
    ----------
    durations : array_like
        Observed tenure of each account (to churn, or to the observation date).
    churned : array_like of bool
        Whether the account churned (False: still active, censored).
    unit : {"days", "months", "years"}
        Unit of ``durations`` (a month is 1/12 year).
    account_ids : sequence of str, optional
        Default ``"1", "2", ...``.
    covariates : pandas.DataFrame, optional
        Covariate columns, one row per account.

    Returns
    -------
    pandas.DataFrame
        As :func:`validate_history` returns (dates are ``NaT``; ``attrs["as_of"]`` is
        ``None``), accepted by :func:`fit_churn`.

    Examples
    --------
    >>> h = history_from_durations([3, 12, 7], [True, False, True], unit="months")
    >>> h["duration_years"].tolist()
    [0.25, 1.0, 0.5833333333333334]
    """
    d = np.asarray(durations, dtype=np.float64).ravel()
    e_raw = np.asarray(churned).ravel()
    if e_raw.shape != d.shape:
        msg = f"durations ({d.size}) and churned ({e_raw.size}) differ in length"
        raise InputDataError(msg)
    bad = ~np.isfinite(d) | (d < 0)
    if bad.any():
        raise InputDataError(f"{int(bad.sum())} duration(s) missing or negative",
                             column="duration", rows=_rows(bad))
    bad_e = ~np.isin(e_raw, [True, False, 0, 1])
    if bad_e.any():
        raise InputDataError("churned must be True/False (or 1/0)", column="churned",
                             rows=_rows(bad_e))
    match unit:
        case "days":
            years = d / DAYS_PER_YEAR
        case "months":
            years = d / 12.0
        case "years":
            years = d
        case _:
            msg = f"unit must be 'days', 'months' or 'years', got {unit!r}"
            raise AssumptionError(msg, field="unit")
    ids = ([str(i + 1) for i in range(d.size)] if account_ids is None
           else [str(a) for a in account_ids])
    if len(ids) != d.size or len(set(ids)) != d.size:
        msg = "account_ids must be unique, one per duration"
        raise InputDataError(msg, column="account_id")
    out = pd.DataFrame({"account_id": np.array(ids, dtype=object),
                        "start_date": pd.NaT, "end_date": pd.NaT,
                        "churned": e_raw.astype(bool), "duration_years": years})
    if covariates is not None:
        if covariates.shape[0] != d.size:
            msg = f"covariates has {covariates.shape[0]} rows, expected {d.size}"
            raise InputDataError(msg)
        for c in covariates.columns:
            out[str(c)] = covariates[c].to_numpy()
    out.attrs["as_of"] = None
    return out


# ---------------------------------------------------------------------------------------
# fitting


def _design(frame: pd.DataFrame, covariates: Sequence[str],
            columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Numeric design matrix: numeric covariates as is, text ones one-hot (first dropped)."""
    if not covariates:
        return pd.DataFrame(index=frame.index)
    parts = []
    for c in covariates:
        col = frame[c]
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            parts.append(col.astype(np.float64).rename(c).to_frame())
        else:
            parts.append(pd.get_dummies(col.astype(str), prefix=c, prefix_sep="=",
                                        drop_first=columns is None, dtype=np.float64))
    x = pd.concat(parts, axis=1)
    if columns is not None:
        x = x.reindex(columns=list(columns), fill_value=0.0)
    return x


@dataclass(frozen=True, eq=False)
class ChurnFit:
    """A fitted churn (survival) model and how to turn it into churn probabilities.

    Built by :func:`fit_churn`; ``fitter`` is the fitted lifelines object, ``data`` the
    validated history (see :func:`validate_history`). Durations are in years.
    """

    model: str
    fitter: Any = field(repr=False)
    data: pd.DataFrame = field(repr=False)
    covariates: tuple[str, ...]
    design_columns: tuple[str, ...]
    as_of: pd.Timestamp | None
    alpha: float = 0.05
    breakpoints: tuple[float, ...] = ()

    # -- basic facts --------------------------------------------------------------------
    @property
    def n_accounts(self) -> int:
        """Accounts in the history (censored ones included)."""
        return int(self.data.shape[0])

    @property
    def n_churned(self) -> int:
        """Accounts observed to churn."""
        return int(self.data["churned"].sum())

    @property
    def max_follow_up(self) -> float:
        """Longest observed duration (years); the fit extrapolates beyond it."""
        return float(self.data["duration_years"].max())

    def summary(self) -> pd.DataFrame:
        """Fitted parameters with confidence bounds (lifelines' summary), or KM facts.

        Returns
        -------
        pandas.DataFrame
            Parametric models: lifelines' ``summary`` (``coef``, ``se(coef)``, bounds...).
            Kaplan-Meier: rows ``accounts, churned, censored, median_survival_years,
            survival_1y``.
        """
        if self.model == "kaplan_meier":
            km = self.fitter
            rows = {
                "accounts": float(self.n_accounts),
                "churned": float(self.n_churned),
                "censored": float(self.n_accounts - self.n_churned),
                "median_survival_years": float(km.median_survival_time_),
                "survival_1y": float(km.survival_function_at_times([1.0]).iloc[0]),
            }
            return pd.DataFrame({"value": rows}).rename_axis("metric")
        return pd.DataFrame(self.fitter.summary)

    # -- survival curves ----------------------------------------------------------------
    def _x(self, frame: pd.DataFrame | None) -> FloatArray:
        src = self.data if frame is None else frame
        if not self.design_columns:
            return np.zeros((src.shape[0], 0))
        return _design(src, self.covariates, self.design_columns).to_numpy(np.float64)

    def _theta(self) -> FloatArray:
        return np.asarray(self.fitter.params_.to_numpy(), dtype=np.float64)

    def _param_draws(self, n_draws: int, rng: np.random.Generator) -> FloatArray:
        """Parameter vectors: row 0 the estimate, then ``n_draws`` asymptotic draws."""
        theta = self._theta()
        cov = np.asarray(self.fitter.variance_matrix_.to_numpy(), dtype=np.float64)
        positive = self.model in ("exponential", "weibull", "piecewise_exponential")
        if positive:  # delta method to the log scale keeps draws positive
            cov = cov / np.outer(theta, theta)
            centre = np.log(theta)
        else:
            centre = theta
        draws = rng.multivariate_normal(centre, cov, size=n_draws, method="eigh")
        draws = np.vstack([centre, draws])
        return np.exp(draws) if positive else draws

    def _cum_hazard(self, t: FloatArray, theta: FloatArray, x: FloatArray) -> FloatArray:
        """Cumulative hazard at ``t`` (accounts) for parameter rows ``theta`` (draws).

        Returns an array of shape ``(draws, accounts)``.
        """
        t = np.maximum(t, 0.0)[None, :]
        match self.model:
            case "exponential":
                return np.asarray(t / theta[:, :1], dtype=np.float64)
            case "weibull":
                lam, rho = theta[:, :1], theta[:, 1:2]
                return np.asarray((t / lam) ** rho, dtype=np.float64)
            case "piecewise_exponential":
                edges = np.concatenate([[0.0], self.breakpoints, [np.inf]])
                h = np.zeros((theta.shape[0], t.shape[1]))
                for i in range(edges.size - 1):
                    span = np.clip(t, edges[i], edges[i + 1]) - edges[i]
                    h += span / theta[:, i:i + 1]
                return h
            case "weibull_aft":
                k = x.shape[1]
                # params_ order: lambda_ coefficients (covariates..., Intercept), rho_
                names = list(self.fitter.params_.index)
                lam_idx = [names.index(("lambda_", c)) for c in self.design_columns]
                lam0 = names.index(("lambda_", "Intercept"))
                rho0 = names.index(("rho_", "Intercept"))
                log_lam = theta[:, [lam0]] + (theta[:, lam_idx] @ x.T if k else 0.0)
                rho = np.exp(theta[:, [rho0]])
                return np.asarray((t / np.exp(log_lam)) ** rho, dtype=np.float64)
            case "cox":
                base = self.fitter.baseline_cumulative_hazard_
                times = base.index.to_numpy(dtype=np.float64)
                h0 = base.iloc[:, 0].to_numpy(dtype=np.float64)
                idx = np.searchsorted(times, t[0], side="right") - 1
                h0_t = np.where(idx >= 0, h0[np.maximum(idx, 0)], 0.0)
                mean = self.fitter._norm_mean.reindex(self.design_columns).to_numpy()
                risk = np.exp(theta @ (x - mean).T)
                return np.asarray(h0_t[None, :] * risk, dtype=np.float64)
            case _:  # pragma: no cover - guarded by fit_churn
                msg = f"no parametric hazard for model {self.model!r}"
                raise AssumptionError(msg)

    def _km_survival(self, times: FloatArray, fitter: Any) -> FloatArray:
        s = fitter.survival_function_at_times(times).to_numpy(dtype=np.float64)
        return np.asarray(s, dtype=np.float64)

    def _km_draws(self, times: FloatArray, n_draws: int,
                  rng: np.random.Generator) -> FloatArray:
        """KM survival at ``times``: row 0 the fit, then bootstrap refits."""
        from lifelines import KaplanMeierFitter

        d = self.data["duration_years"].to_numpy()
        e = self.data["churned"].to_numpy(dtype=bool)
        out = np.empty((n_draws + 1, times.size))
        out[0] = self._km_survival(times, self.fitter)
        n = d.size
        for j in range(n_draws):
            idx = rng.integers(0, n, n)
            km = KaplanMeierFitter().fit(d[idx], e[idx])
            out[j + 1] = self._km_survival(times, km)
        return out

    def _survival_draws(self, times: FloatArray, frame: pd.DataFrame | None,
                        n_draws: int, rng: np.random.Generator) -> FloatArray:
        """Survival ``S(times_i | x_i)``: shape ``(1 + n_draws, len(times))``."""
        if self.model == "kaplan_meier":
            return self._km_draws(times, n_draws, rng)
        theta = self._param_draws(n_draws, rng)
        x = self._x(frame) if self.model in _REGRESSION else np.zeros((times.size, 0))
        return np.exp(-self._cum_hazard(times, theta, x))

    def survival_table(
        self,
        times: npt.ArrayLike | None = None,
        *,
        n_draws: int = 400,
        rng: np.random.Generator | int | None = None,
    ) -> pd.DataFrame:
        """Survival curve ``S(t)`` with a confidence band, for the whole history.

        Regression models show the mean of the accounts' curves (the population curve).

        Parameters
        ----------
        times : array_like, optional
            Tenures in years; default 0 to the longest follow-up in 50 steps.
        n_draws : int
            Draws (parametric) or bootstrap refits (Kaplan-Meier) for the band.
        rng : numpy.random.Generator, int or None
            Randomness of the draws (SPEC 7).

        Returns
        -------
        pandas.DataFrame
            Index ``time_years``; columns ``survival, survival_low, survival_high``.
        """
        rng = np.random.default_rng(rng)
        t = (np.linspace(0.0, self.max_follow_up, 51) if times is None
             else np.asarray(times, dtype=np.float64).ravel())
        if self.model in _REGRESSION:
            n = self.n_accounts
            s = np.zeros((n_draws + 1, t.size))
            theta = self._param_draws(n_draws, rng)
            x = self._x(None)
            for j, tj in enumerate(t):
                s[:, j] = np.exp(-self._cum_hazard(np.full(n, tj), theta, x)).mean(axis=1)
        else:
            s = self._survival_draws(t, None, n_draws, rng)
        lo, hi = np.quantile(s[1:], [self.alpha / 2, 1 - self.alpha / 2], axis=0)
        return pd.DataFrame({"survival": s[0], "survival_low": lo, "survival_high": hi},
                            index=pd.Index(t, name="time_years"))

    # -- probabilities for the simulation ------------------------------------------------
    def _prob_draws(self, horizon_years: float, n_draws: int, rng: np.random.Generator,
                    frame: pd.DataFrame) -> FloatArray:
        a = frame["tenure_years"].to_numpy(dtype=np.float64)
        if self.model == "kaplan_meier":
            grid = np.concatenate([a, a + horizon_years])
            s = self._km_draws(grid, n_draws, rng)
            s0, s1 = s[:, :a.size], s[:, a.size:]
        else:
            theta = self._param_draws(n_draws, rng)
            x = self._x(frame) if self.model in _REGRESSION else np.zeros((a.size, 0))
            h0 = self._cum_hazard(a, theta, x)
            h1 = self._cum_hazard(a + horizon_years, theta, x)
            return np.asarray(-np.expm1(-(h1 - h0)), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 1.0 - s1 / s0
        return np.asarray(np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0), dtype=np.float64)

    def _accounts(self, active_only: bool) -> pd.DataFrame:
        d = self.data
        frame = d[~d["churned"]] if active_only else d
        frame = frame.copy()
        frame["tenure_years"] = frame["duration_years"]
        return frame

    def probability_draws(self, n_draws: int = 200, *, horizon_years: float = 1.0,
                          active_only: bool = True,
                          rng: np.random.Generator | int | None = None) -> pd.DataFrame:
        """Draws of every account's churn probability from the fit's uncertainty.

        The same draws as the intervals of :meth:`account_probs` (asymptotic parameter
        draws; bootstrap refits for Kaplan-Meier), for an outer loop of parameter
        uncertainty (:func:`kamsim.analysis.uncertainty.parameter_uncertainty`).

        Returns
        -------
        pandas.DataFrame
            One row per draw (index ``draw``), one column per account id.
        """
        if not horizon_years > 0:
            raise AssumptionError(f"must be > 0, got {horizon_years!r}",
                                  field="horizon_years")
        g = np.random.default_rng(rng)
        frame = self._accounts(active_only)
        p = self._prob_draws(horizon_years, whole(n_draws, "n_draws", lo=1), g, frame)
        return pd.DataFrame(p[1:], columns=frame["account_id"].astype(str).tolist(),
                            index=pd.RangeIndex(p.shape[0] - 1, name="draw"))

    def account_probs(
        self,
        *,
        horizon_years: float = 1.0,
        active_only: bool = True,
        n_draws: int = 1000,
        rng: np.random.Generator | int | None = None,
    ) -> pd.DataFrame:
        """Each account's probability of churning in the next ``horizon_years``.

        ``p_i = 1 - S(a_i + h | x_i) / S(a_i | x_i)`` at the account's tenure ``a_i`` on
        ``as_of`` (its duration so far). This is the annual ``churn_prob`` the engine
        needs (with ``horizon_years=1``).

        Parameters
        ----------
        horizon_years : float
            Length of the period (years, > 0).
        active_only : bool
            Only accounts still active at ``as_of`` (the ones that can still churn).
        n_draws : int
            Parameter draws (bootstrap refits for Kaplan-Meier) for the interval.
        rng : numpy.random.Generator, int or None
            Randomness of the draws (SPEC 7).

        Returns
        -------
        pandas.DataFrame
            Columns ``account_id, tenure_years, churn_prob, churn_prob_low,
            churn_prob_high, extrapolated`` (True when ``a_i + h`` lies beyond the longest
            follow-up, where the fit is an extrapolation; Kaplan-Meier then cannot see any
            churn and the probability is too low), plus the covariates.
        """
        if not horizon_years > 0:
            raise AssumptionError(f"must be > 0, got {horizon_years!r}",
                                  field="horizon_years")
        rng = np.random.default_rng(rng)
        frame = self._accounts(active_only)
        p = self._prob_draws(horizon_years, n_draws, rng, frame)
        lo, hi = np.quantile(p[1:], [self.alpha / 2, 1 - self.alpha / 2], axis=0)
        out = pd.DataFrame({
            "account_id": frame["account_id"].to_numpy(),
            "tenure_years": frame["tenure_years"].to_numpy(),
            "churn_prob": p[0], "churn_prob_low": lo, "churn_prob_high": hi,
            "extrapolated": frame["tenure_years"].to_numpy() + horizon_years
            > self.max_follow_up + 1e-12,
        })
        for c in self.covariates:
            out[c] = frame[c].to_numpy()
        out.attrs.update(model=self.model, horizon_years=horizon_years, alpha=self.alpha)
        return out

    def tier_probs(
        self,
        by: str = "tier",
        *,
        horizon_years: float = 1.0,
        n_draws: int = 1000,
        rng: np.random.Generator | int | None = None,
    ) -> pd.DataFrame:
        """Mean churn probability of the active accounts per group (e.g. per tier).

        The interval is that of the group mean (the mean is taken within each draw).
        ``result["churn_prob"].to_dict()`` is ready for
        ``ChurnAssumptions(tier_probs=...)``.

        Returns
        -------
        pandas.DataFrame
            Index the group (named ``by``); columns ``accounts, churn_prob,
            churn_prob_low, churn_prob_high``.
        """
        if by not in self.data.columns:
            msg = (f"no column {by!r} in the history; pass it to fit_churn(covariates=...) "
                   f"or the history; columns: {list(self.data.columns)}")
            raise InputDataError(msg, column=by)
        rng = np.random.default_rng(rng)
        frame = self._accounts(True)
        p = self._prob_draws(horizon_years, n_draws, rng, frame)
        groups = frame[by].astype(str).to_numpy()
        rows = []
        for g in sorted(set(groups)):
            sel = groups == g
            m = p[:, sel].mean(axis=1)
            lo, hi = np.quantile(m[1:], [self.alpha / 2, 1 - self.alpha / 2])
            rows.append({by: g, "accounts": int(sel.sum()), "churn_prob": float(m[0]),
                         "churn_prob_low": float(lo), "churn_prob_high": float(hi)})
        return pd.DataFrame(rows).set_index(by)

    def to_portfolio(
        self,
        portfolio: Portfolio,
        *,
        missing: Literal["raise", "mean", "keep"] = "raise",
        n_draws: int = 200,
        rng: np.random.Generator | int | None = None,
    ) -> Portfolio:
        """The portfolio with its ``churn_prob`` column replaced by the calibrated values.

        Accounts are matched by ``account_id`` with the active accounts of the history.

        Parameters
        ----------
        portfolio : Portfolio
        missing : {"raise", "mean", "keep"}
            Accounts of the portfolio that are not active in the history: raise an
            :class:`InputDataError` naming them, give them the mean calibrated
            probability, or keep their current ``churn_prob``.
        n_draws, rng
            As in :meth:`account_probs` (the interval is not used here).
        """
        probs = self.account_probs(n_draws=n_draws, rng=rng).set_index("account_id")
        ids = portfolio.account_ids
        mapped = pd.Series(ids).map(probs["churn_prob"]).to_numpy(dtype=np.float64)
        absent = np.isnan(mapped)
        if absent.any():
            match missing:
                case "raise":
                    raise InputDataError(
                        f"{int(absent.sum())} portfolio account(s) are not active in the "
                        f"history: {_examples(ids[absent].tolist())}; pass missing='mean' "
                        "or 'keep'", column="account_id", rows=_rows(absent))
                case "mean":
                    mapped[absent] = float(probs["churn_prob"].mean())
                case "keep":
                    if not portfolio.has("churn_prob"):
                        msg = ("missing='keep' needs a churn_prob column in the portfolio; "
                               "use missing='mean'")
                        raise InputDataError(msg, column="churn_prob")
                    mapped[absent] = portfolio.column("churn_prob")[absent]
                case _:
                    msg = f"missing must be 'raise', 'mean' or 'keep', got {missing!r}"
                    raise AssumptionError(msg)
        return portfolio.replace(churn_prob=mapped)


def fit_churn(
    history: pd.DataFrame,
    *,
    model: ChurnModel = "weibull",
    covariates: Sequence[str] = (),
    breakpoints: Sequence[float] = (1.0, 2.0, 3.0),
    alpha: float = 0.05,
    as_of: str | pd.Timestamp | None = None,
    account_id: str = "account_id",
    start: str = "start_date",
    end: str = "end_date",
    churned: str | None = None,
    penalizer: float = 0.0,
) -> ChurnFit:
    """Fit a churn (survival) model to an account history with lifelines.

    Parameters
    ----------
    history : pandas.DataFrame
        Account history (see :func:`validate_history`; a frame it already returned is
        accepted too, as are the tables of :func:`histories_from_ledger`).
    model : {"kaplan_meier", "exponential", "weibull", "piecewise_exponential", \
"weibull_aft", "cox"}
        ``kaplan_meier``: the empirical curve, no shape assumed. ``exponential``: one
        constant hazard. ``weibull``: hazard ``~ t^(rho - 1)`` (rho < 1: new accounts
        leave most often). ``piecewise_exponential``: a constant hazard between
        ``breakpoints``. ``weibull_aft`` and ``cox``: with ``covariates`` (text columns
        are one-hot encoded, first level as reference).
    covariates : sequence of str
        Columns of the history used by the regression models.
    breakpoints : sequence of float
        Tenure breakpoints (years) of the piecewise-exponential model.
    alpha : float
        1 - confidence level of the intervals (0.05 gives 95 % intervals).
    as_of : date-like, optional
        Observation date (default: today); active accounts are censored there.
    account_id, start, end, churned : str
        Column names, as in :func:`validate_history`.
    penalizer : float
        L2 penalty of the regression models (lifelines' ``penalizer``), for small data.

    Returns
    -------
    ChurnFit

    Raises
    ------
    InputDataError
        Bad history rows (see :func:`validate_history`); no churn observed.
    AssumptionError
        Bad option values.

    Examples
    --------
    >>> h = pd.DataFrame({"account_id": list("abcdef"),
    ...     "start_date": ["2019-01-01"] * 6,
    ...     "end_date": ["2019-07-01", "2020-03-01", "2021-01-01", None, None, None]})
    >>> fit = fit_churn(h, model="exponential", as_of="2022-01-01")
    >>> fit.n_accounts, fit.n_churned
    (6, 3)
    >>> p = fit.account_probs(rng=0)  # 3 churns in 12.67 account-years: 1 - exp(-3/12.67)
    >>> round(float(p["churn_prob"].iloc[0]), 3)
    0.211
    """
    if model not in CHURN_MODELS:
        msg = f"model must be one of {CHURN_MODELS}, got {model!r}"
        raise AssumptionError(msg, field="model")
    if not 0 < alpha < 1:
        raise AssumptionError(f"must be in (0, 1), got {alpha!r}", field="alpha")
    if model in _REGRESSION and not covariates:
        raise AssumptionError(f"model {model!r} needs covariates=[...]; use 'weibull' or "
                              "'kaplan_meier' without covariates", field="covariates")
    bps = tuple(float(b) for b in breakpoints)
    if model == "piecewise_exponential" and (
            not bps or any(b <= 0 for b in bps) or list(bps) != sorted(set(bps))):
        raise AssumptionError(f"must be increasing positive years, got {breakpoints!r}",
                              field="breakpoints")
    if {"duration_years", "churned"} <= set(history.columns) and "as_of" in history.attrs:
        data = history.copy()
        data.attrs = dict(history.attrs)
    else:
        data = validate_history(history, account_id=account_id, start=start, end=end,
                                churned=churned, covariates=covariates, as_of=as_of)
    missing_cov = [c for c in covariates if c not in data.columns]
    if missing_cov:
        msg = f"covariate column(s) {missing_cov} not in the history"
        raise InputDataError(msg)
    if not data["churned"].any():
        msg = ("no account in the history churned, so no churn hazard can be estimated; "
               "check the end dates (or the inactivity rule)")
        raise InputDataError(msg)
    d = data["duration_years"].to_numpy(dtype=np.float64)
    e = data["churned"].to_numpy(dtype=bool)
    design: tuple[str, ...] = ()
    import lifelines

    match model:
        case "kaplan_meier":
            fitter: Any = lifelines.KaplanMeierFitter(alpha=alpha).fit(d, e)
        case "exponential":
            fitter = lifelines.ExponentialFitter(alpha=alpha).fit(d, e)
        case "weibull":
            fitter = lifelines.WeibullFitter(alpha=alpha).fit(d, e)
        case "piecewise_exponential":
            fitter = lifelines.PiecewiseExponentialFitter(list(bps), alpha=alpha).fit(d, e)
        case "weibull_aft" | "cox":
            x = _design(data, covariates)
            design = tuple(str(c) for c in x.columns)
            frame = x.assign(_T=d, _E=e.astype(np.float64))
            cls = (lifelines.WeibullAFTFitter if model == "weibull_aft"
                   else lifelines.CoxPHFitter)
            fitter = cls(alpha=alpha, penalizer=penalizer).fit(frame, "_T", "_E")
        case _:  # pragma: no cover - checked above
            msg = f"model must be one of {CHURN_MODELS}"
            raise AssumptionError(msg, field="model")
    logger.info("fitted %s churn model to %d accounts (%d churned)", model, d.size,
                int(e.sum()))
    return ChurnFit(model=model, fitter=fitter, data=data, covariates=tuple(covariates),
                    design_columns=design, as_of=data.attrs["as_of"], alpha=alpha,
                    breakpoints=bps if model == "piecewise_exponential" else ())


# ---------------------------------------------------------------------------------------
# ledgers


def _ledger_lines(ledger: pd.DataFrame, customer: str, date: str, amount: str | None,
                  quantity: str | None, unit_price: str | None,
                  dayfirst: bool | None = None) -> pd.DataFrame:
    """Order lines (customer, date, money) of a ledger; returns, credits, blanks dropped.

    Parsing and checks are :func:`kamsim.portfolio.ledger_lines`, shared with
    :func:`kamsim.portfolio.from_ledger`.
    """
    lines = ledger_lines(ledger, customer=customer, date=date, amount=amount,
                         quantity=quantity, unit_price=unit_price, dayfirst=dayfirst)
    keep = (lines["account_id"] != "") & (lines["money"] > 0)
    return lines.loc[keep].reset_index(drop=True)


def histories_from_ledger(
    ledger: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "date",
    amount: str | None = "amount",
    quantity: str | None = None,
    unit_price: str | None = None,
    inactivity_days: int = 365,
    as_of: str | pd.Timestamp | None = None,
    dayfirst: bool | None = None,
) -> pd.DataFrame:
    """Account histories from a transaction ledger, by an inactivity rule.

    The rule: an account *churned at its last order* if it placed no order in the
    ``inactivity_days`` before ``as_of``. That can only be known for last orders before
    the cutoff ``c = as_of - inactivity_days``, so every account is observed up to ``c``:

    * last order before ``c``: churned, lifetime from first to last order;
    * an order on or after ``c``: still active at ``c``, censored there (its later orders
      cannot reveal a churn yet, so the time after ``c`` is not counted as survival:
      counting it would bias the hazard downwards);
    * first order on or after ``c``: not yet observable, left out (counted in
      ``attrs["entered_after_cutoff"]``).

    Only lines with a customer and positive money count as orders (returns and credit
    notes are not activity). This is a *non-contractual* reading: a last purchase is not
    an observed cancellation, and a long-enough gap may be a pause rather than a loss, so
    treat the result as an estimate of "lapse", sensitive to ``inactivity_days``.

    Parameters
    ----------
    ledger : pandas.DataFrame
        Invoice lines, as for :func:`kamsim.portfolio.from_ledger`.
    customer, date, amount, quantity, unit_price : str
        Column names; give ``amount`` or ``quantity`` and ``unit_price``.
    inactivity_days : int
        Days without an order after which an account counts as churned (> 0).
    as_of : date-like, optional
        Observation date; default the day after the last ledger date.
    dayfirst : bool, optional
        Day-first (True) or month-first (False) dates; default: from the date column.

    Returns
    -------
    pandas.DataFrame
        As :func:`validate_history` returns (``account_id, start_date, end_date,
        churned, duration_years``) plus ``last_order, n_orders, revenue``; ``attrs`` hold
        ``as_of`` (set to the cutoff ``c``, the observation date of this history),
        ``ledger_as_of``, ``inactivity_days`` and ``entered_after_cutoff``.

    Examples
    --------
    >>> led = pd.DataFrame({"customer_id": ["a", "a", "b", "b", "c"],
    ...     "date": ["2020-01-01", "2020-02-01", "2020-01-15", "2020-12-01", "2020-12-20"],
    ...     "amount": [10.0, 5.0, 8.0, 8.0, 3.0]})
    >>> h = histories_from_ledger(led, inactivity_days=90, as_of="2021-01-01")
    >>> h[["account_id", "churned"]].to_dict("list")
    {'account_id': ['a', 'b'], 'churned': [True, False]}
    """
    whole(inactivity_days, "inactivity_days", lo=1)
    lines = _ledger_lines(ledger, customer, date, amount, quantity, unit_price, dayfirst)
    if lines.empty:
        msg = "the ledger has no order lines (customer and positive amount)"
        raise InputDataError(msg)
    ledger_as_of = (pd.Timestamp(lines["date"].max()).normalize() + pd.Timedelta(days=1)
                    if as_of is None else _as_of(as_of))
    cutoff = ledger_as_of - pd.Timedelta(days=int(inactivity_days))
    lines = lines[lines["date"] < ledger_as_of]
    g = lines.groupby("account_id", sort=True)
    agg = pd.DataFrame({"first": g["date"].min(), "last": g["date"].max(),
                        "n_orders": g.size(), "revenue": g["money"].sum()})
    before = lines[lines["date"] < cutoff].groupby("account_id")["date"].max()
    agg["last_before_cutoff"] = before.reindex(agg.index)
    entered_late = agg["first"] >= cutoff
    agg = agg[~entered_late]
    if agg.empty:
        msg = (f"no account placed an order before the cutoff {cutoff.date()} "
               f"(as_of {ledger_as_of.date()} minus {inactivity_days} days); shorten "
               "inactivity_days")
        raise InputDataError(msg)
    churned = (agg["last"] < cutoff).to_numpy()
    start_d = agg["first"].dt.normalize()
    end_d = agg["last"].dt.normalize().where(churned, cutoff.normalize())
    days = (end_d - start_d).dt.days.to_numpy(dtype=np.float64) + 1.0
    out = pd.DataFrame({
        "account_id": agg.index.to_numpy(dtype=object),
        "start_date": start_d.to_numpy(),
        "end_date": end_d.to_numpy(),
        "churned": churned,
        "duration_years": days / DAYS_PER_YEAR,
        "last_order": agg["last"].to_numpy(),
        "n_orders": agg["n_orders"].to_numpy(dtype=np.int64),
        "revenue": agg["revenue"].to_numpy(dtype=np.float64),
    })
    out.attrs.update(as_of=cutoff, ledger_as_of=ledger_as_of,
                     inactivity_days=int(inactivity_days),
                     entered_after_cutoff=int(entered_late.sum()))
    return out


@dataclass(frozen=True, eq=False)
class PartialChurnEstimate:
    """Share-of-wallet declines between two periods, calibrating partial churn.

    Attributes
    ----------
    table : pandas.DataFrame
        Per account active in the base period: ``account_id, base_revenue,
        next_revenue, change`` (relative, -1 = all gone) and ``status`` (``"full
        loss"``, ``"partial loss"`` when revenue fell by at least ``threshold``,
        ``"kept"`` otherwise).
    partial_prob : float
        Share of the churn events that were partial: ``partial / (partial + full)``,
        the ``ChurnAssumptions.partial_prob``.
    partial_beta : tuple of float
        Beta ``(a, b)`` fitted by moments to the fractions lost in partial losses, the
        ``ChurnAssumptions.partial_beta``.
    threshold : float
        Smallest relative drop that counts as a partial loss.
    periods : tuple of str
        ``(base start, next start, next end)`` dates.
    """

    table: pd.DataFrame = field(repr=False)
    partial_prob: float
    partial_beta: tuple[float, float]
    threshold: float
    periods: tuple[str, str, str]

    def summary(self) -> pd.DataFrame:
        """Counts and calibrated values as a tidy table (``metric``, ``value``)."""
        status = self.table["status"].value_counts()
        rows = [
            ("accounts in base period", float(self.table.shape[0])),
            ("full losses", float(status.get("full loss", 0))),
            ("partial losses", float(status.get("partial loss", 0))),
            ("partial_prob", self.partial_prob),
            ("partial_beta a", self.partial_beta[0]),
            ("partial_beta b", self.partial_beta[1]),
            ("mean fraction lost (partial)", self.partial_beta[0] / sum(self.partial_beta)),
        ]
        return pd.DataFrame(rows, columns=["metric", "value"])


def partial_churn_from_ledger(
    ledger: pd.DataFrame,
    *,
    customer: str = "customer_id",
    date: str = "date",
    amount: str | None = "amount",
    quantity: str | None = None,
    unit_price: str | None = None,
    period_months: int = 12,
    threshold: float = 0.2,
    as_of: str | pd.Timestamp | None = None,
    dayfirst: bool | None = None,
) -> PartialChurnEstimate:
    """Calibrate partial churn from period-over-period revenue drops (share of wallet).

    Revenue of each account in the base period ``[as_of - 2P, as_of - P)`` is compared
    with the next period ``[as_of - P, as_of)`` (``P = period_months``; 12 gives
    year-over-year). An account with base revenue > 0 is a *full loss* when its next
    revenue is 0, a *partial loss* when it fell by at least ``threshold``. Periods shorter
    than a year mix in seasonality: use them for illustration only.

    Returns
    -------
    PartialChurnEstimate

    Examples
    --------
    >>> led = pd.DataFrame({"customer_id": list("aabbcc"),
    ...     "date": ["2020-02-01", "2021-02-01"] * 3, "amount": [100.0, 50, 100, 0, 100, 95]})
    >>> est = partial_churn_from_ledger(led, as_of="2022-01-01")
    >>> est.table["status"].tolist(), est.partial_prob
    (['partial loss', 'full loss', 'kept'], 0.5)
    """
    whole(period_months, "period_months", lo=1)
    if not 0 < threshold < 1:
        raise AssumptionError(f"must be in (0, 1), got {threshold!r}", field="threshold")
    lines = _ledger_lines(ledger, customer, date, amount, quantity, unit_price, dayfirst)
    end_ts = (pd.Timestamp(lines["date"].max()).normalize() + pd.Timedelta(days=1)
              if as_of is None else _as_of(as_of))
    mid = end_ts - pd.DateOffset(months=int(period_months))
    begin = mid - pd.DateOffset(months=int(period_months))
    if pd.Timestamp(lines["date"].min()) > begin + pd.Timedelta(days=31):
        msg = (f"the ledger starts {pd.Timestamp(lines['date'].min()).date()}, after the "
               f"base period's start {begin.date()}; shorten period_months (the ledger "
               "must cover two periods)")
        raise InputDataError(msg)
    base = lines[(lines["date"] >= begin) & (lines["date"] < mid)]
    nxt = lines[(lines["date"] >= mid) & (lines["date"] < end_ts)]
    b = base.groupby("account_id")["money"].sum()
    n = nxt.groupby("account_id")["money"].sum().reindex(b.index, fill_value=0.0)
    change = n / b - 1.0
    status = np.where(n <= 0, "full loss",
                      np.where(change <= -threshold, "partial loss", "kept"))
    table = pd.DataFrame({"account_id": b.index.to_numpy(dtype=object),
                          "base_revenue": b.to_numpy(), "next_revenue": n.to_numpy(),
                          "change": change.to_numpy(), "status": status})
    n_full = int((status == "full loss").sum())
    part = -table.loc[table["status"] == "partial loss", "change"].to_numpy(np.float64)
    events = n_full + part.size
    if events == 0:
        msg = "no full or partial loss between the two periods; nothing to calibrate"
        raise InputDataError(msg)
    pp = part.size / events
    if part.size >= 2 and part.var(ddof=1) > 0:
        m, v = float(part.mean()), float(part.var(ddof=1))
        k = m * (1 - m) / v - 1.0
        beta = (m * k, (1 - m) * k) if k > 0 else (1.0, 1.0)
    else:
        beta = (2.0, 3.0)
    return PartialChurnEstimate(table=table, partial_prob=pp, partial_beta=beta,
                                threshold=float(threshold),
                                periods=(str(begin.date()), str(mid.date()),
                                         str(end_ts.date())))


# ---------------------------------------------------------------------------------------
# contract renewals: shifted-beta-geometric (sBG) and relatives
# ---------------------------------------------------------------------------------------
#: Discrete-time renewal models offered by :func:`fit_renewals`.
RENEWAL_MODELS: tuple[str, ...] = ("geometric", "sbg", "bdw")
_RENEWAL_PARAMS = {"geometric": ("theta",), "sbg": ("alpha", "beta"),
                   "bdw": ("alpha", "beta", "c")}


def _renewal_log_sf(model: str, t: FloatArray, p: FloatArray) -> FloatArray:
    """``log S(t)`` (survive ``t`` renewal periods) for parameter rows ``p`` (draws, k)."""
    tt = np.asarray(t, dtype=np.float64)[None, :]
    if model == "geometric":
        return np.asarray(tt * np.log1p(-p[:, :1]), dtype=np.float64)
    a, b = p[:, :1], p[:, 1:2]
    tc = tt if model == "sbg" else tt ** p[:, 2:3]
    return np.asarray(special.betaln(a, b + tc) - special.betaln(a, b), dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class RenewalFit:
    """A fitted discrete-time contract-renewal model (see :func:`fit_renewals`).

    Attributes
    ----------
    model : str
        ``"sbg"`` (shifted-beta-geometric: each account's per-period churn probability
        ``theta ~ Beta(alpha, beta)``, constant over its life), ``"geometric"`` (one
        ``theta`` for all) or ``"bdw"`` (beta-discrete-Weibull: ``S(t | theta) =
        (1 - theta)^(t^c)``, so an account's own churn propensity can rise (``c > 1``) or
        fall (``c < 1``) with tenure).
    params : dict of str to float
        Maximum-likelihood estimates.
    cov_log : numpy.ndarray
        Covariance of the estimates of the log parameters (``logit(theta)`` for the
        geometric model), from the inverse observed information.
    loglik : float
        Maximised log-likelihood.
    n_accounts : int
        Accounts (customers) in the data.
    n_periods : int
        Longest observed tenure (renewal periods).
    alpha : float
        ``1 - confidence`` of the reported intervals.
    period_months : float
        Length of one renewal period in months (12 = annual contracts).
    """

    model: str
    params: dict[str, float]
    cov_log: FloatArray = field(repr=False)
    loglik: float
    n_accounts: int
    n_periods: int
    alpha: float = 0.05
    period_months: float = 12.0

    @property
    def n_params(self) -> int:
        """Number of fitted parameters."""
        return len(self.params)

    @property
    def aic(self) -> float:
        """Akaike information criterion ``2 k - 2 LL``."""
        return 2.0 * self.n_params - 2.0 * self.loglik

    @property
    def bic(self) -> float:
        """Bayesian information criterion ``k log(n) - 2 LL`` (``n`` accounts)."""
        return self.n_params * float(np.log(self.n_accounts)) - 2.0 * self.loglik

    def _vector(self) -> FloatArray:
        return np.array([self.params[k] for k in _RENEWAL_PARAMS[self.model]])

    def _draws(self, n_draws: int, rng: np.random.Generator) -> FloatArray:
        centre = _to_free(self.model, self._vector())
        d = rng.multivariate_normal(centre, self.cov_log, size=n_draws, method="eigh")
        return _from_free(self.model, np.vstack([centre, d]))

    def confidence_intervals(self) -> pd.DataFrame:
        """Wald intervals on the log (logit) scale, transformed back.

        Returns
        -------
        pandas.DataFrame
            Index ``param``; columns ``estimate, low, high, se_log``.
        """
        zq = float(stats.norm.ppf(1 - self.alpha / 2))
        centre = _to_free(self.model, self._vector())
        se = np.sqrt(np.diag(self.cov_log))
        lo = _from_free(self.model, (centre - zq * se)[None, :])[0]
        hi = _from_free(self.model, (centre + zq * se)[None, :])[0]
        return pd.DataFrame({"estimate": self._vector(), "low": lo, "high": hi,
                             "se_log": se},
                            index=pd.Index(list(self.params), name="param"))

    def survival(self, periods: npt.ArrayLike) -> FloatArray:
        """Share of a new cohort still active after ``periods`` renewal periods."""
        t = np.asarray(periods, dtype=np.float64).ravel()
        return np.asarray(np.exp(_renewal_log_sf(self.model, t, self._vector()[None, :]))[0],
                          dtype=np.float64)

    def retention_rates(self, periods: npt.ArrayLike) -> FloatArray:
        """Cohort retention rate ``r_t = S(t) / S(t - 1)`` (rises with ``t`` for the sBG)."""
        t = np.asarray(periods, dtype=np.float64).ravel()
        return np.asarray(self.survival(t) / self.survival(t - 1), dtype=np.float64)

    def probability_draws(self, tenure: npt.ArrayLike, n_draws: int = 200, *,
                          rng: np.random.Generator | int | None = None) -> FloatArray:
        """Draws of the annual churn probability at each tenure, shape ``(n_draws, n)``.

        From the asymptotic distribution of the (log) parameters, for an outer loop of
        parameter uncertainty (:func:`kamsim.analysis.uncertainty.parameter_uncertainty`).
        """
        t = np.asarray(tenure, dtype=np.float64).ravel()
        if not np.all(np.isfinite(t) & (t >= 0)):
            raise AssumptionError("tenure must be finite numbers >= 0", field="tenure")
        g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        theta = self._draws(whole(n_draws, "n_draws", lo=1), g)[1:]
        m = 12.0 / self.period_months
        ls_t = _renewal_log_sf(self.model, t, theta)
        return np.asarray(-np.expm1(_renewal_log_sf(self.model, t + m, theta) - ls_t),
                          dtype=np.float64)

    def account_probs(self, tenure: npt.ArrayLike, *, n_draws: int = 2000,
                      rng: np.random.Generator | int | None = 0) -> pd.DataFrame:
        """Per-account renewal and annual churn probabilities, given tenure.

        An account that has renewed ``t`` times renews the next time with probability
        ``S(t + 1) / S(t)`` (sBG: ``(beta + t) / (alpha + beta + t)``: long-standing
        accounts are the loyal ones, the heterogeneity the sBG captures). The annual churn
        probability is ``1 - S(t + m) / S(t)`` with ``m = 12 / period_months`` periods per
        year, ready for ``Portfolio.replace(churn_prob=...)``.

        Parameters
        ----------
        tenure : array_like
            Renewal periods each account has completed (>= 0).
        n_draws : int
            Parameter draws for the intervals.
        rng : numpy.random.Generator, int or None
            Randomness of the parameter draws.

        Returns
        -------
        pandas.DataFrame
            One row per account: ``tenure, renewal_prob, annual_churn_prob,
            annual_churn_low, annual_churn_high``.
        """
        t = np.asarray(tenure, dtype=np.float64).ravel()
        if not np.all(np.isfinite(t) & (t >= 0)):
            raise AssumptionError("tenure must be finite numbers >= 0", field="tenure")
        g = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        theta = self._draws(whole(n_draws, "n_draws", lo=1), g)
        m = 12.0 / self.period_months
        ls_t = _renewal_log_sf(self.model, t, theta)
        renew = np.exp(_renewal_log_sf(self.model, t + 1, theta) - ls_t)
        churn = -np.expm1(_renewal_log_sf(self.model, t + m, theta) - ls_t)
        a = self.alpha
        return pd.DataFrame({
            "tenure": t, "renewal_prob": renew[0], "annual_churn_prob": churn[0],
            "annual_churn_low": np.quantile(churn[1:], a / 2, axis=0),
            "annual_churn_high": np.quantile(churn[1:], 1 - a / 2, axis=0)})


def _to_free(model: str, v: FloatArray) -> FloatArray:
    if model == "geometric":
        return np.log(v / (1 - v))
    return np.log(v)


def _from_free(model: str, x: FloatArray) -> FloatArray:
    if model == "geometric":
        return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)
    return np.asarray(np.exp(x), dtype=np.float64)


def _renewal_data(survivors: npt.ArrayLike | None,
                  histories: pd.DataFrame | None) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(periods, churned flag, count) rows from survivor counts or per-account histories."""
    if (survivors is None) == (histories is None):
        raise AssumptionError("give survivors (cohort counts) or histories, not both",
                              field="survivors")
    if survivors is not None:
        try:
            n = np.asarray(survivors, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise AssumptionError("must be numbers", field="survivors") from None
        if n.size < 2 or not np.all(np.isfinite(n)) or np.any(n < 0) or n[0] <= 0:
            raise AssumptionError("must be at least two counts >= 0 starting above 0 (the "
                                  "cohort size, then survivors after each renewal)",
                                  field="survivors")
        if np.any(np.diff(n) > 0):
            up = int(np.flatnonzero(np.diff(n) > 0)[0]) + 1
            raise AssumptionError(f"survivor counts cannot rise: position {up} has "
                                  f"{n[up]:g} after {n[up - 1]:g}", field="survivors")
        lost = -np.diff(n)
        t = np.arange(1, n.size, dtype=np.float64)
        return (np.concatenate([t, [n.size - 1.0]]),
                np.concatenate([np.ones(t.size), [0.0]]), np.concatenate([lost, [n[-1]]]))
    assert histories is not None
    for col in ("renewals", "churned"):
        if col not in histories.columns:
            raise InputDataError(f"histories need a {col!r} column (renewals made; whether "
                                 "the account then failed to renew)", column=col)
    r = pd.to_numeric(histories["renewals"], errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(~np.isfinite(r) | (r < 0) | (r != np.round(r)))
    if bad.size:
        raise InputDataError("renewals must be whole numbers >= 0", column="renewals",
                             rows=[int(i) + 2 for i in bad[:5]],
                             values=histories["renewals"].iloc[bad[:5]].tolist(),
                             fix="give the number of renewals each account has made")
    ch = histories["churned"]
    if ch.dtype != bool:
        vals = set(pd.unique(ch.astype(object)))
        if not vals <= {0, 1}:  # True == 1, False == 0
            raise InputDataError("churned must be True/False (or 1/0)", column="churned")
    c = ch.astype(bool).to_numpy()
    # churned after r renewals: churn in period r + 1; active: survived r periods
    return np.where(c, r + 1.0, r), c.astype(np.float64), np.ones(r.size)


def _renewal_loglik(model: str, p: FloatArray, t: FloatArray, churned: FloatArray,
                    count: FloatArray) -> FloatArray:
    """Log-likelihood for parameter rows ``p``; ``P(T = t) = S(t - 1) - S(t)``."""
    ls = _renewal_log_sf(model, t, p)
    ls_prev = _renewal_log_sf(model, t - 1, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = ls_prev + np.log(-np.expm1(ls - ls_prev))
    ll = np.where(churned[None, :] > 0, lp, ls)
    return np.asarray(np.sum(count[None, :] * ll, axis=1), dtype=np.float64)


def _hessian(f: Any, x: FloatArray, h: float = 1e-4) -> FloatArray:
    k = x.size
    hess = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            v = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j))
            hess[i, j] = hess[j, i] = v / (4 * h * h)
    return hess


def fit_renewals(survivors: npt.ArrayLike | None = None, *,
                 histories: pd.DataFrame | None = None, model: str = "sbg",
                 alpha: float = 0.05, period_months: float = 12.0) -> RenewalFit:
    """Fit a contract-renewal model by maximum likelihood (Fader and Hardie 2007).

    Parameters
    ----------
    survivors : array_like, optional
        A cohort's survivor counts: accounts at the start, then still active after each
        renewal (``[1000, 631, 468, ...]``).
    histories : pandas.DataFrame, optional
        Instead, one row per account: ``renewals`` (renewals made, >= 0) and ``churned``
        (whether it then failed to renew; False = still active, right-censored). Accounts
        may come from cohorts of different ages.
    model : {"sbg", "geometric", "bdw"}
        See :class:`RenewalFit`.
    alpha : float
        ``1 - confidence`` of the intervals.
    period_months : float
        Months per renewal period (12 for annual contracts).

    Returns
    -------
    RenewalFit

    References
    ----------
    Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention. Journal of
    Interactive Marketing 21(1), 76-90.

    Fader, P. S., Hardie, B. G. S., Liu, Y., Davin, J. and Steenburgh, T. (2018). "How to
    project customer retention" revisited: the role of duration dependence. Journal of
    Interactive Marketing 43, 1-16 (the beta-discrete-Weibull).

    Examples
    --------
    The paper's "regular" customers, years 0 to 7 (its estimates: 0.704 and 1.182):

    >>> fit = fit_renewals([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> {k: round(v, 3) for k, v in fit.params.items()}, round(fit.loglik, 1)
    ({'alpha': 0.704, 'beta': 1.182}, -1680.3)
    >>> fit.account_probs([0, 5]).round(3)[["tenure", "renewal_prob"]].values.tolist()
    [[0.0, 0.627], [5.0, 0.898]]
    """
    if model not in RENEWAL_MODELS:
        raise AssumptionError(f"unknown model {model!r}; valid options are "
                              f"{', '.join(map(repr, RENEWAL_MODELS))}", field="model")
    if not 0 < alpha < 1:
        raise AssumptionError(f"must be in (0, 1), got {alpha!r}", field="alpha")
    if not (period_months > 0 and np.isfinite(period_months)):
        raise AssumptionError(f"must be > 0, got {period_months!r}", field="period_months")
    t, churned, count = _renewal_data(survivors, histories)
    if count[churned > 0].sum() == 0:
        raise AssumptionError("no account in the data failed to renew: churn cannot be "
                              "estimated", field="survivors")

    def nll(x: FloatArray) -> float:
        v = float(-_renewal_loglik(model, _from_free(model, x[None, :]), t, churned,
                                   count)[0])
        return v if np.isfinite(v) else 1e300

    start = {"geometric": np.array([-1.0]), "sbg": np.array([0.0, 0.0]),
             "bdw": np.array([0.0, 0.0, 0.0])}[model]
    res = optimize.minimize(nll, start, method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
    res = optimize.minimize(nll, res.x, method="BFGS", options={"gtol": 1e-9})
    x = np.asarray(res.x, dtype=np.float64)
    hess = _hessian(nll, x)
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        cov = np.full_like(hess, np.nan)
    v = _from_free(model, x[None, :])[0]
    return RenewalFit(model=model, params=dict(zip(_RENEWAL_PARAMS[model], v.tolist(),
                                                   strict=True)),
                      cov_log=np.asarray(cov, dtype=np.float64), loglik=-float(res.fun),
                      n_accounts=round(float(count.sum())), n_periods=int(t.max()),
                      alpha=alpha, period_months=float(period_months))


def compare_renewal_models(survivors: npt.ArrayLike | None = None, *,
                           histories: pd.DataFrame | None = None,
                           models: Sequence[str] = RENEWAL_MODELS,
                           criterion: Literal["bic", "aic"] = "bic") -> pd.DataFrame:
    """Fit several renewal models and rank them by BIC (or AIC), the best marked.

    Returns
    -------
    pandas.DataFrame
        One row per model, best first: ``rank, model, n_params, loglik, aic, bic,
        delta`` (criterion minus the best's) and ``chosen`` (True for the best), plus the
        parameter estimates as ``params`` (a string).

    Examples
    --------
    >>> t = compare_renewal_models([1000, 631, 468, 382, 326, 289, 262, 241])
    >>> t[["model", "chosen"]].values.tolist()[0]
    ['sbg', True]
    """
    if criterion not in ("bic", "aic"):
        raise AssumptionError(f"must be 'bic' or 'aic', got {criterion!r}", field="criterion")
    rows = []
    for m in models:
        f = fit_renewals(survivors, histories=histories, model=m)
        rows.append({"model": m, "n_params": f.n_params, "loglik": f.loglik, "aic": f.aic,
                     "bic": f.bic, "params": ", ".join(f"{k}={v:.4g}"
                                                       for k, v in f.params.items())})
    df = pd.DataFrame(rows).sort_values(criterion, kind="stable").reset_index(drop=True)
    df["delta"] = df[criterion] - df[criterion].iloc[0]
    df["chosen"] = df.index == 0
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    return df[["rank", "model", "n_params", "loglik", "aic", "bic", "delta", "chosen",
               "params"]]
