r"""``kamsim app``: the explorer notebooks as a web app for people who do not code.

The command serves the explorer notebooks (``notebooks/0*.ipynb``) with
`Voilà <https://voila.readthedocs.io>`_: each notebook runs in its own kernel and shows
only its prose, tables, charts and sliders, never its code. By default it listens on
loopback (``127.0.0.1``, so only this computer can open it), protects the app with a
random token and opens the browser at the right address::

    kamsim app                 # all explorers, with a home page (data step + explorers)
    kamsim app worst_case      # one explorer: a number (02), a name or a path
    kamsim app --dry-run       # print the voila command instead of running it

The notebooks are served from a temporary copy, so the originals are never touched. With
several explorers the app opens on a **home page** (:func:`home_notebook`): the explorers
by title and the question each answers, and the data step
(:func:`kamsim.views.widgets.data_step`) where you load, map and check your own accounts
file. Data checked there are used by every explorer opened afterwards (the pages share a
folder through the ``KAMSIM_APP_DATA`` environment variable). Pages load nothing from the
internet: the app's Voila template (``kamsim``, based on ``lab``) drops the icon font that
Voila's own template fetches from a CDN. ``Ctrl+C`` stops the server and its kernels.

The equivalent plain Voilà command (what ``kamsim app --dry-run`` prints) is::

    voila notebooks/02_worst_case.ipynb --no-browser --Voila.ip=127.0.0.1 --port=8866 \
        --strip_sources=True \
        --VoilaConfiguration.extension_denylist="['jupyterlab-jupytext']"

Voilà is an optional dependency: ``pip install "kamsim[app]"``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TextIO

from kamsim.exceptions import AssumptionError, KamsimError

__all__ = [
    "DEFAULT_PORT",
    "AppConfig",
    "add_app_parser",
    "explorer_notebooks",
    "find_notebook",
    "home_notebook",
    "main",
    "notebooks_dir",
    "resolve_port",
    "run_app",
    "stage_notebooks",
    "voila_command",
]

DEFAULT_PORT = 8866
"""Voilà's usual port; ``kamsim app`` falls back to a free port if it is taken."""

Theme = Literal["light", "dark"]
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]*$")
# JupyterLab extensions that break Voila pages (jupytext throws a console error)
_DENYLIST = "['jupyterlab-jupytext']"

#: File name of the app's home page in the served folder.
HOME = "home.ipynb"

#: Title and question of each explorer (by file stem) on the home page.
EXPLORERS: dict[str, tuple[str, str]] = {
    "01_concentration": ("Concentration and key accounts",
                         "How concentrated is our revenue, and which accounts are key?"),
    "02_worst_case": ("Worst cases",
                      "What if we lose our key accounts, and how bad is a 1-in-20 year?"),
    "03_replacement": ("Replacing a lost account",
                       "How long until revenue is back, and does cash last that long?"),
    "04_price_cuts": ("Price cuts and negotiations",
                      "Should we hand efficiency gains back as price cuts, and concede a "
                      "demanded cut?"),
    "05_calibration_and_sensitivity": ("Calibration and sensitivity",
                                       "Where do churn probabilities come from, and which "
                                       "assumptions matter most?"),
    "06_retention_budget": ("Retention budget",
                            "Which key accounts get which retention plan, within the budget?"),
}

# The app's Voila template: Voila's "lab" template without the icon font it loads from a
# CDN (a failed request on every page when offline, and a request to the internet always)
_CDN_CSS = "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@^5/css/"
_TEMPLATE = "\n".join([
    "{%- extends 'lab/index.html.j2' -%}",
    "{%- block notebook_css -%}",
    "{{ super()",
    *(f"   | replace('<link rel=\"stylesheet\" href=\"{_CDN_CSS}{name}\" "
      "type=\"text/css\" />', '')" for name in ("all.min.css", "v4-shims.min.css")),
    "}}",
    "{%- endblock notebook_css -%}",
    "",
])


def notebooks_dir() -> Path:
    """Folder of the explorer notebooks shipped in the package (``kamsim/apps/notebooks``).

    Examples
    --------
    >>> (notebooks_dir() / "01_concentration.ipynb").is_file()
    True
    """
    return Path(str(resources.files("kamsim.apps") / "notebooks"))


def explorer_notebooks(folder: str | Path | None = None) -> list[Path]:
    """The explorer notebooks of ``folder``: ``0*.ipynb``, sorted by name.

    Parameters
    ----------
    folder : str or Path, optional
        Default :func:`notebooks_dir`.

    Returns
    -------
    list of Path

    Raises
    ------
    KamsimError
        If the folder holds no explorer notebook (e.g. kamsim installed without them).

    Examples
    --------
    >>> [p.name for p in explorer_notebooks()][:2]
    ['01_concentration.ipynb', '02_worst_case.ipynb']
    """
    d = notebooks_dir() if folder is None else Path(folder)
    found = sorted(p for p in d.glob("0*.ipynb") if p.is_file())
    if not found:
        msg = (f"no explorer notebooks (0*.ipynb) in {d}; run kamsim from a source checkout "
               "(pip install -e .) or pass a notebook path")
        raise KamsimError(msg)
    return found


def find_notebook(name: str, folder: str | Path | None = None) -> Path:
    """Resolve an explorer by path, number (``"02"``, ``"2"``) or name (``"worst_case"``).

    Raises
    ------
    KamsimError
        If nothing matches, or a name matches several notebooks; the message lists the
        explorers.

    Examples
    --------
    >>> find_notebook("2").name
    '02_worst_case.ipynb'
    >>> find_notebook("concentration").name
    '01_concentration.ipynb'
    """
    as_path = Path(name)
    if as_path.suffix == ".ipynb" and as_path.is_file():
        return as_path.resolve()
    candidates = explorer_notebooks(folder)
    key = name.strip().lower().removesuffix(".ipynb")
    if key.isdigit():
        hits = [p for p in candidates if p.stem.split("_", 1)[0].lstrip("0") == key.lstrip("0")]
    else:
        hits = [p for p in candidates if key in p.stem.lower()]
    if len(hits) == 1:
        return hits[0]
    names = ", ".join(p.name for p in candidates)
    problem = "matches several notebooks" if hits else "matches no notebook"
    msg = f"{name!r} {problem}; choose one of: {names} (a number, part of a name or a path)"
    raise KamsimError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppConfig:
    """What ``kamsim app`` serves and how.

    Parameters
    ----------
    notebooks : tuple of Path
        Notebooks to serve (one notebook opens directly; several get an index page).
    port : int
        TCP port, 1-65535 (resolve 0 or a taken port first with :func:`resolve_port`).
    ip : str
        Address to listen on; loopback (default ``127.0.0.1``) keeps the app private to
        this computer.
    token : str
        Access token, URL-safe characters; ``""`` means no token (only allowed on
        loopback).
    theme : {"light", "dark"}
    open_browser : bool
        Open the app in the default browser once the server listens.

    Examples
    --------
    >>> cfg = AppConfig(notebooks=tuple(explorer_notebooks()[:1]), token="abc")
    >>> cfg.url
    'http://127.0.0.1:8866/?token=abc'
    >>> AppConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    notebooks: tuple[Path, ...]
    port: int = DEFAULT_PORT
    ip: str = "127.0.0.1"
    token: str = ""
    theme: Theme = "light"
    open_browser: bool = True
    _address: ipaddress.IPv4Address | ipaddress.IPv6Address = field(
        init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        nbs = tuple(Path(p) for p in self.notebooks)
        object.__setattr__(self, "notebooks", nbs)
        if not nbs:
            raise AssumptionError("give at least one notebook", field="notebooks")
        for p in nbs:
            if p.suffix != ".ipynb" or not p.is_file():
                raise AssumptionError(f"{p} is not a notebook file (.ipynb)", field="notebooks")
        if len({p.name for p in nbs}) != len(nbs):
            raise AssumptionError("two notebooks have the same file name", field="notebooks")
        if isinstance(self.port, bool) or not isinstance(self.port, int) \
                or not 1 <= self.port <= 65535:
            raise AssumptionError(f"must be an integer in 1..65535, got {self.port!r}",
                                  field="port")
        try:
            address = ipaddress.ip_address(self.ip)
        except ValueError:
            msg = f"{self.ip!r} is not an IP address (e.g. 127.0.0.1)"
            raise AssumptionError(msg, field="ip") from None
        object.__setattr__(self, "_address", address)
        if not _TOKEN.match(self.token):
            raise AssumptionError("use letters, digits, '-' and '_' only", field="token")
        if not self.token and not address.is_loopback:
            msg = (f"serving on {self.ip} (reachable from other computers) needs a token; "
                   "drop --no-token")
            raise AssumptionError(msg, field="token")
        match self.theme:
            case "light" | "dark":
                pass
            case _:
                raise AssumptionError(f"{self.theme!r} is not one of 'light', 'dark'",
                                      field="theme")

    @property
    def is_loopback(self) -> bool:
        """True if only this computer can reach the app."""
        return self._address.is_loopback

    @property
    def url(self) -> str:
        """Address of the server's root (with the token)."""
        host = f"[{self.ip}]" if self._address.version == 6 else self.ip
        query = f"?token={self.token}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    @property
    def start_url(self) -> str:
        """Address to open in a browser: the home page (several notebooks) or the one.

        Examples
        --------
        >>> AppConfig(notebooks=tuple(explorer_notebooks()), token="t").start_url
        'http://127.0.0.1:8866/voila/render/home.ipynb?token=t'
        """
        if len(self.notebooks) == 1:
            return self.url
        return self.url.replace("/?", f"/voila/render/{HOME}?", 1) if self.token \
            else self.url + f"voila/render/{HOME}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dictionary (paths as strings)."""
        return {"notebooks": [str(p) for p in self.notebooks], "port": self.port,
                "ip": self.ip, "token": self.token, "theme": self.theme,
                "open_browser": self.open_browser}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AppConfig:
        """Inverse of :meth:`to_dict`."""
        d = dict(data)
        d["notebooks"] = tuple(Path(p) for p in d.get("notebooks", ()))
        return cls(**d)


def _port_free(ip: str, port: int) -> bool:
    family = socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def resolve_port(port: int | None, ip: str = "127.0.0.1") -> int:
    """The port to serve on.

    ``None`` means :data:`DEFAULT_PORT`, or a free port if that one is taken; ``0`` means
    any free port; any other number must be free.

    Raises
    ------
    KamsimError
        If an explicitly requested port is taken or out of range.
    """
    if port is not None and not 0 <= port <= 65535:
        msg = f"--port must be in 0..65535, got {port}"
        raise KamsimError(msg)
    if port is None and _port_free(ip, DEFAULT_PORT):
        return DEFAULT_PORT
    if port:
        if not _port_free(ip, port):
            msg = f"port {port} on {ip} is in use; choose another, or --port 0 for any free one"
            raise KamsimError(msg)
        return port
    family = socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _first_heading(path: Path) -> str:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return path.stem
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", [])).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def home_notebook(notebooks: Sequence[Path]) -> dict[str, Any]:
    """The app's home page as a notebook: the explorers by title and question, the data step.

    Each explorer is a link (it opens in the same Voila server); its title and question
    come from :data:`EXPLORERS` (or, for other notebooks, their first heading). The code
    cell shows :func:`kamsim.views.widgets.data_step`, which shares the checked data with
    the explorers through ``KAMSIM_APP_DATA``.

    Examples
    --------
    >>> nb = home_notebook(explorer_notebooks())
    >>> text = "".join(nb["cells"][1]["source"])
    >>> "[Worst cases](02_worst_case.ipynb)" in text
    True
    """
    rows = []
    for p in notebooks:
        title, question = EXPLORERS.get(p.stem, (_first_heading(p), ""))
        rows.append(f"* **[{title}]({p.name})**" + (f": {question}" if question else ""))
    intro = ("# kamsim: key-account risk\n\n"
             "Which accounts carry the business, what losing them would cost, and what to do "
             "about it, on your own accounts or the bundled sample. Start with your data "
             "below, then open an explorer: each one uses the data you checked here.")
    listing = "## Explorers\n\n" + "\n".join(rows)
    data_md = ("## Your data\n\n"
               "Upload your accounts file (CSV or Excel, one row per account) or type its "
               "path, check which of your columns is which, say how likely accounts are to "
               "leave if the file has no churn column, and press **Check and use these "
               "data**. Edit the scenario assumptions below it and save them as a scenario "
               "YAML for `kamsim report --scenario FILE`.")

    def md(text: str) -> dict[str, Any]:
        return {"cell_type": "markdown", "id": f"home-{len(text)}",
                "metadata": {}, "source": text}

    code: dict[str, Any] = {"cell_type": "code", "id": "home-data", "metadata": {},
                            "execution_count": None, "outputs": [],
            "source": "from kamsim.views.widgets import data_step\n\ndata_step()"}
    return {"cells": [md(intro), md(listing), md(data_md), code],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"},
                         "language_info": {"name": "python"}, "title": "kamsim"},
            "nbformat": 4, "nbformat_minor": 5}


def stage_template(folder: str | Path) -> Path:
    """Write the app's Voila template (``kamsim``) under ``folder``; return the data dir.

    Put the returned folder first on ``JUPYTER_PATH`` and pass ``--template=kamsim``.
    """
    root = Path(folder)
    tpl = root / "voila" / "templates" / "kamsim"
    tpl.mkdir(parents=True, exist_ok=True)
    (tpl / "index.html.j2").write_text(_TEMPLATE, encoding="utf-8")
    (tpl / "conf.json").write_text(json.dumps({"base_template": "lab"}), encoding="utf-8")
    return root


def stage_notebooks(config: AppConfig, folder: str | Path) -> Path:
    """Copy the notebooks into ``folder``; return what Voilà serves.

    One notebook: the copied file (Voilà opens it at ``/``). Several: ``folder``, with the
    home page :data:`HOME` beside them (:func:`home_notebook`).
    """
    dest = Path(folder)
    dest.mkdir(parents=True, exist_ok=True)
    copies = [Path(shutil.copy2(p, dest / p.name)) for p in config.notebooks]
    if len(copies) == 1:
        return copies[0]
    (dest / HOME).write_text(json.dumps(home_notebook(copies), indent=1), encoding="utf-8")
    return dest


def voila_command(config: AppConfig, target: str | Path, *,
                  template: str | None = None) -> list[str]:
    """The Voilà command line serving ``target`` (a notebook or a folder) with ``config``.

    Code cells are hidden (``strip_sources``), tracebacks are not shown to the viewer,
    Voilà never opens a browser itself (``kamsim app`` opens the URL with the token) and
    does not hunt for another port (``port_retries=0``).

    Examples
    --------
    >>> cfg = AppConfig(notebooks=tuple(explorer_notebooks()[:1]), token="abc",
    ...                 open_browser=False)
    >>> cmd = voila_command(cfg, "nb.ipynb")
    >>> cmd[1:4]
    ['-m', 'voila', 'nb.ipynb']
    >>> "--Voila.ip=127.0.0.1" in cmd and "--strip_sources=True" in cmd
    True
    """
    return [
        sys.executable, "-m", "voila", str(target),
        "--no-browser",
        f"--Voila.ip={config.ip}",
        f"--port={config.port}",
        "--Voila.port_retries=0",
        f"--Voila.token={config.token}",
        "--strip_sources=True",
        "--show_tracebacks=False",
        f"--theme={config.theme}",
        *([f"--template={template}"] if template else []),
        f"--VoilaConfiguration.extension_denylist={_DENYLIST}",
    ]


def _wait_listening(proc: subprocess.Popen[bytes], config: AppConfig, timeout: float) -> None:
    """Wait until the server accepts connections.

    No HTTP request: on a single-notebook app that would start a kernel.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"voila exited with code {proc.returncode} before serving the app"
            raise KamsimError(msg)
        with contextlib.suppress(OSError), socket.create_connection(
                (config.ip, config.port), timeout=1):
            return
        time.sleep(0.2)
    msg = f"voila did not start listening on {config.ip}:{config.port} within {timeout:.0f} s"
    raise KamsimError(msg)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop Voilà cleanly (SIGINT shuts its kernels down), then harder if it hangs."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGTERM, 10.0)):
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    proc.wait()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _terminate_as_interrupt() -> Any:
    """Treat SIGTERM like Ctrl+C, so the server and its kernels are stopped cleanly.

    Returns the previous handler (None if not in the main thread, where Python cannot
    install handlers).
    """
    try:
        return signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread
        return None


def _require_voila() -> None:
    if importlib.util.find_spec("voila") is None:
        msg = ('the app needs Voila: pip install "kamsim[app]" (or pip install voila), '
               "then run kamsim app again")
        raise KamsimError(msg)


def run_app(config: AppConfig, *, out: TextIO | None = None,
            startup_timeout: float = 120.0) -> int:
    """Serve ``config.notebooks`` with Voilà until the server stops or ``Ctrl+C``.

    Parameters
    ----------
    config : AppConfig
    out : text stream, optional
        Where the address and hints are written (default ``sys.stdout``).
    startup_timeout : float
        Seconds to wait for the server to listen.

    Returns
    -------
    int
        Exit code: Voilà's, or 0 after ``Ctrl+C``.

    Raises
    ------
    KamsimError
        If Voilà is not installed or the server does not start.
    """
    _require_voila()
    stream = sys.stdout if out is None else out
    with tempfile.TemporaryDirectory(prefix="kamsim-app-") as tmp:
        target = stage_notebooks(config, Path(tmp) / "notebooks")
        share = stage_template(Path(tmp) / "share")
        env = dict(os.environ)
        env["JUPYTER_PATH"] = os.pathsep.join(
            [str(share), *([env["JUPYTER_PATH"]] if env.get("JUPYTER_PATH") else [])])
        env["KAMSIM_APP_DATA"] = str(Path(tmp) / "data")
        proc = subprocess.Popen(voila_command(config, target, template="kamsim"), cwd=tmp,
                                env=env)
        previous = _terminate_as_interrupt()
        try:
            _wait_listening(proc, config, startup_timeout)
            where = "this computer only" if config.is_loopback else \
                f"WARNING: reachable from the network on {config.ip}"
            stream.write(f"kamsim app ({where}): open {config.start_url}\n"
                         "Stop with Ctrl+C.\n")
            stream.flush()
            if config.open_browser:
                webbrowser.open(config.start_url)
            return proc.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            _stop(proc)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _app_command(args: argparse.Namespace) -> int:
    notebooks: tuple[Path, ...] = (
        (find_notebook(args.notebook),) if args.notebook else tuple(explorer_notebooks()))
    if args.no_token and args.token is not None:
        msg = "kamsim app: give --token or --no-token, not both"
        raise KamsimError(msg)
    if args.no_token:
        token = ""
    else:
        token = args.token if args.token is not None else secrets.token_urlsafe(24)
    port = resolve_port(args.port, args.ip) if not args.dry_run else (
        DEFAULT_PORT if args.port is None else args.port)
    try:
        config = AppConfig(notebooks=notebooks, port=port, ip=args.ip, token=token,
                           theme=args.theme, open_browser=not args.no_browser)
    except AssumptionError as err:
        raise KamsimError(f"kamsim app: {err}") from err
    if args.dry_run:
        target = notebooks[0] if len(notebooks) == 1 else notebooks[0].parent
        sys.stdout.write(shlex.join(voila_command(config, target)) + "\n")
        return 0
    return run_app(config)


def add_app_parser(sub: Any) -> None:
    """Add the ``app`` sub-command to the ``kamsim`` argument parser."""
    p = sub.add_parser(
        "app", help="serve the explorer notebooks as a web app (Voila, code hidden)",
        description="Serve the explorer notebooks (notebooks/0*.ipynb) with Voila: prose, "
                    "tables, charts and sliders, no code. Listens on 127.0.0.1 (this "
                    "computer only) and protects the app with a random token.")
    p.add_argument("notebook", nargs="?",
                   help="serve one explorer: a number (02), part of its name (worst_case) "
                        "or a path; default: all explorers with an index page")
    p.add_argument("--port", type=int, default=None,
                   help=f"port (default {DEFAULT_PORT}, or a free one if taken; 0: any free)")
    p.add_argument("--ip", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only; "
                        "another address lets other computers run the notebooks)")
    p.add_argument("--token", help="access token (default: a random one, shown in the URL); "
                   "write --token=VALUE when VALUE starts with -")
    p.add_argument("--no-token", action="store_true",
                   help="no token (only allowed on a loopback address)")
    p.add_argument("--theme", choices=["light", "dark"], default="light")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--dry-run", action="store_true",
                   help="print the voila command and exit")
    p.set_defaults(func=_app_command)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kamsim.apps.voila``: the same as ``kamsim app``."""
    parser = argparse.ArgumentParser(prog="kamsim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_app_parser(sub)
    args = parser.parse_args(["app", *(sys.argv[1:] if argv is None else argv)])
    try:
        code: int = args.func(args)
    except KamsimError as exc:
        sys.stderr.write(f"kamsim: error: {exc}\n")
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
