"""Command line: ``kamsim summary``, ``retention``, ``report``, ``app`` and ``notebooks``.

Also available as ``python -m kamsim``. The sub-commands' heavy imports (papermill, Voila)
are deferred to the sub-command that needs them, so ``kamsim summary`` starts fast.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import sys
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from kamsim._version import __version__
from kamsim.exceptions import AssumptionError, InputDataError, KamsimError

__all__ = ["did_you_mean", "load_scenario", "main", "parse_columns", "parse_tier_probs"]


#: Arguments of :func:`kamsim.portfolio.from_ledger` a ``--ledger-columns`` entry may name.
LEDGER_FIELDS = ("customer", "date", "amount", "quantity", "unit_price", "invoice", "product",
                 "segment", "region")
#: Longest line ``kamsim summary`` prints.
WIDTH = 100


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'revenue'?"`` for a near miss among ``choices``, else ``""``.

    Examples
    --------
    >>> did_you_mean("revenu", ["account_id", "revenue"])
    "; did you mean 'revenue'?"
    >>> did_you_mean("xyz", ["revenue"])
    ''
    """
    hits = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {hits[0]!r}?" if hits else ""


def parse_columns(text: str, *, option: str = "--columns",
                  targets: Sequence[str] | None = None) -> dict[str, str]:
    """``"Customer=account_id,Sales 2025=revenue"`` -> ``{"Customer": "account_id", ...}``.

    Raises
    ------
    KamsimError
        For an entry without ``=`` or a target kamsim does not know (with a suggestion).

    Examples
    --------
    >>> parse_columns("Customer=account_id, Sales 2025=revenue")
    {'Customer': 'account_id', 'Sales 2025': 'revenue'}
    """
    from kamsim.portfolio import CANONICAL_COLUMNS, LINE_PREFIX

    known = list(CANONICAL_COLUMNS) if targets is None else list(targets)
    out: dict[str, str] = {}
    for item in (t for t in text.split(",") if t.strip()):
        if "=" not in item:
            msg = (f"{option}: {item.strip()!r} has no '='; write YOUR HEADER=kamsim name, "
                   f'e.g. {option} "Customer=account_id,Sales 2025=revenue"')
            raise KamsimError(msg)
        src, _, dst = item.partition("=")
        src, dst = src.strip(), dst.strip()
        if dst not in known and not (targets is None and dst.startswith(LINE_PREFIX)):
            msg = (f"{option}: {dst!r} is not a kamsim column{did_you_mean(dst, known)} "
                   f"(kamsim columns: {', '.join(known)})")
            raise KamsimError(msg)
        out[src] = dst
    if not out:
        msg = f'{option} is empty; write e.g. {option} "Customer=account_id,Sales 2025=revenue"'
        raise KamsimError(msg)
    return out


def parse_tier_probs(text: str) -> dict[str, float]:
    """``"key=0.05,strategic=0.08,standard=0.12"`` -> a dict of annual probabilities.

    Examples
    --------
    >>> parse_tier_probs("key=0.05, standard=0.1")
    {'key': 0.05, 'standard': 0.1}
    """
    out: dict[str, float] = {}
    tiers = ("key", "strategic", "standard")
    for item in (t for t in text.split(",") if t.strip()):
        tier, _, value = item.partition("=")
        tier = tier.strip()
        if tier not in tiers:
            msg = ("--tier-probs: write e.g. --tier-probs key=0.05,strategic=0.08,"
                   f"standard=0.12; {tier!r} is not a tier{did_you_mean(tier, tiers)}")
            raise KamsimError(msg)
        try:
            p = float(value)
        except ValueError:
            msg = (f"--tier-probs: {tier}={value.strip()!r} is not a probability; write a "
                   "number between 0 and 1, e.g. key=0.05")
            raise KamsimError(msg) from None
        if not 0.0 <= p <= 1.0:
            msg = f"--tier-probs: {tier}={p:g} must be between 0 and 1 (0.05 = 5 % a year)"
            raise KamsimError(msg)
        out[tier] = p
    return out


def _probability(text: str) -> float:
    """An argparse type: an annual probability in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a probability between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and 1 (0.1 = 10 % a year), got {value:g}")
    return value


def _read_accounts(path: str | Path, columns: dict[str, str] | None) -> Any:
    """read_accounts, with a missing-column error that names the --columns to give."""
    from kamsim.portfolio import CANONICAL_COLUMNS, read_accounts
    from kamsim.portfolio.tables import read_table
    from kamsim.views.widgets.data import suggest_mapping

    try:
        return read_accounts(path, columns=columns)
    except InputDataError as exc:
        if not (exc.message.startswith("missing required")
                and (exc.cli_fix or "").startswith("name the header cells")):
            raise  # e.g. the accounts are on another sheet: the reader's advice fits
        try:
            headers = [str(c) for c in read_table(path).frame.columns]
        except KamsimError:
            raise exc from None
        required = [c for c, spec in CANONICAL_COLUMNS.items() if spec.required]
        guess = {h: f for h, f in suggest_mapping(headers).items()
                 if h != f and f in required}
        guess.update(columns or {})
        example = ",".join(f"{h}={f}" for h, f in guess.items()) or \
            "YOUR ID HEADER=account_id,YOUR SALES HEADER=revenue"
        raise InputDataError(
            exc.message, path=exc.path,
            cli_fix=f"name the header cells account_id and revenue, or tell kamsim which of "
                    f'your columns is which: --columns "{example}" (or a columns: entry in '
                    "the scenario YAML)") from None


def _ledger_portfolio(path: str, mapping: str | None) -> Any:
    from kamsim.portfolio import from_ledger

    kw: dict[str, Any] = {}
    if mapping:
        for header, field in parse_columns(mapping, option="--ledger-columns",
                                           targets=LEDGER_FIELDS).items():
            kw[field] = header
        if "amount" not in kw and ("quantity" in kw or "unit_price" in kw):
            kw["amount"] = None
    try:
        return from_ledger(path, **kw)
    except InputDataError as exc:
        if "missing" not in exc.message and "not found" not in exc.message:
            raise
        raise InputDataError(
            exc.message, path=exc.path,
            cli_fix='name the ledger\'s columns: --ledger-columns "CustomerID=customer,'
                    'InvoiceDate=date,Quantity=quantity,UnitPrice=unit_price" (or '
                    "Amount=amount)") from None


def load_scenario(args: argparse.Namespace) -> Any:
    """The scenario a sub-command runs on, from its data options.

    ``--scenario`` (default: the bundled sample) with a ``columns:`` entry for its
    accounts file, replaced by ``--accounts FILE`` (mapped by ``--columns``) or
    ``--ledger FILE`` (mapped by ``--ledger-columns``, aggregated by
    :func:`kamsim.portfolio.from_ledger`); churn from ``--churn-prob`` or ``--tier-probs``
    when given.
    """
    from kamsim.model import Scenario
    from kamsim.model.scenario import account_columns, load_yaml
    from kamsim.portfolio.datasets import data_dir

    path = Path(args.scenario) if args.scenario else data_dir() / "sample_scenario.yaml"
    data = load_yaml(path)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InputDataError("must hold a mapping of scenario fields (lines such as "
                             "'horizon_months: 24')", path=path)
    data = dict(data)
    yaml_columns = data.pop("columns", None)
    try:  # the scenario schema's own check (Scenario.from_dict), with the file named
        columns = account_columns(yaml_columns)
    except AssumptionError as exc:
        raise AssumptionError(f"{exc.message} (in {path})", field=exc.field) from None
    if getattr(args, "columns", None):
        columns.update(parse_columns(args.columns))
    ledger = getattr(args, "ledger", None)
    if ledger and args.accounts:
        msg = "give --accounts or --ledger, not both"
        raise KamsimError(msg)
    if getattr(args, "ledger_columns", None) and not ledger:
        msg = "--ledger-columns needs --ledger FILE"
        raise KamsimError(msg)
    portfolio = None
    if ledger:
        portfolio = _ledger_portfolio(ledger, args.ledger_columns)
    elif args.accounts:
        portfolio = _read_accounts(args.accounts, columns or None)
    elif columns and isinstance(data.get("accounts"), str) and data["accounts"]:
        # a mapping to apply: read the accounts here (else Scenario.from_dict reads them)
        acc = Path(data["accounts"])
        portfolio = _read_accounts(acc if acc.is_absolute() else path.parent / acc,
                                   columns or None)
    margin = getattr(args, "gross_margin", None)
    if margin is not None:
        if portfolio is None:
            msg = "--gross-margin applies to --accounts or --ledger data; give one of them"
            raise KamsimError(msg)
        if portfolio.has("gross_margin") or portfolio.has("gross_profit"):
            msg = ("--gross-margin: the accounts already have gross margins or gross profit; "
                   "drop --gross-margin")
            raise KamsimError(msg)
        portfolio = portfolio.replace(gross_margin=[margin] * portfolio.n_accounts)
    churn_prob = getattr(args, "churn_prob", None)
    tier_probs = getattr(args, "tier_probs", None)
    if churn_prob is not None and tier_probs:
        msg = "give --churn-prob or --tier-probs, not both"
        raise KamsimError(msg)
    if churn_prob is not None or tier_probs:
        churn = dict(data.get("churn") or {})
        churn["annual_prob"] = churn_prob
        churn["tier_probs"] = parse_tier_probs(tier_probs) if tier_probs else None
        data["churn"] = churn
        if portfolio is not None and portfolio.has("churn_prob") and churn_prob is not None:
            from kamsim.portfolio import Portfolio

            frame = portfolio.to_frame().drop(columns=["churn_prob"])
            portfolio = Portfolio(frame, source=portfolio.source,
                                  exclusions=portfolio.exclusions)
    try:
        if yaml_columns is None and churn_prob is None and not tier_probs:
            # the file as written: from_yaml names the line of a bad value
            sc = Scenario.from_yaml(path, portfolio=portfolio)
        else:
            sc = Scenario.from_dict(data, portfolio=portfolio, base_dir=path.parent)
    except AssumptionError as exc:
        if exc.field == "churn" and "no churn probabilities" in exc.message:
            raise AssumptionError(
                "no churn probabilities: the accounts have no churn_prob column",
                cli_fix="give --churn-prob 0.1 (every account 10 % a year) or --tier-probs "
                        "key=0.05,strategic=0.08,standard=0.12, or add a churn_prob column "
                        "(map yours with --columns)") from None
        if str(path) in exc.message:
            raise
        raise AssumptionError(f"{exc.message} (in {path})", field=exc.field, fix=exc.fix,
                              cli_fix=exc.cli_fix) from exc
    return sc


def _fit(text: str) -> str:
    """Lines of ``text`` cut to :data:`WIDTH` characters (tables are built to fit)."""
    return "\n".join(line if len(line) <= WIDTH else line[:WIDTH - 1] + "…"
                      for line in text.splitlines())


def _format_unit(value: Any, unit: str) -> str:
    from kamsim._util.format import count, money, months, percent

    u = unit.lower()
    if u.startswith("currency"):
        return money(value)
    if u == "probability":
        return percent(value)
    if u.startswith("months"):
        return months(value, decimals=1) if value == value else "not within the horizon"
    if u == "count":
        return count(value) if abs(float(value)) >= 100 else f"{float(value):,.1f}"
    return f"{float(value):,.2f}"


def _summary(args: argparse.Namespace) -> int:
    from kamsim._util.format import money, percent
    from kamsim.analysis import concentration
    from kamsim.analysis.headline import headline_figures
    from kamsim.analysis.worst_case import lose_top_k
    from kamsim.engine import simulate
    from kamsim.views.report import concentration_view

    sc = load_scenario(args)
    pf = sc.portfolio
    conc = concentration.summary(pf)
    worst = lose_top_k(pf, 3, fixed_costs=sc.fixed_costs)
    res = simulate(sc, n_paths=args.paths, rng=args.seed, progress=False)
    mc = res.summary()
    head = headline_figures(sc, res)
    source = Path(pf.source).name if pf.source else "portfolio"
    exclusions = pf.exclusions
    if args.json:
        import json

        def plain(df: pd.DataFrame) -> list[dict[str, Any]]:
            records: list[dict[str, Any]] = json.loads(df.to_json(orient="records"))
            return records

        doc = {"source": pf.source, "accounts": pf.n_accounts,
               "revenue": pf.total_revenue, "fixed_costs": sc.fixed_costs,
               "horizon_months": sc.horizon_months, "paths": args.paths, "seed": args.seed,
               "headline": plain(head.to_frame()),
               "concentration": plain(conc), "worst_cases": plain(worst),
               "monte_carlo": {r.metric: {"value": r.value, "unit": r.unit}
                               for r in mc.itertuples()}}
        if exclusions is not None:
            doc["ledger_exclusions"] = plain(exclusions.reset_index(names="reason"))
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
        return 0
    out = sys.stdout
    out.write(_fit(f"kamsim summary of {source}: {pf.n_accounts:,} accounts, revenue "
                   f"{money(pf.total_revenue)} a year") + "\n")
    if exclusions is not None:
        ex = exclusions.reset_index(names="reason")
        ex["lines"] = ex["lines"].map("{:,.0f}".format)
        ex["amount"] = ex["amount"].map("{:,.2f}".format)
        out.write("\nLedger lines kept and excluded (kept + excluded = ledger total)\n")
        out.write(_fit(ex.to_string(index=False)) + "\n")
    out.write("\n" + textwrap.fill(f"Headline figures ({head.label}, seed {args.seed}); the "
                                   "board report shows the same for the same seed",
                                   width=WIDTH) + "\n")
    out.write(_fit(head.to_frame()[["figure", "display"]].to_string(index=False, header=False))
              + "\n")
    out.write("\nConcentration\n")
    out.write(_fit(concentration_view(conc).to_string(index=False)) + "\n")
    out.write(f"\nDeterministic worst cases (fixed costs {money(sc.fixed_costs)} a year)\n")
    view = pd.DataFrame({
        "case": worst["case"],
        "revenue lost": worst["revenue_lost_share"].map(percent),
        "gross profit lost": worst["gross_profit_lost"].map(money),
        "profit after fixed costs": worst["profit_after_fixed_costs"].map(money),
        "covers fixed costs": worst["above_break_even"].map({True: "yes", False: "no"})})
    out.write(_fit(view.to_string(index=False)) + "\n")
    out.write(_fit(f"\nMonte Carlo: {args.paths:,} futures, seed {args.seed}, horizon "
                   f"{sc.horizon_months} months, shared-shock correlation "
                   f"{sc.churn.correlation:g}") + "\n")
    table = pd.DataFrame({"figure": mc["metric"],
                          "value": [_format_unit(v, u) for v, u in zip(mc["value"], mc["unit"],
                                                                        strict=True)]})
    out.write(_fit(table.to_string(index=False)) + "\n")
    return 0


def _retention(args: argparse.Namespace) -> int:
    from kamsim._util.io import atomic_write_text, neutralise_formulas
    from kamsim.economics.retention import plan_retention
    from kamsim.model.plans import RetentionBudget
    from kamsim.portfolio.datasets import data_dir

    scenario_path = Path(args.scenario) if args.scenario else data_dir() / "sample_scenario.yaml"
    sc = load_scenario(args)
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


def _data_options(p: argparse.ArgumentParser, *, scenario_help: str | None = None) -> None:
    """The options that say which data a sub-command runs on."""
    p.add_argument("--accounts", metavar="FILE",
                   help="accounts CSV/XLSX (default: the scenario's accounts)")
    p.add_argument("--columns", metavar='"HEADER=name,..."',
                   help='which of your columns is which, e.g. "Customer=account_id,Sales '
                        '2025=revenue" (also a columns: entry in the scenario YAML)')
    p.add_argument("--ledger", metavar="FILE",
                   help="an invoice-line export (CSV or Parquet) instead of an accounts "
                        "table: aggregated into accounts, exclusions reported")
    p.add_argument("--ledger-columns", metavar='"HEADER=field,..."',
                   help='the ledger\'s columns, e.g. "CustomerID=customer,InvoiceDate=date,'
                        'Quantity=quantity,UnitPrice=unit_price" (fields: '
                        + ", ".join(LEDGER_FIELDS) + ")")
    p.add_argument("--churn-prob", type=_probability, metavar="P",
                   help="one annual churn probability for every account (0.1 = 10 %%)")
    p.add_argument("--tier-probs", metavar='"key=P,strategic=P,standard=P"',
                   help="annual churn probability per tier, e.g. "
                        "key=0.05,strategic=0.08,standard=0.12")
    p.add_argument("--gross-margin", type=_probability, metavar="M",
                   help="one gross margin for every account when the data have none (a "
                        "ledger), e.g. 0.3 = 30 %% of revenue")
    p.add_argument("--scenario", metavar="FILE",
                   help=scenario_help or "scenario YAML (default: the bundled sample "
                                         "scenario)")


class _Parser(argparse.ArgumentParser):
    """argparse with "did you mean" for misspelt options and sub-commands."""

    def error(self, message: str) -> NoReturn:
        options = sorted({o for a in self._all_actions() for o in a.option_strings})
        commands = sorted(self._commands())
        hint = ""
        m = re.search(r"unrecognized arguments: (\S+)", message)
        if m:
            word = m.group(1).split("=", 1)[0]
            hint = did_you_mean(word, options)
        m = re.search(r"invalid choice: '([^']+)'", message)
        if m and commands:
            hint = did_you_mean(m.group(1), commands)
        super().error(message + hint)

    def _all_actions(self) -> list[argparse.Action]:
        found = list(self._actions)
        for a in self._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sp in a.choices.values():
                    found.extend(sp._actions)
        return found

    def _commands(self) -> list[str]:
        return [name for a in self._actions if isinstance(a, argparse._SubParsersAction)
                for name in a.choices]


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kamsim", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kamsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("summary", help="print concentration, worst cases and Monte Carlo "
                                       "headline figures")
    _data_options(s)
    s.add_argument("--paths", type=_positive, default=20_000, help="Monte Carlo paths")
    s.add_argument("--seed", type=_seed, default=2026, help="random seed (>= 0)")
    s.add_argument("--json", action="store_true",
                   help="print the figures as JSON (unformatted numbers), for scripts")
    s.set_defaults(func=_summary)
    r = sub.add_parser("retention", help="choose a retention plan per key account within the "
                                         "budget (the scenario's plans: and budget:)")
    _data_options(r, scenario_help="scenario YAML with plans: and budget: (default: the "
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
    _add_report_data_options(sub.choices["report"])
    add_app_parser(sub)
    return parser


def _add_report_data_options(p: argparse.ArgumentParser) -> None:
    """``kamsim report`` also takes --columns, --ledger, --churn-prob and --tier-probs.

    With any of them the scenario is built here (:func:`load_scenario`) and handed to the
    report as a canonical scenario YAML and accounts CSV in ``OUT/inputs/`` (with the
    ledger's exclusions table beside them), so the report reads exactly these data.
    """
    p.add_argument("--columns", metavar='"HEADER=name,..."',
                   help='which of your columns is which, e.g. "Customer=account_id,Sales '
                        '2025=revenue" (also a columns: entry in the scenario YAML)')
    p.add_argument("--ledger", metavar="FILE",
                   help="an invoice-line export (CSV or Parquet) instead of an accounts table")
    p.add_argument("--ledger-columns", metavar='"HEADER=field,..."',
                   help="the ledger's columns (see kamsim summary --help)")
    p.add_argument("--churn-prob", type=_probability, metavar="P",
                   help="one annual churn probability for every account (0.1 = 10 %%)")
    p.add_argument("--tier-probs", metavar='"key=P,strategic=P,standard=P"',
                   help="annual churn probability per tier")
    p.add_argument("--gross-margin", type=_probability, metavar="M",
                   help="one gross margin for every account when the data have none")
    report = p.get_default("func")

    def run(args: argparse.Namespace) -> int:
        from kamsim.views.widgets.data import write_scenario

        own = (args.columns or args.ledger or args.ledger_columns
               or args.churn_prob is not None or args.tier_probs
               or args.gross_margin is not None)
        if own or (args.scenario and _has_columns(Path(args.scenario))):
            sc = load_scenario(args)
            inputs = Path(args.out).expanduser() / "inputs"
            written = write_scenario(sc, inputs / "scenario.yaml")
            sys.stdout.write(f"using {sc.portfolio.n_accounts:,} accounts; the report's "
                             f"inputs are in {inputs}\n")
            args.scenario, args.accounts = str(written), None
            exclusions = written.with_name(written.stem + "_ledger_exclusions.csv")
            if sc.portfolio.exclusions is not None and exclusions.exists():
                # the report's appendix reconciles the ledger's lines to the cent
                args.parameter = [*(args.parameter or []),
                                  ["ledger_exclusions_file", str(exclusions)]]
        code: int = report(args)
        return code

    p.set_defaults(func=run)


def _has_columns(path: Path) -> bool:
    from kamsim.model.scenario import load_yaml

    try:
        data = load_yaml(path)
    except KamsimError:
        return False  # the report says what is wrong with the file
    return isinstance(data, dict) and "columns" in data


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
