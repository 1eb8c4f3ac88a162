"""Nothing wrong gets in: every hostile input reaches the numbers right or is refused clearly.

The corpus (``tests/corpus/``, written by ``tests/corpus/make_corpus.py``, outcomes in
``tests/corpus/expected.json``) holds account files (CSV/TSV/TXT/XLSX), ledgers, account
histories and scenario YAML; this module adds DataFrames and report parameters. Each case
runs through the Python API and, where the command line takes that input, through
``kamsim`` itself. A case either gives exactly the expected totals, or raises a
``KamsimError`` (exit status 2 on the command line, one ``kamsim: error:`` line, no
traceback) whose message names the file, the column, the spreadsheet rows and the fix in
the words of the interface: keyword arguments in Python, flags and file edits on the
command line. Input files are never modified.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kamsim import KamsimError
from kamsim._util.format import money
from kamsim.analysis.calibrate import read_history
from kamsim.apps.cli import main
from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.model import Scenario
from kamsim.portfolio import from_ledger, read_accounts
from kamsim.views.report import ReportError, validate_parameters
from tests.conftest import ROOT

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
SIMPLE = CORPUS / "scenarios" / "simple.yaml"
ERRORS = {"InputDataError": InputDataError, "AssumptionError": AssumptionError,
          "ReportError": ReportError}
#: Python words that must never reach a command-line user.
PY_WORDS = re.compile(r"\bpass \w+=|columns=\{|encoding=|sheet=|dayfirst=|reset_index|"
                      r"portfolio=|decimal=|thousands=|Traceback|File \"")


def digest(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def facts(pf) -> dict:
    out = {"n": pf.n_accounts, "revenue": pf.total_revenue, "ids": pf.account_ids.tolist()}
    if pf.has_gross_profit:
        out["gross_profit"] = float(pf.gross_profit.sum())
    return out


def run_api(case: dict, path: Path) -> dict:
    kw = case["kwargs"]
    match case["kind"]:
        case "accounts" | "xlsx":
            return facts(read_accounts(path, **kw))
        case "ledgers":
            pf = from_ledger(path, **kw)
            return {**facts(pf), "period": list(pf.exclusions.attrs["period"])}
        case "histories":
            h = read_history(path, **kw)
            ends = [None if pd.isna(d) else d.strftime("%Y-%m-%d") for d in h["end_date"]]
            return {"n": len(h), "revenue": 0.0, "churned": int(h["churned"].sum()),
                    "ids": h["account_id"].tolist(), "end_dates": ends}
        case "scenarios":
            sc = Scenario.from_yaml(path)
            return {**facts(sc.portfolio), "horizon_months": sc.horizon_months,
                    "fixed_costs": sc.fixed_costs}
    raise AssertionError(case["kind"])


def cli_argv(case: dict, path: Path, tmp: Path) -> list[str] | None:
    """The command a user would run on this input, or None where the CLI takes none."""
    if not case["cli"]:
        return None
    match case["kind"]:
        case "accounts" | "xlsx":
            return ["summary", "--accounts", str(path), "--scenario", str(SIMPLE),
                    "--paths", "100"]
        case "scenarios":
            return ["summary", "--scenario", str(path), "--paths", "100"]
        case "histories" if "error" in case:  # a good history would run the whole report
            return ["report", "-p", "history_file", str(path), "--out", str(tmp / "r"),
                    "--quiet"]
    return None


def check_ok(got: dict, want: dict) -> None:
    for k, v in want.items():
        if isinstance(v, float):
            assert got[k] == pytest.approx(v, rel=1e-12, abs=1e-9), k
        else:
            assert got[k] == v, k


def check_error(exc: BaseException, e: dict, name: str | None) -> str:
    assert isinstance(exc, KamsimError), f"not a KamsimError: {type(exc).__name__}: {exc}"
    assert isinstance(exc, ERRORS[e["type"]]), f"{type(exc).__name__}: {exc}"
    msg = str(exc)
    for part in e["has"] + e.get("py_has", []):
        assert part in msg, f"{part!r} not in {msg!r}"
    if name is not None:
        assert name in msg, f"{name!r} not in {msg!r}"
    if "column" in e:
        assert exc.column == e["column"], msg
    if "rows" in e:
        assert exc.rows == e["rows"], msg
    if "field" in e:
        assert e["field"] in (exc.field or ""), msg
    return msg


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_corpus_case_python_api(case):
    path = CORPUS / case["file"]
    before = digest(path)
    if "ok" in case:
        check_ok(run_api(case, path), case["ok"])
    else:
        e = case["error"]
        with pytest.raises(Exception) as info:  # noqa: PT011 - any type: checked below
            run_api(case, path)
        check_error(info.value, e, e.get("names", path.name))
    assert digest(path) == before, "the input file was modified"


@pytest.mark.parametrize("case", [c for c in CASES if c["cli"]],
                         ids=[c["file"] for c in CASES if c["cli"]])
def test_corpus_case_command_line(case, capsys, tmp_path, monkeypatch):
    import papermill

    def no_kernel(*a, **k):
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    path = CORPUS / case["file"]
    argv = cli_argv(case, path, tmp_path)
    if argv is None:
        pytest.skip("the command line takes no such input")
    before = digest(path)
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if "ok" in case:
        assert code == 0, err
        want = case["ok"]
        # the summary writes figures through the shared formatter (exact totals: the API test)
        assert f": {want['n']:,} accounts, revenue {money(want['revenue'])} a year" in out
    else:
        e = case["error"]
        assert code == 2, (out, err)
        assert err.startswith("kamsim: error: ")
        assert err.count("\n") == 1, err  # one line
        assert e.get("names", path.name) in err
        for part in e["has"] + e.get("cli_has", []):
            assert part in err, f"{part!r} not in {err!r}"
        assert not PY_WORDS.search(err), f"Python advice on the command line: {err!r}"
    assert digest(path) == before, "the input file was modified"


REPORT_CASES = [c for c in CASES if c["cli"] and "error" in c
                and c["kind"] in ("accounts", "xlsx", "scenarios")]


@pytest.mark.parametrize("case", REPORT_CASES, ids=[c["file"] for c in REPORT_CASES])
def test_corpus_error_through_kamsim_report(case, capsys, tmp_path, monkeypatch):
    """``kamsim report`` refuses the same inputs with the same message, before any kernel."""
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: 1 / 0)
    path = CORPUS / case["file"]
    flag = "--scenario" if case["kind"] == "scenarios" else "--accounts"
    before = digest(path)
    code = main(["report", flag, str(path), "--out", str(tmp_path / "r"), "--quiet"])
    out, err = capsys.readouterr()
    e = case["error"]
    assert code == 2, (out, err)
    assert err.startswith("kamsim: error: ")
    assert "Traceback" not in out + err
    assert e.get("names", path.name) in err
    for part in e["has"] + e.get("cli_has", []):
        assert part in err, f"{part!r} not in {err!r}"
    assert not PY_WORDS.search(err), err
    assert not (tmp_path / "r").exists()
    assert digest(path) == before


def test_corpus_files_match_the_generator(tmp_path):
    """The fixtures are exactly what make_corpus.py writes (no hand edits drift)."""
    sys.path.insert(0, str(CORPUS))
    try:
        import make_corpus
    finally:
        sys.path.remove(str(CORPUS))
    for rel, data in make_corpus.TEXT.items():
        assert (CORPUS / rel).read_bytes() == data, rel
    assert [c["file"] for c in make_corpus.CASES] == [c["file"] for c in CASES]
    for name, spec in make_corpus.XLSX.items():
        make_corpus.write_xlsx(tmp_path / name, spec)
        assert (CORPUS / "xlsx" / name).read_bytes() == (tmp_path / name).read_bytes(), name
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
               if p.is_file() and p.name not in {"make_corpus.py", "expected.json"}
               and "__pycache__" not in p.parts}
    assert on_disk == {c["file"] for c in CASES}


def test_real_entry_point_has_no_traceback(tmp_path):
    """The installed ``python -m kamsim`` too: one line, exit status 2."""
    bad = CORPUS / "scenarios" / "billion_laughs.yaml"
    proc = subprocess.run([sys.executable, "-m", "kamsim", "summary", "--scenario", str(bad)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("kamsim: error: ")
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------
# DataFrames (Python API only)

def _frame(**cols):
    return pd.DataFrame(cols)


FRAMES = [
    ("floats", lambda: _frame(account_id=["a", "b"], revenue=[1000.0, 500.0]),
     {"revenue": 1500.0}),
    ("nullable_int", lambda: _frame(account_id=["a", "b"],
                                    revenue=pd.array([1000, 500], dtype="Int64")),
     {"revenue": 1500.0}),
    ("text_decimal_comma", lambda: _frame(account_id=["a", "b"], revenue=["1.234,5", "765,5"]),
     {"revenue": 2000.0}),
    ("string_dtype", lambda: _frame(account_id=pd.array(["a", "b"], dtype="string"),
                                    revenue=pd.array(["1,234.5", "765.5"], dtype="string")),
     {"revenue": 2000.0}),
    ("categorical_ids", lambda: _frame(account_id=pd.Categorical(["a", "b"]),
                                       revenue=[1.0, 2.0]), {"revenue": 3.0}),
    ("float_ids", lambda: _frame(account_id=[17850.0, 17851.0], revenue=[1.0, 2.0]),
     {"ids": ["17850", "17851"]}),
    ("numpy_int_ids", lambda: _frame(account_id=np.array([7, 8]), revenue=[1.0, 2.0]),
     {"ids": ["7", "8"]}),
    ("decimal_objects", lambda: _frame(account_id=["a", "b"],
                                       revenue=[decimal.Decimal("1000.5"), decimal.Decimal(2)]),
     {"revenue": 1002.5}),
    ("bom_column_name", lambda: pd.DataFrame({"\ufeffaccount_id": ["a"], "revenue": [5.0]}),
     {"revenue": 5.0}),
    ("user_datetime_column", lambda: _frame(account_id=["a"], revenue=[5.0],
                                            since=pd.to_datetime(["2020-01-01"])),
     {"revenue": 5.0}),
    ("datetime_revenue", lambda: _frame(account_id=["a"], revenue=pd.to_datetime(["2024-01-02"])),
     ("holds dates where numbers are expected", "revenue", None)),
    ("tz_datetime_revenue", lambda: _frame(account_id=["a"], revenue=pd.to_datetime(
        ["2024-01-02"]).tz_localize("UTC")), ("holds dates", "revenue", None)),
    ("timedelta_revenue", lambda: _frame(account_id=["a"], revenue=pd.to_timedelta(["1D"])),
     ("holds durations", "revenue", None)),
    ("period_revenue", lambda: _frame(account_id=["a"],
                                      revenue=pd.period_range("2024-01", periods=1, freq="M")),
     ("holds dates", "revenue", None)),
    ("bool_revenue", lambda: _frame(account_id=["a", "b"], revenue=[True, False]),
     ("holds TRUE/FALSE", "revenue", None)),
    ("nullable_bool_revenue", lambda: _frame(account_id=["a"],
                                             revenue=pd.array([True], dtype="boolean")),
     ("holds TRUE/FALSE", "revenue", None)),
    ("object_bools_revenue", lambda: _frame(account_id=["a", "b"],
                                            revenue=np.array([1.0, True], dtype=object)),
     ("holds TRUE/FALSE", "revenue", [3])),
    ("object_datetime_margin", lambda: _frame(account_id=["a", "b"], revenue=[1.0, 2.0],
                                              gross_margin=np.array([0.1, dt.date(2024, 1, 1)],
                                                                    dtype=object)),
     ("holds dates", "gross_margin", [3])),
    ("complex_revenue", lambda: _frame(account_id=["a"], revenue=[1 + 2j]),
     ("complex numbers", "revenue", None)),
    ("list_in_cell", lambda: _frame(account_id=["a"],
                                    revenue=np.array([[1, 2], None], dtype=object)[:1]),
     ("values that are not numbers", "revenue", [2])),
    ("pd_na_id", lambda: _frame(account_id=pd.array(["a", pd.NA], dtype="string"),
                                revenue=[1.0, 2.0]), ("empty value(s)", "account_id", [3])),
    ("none_id", lambda: _frame(account_id=["a", None], revenue=[1.0, 2.0]),
     ("empty value(s)", "account_id", [3])),
    ("nat_revenue", lambda: _frame(account_id=["a", "b"],
                                   revenue=np.array([1.0, pd.NaT], dtype=object)),
     ("missing value", "revenue", [3])),
    ("nan_revenue", lambda: _frame(account_id=["a", "b"], revenue=[1.0, math.nan]),
     ("missing value", "revenue", [3])),
    ("inf_revenue", lambda: _frame(account_id=["a", "b"], revenue=[1.0, math.inf]),
     ("infinite", "revenue", [3])),
    ("id_in_index", lambda: _frame(account_id=["a"], revenue=[1.0]).set_index("account_id"),
     ("as the DataFrame's index", None, None)),
    ("multiindex_columns", lambda: pd.DataFrame(
        [[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "account_id"), ("a", "revenue")])),
     ("column headers on several levels", None, None)),
    ("empty_frame", lambda: _frame(account_id=[], revenue=[]), ("holds no accounts", None, None)),
    ("nan_float_id", lambda: _frame(account_id=[1.0, math.nan], revenue=[1.0, 2.0]),
     ("empty value(s)", "account_id", [3])),
]


@pytest.mark.parametrize(("name", "make", "want"), FRAMES, ids=[f[0] for f in FRAMES])
def test_dataframe_inputs(name, make, want):
    df = make()
    copy = df.copy()
    if isinstance(want, dict):
        got = facts(read_accounts(df))
        check_ok(got, want)
    else:
        part, column, rows = want
        with pytest.raises(InputDataError) as info:
            read_accounts(df)
        assert part in str(info.value)
        assert info.value.column == column
        if rows is not None:
            assert info.value.rows == rows
    pd.testing.assert_frame_equal(df, copy)  # the caller's frame is left alone


# ---------------------------------------------------------------------------------------
# report parameters: refused before any kernel starts, API and command line alike

PARAMS = [
    ("pass_through", "2", r"'pass_through' must be a finite number in \[0, 1\], got 2"),
    ("pass_through", "-0.1", r"'pass_through' must be a finite number in \[0, 1\]"),
    ("threat_credibility", "1.5", r"'threat_credibility' must be a finite number in \[0, 1\]"),
    ("discount_rate", "-1", r"'discount_rate' must be a finite number in \[0, 1\]"),
    ("efficiency_gain", ".nan", r"'efficiency_gain' must be a finite number in \[0, 1\)"),
    ("efficiency_gain", ".inf", r"'efficiency_gain' must be a finite number"),
    ("efficiency_gain", "1.0", r"'efficiency_gain' must be a finite number in \[0, 1\)"),
    ("efficiency_gain", "nan", r"'efficiency_gain' must be of type float, got 'nan'"),
    ("retention_per_point", "0.5", r"'retention_per_point' must be a finite number in \(-1, 0\]"),
    ("demand_cut", "1.2", r"'demand_cut' must be a finite number in \[0, 1\]"),
    ("levels", "[]", r"'levels' must be a non-empty list"),
    ("levels", "[0.95, 1.0]", r"'levels' must be a list of numbers in \(0, 1\)"),
    ("levels", "[true]", r"'levels' must be a list of numbers in \(0, 1\)"),
    ("levels", "0.95", r"'levels' must be of type list"),
    ("tornado_metric", "var_96", r"'tornado_metric' must be one of \[.*'var_95'"),
    ("n_paths", "10", r"'n_paths' must be a finite number in \[100, 10000000\]"),
    ("n_paths", "1000000000000", r"'n_paths' must be a finite number in \[100, 10000000\]"),
    ("n_paths", "1000.0", r"'n_paths' must be of type int"),
    ("n_paths", "yes", r"'n_paths' must be of type int, got True"),
    ("top_k", "0", r"'top_k' must be a finite number in \[1, 1000\]"),
    ("seed", "-1", r"'seed' must be a finite number >= 0"),
    ("sections", "[summary, nope]", r"unknown section\(s\) \['nope'\]"),
    ("column_mapping", "{a: 1}", r"'column_mapping' must be a mapping of column names"),
    ("column_mapping", "[a]", r"'column_mapping' must be of type dict"),
    ("pass_through", "true", r"'pass_through' must be of type float"),
    ("horizon_months", "700", r"'horizon_months' must be in \[1, 600\]"),
    ("n_path", "5", r"unknown report parameter\(s\) \['n_path'\]"),
    ("accounts_file", "/no/such/file.csv", r"file not found"),
]


@pytest.mark.parametrize(("name", "text", "match"), PARAMS,
                         ids=[f"{p[0]}={p[1]}" for p in PARAMS])
def test_report_parameter_python_api(name, text, match):
    from kamsim.views.report import report_parameters

    spec = report_parameters()
    value = text if name in spec and spec[name].type_name == "str" else yaml.safe_load(text)
    with pytest.raises(ReportError, match=match):
        validate_parameters({name: value})


@pytest.mark.parametrize(("name", "text", "match"), PARAMS,
                         ids=[f"{p[0]}={p[1]}" for p in PARAMS])
def test_report_parameter_command_line(name, text, match, capsys, tmp_path, monkeypatch):
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: 1 / 0)
    code = main(["report", "-p", name, text, "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(match, err), err
    assert err.startswith("kamsim: error: ")
    assert not PY_WORDS.search(err), err
    assert not (tmp_path / "r").exists()


def test_out_pointing_at_a_file_is_refused(tmp_path, capsys):
    f = tmp_path / "report.html"
    f.write_text("keep me", encoding="utf-8")
    assert main(["report", "--out", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err
    assert "is an existing file" in err
    assert f.read_text(encoding="utf-8") == "keep me"
    assert main(["report", "--out", str(f / "sub"), "--quiet"]) == 2
    assert "which is a file" in capsys.readouterr().err


def test_bug_gives_one_line_not_a_traceback(capsys, monkeypatch):
    """An unexpected exception (a bug) still reaches the user as one line, status 3."""
    import kamsim.apps.cli

    def boom(_args):
        raise ZeroDivisionError("division by zero")

    parser = kamsim.apps.cli._build_parser()
    monkeypatch.setattr(kamsim.apps.cli, "_build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["summary"].set_defaults(func=boom)
    monkeypatch.delenv("KAMSIM_DEBUG", raising=False)
    assert main(["summary"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("kamsim: internal error (ZeroDivisionError: division by zero)")
    assert "Traceback" not in err


def test_huge_scenario_file_refused(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_bytes(b"# " + b"x" * (1 << 20) + b"\nhorizon_months: 12\n")
    with pytest.raises(InputDataError, match="a scenario file is a few lines"):
        Scenario.from_yaml(p)


def test_scenario_folder_refused(tmp_path):
    with pytest.raises(InputDataError, match="is a folder"):
        Scenario.from_yaml(tmp_path)
