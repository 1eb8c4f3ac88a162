/*
 * kamsim's compiled block kernel (optional; see kamsim/engine/ckernel.py).
 *
 * One call simulates a whole block of paths of plain Monte Carlo churn with full losses,
 * drawing from the block's numpy bit generator through numpy's public C interface
 * (bitgen_t, numpy/random/bitgen.h): the same raw 64-bit outputs, in the same order, as
 * Generator.bit_generator.random_raw. Every result is defined by integer comparisons and
 * IEEE additions, multiplications and divisions done in the same order as the pure-numpy
 * path of kamsim/engine/kernel.py, so the two give bitwise identical results (tested).
 * Compile without floating-point contraction (-ffp-contract=off): no fused multiply-adds.
 *
 * No Python headers: loaded with ctypes, which releases the GIL during the call, so
 * blocks run in parallel on a thread pool.
 */
#include <float.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* numpy/random/bitgen.h (stable since numpy 1.17) */
typedef struct bitgen {
    void *state;
    uint64_t (*next_uint64)(void *st);
    uint32_t (*next_uint32)(void *st);
    double (*next_double)(void *st);
    uint64_t (*next_raw)(void *st);
} bitgen_t;

#define HIST_BINS 4000

/* Bumped whenever kamsim_scan's arguments or results change: ckernel.py refuses a
 * library built from another version (a stale build in a source checkout). */
#define KAMSIM_ABI 1

int64_t kamsim_abi(void) { return KAMSIM_ABI; }

/* Raw 32-bit draws: two per 64-bit output, low half first (random_raw(...).view(uint32)). */
typedef struct {
    bitgen_t *bg;
    uint64_t x;
    int high;
} u32stream;

static inline uint32_t next_u32(u32stream *s)
{
    if (s->high) {
        s->high = 0;
        return (uint32_t)(s->x >> 32);
    }
    s->x = s->bg->next_raw(s->bg->state);
    s->high = 1;
    return (uint32_t)s->x;
}

/* The Gaussian month guess: lsurv[c] = log2(1 - Phi(x)) at x = LS_MIN + c / LS_INV,
 * LS_CELLS + 1 values (kernel.py builds it with the same constants). */
#define LS_CELLS 4096
#define LS_MIN (-8.0)
#define LS_INV (4096.0 / 16.0)

/* log2 of a float >= 1 to about 1e-4 (exponent plus a cubic in the mantissa). */
static inline float fast_log2(float v)
{
    union { float f; uint32_t u; } b = {v};
    float e = (float)(int32_t)((b.u >> 23) - 127);
    b.u = (b.u & 0x7FFFFFu) | 0x3F800000u; /* mantissa in [1, 2) */
    float x = b.f;
    return e + ((0.15824871f * x - 1.05187502f) * x + 3.04788415f) * x - 2.15428300f;
}

/*
 * Simulate one block of n paths x m accounts (sub-blocks of `sub` paths each draw their
 * own ceil(k m / 2) raw 64-bit outputs, as kernel.raw_u32 does). Each path in two passes:
 * the draws and a branch-free screen of the m accounts into a list of candidates, then
 * the candidates' decision months and losses.
 *
 * Independent churn (z == NULL): account i is lost iff r < q_u32[i] (or certain[i]); its
 * decision month is 1 + #{k : T_k <= r} (rows of t: k1 thresholds and a sentinel above
 * every draw), searched from a guess by mscale[i] = 12 / log2(1 - p_i) in rows t32
 * (0, T_1 .. T_k1 clipped to 2^32 - 1, 2^32 - 1: exact for every draw but 2^32 - 1).
 *
 * One-factor Gaussian (z != NULL, one value per path): eps = ndtri((r + 1/2) 2^-32),
 * X = a_i z + s_i eps, lost iff X < thr[i]; month = 1 + #{k : x_ik < X} (rows of xk:
 * -inf, x_i1 .. x_ik1, +inf), searched from a guess by lsurv and mscale. A table of ndtri
 * at the cell edges j 2^-16 (etab, 65,537 values) decides most draws by bounds, with a
 * margin delta; the rest are computed exactly with the ndtri passed in (scipy's, the
 * function the pure-numpy path calls), so every decision is the exact one. The screen
 * before it needs no table of that size: with c = (thr - a z) / s in latent cell v,
 * ubound[v] >= 2^32 Phi(c + 2 delta) bounds the draws that can be lost (2^32 - 1: all).
 *
 * Outputs: n_lost[n], counts[m] (added to), first_stop[n]; d_rev12 / d_gp12 (h x n, if
 * not NULL); with rr_lost != NULL the per-path reductions of kernel.run_blocks too; with
 * ev_idx != NULL each loss's flat index p m + i and stop month (room for n m). Returns
 * the number of losses, or -1 if out of memory.
 */
typedef double (*ndtri_fn)(double, int); /* scipy.special.cython_special.ndtri */

int64_t kamsim_scan(
    bitgen_t *bg, int64_t n, int64_t m, int64_t sub, int64_t h, int64_t k1, int64_t notice,
    const uint32_t *q_u32, const uint8_t *certain, const float *mscale, const uint64_t *t,
    const uint32_t *t32,
    const double *rev, const double *gp,
    const double *z, const double *load, const double *idio, const double *thr,
    const double *tau, const double *beta, const double *xk, const float *lsurv,
    const uint32_t *ubound,
    const double *etab, ndtri_fn ndtri, double delta,
    double *d_rev12, double *d_gp12, int64_t *n_lost, int64_t *counts, int64_t *first_stop,
    const double *months_left, double base_rev_m, double base_gp_m, double below_thr,
    double rev_top, double gp_top, double gp_bottom,
    double *rr_lost, double *rr_gp_lost, double *rev_lost, double *gp_lost,
    int64_t *first_below, int64_t *rev_hist, int64_t *gp_hist, double *rev_sum,
    double *gp_sum, double *work, int64_t *ev_idx, int64_t *ev_stop)
{
    int64_t n_ev = 0;
    const int64_t w = k1 + 1; /* row length of t and xk (the sentinel last) */
    double *dr = work, *dg = work + h;
    const double rev_w = (rev_top - 0.0) / HIST_BINS;
    const double gp_w = (gp_top - gp_bottom) / HIST_BINS;
    uint32_t *cand_r = malloc((size_t)(m > 0 ? m : 1) * sizeof(uint32_t));
    int32_t *cand_i = malloc((size_t)(m > 0 ? m : 1) * sizeof(int32_t));
    int32_t *guess = malloc((size_t)(m > 0 ? m : 1) * sizeof(int32_t));
    double *xlo = malloc((size_t)(m > 0 ? m : 1) * sizeof(double));
    double *xhi = malloc((size_t)(m > 0 ? m : 1) * sizeof(double));
    if (!cand_r || !cand_i || !guess || !xlo || !xhi) {
        free(cand_r);
        free(cand_i);
        free(guess);
        free(xlo);
        free(xhi);
        return -1;
    }
    if (rev_sum) {
        for (int64_t s = 0; s < h; s++) {
            rev_sum[s] = 0.0;
            gp_sum[s] = 0.0;
        }
    }
    for (int64_t p0 = 0; p0 < n; p0 += sub) {
        int64_t k = n - p0 < sub ? n - p0 : sub;
        u32stream st = {bg, 0, 0};
        for (int64_t p = p0; p < p0 + k; p++) {
            int64_t nc = 0, nl = 0, fs = h + 1;
            memset(work, 0, (size_t)(2 * h) * sizeof(double));
            if (z == NULL) {
                for (int64_t i = 0; i < m; i++) { /* screen: branch-free */
                    uint32_t r = next_u32(&st);
                    cand_r[nc] = r;
                    cand_i[nc] = (int32_t)i;
                    nc += (r < q_u32[i]) | certain[i];
                }
                /* a first guess of each month (any guess gives the exact month, a
                 * good one saves steps): 12 log2(1 - U) / log2(1 - p), by a cheap
                 * log2 of the top 24 bits; vectorisable */
                for (int64_t j = 0; j < nc; j++) {
                    float f = fast_log2((float)(int32_t)(0x1000000 - (cand_r[j] >> 8)))
                              - 24.0f;
                    f *= mscale[cand_i[j]];
                    f = f < (float)k1 ? f : (float)k1;
                    guess[j] = f > 0.0f ? (int32_t)f : 0;
                }
                for (int64_t j = 0; j < nc; j++) { /* exact months from the guesses */
                    const uint32_t r = cand_r[j];
                    const int64_t i = cand_i[j];
                    int64_t a = guess[j];
                    if (r != UINT32_MAX) { /* the common case: 32-bit rows */
                        const uint32_t *row = t32 + (w + 1) * i; /* 0, T_1 .. T_k1, max */
                        const uint32_t below = row[a], above = row[a + 1];
                        a += (int64_t)(above <= r) - (int64_t)(below > r);
                        if (below > r) {
                            while (row[a] > r)
                                a--;
                        } else if (above <= r) {
                            while (row[a + 1] <= r)
                                a++;
                        }
                    } else { /* a draw of 2^32 - 1 (thresholds may exceed it) */
                        const uint64_t *row = t + w * i;
                        a = 0;
                        while (row[a] <= r)
                            a++;
                    }
                    a += 1 + notice;
                    guess[j] = (int32_t)(a > h ? h : a); /* now the stop month */
                }
                for (int64_t j = 0; j < nc; j++) {
                    const int64_t i = cand_i[j], s = guess[j];
                    dr[s - 1] += rev[i];
                    dg[s - 1] += gp[i];
                    counts[i]++;
                    fs = s < fs ? s : fs;
                    if (ev_idx) {
                        ev_idx[n_ev] = p * m + i;
                        ev_stop[n_ev] = s;
                    }
                    n_ev++;
                }
                nl = nc;
            } else {
                const double zp = z[p];
                for (int64_t i = 0; i < m; i++) { /* screen: r below a bound of 2^32 Phi(c) */
                    uint32_t r = next_u32(&st);
                    double v = (tau[i] - beta[i] * zp - LS_MIN) * LS_INV;
                    v = v > 0.0 ? v : 0.0;
                    v = v < LS_CELLS - 1 ? v : LS_CELLS - 1;
                    const uint32_t b = ubound[(int32_t)v];
                    cand_r[nc] = r;
                    cand_i[nc] = (int32_t)i;
                    nc += (r < b) | (b == UINT32_MAX);
                }
                int64_t nk = 0; /* the losses among the candidates, with bounds of X */
                for (int64_t j = 0; j < nc; j++) {
                    const uint32_t r = cand_r[j];
                    const int64_t i = cand_i[j];
                    const uint32_t e = r >> 16;
                    const double c = tau[i] - beta[i] * zp, az = load[i] * zp;
                    double lo, hi;
                    if (etab[e] >= c + delta) /* not lost: the lower bound is above */
                        continue;
                    if (etab[e + 1] <= c - delta) { /* lost: the upper bound is below */
                        lo = az + idio[i] * etab[e] - delta;
                        lo = lo > -DBL_MAX ? lo : -DBL_MAX; /* above the row's -inf */
                        hi = az + idio[i] * etab[e + 1] + delta;
                    } else { /* undecided by the bounds: exactly */
                        lo = hi = az + idio[i] * ndtri(((double)r + 0.5) * 0x1p-32, 0);
                        if (!(lo < thr[i]))
                            continue;
                    }
                    cand_r[nk] = r;
                    cand_i[nk] = (int32_t)i;
                    xlo[nk] = lo;
                    xhi[nk] = hi;
                    nk++;
                }
                for (int64_t j = 0; j < nk; j++) { /* month guesses, as for independent */
                    double v = (xlo[j] - LS_MIN) * LS_INV;
                    v = v > 0.0 ? v : 0.0;
                    v = v < LS_CELLS - 1 ? v : LS_CELLS - 1;
                    int32_t c = (int32_t)v;
                    float fr = (float)(v - (double)c);
                    float f = (lsurv[c] + fr * (lsurv[c + 1] - lsurv[c])) * mscale[cand_i[j]];
                    f = f < (float)k1 ? f : (float)k1;
                    guess[j] = f > 0.0f ? (int32_t)f : 0;
                }
                for (int64_t j = 0; j < nk; j++) { /* exact months: #{k : x_k < X} */
                    const int64_t i = cand_i[j];
                    const double *row = xk + (w + 1) * i; /* -inf, x_1 .. x_k1, inf */
                    const double lo = xlo[j], hi = xhi[j];
                    int64_t a = guess[j];
                    const double below = row[a], above = row[a + 1];
                    a += (int64_t)(above < lo) - (int64_t)(!(below < lo));
                    if (!(below < lo)) {
                        while (!(row[a] < lo))
                            a--;
                    } else if (above < lo) {
                        while (row[a + 1] < lo)
                            a++;
                    }
                    if (row[a + 1] < hi) { /* a month boundary inside the bounds */
                        const double x = load[i] * zp
                            + idio[i] * ndtri(((double)cand_r[j] + 0.5) * 0x1p-32, 0);
                        while (!(row[a] < x))
                            a--;
                        while (row[a + 1] < x)
                            a++;
                    }
                    a += 1 + notice;
                    guess[j] = (int32_t)(a > h ? h : a); /* now the stop month */
                }
                for (int64_t j = 0; j < nk; j++) {
                    const int64_t i = cand_i[j], s = guess[j];
                    dr[s - 1] += rev[i];
                    dg[s - 1] += gp[i];
                    counts[i]++;
                    fs = s < fs ? s : fs;
                    if (ev_idx) {
                        ev_idx[n_ev] = p * m + i;
                        ev_stop[n_ev] = s;
                    }
                    n_ev++;
                }
                nl = nk;
            }
            n_lost[p] = nl;
            first_stop[p] = fs;
            if (d_rev12) {
                for (int64_t s = 0; s < h; s++) {
                    d_rev12[s * n + p] = dr[s];
                    d_gp12[s * n + p] = dg[s];
                }
            }
            if (rr_lost) {
                double a = 0.0, b = 0.0, c = 0.0, d = 0.0, cr = 0.0, cg = 0.0;
                int64_t fb = 0;
                for (int64_t s = 0; s < h; s++) {
                    a += dr[s];
                    b += dg[s];
                    c += dr[s] * months_left[s];
                    d += dg[s] * months_left[s];
                    cr += dr[s] / 12.0;
                    cg += dg[s] / 12.0;
                    double rp = base_rev_m - cr, gpp = base_gp_m - cg;
                    if (fb == 0 && gpp < below_thr)
                        fb = s + 1;
                    double v = rp / rev_w;
                    int64_t bin = v >= HIST_BINS - 1 ? HIST_BINS - 1 : (v > 0.0 ? (int64_t)v : 0);
                    rev_hist[s * HIST_BINS + bin]++;
                    v = (gpp - gp_bottom) / gp_w;
                    bin = v >= HIST_BINS - 1 ? HIST_BINS - 1 : (v > 0.0 ? (int64_t)v : 0);
                    gp_hist[s * HIST_BINS + bin]++;
                    rev_sum[s] += rp;
                    gp_sum[s] += gpp;
                }
                rr_lost[p] = a;
                rr_gp_lost[p] = b;
                rev_lost[p] = c;
                gp_lost[p] = d;
                first_below[p] = fb;
            }
        }
    }
    free(cand_r);
    free(cand_i);
    free(guess);
    free(xlo);
    free(xhi);
    return n_ev;
}
