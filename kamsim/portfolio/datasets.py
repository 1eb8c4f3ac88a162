"""Bundled and synthetic data sets.

* :func:`load_sample`: the bundled sample portfolio ``data/sample_accounts.csv`` (made by
  :func:`synthetic_portfolio` with :data:`SAMPLE_SEED`; a test proves the file matches).
* :func:`synthetic_portfolio`: realistic B2B portfolios of any size.
* :func:`load_wholesale`: the UCI *Wholesale customers* table (440 clients, CC BY 4.0).
* :func:`load_online_retail`: the UCI *Online Retail* transaction ledger (541,909 invoice
  lines, CC BY 4.0) aggregated with :func:`kamsim.portfolio.from_ledger`.

The data folder is the project's top-level ``data/``; set the ``KAMSIM_DATA`` environment
variable to use another folder.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kamsim._util.io import atomic_write_text
from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.portfolio.accounts import Portfolio, read_accounts
from kamsim.portfolio.ledger import from_ledger

__all__ = [
    "SAMPLE_N_ACCOUNTS",
    "SAMPLE_SEED",
    "SAMPLE_TOP_SHARE",
    "data_dir",
    "load_online_retail",
    "load_sample",
    "load_wholesale",
    "synthetic_portfolio",
    "write_sample",
]

#: Seed, size and largest-account share of the bundled sample portfolio.
SAMPLE_SEED = 20_261_127
SAMPLE_N_ACCOUNTS = 300
SAMPLE_TOP_SHARE = 0.18

SEGMENTS = ("Retail", "Foodservice", "Industrial", "Healthcare", "Public sector")
REGIONS = ("North", "South", "East", "West", "Export")
SALES_UNITS = ("piece", "carton", "pallet")
PRODUCT_LINES = ("line_core", "line_premium", "line_services")
_NAME_A = ("North", "Blue", "Oak", "River", "Summit", "Iron", "Silver", "Green", "Harbor",
           "Pine", "Stone", "Bright", "Eagle", "Maple", "Crown", "Delta", "Prime", "Union")
_NAME_B = ("field", "wood", "gate", "bridge", "point", "view", "stone", "land", "ridge",
           "brook", "way", "mark", "side", "haven")
_NAME_C = ("Foods", "Supply", "Trading", "Group", "Stores", "Health", "Logistics",
           "Industries", "Partners", "Markets", "Hospitality", "Works")


def data_dir() -> Path:
    """Folder of the bundled data: ``$KAMSIM_DATA`` if set, else the package's own copy.

    The sample accounts, the sample scenario and the public datasets ship inside the
    package (``kamsim/portfolio/data``), so a plain ``pip install kamsim`` finds them; the
    project's top-level ``data/`` holds the same files for people browsing the source.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InputDataError
        If ``$KAMSIM_DATA`` names a folder that does not exist.

    Examples
    --------
    >>> (data_dir() / "sample_accounts.csv").is_file()
    True
    """
    env = os.environ.get("KAMSIM_DATA")
    d = Path(env) if env else Path(str(resources.files("kamsim.portfolio") / "data"))
    if not d.is_dir():
        raise InputDataError(
            "kamsim's data folder was not found; unset KAMSIM_DATA to use the bundled data, "
            "or point it at the folder holding sample_accounts.csv",
            path=d,
        )
    return d


def synthetic_portfolio(
    n_accounts: int = SAMPLE_N_ACCOUNTS,
    *,
    top_share: float = SAMPLE_TOP_SHARE,
    sigma: float = 1.3,
    rng: np.random.Generator | int | None = None,
) -> Portfolio:
    """Generate a realistic B2B portfolio with a few dominant accounts.

    Revenue is lognormal (``sigma`` sets the spread) and the largest account is then set to
    exactly ``top_share`` of total revenue. The other columns follow the tier of the
    account by revenue rank (key = top 2 %, at least 3 accounts; strategic = next 8 %;
    standard = the rest), mimicking what suppliers see: key accounts negotiate thinner
    margins, churn less often per year but are more often national accounts; small accounts
    churn more. All values are illustrative, not calibrated to any real business.

    Parameters
    ----------
    n_accounts : int
        Number of accounts (>= 2).
    top_share : float
        Share of total revenue of the largest account, in (0, 1).
    sigma : float
        Lognormal spread of the other accounts' revenue (> 0).
    rng : numpy.random.Generator, int or None
        Source of randomness (SPEC 7).

    Returns
    -------
    Portfolio
        Columns ``account_id, name, revenue, gross_margin, segment, region, churn_prob,
        growth, distance_km, cost_to_serve, national, sales_unit, line_core,
        line_premium, line_services``.

    Examples
    --------
    >>> pf = synthetic_portfolio(50, top_share=0.25, rng=1)
    >>> round(float(pf.revenue.max() / pf.total_revenue), 6)
    0.25
    """
    if n_accounts < 2:
        msg = f"n_accounts must be >= 2, got {n_accounts}"
        raise AssumptionError(msg)
    if not 0 < top_share < 1:
        msg = f"top_share must be in (0, 1), got {top_share}"
        raise AssumptionError(msg)
    if not sigma > 0:
        msg = f"sigma must be > 0, got {sigma}"
        raise AssumptionError(msg)
    rng = np.random.default_rng(rng)
    n = n_accounts
    rest = np.sort(rng.lognormal(mean=np.log(40_000.0), sigma=sigma, size=n - 1))[::-1]
    if top_share * n <= 1.0 + 1e-9:
        msg = (f"top_share={top_share} is too small for the largest account to stay the "
               f"largest with n_accounts={n}; it must exceed 1/n_accounts")
        raise AssumptionError(msg)
    # the largest must stay the largest: cap the others at 90 % of it (few iterations)
    for _ in range(100):
        top = top_share / (1.0 - top_share) * rest.sum()
        if rest[0] < top:
            break
        rest = np.minimum(rest, 0.9 * top)
    else:  # pragma: no cover - the cap converges geometrically
        msg = f"could not make a portfolio with top_share={top_share} and n_accounts={n}"
        raise AssumptionError(msg)
    revenue = np.concatenate([[top], rest])
    # round to whole currency units but keep the top share exact to 1e-6
    revenue = np.round(revenue)
    revenue[0] = np.round(top_share / (1.0 - top_share) * revenue[1:].sum())
    n_key = max(3, round(0.02 * n))
    n_strat = max(1, round(0.08 * n))
    tier = np.full(n, 2)
    tier[:n_key] = 0
    tier[n_key:n_key + n_strat] = 1
    margin = np.clip(
        np.select([tier == 0, tier == 1], [rng.normal(0.22, 0.04, n), rng.normal(0.28, 0.05, n)],
                  rng.normal(0.34, 0.07, n)), 0.05, 0.7)
    churn = np.select(
        [tier == 0, tier == 1],
        [rng.uniform(0.04, 0.10, n), rng.uniform(0.06, 0.14, n)],
        rng.uniform(0.10, 0.25, n),
    )
    growth = np.round(rng.normal(0.03, 0.06, n), 4)
    distance = np.round(rng.lognormal(np.log(120.0), 0.9, n), 1)
    cts_frac = np.where(tier == 0, rng.uniform(0.03, 0.07, n), rng.uniform(0.05, 0.14, n))
    national = np.where(tier == 0, rng.random(n) < 0.8,
                        np.where(tier == 1, rng.random(n) < 0.4, rng.random(n) < 0.05))
    segment = rng.choice(np.array(SEGMENTS), size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1])
    region = rng.choice(np.array(REGIONS), size=n, p=[0.25, 0.25, 0.2, 0.2, 0.1])
    unit = rng.choice(np.array(SALES_UNITS), size=n, p=[0.5, 0.35, 0.15])
    names = [
        f"{rng.choice(np.array(_NAME_A))}{rng.choice(np.array(_NAME_B))} "
        f"{rng.choice(np.array(_NAME_C))}"
        for _ in range(n)
    ]
    seen: dict[str, int] = {}
    for i, nm in enumerate(names):  # names are display labels: keep them unique
        if nm in seen:
            seen[nm] += 1
            names[i] = f"{nm} {seen[nm]}"
        else:
            seen[nm] = 1
    lines = rng.dirichlet([6.0, 2.0, 1.0], size=n) * revenue[:, None]
    lines = np.round(lines, 2)
    lines[:, 0] = np.round(revenue - lines[:, 1] - lines[:, 2], 2)
    order = rng.permutation(n)  # shuffle so the table is not sorted by size
    df = pd.DataFrame({
        "account_id": [f"A{i + 1:04d}" for i in range(n)],
        "name": np.array(names, dtype=object)[order],
        "revenue": revenue[order],
        "gross_margin": np.round(margin[order], 4),
        "segment": segment[order],
        "region": region[order],
        "churn_prob": np.round(churn[order], 4),
        "growth": growth[order],
        "distance_km": distance[order],
        "cost_to_serve": np.round(cts_frac[order] * revenue[order], 2),
        "national": national[order],
        "sales_unit": unit[order],
    })
    for j, line in enumerate(PRODUCT_LINES):
        df[line] = np.maximum(lines[order, j], 0.0)
    return Portfolio(df, source="kamsim.portfolio.datasets.synthetic_portfolio")


def write_sample(path: str | os.PathLike[str] | None = None) -> Path:
    """(Re)write the bundled sample file from the generator (used when it is first made).

    Writes atomically: to a temporary file beside the target, then renamed over it.
    """
    target = Path(path) if path is not None else data_dir() / "sample_accounts.csv"
    pf = synthetic_portfolio(SAMPLE_N_ACCOUNTS, top_share=SAMPLE_TOP_SHARE, rng=SAMPLE_SEED)
    atomic_write_text(target, pf.to_frame().drop(columns="gross_profit").to_csv(index=False))
    return target


def load_sample() -> Portfolio:
    """The bundled sample portfolio: 300 synthetic accounts, the largest about 18 %.

    Examples
    --------
    >>> pf = load_sample()
    >>> pf.n_accounts
    300
    >>> round(float(pf.revenue.max() / pf.total_revenue), 3)
    0.18
    """
    return read_accounts(data_dir() / "sample_accounts.csv")


def load_wholesale() -> Portfolio:
    """The UCI Wholesale customers table as a Portfolio (440 clients, annual spend).

    Six spending categories become product lines ``line_fresh, line_milk, line_grocery,
    line_frozen, line_detergents_paper, line_delicassen``; ``revenue`` is their sum;
    ``segment`` is the channel (Horeca / Retail) and ``region`` Lisbon / Oporto / Other.
    ``account_id`` is the 1-based row number in the original file. No margins are known.

    Source: Cardoso, M. (2013). Wholesale customers [Dataset]. UCI Machine Learning
    Repository. https://doi.org/10.24432/C5030X (CC BY 4.0).

    Examples
    --------
    >>> pf = load_wholesale()
    >>> pf.n_accounts, pf.total_revenue
    (440, 14619500.0)
    """
    path = data_dir() / "wholesale_customers.csv"
    raw = pd.read_csv(path)
    cats = ["Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]
    df = pd.DataFrame({"account_id": [str(i + 1) for i in range(len(raw))]})
    df["revenue"] = raw[cats].sum(axis=1).astype(float)
    df["segment"] = raw["Channel"].map({1: "Horeca", 2: "Retail"})
    df["region"] = raw["Region"].map({1: "Lisbon", 2: "Oporto", 3: "Other"})
    for c in cats:
        df["line_" + c.lower()] = raw[c].astype(float)
    return read_accounts(df)


def load_online_retail(**kwargs: Any) -> Portfolio:
    """The UCI Online Retail ledger aggregated into a Portfolio with :func:`from_ledger`.

    By default the whole ledger period (2010-12-01 to 2011-12-09, a year and 9 days) is
    used with returns netted, matching the cross-check figures in the data README
    (4,322 accounts, total 8,313,294.95). Keyword arguments override those of
    :func:`~kamsim.portfolio.from_ledger` (e.g. ``returns="exclude"``, ``start``, ``end``).

    Source: Chen, D. (2015). Online Retail [Dataset]. UCI Machine Learning Repository.
    https://doi.org/10.24432/C5BW33 (CC BY 4.0).
    """
    import warnings

    ledger = pd.read_parquet(data_dir() / "online_retail.parquet")
    opts: dict[str, Any] = {
        "customer": "CustomerID", "date": "InvoiceDate", "amount": None,
        "quantity": "Quantity", "unit_price": "UnitPrice", "invoice": "InvoiceNo",
        "region": "Country", "start": "2010-12-01", "end": "2011-12-10",
    }
    opts.update(kwargs)
    with warnings.catch_warnings():
        if "start" not in kwargs and "end" not in kwargs:
            warnings.filterwarnings("ignore", message="ledger period", category=UserWarning)
        return from_ledger(ledger, **opts)
