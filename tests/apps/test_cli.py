"""``kamsim summary`` and friends on your own spreadsheet or ledger: the exact messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kamsim.apps.cli import did_you_mean, main, parse_columns, parse_tier_probs
from kamsim.portfolio.datasets import data_dir

ROOT = Path(__file__).resolve().parents[2]
OWN = ROOT / "tests" / "fixtures" / "own_accounts.xlsx"
MAP = "Customer=account_id,Sales 2025=revenue"
LEDGER_MAP = ("CustomerID=customer,InvoiceDate=date,Quantity=quantity,UnitPrice=unit_price,"
              "InvoiceNo=invoice")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_is_at_most_100_columns_with_formatted_figures(capsys):
    code, out, _ = _run(capsys, "summary", "--paths", "500")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "€31.9M a year" in out
    assert "e+0" not in out
    assert "True" not in out


def test_own_spreadsheet_with_columns_and_churn_prob(capsys):
    code, out, err = _run(capsys, "summary", "--accounts", str(OWN), "--columns", MAP,
                          "--churn-prob", "0.1", "--paths", "500")
    assert code == 0, err
    assert out.startswith("kamsim summary of own_accounts.xlsx: 40 accounts, revenue €1.9M")


def test_missing_columns_name_the_columns_option(capsys):
    code, _, err = _run(capsys, "summary", "--accounts", str(OWN), "--paths", "100")
    assert code == 2
    assert err.strip().endswith(
        'tell kamsim which of your columns is which: --columns "Customer=account_id,'
        'Sales 2025=revenue" (or a columns: entry in the scenario YAML)')
    assert "{'Customer'" not in err  # no Python syntax


def test_missing_churn_is_advised_in_cli_words(capsys):
    code, _, err = _run(capsys, "summary", "--accounts", str(OWN), "--columns", MAP)
    assert code == 2
    assert err == ("kamsim: error: no churn probabilities: the accounts have no churn_prob "
                   "column; give --churn-prob 0.1 (every account 10 % a year) or --tier-probs "
                   "key=0.05,strategic=0.08,standard=0.12, or add a churn_prob column (map "
                   "yours with --columns)\n")
    assert "ChurnAssumptions" not in err


def test_tier_probs(capsys):
    code, out, err = _run(capsys, "summary", "--accounts", str(OWN), "--columns", MAP,
                          "--tier-probs", "key=0.05,strategic=0.08,standard=0.12",
                          "--paths", "500", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["accounts"] == 40
    assert doc["monte_carlo"]["paths"]["value"] == 500


def test_columns_in_the_scenario_yaml(tmp_path, capsys):
    sc = tmp_path / "mine.yaml"
    sc.write_text(f"accounts: {OWN}\ncolumns:\n  Customer: account_id\n  Sales 2025: revenue\n"
                  "horizon_months: 12\nchurn:\n  annual_prob: 0.1\n")
    code, out, err = _run(capsys, "summary", "--scenario", str(sc), "--paths", "300")
    assert code == 0, err
    assert "40 accounts" in out
    assert "horizon 12 months" in out


def test_misspelt_columns_in_the_scenario_yaml(tmp_path, capsys):
    sc = tmp_path / "mine.yaml"
    sc.write_text(f"accounts: {OWN}\ncolumns:\n  Customer: account_id\n  Sales 2025: revnue\n"
                  "churn:\n  annual_prob: 0.1\n")
    code, _, err = _run(capsys, "summary", "--scenario", str(sc), "--paths", "300")
    assert code == 2
    assert err.startswith("kamsim: error: columns.Sales 2025: must be one of ['account_id', ")
    assert err.endswith(f"got 'revnue' (did you mean 'revenue'?) (in {sc})\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["summary", "--pahts", "5"],
     "kamsim: error: unrecognized arguments: --pahts 5; did you mean '--paths'?"),
    (["sumary"], "did you mean 'summary'?"),
    (["summary", "--columns", "Customer=acount_id"],
     "kamsim: error: --columns: 'acount_id' is not a kamsim column; did you mean "
     "'account_id'?"),
    (["summary", "--columns", "Customer"],
     "kamsim: error: --columns: 'Customer' has no '='; write YOUR HEADER=kamsim name"),
    (["summary", "--tier-probs", "key=0.05,strategc=0.1"],
     "'strategc' is not a tier; did you mean 'strategic'?"),
    (["summary", "--tier-probs", "key=lots"], "key='lots' is not a probability"),
    (["summary", "--churn-prob", "2"],
     "argument --churn-prob: must be between 0 and 1 (0.1 = 10 % a year), got 2"),
    (["summary", "--churn-prob", "0.1", "--tier-probs", "key=0.1"],
     "kamsim: error: give --churn-prob or --tier-probs, not both"),
    (["summary", "--gross-margin", "0.3"],
     "kamsim: error: --gross-margin applies to --accounts or --ledger data; give one of them"),
    (["summary", "--ledger-columns", "CustomerID=customer"],
     "kamsim: error: --ledger-columns needs --ledger FILE"),
    (["summary", "--ledger", str(data_dir() / "online_retail.parquet"), "--ledger-columns",
      "CustomerID=custmer"], "'custmer' is not a kamsim column; did you mean 'customer'?"),
])
def test_cli_messages(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_ledger_without_mapping_says_which_option_to_give(capsys):
    code, _, err = _run(capsys, "summary", "--ledger",
                        str(data_dir() / "online_retail.parquet"))
    assert code == 2
    assert 'name the ledger\'s columns: --ledger-columns "CustomerID=customer,' in err


def test_bundled_ledger_summary_reconciles_to_the_cent(capsys):
    import pandas as pd

    code, out, err = _run(capsys, "summary", "--ledger",
                          str(data_dir() / "online_retail.parquet"), "--ledger-columns",
                          LEDGER_MAP, "--churn-prob", "0.2", "--paths", "300", "--json")
    assert code == 0, err
    doc = json.loads(out)
    ex = pd.DataFrame(doc["ledger_exclusions"]).set_index("reason")
    parts = ex.drop(index=["ledger total"])
    assert round(parts["amount"].sum(), 2) == round(ex.loc["ledger total", "amount"], 2)
    raw = pd.read_parquet(data_dir() / "online_retail.parquet")
    assert round(float((raw["Quantity"] * raw["UnitPrice"]).sum()), 2) == \
        round(ex.loc["ledger total", "amount"], 2)
    assert ex.loc["kept", "amount"] == pytest.approx(doc["revenue"], abs=0.005)


def test_helpers():
    assert parse_columns(MAP) == {"Customer": "account_id", "Sales 2025": "revenue"}
    assert parse_tier_probs("key=0.05") == {"key": 0.05}
    assert did_you_mean("revenu", ["revenue"]) == "; did you mean 'revenue'?"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_report_on_the_bundled_ledger_end_to_end(tmp_path, capsys):
    """kamsim report --ledger on the whole bundled Online Retail ledger: the report runs
    on the ledger's accounts, scores key accounts on the criteria the ledger has (and says
    which are missing), and its appendix reconciles kept plus excluded to the ledger
    total, to the cent."""
    import html as html_lib

    import pandas as pd
    from bs4 import BeautifulSoup

    from kamsim.views.report import cents

    out = tmp_path / "r"
    code = main(["report", "--ledger", str(data_dir() / "online_retail.parquet"),
                 "--ledger-columns", LEDGER_MAP, "--churn-prob", "0.2", "--gross-margin",
                 "0.35", "--paths", "2000", "--out", str(out), "--quiet"])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert "using 4,248 accounts" in printed
    page = (out / "board_report.html").read_text(encoding="utf-8")
    assert "4,248" in page
    text = " ".join(html_lib.unescape(BeautifulSoup(page, "html.parser").get_text(" ")).split())
    # key accounts: scored on what the ledger has, the rest named, weights rescaled
    assert ("Scored on 2 of the 7 criteria, the ones the data has: volume (share of revenue) "
            "60 % and profit (share of gross profit) 40 %") in text
    assert "product lines (no revenue per product line column)" in text
    assert "(50 % of the total) were shared out in proportion" in text
    # the appendix: every line of the ledger, kept or excluded, to the cent
    raw = pd.read_parquet(data_dir() / "online_retail.parquet")
    money = raw["Quantity"] * raw["UnitPrice"]
    total = float(money.sum())
    no_id = float(money[raw["CustomerID"].isna()].sum())
    ex = pd.read_csv(out / "inputs" / "scenario_ledger_exclusions.csv").set_index("reason")
    kept = float(ex.loc["kept", "amount"])
    assert round(total, 2) == round(float(ex.loc["ledger total", "amount"]), 2)
    assert "Ledger lines kept and excluded" in text
    assert (f"Kept {cents(kept)} (391,756 lines) + excluded {cents(total - kept)} "
            f"(150,153 lines) = {cents(total)} (541,909 lines), the ledger total to the "
            "cent.") in text
    assert f"No customer id (walk-in or unknown buyers) excluded 135,080 {cents(no_id)}" in text
    assert "Returns and credit notes netted off, inside kept" in text
    table = pd.read_csv(out / "tables" / "ledger_exclusions.csv").set_index("reason")
    parts = table.drop(index=["ledger total"])["amount"].sum()
    assert round(parts, 2) == round(total, 2)
