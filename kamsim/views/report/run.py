"""The board report: a papermill-parameterised notebook turned into HTML (and PDF).

``kamsim report --accounts FILE [--scenario scenario.yaml] [-p NAME VALUE ...] --out DIR``
(or :func:`run_report` from Python) runs ``notebooks/board_report.ipynb``:

1. every parameter is validated **before** a kernel starts (unknown names, wrong types,
   missing files and bad scenario fields fail fast with a clear message; papermill itself
   only warns about unknown names);
2. the notebook runs with papermill; progress names the section being executed;
3. the executed notebook is kept for audit and rendered to one self-contained HTML page
   without code or scripts (:mod:`kamsim.views.report.render`), optionally printed to PDF
   (A4 or Letter) with Debian's Chromium, and its tables written to an Excel workbook;
4. every output goes into a new generation folder that replaces the previous output
   set as a whole with one rename when the run succeeds
   (:mod:`kamsim.views.report.outputs`), so a failed run never replaces a good report;
   a failure keeps the partial executed notebook as ``board_report.failed.ipynb`` and
   names the failing section.

The set-up (:mod:`kamsim.views.report.setup`), the summary
(:mod:`kamsim.views.report.summary`) and the tables (:mod:`kamsim.views.report.tables`)
hold what the notebook displays, so the notebook stays thin and the numbers are testable.
"""

from __future__ import annotations

import argparse
import functools
import html
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kamsim._util.format import count, money, number, percent
from kamsim._util.io import atomic_write_bytes, atomic_write_text, neutralise_formulas, sha256_file
from kamsim._version import __version__
from kamsim.analysis.calibrate import read_history
from kamsim.analysis.sensitivity import METRICS
from kamsim.analysis.worst_case import lose_top_k
from kamsim.exceptions import KamsimError
from kamsim.model import Scenario
from kamsim.portfolio import read_accounts
from kamsim.portfolio.datasets import data_dir
from kamsim.views.report.outputs import new_generation, publish
from kamsim.views.report.render import PAPER_SIZES, render_html
from kamsim.views.report.sections import read_exclusions
from kamsim.views.report.setup import Calibration, calibrate_from_history
from kamsim.views.report.tables import format_value

__all__ = [
    "SECTIONS",
    "Calibration",
    "ReportError",
    "ReportOutputs",
    "add_report_parser",
    "assumptions_table",
    "calibrate_from_history",
    "cash_sentence",
    "concentration_view",
    "executive_summary",
    "html_to_pdf",
    "md_escape",
    "money",
    "negotiation_view",
    "notebook_path",
    "pricing_sentence",
    "replacement_sentence",
    "report_parameters",
    "reproducibility_footer",
    "run_report",
    "styled",
    "validate_parameters",
    "write_table",
]

logger = logging.getLogger(__name__)

#: Sections of the board report, in order.
SECTIONS = ("summary", "concentration", "worst_cases", "monte_carlo", "stress",
            "replacement", "pricing", "retention", "sensitivity", "appendix")

_SECTION_TITLES = {
    "setup": "Setting up",
    "summary": "Executive summary",
    "concentration": "Concentration",
    "worst_cases": "Worst cases",
    "monte_carlo": "Monte Carlo loss distribution",
    "stress": "What it takes to break us",
    "replacement": "Replacement and cash",
    "pricing": "Price-cut economics",
    "retention": "Where the retention budget goes",
    "sensitivity": "Sensitivity",
    "appendix": "Assumptions appendix",
}


class ReportError(KamsimError, ValueError):
    """The report could not be produced: bad parameters, or a section failed."""


@dataclass(frozen=True, slots=True)
class ReportOutputs:
    """Where a successful report run wrote its files."""

    html: Path
    notebook: Path
    pdf: Path | None
    tables: tuple[Path, ...]
    seconds: float
    xlsx: Path | None = None
    pdf_seconds: float = 0.0


def notebook_path() -> Path:
    """Path of the board report notebook shipped in the package.

    Examples
    --------
    >>> notebook_path().name
    'board_report.ipynb'
    """
    p = Path(str(resources.files("kamsim.views.report") / "board_report.ipynb"))
    if not p.exists():  # pragma: no cover - a broken install
        msg = f"the board report notebook was not found at {p}; reinstall kamsim"
        raise ReportError(msg)
    return p


# ---------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True, slots=True)
class ReportParameter:
    """One parameter of the report notebook (from its ``parameters`` cell)."""

    name: str
    type_name: str
    default: Any
    help: str


def report_parameters(notebook: str | os.PathLike[str] | None = None
                      ) -> dict[str, ReportParameter]:
    """The report notebook's parameters, as papermill sees them (name, type, default, help)."""
    nb = Path(notebook) if notebook is not None else notebook_path()
    return dict(_parameters_of(str(nb), nb.stat().st_mtime_ns))


@functools.lru_cache(maxsize=8)
def _parameters_of(nb: str, _mtime_ns: int) -> dict[str, ReportParameter]:
    """Parameters of a notebook file (cached while the file is unchanged)."""
    import ast

    from papermill.inspection import inspect_notebook

    out: dict[str, ReportParameter] = {}
    for name, info in inspect_notebook(nb).items():
        try:
            default = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            default = info["default"]
        out[name] = ReportParameter(name, str(info["inferred_type_name"]), default,
                                    str(info["help"]))
    return out


_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "str": (str,), "bool": (bool,),
    "list": (list, tuple), "dict": (dict,),
}


def _check_type(name: str, value: Any, type_name: str) -> Any:
    allowed = _TYPES.get(type_name)
    if allowed is None:
        return value
    if isinstance(value, bool) and type_name in ("int", "float"):
        ok = False
    else:
        ok = isinstance(value, allowed)
    if not ok:
        msg = (f"parameter {name!r} must be of type {type_name}, got {value!r} "
               f"({type(value).__name__})")
        raise ReportError(msg)
    if type_name == "float":
        return float(value)
    if type_name == "list":
        return list(value)
    return value


#: Bounds of the numeric report parameters: (low, high, low_open, high_open); the same
#: bounds as the library objects they feed (pricing, negotiation), checked up front.
_BOUNDS: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "n_paths": (100, 10_000_000, False, False),
    "top_k": (1, 1000, False, False),
    "seed": (0, None, False, False),
    "efficiency_gain": (0.0, 1.0, False, True),
    "pass_through": (0.0, 1.0, False, False),
    "retention_per_point": (-1.0, 0.0, True, False),
    "discount_rate": (0.0, 1.0, False, False),
    "demand_cut": (0.0, 1.0, False, False),
    "threat_credibility": (0.0, 1.0, False, False),
    "band_draws": (0, 10_000, False, False),
    "exact_max_accounts": (1, 1_000_000, False, False),
}


def _g(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else f"{x:g}"


def _bad(name: str, rule: str, value: Any) -> ReportError:
    return ReportError(f"parameter {name!r} must be {rule}, got {value!r}",
                       cli_fix=f"set it with -p {name} VALUE")


_CURRENCY_BAD = re.compile(r"[<>&\"'`*_\[\]\\{}|#\x00-\x1f]")


def _check_values(values: dict[str, Any]) -> None:
    """Range checks of every report parameter whose type is already right."""
    for name, (lo, hi, lo_open, hi_open) in _BOUNDS.items():
        if name not in values:
            continue
        v = values[name]
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        if ok and lo is not None:
            ok = v > lo if lo_open else v >= lo
        if ok and hi is not None:
            ok = v < hi if hi_open else v <= hi
        if not ok:
            if hi is None:
                rule = f"a finite number {'>' if lo_open else '>='} {_g(lo)}"
            else:
                rule = (f"a finite number in {'(' if lo_open else '['}{_g(lo)}, {_g(hi)}"
                        f"{')' if hi_open else ']'}")
            raise _bad(name, rule, v)
    if "levels" in values:
        levels = values["levels"]
        if not levels:
            raise _bad("levels", "a non-empty list of probabilities such as [0.95, 0.99]",
                       levels)
        for a in levels:
            if not (isinstance(a, int | float) and not isinstance(a, bool) and 0 < a < 1):
                raise _bad("levels", "a list of numbers in (0, 1) such as [0.95, 0.99]",
                           levels)
    draws = values.get("band_draws")
    if isinstance(draws, int) and 0 < draws < 20:
        raise _bad("band_draws", "0 (no band) or at least 20 outer draws (100 for a first "
                   "look, 400 for a stable band)", draws)
    if "churn_level_range" in values:
        rng_ = values["churn_level_range"]
        ok = (isinstance(rng_, list | tuple) and len(rng_) == 2
              and all(isinstance(v, int | float) and not isinstance(v, bool)
                      and math.isfinite(v) for v in rng_) and 0 < rng_[0] <= rng_[1])
        if not ok:
            raise _bad("churn_level_range", "two numbers 0 < low <= high such as [0.8, 1.3] "
                       "(multiples of the churn estimates)", rng_)
    if "sections" in values:
        secs = values["sections"]
        bad = sorted({str(x) for x in secs} - set(SECTIONS))
        if bad or not all(isinstance(x, str) for x in secs):
            msg = f"unknown section(s) {bad or secs}; sections are {list(SECTIONS)}"
            raise ReportError(msg)
    cur = values.get("currency")
    if isinstance(cur, str) and (len(cur) > 8 or _CURRENCY_BAD.search(cur)):
        raise _bad("currency", "a short currency symbol or code such as €, $, £, CHF or "
                   "'USD ' (at most 8 characters, no markup)", cur)
    metric = values.get("tornado_metric")
    if metric is not None and metric not in METRICS:
        raise _bad("tornado_metric", f"one of {sorted(METRICS)}", metric)
    mapping = values.get("column_mapping")
    if mapping and not all(isinstance(k, str) and isinstance(v, str)
                           for k, v in mapping.items()):
        raise _bad("column_mapping", "a mapping of column names to kamsim names, e.g. "
                   "{Customer: account_id}", mapping)


def validate_parameters(parameters: Mapping[str, Any], *,
                        notebook: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Check report parameters before any kernel starts; return the full parameter set.

    Raises
    ------
    ReportError
        Unknown parameter names (with the valid ones), wrong types, missing files,
        unknown sections, bad levels or paths.
    kamsim.exceptions.InputDataError, kamsim.exceptions.AssumptionError
        If the accounts file or the scenario cannot be used (same messages as the library).
    """
    spec = report_parameters(notebook)
    unknown = sorted(set(parameters) - set(spec))
    if unknown:
        msg = f"unknown report parameter(s) {unknown}; valid parameters are {sorted(spec)}"
        raise ReportError(msg)
    values = {k: p.default for k, p in spec.items()}
    for k, v in parameters.items():
        values[k] = _check_type(k, v, spec[k].type_name)
    _check_values(values)
    for key in ("accounts_file", "scenario_file", "history_file", "ledger_exclusions_file"):
        v = values.get(key)
        if v:
            p = Path(v).expanduser()
            if not p.is_file():
                msg = f"parameter {key!r}: file not found: {p}"
                raise ReportError(msg)
            values[key] = str(p.resolve())
    if values.get("history_file"):
        read_history(values["history_file"])  # bad history files fail before the kernel
    if values.get("ledger_exclusions_file"):
        read_exclusions(values["ledger_exclusions_file"])  # likewise a bad exclusions table
    scenario_file = values.get("scenario_file") or str(data_dir() / "sample_scenario.yaml")
    values["scenario_file"] = scenario_file
    portfolio = None
    if values.get("accounts_file"):
        portfolio = read_accounts(values["accounts_file"],
                                  columns=values.get("column_mapping") or None)
    sc = Scenario.from_yaml(scenario_file, portfolio=portfolio)
    if not values.get("accounts_file"):
        values["accounts_file"] = sc.portfolio.source or ""
    if values.get("horizon_months", 0) not in (0, None):
        h = values["horizon_months"]
        if not 1 <= h <= 600:
            msg = f"parameter 'horizon_months' must be in [1, 600] (0 = the scenario's), got {h}"
            raise ReportError(msg)
    return values


# ---------------------------------------------------------------------------------------
# section helpers used by the notebook


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_escape(text: object) -> str:
    r"""Escape user text (e.g. an account name) for Markdown *and* HTML.

    Examples
    --------
    >>> md_escape("<script>alert(1)</script> *Co*")
    '&lt;script&gt;alert\\(1\\)&lt;/script&gt; \\*Co\\*'
    """
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=True))


def executive_summary(scenario: Any, result: Any, *, currency: str = "€",
                      company_name: str = "", replacement: Any = None) -> str:
    """The executive summary as Markdown sentences with the key numbers (short form).

    The board report shows :func:`kamsim.views.report.executive_summary_html` (conclusions
    with what they assume, and recommended actions); this Markdown form stays for callers
    that want a few sentences, e.g. in their own notebooks.

    Parameters
    ----------
    scenario : Scenario
    result : SimulationResult
        Monte Carlo run of ``scenario``.
    currency : str
    company_name : str
        Escaped before use.
    replacement : object, optional
        A result with ``summary()`` giving recovery months for the largest account (when
        replacement modelling is available).

    Returns
    -------
    str
        Markdown; every piece of user data (names) is escaped.
    """
    pf = scenario.portfolio
    order = np.argsort(-pf.revenue, kind="stable")
    top = int(order[0])
    share = pf.revenue[top] / pf.total_revenue
    name = md_escape(pf.names[top])
    who = md_escape(company_name) if company_name else "The business"
    lines = [f"**{who}** earns {money(pf.total_revenue, currency)} a year from "
             f"{pf.n_accounts:,} accounts."]
    wc = lose_top_k(pf, 2, fixed_costs=scenario.fixed_costs)
    s = f"Our largest account, **{name}**, is **{share:.1%}** of revenue"
    if pf.has_gross_profit:
        gp_cut = wc["gross_profit_lost"].iloc[1]
        gp_share = wc["gross_profit_lost_share"].iloc[1]
        s += (f"; losing it cuts gross profit by **{money(gp_cut, currency)}** a year "
              f"({gp_share:.1%})")
        if scenario.fixed_costs > 0:
            after = wc["profit_after_fixed_costs"].iloc[1]
            verdict = "stays above" if after >= 0 else "falls below"
            s += (f", and profit after fixed costs {verdict} break-even "
                  f"({money(after, currency)})")
    lines.append(s + ".")
    v20 = result.var(0.95)
    v200 = result.var(0.995)
    h = scenario.horizon_months
    lines.append(
        f"Over the next {h} months, in **one future in 20** we lose at least "
        f"**{money(v20, currency)}** of annual revenue ({v20 / pf.total_revenue:.1%}, the "
        f"95 % VaR); in **one in 200**, at least **{money(v200, currency)}** "
        f"({v200 / pf.total_revenue:.1%}). On average we lose "
        f"{money(result.losses().mean(), currency)}.")
    if scenario.fixed_costs > 0 and pf.has_gross_profit:
        p = result.prob_below_break_even()
        lines.append(f"The probability that monthly gross profit falls below fixed costs at "
                     f"some point in the {h} months is **{p:.1%}**.")
    if replacement is not None:
        lines.append(replacement_sentence(replacement, pf, currency=currency))
    return "\n\n".join(f"- {x}" for x in lines)


_ASSUMPTION_LABELS: dict[str, str] = {
    "accounts": "accounts file", "name": "scenario name", "horizon_months": "horizon (months)",
    "fixed_costs": "fixed costs a year", "opening_cash": "opening cash",
    "churn.level": "churn level (x each account's probability)",
    "churn.correlation": "shared-shock correlation", "churn.notice_months": "notice (months)",
    "churn.partial_prob": "share of churn that is a partial cut",
    "churn.partial_beta": "size of partial cuts: Beta(a, b)",
    "churn.annual_prob": "annual churn probability (all accounts)",
    "churn.tier_probs": "annual churn probability by tier", "churn.copula": "dependence model",
    "replacement.opportunities_per_month": "new opportunities a month",
    "replacement.response_lag_months": "months before the first new opportunity",
    "replacement.win_rate": "win rate",
    "replacement.cycle_mean_months": "mean sales cycle (months)",
    "replacement.cycle_cv": "sales-cycle spread (coefficient of variation)",
    "replacement.account_size": "size of new accounts",
    "replacement.ramp_shape": "ramp-up shape", "replacement.ramp_months": "ramp-up (months)",
    "replacement.acquisition_cost": "cost per won account",
    "plans": "retention plans", "budget": "retention budget",
    "churn.segment_correlation": "extra correlation within segments",
    "churn.n_key": "key accounts (largest by revenue)",
    "churn.n_strategic": "strategic accounts (next largest)",
    "churn.nu": "degrees of freedom of the shared shock (t copula)",
    "churn.nu_idio": "degrees of freedom of each account's own shock",
    "churn.factors": "shared-shock factors",
    "replacement.max_opportunities": "most opportunities opened in all (a budget cap)",
    "replacement.arrivals": "arrival of opportunities",
    "replacement.cycle_distribution": "sales-cycle distribution",
    "replacement.size_median": "median size of a new account",
    "replacement.size_sigma": "spread of new-account sizes (log-normal sigma)",
    "replacement.size_pool": "sizes new accounts are drawn from",
    "replacement.gross_margin": "gross margin of new accounts",
    "replacement.organic_growth": "organic growth a year",
}

_MONEY_KEYS = ("fixed_costs", "opening_cash", "replacement.acquisition_cost", "budget.amount",
               "replacement.size_median")


def _assumption_value(key: str, value: Any) -> str:
    """An assumption's value as a reader sees it (no reprs, no None, lists as text)."""
    if key in _MONEY_KEYS and isinstance(value, int | float) and not isinstance(value, bool):
        return money(value)
    if isinstance(value, Mapping):
        if "menu" in value:  # retention plans: their names
            names = [str(m.get("name")) for m in value.get("menu") or []
                     if isinstance(m, Mapping)]
            return f"{len(names)} plans: {', '.join(names)}"
        if not value:
            return "none"
        return "; ".join(f"{k}: {_assumption_value(f'{key}.{k}', v)}"
                         for k, v in value.items())
    if value is None:
        return "not set"
    if isinstance(value, list | tuple) and not value:
        return "none"
    if isinstance(value, list | tuple) and len(value) > 6:
        nums = [float(x) for x in value if isinstance(x, int | float)]
        if len(nums) == len(value):
            return f"{len(nums):,} values from {number(min(nums), 0)} to {number(max(nums), 0)}"
        return f"{len(value):,} values"
    return format_value(value, "text")


def assumptions_table(scenario: Any, *, scenario_file: str = "", accounts_file: str = "",
                      horizon_override: int = 0, calibration: Any = None) -> pd.DataFrame:
    """Every scenario parameter with its value and where it came from.

    Sources: ``scenario file <name>`` (set in the YAML), ``report parameter`` (overridden
    by the report), ``kamsim default`` (not set anywhere, so kamsim's default applies), or
    the accounts file for per-account inputs.
    """
    import yaml

    given: dict[str, Any] = {}
    if scenario_file and Path(scenario_file).is_file():
        loaded = yaml.safe_load(Path(scenario_file).read_text(encoding="utf-8")) or {}
        given = {k: v for k, v in loaded.items() if k != "churn"}
        given.update({f"churn.{k}": v for k, v in (loaded.get("churn") or {}).items()})
    src_name = Path(scenario_file).name if scenario_file else ""
    d = scenario.to_dict()
    flat: dict[str, Any] = {k: v for k, v in d.items() if k != "churn"}
    flat.update({f"churn.{k}": v for k, v in d["churn"].items()})
    for section in ("replacement",):
        if isinstance(d.get(section), Mapping):
            sub = flat.pop(section)
            flat.update({f"{section}.{k}": v for k, v in sub.items()})
    if isinstance(given.get("replacement"), Mapping):
        given.update({f"replacement.{k}": v for k, v in given["replacement"].items()})
    rows = []
    for k, v in flat.items():
        if k == "accounts":
            v = Path(str(accounts_file or v)).name  # a file name, never a local path
            source = "report parameter" if accounts_file else f"scenario file {src_name}"
        elif k == "horizon_months" and horizon_override:
            source = "report parameter"
        elif k in given:
            source = f"scenario file {src_name}"
        else:
            source = "kamsim default"
        num = (float(v) if isinstance(v, int | float) and not isinstance(v, bool)
               else None)
        rows.append({"parameter": _ASSUMPTION_LABELS.get(k, k.replace("_", " ")),
                     "value": _assumption_value(k, v), "source": source,
                     "in_scenario_file_as": k, "number": num})
    pf = scenario.portfolio
    if calibration is not None:
        rows.append({"parameter": "per-account annual churn probability",
                     "in_scenario_file_as": "",
                     "value": f"mean {calibration.mean_prob:.1%}",
                     "source": f"calibrated ({calibration.model}) from history file "
                               f"{Path(calibration.history_file).name}: "
                               f"{calibration.n_accounts} accounts, {calibration.n_churned} "
                               "churned"})
    elif scenario.churn.tier_probs is None and pf.has("churn_prob"):
        p = pf.column("churn_prob")
        rows.append({"parameter": "per-account annual churn probability",
                     "in_scenario_file_as": "",
                     "value": f"{p.min():.1%} to {p.max():.1%} (mean {p.mean():.1%})",
                     "source": "accounts file column churn_prob"})
    if pf.has("gross_margin"):
        rows.append({"parameter": "per-account gross margin", "in_scenario_file_as": "",
                     "value": f"{pf.column('gross_margin').mean():.1%} on average",
                     "source": "accounts file column gross_margin"})
    return pd.DataFrame(rows)


def reproducibility_footer(*, seed: int, n_paths: int, accounts_file: str,
                           input_sha256: str = "", run_date: str = "") -> str:
    """Markdown footer: kamsim version, seed, paths, input file and its sha256, run date."""
    sha = input_sha256 or (sha256_file(accounts_file) if accounts_file
                           and Path(accounts_file).is_file() else "n/a")
    date = run_date or datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"*Reproducibility: kamsim {md_escape(__version__)}; seed {int(seed)}; "
            f"{int(n_paths):,} paths; accounts file {md_escape(Path(accounts_file).name)} "
            f"(sha256 {md_escape(sha)}); run {md_escape(date)}.*")


_CONCENTRATION_ROWS: tuple[tuple[str, str, str], ...] = (
    ("total", "total (a year)", "money"),
    ("largest_account", "largest account", "text"),
    ("cr1", "largest account's share", "pct"),
    ("cr5", "top 5 accounts' share", "pct"),
    ("cr10", "top 10 accounts' share", "pct"),
    ("hhi_points", "HHI (points, 0 to 10,000)", "int"),
    ("effective_accounts", "effective number of accounts (1/HHI)", "one"),
    ("gini", "Gini coefficient", "three"),
    ("theil", "Theil index", "three"),
    ("n_class_A", "A accounts (first 80 % of the total)", "int"),
    ("n_major_customers", "major customers (10 % or more)", "int"),
    ("hmg2010_band_reference", "US merger guidelines 2010 band (reference only)", "text"),
    ("hmg2023_band_reference", "US merger guidelines 2023 band (reference only)", "text"),
)


def concentration_view(summary: pd.DataFrame, *, currency: str = "€",
                       portfolio: Any = None) -> pd.DataFrame:
    """The concentration summary as a readable table of formatted text.

    One row per figure, one column per measure (percentages, points, money); with
    ``portfolio``, the largest account is shown by name. ``summary`` is
    :func:`kamsim.analysis.concentration.summary` output (one row per measure).
    """
    fmt: dict[str, Callable[[Any], str]] = {
        "money": lambda v: money(v, currency),
        "pct": lambda v: percent(v),
        "int": lambda v: count(v),
        "one": lambda v: number(v, 1),
        "three": lambda v: number(v, 3),
        "text": lambda v: str(v),
    }
    names = dict(zip(portfolio.account_ids, portfolio.names, strict=True)) if portfolio \
        is not None else {}
    rows = []
    for key, label, kind in _CONCENTRATION_ROWS:
        if key not in summary.columns:
            continue
        row = {"figure": label[:1].upper() + label[1:]}
        for _, r in summary.iterrows():
            v = r[key]
            if key == "largest_account":
                v = names.get(v, v)
            row[str(r["measure"]).replace("_", " ")] = fmt[kind](v)
        rows.append(row)
    return pd.DataFrame(rows)


def replacement_sentence(timeline: Any, portfolio: Any, *, currency: str = "€") -> str:
    """One Markdown sentence on how long replacing the largest account takes.

    ``timeline`` is :func:`kamsim.analysis.timelines.replacement_timeline` output for the largest
    account's revenue; censored paths (not replaced within the horizon) are reported as
    such, never as a number of months.
    """
    rows = {r.statistic: r for r in timeline.summary().itertuples()}
    top = int(np.argmax(portfolio.revenue))
    name = md_escape(portfolio.names[top])
    lost = money(float(portfolio.revenue[top]), currency)
    med, p90 = rows["median"].display, rows["p90"].display
    not_rec = rows["share_not_recovered"].display
    unit = " months" if rows["median"].within_horizon else ""
    unit90 = " months" if rows["p90"].within_horizon else ""
    return (f"Replacing the revenue of our largest account, **{name}** ({lost} a year), takes a "
            f"median of **{med}{unit}** (90 %: {p90}{unit90}); in {not_rec} of futures it is not "
            f"replaced within {timeline.horizon_months} months.")


def cash_sentence(result: Any, lose_top: Any, scenario: Any, *, currency: str = "€") -> str:
    """Markdown sentences on the probability of running out of cash."""
    cash = money(float(scenario.opening_cash or 0.0), currency)
    base = result.prob_out_of_cash()
    hit = lose_top.prob_out_of_cash()
    low = float(np.median(lose_top.per_path["min_cash"]))
    return (f"Starting with {cash} of cash, the probability that cash runs out within "
            f"{scenario.horizon_months} months is **{base:.1%}** with ordinary churn and "
            f"**{hit:.1%}** if the largest account leaves now (median lowest balance "
            f"{money(low, currency)}).")


def pricing_sentence(best: Any, breakdown: Any, *, currency: str = "€") -> str:
    """Markdown sentences on the cost of passing gains back and the best pass-through."""
    return (f"Passing back {breakdown.pass_through:.0%} of the efficiency gains gives away "
            f"**{money(breakdown.passed_back_npv, currency)}** (NPV) and buys back "
            f"{money(breakdown.retention_value_npv, currency)} in retention, keeping "
            f"{money(breakdown.kept_npv, currency)} of the {money(breakdown.gain_npv, currency)} "
            f"gained. Under these assumptions the pass-through with the highest expected NPV is "
            f"**{best.pass_through:.0%}**.")


def negotiation_view(table: pd.DataFrame) -> pd.DataFrame:
    """The negotiation table's columns a board reads, with readable names."""
    view = table[["name", "revenue", "demand", "credibility", "ev_concede", "ev_refuse",
                  "walk_away", "decision"]].copy()
    view["demand"] = view["demand"].map("{:.1%}".format)
    view["credibility"] = view["credibility"].map("{:.0%}".format)
    view["walk_away"] = view["walk_away"].map(
        lambda v: "n/a" if pd.isna(v) else f"{v:.1%}")
    return view.rename(columns={"ev_concede": "value if we concede",
                                "ev_refuse": "value if we refuse",
                                "walk_away": "walk-away concession"})


def write_table(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Export a table as CSV for spreadsheets: atomic write, formulas neutralised.

    Text cells starting with ``= + - @`` get a leading apostrophe so that opening the
    file in Excel or LibreOffice never runs them (CSV/formula injection).
    """
    return atomic_write_text(path, neutralise_formulas(df).to_csv(index=False))


def styled(df: pd.DataFrame, formats: Mapping[str, str] | None = None) -> Any:
    """A pandas Styler with thousands separators, for report tables (HTML-escaped)."""
    fmt: dict[Any, Any] = dict(formats or {})
    for c in df.columns:
        if c not in fmt and pd.api.types.is_float_dtype(df[c].dtype):
            fmt[c] = "{:,.0f}"
    return df.style.format(fmt, escape="html", na_rep="").hide(axis="index")


# ---------------------------------------------------------------------------------------
# running


def _section_of(cell: Any) -> str | None:
    for t in cell.get("metadata", {}).get("tags", []):
        if t.startswith("section:"):
            return str(t.split(":", 1)[1])
    return None


def _progress_hook(write: Callable[[str], Any], order: Sequence[str]) -> Callable[..., None]:
    seen: set[str] = set()

    def hook(cell: Any = None, cell_index: int = 0, **_: Any) -> None:
        sec = _section_of(cell) if cell is not None else None
        if sec and sec not in seen:
            seen.add(sec)
            pos = order.index(sec) + 1 if sec in order else len(seen)
            write(f"kamsim report: [{pos}/{len(order)}] {_SECTION_TITLES.get(sec, sec)}\n")

    return hook


def _failed_section(nb: Any) -> str:
    for cell in nb.cells:
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            sec = _section_of(cell)
            return _SECTION_TITLES.get(sec, sec) if sec else "an untagged cell"
    return "unknown"


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def html_to_pdf(html_path: Path, pdf_path: Path, *, timeout: float = 120.0) -> Path:
    """Print an HTML file to PDF with headless Chromium (no network)."""
    exe = find_chromium()
    if exe is None:
        msg = ("PDF export needs Chromium: install Debian's 'chromium' package "
               "(apt-get install chromium), or run without --pdf")
        raise ReportError(msg)
    with tempfile.TemporaryDirectory(prefix="kamsim-chromium-") as prof:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic",
               f"--user-data-dir={prof}",
               "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: CDN scripts fail fast
               "--no-pdf-header-footer", "--virtual-time-budget=5000",
               f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    if proc.returncode != 0 or not pdf_path.exists():
        msg = f"Chromium could not print the PDF (exit {proc.returncode}): {proc.stderr[-500:]}"
        raise ReportError(msg)
    return pdf_path


def run_report(
    *,
    accounts: str | os.PathLike[str] | None = None,
    scenario: str | os.PathLike[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    out_dir: str | os.PathLike[str] = "reports",
    pdf: bool = False,
    xlsx: bool = False,
    paper: str = "A4",
    progress: bool = True,
    notebook: str | os.PathLike[str] | None = None,
    kernel_name: str = "python3",
    timeout: float = 1800.0,
) -> ReportOutputs:
    """Run the board report and write HTML (PDF, Excel) plus the executed notebook.

    Parameters
    ----------
    accounts : path, optional
        Accounts file (default: the scenario's, i.e. the bundled sample).
    scenario : path, optional
        Scenario YAML (default: the bundled sample scenario).
    parameters : mapping, optional
        Other notebook parameters (``kamsim report --help`` lists them).
    out_dir : path
        Output folder: ``board_report.html``, ``board_report.ipynb``, ``tables/*.csv``,
        ``manifest.json`` and, when asked for, ``board_report.pdf`` and
        ``board_report.xlsx``. The whole set is replaced at once (see
        :mod:`kamsim.views.report.outputs`).
    pdf : bool
        Also print the HTML to PDF with Chromium.
    xlsx : bool
        Also write the tables to an Excel workbook.
    paper : {"A4", "Letter"}
        Printed page size (HTML print style and PDF).
    progress : bool
        Write the section being executed to stderr.

    Raises
    ------
    ReportError
        Bad parameters (before any kernel starts) or a failing section (the partial
        executed notebook is kept as ``board_report.failed.ipynb`` in ``out_dir``).
    """
    import time

    import nbformat
    import papermill as pm

    t0 = time.perf_counter()
    if paper not in PAPER_SIZES:
        msg = f"paper must be one of {sorted(PAPER_SIZES)}, got {paper!r}"
        raise ReportError(msg, cli_fix="use --paper A4 or --paper Letter")
    params = dict(parameters or {})
    if accounts is not None:
        params["accounts_file"] = str(accounts)
    if scenario is not None:
        params["scenario_file"] = str(scenario)
    values = validate_parameters(params, notebook=notebook)
    nb_in = Path(notebook) if notebook is not None else notebook_path()
    out = Path(out_dir).resolve()  # the kernel runs in notebooks/: no relative paths
    out.mkdir(parents=True, exist_ok=True)
    if values.get("accounts_file"):
        values["input_sha256"] = sha256_file(values["accounts_file"])
    values["run_date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    gen = new_generation(out)
    staging = gen.path
    pdf_seconds = 0.0
    try:
        values["tables_dir"] = str(staging / "tables")
        if xlsx and "xlsx_file" in report_parameters(notebook):
            values["xlsx_file"] = str(staging / "board_report.xlsx")
        executed = staging / "board_report.ipynb"
        order = [sec for c in nbformat.read(nb_in, as_version=4).cells
                 if (sec := _section_of(c)) is not None]
        write = sys.stderr.write if progress else (lambda _s: None)
        hook = _progress_hook(write, order)
        try:
            pm.execute_notebook(
                str(nb_in), str(executed), parameters=values, kernel_name=kernel_name,
                progress_bar=False, cwd=str(nb_in.parent), execution_timeout=timeout,
                on_cell_execute=hook,
            )
        except pm.PapermillExecutionError as exc:
            failed = out / "board_report.failed.ipynb"
            section = "unknown"
            if executed.exists():
                nb_failed = nbformat.read(executed, as_version=4)
                section = _failed_section(nb_failed)
                atomic_write_bytes(failed, executed.read_bytes())
            msg = (f"the report failed in section '{section}': {exc.ename}: {exc.evalue}. "
                   f"The partial notebook is kept at {failed}; earlier outputs in {out} "
                   "were left untouched")
            raise ReportError(msg) from exc
        nb = nbformat.read(executed, as_version=4)
        company = str(values.get("company_name") or "")
        title = f"{company or 'kamsim'}: key-account risk report"
        html_text = render_html(nb.cells, title=title, company=company,
                                run_date=str(values["run_date"]), paper=paper)  # type: ignore[arg-type]
        atomic_write_text(staging / "board_report.html", html_text)
        if pdf:
            t1 = time.perf_counter()
            html_to_pdf(staging / "board_report.html", staging / "board_report.pdf")
            pdf_seconds = time.perf_counter() - t1
        published = publish(gen, info={
            "kamsim": __version__, "seed": values.get("seed"), "n_paths": values.get("n_paths"),
            "accounts_file": Path(str(values.get("accounts_file") or "")).name,
            "input_sha256": values.get("input_sha256", ""), "paper": paper,
            "run_date": values["run_date"]})
        (out / "board_report.failed.ipynb").unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tables = tuple(sorted((out / "tables").glob("*.csv"))) if "tables" in published else ()
    return ReportOutputs(html=out / "board_report.html", notebook=out / "board_report.ipynb",
                         pdf=out / "board_report.pdf" if pdf else None,
                         tables=tables, seconds=time.perf_counter() - t0,
                         xlsx=out / "board_report.xlsx" if "board_report.xlsx" in published
                         else None, pdf_seconds=pdf_seconds)


# ---------------------------------------------------------------------------------------
# command line


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _report_command(args: argparse.Namespace) -> int:
    import time

    t0 = time.perf_counter()
    params: dict[str, Any] = {}
    spec = report_parameters()
    for name, raw in args.parameter or []:
        if name in spec and spec[name].type_name == "str":
            params[name] = raw
        else:
            params[name] = _parse_value(raw)
    if args.paths is not None:
        params["n_paths"] = args.paths
    if args.seed is not None:
        params["seed"] = args.seed
    res = run_report(accounts=args.accounts, scenario=args.scenario, parameters=params,
                     out_dir=args.out, pdf=args.pdf, xlsx=args.xlsx, paper=args.paper,
                     progress=not args.quiet)
    extra = [str(p) for p in (res.pdf, res.xlsx) if p is not None]
    sys.stdout.write(f"report written to {res.html}"
                     + (f" and {', '.join(extra)}" if extra else "")
                     + f" (executed notebook {res.notebook}) in "
                     f"{time.perf_counter() - t0:.1f} s"
                     + (f" (PDF {res.pdf_seconds:.1f} s)" if res.pdf else "") + "\n")
    return 0


def add_report_parser(sub: Any) -> None:
    """Add the ``report`` sub-command to the ``kamsim`` argument parser."""
    p = sub.add_parser(
        "report", help="run the board report (HTML, optional PDF) with papermill",
        description="Run notebooks/board_report.ipynb with papermill and write one "
                    "self-contained HTML page without code (and, on request, PDF and "
                    "Excel). Parameters: see `papermill --help-notebook "
                    "notebooks/board_report.ipynb`.")
    p.add_argument("--accounts", help="accounts CSV/XLSX (default: the sample portfolio)")
    p.add_argument("--scenario", help="scenario YAML (default: the sample scenario)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="set a notebook parameter (repeatable); VALUE is parsed as YAML")
    p.add_argument("--paths", type=int, help="Monte Carlo paths (same as -p n_paths N)")
    p.add_argument("--seed", type=int, help="random seed (same as -p seed N)")
    p.add_argument("--out", default="reports", help="output folder (default: reports)")
    p.add_argument("--pdf", action="store_true", help="also print a PDF with Chromium")
    p.add_argument("--xlsx", action="store_true",
                   help="also write the tables to an Excel workbook (board_report.xlsx)")
    p.add_argument("--paper", choices=sorted(PAPER_SIZES), default="A4",
                   help="printed page size (default A4)")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=_report_command)
