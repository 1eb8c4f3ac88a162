"""The compiled block kernel against the pure-numpy engine, and the exact rules both follow.

The compiled kernel (:mod:`kamsim.engine.ckernel`) must give *bitwise* the results of the
pure-numpy path for every output of :func:`~kamsim.engine.simulate` (and of the event
draws behind risk contributions, partial churn and replacement). Both follow exact rules
stated in :mod:`kamsim.engine.kernel`: the decision month of a 32-bit draw by integer
thresholds, and the Gaussian latent model with ``eps = ndtri((r + 1/2) 2^-32)``; these
rules are checked here against direct formulas, and the table bounds that let the
kernel skip most ``ndtri`` calls are checked to lose no loss.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from kamsim.engine import BLOCK_SIZE, ckernel, simulate
from kamsim.engine import kernel as K
from kamsim.model import ChurnAssumptions, ReplacementAssumptions, Scenario
from kamsim.portfolio.datasets import synthetic_portfolio

needs_c = pytest.mark.skipif(not ckernel.available(),
                             reason="the compiled kernel is not built")


def assert_same_result(a: Any, b: Any) -> None:
    """Every field of two simulation results, bit for bit."""
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, dict):
            assert x.keys() == y.keys(), f.name
            for k in x:
                assert np.asarray(x[k]).tobytes() == np.asarray(y[k]).tobytes(), (f.name, k)
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype, f.name
            assert x.shape == y.shape, f.name
            assert x.tobytes() == y.tobytes(), f.name
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            if f.name == "scenario":
                continue
            assert_same_result(x, y)
        else:
            assert x == y or (x is None and y is None), f.name


def _scenarios() -> dict[str, tuple[Scenario, dict[str, Any]]]:
    pf = synthetic_portfolio(35, rng=7)  # odd: sub-blocks end inside a 64-bit draw
    base = Scenario(portfolio=pf, horizon_months=24, fixed_costs=0.8 * pf.gross_profit.sum(),
                    churn=ChurnAssumptions(correlation=0.0))
    rho = base.with_churn(correlation=0.3)
    seg = pf.column("segment") if pf.has("segment") else None
    out: dict[str, tuple[Scenario, dict[str, Any]]] = {
        "independent": (base, {}),
        "gaussian": (rho, {}),
        "notice 5": (rho.with_churn(notice_months=5), {}),
        "one decision month": (base.with_churn(notice_months=23), {}),
        "kept paths": (rho, {"keep_paths": True}),
        "partial churn": (rho.with_churn(partial_prob=0.4), {}),
        "replacement": (dataclasses.replace(
            rho, opening_cash=0.05 * pf.total_revenue,
            replacement=ReplacementAssumptions(opportunities_per_month=2, win_rate=0.3)),
            {}),
        "high correlation": (base.with_churn(correlation=0.95), {}),
        # 16 months or fewer: histograms counted path by path (else month by month)
        "12 months": (dataclasses.replace(rho, horizon_months=12), {}),
    }
    if seg is not None:
        segs = sorted({str(s) for s in seg})
        out["segment loadings"] = (base.with_churn(
            correlation=0.1, segment_correlation={segs[0]: 0.5}), {})
    return out


SCENARIOS = _scenarios()


@needs_c
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_compiled_and_numpy_paths_are_bitwise_equal(name: str) -> None:
    sc, kw = SCENARIOS[name]
    n = 2 * BLOCK_SIZE + 7
    fast = simulate(sc, n_paths=n, rng=5, progress=False, **kw)
    with ckernel.disabled():
        slow = simulate(sc, n_paths=n, rng=5, progress=False, **kw)
    assert_same_result(fast, slow)
    assert fast.per_path["accounts_lost"].sum() > 0


def _replacement_variants() -> dict[str, tuple[Scenario, dict[str, Any]]]:
    pf = synthetic_portfolio(35, rng=7)
    base = Scenario(portfolio=pf, horizon_months=24, fixed_costs=0.8 * pf.gross_profit.sum(),
                    opening_cash=0.05 * pf.total_revenue,
                    churn=ChurnAssumptions(correlation=0.3))
    ra = ReplacementAssumptions(opportunities_per_month=6, win_rate=0.3,
                                response_lag_months=2, ramp_months=4)

    def with_repl(**kw: Any) -> Scenario:
        return dataclasses.replace(base, replacement=dataclasses.replace(ra, **kw))

    return {
        "bootstrap sizes, gamma cycle": (with_repl(), {}),
        "kept paths": (with_repl(), {"keep_paths": True}),
        "capped, lognormal cycle, growth": (with_repl(
            max_opportunities=9, cycle_distribution="lognormal", organic_growth=0.04), {}),
        "fixed arrivals, fixed size and cycle": (with_repl(
            arrivals="fixed", opportunities_per_month=2.5, cycle_cv=0.0,
            account_size="lognormal", size_median=4e5, size_sigma=0.0,
            max_opportunities=30), {}),
        "win every opportunity, no ramp": (with_repl(
            win_rate=1.0, ramp_shape="none", ramp_months=0), {}),
        "no capacity": (with_repl(opportunities_per_month=0.0), {}),
        "lag beyond the horizon": (with_repl(response_lag_months=30), {}),
        "partial churn (events)": (with_repl().with_churn(partial_prob=0.5), {}),
        "sobol sampler": (with_repl(), {"sampler": "sobol"}),
    }


REPLACEMENT_VARIANTS = _replacement_variants()


@needs_c
@pytest.mark.parametrize("name", list(REPLACEMENT_VARIANTS))
def test_compiled_replacement_is_bitwise_the_numpy_one(name: str) -> None:
    sc, kw = REPLACEMENT_VARIANTS[name]
    assert K.replacement_compiled(K.make_spec(sc, 1, (), bool(kw.get("keep_paths"))))
    n = 2 * BLOCK_SIZE if kw.get("sampler") == "sobol" else 2 * BLOCK_SIZE + 7
    fast = simulate(sc, n_paths=n, rng=9, progress=False, **kw)
    with ckernel.disabled():
        slow = simulate(sc, n_paths=n, rng=9, progress=False, **kw)
    assert_same_result(fast, slow)
    assert fast.per_path["accounts_lost"].sum() > 0
    if sc.replacement is not None and sc.replacement.opportunities_per_month > 0 and (
            sc.replacement.response_lag_months < sc.horizon_months):
        assert fast.per_path["replacement_wins"].sum() > 0  # the stage really ran


def test_lognormal_sizes_with_a_spread_stay_on_numpy() -> None:
    sc, _ = REPLACEMENT_VARIANTS["bootstrap sizes, gamma cycle"]
    assert sc.replacement is not None
    ln = dataclasses.replace(sc, replacement=dataclasses.replace(
        sc.replacement, account_size="lognormal", size_median=3e5, size_sigma=0.8))
    assert not K.replacement_compiled(K.make_spec(ln, 1, (), False))


@needs_c
def test_certain_and_impossible_losses() -> None:
    pf = synthetic_portfolio(9, rng=3)
    sc = Scenario(portfolio=pf, horizon_months=12, churn=ChurnAssumptions(correlation=0.2))
    p = sc.annual_probs().copy()
    p[0], p[1] = 1.0, 0.0
    spec = dataclasses.replace(K.make_spec(sc, 1, (), False))
    # rebuild the spec's probability tables from the edited probabilities
    q = 1.0 - (1.0 - p)
    t, _ = K.month_tables(p, 12, 0)
    spec = dataclasses.replace(
        spec, q=q, q_u32=K.thresholds_u32(q), certain=q >= 1.0, month_t=t,
        month_guess=K.month_guess_scale(p),
        month_t32=np.hstack([np.zeros((p.size, 1), dtype=np.uint32),
                             np.minimum(t, 2**32 - 1).astype(np.uint32)]))
    for copula in ("independent",):
        s = dataclasses.replace(spec, copula=copula)
        ev = K.draw_events(s, 0, 500)
        with ckernel.disabled():
            ev0 = K.draw_events(s, 0, 500)
        assert np.array_equal(ev.account, ev0.account)
        assert np.array_equal(ev.stop, ev0.stop)
        assert np.sum(ev.account == 0) == 500
        assert np.all(ev.stop[ev.account == 0] == 1)
        assert not np.any(ev.account == 1)


def test_decision_month_of_a_draw_is_exact() -> None:
    """1 + #{k : T_k <= r} equals ceil(12 log(1 - r 2^-32) / log(1 - p)) away from ties."""
    g = np.random.default_rng(4)
    p = np.array([1e-4, 0.01, 0.2, 0.5, 0.9, 0.999999])
    t, _ = K.month_tables(p, 60, 0)
    r = g.integers(0, 2**32, size=(20_000, p.size), dtype=np.uint64)
    acc = np.broadcast_to(np.arange(p.size), r.shape).ravel()
    got = K.count_in_rows(t, acc, r.ravel(), strict=False) + 1
    f = 12.0 * np.log1p(-(r.ravel().astype(np.float64) * 2.0**-32)) / np.log1p(-p[acc])
    want = np.clip(np.maximum(np.ceil(f), 1), 1, 60)
    far = np.abs(f - np.round(f)) > 1e-6  # not within rounding of a month boundary
    assert far.mean() > 0.99
    assert np.array_equal(got[far], want[far].astype(np.int64))


def test_gaussian_drawer_follows_the_exact_rule() -> None:
    """Screened numpy draws equal the rule computed for every account-path."""
    pf = synthetic_portfolio(40, rng=2)
    sc = Scenario(portfolio=pf, horizon_months=36, churn=ChurnAssumptions(correlation=0.35))
    spec = K.make_spec(sc, 9, (), False)
    n = 300
    with ckernel.disabled():
        drawn = list(K.draw_gaussian(spec, K.block_rng(spec, 0), n))
    idx = np.concatenate([p0 * 40 + i for p0, i, _, _ in drawn])
    stop = np.concatenate([s for _, _, s, _ in drawn])
    g = K.block_rng(spec, 0)
    z = g.standard_normal(n)
    r = np.concatenate([K.raw_u32(g, k * 40) for k in
                        [min(K.sub_block(40), n - p0) for p0 in range(0, n, K.sub_block(40))]])
    x = (spec.loadings[None, :] * z[:, None]
         + spec.idio[None, :] * special.ndtri((r.reshape(n, 40) + 0.5) * 2.0**-32))
    lost = x < spec.thresholds
    assert np.array_equal(idx, np.flatnonzero(lost))
    assert spec.month_x is not None
    xs = x.ravel()[idx]
    acc = idx % 40
    month = (spec.month_x[acc, :-1] < xs[:, None]).sum(axis=1) + 1
    assert np.array_equal(stop, np.minimum(month, 36))


@settings(max_examples=300, deadline=None)
@given(c=st.floats(-9.0, 9.0), r=st.integers(0, 2**32 - 1))
def test_gaussian_screen_loses_no_loss(c: float, r: int) -> None:
    """Whenever a draw's score is below c + delta, the screen keeps it."""
    ub = K.screen_bounds()
    v = min(max((c - K.LS_MIN) * K.LS_INV, 0.0), K.LS_CELLS - 1)
    b = int(ub[int(v)])
    eps = special.ndtri((r + 0.5) * 2.0**-32)
    if eps < c + K.GAUSS_DELTA:
        assert r < b  # 2^32: every draw


def test_ndtri_table_brackets_every_cell() -> None:
    e = K.ndtri_table()
    j = np.arange(2**16, dtype=np.uint64)
    for off in (0, 1, 2**15, 2**16 - 1):  # draws at the start, middle and end of cells
        eps = special.ndtri(((j << np.uint64(16)) + off + 0.5) * 2.0**-32)
        assert np.all(e[:-1] < eps)
        assert np.all(eps < e[1:])


def test_pure_numpy_switch_in_a_fresh_process() -> None:
    code = "from kamsim.engine import ckernel; print(ckernel.available())"
    env = {**os.environ, "KAMSIM_PURE_NUMPY": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.strip() == "False"


def test_log2_1mu_error_bound_holds_for_every_24_bit_draw() -> None:
    """Exhaustive: all 2^24 values of w = 2^24 - (r >> 8)."""
    top = np.arange(2**24, dtype=np.uint32)
    got = K.log2_1mu(top << np.uint32(8)).astype(np.float64)
    want = np.log2((2.0**24 - top) * 2.0**-24)
    assert np.max(np.abs(got - want)) < K.LOG2_1MU_ERROR


def test_latent_log_survival_error_bound() -> None:
    """64 points in each of the 4,096 cells of the grid, edges included."""
    g = np.random.default_rng(8)
    x = K.LS_MIN + (np.arange(K.LS_CELLS * 64) + np.tile(
        np.r_[0.0, g.random(62), 1.0 - 1e-12], K.LS_CELLS)) / 64 / K.LS_INV
    x = x[x < K.LS_MIN + K.LS_CELLS / K.LS_INV]
    err = np.abs(K.ls_at(x).astype(np.float64) - special.log_ndtr(-x) / np.log(2.0))
    assert np.max(err) < K.LS_ERROR / 2


@settings(max_examples=400, deadline=None)
@given(p=st.floats(1e-6, 0.999), r=st.integers(0, 2**32 - 2), h=st.integers(2, 120))
def test_month_shortcut_is_exact(p: float, r: int, h: int) -> None:
    """Where f is farther than the tolerance from an integer, 1 + floor(f) is the month."""
    pa = np.array([p])
    t, _ = K.month_tables(pa, h, 0)
    q = 1.0 - (1.0 - pa) ** (h / 12.0)
    ms = K.month_guess_scale(pa)
    tol = K.month_tolerance(q, ms, h - 1)
    ra = np.array([r], dtype=np.uint32)
    f = K.log2_1mu(ra)[0] * ms[0]
    exact = K.count_in_rows(t, np.array([0]), ra.astype(np.uint64), strict=False)[0]
    if r < K.thresholds_u32(q)[0]:  # a loss
        fr = f - np.float32(int(f))
        if tol[0] < fr < 1 - tol[0]:
            assert min(int(f), h - 1) == exact


def test_ndtri_cell_chords_are_within_their_error_bounds() -> None:
    """The compiled kernel's 4,096-cell chords of ndtri, at 4,097 points per cell."""
    e32, err = K.ndtri_cells()
    t = np.linspace(0.0, 1.0, 4097)[None, :]
    for cells in (np.arange(1, 40), np.arange(2000, 2100), np.arange(4056, 4095)):
        v = (cells[:, None] + t) / 4096.0
        chord = (e32[cells, None].astype(np.float64)
                 + t * (e32[cells + 1, None].astype(np.float64) - e32[cells, None]))
        assert np.all(np.abs(special.ndtri(v) - chord) <= err[cells, None])
    assert np.isinf(err[0]) or err[0] > 1e30


@needs_c
@pytest.mark.parametrize("kw", [
    {},
    {"max_opportunities": 7, "cycle_distribution": "lognormal"},
    {"arrivals": "fixed", "opportunities_per_month": 1.5, "cycle_cv": 0.0, "win_rate": 1.0},
    {"opportunities_per_month": 0.0},
    {"response_lag_months": 40},
    {"ramp_shape": "s_curve", "ramp_months": 5, "win_rate": 0.05},
])
def test_compiled_replace_lost_is_bitwise_the_numpy_one(kw: dict[str, Any]) -> None:
    """The timelines' ``replace_lost`` (and ``required_capacity``'s) on both paths."""
    from kamsim.engine import replacement as R
    pool = synthetic_portfolio(60, rng=3).revenue
    a = ReplacementAssumptions(**{"opportunities_per_month": 5.0, "win_rate": 0.3,
                                  "response_lag_months": 1, "ramp_months": 3, **kw})
    p = R.replacement_params(a, pool)
    g = np.random.default_rng(11)
    lost = np.cumsum(g.exponential(2e5, size=(700, 30)) * (g.random((700, 30)) < 0.1),
                     axis=1)
    fast = R.replace_lost(p, lost, np.random.default_rng(5))
    with ckernel.disabled():
        slow = R.replace_lost(p, lost, np.random.default_rng(5))
    for f in ("run_rate", "wins", "opportunities"):
        x, y = getattr(fast, f), getattr(slow, f)
        assert x.dtype == y.dtype, f
        assert x.shape == y.shape, f
        assert x.tobytes() == y.tobytes(), f
    if a.opportunities_per_month > 0 and a.response_lag_months < 30:
        assert fast.wins.sum() > 0


@needs_c
def test_compiled_replacement_on_threads_is_bitwise_the_numpy_one() -> None:
    """Threads share the per-spec struct of the replacement stage; every run is the same.

    Each ``simulate`` call makes a new spec, so its first blocks build that struct on both
    threads at once (a race that once freed the arrays a block was using).
    """
    sc, _ = REPLACEMENT_VARIANTS["bootstrap sizes, gamma cycle"]
    n = 6 * BLOCK_SIZE + 11
    with ckernel.disabled():
        ref = simulate(sc, n_paths=n, rng=21, progress=False, threads=2)
    for _ in range(6):
        assert_same_result(simulate(sc, n_paths=n, rng=21, progress=False, threads=2), ref)
