"""A scenario YAML's ``columns:`` entry: your headers -> kamsim names, strictly checked."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from kamsim import AssumptionError, InputDataError
from kamsim.model import Scenario
from kamsim.model.scenario import account_columns
from tests.conftest import ROOT

OWN = ROOT / "tests" / "fixtures" / "own_accounts.xlsx"
KNOWN = ("['account_id', 'revenue', 'name', 'gross_margin', 'gross_profit', 'segment', "
         "'region', 'churn_prob', 'growth', 'distance_km', 'cost_to_serve', 'national', "
         "'sales_unit']")


def _yaml(tmp_path, columns: str) -> object:
    p = tmp_path / "mine.yaml"
    p.write_text(f"accounts: {OWN}\ncolumns:\n{columns}horizon_months: 12\n"
                 "churn:\n  annual_prob: 0.1\n")
    return p


def test_columns_map_the_accounts_file(tmp_path):
    p = _yaml(tmp_path, "  Customer: account_id\n  Sales 2025: revenue\n  Company: name\n"
                        "  Margin: gross_margin\n")
    sc = Scenario.from_yaml(p)
    assert sc.portfolio.n_accounts == 40
    assert sc.portfolio.has_gross_profit
    assert sc.portfolio.names[0] != sc.portfolio.account_ids[0]


def test_a_misspelt_kamsim_name_gets_a_did_you_mean_with_its_line(tmp_path):
    p = _yaml(tmp_path, "  Customer: account_id\n  Sales 2025: revnue\n")
    with pytest.raises(AssumptionError) as exc:
        Scenario.from_yaml(p)
    assert str(exc.value) == (f"columns.Sales 2025: must be one of {KNOWN}, got 'revnue' "
                              f"(did you mean 'revenue'?) (in {p}, line 4)")


@pytest.mark.parametrize(("columns", "message"), [
    ("  - Customer\n", "columns: must map your headers to kamsim names, e.g. columns: "
                       "{Customer: account_id, Sales 2025: revenue}; got ['Customer']"),
    ("  2025: revenue\n  Customer: account_id\n",
     "columns: the header 2025 is not text; quote it, e.g. '2025': revenue"),
    ("  Customer: [account_id]\n",
     "columns.Customer: must be the name of a kamsim column (text), got ['account_id']"),
    ("  Customer: account_id\n  Sales 2025: revenue\n  Margin: revenue\n",
     "columns: the headers ['Sales 2025', 'Margin'] all map to 'revenue'; map one header to "
     "each kamsim column"),
])
def test_bad_columns_entries(tmp_path, columns, message):
    p = _yaml(tmp_path, columns)
    with pytest.raises(AssumptionError) as exc:
        Scenario.from_yaml(p)
    assert str(exc.value).startswith(message + " (in "), str(exc.value)


def test_a_header_the_file_does_not_have_names_the_file(tmp_path):
    p = _yaml(tmp_path, "  Client: account_id\n  Sales 2025: revenue\n")
    with pytest.raises(InputDataError, match=r"own_accounts.xlsx: column mapping names "
                       r"column\(s\) \['Client'\] that the table does not have"):
        Scenario.from_yaml(p)


def test_product_lines_and_an_empty_mapping_are_accepted():
    assert account_columns({"Fresh": "line_fresh"}) == {"Fresh": "line_fresh"}
    assert account_columns({}) == {}
    assert account_columns(None) == {}
    with pytest.raises(AssumptionError, match=r"columns.X: must be one of \["):
        account_columns({"X": "line_"})


def test_with_a_portfolio_given_columns_are_checked_not_used(tmp_path):
    p = _yaml(tmp_path, "  Customer: account_id\n  Sales 2025: revenue\n")
    own = Scenario.from_yaml(p).portfolio
    assert Scenario.from_yaml(p, portfolio=own).portfolio is own
    bad = _yaml(tmp_path, "  Customer: acount_id\n")
    with pytest.raises(AssumptionError, match="did you mean 'account_id'"):
        Scenario.from_yaml(bad, portfolio=own)


def test_the_saved_scenario_round_trips(tmp_path):
    """The app and kamsim report save a scenario as YAML + canonical accounts CSV; a
    scenario read through columns: comes back with the same accounts and assumptions."""
    from kamsim.views.widgets.data import write_scenario

    p = _yaml(tmp_path, "  Customer: account_id\n  Sales 2025: revenue\n  Margin: "
                        "gross_margin\n")
    sc = Scenario.from_yaml(p)
    saved = write_scenario(sc, tmp_path / "saved" / "scenario.yaml")
    back = Scenario.from_yaml(saved)
    pd.testing.assert_frame_equal(back.portfolio.to_frame(), sc.portfolio.to_frame(),
                                  check_dtype=False)
    for f in dataclasses.fields(sc):
        if f.name != "portfolio":
            assert getattr(back, f.name) == getattr(sc, f.name), f.name
