"""``kamsim app`` without a browser: notebook lookup, validation, the Voila command line.

The browser tests in ``tests/browser/test_voila.py`` start the app for real.
"""

from __future__ import annotations

import argparse
import shlex
import socket
import sys

import pytest

from kamsim.apps import voila as app
from kamsim.apps.voila import (
    AppConfig,
    explorer_notebooks,
    find_notebook,
    resolve_port,
    voila_command,
)
from kamsim.exceptions import AssumptionError, KamsimError
from tests.conftest import ROOT


def _cfg(**kw):
    kw.setdefault("notebooks", (ROOT / "notebooks" / "01_concentration.ipynb",))
    return AppConfig(**kw)


def test_explorers_are_the_numbered_notebooks():
    names = [p.name for p in explorer_notebooks()]
    assert names == sorted(p.name for p in (ROOT / "notebooks").glob("0*.ipynb"))
    assert "board_report.ipynb" not in names
    assert names[:2] == ["01_concentration.ipynb", "02_worst_case.ipynb"]


def test_explorers_missing_folder_is_an_error(tmp_path):
    with pytest.raises(KamsimError, match="no explorer notebooks"):
        explorer_notebooks(tmp_path)


@pytest.mark.parametrize(("name", "expected"), [
    ("02", "02_worst_case.ipynb"), ("2", "02_worst_case.ipynb"),
    ("worst_case", "02_worst_case.ipynb"), ("Concentration", "01_concentration.ipynb"),
    ("01_concentration.ipynb", "01_concentration.ipynb"),
])
def test_find_notebook(name, expected):
    assert find_notebook(name).name == expected


def test_find_notebook_by_path(tmp_path):
    nb = tmp_path / "mine.ipynb"
    nb.write_text("{}")
    assert find_notebook(str(nb)) == nb.resolve()


def test_find_notebook_unknown_lists_choices():
    with pytest.raises(KamsimError, match=r"matches no notebook; choose one of: 01_conc"):
        find_notebook("nothing_like_this")
    with pytest.raises(KamsimError, match="matches several"):
        find_notebook("_")  # every explorer name holds an underscore


def test_voila_command_hides_code_on_loopback():
    cfg = _cfg(token="tok", port=9123)
    cmd = voila_command(cfg, "/x/nb.ipynb")
    assert cmd[:4] == [sys.executable, "-m", "voila", "/x/nb.ipynb"]
    for arg in ("--no-browser", "--Voila.ip=127.0.0.1", "--port=9123",
                "--Voila.port_retries=0", "--Voila.token=tok", "--strip_sources=True",
                "--show_tracebacks=False", "--theme=light",
                "--VoilaConfiguration.extension_denylist=['jupyterlab-jupytext']"):
        assert arg in cmd
    assert cfg.url == "http://127.0.0.1:9123/?token=tok"
    assert cfg.is_loopback


def test_config_defaults_and_round_trip():
    cfg = _cfg()
    assert (cfg.ip, cfg.port, cfg.token, cfg.theme) == ("127.0.0.1", app.DEFAULT_PORT, "",
                                                        "light")
    assert cfg.url == f"http://127.0.0.1:{app.DEFAULT_PORT}/"
    assert AppConfig.from_dict(cfg.to_dict()) == cfg
    v6 = _cfg(ip="::1", token="t")
    assert v6.url == f"http://[::1]:{app.DEFAULT_PORT}/?token=t"


@pytest.mark.parametrize(("kw", "field", "match"), [
    ({"notebooks": ()}, "notebooks", "at least one"),
    ({"notebooks": (ROOT / "README.md",)}, "notebooks", "not a notebook"),
    ({"port": 0}, "port", "1..65535"),
    ({"port": 70000}, "port", "1..65535"),
    ({"port": True}, "port", "1..65535"),
    ({"ip": "localhost-ish"}, "ip", "not an IP address"),
    ({"token": "a b"}, "token", "letters, digits"),
    ({"ip": "0.0.0.0", "token": ""}, "token", "needs a token"),
    ({"theme": "neon"}, "theme", "'light', 'dark'"),
])
def test_config_validation(kw, field, match):
    with pytest.raises(AssumptionError, match=match) as info:
        _cfg(**kw)
    assert info.value.field == field


def test_config_rejects_duplicate_names(tmp_path):
    nb = ROOT / "notebooks" / "01_concentration.ipynb"
    (tmp_path / nb.name).write_bytes(nb.read_bytes())
    with pytest.raises(AssumptionError, match="same file name"):
        _cfg(notebooks=(nb, tmp_path / nb.name))


def test_resolve_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        with pytest.raises(KamsimError, match=f"port {taken} .* in use"):
            resolve_port(taken)
        free = resolve_port(0)
        assert free != taken
        assert 0 < free < 65536
    assert resolve_port(taken) == taken  # released
    with pytest.raises(KamsimError, match=r"0\.\.65535"):
        resolve_port(-1)
    assert 0 < resolve_port(None) < 65536


def test_stage_notebooks(tmp_path):
    nbs = explorer_notebooks()[:2]
    target = app.stage_notebooks(_cfg(notebooks=tuple(nbs)), tmp_path / "s")
    assert target == tmp_path / "s"
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [p.name for p in nbs] + [app.HOME])
    one = app.stage_notebooks(_cfg(), tmp_path / "one")
    assert one == tmp_path / "one" / "01_concentration.ipynb"
    assert one.read_bytes() == (ROOT / "notebooks" / "01_concentration.ipynb").read_bytes()


def _parse(*argv):
    parser = argparse.ArgumentParser(prog="kamsim")
    app.add_app_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["app", *argv])


def test_parser_defaults():
    args = _parse()
    assert args.notebook is None
    assert args.port is None
    assert args.ip == "127.0.0.1"
    assert not args.no_browser
    assert not args.dry_run
    assert args.token is None


def test_dry_run_prints_a_runnable_command(capsys):
    assert app.main(["--dry-run", "worst_case", "--port", "9999", "--token", "abc"]) == 0
    cmd = shlex.split(capsys.readouterr().out)
    assert cmd[3].endswith("02_worst_case.ipynb")
    assert "--port=9999" in cmd
    assert "--Voila.token=abc" in cmd
    assert "--VoilaConfiguration.extension_denylist=['jupyterlab-jupytext']" in cmd


def test_dry_run_generates_a_token(capsys):
    assert app.main(["--dry-run"]) == 0
    first = [a for a in shlex.split(capsys.readouterr().out) if a.startswith("--Voila.token=")]
    assert app.main(["--dry-run"]) == 0
    second = [a for a in shlex.split(capsys.readouterr().out) if a.startswith("--Voila.token=")]
    assert len(first[0]) > len("--Voila.token=") + 20
    assert first != second


@pytest.mark.parametrize(("argv", "match"), [
    (["--ip", "0.0.0.0", "--no-token", "--dry-run"], "needs a token"),
    (["--token", "a", "--no-token", "--dry-run"], "not both"),
    (["no_such_explorer", "--dry-run"], "matches no notebook"),
    (["--port", "70000"], "0..65535"),
])
def test_command_errors_exit_2(argv, match, capsys):
    assert app.main(argv) == 2
    assert match in capsys.readouterr().err


def test_run_app_without_voila_says_how_to_install(monkeypatch):
    monkeypatch.setattr(app.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(KamsimError, match=r"pip install \"kamsim\[app\]\""):
        app.run_app(_cfg(token="t"))


def test_token_starting_with_a_dash_is_accepted():
    from kamsim.apps.voila import main

    # secrets.token_urlsafe can start with "-": the documented --token=VALUE form works
    assert main(["--dry-run", "--no-browser", "--token=-abc123"]) == 0


def test_home_page_lists_every_explorer_by_title_and_question(tmp_path):
    import json

    nbs = explorer_notebooks()
    target = app.stage_notebooks(_cfg(notebooks=tuple(nbs)), tmp_path / "s")
    home = json.loads((target / app.HOME).read_text())
    text = "".join("".join(c["source"]) for c in home["cells"])
    for p in nbs:
        title, question = app.EXPLORERS[p.stem]
        assert f"[{title}]({p.name})" in text
        assert question in text
    assert "data_step()" in text  # the data step, shared with the explorers
    assert ".ipynb" not in text.replace(".ipynb)", "")  # no raw file names shown
    assert _cfg(notebooks=tuple(nbs), token="t").start_url.endswith(
        "/voila/render/home.ipynb?token=t")


def test_app_template_drops_the_cdn_icon_font(tmp_path):
    root = app.stage_template(tmp_path)
    tpl = (root / "voila" / "templates" / "kamsim" / "index.html.j2").read_text()
    assert "extends 'lab/index.html.j2'" in tpl
    assert tpl.count("replace(") == 2
    cmd = voila_command(_cfg(), "nb.ipynb", template="kamsim")
    assert "--template=kamsim" in cmd
    assert not any(a.startswith("--template") for a in voila_command(_cfg(), "nb.ipynb"))
