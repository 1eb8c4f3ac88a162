"""The optional compiled block kernel (``_ckernel.c``), loaded with :mod:`ctypes`.

The engine's plain Monte Carlo path for independent and one-factor Gaussian churn with
full losses (the common case) runs a whole block of paths in one C call: draws, decision
months, the per-path monthly losses and, without replacement, the per-path totals and the
monthly histograms, with no intermediate arrays. It draws from the block's own numpy
generator through numpy's public C interface, so its random stream is the one the
pure-numpy path uses, and every result is bitwise identical to the pure-numpy path
(``tests/engine/test_ckernel.py`` compares the two). ``ctypes`` releases the GIL during
the call, so blocks run in parallel on threads.

The kernel is built when kamsim is installed (a C compiler is needed; the build is
optional and kamsim falls back to numpy without it). Set the environment variable
``KAMSIM_PURE_NUMPY=1`` before importing kamsim to use the numpy path anyway.

Examples
--------
>>> from kamsim.engine import ckernel
>>> ckernel.available() in (True, False)
True
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import cython_special

__all__ = [
    "ABI",
    "LIBRARY",
    "available",
    "block_struct",
    "disabled",
    "pointers",
    "replace_block",
    "replace_lost",
    "replace_struct",
    "scan",
    "scan_blocks",
]

#: The interface version this module expects of the library (``KAMSIM_ABI`` in the C file).
ABI = 14


def _find() -> Path | None:
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = here / f"_ckernel{suffix}"
        if p.exists():
            return p
    return None


_I, _D, _P = "i", "d", "p"
#: The fields of ``repl_args`` in ``_ckernel.c``, in order: integers, doubles, pointers.
REPLACE_FIELDS: tuple[tuple[str, str], ...] = (
    *((k, _I) for k in ("n", "h", "lag", "levels", "active")),
    *((k, _P) for k in ("d_rev12", "d_gp12", "first_stop", "keys")),
    ("fixed", _I), ("counts", _P), ("p_lo", _I), ("p_len", _I), ("p_thr", _P),
    ("p_guess", _P), ("row0", _I), ("b_width1", _I), ("b_lo", _P), ("b_thr", _P),
    ("b_guess", _P), ("cap", _I),
    ("cyc_const", _I), ("cyc_nsteps", _I),
    *((k, _P) for k in ("cyc_steps", "cyc_table", "pool")),
    ("pool_n", _I), ("size_const", _D), ("ramp", _P), ("n_ramp", _I), ("gf", _P),
    *((k, _D) for k in ("base_rev_m", "base_gp_m", "rev_below", "margin", "acq_cost",
                        "opening", "fixed_m", "be_thr", "rel_tol", "rev_iw", "gp_iw",
                        "gp_bottom", "cash_iw", "cash_bottom")),
    *((k, _P) for k in ("rev_hist", "gp_hist", "cash_hist", "rev_sum", "gp_sum",
                        "cash_sum", "repl_sum", "first_loss", "months", "wins_total",
                        "first_below", "recovered", "out_of_cash", "rev_gap", "gp_gap",
                        "min_cash", "acq_total", "months_left", "rr_lost", "rr_gp_lost",
                        "rev_lost", "gp_lost", "rev_paths", "cash_paths", "work",
                        "bins")),
)
_CTYPES: dict[str, type[ctypes.c_int64] | type[ctypes.c_double] | type[ctypes.c_void_p]] = {
    _I: ctypes.c_int64, _D: ctypes.c_double, _P: ctypes.c_void_p}


class ReplaceArgs(ctypes.Structure):
    """``repl_args`` of ``_ckernel.c``: everything ``kamsim_replace`` reads and writes."""

    _fields_ = [(k, _CTYPES[t]) for k, t in REPLACE_FIELDS]


def _load() -> ctypes.CDLL | None:
    if os.environ.get("KAMSIM_PURE_NUMPY", "") not in ("", "0"):
        return None
    path = _find()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(str(path))
    except OSError:
        return None
    lib.kamsim_abi.restype = ctypes.c_int64
    lib.kamsim_abi.argtypes = []
    if lib.kamsim_abi() != ABI:
        warnings.warn(f"{path.name} was built from another kamsim version; using the "
                      "pure-numpy engine (rebuild: pip install -e . or "
                      "python setup.py build_ext --inplace)", RuntimeWarning, stacklevel=2)
        return None
    f = lib.kamsim_scan
    f.restype = ctypes.c_int64
    i64, dbl, ptr = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p
    f.argtypes = [ptr, i64, i64, i64, i64, i64, i64,  # bitgen, n, m, sub, h, k1, notice
                  ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr,  # q64 .. t32 rev gp
                  ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr,  # z .. eerr
                  ptr, dbl,  # ndtri, delta
                  ptr, ptr, ptr, ptr, ptr,  # d_rev12, d_gp12, n_lost, counts, first_stop
                  ptr, dbl, dbl, dbl, dbl, dbl, dbl,  # months_left .. gp_bottom
                  ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr,  # rr_lost .. work
                  ptr, ptr, i64, ptr]  # ev_idx, ev_stop, inline_pcg64, repl
    fb = lib.kamsim_scan_blocks
    fb.restype = ctypes.c_int64
    fb.argtypes = [i64, ptr, ptr, i64, i64, i64, i64, i64,  # nb bgs ns m sub h k1 notice
                   ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr,  # q64 .. t32 rev gp
                   ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr,  # zs .. eerr
                   ptr, dbl,  # ndtri, delta
                   ptr, ptr, ptr,  # n_lost, counts, first_stop
                   ptr, dbl, dbl, dbl, dbl, dbl, dbl,  # months_left .. gp_bottom
                   ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr,  # rr_lost .. work
                   i64, ptr]  # inline_pcg64, repl
    lib.kamsim_replace.restype = None
    lib.kamsim_replace.argtypes = [ctypes.POINTER(ReplaceArgs)]
    lib.kamsim_replace_lost.restype = None
    lib.kamsim_replace_lost.argtypes = [ctypes.POINTER(ReplaceArgs), ctypes.c_void_p,
                                        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.kamsim_pcg64_selftest.restype = ctypes.c_int64
    lib.kamsim_pcg64_selftest.argtypes = [ptr, ptr, i64]
    return lib


def _pcg64_selftest(lib: ctypes.CDLL) -> bool:
    """Whether the kernel may step numpy's PCG64 itself (the same stream, checked here)."""
    a, b = (np.random.PCG64(np.random.SeedSequence(20261201)) for _ in range(2))
    a.random_raw(3)  # a state that is not the seed's
    b.random_raw(3)
    return bool(lib.kamsim_pcg64_selftest(a.ctypes.bit_generator.value,
                                          b.ctypes.bit_generator.value, 1000))


#: The loaded library, or ``None`` (not built, or ``KAMSIM_PURE_NUMPY`` set).
LIBRARY = _load()
#: Whether the kernel steps PCG64 generators itself (numpy's layout and stream confirmed at
#: import by drawing the same 1,000 values both ways); else through numpy's ``next_raw``.
INLINE_PCG64 = LIBRARY is not None and _pcg64_selftest(LIBRARY)
#: Tests switch the compiled path off and on with this flag (see :func:`disabled`).
_enabled = [LIBRARY is not None]


def _ndtri_address() -> int:
    capsule = cython_special.__pyx_capi__["ndtri"]
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    name = ctypes.pythonapi.PyCapsule_GetName
    name.restype = ctypes.c_char_p
    name.argtypes = [ctypes.py_object]
    addr = get(capsule, name(capsule))
    assert addr
    return int(addr)


#: scipy's ``ndtri`` (the function ``scipy.special.ndtri`` computes), for the kernel's
#: exact fallback: the pure-numpy path calls the same function.
NDTRI = _ndtri_address() if LIBRARY is not None else 0


def available() -> bool:
    """Whether the compiled kernel is loaded and enabled."""
    return _enabled[0]


class disabled:  # used as ``with ckernel.disabled():``
    """Context manager: the pure-numpy path inside (the tests' reference)."""

    def __enter__(self) -> None:
        self._was = _enabled[0]
        _enabled[0] = False

    def __exit__(self, *exc: object) -> None:
        _enabled[0] = self._was


def _p(a: npt.NDArray[Any] | int | None) -> int | None:
    if a is None or isinstance(a, int):
        return a
    assert a.flags.c_contiguous
    return int(a.ctypes.data)


def pointers(arrays: dict[str, Any]) -> dict[str, Any]:
    """``arrays`` with every array replaced by its address (for many calls on one spec).

    The arrays themselves are kept in the result (key ``"_keep"``), so the addresses stay
    valid as long as it is alive.
    """
    out = {k: (_p(v) if isinstance(v, np.ndarray) else v) for k, v in arrays.items()}
    out["_keep"] = arrays
    return out


def scan(g: np.random.Generator, n: int, sub: int, arrays: dict[str, Any],
         out: dict[str, Any]) -> int:
    """Run ``kamsim_scan`` of ``_ckernel.c`` on ``n`` paths drawn from ``g``.

    ``arrays`` holds the spec's tables (``h``, ``k1``, ``notice`` and arrays); ``out`` the
    output arrays, any of which may be ``None``, and optionally ``"repl"``: a
    :func:`block_struct` whose replacement stage runs on each path as it is drawn. Returns
    the number of losses.
    """
    assert LIBRARY is not None
    a, o = arrays, out
    bg = g.bit_generator
    with bg.lock:
        found = int(LIBRARY.kamsim_scan(
            bg.ctypes.bit_generator.value, n, a["m"], sub, a["h"], a["k1"], a["notice"],
            _p(a["q64"]), _p(a["mscale"]), _p(a["tol"]),
            _p(a["l2tab"]), _p(a["t"]), _p(a["t32"]),
            _p(a["rev"]),
            _p(a["gp"]), _p(a.get("z")), _p(a.get("load")), _p(a.get("idio")),
            _p(a.get("thr")), _p(a.get("tau")), _p(a.get("beta")), _p(a.get("xk")),
            _p(a.get("lsurv")), _p(a.get("gtol")), _p(a.get("ubound")),
            _p(a.get("ecell")), _p(a.get("eerr")), NDTRI,
            a.get("delta", 0.0),
            _p(o.get("d_rev12")), _p(o.get("d_gp12")), _p(o["n_lost"]), _p(o["counts"]),
            _p(o["first_stop"]), _p(a.get("months_left")), a.get("base_rev_m", 0.0),
            a.get("base_gp_m", 0.0), a.get("below_thr", 0.0), a.get("rev_top", 1.0),
            a.get("gp_top", 1.0), a.get("gp_bottom", 0.0), _p(o.get("rr_lost")),
            _p(o.get("rr_gp_lost")), _p(o.get("rev_lost")), _p(o.get("gp_lost")),
            _p(o.get("first_below")), _p(o.get("rev_hist")), _p(o.get("gp_hist")),
            _p(o.get("rev_sum")), _p(o.get("gp_sum")), _p(o["work"]), _p(o.get("ev_idx")),
            _p(o.get("ev_stop")), int(INLINE_PCG64 and type(bg) is np.random.PCG64),
            None if o.get("repl") is None else ctypes.addressof(o["repl"])))
    if found < 0:
        raise MemoryError("the compiled kernel could not allocate its buffers")
    return found


def scan_blocks(gens: list[np.random.Generator], ns: npt.NDArray[np.int64], sub: int,
                arrays: dict[str, Any], out: dict[str, Any]) -> int:
    """``kamsim_scan_blocks`` of ``_ckernel.c``: the reduce mode on a task's blocks at once.

    ``gens`` are the blocks' own generators (fresh, used by nothing else), ``ns`` their
    paths; ``arrays["zs"]`` their factor values in block order (Gaussian). Per-path outputs
    span every block; ``rev_sum`` and ``gp_sum`` are ``blocks x months``. With
    ``out["repl"]`` (a :class:`ReplaceArgs` whose per-path arrays span every block and
    whose monthly sums are ``blocks x months``) each block runs its replacement stage
    instead of the reductions, whose outputs are then not needed.
    """
    assert LIBRARY is not None
    a, o = arrays, out
    bgs = np.array([g.bit_generator.ctypes.bit_generator.value for g in gens],
                   dtype=np.uintp)
    inline = int(INLINE_PCG64 and all(type(g.bit_generator) is np.random.PCG64
                                      for g in gens))
    found = int(LIBRARY.kamsim_scan_blocks(
        len(gens), _p(bgs), _p(ns), a["m"], sub, a["h"], a["k1"], a["notice"],
        _p(a["q64"]), _p(a["mscale"]), _p(a["tol"]), _p(a["l2tab"]),
        _p(a["t"]), _p(a["t32"]), _p(a["rev"]), _p(a["gp"]), _p(a.get("zs")),
        _p(a.get("load")), _p(a.get("idio")), _p(a.get("thr")), _p(a.get("tau")),
        _p(a.get("beta")), _p(a.get("xk")), _p(a.get("lsurv")), _p(a.get("gtol")),
        _p(a.get("ubound")), _p(a.get("ecell")), _p(a.get("eerr")), NDTRI,
        a.get("delta", 0.0), _p(o["n_lost"]), _p(o["counts"]), _p(o["first_stop"]),
        _p(a["months_left"]), a["base_rev_m"], a["base_gp_m"], a["below_thr"],
        a["rev_top"], a["gp_top"], a["gp_bottom"],
        *(_p(o.get(k)) for k in ("rr_lost", "rr_gp_lost", "rev_lost", "gp_lost",
                                 "first_below", "rev_hist", "gp_hist", "rev_sum", "gp_sum")),
        _p(o["work"]), inline,
        None if o.get("repl") is None else ctypes.addressof(o["repl"])))
    if found < 0:
        raise MemoryError("the compiled kernel could not allocate its buffers")
    return found


class ReplaceStruct:
    """A filled ``repl_args`` with the arrays its pointers point into (kept alive)."""

    def __init__(self, args: dict[str, Any]) -> None:
        types = dict(REPLACE_FIELDS)
        missing = set(types) - set(args)
        assert not missing, missing
        self.keep = args
        self.struct = ReplaceArgs(**{k: (_p(v) if types[k] == _P else v)
                                     for k, v in args.items()})


def replace_struct(args: dict[str, Any]) -> ReplaceStruct:
    """``args`` (every name of :data:`REPLACE_FIELDS`) as a :class:`ReplaceStruct`."""
    return ReplaceStruct(args)


def _struct(args: dict[str, Any]) -> ReplaceArgs:
    return ReplaceStruct(args).struct


def replace_lost(args: dict[str, Any], lost: npt.NDArray[np.float64],
                 rr: npt.NDArray[np.float64], wins: npt.NDArray[np.int64],
                 opened: npt.NDArray[np.int64]) -> None:
    """Run ``kamsim_replace_lost`` (``replacement.replace_lost`` on ``n x h`` losses).

    ``args`` maps every name of :data:`REPLACE_FIELDS` to a value (only the process's
    fields are read).
    """
    assert LIBRARY is not None
    LIBRARY.kamsim_replace_lost(ctypes.byref(_struct(args)), _p(lost), _p(rr), _p(wins),
                                _p(opened))


def block_struct(static: ReplaceStruct, block: dict[str, Any]) -> ReplaceArgs:
    """A copy of ``static`` with the fields of ``block`` set (the struct of one block).

    ``block`` holds the per-block fields (``n``, ``keys``, inputs, outputs, buffers);
    every array in it must stay alive while the struct is used (the caller holds them).
    """
    s = ReplaceArgs.from_buffer_copy(static.struct)
    for k, v in block.items():
        setattr(s, k, _p(v) if isinstance(v, np.ndarray) or v is None else v)
    return s


def replace_block(static: ReplaceStruct, block: dict[str, Any]) -> None:
    """``kamsim_replace`` on :func:`block_struct` (losses from ``d_rev12``, ``d_gp12``)."""
    assert LIBRARY is not None
    LIBRARY.kamsim_replace(ctypes.byref(block_struct(static, block)))


