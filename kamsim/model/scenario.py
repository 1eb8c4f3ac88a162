"""Assumptions and scenarios: the frozen inputs of the Monte Carlo engine and the exact twin.

A :class:`Scenario` bundles a :class:`~kamsim.portfolio.Portfolio` with
:class:`ChurnAssumptions`, a horizon and fixed costs. It round-trips through a plain dict
(and YAML) with the same schema the board report and the command line use::

    accounts: data/sample_accounts.csv   # or given as a Portfolio in Python
    columns:                             # optional: your headers -> kamsim's column names
      Customer: account_id
      Sales 2025: revenue
    horizon_months: 24
    fixed_costs: 6000000                 # per year, currency
    churn:
      level: 1.0
      correlation: 0.2
      notice_months: 0
      partial_prob: 0.0
    opening_cash: 2000000                # optional, currency
    replacement:                         # optional, see kamsim.model.replacement
      opportunities_per_month: 4
      win_rate: 0.25
    plans:                               # optional retention plans, see kamsim.model.plans
      tiers: [key, strategic]
      menu:
        - {name: standard KAM, monthly_cost: 1400, hazard_multiplier: 0.8}
    budget: 400000                       # optional retention budget (or a mapping)

The churn model
---------------
Each account ``i`` has an annual churn probability ``p_i`` (from the portfolio's
``churn_prob`` column, from per-tier values, or one value for all), multiplied by
``level`` and capped at 1. Its time to the churn decision ``T_i`` (in months) has the
geometric-in-continuous-time law ``P(T_i <= t) = 1 - (1 - p_i)^(t / 12)``, i.e. a constant
monthly hazard ``1 - (1 - p_i)^(1/12)``. Shared shocks enter through a one-factor Gaussian
copula: ``T_i = F_i^{-1}(Phi(X_i))`` with ``X_i = sqrt(rho_i) Z + sqrt(1 - rho_i) eps_i``,
one ``Z`` per simulated future. ``rho_i`` is ``correlation`` or the account's segment
override. Revenue stops ``notice_months`` after the decision month ``ceil(T_i)``; an
account is *lost by the horizon* when its revenue has stopped by month ``H``, which happens
with probability ``q_i = 1 - (1 - p_i)^((H - notice) / 12)`` (see
:meth:`Scenario.horizon_probs`). A churn event is partial with probability
``partial_prob`` (per tier if a mapping): the account then cuts its spend by a fraction
drawn from ``Beta(*partial_beta)`` instead of leaving.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from kamsim._util.io import decode_text
from kamsim._util.validate import choice, known_fields, number, probability, whole
from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.model.copulas import COPULAS, Factor
from kamsim.model.plans import RetentionBudget, RetentionPlans, check_plan_inputs
from kamsim.model.replacement import ReplacementAssumptions
from kamsim.portfolio import CANONICAL_COLUMNS, LINE_PREFIX, Portfolio, read_accounts

__all__ = ["TIERS", "ChurnAssumptions", "Scenario", "account_columns", "account_tiers",
           "load_yaml"]

FloatArray = npt.NDArray[np.float64]

#: Tier names used by churn assumptions, from most to least important.
TIERS = ("key", "strategic", "standard")

_MAX_NAME = 200
_MAX_YAML_BYTES = 1 << 20


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also refuses aliases and duplicate keys.

    ``key_lines`` records the line (1-based) of each key's first appearance, so that a bad
    value can be reported on its line.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_lines: dict[str, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            ev = self.peek_event()  # type: ignore[no-untyped-call]
            raise _YamlRefusal(f"uses an alias ('*{ev.anchor}'); anchors and aliases are "
                               "not allowed in scenario files: write each value out",
                               ev.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise _YamlRefusal("has a key that is not a name", key_node.start_mark) from None
            if key in seen:
                raise _YamlRefusal(
                    f"repeats the key {key!r} (first on line {seen[key] + 1}); give each "
                    "field once", key_node.start_mark)
            seen[key] = key_node.start_mark.line
            self.key_lines.setdefault(str(key), key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep=deep)


class _YamlRefusal(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


def load_yaml(path: str | os.PathLike[str], *, key_lines: dict[str, int] | None = None
              ) -> Any:
    r"""Read a YAML file strictly: plain values only, each key once, no aliases.

    Safer than :func:`yaml.safe_load`: no ``!!python/...`` tags (nothing is executed),
    no anchors/aliases (no "billion laughs" expansion), no duplicate keys (the last would
    silently win), UTF-8 text only, at most 1 MB.

    Parameters
    ----------
    path : path
        The YAML file.
    key_lines : dict, optional
        Filled with the line (1-based) on which each key first appears.

    Raises
    ------
    InputDataError
        Naming the file, line and column, with the fix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "s.yaml").write_text("horizon_months: 24\nhorizon_months: 36\n")
    >>> load_yaml(d / "s.yaml")
    Traceback (most recent call last):
    ...
    kamsim.exceptions.InputDataError: .../s.yaml: line 2, column 1: repeats the key ...
    """
    p = Path(path)
    if not p.exists():
        raise InputDataError("scenario file not found", path=p)
    if p.is_dir():
        raise InputDataError("is a folder; give the path of a scenario YAML file", path=p)
    if p.stat().st_size > _MAX_YAML_BYTES:
        raise InputDataError(f"is {p.stat().st_size:,} bytes; a scenario file is a few "
                             "lines of settings (at most 1 MB)", path=p)
    text = decode_text(p.read_bytes(), path=p, what="scenario file")
    try:
        loader = _StrictLoader(text)  # checks for unprintable characters at once
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
        if key_lines is not None:
            key_lines.update(loader.key_lines)
        return data
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or exc)
        where = ""
        hint = ""
        if mark is not None:
            where = f"line {mark.line + 1}, column {mark.column + 1}: "
            lines = text.splitlines()
            line = lines[mark.line] if mark.line < len(lines) else ""
            if "\t" in line or ("\t" in text and "tab" in problem):
                hint = "; indent with spaces, not tabs"
        tag = re.search(r"for the tag '([^']+)'", problem)
        if tag:
            problem = (f"holds the tag {tag.group(1).replace('tag:yaml.org,2002:', '!!')!r}; "
                       "scenario files hold plain numbers, text, lists and mappings only "
                       "(tags are refused, nothing is executed)")
        raise InputDataError(f"{where}{problem}{hint}", path=p,
                             fix="fix the YAML; see the sample data/sample_scenario.yaml"
                             ) from None


def _mapping(value: Any, name: str, example: str) -> dict[str, Any]:
    """A mapping with text keys, or an :class:`AssumptionError` showing the expected form."""
    if not isinstance(value, Mapping):
        raise AssumptionError(
            f"must be a mapping such as {example}, got {value!r} ({type(value).__name__})",
            field=name)
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise AssumptionError(f"keys must be names (text), got {bad!r}", field=name)
    return dict(value)


_TIER_EXAMPLE = "{key: 0.05, strategic: 0.08, standard: 0.1}"
_COLUMNS_EXAMPLE = "columns: {Customer: account_id, Sales 2025: revenue}"


def account_columns(value: Any) -> dict[str, str]:
    """A scenario's ``columns:`` entry checked: your headers -> kamsim column names.

    Each key is a header of the accounts file (text), each value a kamsim column
    (:data:`kamsim.portfolio.CANONICAL_COLUMNS`, or ``line_<name>`` for a product line),
    and no two headers may name the same column.

    Raises
    ------
    AssumptionError
        Naming the entry, with a "did you mean" for a misspelt kamsim name.

    Examples
    --------
    >>> account_columns({"Customer": "account_id", "Sales 2025": "revenue"})
    {'Customer': 'account_id', 'Sales 2025': 'revenue'}
    >>> account_columns({"Sales": "revenu"})
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: columns.Sales: must be one of [...], got 'revenu' (did ...
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AssumptionError(f"must map your headers to kamsim names, e.g. {_COLUMNS_EXAMPLE}"
                              f"; got {value!r}", field="columns")
    out: dict[str, str] = {}
    for header, target in value.items():
        if not isinstance(header, str):
            raise AssumptionError(
                f"the header {header!r} is not text; quote it, e.g. '{header}': revenue",
                field="columns")
        name = f"columns.{header}"
        if not isinstance(target, str):
            raise AssumptionError(f"must be the name of a kamsim column (text), got "
                                  f"{target!r}", field=name)
        if not target.startswith(LINE_PREFIX) or target == LINE_PREFIX:
            choice(target, name, CANONICAL_COLUMNS)
        out[header] = target
    seen: dict[str, list[str]] = {}
    for header, target in out.items():
        seen.setdefault(target, []).append(header)
    dup = {t: hs for t, hs in seen.items() if len(hs) > 1}
    if dup:
        t, hs = next(iter(dup.items()))
        raise AssumptionError(f"the headers {hs} all map to {t!r}; map one header to each "
                              "kamsim column", field="columns")
    return out


def account_tiers(portfolio: Portfolio, n_key: int = 10, n_strategic: int = 20) -> list[str]:
    """Tier of each account: the portfolio's ``tier`` column, or by revenue rank.

    Without a ``tier`` column the ``n_key`` largest accounts by revenue are ``"key"``, the
    next ``n_strategic`` ``"strategic"`` and the rest ``"standard"`` (ties broken by table
    order). :func:`kamsim.analysis.concentration` offers multi-criteria tiers; pass them in as a
    ``tier`` column to use them here.

    Examples
    --------
    >>> import pandas as pd
    >>> pf = Portfolio(pd.DataFrame({"account_id": list("abcd"), "revenue": [1.0, 9, 5, 3]}))
    >>> account_tiers(pf, n_key=1, n_strategic=1)
    ['standard', 'key', 'strategic', 'standard']
    """
    if portfolio.has("tier"):
        return [str(t) for t in portfolio.column("tier")]
    order = np.argsort(-portfolio.revenue, kind="stable")
    tiers = np.full(portfolio.n_accounts, "standard", dtype=object)
    tiers[order[:n_key]] = "key"
    tiers[order[n_key:n_key + n_strategic]] = "strategic"
    return [str(t) for t in tiers]


@dataclass(frozen=True, slots=True, kw_only=True)
class ChurnAssumptions:
    """How accounts leave: probabilities, shared shocks, notice and partial losses.

    Parameters
    ----------
    annual_prob : float, optional
        One annual churn probability for every account. Used only when neither
        ``tier_probs`` is given nor the portfolio has a ``churn_prob`` column.
    tier_probs : mapping of str to float, optional
        Annual churn probability per tier (``"key"``, ``"strategic"``, ``"standard"``, or
        the values of the portfolio's ``tier`` column). Overrides ``churn_prob``.
    level : float
        Multiplier on every probability (1 = as given; 1.5 = a 50 % worse year). The
        result is capped at 1.
    correlation : float
        Shared-shock (asset) correlation ``rho`` of the one-factor Gaussian copula, in
        [0, 1). 0 gives independent churn.
    segment_correlation : mapping of str to float
        Per-segment overrides of ``correlation`` (needs a ``segment`` column).
    notice_months : int
        Months between the churn decision and the last order (revenue stops after them).
    partial_prob : float or mapping of str to float
        Probability that a churn event is a partial loss (a cut in share of wallet)
        rather than a full loss; a mapping gives it per tier.
    partial_beta : tuple of float
        ``(a, b)`` of the Beta distribution of the fraction of revenue lost in a partial
        churn (default (2, 3): mean 40 %).
    n_key, n_strategic : int
        Sizes of the revenue-rank tiers when the portfolio has no ``tier`` column.
    copula : {"gaussian", "t", "double_t"}
        How the shared shocks combine (:mod:`kamsim.model.copulas`). ``"gaussian"``: the
        one-factor (or multi-factor) Gaussian copula. ``"t"``: the same, divided by one
        shared ``sqrt(chi2_nu / nu)``, so that a bad year hits every account at once
        (tail dependence: joint churn stays likely even for rare events). ``"double_t"``:
        Hull and White's one-factor model with Student-t factor and idiosyncratic terms.
    nu : float, optional
        Degrees of freedom of the t copula (> 0) or of the double-t factor (> 2); needed
        for those copulas. Large ``nu`` approaches the Gaussian copula.
    nu_idio : float, optional
        Degrees of freedom of the double-t idiosyncratic terms (> 2; default ``nu``).
    factors : sequence of Factor
        Further shared factors beyond the global one (``correlation``): e.g.
        ``Factor(name="segment", by="segment", correlation=0.1)`` gives each segment its
        own factor. Each account's total correlation must stay below 1.

    Raises
    ------
    AssumptionError
        Naming the field, for probabilities outside [0, 1], correlation outside [0, 1),
        negative notice, non-positive Beta parameters or level.

    Examples
    --------
    >>> ChurnAssumptions(correlation=0.2, notice_months=3).correlation
    0.2
    >>> ChurnAssumptions(correlation=1.0)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: correlation: must be in [0, 1), got 1.0
    """

    annual_prob: float | None = None
    tier_probs: Mapping[str, float] | None = None
    level: float = 1.0
    correlation: float = 0.0
    segment_correlation: Mapping[str, float] = field(default_factory=dict)
    notice_months: int = 0
    partial_prob: float | Mapping[str, float] = 0.0
    partial_beta: tuple[float, float] = (2.0, 3.0)
    n_key: int = 10
    n_strategic: int = 20
    copula: str = "gaussian"
    nu: float | None = None
    nu_idio: float | None = None
    factors: tuple[Factor, ...] = ()

    def __post_init__(self) -> None:
        self._check_dependence()
        if self.annual_prob is not None:
            object.__setattr__(self, "annual_prob", probability(self.annual_prob, "annual_prob"))
        if self.tier_probs is not None:
            tp = _mapping(self.tier_probs, "tier_probs", _TIER_EXAMPLE)
            object.__setattr__(self, "tier_probs", {
                k: probability(v, f"tier_probs[{k!r}]") for k, v in tp.items()})
        object.__setattr__(self, "level", number(self.level, "level", lo=0.0))
        object.__setattr__(self, "correlation",
                           probability(self.correlation, "correlation", upper_open=True))
        sc = _mapping(self.segment_correlation, "segment_correlation",
                      "{retail: 0.3, wholesale: 0.1}")
        object.__setattr__(self, "segment_correlation", {
            k: probability(v, f"segment_correlation[{k!r}]", upper_open=True)
            for k, v in sc.items()})
        if (isinstance(self.notice_months, bool)
                or not isinstance(self.notice_months, int | np.integer)
                or self.notice_months < 0):
            raise AssumptionError(f"must be a whole number of months >= 0, got "
                                  f"{self.notice_months!r}", field="notice_months")
        if isinstance(self.partial_prob, Mapping):
            pp = _mapping(self.partial_prob, "partial_prob", _TIER_EXAMPLE)
            object.__setattr__(self, "partial_prob", {
                k: probability(v, f"partial_prob[{k!r}]") for k, v in pp.items()})
        elif isinstance(self.partial_prob, list | tuple | set):
            raise AssumptionError(f"must be a probability or a mapping such as "
                                  f"{_TIER_EXAMPLE}, got {self.partial_prob!r}",
                                  field="partial_prob")
        else:
            object.__setattr__(self, "partial_prob",
                               probability(self.partial_prob, "partial_prob"))
        pb = self.partial_beta
        if isinstance(pb, str | bytes | Mapping) or not isinstance(pb, Iterable):
            raise AssumptionError(f"must be two numbers [a, b], got {pb!r}",
                                  field="partial_beta")
        pb_list = list(pb)
        if len(pb_list) != 2:
            raise AssumptionError(f"must be two numbers [a, b], got {pb!r}",
                                  field="partial_beta")
        a, b = (number(x, "partial_beta", lo=0.0, lo_open=True) for x in pb_list)
        object.__setattr__(self, "partial_beta", (a, b))
        for name in ("n_key", "n_strategic"):
            object.__setattr__(self, name, whole(getattr(self, name), name))

    def _check_dependence(self) -> None:
        if self.copula not in COPULAS:
            raise AssumptionError(f"unknown copula {self.copula!r}; valid options are "
                                  f"{', '.join(map(repr, COPULAS))}", field="copula")
        for name in ("nu", "nu_idio"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float | np.number) or \
                    math.isnan(v) or v <= 0:
                raise AssumptionError(f"must be a number > 0, got {v!r}", field=name)
            object.__setattr__(self, name, float(v))
        if self.copula == "gaussian" and self.nu is not None:
            raise AssumptionError("nu is used by copula='t' or 'double_t' only; set the "
                                  "copula too (e.g. copula='t', nu=4) or drop nu", field="nu")
        if self.copula != "double_t" and self.nu_idio is not None:
            raise AssumptionError("nu_idio is used by copula='double_t' only; drop it or set "
                                  "copula='double_t'", field="nu_idio")
        if self.copula == "t" and self.nu is None:
            raise AssumptionError("the t copula needs nu (degrees of freedom), e.g. nu=4",
                                  field="nu")
        if self.copula == "double_t":
            if self.nu is None:
                raise AssumptionError("the double-t model needs nu (> 2), e.g. nu=4",
                                      field="nu")
            for name in ("nu", "nu_idio"):
                v = getattr(self, name)
                if v is not None and v <= 2:
                    raise AssumptionError(f"must be > 2 for the double-t model (unit "
                                          f"variance), got {v!r}", field=name)
        try:
            facs = tuple(f if isinstance(f, Factor) else Factor.from_dict(f)
                         for f in self.factors)
        except TypeError:
            raise AssumptionError(f"must be a list of factors, got {self.factors!r}",
                                  field="factors") from None
        if facs and self.copula == "double_t":
            raise AssumptionError("the double-t model has one factor; drop factors or use "
                                  "copula='gaussian' or 't'", field="factors")
        names = [f.name for f in facs]
        if len(set(names)) != len(names):
            raise AssumptionError(f"factor names must be unique, got {names}", field="factors")
        object.__setattr__(self, "factors", facs)

    @property
    def has_partial(self) -> bool:
        """Whether any churn event can be partial."""
        if isinstance(self.partial_prob, Mapping):
            return any(v > 0 for v in self.partial_prob.values())
        return self.partial_prob > 0

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        d = asdict(self)
        d["partial_beta"] = list(self.partial_beta)
        d["factors"] = [f.to_dict() for f in self.factors]
        for k in ("tier_probs", "segment_correlation", "partial_prob"):
            if isinstance(d[k], Mapping):
                d[k] = dict(d[k])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChurnAssumptions:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        known_fields(d, {f.name for f in fields(cls)}, "churn")
        kw = {k: v for k, v in d.items() if v is not None or k in ("annual_prob", "tier_probs")}
        return cls(**kw)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A portfolio and everything assumed about its future.

    Parameters
    ----------
    portfolio : Portfolio
        The accounts.
    churn : ChurnAssumptions
        How accounts leave.
    horizon_months : int
        Months simulated (1 to 600).
    fixed_costs : float
        Annual fixed costs (currency per year, >= 0); break-even is monthly gross profit
        at or above ``fixed_costs / 12``.
    name : str
        Label used in tables and charts.
    replacement : ReplacementAssumptions, optional
        How lost revenue is won back (:mod:`kamsim.model.replacement`); None = no replacement
        (the churn-only engine).
    opening_cash : float, optional
        Cash at the start of month 1 (currency); None = cash not modelled (cash paths then
        start from 0 and no probability of running out of cash is reported).
    plans : RetentionPlans, optional
        A menu of retention plans for the budget optimiser (:mod:`kamsim.economics.retention`).
    budget : RetentionBudget, optional
        The retention budget and its constraints (needs ``plans``).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> sc = Scenario(portfolio=synthetic_portfolio(20, rng=0),
    ...               churn=ChurnAssumptions(correlation=0.1), horizon_months=12)
    >>> bool(np.allclose(sc.horizon_probs(), sc.portfolio.column("churn_prob")))
    True
    >>> Scenario.from_dict(sc.to_dict(), portfolio=sc.portfolio) == sc
    True
    """

    portfolio: Portfolio
    churn: ChurnAssumptions = field(default_factory=ChurnAssumptions)
    horizon_months: int = 12
    fixed_costs: float = 0.0
    name: str = "baseline"
    replacement: ReplacementAssumptions | None = None
    opening_cash: float | None = None
    plans: RetentionPlans | None = None
    budget: RetentionBudget | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.portfolio, Portfolio):
            raise AssumptionError(f"must be a Portfolio, got {type(self.portfolio).__name__}",
                                  field="portfolio")
        if not isinstance(self.churn, ChurnAssumptions):
            raise AssumptionError(f"must be ChurnAssumptions, got {type(self.churn).__name__}",
                                  field="churn")
        h = self.horizon_months
        if not isinstance(h, int | np.integer) or isinstance(h, bool) or not 1 <= h <= 600:
            raise AssumptionError(f"must be a whole number of months in [1, 600], got {h!r}",
                                  field="horizon_months")
        object.__setattr__(self, "fixed_costs", number(self.fixed_costs, "fixed_costs",
                                                       lo=0.0))
        if isinstance(self.name, bool) or not isinstance(self.name, str | int | float):
            raise AssumptionError(f"must be text, got {self.name!r}", field="name")
        if len(str(self.name)) > _MAX_NAME:
            raise AssumptionError(f"must be at most {_MAX_NAME} characters, got "
                                  f"{len(str(self.name))}", field="name")
        object.__setattr__(self, "name", str(self.name))
        if self.replacement is not None and not isinstance(self.replacement,
                                                           ReplacementAssumptions):
            raise AssumptionError(f"must be ReplacementAssumptions or None, got "
                                  f"{type(self.replacement).__name__}", field="replacement")
        if self.opening_cash is not None:
            object.__setattr__(self, "opening_cash", number(self.opening_cash, "opening_cash"))
        if self.churn.notice_months >= h:
            raise AssumptionError(
                f"notice_months={self.churn.notice_months} leaves no month of the "
                f"{h}-month horizon in which revenue can stop; shorten the notice or extend "
                "the horizon", field="churn.notice_months")
        # resolve once now so bad tiers/segments fail at construction
        self.annual_probs()
        self.factor_loadings()
        self.loading_matrix()
        self.partial_probs()
        self._check_plans()

    def _check_plans(self) -> None:
        if self.plans is not None and not isinstance(self.plans, RetentionPlans):
            raise AssumptionError(f"must be RetentionPlans or None, got "
                                  f"{type(self.plans).__name__}", field="plans")
        if self.budget is not None and not isinstance(self.budget, RetentionBudget):
            raise AssumptionError(f"must be RetentionBudget or None, got "
                                  f"{type(self.budget).__name__}", field="budget")
        if self.plans is None and self.budget is not None:
            raise AssumptionError("a retention budget needs a menu of plans: add 'plans:'",
                                  field="budget")

    def check_plans(self) -> None:
        """Check that ``plans`` and ``budget`` name tiers, accounts and plans that exist.

        Run when a scenario is read from a dict or YAML; the optimiser
        (:mod:`kamsim.economics.retention`) checks again. Not run on every copy, so that analyses
        that change the portfolio (a worst case without some account, say) keep working.
        """
        if self.plans is None:
            return
        tiers = self.tiers()
        if self.plans.tiers is not None:
            unknown = sorted(set(self.plans.tiers) - set(tiers))
            if unknown:
                raise AssumptionError(f"unknown tier(s) {unknown}; the portfolio's tiers are "
                                      f"{sorted(set(tiers))}", field="plans.tiers")
        ids = [str(a) for a in self.portfolio.account_ids]
        wanted = None if self.plans.tiers is None else set(self.plans.tiers)
        scope = [a for a, t in zip(ids, tiers, strict=True) if wanted is None or t in wanted]
        check_plan_inputs(self.plans, self.budget, ids, scope)

    # -- resolved per-account quantities ------------------------------------------------
    def tiers(self) -> list[str]:
        """Tier of each account (see :func:`account_tiers`)."""
        return account_tiers(self.portfolio, self.churn.n_key, self.churn.n_strategic)

    def _per_tier(self, mapping: Mapping[str, float], name: str) -> FloatArray:
        tiers = self.tiers()
        present = sorted(set(tiers))
        unknown = sorted(set(mapping) - set(present))
        if unknown:
            raise AssumptionError(
                f"unknown tier(s) {unknown}; the portfolio's tiers are {present}",
                field=f"churn.{name}")
        missing = [t for t in present if t not in mapping]
        if missing:
            raise AssumptionError(
                f"no value for tier(s) {missing}; give one for each of {present}",
                field=f"churn.{name}")
        return np.array([mapping[t] for t in tiers], dtype=np.float64)

    def annual_probs(self) -> FloatArray:
        """Annual churn probability of each account, after ``level`` (capped at 1).

        Raises
        ------
        AssumptionError
            If no source of probabilities is given, or tiers do not match.
        """
        c = self.churn
        if c.tier_probs is not None:
            p = self._per_tier(c.tier_probs, "tier_probs")
        elif self.portfolio.has("churn_prob"):
            p = np.array(self.portfolio.column("churn_prob"), dtype=np.float64)
        elif c.annual_prob is not None:
            p = np.full(self.portfolio.n_accounts, c.annual_prob)
        else:
            raise AssumptionError(
                "no churn probabilities: the portfolio has no churn_prob column; give "
                "ChurnAssumptions(annual_prob=...) or tier_probs={...}", field="churn")
        return np.minimum(p * c.level, 1.0)

    def monthly_hazards(self) -> FloatArray:
        """Monthly churn hazard ``1 - (1 - p)^(1/12)`` of each account."""
        p = self.annual_probs()
        return 1.0 - np.power(1.0 - p, 1.0 / 12.0)

    def horizon_probs(self) -> FloatArray:
        """Probability that each account's revenue has stopped by the horizon's end.

        ``q_i = 1 - (1 - p_i)^((H - notice) / 12)``: the churn decision must come in the
        first ``H - notice`` months for revenue to stop within the horizon.
        """
        p = self.annual_probs()
        months = self.horizon_months - self.churn.notice_months
        with np.errstate(divide="ignore"):
            return 1.0 - np.power(1.0 - p, months / 12.0)

    def correlations(self) -> FloatArray:
        """Shared-shock correlation ``rho_i`` of each account."""
        c = self.churn
        rho = np.full(self.portfolio.n_accounts, c.correlation)
        if c.segment_correlation:
            if not self.portfolio.has("segment"):
                raise AssumptionError(
                    "segment_correlation needs a 'segment' column in the portfolio",
                    field="churn.segment_correlation")
            seg = [str(s) for s in self.portfolio.column("segment")]
            unknown = sorted(set(c.segment_correlation) - set(seg))
            if unknown:
                raise AssumptionError(
                    f"unknown segment(s) {unknown}; segments are {sorted(set(seg))}",
                    field="churn.segment_correlation")
            for i, s in enumerate(seg):
                if s in c.segment_correlation:
                    rho[i] = c.segment_correlation[s]
        return rho

    def factor_loadings(self) -> FloatArray:
        """Loading ``sqrt(rho_i)`` of each account on the shared factor."""
        return np.sqrt(self.correlations())

    def factor_names(self) -> list[str]:
        """Names of the columns of :meth:`loading_matrix` (``"global"`` first).

        A factor with ``by`` gives one column per value, named ``"name[value]"``.
        """
        names = ["global"]
        for f in self.churn.factors:
            if f.by is None:
                names.append(f.name)
            else:
                names += [f"{f.name}[{v}]" for v in self._group_values(f)]
        return names

    def _group_values(self, f: Factor) -> list[str]:
        assert f.by is not None
        if f.by == "tier":
            col = self.tiers()
        elif self.portfolio.has(f.by):
            col = [str(v) for v in self.portfolio.column(f.by)]
        else:
            raise AssumptionError(f"factor {f.name!r} is by {f.by!r}, but the portfolio has "
                                  f"no {f.by!r} column", field=f"churn.factors[{f.name!r}].by")
        return sorted(set(col))

    def loading_matrix(self) -> FloatArray:
        """Loadings ``a_ik`` on every factor, shape ``(n_accounts, n_factors)``.

        Column 0 is the global factor (``sqrt(rho_i)``, :meth:`factor_loadings`); then one
        column per :class:`~kamsim.model.copulas.Factor` (per value of its ``by`` column).
        Loadings are square roots of the correlation shares, so the latent correlation of
        two accounts is ``sum_k a_ik a_jk``.

        Raises
        ------
        AssumptionError
            If an account's total ``sum_k a_ik^2`` is 1 or more (naming the account), or a
            factor's ``by`` column or group values do not exist.
        """
        cols = [self.factor_loadings()]
        for f in self.churn.factors:
            if f.by is None:
                assert not isinstance(f.correlation, Mapping)
                cols.append(np.full(self.portfolio.n_accounts, math.sqrt(f.correlation)))
                continue
            values = self._group_values(f)
            col = self.tiers() if f.by == "tier" else [
                str(v) for v in self.portfolio.column(f.by)]
            col_arr = np.array(col, dtype=object)
            if isinstance(f.correlation, Mapping):
                unknown = sorted(set(f.correlation) - set(values))
                if unknown:
                    raise AssumptionError(f"unknown {f.by} value(s) {unknown}; the portfolio "
                                          f"has {values}",
                                          field=f"churn.factors[{f.name!r}].correlation")
            for v in values:
                share = (f.correlation.get(v, 0.0) if isinstance(f.correlation, Mapping)
                         else f.correlation)
                cols.append(np.where(col_arr == v, math.sqrt(share), 0.0))
        a = np.column_stack(cols).astype(np.float64)
        tot = np.sum(a * a, axis=1)
        bad = np.flatnonzero(tot >= 1.0)
        if bad.size:
            i = int(bad[0])
            raise AssumptionError(
                f"account {self.portfolio.account_ids[i]!r} has a total correlation of "
                f"{tot[i]:.3g} over all factors (global + {len(a[0]) - 1} more); it must be "
                f"below 1 ({bad.size} account(s) affected); lower the factors' correlations",
                field="churn.factors")
        return a

    def partial_probs(self) -> FloatArray:
        """Probability that an account's churn event is partial."""
        pp = self.churn.partial_prob
        if isinstance(pp, Mapping):
            return self._per_tier(pp, "partial_prob")
        return np.full(self.portfolio.n_accounts, float(pp))

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; the portfolio is referenced by its source path.

        A scenario read with a ``columns:`` mapping holds its accounts under kamsim's
        names; to save it with its data, write the accounts as a canonical table
        (``portfolio.to_frame()``) and point ``accounts`` at it, as the app and
        ``kamsim report`` do (``kamsim.views.widgets.data.write_scenario``).
        """
        d: dict[str, Any] = {
            "name": self.name,
            "accounts": self.portfolio.source,
            "horizon_months": int(self.horizon_months),
            "fixed_costs": float(self.fixed_costs),
            "churn": self.churn.to_dict(),
        }
        if self.opening_cash is not None:
            d["opening_cash"] = float(self.opening_cash)
        if self.replacement is not None:
            d["replacement"] = self.replacement.to_dict()
        if self.plans is not None:
            d["plans"] = self.plans.to_dict()
        if self.budget is not None:
            d["budget"] = self.budget.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, portfolio: Portfolio | None = None,
                  base_dir: str | os.PathLike[str] | None = None) -> Scenario:
        """Build from a plain dict (as written by :meth:`to_dict` or a YAML file).

        Parameters
        ----------
        d : mapping
            Keys ``name, accounts, horizon_months, fixed_costs, churn`` and optionally
            ``columns, opening_cash, replacement, plans, budget`` (``budget`` may be a
            number: the amount alone). ``columns`` maps the headers of the ``accounts``
            file to kamsim's column names (checked by :func:`account_columns`).
        portfolio : Portfolio, optional
            Use this portfolio instead of reading ``d["accounts"]`` (``columns`` is still
            checked, but not used).
        base_dir : path, optional
            Folder that a relative ``accounts`` path is relative to.
        """
        if not isinstance(d, Mapping):
            raise AssumptionError(f"must be a mapping of scenario fields, got "
                                  f"{type(d).__name__}", field="scenario")
        known_fields(d, {"name", "accounts", "columns", "horizon_months", "fixed_costs",
                          "churn", "opening_cash", "replacement", "plans", "budget"},
                     "scenario")
        columns = account_columns(d.get("columns"))
        if portfolio is None:
            acc = d.get("accounts")
            if acc is None or acc == "":
                raise AssumptionError("no accounts file given and no portfolio passed",
                                      field="accounts",
                                      fix="add 'accounts: path/to/accounts.csv' to the "
                                          "scenario, or pass portfolio=",
                                      cli_fix="add 'accounts: path/to/accounts.csv' to the "
                                              "scenario file, or give --accounts FILE")
            if not isinstance(acc, str | os.PathLike):
                raise AssumptionError(
                    f"must be the path of an accounts file (text), got {acc!r}",
                    field="accounts", fix="write e.g. 'accounts: data/accounts.csv'")
            p = Path(acc)
            if base_dir is not None and not p.is_absolute():
                p = Path(base_dir) / p
            portfolio = read_accounts(p, columns=columns or None)
        kw: dict[str, Any] = {"portfolio": portfolio}
        for k in ("name", "horizon_months", "fixed_costs", "opening_cash"):
            if k in d and (d[k] is not None or k == "opening_cash"):
                kw[k] = d[k]
        if d.get("replacement") is not None:
            if not isinstance(d["replacement"], Mapping):
                raise AssumptionError("must be a mapping of replacement fields",
                                      field="replacement")
            kw["replacement"] = ReplacementAssumptions.from_dict(d["replacement"])
        if "churn" in d and d["churn"] is not None:
            if not isinstance(d["churn"], Mapping):
                raise AssumptionError("must be a mapping of churn fields", field="churn")
            kw["churn"] = ChurnAssumptions.from_dict(d["churn"])
        if d.get("plans") is not None:
            kw["plans"] = RetentionPlans.from_dict(d["plans"])
        if d.get("budget") is not None:
            kw["budget"] = RetentionBudget.from_dict(d["budget"])
        sc = cls(**kw)
        sc.check_plans()
        return sc

    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict`."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str], *,
                  portfolio: Portfolio | None = None) -> Scenario:
        """Read a scenario YAML file (safe loader); relative paths are file-relative."""
        p = Path(path)
        lines: dict[str, int] = {}
        data = load_yaml(p, key_lines=lines)
        if data is None:  # an empty file (or only comments): every field at its default
            data = {}
        if not isinstance(data, Mapping):
            raise InputDataError(
                f"must hold a mapping of scenario fields (lines such as 'horizon_months: "
                f"24'), got {type(data).__name__}", path=p)
        try:
            return cls.from_dict(data, portfolio=portfolio, base_dir=p.parent)
        except AssumptionError as exc:
            key = (exc.field or "").split(".")[-1].split("[")[0]
            where = f"{p}, line {lines[key]}" if key in lines else str(p)
            raise AssumptionError(f"{exc.message} (in {where})", field=exc.field, fix=exc.fix,
                                  cli_fix=exc.cli_fix) from exc

    def with_churn(self, **changes: Any) -> Scenario:
        """Copy with some churn fields changed (e.g. ``level=1.5``)."""
        return replace(self, churn=replace(self.churn, **changes))

    def with_replacement(self, replacement: ReplacementAssumptions | None = None,
                         **changes: Any) -> Scenario:
        """Copy with replacement assumptions set, or some of their fields changed."""
        base = replacement if replacement is not None else (
            self.replacement if self.replacement is not None else ReplacementAssumptions())
        return replace(self, replacement=replace(base, **changes) if changes else base)

    def replacement_size_pool(self) -> FloatArray:
        """Annual revenues of the non-key accounts: the default sizes of new accounts."""
        tiers = np.array(self.tiers(), dtype=object)
        rev = np.asarray(self.portfolio.revenue, dtype=np.float64)
        pool = rev[(tiers != "key") & (rev > 0)]
        return pool if pool.size else rev[rev > 0]

    def replacement_margin(self) -> float:
        """Revenue-weighted gross margin of the non-key accounts (0 without margins)."""
        pf = self.portfolio
        if not pf.has_gross_profit:
            return 0.0
        tiers = np.array(self.tiers(), dtype=object)
        sel = tiers != "key"
        rev = float(np.sum(pf.revenue[sel]))
        return float(np.sum(pf.gross_profit[sel]) / rev) if rev > 0 else 0.0
