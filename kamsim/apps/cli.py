"""Command line: ``kamsim summary``, ``retention``, ``report``, ``app`` and ``notebooks``.

Also available as ``python -m kamsim``. The sub-commands' heavy imports (papermill, Voila)
are deferred to the sub-command that needs them, so ``kamsim summary`` starts fast.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kamsim._version import __version__
from kamsim.exceptions import InputDataError, KamsimError

__all__ = ["main"]


def _summary(args: argparse.Namespace) -> int:
    from kamsim.analysis import concentration
    from kamsim.analysis.headline import headline_figures
    from kamsim.analysis.worst_case import lose_top_k
    from kamsim.engine import simulate
    from kamsim.model import Scenario
    from kamsim.portfolio import read_accounts
    from kamsim.portfolio.datasets import data_dir

    scenario_path = Path(args.scenario) if args.scenario else data_dir() / "sample_scenario.yaml"
    portfolio = read_accounts(args.accounts) if args.accounts else None
    sc = Scenario.from_yaml(scenario_path, portfolio=portfolio)
    pf = sc.portfolio
    out = sys.stdout
    with pd.option_context("display.width", 120, "display.max_columns", 20,
                           "display.float_format", "{:,.2f}".format):
        out.write(f"kamsim summary of {pf.source or 'portfolio'} "
                  f"({pf.n_accounts} accounts, revenue {pf.total_revenue:,.0f})\n\n")
        out.write("Concentration\n")
        out.write(concentration.summary(pf).to_string(index=False) + "\n\n")
        out.write(f"Deterministic worst cases (fixed costs {sc.fixed_costs:,.0f} a year)\n")
        cols = ["case", "revenue_lost_share", "gross_profit_lost", "profit_after_fixed_costs",
                "above_break_even"]
        out.write(lose_top_k(pf, 3, fixed_costs=sc.fixed_costs)[cols].to_string(index=False)
                  + "\n\n")
        res = simulate(sc, n_paths=args.paths, rng=args.seed, progress=False)
        head = headline_figures(sc, res)
        out.write(f"Headline figures ({head.label}, seed {args.seed}); the board report "
                  "shows the same for the same seed\n")
        table = head.to_frame()[["figure", "display"]]
        out.write(table.to_string(index=False, header=False) + "\n\n")
        out.write(f"Monte Carlo, {args.paths:,} paths, seed {args.seed}, horizon "
                  f"{sc.horizon_months} months, correlation {sc.churn.correlation:g}\n")
        out.write(res.summary().to_string(index=False) + "\n")
    return 0


def _retention(args: argparse.Namespace) -> int:
    from kamsim._util.io import atomic_write_text, neutralise_formulas
    from kamsim.economics.retention import plan_retention
    from kamsim.model import Scenario
    from kamsim.model.plans import RetentionBudget
    from kamsim.portfolio import read_accounts
    from kamsim.portfolio.datasets import data_dir

    scenario_path = Path(args.scenario) if args.scenario else data_dir() / "sample_scenario.yaml"
    portfolio = read_accounts(args.accounts) if args.accounts else None
    sc = Scenario.from_yaml(scenario_path, portfolio=portfolio)
    if sc.plans is None:
        msg = (f"{scenario_path} names no retention plans; add a 'plans:' block (see the "
               "bundled data/sample_scenario.yaml)")
        raise KamsimError(msg)
    budget = sc.budget
    if args.budget is not None:
        budget = (RetentionBudget(amount=args.budget) if budget is None
                  else budget.with_amount(args.budget))
    if budget is None:
        msg = f"{scenario_path} has no 'budget:' entry; add one or pass --budget AMOUNT"
        raise KamsimError(msg)
    st = plan_retention(sc, budget=budget, n_paths=args.paths, n_eval_paths=args.eval_paths,
                        rng=args.seed, risk_aversion=args.risk_aversion)
    opt = st.optimum
    table = opt.to_frame()
    out = sys.stdout
    with pd.option_context("display.width", 140, "display.max_columns", 20,
                           "display.float_format", "{:,.2f}".format):
        out.write(f"Where the retention budget goes: budget {budget.amount:,.0f} over "
                  f"{sc.horizon_months} months, {opt.futures.n_accounts} accounts in scope, "
                  f"{args.paths:,} futures, seed {args.seed}\n")
        out.write(f"planned spend {opt.spend:,.0f}; expected NPV {opt.expected_npv:,.0f}; "
                  f"solved in {opt.solve_seconds:.2f} s, proved gap {opt.gap:,.0f}\n\n")
        out.write((table.to_string(index=False) if len(table) else "no account gets a plan")
                  + "\n\n")
        out.write(f"On {args.eval_paths:,} fresh futures (Expected Shortfall "
                  f"{opt.level:.0%} of the NPV lost to churn):\n")
        cols = ["allocation", "spend", "expected_npv", "es", "es_se", "es_minus_reference",
                "es_diff_se"]
        out.write(st.out_of_sample[cols].to_string(index=False) + "\n")
    if args.out:
        folder = Path(args.out).expanduser()
        folder.mkdir(parents=True, exist_ok=True)
        path = atomic_write_text(folder / "retention_budget.csv",
                                 neutralise_formulas(table).to_csv(index=False))
        out.write(f"\nwrote {path}\n")
    return 0


def _positive(text: str) -> int:
    """An argparse type: a whole number >= 1 (a clear message instead of a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    """An argparse type: a seed >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _notebooks(args: argparse.Namespace) -> int:
    from kamsim.apps.voila import explorer_notebooks

    dest = Path(args.folder).expanduser()
    if dest.exists() and not dest.is_dir():
        raise InputDataError("is a file, not a folder; give a folder for the notebooks",
                             path=dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for nb in explorer_notebooks():
        target = dest / nb.name
        if target.exists() and not args.force:
            sys.stdout.write(f"kept {target} (exists; --force replaces it)\n")
            continue
        shutil.copyfile(nb, target)
        written.append(target)
    for t in written:
        sys.stdout.write(f"wrote {t}\n")
    sys.stdout.write(f"open them with: jupyter lab {dest}\n")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kamsim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kamsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="print concentration, worst cases and Monte Carlo "
                                       "headline figures")
    s.add_argument("--accounts", help="accounts CSV/XLSX (default: the scenario's accounts)")
    s.add_argument("--scenario", help="scenario YAML (default: the bundled sample scenario)")
    s.add_argument("--paths", type=_positive, default=20_000, help="Monte Carlo paths")
    s.add_argument("--seed", type=_seed, default=2026, help="random seed (>= 0)")
    s.set_defaults(func=_summary)
    r = sub.add_parser("retention", help="choose a retention plan per key account within the "
                                         "budget (the scenario's plans: and budget:)")
    r.add_argument("--accounts", help="accounts CSV/XLSX (default: the scenario's accounts)")
    r.add_argument("--scenario", help="scenario YAML with plans: and budget: (default: the "
                                      "bundled sample scenario)")
    r.add_argument("--budget", type=float, help="budget over the horizon (default: the "
                                                "scenario's)")
    r.add_argument("--risk-aversion", type=float, default=1.0,
                   help="weight of the bad-year loss against expected NPV (default 1)")
    r.add_argument("--paths", type=int, default=5_000, help="futures to choose on")
    r.add_argument("--eval-paths", type=int, default=20_000,
                   help="fresh futures to judge on")
    r.add_argument("--seed", type=int, default=2026, help="random seed")
    r.add_argument("--out", help="folder for retention_budget.csv")
    r.set_defaults(func=_retention)
    n = sub.add_parser("notebooks", help="copy the explorer notebooks into a folder to open "
                                         "in JupyterLab")
    n.add_argument("folder", help="destination folder (created if missing)")
    n.add_argument("--force", action="store_true", help="replace notebooks already there")
    n.set_defaults(func=_notebooks)
    from kamsim.apps.voila import add_app_parser
    from kamsim.views.report import add_report_parser

    add_report_parser(sub)
    add_app_parser(sub)
    return parser


def _check_out(args: argparse.Namespace) -> None:
    """``--out`` must name a folder (or a path where one can be made), not a file."""
    out = getattr(args, "out", None)
    if out is None:
        return
    p = Path(out).expanduser()
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                what = "is an existing file" if q == p else f"is inside {q}, which is a file"
                msg = f"--out {out} {what}; give a folder, e.g. --out reports"
                raise KamsimError(msg)
            break


def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: Any = None, line: str | None = None) -> None:
    sys.stderr.write(f"kamsim: warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kamsim`` command.

    Every error ends as one ``kamsim: error: ...`` line on stderr with advice in
    command-line words and exit status 2; no traceback reaches the user. An unexpected
    exception (a bug) exits with status 3 and a one-line message; set the environment
    variable ``KAMSIM_DEBUG=1`` to see its traceback.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    np.set_printoptions(suppress=True)
    debug = bool(os.environ.get("KAMSIM_DEBUG"))
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.showwarning = _show_warning
            _check_out(args)
            code: int = args.func(args)
    except KamsimError as exc:
        sys.stderr.write(f"kamsim: error: {exc.for_cli()}\n")
        return 2
    except OSError as exc:  # permission denied, disk full, ... while reading or writing
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"kamsim: error: {where}{exc.strerror or exc}; check the path and "
                         "that you may read (and, for --out, write) it\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("kamsim: interrupted\n")
        return 130
    except Exception as exc:
        if debug:
            raise
        sys.stderr.write(f"kamsim: internal error ({type(exc).__name__}: {exc}); this is a "
                         "bug in kamsim, please report it with the command you ran (set "
                         "KAMSIM_DEBUG=1 to see the traceback)\n")
        return 3
    return code
