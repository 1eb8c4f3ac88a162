"""The data step: your own accounts file, mapped, checked and carried into every panel.

:func:`data_step` builds a panel that a strategist uses before anything runs:

1. **load** an accounts file (upload it, or type a path; or keep the bundled sample);
2. **map** its columns to kamsim's names with dropdowns, pre-filled by header matching
   (:func:`suggest_mapping`: "Customer" -> account id, "Sales 2025" -> revenue);
3. **fill missing churn**: the file's churn column, one annual probability for every
   account, or one per tier (key / strategic / standard);
4. **check**: the validation result in plain words (accounts, revenue, largest account, or
   what is wrong and how to fix it), then every linked panel redraws with the new data
   (:meth:`DataStep.link`).

The scenario assumptions (horizon, fixed costs, opening cash, churn level, correlation,
replacement capacity and win rate) are shown and editable, with the same names as the
scenario YAML, and :meth:`DataStep.save` writes a scenario YAML (with a canonical copy of
the accounts beside it) that ``kamsim report --scenario`` accepts.

In the app (``kamsim app``) the home page and every explorer share one folder (the
environment variable ``KAMSIM_APP_DATA``): data checked on one page are used by the next
page opened.
"""

from __future__ import annotations

import contextlib
import difflib
import html
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import yaml

from kamsim._util.format import count, money, percent
from kamsim._util.io import atomic_write_text
from kamsim.exceptions import InputDataError, KamsimError
from kamsim.model import ReplacementAssumptions, Scenario
from kamsim.portfolio import Portfolio, read_accounts
from kamsim.portfolio.datasets import data_dir
from kamsim.portfolio.tables import read_table
from kamsim.views.widgets.base import plain

__all__ = ["APP_DATA_ENV", "FIELDS", "DataStep", "data_step", "describe_portfolio",
           "suggest_mapping", "write_scenario"]

#: Environment variable naming the folder the app's pages share the chosen data through.
APP_DATA_ENV = "KAMSIM_APP_DATA"

#: The columns a user can map: canonical name -> (label, required).
FIELDS: dict[str, tuple[str, bool]] = {
    "account_id": ("Account id", True),
    "revenue": ("Revenue a year", True),
    "name": ("Account name", False),
    "gross_margin": ("Gross margin (fraction)", False),
    "gross_profit": ("Gross profit a year", False),
    "segment": ("Segment", False),
    "region": ("Region", False),
    "churn_prob": ("Annual churn probability", False),
    "growth": ("Expected growth a year", False),
    "cost_to_serve": ("Cost to serve a year", False),
    "distance_km": ("Distance (km)", False),
    "national": ("National account (yes/no)", False),
}

# words people use for each column, in several languages (matched on normalised headers)
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "account_id": ("account id", "customer id", "customer", "customer number", "customer no",
                   "client", "client id", "account", "account number", "debtor", "kunde",
                   "kundennummer", "id", "cust id", "sold to"),
    "revenue": ("revenue", "sales", "turnover", "net sales", "umsatz", "amount", "invoiced",
                "annual revenue", "revenue per year", "chiffre d affaires", "ventas"),
    "name": ("name", "customer name", "account name", "company", "client name", "firma"),
    "gross_margin": ("gross margin", "margin", "gm", "margin pct", "marge"),
    "gross_profit": ("gross profit", "gp", "contribution", "rohertrag", "deckungsbeitrag"),
    "segment": ("segment", "industry", "sector", "channel", "branche", "vertical"),
    "region": ("region", "territory", "area", "country", "sales region"),
    "churn_prob": ("churn prob", "churn probability", "churn", "attrition", "churn risk"),
    "growth": ("growth", "growth rate", "expected growth"),
    "cost_to_serve": ("cost to serve", "cts", "service cost", "cost of service"),
    "distance_km": ("distance", "distance km", "km"),
    "national": ("national", "international", "national account", "key national"),
}


def _norm(text: object) -> str:
    s = re.sub(r"[^0-9a-zäöüß]+", " ", str(text).lower())
    return re.sub(r"\s+", " ", s).strip()


def _score(header: str, field: str) -> float:
    h = _norm(header)
    h_words = re.sub(r"\b(19|20)\d\d\b", " ", h).split()  # "Sales 2025" -> "sales"
    h_core = " ".join(h_words)
    names = (_norm(field.replace("_", " ")), *(_norm(s) for s in _SYNONYMS.get(field, ())))
    best = 0.0
    for n in names:
        if h == n or h_core == n:
            return 1.0
        if n and (f" {n} " in f" {h_core} ") and len(n) >= 3:
            best = max(best, 0.85)
        best = max(best, difflib.SequenceMatcher(None, h_core, n).ratio() * 0.9)
    return best


def suggest_mapping(headers: Iterable[object], *, cutoff: float = 0.75) -> dict[str, str]:
    """Guess which header holds which kamsim column, by name (each used at most once).

    Parameters
    ----------
    headers : iterable
        The table's column headers.
    cutoff : float
        Lowest match score (0-1) accepted.

    Returns
    -------
    dict of header to canonical column name

    Examples
    --------
    >>> suggest_mapping(["Customer", "Company", "Sales 2025", "Margin", "Sector"])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'Customer': 'account_id', 'Company': 'name', 'Sales 2025': 'revenue',
     'Margin': 'gross_margin', 'Sector': 'segment'}
    >>> suggest_mapping(["account_id", "revenue"])
    {'account_id': 'account_id', 'revenue': 'revenue'}
    """
    hs = [str(h) for h in headers]
    pairs = sorted(((_score(h, f), -i, h, f) for i, h in enumerate(hs) for f in FIELDS),
                   reverse=True)
    used_h: set[str] = set()
    used_f: set[str] = set()
    found: dict[str, str] = {}
    for score, _, h, f in pairs:
        if score < cutoff or h in used_h or f in used_f:
            continue
        found[h] = f
        used_h.add(h)
        used_f.add(f)
    return {h: found[h] for h in hs if h in found}


def describe_portfolio(portfolio: Portfolio, currency: str = "€") -> str:
    """One plain sentence about a portfolio (no repr, no file path).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> describe_portfolio(load_sample())[:40]
    '300 accounts, revenue €31.9M a year; lar'
    """
    rev = np.asarray(portfolio.revenue, dtype=np.float64)
    i = int(np.argmax(rev))
    total = float(rev.sum())
    parts = [f"{count(portfolio.n_accounts)} accounts, revenue {money(total, currency)} a "
             f"year; largest {portfolio.names[i]} ({percent(rev[i] / total if total else 0)} "
             "of revenue)"]
    if portfolio.has("segment"):
        parts.append(f"{count(len(set(portfolio.column('segment'))))} segments")
    parts.append("gross margins known" if portfolio.has("gross_margin")
                 or portfolio.has("gross_profit") else "no gross margins (profit figures "
                 "use revenue)")
    return ", ".join(parts)


def _safe_name(name: str) -> str:
    base = Path(name).name
    stem = re.sub(r"[^0-9A-Za-z._ -]+", "_", base).strip() or "accounts.csv"
    return stem


class DataStep(widgets.VBox):  # type: ignore[misc]
    """Load, map and check an accounts file; edit and save the scenario assumptions.

    Build with :func:`data_step`. :attr:`scenario` is the checked scenario (the bundled
    sample until you check your own data); :meth:`link` makes panels follow it.

    Attributes
    ----------
    upload : ipywidgets.FileUpload
    path : ipywidgets.Text
        A path on this computer, instead of an upload.
    mapping : dict of str to ipywidgets.Dropdown
        One dropdown per kamsim column: which of your columns holds it.
    churn_source : ipywidgets.RadioButtons
        "column", "one" (one annual probability) or "tier" (one per tier).
    result : ipywidgets.HTML
        The validation result in plain words.
    scenario : Scenario
        The scenario every linked panel uses.
    """

    def __init__(self, scenario: Scenario | None = None, *, currency: str = "€",
                 folder: str | os.PathLike[str] | None = None, **kwargs: Any) -> None:
        self.currency = currency
        self._listeners: list[Callable[[Scenario], Any]] = []
        shared = folder if folder is not None else os.environ.get(APP_DATA_ENV)
        self.folder = Path(shared) if shared else None
        self._tmp = Path(tempfile.mkdtemp(prefix="kamsim-data-"))
        self._file: Path | None = None
        self.base = scenario if scenario is not None else Scenario.from_yaml(
            data_dir() / "sample_scenario.yaml")
        self.scenario = self.base
        label = {"description_width": "200px"}
        def row() -> widgets.Layout:  # one Layout per widget: a shared one hides them all
            return widgets.Layout(width="520px")

        self.upload = widgets.FileUpload(accept=".csv,.tsv,.txt,.xlsx", multiple=False,
                                         description="Upload accounts file",
                                         layout=widgets.Layout(width="240px"),
                                         tooltip="A CSV or Excel (.xlsx) table, one row per "
                                                 "account")
        self.path = widgets.Text(placeholder="or the path of a file on this computer",
                                 layout=widgets.Layout(width="320px"),
                                 tooltip="e.g. C:/data/accounts.xlsx or ~/accounts.csv")
        self.read_button = widgets.Button(description="Read file", tooltip="Read the file "
                                          "at this path", layout=widgets.Layout(width="110px"))
        self.sample_button = widgets.Button(description="Use the sample data",
                                            tooltip="The bundled 300-account sample",
                                            layout=widgets.Layout(width="180px"))
        self.file_info = widgets.HTML()
        self.mapping: dict[str, widgets.Dropdown] = {
            f: widgets.Dropdown(options=[("(not in my file)", "")], value="",
                                description=label_ + (" *" if req else ""), style=label,
                                layout=row(), tooltip=f"Your column holding: {label_.lower()}"
                                + (" (required)" if req else " (optional)"))
            for f, (label_, req) in FIELDS.items()}
        self.mapping_box = widgets.VBox(
            [widgets.HTML("<b>2. Which of your columns is which?</b> (pre-filled from the "
                          "headers; * = required)"), *self.mapping.values()],
            layout=widgets.Layout(display="none"))
        self.churn_source = widgets.RadioButtons(
            options=[("From my file's churn column", "column"),
                     ("One annual probability for every account", "one"),
                     ("One per tier (key / strategic / standard)", "tier")],
            value="one", layout=widgets.Layout(width="520px"),
            tooltip="Where each account's annual churn probability comes from")
        def pct() -> dict[str, Any]:
            return {"style": label, "layout": row(), "step": 0.01, "min": 0.0, "max": 1.0}

        self.churn_one = widgets.BoundedFloatText(
            value=0.10, description="Annual churn probability", **pct(),
            tooltip="Probability that an account leaves within a year (0.10 = 10 %)")
        self.churn_tiers = {
            t: widgets.BoundedFloatText(value=v, description=f"{t.capitalize()} accounts",
                                        **pct(), tooltip=f"Annual churn probability of the "
                                                       f"{t} tier (the largest accounts are "
                                                       "key, the next ones strategic)")
            for t, v in (("key", 0.05), ("strategic", 0.08), ("standard", 0.12))}
        self.churn_box = widgets.VBox([
            widgets.HTML("<b>3. Churn: how likely is each account to leave?</b>"),
            self.churn_source, self.churn_one, *self.churn_tiers.values()])
        self.check_button = widgets.Button(
            description="Check and use these data", button_style="primary",
            layout=widgets.Layout(width="260px"),
            tooltip="Validate the file with this mapping and send it to every panel")
        self.result = widgets.HTML()
        self.result.add_class("kamsim-data-result")
        # assumptions: the scenario YAML's fields, by their YAML names
        def num() -> dict[str, Any]:
            return {"style": label, "layout": row()}

        self.assumptions: dict[str, widgets.Widget] = {
            "horizon_months": widgets.BoundedIntText(
                min=1, max=600, description="Horizon (months)", **num(),
                tooltip="horizon_months: months of the future simulated"),
            "fixed_costs": widgets.BoundedFloatText(
                min=0, max=1e13, step=10_000, description=f"Fixed costs ({currency} a year)",
                **num(), tooltip="fixed_costs: overheads gross profit must cover"),
            "opening_cash": widgets.BoundedFloatText(
                min=-1e13, max=1e13, step=10_000, description=f"Opening cash ({currency})",
                **num(), tooltip="opening_cash: cash at the start of month 1"),
            "churn.level": widgets.BoundedFloatText(
                min=0, max=10, step=0.1, description="Churn level (× estimates)", **num(),
                tooltip="churn.level: multiplies every account's churn probability"),
            "churn.correlation": widgets.BoundedFloatText(
                min=0, max=0.99, step=0.05, description="Shared-shock correlation", **num(),
                tooltip="churn.correlation: how much bad years cluster (0 = independent)"),
            "replacement.opportunities_per_month": widgets.BoundedFloatText(
                min=0, max=10_000, step=1, description="New opportunities a month", **num(),
                tooltip="replacement.opportunities_per_month: sales capacity for replacing "
                        "lost revenue"),
            "replacement.win_rate": widgets.BoundedFloatText(
                min=0.01, max=1, step=0.05, description="Win rate", **num(),
                tooltip="replacement.win_rate: share of opportunities won"),
        }
        self.apply_button = widgets.Button(description="Apply assumptions",
                                           layout=widgets.Layout(width="200px"),
                                           tooltip="Send these assumptions to every panel")
        # the home folder, not the working folder: the app works in a temporary one
        self.save_path = widgets.Text(value=str(Path.home() / "kamsim" / "my_scenario.yaml"),
                                      description="Save as", style={"description_width":
                                                                    "60px"},
                                      layout=widgets.Layout(width="460px"),
                                      tooltip="Scenario YAML to write (the accounts are "
                                              "saved beside it)")
        self.save_button = widgets.Button(description="Save scenario YAML",
                                          layout=widgets.Layout(width="200px"),
                                          tooltip="Write the scenario for kamsim report "
                                                  "--scenario FILE")
        self.saved = widgets.HTML()
        super().__init__([
            widgets.HTML("<b>1. Your accounts file</b> (CSV or Excel, one row per account)"),
            widgets.HBox([self.upload, self.sample_button]),
            widgets.HBox([self.path, self.read_button]),
            self.file_info, self.mapping_box, self.churn_box, self.check_button,
            self.result,
            widgets.HTML("<b>4. Scenario assumptions</b> (names as in the scenario YAML; "
                         "hover for details)"),
            *self.assumptions.values(),
            widgets.HBox([self.apply_button]),
            widgets.HBox([self.save_path, self.save_button]), self.saved,
        ], **kwargs)
        self.add_class("kamsim-data-step")
        self.upload.observe(self._on_upload, names="value")
        self.read_button.on_click(lambda _b: self.read_path())
        self.sample_button.on_click(lambda _b: self.use_sample())
        self.check_button.on_click(lambda _b: self.check())
        self.apply_button.on_click(lambda _b: self.apply_assumptions())
        self.save_button.on_click(lambda _b: self.save())
        self.churn_source.observe(lambda _c: self._show_churn_fields(), names="value")
        self._show_churn_fields()
        self._fill_assumptions(self.scenario)
        loaded = self._load_shared()
        if not loaded:
            self.result.value = self._ok_text(self.scenario, "the bundled sample")

    # -- shared folder (the app) -----------------------------------------------------------
    def _load_shared(self) -> bool:
        if self.folder is None:
            return False
        p = self.folder / "scenario.yaml"
        if not p.is_file():
            return False
        try:
            sc = Scenario.from_yaml(p)
        except KamsimError as err:
            self.result.value = self._bad_text(f"The data chosen on the home page could not "
                                               f"be read again: {plain(err)}")
            return False
        self.scenario = sc
        self._fill_assumptions(sc)
        self.result.value = self._ok_text(sc, "the data chosen on the home page")
        return True

    def _share(self, sc: Scenario) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.write(sc, self.folder / "scenario.yaml")

    # -- step 1: the file ------------------------------------------------------------------
    def _on_upload(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        f = files[0]
        name = _safe_name(str(f["name"]))
        dest = self._tmp / name
        dest.write_bytes(bytes(f["content"]))
        self.load_file(dest, shown=name)

    def read_path(self) -> None:
        """Read the file named in :attr:`path`."""
        text = self.path.value.strip().strip('"')
        if not text:
            self.file_info.value = self._bad_text("Type the path of a CSV or Excel file "
                                                  "first, or upload one.")
            return
        self.load_file(Path(text).expanduser(), shown=text)

    def load_file(self, path: str | os.PathLike[str], *, shown: str | None = None) -> None:
        """Read a file's headers and pre-fill the column dropdowns (step 2)."""
        p = Path(path)
        try:
            table = read_table(p, what="accounts file")
        except KamsimError as err:
            self.file_info.value = self._bad_text(plain(err))
            self.mapping_box.layout.display = "none"
            return
        self._file = p
        headers = [str(c) for c in table.frame.columns]
        guess = suggest_mapping(headers)
        by_field = {f: h for h, f in guess.items()}
        for f, dd in self.mapping.items():
            dd.options = [("(not in my file)", ""), *((h, h) for h in headers)]
            dd.value = by_field.get(f, "")
        self.mapping_box.layout.display = "flex"
        self.churn_source.value = "column" if "churn_prob" in by_field else "one"
        self.file_info.value = (
            f"Read <b>{html.escape(shown or p.name)}</b>: {count(len(table.frame))} rows, "
            f"{len(headers)} columns ({html.escape(', '.join(headers[:12]))}"
            f"{', ...' if len(headers) > 12 else ''}). Check the column choices below, then "
            "press <i>Check and use these data</i>.")
        self.result.value = ""

    def use_sample(self) -> None:
        """Go back to the bundled sample scenario."""
        self._file = None
        self.mapping_box.layout.display = "none"
        self.file_info.value = ""
        self._use(Scenario.from_yaml(data_dir() / "sample_scenario.yaml"),
                  "the bundled sample")

    # -- steps 2-3: mapping, churn, check ----------------------------------------------------
    def columns(self) -> dict[str, str]:
        """The mapping your column -> kamsim column the dropdowns describe."""
        return {dd.value: f for f, dd in self.mapping.items() if dd.value}

    def _show_churn_fields(self) -> None:
        src = self.churn_source.value
        self.churn_one.layout.display = "flex" if src == "one" else "none"
        for w in self.churn_tiers.values():
            w.layout.display = "flex" if src == "tier" else "none"

    def _churn(self, sc: Scenario, portfolio: Portfolio) -> Scenario:
        src = self.churn_source.value
        churn = sc.churn
        if src == "column":
            if not portfolio.has("churn_prob"):
                msg = ("Your file has no churn column mapped: choose it under 'Annual churn "
                       "probability', or give one probability for every account or per tier.")
                raise InputDataError(msg)
            churn = replace(churn, annual_prob=None, tier_probs=None)
        elif src == "one":
            churn = replace(churn, annual_prob=float(self.churn_one.value), tier_probs=None)
        else:
            churn = replace(churn, annual_prob=None, tier_probs={
                t: float(w.value) for t, w in self.churn_tiers.items()})
        if src != "column" and portfolio.has("churn_prob"):
            frame = portfolio.to_frame().drop(columns=["churn_prob"])
            portfolio = Portfolio(frame, source=portfolio.source,
                                  exclusions=portfolio.exclusions)
        if churn.tier_probs is not None:  # only the tiers this portfolio has
            probe = replace(sc, portfolio=portfolio, churn=replace(
                churn, tier_probs=None, annual_prob=0.0), plans=None, budget=None)
            present = set(probe.tiers())
            churn = replace(churn, tier_probs={t: v for t, v in churn.tier_probs.items()
                                               if t in present})
        out = replace(sc, portfolio=portfolio, churn=churn)
        try:
            out.check_plans()  # the retention menu may name accounts of the sample
        except KamsimError:
            out = replace(out, plans=None, budget=None)
        return out

    def check(self) -> Scenario | None:
        """Validate the file with the mapping and churn choice; on success use it."""
        if self._file is None:
            self.result.value = self._bad_text("Upload a file or type its path first (or "
                                               "keep the sample data).")
            return None
        mapping = self.columns()
        missing = [FIELDS[f][0] for f, (_, req) in FIELDS.items()
                   if req and f not in mapping.values()]
        if missing:
            self.result.value = self._bad_text(
                f"Choose the column that holds: {', '.join(missing)}.")
            return None
        try:
            pf = read_accounts(self._file, columns={k: v for k, v in mapping.items()
                                                    if k != v})
            sc = self._churn(self.base, pf)
            note = self._scale_money(pf)
            sc = self._with_assumptions(sc)
        except KamsimError as err:
            self.result.value = self._bad_text(plain(err))
            return None
        self._use(sc, html.escape(self._file.name), note=note)
        return sc

    def _scale_money(self, pf: Portfolio) -> str:
        """Scale fixed costs and opening cash with revenue (the sample's would not fit)."""
        before = float(self.scenario.portfolio.total_revenue)
        after = float(pf.total_revenue)
        if before <= 0 or after <= 0 or abs(after / before - 1.0) < 1e-9:
            return ""
        ratio = after / before
        fc, cash = self.assumptions["fixed_costs"], self.assumptions["opening_cash"]
        fc.value = round(float(fc.value) * ratio, -2)
        cash.value = round(float(cash.value) * ratio, -2)
        return (f" Fixed costs ({money(fc.value, self.currency)} a year) and opening cash "
                f"({money(cash.value, self.currency)}) were scaled with revenue from the "
                "previous data: set your own under 4.")

    # -- step 4: assumptions ---------------------------------------------------------------
    def _fill_assumptions(self, sc: Scenario) -> None:
        repl = sc.replacement or ReplacementAssumptions()
        values = {"horizon_months": sc.horizon_months, "fixed_costs": sc.fixed_costs,
                  "opening_cash": sc.opening_cash or 0.0, "churn.level": sc.churn.level,
                  "churn.correlation": sc.churn.correlation,
                  "replacement.opportunities_per_month": repl.opportunities_per_month,
                  "replacement.win_rate": repl.win_rate}
        for k, v in values.items():
            self.assumptions[k].value = v

    def _with_assumptions(self, sc: Scenario) -> Scenario:
        a = {k: w.value for k, w in self.assumptions.items()}
        repl = replace(sc.replacement or ReplacementAssumptions(),
                       opportunities_per_month=float(a["replacement.opportunities_per_month"]),
                       win_rate=float(a["replacement.win_rate"]))
        return replace(sc, horizon_months=int(a["horizon_months"]),
                       fixed_costs=float(a["fixed_costs"]),
                       opening_cash=float(a["opening_cash"]),
                       churn=replace(sc.churn, level=float(a["churn.level"]),
                                     correlation=float(a["churn.correlation"])),
                       replacement=repl)

    def apply_assumptions(self) -> Scenario | None:
        """Use the edited assumptions with the current data."""
        try:
            sc = self._with_assumptions(self.scenario)
        except KamsimError as err:
            self.result.value = self._bad_text(plain(err))
            return None
        self._use(sc, "your assumptions")
        return sc

    def write(self, sc: Scenario, path: str | os.PathLike[str]) -> Path:
        """Write ``sc`` as a scenario YAML (see :func:`write_scenario`)."""
        return write_scenario(sc, path)

    def save(self) -> Path | None:
        """Save the scenario (and its accounts) to :attr:`save_path`."""
        try:
            p = self.write(self.scenario, self.save_path.value)
        except (OSError, KamsimError) as err:
            self.saved.value = self._bad_text(f"Could not save: {err}")
            return None
        self.saved.value = (f"Saved <code>{html.escape(str(p))}</code> (accounts beside it). "
                            f"Board report: <code>kamsim report --scenario "
                            f"{html.escape(str(p))}</code>")
        return p

    # -- results ---------------------------------------------------------------------------
    def _use(self, sc: Scenario, what: str, *, note: str = "") -> None:
        self.scenario = sc
        self._fill_assumptions(sc)
        with contextlib.suppress(OSError):
            self._share(sc)
        self.result.value = self._ok_text(sc, what) + html.escape(note)
        for f in list(self._listeners):
            f(sc)

    def _ok_text(self, sc: Scenario, what: str) -> str:
        c = sc.churn
        if c.tier_probs is not None:
            churn = "per tier: " + ", ".join(f"{t} {percent(v)}" for t, v in
                                             c.tier_probs.items())
        elif sc.portfolio.has("churn_prob"):
            churn = "from the file's churn column"
        elif c.annual_prob is not None:
            churn = f"{percent(c.annual_prob)} a year for every account"
        else:
            churn = "not given"
        return (f"<span style='color:#1a9850'>&#10003;</span> Using {what}: "
                f"{html.escape(describe_portfolio(sc.portfolio, self.currency))}. Churn "
                f"{html.escape(churn)}. Every panel below uses these data.")

    @staticmethod
    def _bad_text(sentence: str) -> str:
        return (f"<span style='color:#b2182b'>&#10007; {html.escape(sentence)}</span>")

    def link(self, *panels: Any) -> None:
        """Make ``panels`` follow the checked data (``set_scenario`` or ``set_portfolio``)."""
        for p in panels:
            if hasattr(p, "set_scenario"):
                self._listeners.append(p.set_scenario)
            elif hasattr(p, "set_portfolio"):
                self._listeners.append(_portfolio_setter(p))
            else:
                msg = f"{type(p).__name__} cannot take new data"
                raise KamsimError(msg)

    def on_change(self, callback: Callable[[Scenario], Any]) -> None:
        """Call ``callback(scenario)`` whenever new data or assumptions are used."""
        self._listeners.append(callback)


def write_scenario(sc: Scenario, path: str | os.PathLike[str]) -> Path:
    """Write ``sc`` as a scenario YAML with its accounts as a canonical CSV beside it.

    The accounts file (``<name>_accounts.csv``, kamsim's column names) is what the YAML's
    ``accounts:`` names, so ``Scenario.from_yaml`` and ``kamsim report --scenario`` read
    the pair back as they are. With a ledger's portfolio, its exclusions table is written
    beside them too (``<name>_ledger_exclusions.csv``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> p = write_scenario(sc, pathlib.Path(tempfile.mkdtemp()) / "s.yaml")
    >>> Scenario.from_yaml(p).portfolio.n_accounts == sc.portfolio.n_accounts
    True
    """
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    accounts = p.with_name(p.stem + "_accounts.csv")
    atomic_write_text(accounts, sc.portfolio.to_frame().to_csv(index=False))
    ex = sc.portfolio.exclusions
    if ex is not None:
        atomic_write_text(p.with_name(p.stem + "_ledger_exclusions.csv"),
                          ex.reset_index(names="reason").to_csv(index=False))
    data = sc.to_dict()
    data["accounts"] = accounts.name
    atomic_write_text(p, yaml.safe_dump(data, sort_keys=False))
    return p


def _portfolio_setter(panel: Any) -> Callable[[Scenario], Any]:
    def follow(sc: Scenario) -> Any:
        return panel.set_portfolio(sc.portfolio)

    return follow


def data_step(scenario: Scenario | None = None, *, currency: str = "€",
              folder: str | os.PathLike[str] | None = None) -> DataStep:
    """Build the data step (see :class:`DataStep`).

    Parameters
    ----------
    scenario : Scenario, optional
        The starting scenario (default: the bundled sample scenario); its assumptions are
        kept when you bring your own accounts.
    currency : str
    folder : path, optional
        Folder shared with the app's other pages (default: ``$KAMSIM_APP_DATA``, if set).

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
    >>> pd.DataFrame({"Customer": ["a", "b", "c"], "Sales 2025": [100.0, 50.0, 25.0]}
    ...              ).to_csv(p, index=False)
    >>> step = data_step(folder=p.parent / "shared")
    >>> step.load_file(p)
    >>> step.columns()
    {'Customer': 'account_id', 'Sales 2025': 'revenue'}
    >>> step.check().portfolio.n_accounts
    3
    >>> "3 accounts" in step.result.value
    True
    """
    return DataStep(scenario, currency=currency, folder=folder)
