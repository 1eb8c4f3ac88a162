"""Churn-indicator samplers of the Monte Carlo engine other than plain Monte Carlo.

Private helpers of :mod:`kamsim.engine` (``simulate(..., sampler=...)``), on plain arrays:

* ``"sobol"``: randomised quasi-Monte Carlo. Scrambled Sobol' points
  (:class:`scipy.stats.qmc.Sobol`, Owen-type linear matrix scrambling plus a digital
  shift) replace the uniforms of the churn-indicator draws: one dimension per account,
  plus one for the shared factor when churn is correlated (normals through the inverse
  normal CDF). Paths come in ``R`` independent replicates of ``2^k`` points each; each
  replicate has its own scrambling, so replicate estimates are i.i.d. and unbiased and
  their spread gives a standard error (Owen 1997; L'Ecuyer & Lemieux 2002). Several
  factors, the t copula and the double-t model (:func:`sobol_latent_losses`) use one
  dimension per factor, then (t copula) one for the chi-square mixing variable, then one
  per account: the same latent variables, thresholds and marginal uniforms as the plain
  Monte Carlo drawer ``kamsim.engine.kernel.draw_latent``, by inverse CDFs.
* ``"importance"``: importance sampling for deep tails after Glasserman & Li (2005): the
  shared factor is drawn from ``N(mu, 1)`` instead of ``N(0, 1)``, with ``mu`` the
  maximiser of ``F(z) - z^2 / 2``, and given the factor each account is lost with the
  exponentially tilted probability ``p_i(z) e^{theta w_i} / (1 + p_i(z)(e^{theta w_i} - 1))``
  where ``theta = theta_x(z) >= 0`` solves ``psi'(theta, z) = x`` for the threshold ``x``
  (``psi`` the conditional cumulant generating function of the run-rate loss
  ``L = sum_i w_i Y_i``, ``F(z) = psi(theta_x(z), z) - theta_x(z) x``). Each path carries
  the likelihood ratio ``exp(-mu Z + mu^2 / 2 - theta L + psi(theta, Z))``. Given the
  factor and that an account is lost, its decision time is drawn from the original
  conditional law (the latent ``X_i`` from its normal law truncated to
  ``X_i < Phi^-1(q_i)``), so the likelihood ratio involves only the factor and the
  indicators and the revenue/gross-profit losses stay right in law. One path in eight is
  drawn from the original law (a defensive mixture), which bounds the weights by 8 so
  that means and body quantiles stay usable.

References
----------
Glasserman, P. and Li, J. (2005). Importance sampling for portfolio credit risk.
Management Science 51(11), 1643-1656.

Hesterberg, T. (1995). Weighted average importance sampling and defensive mixture
distributions. Technometrics 37(2), 185-194.

Owen, A. B. (1997). Scrambled net variance for integrals of smooth functions. Annals of
Statistics 25(4), 1541-1562.

L'Ecuyer, P. and Lemieux, C. (2002). Recent advances in randomized quasi-Monte Carlo
methods. In Modeling Uncertainty, Kluwer, 419-474.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special
from scipy.stats import qmc

from kamsim.model.copulas import double_t_cdf, t_scale

__all__: list[str] = []

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Sobol' points have this many bits (scipy's default); points are k / 2^bits.
SOBOL_BITS = 30
#: Most dimensions scipy's Sobol' direction numbers support.
SOBOL_MAX_DIM = 21201
#: Extra ``spawn_key`` element of a QMC replicate's scrambling stream: replicate ``r``
#: scrambles with ``SeedSequence(entropy, spawn_key=(*spawn_key, r, QMC_STREAM))``
#: (block ``b`` uses ``(*spawn_key, b)``, its replacement draws ``(*spawn_key, b, 1)``).
QMC_STREAM = 2
#: Logits are capped here (a probability of 1 - 4e-18) so that certain losses stay finite.
LOGIT_CAP = 40.0
#: Every DEFENSIVE_EVERY-th path of a block is drawn from the original law (defensive
#: mixture, Hesterberg 1995), which caps the likelihood ratio at about 8.
DEFENSIVE_EVERY = 8
#: Grid of factor values on which theta_x(z) is solved and interpolated.
Z_GRID = np.linspace(-10.0, 10.0, 801)


# -- quasi-Monte Carlo ----------------------------------------------------------------
def sobol_uniforms(entropy: int | tuple[int, ...], spawn_key: tuple[int, ...],
                   start: int, n: int, rep_paths: int, dim: int) -> FloatArray:
    """Uniforms of paths ``start .. start + n - 1`` (rows) in ``dim`` dimensions.

    Path ``p`` is point ``p % rep_paths`` of replicate ``p // rep_paths``; each replicate
    is an independently scrambled Sobol' sequence, fast-forwarded to the point, so the
    values of a path never depend on how paths are split into blocks or tasks. Points
    are moved to the centre of their ``2^-30`` cell, so they lie strictly inside (0, 1).
    """
    out = np.empty((n, dim))
    p = start
    end = start + n
    while p < end:
        rep, offset = divmod(p, rep_paths)
        k = min(rep_paths - offset, end - p)
        ss = np.random.SeedSequence(entropy=entropy, spawn_key=(*spawn_key, rep, QMC_STREAM))
        engine = qmc.Sobol(dim, scramble=True, bits=SOBOL_BITS,
                           rng=np.random.default_rng(ss))
        if offset:
            engine.fast_forward(offset)
        out[p - start:p - start + k] = engine.random(k)
        p += k
    out += 2.0 ** -(SOBOL_BITS + 1)
    return out


def sobol_losses(u: FloatArray, q: FloatArray, thresholds: FloatArray,
                 loadings: FloatArray, correlated: bool
                 ) -> tuple[IntArray, FloatArray]:
    """Lost (flat path x account index) and each loss's uniform for the decision month."""
    if correlated:
        z = special.ndtri(u[:, 0])
        x = special.ndtri(u[:, 1:])
        x *= np.sqrt(1.0 - loadings * loadings)
        x += z[:, None] * loadings
        idx = np.flatnonzero(x < thresholds)
        return idx, special.ndtr(x.ravel()[idx])
    idx = np.flatnonzero(u < q)
    return idx, u.ravel()[idx]


def latent_sobol_dim(copula: str, accounts: int, factors: int) -> int:
    """Sobol' dimensions of :func:`sobol_latent_losses`: factors (+ mixing) + accounts."""
    if copula == "double_t":
        return 1 + accounts
    return factors + (1 if copula == "t" else 0) + accounts


def unit_t_quantile(u: FloatArray, nu: float) -> FloatArray:
    """Student-t (``nu`` d.o.f.) quantile at ``u``, scaled to unit variance (normal if inf)."""
    if np.isinf(nu):
        return np.asarray(special.ndtri(u), dtype=np.float64)
    return np.asarray(special.stdtrit(nu, u) * t_scale(nu), dtype=np.float64)


def sobol_latent_losses(u: FloatArray, thresholds: FloatArray, a: FloatArray,
                        idio: FloatArray, copula: str, nu: float, nu_idio: float
                        ) -> tuple[IntArray, FloatArray]:
    """Lost indices and marginal uniforms for several factors, the t copula, the double-t.

    ``u`` holds the points (paths x :func:`latent_sobol_dim`); ``a`` the loadings
    (accounts x factors) and ``idio`` the noise coefficients ``b_i``. The latent variable
    is ``X_i = sum_k a_ik Z_k + b_i eps_i``, lost iff ``X_i < thresholds_i``:

    * ``"multifactor"``: ``Z_k = Phi^-1(u_k)``, ``eps_i = Phi^-1(u)``; ``U_i = Phi(X_i)``;
    * ``"t"``: the same times ``sqrt(nu / S)`` with the chi-square ``S`` the upper
      ``u_K`` quantile (``scipy.special.chdtri``); ``U_i = t_nu(X_i)``;
    * ``"double_t"``: one factor and the noise by the Student-t quantile scaled to unit
      variance (:func:`unit_t_quantile`); ``U_i = H_i(X_i)``
      (:func:`kamsim.model.copulas.double_t_cdf`, per distinct loading).

    Returns the flat (path x account) indices of the losses and each loss's ``U_i``.
    """
    m = thresholds.size
    if copula == "double_t":
        load = a[:, 0]
        z = unit_t_quantile(u[:, 0], nu)
        x = unit_t_quantile(u[:, 1:], nu_idio)
        x *= idio
        x += z[:, None] * load
        idx = np.flatnonzero(x < thresholds)
        xv = x.ravel()[idx]
        acc_load = load[idx % m]
        out = np.empty(idx.size)
        for ai in np.unique(acc_load):
            sel = acc_load == ai
            out[sel] = double_t_cdf(xv[sel], float(ai), nu, nu_idio, tol=1e-9)
        return idx, out
    k = a.shape[1]
    t = copula == "t"
    x = special.ndtri(u[:, k + t:])
    x *= idio
    z = special.ndtri(u[:, :k])
    for j in range(k):  # elementwise, not BLAS: the same bits whatever the threads
        x += z[:, j, None] * a[:, j]
    if t:
        x *= np.sqrt(nu / special.chdtri(nu, u[:, k]))[:, None]
    idx = np.flatnonzero(x < thresholds)
    xv = x.ravel()[idx]
    out = special.stdtr(nu, xv) if t else special.ndtr(xv)
    return idx, np.asarray(out, dtype=np.float64)


# -- importance sampling ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ImportancePlan:
    """Parameters of the Glasserman–Li change of measure (losses scaled by ``scale``)."""

    scale: float  # currency per unit of w
    w: FloatArray  # revenue / scale
    x: float  # threshold / scale
    mu: float  # factor mean shift (0 without shared shocks)
    theta_grid: FloatArray  # theta_x(z) on Z_GRID (correlated) or [theta] (independent)
    correlated: bool


def _logits(q: FloatArray, thresholds: FloatArray, loadings: FloatArray,
            z: FloatArray | None) -> FloatArray:
    """Logit of each account's loss probability given the factor (rows: factor values)."""
    if z is None:
        with np.errstate(divide="ignore"):
            ell = np.log(q) - np.log1p(-q)
        return np.asarray(np.minimum(ell, LOGIT_CAP)[None, :], dtype=np.float64)
    s = np.sqrt(1.0 - loadings * loadings)
    c = (thresholds[None, :] - z[:, None] * loadings[None, :]) / s[None, :]
    ell = special.log_ndtr(c) - special.log_ndtr(-c)
    return np.asarray(np.minimum(ell, LOGIT_CAP), dtype=np.float64)


def _psi(ell: FloatArray, w: FloatArray, theta: FloatArray) -> FloatArray:
    """Conditional cumulant generating function ``psi(theta)`` per row."""
    v = ell + theta[:, None] * w[None, :]
    return np.asarray((np.logaddexp(0.0, v) - np.logaddexp(0.0, ell)).sum(axis=1))


def solve_twist(ell: FloatArray, w: FloatArray, x: float) -> FloatArray:
    """``theta >= 0`` solving ``sum_i w_i expit(ell_i + theta w_i) = x`` per row.

    0 where the conditional mean already reaches ``x``. Safeguarded Newton (Newton steps
    inside a bisection bracket), so it converges for every row.
    """
    k = ell.shape[0]

    def mean_at(th: FloatArray) -> tuple[FloatArray, FloatArray]:
        e = special.expit(ell + th[:, None] * w[None, :])
        return (e @ w) - x, (e * (1.0 - e)) @ (w * w)

    lo = np.zeros(k)
    f0, _ = mean_at(lo)
    active = f0 < 0
    hi = np.ones(k)
    for _ in range(60):
        f_hi, _ = mean_at(hi)
        grow = active & (f_hi < 0)
        if not grow.any():
            break
        hi[grow] *= 2.0
    th = np.where(active, 0.5 * hi, 0.0)
    for _ in range(100):
        f, fp = mean_at(th)
        lo = np.where(f < 0, th, lo)
        hi = np.where(f > 0, th, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = th - f / fp
        bad = ~((new > lo) & (new < hi))
        new = np.where(bad, 0.5 * (lo + hi), new)
        new = np.where(active, new, 0.0)
        if np.all(np.abs(new - th) <= 1e-12 * (1.0 + th)):
            th = new
            break
        th = new
    return th


def plan_importance(revenue: FloatArray, q: FloatArray, thresholds: FloatArray,
                    loadings: FloatArray, threshold: float) -> ImportancePlan:
    """Factor shift and twists for the run-rate loss threshold ``threshold`` (currency)."""
    scale = float(revenue.max())
    w = revenue / scale
    x = threshold / scale
    correlated = bool(np.any(loadings > 0))
    if not correlated:
        theta = solve_twist(_logits(q, thresholds, loadings, None), w, x)
        return ImportancePlan(scale=scale, w=w, x=x, mu=0.0, theta_grid=theta,
                              correlated=False)
    ell = _logits(q, thresholds, loadings, Z_GRID)
    theta = solve_twist(ell, w, x)

    def objective(z: float) -> float:
        zz = np.array([z])
        e = _logits(q, thresholds, loadings, zz)
        th = solve_twist(e, w, x)
        return float(-(_psi(e, w, th)[0] - th[0] * x - 0.5 * z * z))

    values = _psi(ell, w, theta) - theta * x - 0.5 * Z_GRID**2
    i = int(np.argmax(values))
    step = float(Z_GRID[1] - Z_GRID[0])
    lo = float(Z_GRID[max(i - 1, 0)])
    hi = float(Z_GRID[min(i + 1, Z_GRID.size - 1)])
    mu = float(Z_GRID[i])
    if hi - lo > step / 2:
        opt = optimize.minimize_scalar(objective, bounds=(lo, hi), method="bounded",
                                       options={"xatol": 1e-6})
        if opt.success and -opt.fun >= values[i]:
            mu = float(opt.x)
    return ImportancePlan(scale=scale, w=w, x=x, mu=mu, theta_grid=theta, correlated=True)


def importance_draws(plan: ImportancePlan, g: np.random.Generator, n: int,
                     q: FloatArray, thresholds: FloatArray, loadings: FloatArray
                     ) -> tuple[IntArray, FloatArray, FloatArray]:
    """Draw ``n`` paths under the Glasserman–Li measure.

    Returns the lost (flat path x account) indices, each loss's uniform for the decision
    month (its law given the factor and the loss is the original one) and each path's
    likelihood ratio. Paths ``0, 8, 16, ...`` of the block are *defensive*: drawn from the
    original law. With ``a`` the block's defensive share and ``r`` the Glasserman–Li
    likelihood ratio of a path (whichever law drew it), its weight is the mixture
    likelihood ratio ``1 / (a + (1 - a) / r) <= 1 / a`` (deterministic-mixture weights,
    unbiased). Draw order: factor normals (correlated only), then one uniform per
    account-path, from ``g``.
    """
    m = q.size
    w = plan.w
    defensive = np.arange(n) % DEFENSIVE_EVERY == 0
    share = float(defensive.mean())
    if plan.correlated:
        z = np.where(defensive, 0.0, plan.mu) + g.standard_normal(n)
        ell = _logits(q, thresholds, loadings, z)
        theta = np.interp(z, Z_GRID, plan.theta_grid)
        log_lr = -plan.mu * z + 0.5 * plan.mu**2
    else:
        z = np.zeros(n)
        ell = np.broadcast_to(_logits(q, thresholds, loadings, None), (n, m))
        theta = np.full(n, plan.theta_grid[0])
        log_lr = np.zeros(n)
    v = ell + theta[:, None] * w[None, :]
    p_tilt = special.expit(v)
    p_tilt[defensive] = special.expit(ell[defensive])
    psi = (np.logaddexp(0.0, v) - np.logaddexp(0.0, ell)).sum(axis=1)
    u = g.random((n, m))
    idx = np.flatnonzero(u < p_tilt)
    path, account = np.divmod(idx, m)
    loss = np.bincount(path, w[account], minlength=n)
    log_lr += psi - theta * loss
    # mixture likelihood ratio 1 / (a + (1 - a) / r), computed stably from log r
    lr = 1.0 / (share + (1.0 - share) * np.exp(-np.minimum(log_lr, 700.0)))
    # uniform for the decision month, from the original law given the factor and loss:
    # V = U / p_tilt is uniform on (0, 1) given the loss; the latent X_i is N(a z, s^2)
    # truncated to X_i < threshold_i, i.e. X_i = a z + s Phi^-1(V P(loss | z)).
    v_cond = u.ravel()[idx] / p_tilt.ravel()[idx]
    if plan.correlated:
        a = loadings[account]
        s = np.sqrt(1.0 - a * a)
        zp = z[path]
        p_cond = special.ndtr((thresholds[account] - a * zp) / s)
        month_u = special.ndtr(a * zp + s * special.ndtri(v_cond * p_cond))
        month_u = np.minimum(month_u, q[account])  # rounding guard: Phi(X_i) < q_i
    else:
        month_u = v_cond * q[account]
    return idx, month_u, lr


# -- importance sampling for several factors and the t copula -----------------------------
@dataclass(frozen=True, slots=True)
class LatentImportancePlan:
    """Change of measure for several factors and/or the t copula.

    Factors ``Z ~ N(mu, I)`` instead of ``N(0, I)`` (a mean shift to the design point),
    the t copula's chi-square ``S ~ Gamma(nu / 2, 2 lam)`` instead of ``Gamma(nu / 2, 2)``
    (``lam < 1``: more of the bad years in which ``S`` is small), and given them the
    Glasserman–Li exponential twist of the conditionally independent losses.
    """

    scale: float
    w: FloatArray
    x: float
    mu: FloatArray  # (K,) factor mean shift
    lam: float  # chi-square scale factor (1 = none; Gaussian copula)
    nu: float  # inf for the Gaussian copula


def _latent_logits(c: FloatArray, a: FloatArray, b: FloatArray, z: FloatArray,
                   g: FloatArray) -> FloatArray:
    """Logits of the conditional loss probabilities given factors ``z`` (n, K), scale ``g``."""
    arg = (c[None, :] * g[:, None] - z @ a.T) / b[None, :]
    ell = special.log_ndtr(arg) - special.log_ndtr(-arg)
    return np.asarray(np.clip(ell, -LOGIT_CAP, LOGIT_CAP), dtype=np.float64)


def plan_latent_importance(revenue: FloatArray, thresholds: FloatArray, a: FloatArray,
                           idio: FloatArray, nu: float, threshold: float
                           ) -> LatentImportancePlan:
    """Design point of the outer variables, by maximising the twisted tail bound.

    Maximises ``psi(theta) - theta x + log phi(z) + log f_S(s)`` over the factors ``z``
    and (t copula) the chi-square ``s``, the large-deviations estimate of the density of
    the outer variables given the breach (Glasserman and Li 2005); the shift is its
    maximiser and ``lam = s* / nu`` puts the tilted chi-square's mean at ``s*``.
    """
    scale = float(revenue.max())
    w = revenue / scale
    x = threshold / scale
    k = a.shape[1]
    t = np.isfinite(nu)

    def unpack(v: FloatArray) -> tuple[FloatArray, FloatArray, float]:
        z = v[None, :k]
        if t:
            s = float(nu * np.exp(v[k]))
            return z, np.array([np.sqrt(s / nu)]), s
        return z, np.ones(1), 0.0

    def objective(v: FloatArray) -> float:
        z, g, s = unpack(v)
        ell = _latent_logits(thresholds, a, idio, z, g)
        th = solve_twist(ell, w, x)
        val = float(_psi(ell, w, th)[0] - th[0] * x - 0.5 * float(np.sum(z * z)))
        if t:  # log density of S at s, plus the log-Jacobian of s = nu exp(v)
            val += float((nu / 2 - 1) * np.log(s) - s / 2) + float(np.log(s))
        return -val

    best: FloatArray | None = None
    best_val = np.inf
    starts = [np.zeros(k + t)]
    for j in range(k):  # start along each factor, where most losses load
        st = np.zeros(k + t)
        st[j] = -2.0
        starts.append(st)
    if t:
        st = np.zeros(k + 1)
        st[k] = -1.0
        starts.append(st)
    for st in starts:
        r = optimize.minimize(objective, st, method="Nelder-Mead",
                              options={"xatol": 1e-4, "fatol": 1e-8, "maxiter": 2000})
        if r.fun < best_val:
            best, best_val = np.asarray(r.x, dtype=np.float64), float(r.fun)
    assert best is not None
    mu = best[:k].copy()
    lam = float(np.exp(best[k])) if t else 1.0
    return LatentImportancePlan(scale=scale, w=w, x=x, mu=mu, lam=min(lam, 1.0), nu=nu)


def latent_importance_draws(plan: LatentImportancePlan, g: np.random.Generator, n: int,
                            q: FloatArray, thresholds: FloatArray, a: FloatArray,
                            idio: FloatArray
                            ) -> tuple[IntArray, FloatArray, FloatArray]:
    """Draw ``n`` paths under the latent change of measure (as :func:`importance_draws`).

    Draw order: factor normals (``n x K``), then (t copula) ``n`` gamma variables, then one
    uniform per account-path. Paths ``0, 8, 16, ...`` are defensive (original law); the
    weights are the deterministic-mixture likelihood ratios ``1 / (a + (1 - a) / r)``.
    Each loss's uniform for the decision month follows its original law given the outer
    variables and the loss.
    """
    m = q.size
    k = a.shape[1]
    w = plan.w
    t = np.isfinite(plan.nu)
    defensive = np.arange(n) % DEFENSIVE_EVERY == 0
    share = float(defensive.mean())
    shift = np.where(defensive[:, None], 0.0, plan.mu[None, :])
    z = shift + g.standard_normal((n, k))
    log_lr = -(z @ plan.mu) + 0.5 * float(plan.mu @ plan.mu)
    if t:
        lam = np.where(defensive, 1.0, plan.lam)
        s = g.gamma(plan.nu / 2, 2.0 * lam)
        # f(s) / f_lam(s) with f_lam = Gamma(nu/2, 2 lam)
        log_lr += (plan.nu / 2) * np.log(plan.lam) - 0.5 * s * (1.0 - 1.0 / plan.lam)
        gs = np.sqrt(s / plan.nu)
    else:
        gs = np.ones(n)
    ell = _latent_logits(thresholds, a, idio, z, gs)
    theta = solve_twist(ell, w, plan.x)  # the proposal's twist, whichever law drew the path
    tilted = ell + theta[:, None] * w[None, :]
    psi = (np.logaddexp(0.0, tilted) - np.logaddexp(0.0, ell)).sum(axis=1)
    p_draw = special.expit(np.where(defensive[:, None], ell, tilted))
    u = g.random((n, m))
    idx = np.flatnonzero(u < p_draw)
    path, account = np.divmod(idx, m)
    loss = np.bincount(path, w[account], minlength=n)
    log_lr += psi - theta * loss
    lr = 1.0 / (share + (1.0 - share) * np.exp(-np.minimum(log_lr, 700.0)))
    # decision-month uniform: latent X = a.z + b Phi^-1(V P(loss | outer)), scaled by 1/g
    v_cond = u.ravel()[idx] / p_draw.ravel()[idx]
    acc_b = idio[account]
    mean = np.einsum("pk,pk->p", z[path], a[account])
    p_cond = special.ndtr((thresholds[account] * gs[path] - mean) / acc_b)
    latent = mean + acc_b * special.ndtri(np.clip(v_cond * p_cond, 1e-300, 1.0))
    xval = latent / gs[path]
    month_u = special.stdtr(plan.nu, xval) if t else special.ndtr(xval)
    month_u = np.minimum(month_u, q[account])  # rounding guard: F(X_i) < q_i
    return idx, np.asarray(month_u, dtype=np.float64), lr
