"""The one-page executive summary: conclusions with their numbers, then actions.

Each :class:`Conclusion` states a finding with its figure and what the figure assumes
(horizon, with or without replacement, correlation, paths). Each :class:`Action` comes
from one documented rule in :data:`RULES` and cites the figure that triggered it; a rule
whose figure is missing does not fire, so there is never an action without its number.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kamsim._util.format import money, months, percent
from kamsim.views.report.setup import ReportFigures
from kamsim.views.report.tables import format_value

__all__ = ["RULES", "Action", "Conclusion", "conclusions", "executive_summary_html",
           "recommended_actions", "rules_table", "summary_tables", "title_block"]

#: Share of revenue from which an account is a major customer (disclosure threshold).
_MAJOR = 0.10

#: The rules behind the recommended actions, in priority order (at most five fire).
RULES: dict[str, str] = {
    "retention-plan": (
        "An account at 10 % of revenue or more whose median replacement time is longer "
        "than the cash runway if it leaves, or longer than 12 months (or not within the "
        "horizon): build a retention plan for it before its next renegotiation."),
    "diversify": (
        "The largest account is 25 % of revenue or more: set a diversification target that "
        "brings it below 25 % by growing other accounts."),
    "credit-line": (
        "P(cash runs out) if the largest account leaves now is 5 % or more: arrange a "
        "committed credit line covering the 1-in-10 lowest cash balance."),
    "fixed-costs": (
        "P(monthly gross profit below fixed costs within the horizon) is 10 % or more: "
        "prepare a fixed-cost contingency plan, sized by the deterministic worst case."),
    "negotiation": (
        "For the largest account, the walk-away concession (largest price cut at which "
        "conceding still beats refusing) is the negotiating limit: concede up to it, "
        "refuse beyond it."),
    "retention-budget": (
        "The scenario names retention plans and a budget: fund the optimised allocation "
        "when its expected NPV gain is positive."),
    "stress-budget": (
        "The 1-in-20 loss of annual revenue is 15 % of revenue or more: stress-test the "
        "next budget against that loss."),
    "sensitivity": (
        "The assumption with the largest tornado swing is the one to check first."),
}


@dataclass(frozen=True, slots=True)
class Conclusion:
    """One finding of the executive summary (text is HTML-escaped)."""

    topic: str
    text: str
    assumes: str


@dataclass(frozen=True, slots=True)
class Action:
    """One recommended action, the rule that produced it and the figure it cites."""

    rule: str
    text: str
    figure: str


def _largest(f: ReportFigures) -> tuple[int, str, float]:
    pf = f.scenario.portfolio
    top = int(np.argmax(pf.revenue))
    return top, str(pf.names[top]), float(pf.revenue[top])


def _first_below(f: ReportFigures) -> tuple[int, float] | None:
    """(k, profit after fixed costs) of the first top-k loss below fixed costs."""
    wc = f.worst_cases
    if "profit_after_fixed_costs" not in wc or f.scenario.fixed_costs <= 0:
        return None
    for k, after in enumerate(wc["profit_after_fixed_costs"].astype(float).tolist()):
        if k > 0 and after < 0:
            return k, after
    return None


def _top_k_words(k: int) -> str:
    return "our largest account" if k == 1 else f"the top {k} accounts"


def _runway_text(f: ReportFigures) -> str:
    r = f.cash_runway_months
    if math.isnan(r):
        return "cash not modelled"
    if math.isinf(r):
        return f"median cash stays above zero for {f.scenario.horizon_months} months"
    return f"median cash runs out in month {r:.0f}"


def conclusions(f: ReportFigures) -> list[Conclusion]:
    """The executive summary's findings, each with its number and what it assumes."""
    sc, h, cur = f.scenario, f.headline, f.currency
    pf = sc.portfolio
    _, name, rev = _largest(f)
    hz = sc.horizon_months
    rho = f"correlation {sc.churn.correlation:g}"
    paths = f"{h.n_paths:,} simulated futures"
    src = Path(str(pf.source)).name if pf.source else "the accounts file"
    out: list[Conclusion] = []

    shares = np.sort(pf.revenue / pf.total_revenue)[::-1]
    if h.largest_share >= _MAJOR:
        major = (f"above the 10 % disclosure threshold ({h.n_major_customers} "
                 f"{'account' if h.n_major_customers == 1 else 'accounts'} at 10 % or more)")
    else:
        major = "below the 10 % disclosure threshold"
    out.append(Conclusion(
        "Concentration",
        f"{name} is {percent(h.largest_share)} of revenue, {major}; the top 5 are "
        f"{percent(shares[:5].sum())} of {money(h.total_revenue, cur)}.",
        f"Revenue a year as given in {src}; today's {pf.n_accounts:,} accounts."))

    fb = _first_below(f)
    if fb is not None:
        k, after = fb
        out.append(Conclusion(
            "Worst case",
            f"Losing {_top_k_words(k)} pushes profit below fixed costs "
            f"({money(after, cur)} a year after fixed costs of {money(sc.fixed_costs, cur)}).",
            "No randomness: the accounts leave for a full year; no replacement."))
    elif sc.fixed_costs > 0 and pf.has_gross_profit:
        k = len(f.worst_cases) - 1
        out.append(Conclusion(
            "Worst case",
            f"Even losing the top {k} accounts keeps profit above fixed costs of "
            f"{money(sc.fixed_costs, cur)} a year.",
            "No randomness: the accounts leave for a full year; no replacement."))

    out.append(Conclusion(
        "Bad years",
        f"In one future in 20 we lose at least {money(h.var_95, cur)} of annual revenue "
        f"({percent(h.var_95 / h.total_revenue)}); in one in 200 at least "
        f"{money(h.var_995, cur)} ({percent(h.var_995 / h.total_revenue)}).",
        f"Revenue lost to churn by month {hz} (run rate), before replacement; {rho}; "
        f"{paths}."))

    if not math.isnan(h.prob_below_break_even):
        text = (f"The probability that monthly gross profit falls below fixed costs within "
                f"{hz} months is {percent(h.prob_below_break_even)}")
        if f.churn_only is not None and not math.isnan(f.churn_only.prob_below_break_even):
            text += (f" ({percent(f.churn_only.prob_below_break_even)} if lost revenue were "
                     "never replaced)")
        repl = "with replacement as in the scenario" if h.with_replacement else \
            "churn only (no replacement)"
        out.append(Conclusion(
            "Break-even", text + ".",
            f"{repl.capitalize()}; fixed costs {money(sc.fixed_costs, cur)} a year; {rho}; "
            f"{paths}."))

    if not math.isnan(h.prob_out_of_cash):
        text = (f"Starting with {money(sc.opening_cash, cur)}, cash runs out within {hz} "
                f"months in {percent(h.prob_out_of_cash)} of futures")
        if f.lose_top is not None:
            text += (f", and in {percent(f.lose_top.prob_out_of_cash())} if {name} leaves "
                     "now")
        out.append(Conclusion(
            "Cash", text + ".",
            f"With replacement (acquisition costs included); opening cash from the "
            f"scenario; {rho}."))

    med = f.replacement_median_months
    if f.timeline is not None and sc.replacement is not None:
        s = f.timeline.summary().set_index("statistic")
        p90 = dict(zip(s.index, s["value"].astype(float).tolist(), strict=True))["p90"]
        p90_in = dict(zip(s.index, s["within_horizon"].astype(bool).tolist(),
                          strict=True))["p90"]
        p90_text = (f"in 9 futures out of 10 it is replaced within {months(p90)}" if p90_in
                    else "in more than 1 future in 10 it is not replaced within "
                         f"{f.timeline.horizon_months} months")
        med_text = months(med, horizon=f.timeline.horizon_months)
        ra = sc.replacement
        out.append(Conclusion(
            "Replacement",
            f"Replacing {name} ({money(rev, cur)} a year) takes a median of {med_text}; "
            f"{p90_text}.",
            f"{ra.opportunities_per_month:g} new opportunities a month, "
            f"{percent(ra.win_rate, 0)} won, {ra.cycle_mean_months:g}-month sales cycle, "
            f"{ra.ramp_months}-month ramp-up: illustrative assumptions."))

    neg = f.negotiation
    if neg is not None and len(neg):
        first = neg.iloc[0]
        wa = float(first["walk_away"])
        wa_text = percent(wa) if math.isfinite(wa) else "none"
        concede = int((neg["decision"] == "concede").sum())
        out.append(Conclusion(
            "Negotiation",
            f"If {first['name']} demands a {percent(float(first['demand']))} price cut, the "
            f"most we should concede is {wa_text}; conceding beats refusing for "
            + (f"all {len(neg)} largest accounts." if concede == len(neg) else
               f"{concede} of the {len(neg)} largest accounts."),
            f"Chance an account really leaves if refused "
            f"{percent(float(first['credibility']), 0)}; "
            f"discounted NPV over {hz} months "
            f"{'with' if sc.replacement is not None else 'without'} replacement; 2,000 "
            "futures or fewer."))

    t = f.tornado
    if t is not None and len(t.table):
        row = t.table.iloc[0]
        text = (f"{str(row['label']).capitalize()} moves the {t.metric_label} most: from "
                f"{_metric_text(float(row['output_low']), t.metric_unit, cur)} to "
                f"{_metric_text(float(row['output_high']), t.metric_unit, cur)}")
        tb = f.tornado_break_even
        if tb is not None and len(tb.table) and float(tb.table.iloc[0]["swing"]) > 0:
            rb = tb.table.iloc[0]
            unit = str(rb["unit"])
            lo, hi = (format_value(rb[c], "money" if unit.startswith("currency") else "number",
                                   currency=cur) for c in ("low_value", "high_value"))
            text += (f"; the break-even probability is most sensitive to {rb['label']} "
                     f"({percent(float(rb['output_low']))} at {lo}, "
                     f"{percent(float(rb['output_high']))} at {hi})")
        out.append(Conclusion(
            "Key assumption", text + ".",
            f"One assumption at a time from low to high, the others unchanged; "
            f"{t.n_paths:,} futures on one seed."))
    return out


def _metric_text(v: float, unit: str, currency: str) -> str:
    if unit == "probability":
        return percent(v)
    if unit == "count":
        return f"{v:,.1f}"
    return money(v, currency)


def recommended_actions(f: ReportFigures, *, limit: int = 5) -> list[Action]:
    """Actions from the rules in :data:`RULES` that fire on these figures (at most five).

    Examples
    --------
    >>> from kamsim.views.report.setup import compute_report, report_scenario
    >>> f = compute_report(report_scenario(), n_paths=2000, seed=1)
    >>> [a.rule for a in recommended_actions(f)][:2]
    ['retention-plan', 'credit-line']
    """
    sc, h, cur = f.scenario, f.headline, f.currency
    _, name, _ = _largest(f)
    hz = sc.horizon_months
    acts: list[Action] = []

    med = f.replacement_median_months
    runway = f.cash_runway_months
    not_within = f.timeline is not None and math.isnan(med)
    if h.largest_share >= _MAJOR and f.timeline is not None and (
            not_within or med > 12 or (math.isfinite(runway) and med > runway)):
        med_text = (f"not replaced within {f.timeline.horizon_months} months" if not_within
                    else f"replacing it takes a median of {months(med)}")
        acts.append(Action(
            "retention-plan",
            f"Build a retention plan for {name} before its next renegotiation.",
            f"{percent(h.largest_share)} of revenue; {med_text}; {_runway_text(f)}."))

    if h.largest_share >= 0.25:
        acts.append(Action(
            "diversify",
            f"Set a diversification target: bring {name} below 25 % of revenue.",
            f"{name} is {percent(h.largest_share)} of {money(h.total_revenue, cur)} revenue a "
            "year."))

    if f.lose_top is not None and not math.isnan(h.prob_out_of_cash):
        p = f.lose_top.prob_out_of_cash()
        if p >= 0.05:
            low = float(np.quantile(f.lose_top.per_path["min_cash"], 0.10))
            need = max(-low, 0.0)
            acts.append(Action(
                "credit-line",
                f"Arrange a committed credit line of at least {money(need, cur)}.",
                f"P(cash runs out within {hz} months if {name} leaves now) = {percent(p)}; "
                f"in 1 future in 10 the lowest cash balance is {money(low, cur)}."))

    pbe = h.prob_below_break_even
    if not math.isnan(pbe) and pbe >= 0.10:
        fb = _first_below(f)
        extra = (f"; losing {_top_k_words(fb[0])} leaves {money(fb[1], cur)} a year after "
                 "fixed costs" if fb is not None else "")
        acts.append(Action(
            "fixed-costs",
            "Prepare a fixed-cost contingency plan to trigger if a top account leaves.",
            f"P(gross profit below fixed costs within {hz} months) = {percent(pbe)}{extra}."))

    neg = f.negotiation
    if neg is not None and len(neg) and math.isfinite(float(neg.iloc[0]["walk_away"])):
        first = neg.iloc[0]
        wa = float(first["walk_away"])
        adv = float(first["ev_concede"]) - float(first["ev_refuse"])
        acts.append(Action(
            "negotiation",
            f"Set {percent(wa)} as the limit for price concessions to {first['name']}.",
            f"Conceding up to {percent(wa)} still beats refusing; at a "
            f"{percent(float(first['demand']))} demand conceding is worth "
            f"{money(adv, cur)} more (NPV)."))

    rt = f.retention
    if rt is not None and len(rt) and float(rt["expected_npv_change"].sum()) > 0:
        acts.append(Action(
            "retention-budget",
            f"Fund the retention plans for {len(rt)} accounts shown in 'Where the retention "
            "budget goes'.",
            f"Planned spend {money(float(rt.attrs.get('spend', rt['planned_spend'].sum())), cur)}"
            f" of {money(float(rt.attrs.get('budget', math.nan)), cur)}; expected NPV gain "
            f"{money(float(rt['expected_npv_change'].sum()), cur)}."))

    if h.var_95 >= 0.15 * h.total_revenue:
        acts.append(Action(
            "stress-budget",
            f"Stress-test next year's budget against losing {money(h.var_95, cur)} of revenue.",
            f"In 1 future in 20 we lose at least {money(h.var_95, cur)} of annual revenue "
            f"({percent(h.var_95 / h.total_revenue)}) within {hz} months."))

    t = f.tornado
    if t is not None and len(t.table) and float(t.table.iloc[0]["swing"]) > 0:
        row = t.table.iloc[0]
        acts.append(Action(
            "sensitivity",
            f"Check the {row['label']} assumption first.",
            f"It moves the {t.metric_label} by "
            f"{_metric_text(float(row['swing']), t.metric_unit, cur)} across its range."))
    return acts[:limit]


def executive_summary_html(f: ReportFigures, *, company_name: str = "") -> str:
    """The executive summary as HTML: scenario line, conclusions table, actions list.

    All text, including account and company names, is HTML-escaped.
    """
    e = html.escape
    h = f.headline
    who = e(company_name) if company_name else "The business"
    rows = "".join(
        f"<tr><th scope=\"row\">{e(c.topic)}</th><td>{e(c.text)}"
        f"<div class=\"assumes\">Assumes: {e(c.assumes)}</div></td></tr>"
        for c in conclusions(f))
    acts = recommended_actions(f)
    items = "".join(
        f"<li><strong>{e(a.text)}</strong> <span class=\"cite\">Because: {e(a.figure)}"
        f"</span></li>" for a in acts)
    return (
        f"<div class=\"exec-summary\">"
        f"<p class=\"scenario-line\">{who}: {e(money(h.total_revenue, f.currency))} revenue "
        f"a year from {h.n_accounts:,} accounts. Every figure below is for the scenario "
        "named in the title, on the same simulated futures.</p>"
        f"<table class=\"conclusions\"><tbody>{rows}</tbody></table>"
        f"<h3>Recommended actions</h3><ol class=\"actions\">{items}</ol>"
        f"<p class=\"rules-note\">Each action comes from a documented rule (see the "
        f"appendix) and cites the figure that triggered it.</p></div>")


def rules_table() -> pd.DataFrame:
    """The documented rules of the recommended actions (for the appendix)."""
    return pd.DataFrame({"rule": list(RULES), "value": list(RULES.values())})


def summary_tables(f: ReportFigures) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Conclusions and actions as tables, for the CSV and Excel exports.

    Columns ``topic, conclusion, assumes`` and ``rule, action, because``.
    """
    c = pd.DataFrame([(x.topic, x.text, x.assumes) for x in conclusions(f)],
                     columns=["topic", "conclusion", "assumes"])
    a = pd.DataFrame([(x.rule, x.text, x.figure) for x in recommended_actions(f)],
                     columns=["rule", "action", "because"])
    return c, a


def title_block(f: ReportFigures, *, company_name: str = "", run_date: str = "") -> str:
    """The report's title, the scenario it shows and the run date, as escaped HTML."""
    e = html.escape
    who = e(company_name or "Key-account risk")
    date = f" · {e(run_date)}" if run_date else ""
    return (f'<header class="report-title"><h1>{who}: key-account risk report</h1>'
            f'<p class="meta">{e(f.headline.label.capitalize())}; seed {f.seed}{date}</p>'
            "</header>")
