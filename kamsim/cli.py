"""Command line: ``kamsim summary``, ``kamsim report`` and ``kamsim app``.

Also available as ``python -m kamsim``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kamsim.exceptions import KamsimError

__all__ = ["main"]


def _summary(args: argparse.Namespace) -> int:
    from kamsim import concentration
    from kamsim.datasets import data_dir
    from kamsim.engine import simulate
    from kamsim.portfolio import read_accounts
    from kamsim.scenario import Scenario
    from kamsim.worst_case import lose_top_k

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
        out.write(f"Monte Carlo, {args.paths:,} paths, seed {args.seed}, horizon "
                  f"{sc.horizon_months} months, correlation {sc.churn.correlation:g}\n")
        out.write(res.summary().to_string(index=False) + "\n")
    return 0


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kamsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="print concentration, worst cases and Monte Carlo "
                                       "headline figures")
    s.add_argument("--accounts", help="accounts CSV/XLSX (default: the scenario's accounts)")
    s.add_argument("--scenario", help="scenario YAML (default: the bundled sample scenario)")
    s.add_argument("--paths", type=int, default=20_000, help="Monte Carlo paths")
    s.add_argument("--seed", type=int, default=2026, help="random seed")
    s.set_defaults(func=_summary)
    from kamsim.app import add_app_parser
    from kamsim.report import add_report_parser

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
