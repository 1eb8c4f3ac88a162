"""The project's own files stay consistent: environment.yml mirrors pyproject.toml, the
README states the two set-up commands, and every public name is documented."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import pkgutil
import re
import tomllib

import pytest
import yaml

import kamsim
from tests.conftest import ROOT


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_names() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta["optional-dependencies"].values():
        reqs += extra
    names = {_name(r) for r in reqs}
    # conda splits dask[distributed] into dask + distributed
    if "dask" in names:
        names.add("distributed")
    return names


def _conda_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names: set[str] = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(d) for d in dep["pip"] if not d.startswith("-e")}
        else:
            names.add(_name(dep))
    # conda-forge names that differ from PyPI's
    names = {{"python-build": "build"}.get(n, n) for n in names}
    return names - {"python", "pip", "c-compiler"}  # a build tool, not a package


def test_environment_yml_mirrors_pyproject():
    assert _conda_names() == _pyproject_names()


def test_readme_states_the_two_commands_first():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:sh|bash)?\n(.*?)```", text, re.S)
    assert first_block is not None
    assert "make report" in first_block.group(1)
    assert "make test" in first_block.group(1)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def _modules():
    for info in pkgutil.walk_packages(kamsim.__path__, prefix="kamsim."):
        spec = importlib.util.find_spec(info.name)
        python = spec is not None and str(spec.origin).endswith(".py")  # not _ckernel.so
        if not info.name.endswith("__main__") and python:
            yield info.name


@pytest.mark.parametrize("modname", sorted(_modules()))
def test_docstring_examples_run(modname):
    mod = importlib.import_module(modname)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


@pytest.mark.parametrize("modname", sorted(_modules()))
def test_public_names_have_docstrings(modname):
    mod = importlib.import_module(modname)
    assert mod.__doc__, f"{modname} has no module docstring"
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, f"{modname}.{name} has no docstring"


def test_top_level_exports_resolve():
    for name in kamsim.__all__:
        assert hasattr(kamsim, name), name


def test_readme_python_quick_start_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "the README has no Python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


@pytest.mark.parametrize("bad", [True, False, 2.0, "3", None, -1])
def test_counts_refuse_bools_and_non_integers_everywhere(bad):
    """One rule for whole numbers (bool is not 1): the engine, the exact twin and the
    calibration all refuse the same values with an AssumptionError naming the argument."""
    from kamsim.analysis.calibrate import partial_churn_from_ledger
    from kamsim.engine import simulate
    from kamsim.model import ChurnAssumptions, Scenario
    from kamsim.portfolio.datasets import synthetic_portfolio
    from kamsim.risk import loss_distribution

    sc = Scenario(portfolio=synthetic_portfolio(10, rng=0),
                  churn=ChurnAssumptions(annual_prob=0.1), horizon_months=12)
    with pytest.raises(kamsim.AssumptionError, match="n_paths"):
        simulate(sc, n_paths=bad, rng=0)
    with pytest.raises(kamsim.AssumptionError, match="max_points"):
        loss_distribution(sc, max_points=bad)
    ledger = {"customer_id": ["a"], "date": ["2024-01-01"], "amount": [1.0]}
    import pandas as pd

    with pytest.raises(kamsim.AssumptionError, match="period_months"):
        partial_churn_from_ledger(pd.DataFrame(ledger), period_months=bad)
