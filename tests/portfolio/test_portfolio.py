"""Portfolio data layer: loaders, validation messages, ledgers, properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kamsim import InputDataError, Portfolio, from_ledger, read_accounts
from kamsim.portfolio.datasets import load_online_retail, load_wholesale
from tests.conftest import DATA, sha256


def write(tmp_path, text, name="accounts.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


# -- reading -------------------------------------------------------------------------------

def test_csv_keeps_ids_as_text_and_never_modifies_the_file(tmp_path):
    p = write(tmp_path, "account_id,revenue,gross_margin\n007,100,0.25\n8,300.5,0.5\n")
    before = sha256(p)
    pf = read_accounts(p)
    assert pf.account_ids.tolist() == ["007", "8"]
    assert pf.revenue.tolist() == [100.0, 300.5]
    assert pf.gross_profit.tolist() == [25.0, 150.25]
    assert sha256(p) == before
    assert pf.source == str(p)


def test_column_mapping_and_header_normalisation(tmp_path):
    p = write(tmp_path, "Customer;Sales;Gross Margin\nA;1.234,50;0,2\nB;765,50;0,3\n")
    pf = read_accounts(p, columns={"Customer": "account_id", "Sales": "revenue"},
                       decimal=",", thousands=".", sep=";")
    assert pf.revenue.tolist() == [1234.5, 765.5]
    assert pf.column("gross_margin").tolist() == [0.2, 0.3]


def test_excel_sheet_selection(tmp_path):
    p = tmp_path / "book.xlsx"
    with pd.ExcelWriter(p) as xw:
        pd.DataFrame({"x": [1]}).to_excel(xw, sheet_name="notes", index=False)
        pd.DataFrame({"account_id": ["007", "B"], "revenue": [10.0, 20.0]}).to_excel(
            xw, sheet_name="accounts", index=False)
    before = sha256(p)
    pf = read_accounts(p, sheet="accounts")
    assert pf.account_ids.tolist() == ["007", "B"]
    assert sha256(p) == before
    with pytest.raises(InputDataError,
                       match=r"has no sheet 'Accounts'; sheets are \['notes', 'accounts'\]"):
        read_accounts(p, sheet="Accounts")


def test_dataframe_input_is_not_modified():
    df = pd.DataFrame({"account_id": [1, 2], "revenue": ["10", "20"]})
    copy = df.copy()
    pf = read_accounts(df)
    pd.testing.assert_frame_equal(df, copy)
    assert pf.account_ids.tolist() == ["1", "2"]


# -- one test per bad input, messages pinned ------------------------------------------------

@pytest.mark.parametrize(
    ("text", "match", "column", "rows"),
    [
        ("account_id,sales\nA,1\n", r"missing required column\(s\) \['revenue'\]", None, None),
        ("account_id,revenue\nA,1\nB,2\nA,3\n", r"duplicate account ids 'A'", "account_id",
         [2, 4]),
        ("account_id,revenue\nA,1\nB,-2\n", r"out of range \('B=-2'\); revenue must be >= 0",
         "revenue", [3]),
        ("account_id,revenue\nA,1\nB,\n", r"1 missing value", "revenue", [3]),
        ("account_id,revenue\nA,1\nB,inf\n", r"infinite", "revenue", [3]),
        ("account_id,revenue\nA,1\nB,lots\n", r"text where a number is expected: 'lots'",
         "revenue", [3]),
        ("account_id,revenue\nA,\"1,500\"\n", r"can be read two ways.*decimal=','", "revenue",
         [2]),
        ("account_id,revenue\nA,\"1,234.50\"\nB,\"1.234,50\"\n", r"writes numbers in two ways",
         "revenue", [3]),
        ("account_id,revenue,churn_prob\nA,1,1.5\n", r"churn_prob must be >= 0 and <= 1",
         "churn_prob", [2]),
        ("account_id,revenue\nA,0\nB,0\n", r"total revenue is zero", "revenue", None),
        ("account_id,revenue\n", r"holds no accounts", None, None),
        ("account_id,revenue,national\nA,1,maybe\n", r"not yes/no", "national", [2]),
    ],
)
def test_bad_accounts_table(tmp_path, text, match, column, rows):
    p = write(tmp_path, text)
    with pytest.raises(InputDataError, match=match) as info:
        read_accounts(p)
    err = info.value
    assert err.path == str(p)
    assert str(p) in str(err)
    assert err.column == column
    if rows is not None:
        assert err.rows == rows


def test_empty_file(tmp_path):
    p = write(tmp_path, "")
    with pytest.raises(InputDataError, match=r"is empty \(0 bytes\)"):
        read_accounts(p)


def test_missing_file(tmp_path):
    with pytest.raises(InputDataError, match="file not found"):
        read_accounts(tmp_path / "nope.csv")


def test_non_utf8_file(tmp_path):
    p = write(tmp_path, "account_id,revenue\nCaf\u00e9,1\n", encoding="latin-1")
    with pytest.raises(InputDataError, match=r"is not UTF-8 text .*encoding='cp1252'"):
        read_accounts(p)
    assert read_accounts(p, encoding="latin-1").account_ids.tolist() == ["Caf\u00e9"]


def test_unsupported_extension(tmp_path):
    p = write(tmp_path, "x", name="a.json")
    with pytest.raises(InputDataError, match=r"unsupported extension '\.json'"):
        read_accounts(p)


def test_mapping_to_unknown_column(tmp_path):
    p = write(tmp_path, "id,revenue\nA,1\n")
    with pytest.raises(InputDataError, match=r"mapping names column\(s\) \['Customer'\]"):
        read_accounts(p, columns={"Customer": "account_id"})


def test_portfolio_is_immutable(sample):
    with pytest.raises(AttributeError, match="immutable"):
        sample.foo = 1
    with pytest.raises(ValueError, match="read-only"):
        sample.revenue[0] = 0.0


def test_gross_profit_needs_margins():
    pf = Portfolio(pd.DataFrame({"account_id": ["a"], "revenue": [1.0]}))
    with pytest.raises(InputDataError, match="no gross_margin or gross_profit"):
        _ = pf.gross_profit


def test_inconsistent_profit_and_margin():
    df = pd.DataFrame({"account_id": ["a"], "revenue": [100.0], "gross_margin": [0.2],
                       "gross_profit": [30.0]})
    with pytest.raises(InputDataError, match="disagrees with revenue"):
        Portfolio(df)


# -- ledgers -------------------------------------------------------------------------------

def test_ledger_exclusions_reconcile():
    led = pd.DataFrame({
        "customer_id": ["a", "a", None, "b", "c", "c"],
        "date": ["2024-01-05", "2024-02-01", "2024-02-01", "2024-03-01", "2024-04-01",
                 "2023-01-01"],
        "amount": [100.0, -20.0, 5.0, 50.0, -7.0, 99.0],
    })
    with pytest.warns(UserWarning, match="spans"):
        pf = from_ledger(led, start="2024-01-01", end="2024-06-01")
    ex = pf.exclusions
    assert pf.revenue.tolist() == [80.0, 50.0]
    assert ex.loc["no customer id", "amount"] == 5.0
    assert ex.loc["outside period", "amount"] == 99.0
    assert ex.loc["net revenue <= 0", "amount"] == -7.0
    reasons = ex.drop(index=["kept", "ledger total"])
    assert reasons["amount"].sum() + ex.loc["kept", "amount"] == pytest.approx(
        ex.loc["ledger total", "amount"])
    assert reasons["lines"].sum() + ex.loc["kept", "lines"] == len(led)


def test_ledger_returns_excluded_and_product_lines():
    led = pd.DataFrame({
        "cust": ["a", "a", "a", "b"], "when": ["2024-01-05"] * 4,
        "inv": ["1", "C2", "3", "4"], "prod": ["x", "x", "y", "y"],
        "qty": [2, -1, 1, 3], "price": [10.0, 10.0, 5.0, 1.0],
    })
    pf = from_ledger(led, customer="cust", date="when", amount=None, quantity="qty",
                     unit_price="price", invoice="inv", product="prod", returns="exclude")
    assert pf.revenue.tolist() == [25.0, 3.0]
    assert pf.column("line_x").tolist() == [20.0, 0.0]
    assert pf.exclusions.loc["cancelled invoice", "amount"] == -10.0


def test_ledger_bad_dates():
    led = pd.DataFrame({"customer_id": ["a", "b"], "date": ["2024-01-01", "soon"],
                        "amount": [1.0, 2.0]})
    with pytest.raises(InputDataError, match="unparseable date") as info:
        from_ledger(led)
    assert info.value.rows == [3]


def test_real_online_retail_ledger_reconciles_to_the_cent():
    src = DATA / "online_retail.parquet"
    before = sha256(src)
    pf = load_online_retail()
    ex = pf.exclusions
    # cross-check figures of shared/data/README.md (NET revenue per customer)
    assert pf.n_accounts == 4322
    assert pf.total_revenue == pytest.approx(8_313_294.95, abs=0.005)
    assert pf.revenue.max() / pf.total_revenue == pytest.approx(0.0336195241, abs=1e-10)
    assert ex.loc["ledger total", "lines"] == 541_909
    assert ex.loc["ledger total", "amount"] == pytest.approx(9_747_747.93, abs=0.005)
    assert ex.loc["no customer id", "lines"] == 135_080
    parts = ex.drop(index=["kept", "ledger total"])["amount"].sum() + ex.loc["kept", "amount"]
    assert parts == pytest.approx(ex.loc["ledger total", "amount"], abs=0.005)
    assert sha256(src) == before


def test_real_online_retail_gross():
    pf = load_online_retail(returns="exclude")
    assert pf.n_accounts == 4338
    assert pf.total_revenue == pytest.approx(8_911_407.90, abs=0.005)


def test_wholesale_loader_matches_published_totals():
    pf = load_wholesale()
    assert pf.n_accounts == 440
    assert pf.total_revenue == 14_619_500.0
    assert pf.revenue.max() == 199_891.0
    assert pf.account_ids[85] == "86"


# -- properties ----------------------------------------------------------------------------

ledgers = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", None]),
              st.integers(min_value=-5_000, max_value=20_000)),
    min_size=1, max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(ledgers)
def test_ledger_aggregation_conserves_money(lines):
    cents = [c for _, c in lines]
    led = pd.DataFrame({"customer_id": [c for c, _ in lines], "date": "2024-06-01",
                        "amount": [c / 100 for c in cents]})
    kept_any = any(c is not None for c, _ in lines) and any(
        sum(x for c2, x in lines if c2 == c) > 0 for c, _ in lines if c is not None)
    if not kept_any:
        with pytest.raises(InputDataError, match="no ledger lines remain"):
            from_ledger(led, start="2024-01-01", end="2025-01-01")
        return
    pf = from_ledger(led, start="2024-01-01", end="2025-01-01")
    ex = pf.exclusions
    total = ex.loc["ledger total", "amount"]
    assert total == pytest.approx(sum(cents) / 100, abs=1e-9)
    assert ex.loc["kept", "amount"] == pytest.approx(pf.total_revenue, abs=1e-9)
    assert (ex.drop(index=["kept", "ledger total"])["amount"].sum()
            + ex.loc["kept", "amount"]) == pytest.approx(total, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e9), min_size=1, max_size=30),
       st.randoms(use_true_random=False))
def test_reordering_rows_changes_nothing(revenues, rnd):
    assume(sum(revenues) > 0)
    ids = [f"id{i}" for i in range(len(revenues))]
    df = pd.DataFrame({"account_id": ids, "revenue": revenues})
    perm = list(range(len(ids)))
    rnd.shuffle(perm)
    a = read_accounts(df)
    b = read_accounts(df.iloc[perm])
    sa = pd.Series(a.revenue, index=a.account_ids).sort_index()
    sb = pd.Series(b.revenue, index=b.account_ids).sort_index()
    pd.testing.assert_series_equal(sa, sb)
    assert np.isclose(a.total_revenue, b.total_revenue, rtol=1e-12)
