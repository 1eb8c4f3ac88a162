"""The version, from one place.

The number is ``version`` in ``pyproject.toml``, read from the installed package's metadata.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kamsim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree, not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
