"""Report parameters are checked before any kernel starts: bad values fail up front."""

from __future__ import annotations

import math

import pytest

from kamsim.cli import main
from kamsim.report import ReportError, validate_parameters

BAD = [
    ("pass_through", 2.0, r"'pass_through' must be a finite number in \[0, 1\], got 2"),
    ("pass_through", -0.1, r"'pass_through' must be a finite number in \[0, 1\]"),
    ("threat_credibility", 1.5, r"'threat_credibility' must be a finite number in \[0, 1\]"),
    ("discount_rate", -1.0, r"'discount_rate' must be a finite number in \[0, 1\]"),
    ("efficiency_gain", math.nan, r"'efficiency_gain' must be a finite number in \[0, 1\)"),
    ("efficiency_gain", math.inf, r"'efficiency_gain' must be a finite number"),
    ("efficiency_gain", 1.0, r"'efficiency_gain' must be a finite number in \[0, 1\)"),
    ("retention_per_point", 0.5, r"'retention_per_point' must be a finite number in \(-1, 0\]"),
    ("demand_cut", 1.2, r"'demand_cut' must be a finite number in \[0, 1\]"),
    ("levels", [], r"'levels' must be a non-empty list"),
    ("levels", [0.95, 1.0], r"'levels' must be a list of numbers in \(0, 1\)"),
    ("levels", [True], r"'levels' must be a list of numbers in \(0, 1\)"),
    ("tornado_metric", "var_96", r"'tornado_metric' must be one of \[.*'var_95'"),
    ("n_paths", 10, r"'n_paths' must be a finite number in \[100, 10000000\]"),
    ("n_paths", 10**12, r"'n_paths' must be a finite number in \[100, 10000000\]"),
    ("top_k", 0, r"'top_k' must be a finite number in \[1, 1000\]"),
    ("seed", -1, r"'seed' must be a finite number >= 0"),
    ("sections", ["summary", "nope"], r"unknown section\(s\) \['nope'\]"),
    ("column_mapping", {"a": 1}, r"'column_mapping' must be a mapping of column names"),
    ("pass_through", True, r"'pass_through' must be of type float"),
    ("n_paths", 1000.0, r"'n_paths' must be of type int"),
]


@pytest.mark.parametrize(("name", "value", "match"), BAD)
def test_bad_report_parameter_refused_up_front(name, value, match):
    with pytest.raises(ReportError, match=match):
        validate_parameters({name: value})


@pytest.mark.parametrize(("name", "value"), [
    ("pass_through", "2"), ("threat_credibility", "1.5"), ("discount_rate", "-1"),
    ("efficiency_gain", ".nan"), ("levels", "[]"), ("tornado_metric", "nope"),
])
def test_bad_report_parameter_through_cli(name, value, capsys, tmp_path):
    code = main(["report", "-p", name, value, "--out", str(tmp_path / "r"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("kamsim: error: parameter ")
    assert "Traceback" not in err
    assert f"-p {name} VALUE" in err  # CLI advice, not Python
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
