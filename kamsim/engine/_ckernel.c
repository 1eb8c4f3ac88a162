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
#define KAMSIM_ABI 14

int64_t kamsim_abi(void) { return KAMSIM_ABI; }

/* numpy's PCG64 state (numpy/random/src/pcg64/pcg64.h, built with 128-bit integers). Used
 * directly, one step inlined, only where kamsim_pcg64_selftest has confirmed the layout
 * and the stream on this numpy; otherwise through the bit generator's next_raw. */
typedef struct {
    __uint128_t state, inc;
} pcg64_random_t;

typedef struct {
    pcg64_random_t *pcg_state;
    int has_uint32;
    uint32_t uinteger;
} pcg64_state;

static inline uint64_t pcg64_next(__uint128_t *state, __uint128_t inc)
{
    const __uint128_t mult =
        ((__uint128_t)0x2360ED051FC65DA4ULL << 64) | (__uint128_t)0x4385DF649FCCF645ULL;
    *state = *state * mult + inc;
    const uint64_t x = (uint64_t)(*state >> 64) ^ (uint64_t)*state;
    const unsigned rot = (unsigned)(*state >> 122);
    return (x >> rot) | (x << ((-rot) & 63u));
}

/* Raw 32-bit draws: two per 64-bit output, low half first (random_raw(...).view(uint32)). */
typedef struct {
    bitgen_t *bg;
    pcg64_random_t *pcg; /* NULL: call bg->next_raw */
    __uint128_t state, inc; /* a copy of *pcg while the stream runs */
    uint64_t x;
    int high;
} u32stream;

static void stream_open(u32stream *s, bitgen_t *bg, int inline_pcg64)
{
    s->bg = bg;
    s->pcg = inline_pcg64 ? ((pcg64_state *)bg->state)->pcg_state : NULL;
    s->state = 0;
    s->inc = 0;
    if (s->pcg) {
        s->state = s->pcg->state;
        s->inc = s->pcg->inc;
    }
    s->x = 0;
    s->high = 0;
}

static void stream_close(u32stream *s)
{
    if (s->pcg)
        s->pcg->state = s->state;
}

static inline uint32_t next_u32(u32stream *s)
{
    if (s->high) {
        s->high = 0;
        return (uint32_t)(s->x >> 32);
    }
    s->x = s->pcg ? pcg64_next(&s->state, s->inc) : s->bg->next_raw(s->bg->state);
    s->high = 1;
    return (uint32_t)s->x;
}

/* 1 if n raw draws of the inlined PCG64 on b equal n draws of a's next_raw (a and b seeded
 * alike) and leave the same state. */
int64_t kamsim_pcg64_selftest(bitgen_t *a, bitgen_t *b, int64_t n)
{
    u32stream s;
    stream_open(&s, b, 1);
    for (int64_t k = 0; k < n; k++) {
        uint64_t want = a->next_raw(a->state);
        uint64_t got = pcg64_next(&s.state, s.inc);
        if (want != got)
            return 0;
    }
    stream_close(&s);
    pcg64_random_t *pa = ((pcg64_state *)a->state)->pcg_state;
    pcg64_random_t *pb = ((pcg64_state *)b->state)->pcg_state;
    return pa->state == pb->state && pa->inc == pb->inc;
}

/* The Gaussian month guess: lsurv[c] = log2(1 - Phi(x)) at x = LS_MIN + c / LS_INV,
 * LS_CELLS + 1 values (kernel.py builds it with the same constants). */
#define LS_CELLS 4096
#define LS_MIN (-8.0)
#define LS_INV (4096.0 / 16.0)

/* lsurv interpolated at x in [LS_MIN, LS_MIN + LS_CELLS / LS_INV) (kernel.ls_at does the
 * same float operations). */
static inline float ls_at(double x, const float *lsurv)
{
    const double v = (x - LS_MIN) * LS_INV;
    const int32_t c = (int32_t)v;
    const float fr = (float)(v - (double)c);
    return lsurv[c] + fr * (lsurv[c + 1] - lsurv[c]);
}

/* log2(1 - U) of a draw from its top 24 bits: log2(w) - 24 with w = 2^24 - (r >> 8), by
 * its exponent and a table of log2(1 + j / 1024) (l2tab, 1,025 values) interpolated in
 * the mantissa. kernel.log2_1mu does the same float operations (its error is measured
 * exhaustively by a test). */
static inline float log2_1mu(uint32_t r, const float *l2tab)
{
    union { float f; uint32_t u; } b = {(float)(int32_t)(0x1000000u - (r >> 8))};
    const int32_t e = (int32_t)(b.u >> 23) - 127 - 24;
    const uint32_t j = (b.u >> 13) & 1023u;
    const float fr = (float)(int32_t)(b.u & 0x1FFFu) * 0x1p-13f;
    return (float)e + (l2tab[j] + fr * (l2tab[j + 1] - l2tab[j]));
}

/*
 * Simulate one block of n paths x m accounts (sub-blocks of `sub` paths each draw their
 * own ceil(k m / 2) raw 64-bit outputs, as kernel.raw_u32 does). Each path in two passes:
 * the draws and a branch-free screen of the m accounts into a list of candidates, then
 * the candidates' decision months and losses.
 *
 * Independent churn (z == NULL): account i is lost iff r < q64[i] (2^32 if certain); its
 * decision month is 1 + #{k : T_k <= r} (rows of t: k1 thresholds and a sentinel above
 * every draw), searched from a guess by mscale[i] = 12 / log2(1 - p_i) in rows t32
 * (0, T_1 .. T_k1 clipped to 2^32 - 1, 2^32 - 1: exact for every draw but 2^32 - 1).
 *
 * One-factor Gaussian (z != NULL, one value per path): eps = ndtri((r + 1/2) 2^-32),
 * X = a_i z + s_i eps, lost iff X < thr[i]; month = 1 + #{k : x_ik < X} (rows of xk:
 * -inf, x_i1 .. x_ik1, +inf), searched from a guess by lsurv and mscale. A table of ndtri
 * on 4,096 cells (ecell, the chord of each cell within eerr) bounds each draw's latent
 * value, with a margin delta; what the bounds cannot decide is computed exactly with the
 * ndtri passed in (scipy's, the function the pure-numpy path calls), so every decision
 * is the exact one. The screen
 * before it needs no table of that size: with c = (thr - a z) / s in latent cell v,
 * ubound[v] >= 2^32 Phi(c + 2 delta) bounds the draws that can be lost (2^32: all).
 *
 * Outputs: n_lost[n], counts[m] (added to), first_stop[n]; d_rev12 / d_gp12 (h x n, if
 * not NULL); with rr_lost != NULL the per-path reductions of kernel.run_blocks too; with
 * ev_idx != NULL each loss's flat index p m + i and stop month (room for n m). Returns
 * the number of losses, or -1 if out of memory.
 */
typedef double (*ndtri_fn)(double, int); /* scipy.special.cython_special.ndtri */

/* Add n paths' histogram bins b (one month) to that month's counts row. */
static inline void count_bins(int32_t *row, const uint16_t *b, int64_t n)
{
    for (int64_t p = 0; p < n; p++)
        row[b[p]]++;
}

/* The histogram bin of v (in bins from the histogram's bottom): floor(v) clipped to
 * [0, HIST_BINS - 1], NaN in bin 0 (kernel.hist_index). Two selects, no branch. */
static inline int64_t hist_bin(double v)
{
    v = v > 0.0 ? v : 0.0;
    v = v < HIST_BINS - 1 ? v : HIST_BINS - 1;
    return (int64_t)v;
}

/* The per-path reductions of kernel.run_blocks over the months (reduce mode), for a
 * group of up to MGROUP consecutive paths at a time: each path's losses summed, weighted
 * by the years left, its monthly revenue and gross profit, their histogram bins, the
 * first month below break-even, and the monthly sums over paths. The same operations in
 * the same order for every path as one path at a time; the monthly sums are added path
 * by path in path order. Laid out month by month across the group so that the compiler
 * can run the paths of a group side by side (SIMD). */
#define MGROUP 16
typedef struct {
    int64_t h, n;
    const double *months_left;
    double base_rev_m, base_gp_m, below_thr, rev_iw, gp_iw, gp_bottom;
    double *rr_lost, *rr_gp_lost, *rev_lost, *gp_lost;
    int64_t *first_below;
    int32_t *rev_hist, *gp_hist;
    uint16_t *bins; /* 2 x h x n, or NULL: count into the histograms as they come */
    double *rev_sum, *gp_sum;
} month_args;

/* Paths p0 .. p0 + k - 1 (k <= MGROUP); dr, dg: h x MGROUP, their annual revenue and
 * gross profit lost from each month (column j: path p0 + j). */
static void month_group(const month_args *o, int64_t p0, int64_t k, const double *dr,
                        const double *dg)
{
    const int64_t h = o->h, n = o->n;
    const double base_rev_m = o->base_rev_m, base_gp_m = o->base_gp_m, below_thr = o->below_thr;
    const double rev_iw = o->rev_iw, gp_iw = o->gp_iw, gp_bottom = o->gp_bottom;
    double a[MGROUP] = {0}, b[MGROUP] = {0}, c[MGROUP] = {0}, d[MGROUP] = {0};
    double cr[MGROUP] = {0}, cg[MGROUP] = {0}, rp[MGROUP], gpp[MGROUP];
    int32_t fb[MGROUP] = {0}, rb[MGROUP], gb[MGROUP];
    for (int64_t s = 0; s < h; s++) {
        const double ml = o->months_left[s];
        const int32_t s1 = (int32_t)(s + 1);
        const double *x = dr + s * MGROUP, *y = dg + s * MGROUP;
        for (int64_t j = 0; j < MGROUP; j++) { /* every lane: the unused ones are ignored */
            a[j] += x[j];
            b[j] += y[j];
            c[j] += x[j] * ml;
            d[j] += y[j] * ml;
            cr[j] += x[j] * (1.0 / 12.0);
            cg[j] += y[j] * (1.0 / 12.0);
            rp[j] = base_rev_m - cr[j];
            gpp[j] = base_gp_m - cg[j];
            fb[j] = (fb[j] == 0 && gpp[j] < below_thr) ? s1 : fb[j];
            double v = (rp[j] - 0.0) * rev_iw;
            v = v > 0.0 ? v : 0.0;
            rb[j] = (int32_t)(v < HIST_BINS - 1 ? v : HIST_BINS - 1);
            v = (gpp[j] - gp_bottom) * gp_iw;
            v = v > 0.0 ? v : 0.0;
            gb[j] = (int32_t)(v < HIST_BINS - 1 ? v : HIST_BINS - 1);
        }
        double rs = o->rev_sum[s], gs = o->gp_sum[s];
        for (int64_t j = 0; j < k; j++) {
            rs += rp[j];
            gs += gpp[j];
        }
        o->rev_sum[s] = rs;
        o->gp_sum[s] = gs;
        if (o->bins) { /* counted month by month at the end */
            for (int64_t j = 0; j < k; j++) {
                o->bins[s * n + p0 + j] = (uint16_t)rb[j];
                o->bins[(h + s) * n + p0 + j] = (uint16_t)gb[j];
            }
        } else {
            for (int64_t j = 0; j < k; j++) {
                o->rev_hist[s * HIST_BINS + rb[j]]++;
                o->gp_hist[s * HIST_BINS + gb[j]]++;
            }
        }
    }
    for (int64_t j = 0; j < k; j++) {
        o->rr_lost[p0 + j] = a[j];
        o->rr_gp_lost[p0 + j] = b[j];
        o->rev_lost[p0 + j] = c[j];
        o->gp_lost[p0 + j] = d[j];
        o->first_below[p0 + j] = fb[j];
    }
}

/* The arguments of the replacement stage (kamsim_replace and friends, below). */
typedef struct repl_args {
    /* sizes of the block */
    int64_t n, h, lag, levels, active; /* active: rate > 0, cap > 0 and levels >= 1 */
    /* inputs, months x paths (h x n) and per path */
    const double *d_rev12, *d_gp12;
    const int64_t *first_stop;
    const uint64_t *keys;
    /* opportunities per level: fixed counts, or Poisson thresholds; wins: Binomial rows */
    int64_t fixed;
    const int64_t *counts;
    int64_t p_lo, p_len;
    const uint64_t *p_thr;
    const uint32_t *p_guess; /* 4096: #{p_thr < b 2^20}, where to start counting */
    int64_t row0, b_width1;
    const int64_t *b_lo;
    const uint64_t *b_thr;
    const uint32_t *b_guess; /* rows x 256: #{row's thresholds < b 2^24} */
    int64_t cap; /* < 0: no cap */
    /* sales cycle: a constant, or integer CDF steps (h + 1, then a sentinel above every
     * draw) with #{steps < b 2^20} for each of the 4,096 buckets b of a draw's top 12 bits */
    int64_t cyc_const, cyc_nsteps;
    const uint64_t *cyc_steps;
    const int16_t *cyc_table;
    /* sizes: a pool to resample, or a constant */
    const double *pool;
    int64_t pool_n;
    double size_const;
    const double *ramp;
    int64_t n_ramp;
    /* economics */
    const double *gf;
    double base_rev_m, base_gp_m, rev_below, margin, acq_cost, opening, fixed_m, be_thr,
        rel_tol;
    double rev_iw, gp_iw, gp_bottom, cash_iw, cash_bottom;
    /* outputs */
    int32_t *rev_hist, *gp_hist, *cash_hist;
    double *rev_sum, *gp_sum, *cash_sum, *repl_sum; /* h each, added to */
    int64_t *first_loss, *months, *wins_total, *first_below;
    uint8_t *recovered, *out_of_cash;
    double *rev_gap, *gp_gap, *min_cash, *acq_total;
    const double *months_left; /* h: years lost from month s (the loss totals below) */
    double *rr_lost, *rr_gp_lost, *rev_lost, *gp_lost;
    double *rev_paths, *cash_paths; /* n x h, or NULL */
    double *work;                   /* 10 h + 8 doubles (replace_one: 8 h + 4, then a column) */
    uint16_t *bins;                 /* 3 x h x n: histogram bins, counted month by month */
} repl_args;

/* The replacement stage (below), run on each path as kamsim_scan finishes it. */
struct repl_args;
static void replace_one(const struct repl_args *a, int64_t p, const double *dr_in,
                        const double *dg_in, int64_t first);
static void replace_hist(const struct repl_args *a);

int64_t kamsim_scan(
    bitgen_t *bg, int64_t n, int64_t m, int64_t sub, int64_t h, int64_t k1, int64_t notice,
    const uint64_t *q64, const float *mscale, const float *tol,
    const float *l2tab, const uint64_t *t,
    const uint32_t *t32,
    const double *rev, const double *gp,
    const double *z, const double *load, const double *idio, const double *thr,
    const double *tau, const double *beta, const double *xk, const float *lsurv,
    const float *gtol,
    const uint64_t *ubound,
    const float *ecell, const float *eerr, ndtri_fn ndtri, double delta,
    double *d_rev12, double *d_gp12, int64_t *n_lost, int64_t *counts, int64_t *first_stop,
    const double *months_left, double base_rev_m, double base_gp_m, double below_thr,
    double rev_top, double gp_top, double gp_bottom,
    double *rr_lost, double *rr_gp_lost, double *rev_lost, double *gp_lost,
    int64_t *first_below, int32_t *rev_hist, int32_t *gp_hist, double *rev_sum,
    double *gp_sum, double *work, int64_t *ev_idx, int64_t *ev_stop, int64_t inline_pcg64,
    const struct repl_args *repl)
{
    u32stream st;
    stream_open(&st, bg, (int)inline_pcg64);
    int64_t n_ev = 0;
    const int64_t w = k1 + 1; /* row length of t and xk (the sentinel last) */
    const double rev_iw = HIST_BINS / (rev_top - 0.0), gp_iw = HIST_BINS / (gp_top - gp_bottom);
    uint32_t *cand_r = malloc((size_t)(m > 0 ? m : 1) * sizeof(uint32_t));
    int32_t *cand_i = malloc((size_t)(m > 0 ? m : 1) * sizeof(int32_t));
    int32_t *guess = malloc((size_t)(m > 0 ? m : 1) * sizeof(int32_t));
    double *xlo = malloc((size_t)(m > 0 ? m : 1) * sizeof(double));
    double *xhi = malloc((size_t)(m > 0 ? m : 1) * sizeof(double));
    /* reduce mode over more than 16 months (the two histograms beyond 512 KB, past what
     * the L2 cache holds): the histogram bins of every path, counted month by month at
     * the end; otherwise counted as they come */
    const int by_month = rr_lost && h > 16;
    uint16_t *bins = by_month ? malloc((size_t)(2 * h * n) * sizeof(uint16_t)) : NULL;
    double *grp = rr_lost ? calloc((size_t)(2 * h * MGROUP), sizeof(double)) : NULL;
    /* reduce mode alone: each path adds its losses straight into its column of the group
     * (stride ds), which is cleared after each group */
    const int grouped = rr_lost && !d_rev12 && !repl;
    const int64_t ds = grouped ? MGROUP : 1;
    const month_args mg = {h, n, months_left, base_rev_m, base_gp_m, below_thr, rev_iw, gp_iw,
                           gp_bottom, rr_lost, rr_gp_lost, rev_lost, gp_lost, first_below,
                           rev_hist, gp_hist, bins, rev_sum, gp_sum};
    if (!cand_r || !cand_i || !guess || !xlo || !xhi || (by_month && !bins)
        || (rr_lost && !grp)) {
        n_ev = -1; /* out of memory */
        goto done;
    }
    if (rev_sum) {
        for (int64_t s = 0; s < h; s++) {
            rev_sum[s] = 0.0;
            gp_sum[s] = 0.0;
        }
    }
    for (int64_t p0 = 0; p0 < n; p0 += sub) {
        int64_t k = n - p0 < sub ? n - p0 : sub;
        st.high = 0; /* each sub-block starts a fresh 64-bit draw */
        for (int64_t p = p0; p < p0 + k; p++) {
            int64_t nc = 0, nl = 0, fs = h + 1;
            /* this path's losses by month: its column of the group (reduce mode), else
             * the work rows */
            const int64_t g = p % MGROUP;
            double *dr = grouped ? grp + g : work, *dg = grouped ? grp + h * MGROUP + g : work + h;
            if (!grouped)
                memset(work, 0, (size_t)(2 * h) * sizeof(double));
            if (z == NULL) {
                for (int64_t i = 0; i < m; i++) { /* screen: branch-free */
                    uint32_t r = next_u32(&st);
                    cand_r[nc] = r;
                    cand_i[nc] = (int32_t)i;
                    nc += (uint64_t)r < q64[i];
                }
                /* months: f = 12 log2(1 - U) / log2(1 - p) from the top 24 bits; where f
                 * is farther than tol[i] from an integer the month is 1 + floor(f)
                 * (kernel.month_tolerance bounds the error of f), else it is searched
                 * in the thresholds from that guess */
                for (int64_t j = 0; j < nc; j++) {
                    const uint32_t r = cand_r[j];
                    const int64_t i = cand_i[j];
                    float f = log2_1mu(r, l2tab) * mscale[i];
                    f = f < (float)(k1 + 1) ? f : (float)(k1 + 1); /* f >= 0 */
                    const float fl = (float)(int32_t)f, fr = f - fl;
                    int64_t a;
                    if (fr > tol[i] && fr < 1.0f - tol[i]) {
                        a = (int64_t)fl;
                        a = a < k1 ? a : k1;
                    } else if (r != UINT32_MAX) { /* the 32-bit rows */
                        const uint32_t *row = t32 + (w + 1) * i; /* 0, T_1 .. T_k1, max */
                        a = (int64_t)fl;
                        a = a < k1 ? a : k1;
                        while (row[a] > r)
                            a--;
                        while (row[a + 1] <= r)
                            a++;
                    } else { /* a draw of 2^32 - 1 (thresholds may exceed it) */
                        const uint64_t *row = t + w * i;
                        a = 0;
                        while (row[a] <= r)
                            a++;
                    }
                    a += 1 + notice;
                    guess[j] = (int32_t)(a > h ? h : a); /* the stop month */
                }
                nl = nc;
            } else {
                const double zp = z[p];
                for (int64_t i = 0; i < m; i++) { /* screen: r below a bound of 2^32 Phi(c) */
                    uint32_t r = next_u32(&st);
                    double v = (tau[i] - beta[i] * zp - LS_MIN) * LS_INV;
                    v = v > 0.0 ? v : 0.0;
                    v = v < LS_CELLS - 1 ? v : LS_CELLS - 1;
                    const uint64_t b = ubound[(int32_t)v];
                    cand_r[nc] = r;
                    cand_i[nc] = (int32_t)i;
                    nc += (uint64_t)r < b;
                }
                int64_t nk = 0; /* the losses among the candidates, with bounds of X */
                for (int64_t j = 0; j < nc; j++) {
                    const uint32_t r = cand_r[j];
                    const int64_t i = cand_i[j];
                    const uint32_t e = r >> 20;
                    const double az = load[i] * zp;
                    double lo, hi;
                    int exact = e == 0 || e == 4095;
                    if (!exact) { /* eps by the chord of its cell, within eerr[e] */
                        const double fr = ((double)(r & 0xFFFFFu) + 0.5) * 0x1p-20;
                        const double e0 = ecell[e], e1 = ecell[e + 1];
                        const double eh = e0 + fr * (e1 - e0), er = (double)eerr[e] + delta;
                        lo = az + idio[i] * (eh - er);
                        hi = az + idio[i] * (eh + er);
                        if (!(hi < thr[i])) {
                            if (lo >= thr[i])
                                continue; /* not lost */
                            exact = 1;
                        }
                    }
                    if (exact) {
                        lo = hi = az + idio[i] * ndtri(((double)r + 0.5) * 0x1p-32, 0);
                        if (!(lo < thr[i]))
                            continue;
                    }
                    lo = lo > -DBL_MAX ? lo : -DBL_MAX; /* above the row's -inf */
                    cand_r[nk] = r;
                    cand_i[nk] = (int32_t)i;
                    xlo[nk] = lo;
                    xhi[nk] = hi;
                    nk++;
                }
                /* months: #{k : x_k < X}. With f(x) = 12 log2(1 - Phi(x)) / log2(1 - p)
                 * from the table lsurv (error bounded by gtol[i], kernel.py), X in
                 * [lo, hi] gives f(X) in [f(lo) - tol, f(hi) + tol]; where that holds
                 * no integer the month is known, else it is searched in the row */
                for (int64_t j = 0; j < nk; j++) {
                    const int64_t i = cand_i[j];
                    const double lo = xlo[j], hi = xhi[j];
                    const float ms = mscale[i], tl = gtol[i];
                    int64_t a = -1;
                    float fa = 0.0f;
                    if (lo >= LS_MIN && hi < LS_MIN + LS_CELLS / LS_INV) {
                        fa = ls_at(lo, lsurv) * ms - tl;
                        float fb = ls_at(hi, lsurv) * ms + tl;
                        fb = fb < (float)(k1 + 1) ? fb : (float)(k1 + 1);
                        if (fa >= (float)k1)
                            a = k1;
                        else if (fa > 0.0f && (int32_t)fa == (int32_t)fb)
                            a = (int32_t)fa;
                        else if (fb < 1.0f) /* f(X) >= 0 always */
                            a = 0;
                    }
                    if (a < 0) { /* search the row from the guess */
                        const double *row = xk + (w + 1) * i; /* -inf, x_1 .. x_k1, inf */
                        a = fa > 0.0f ? (fa < (float)k1 ? (int32_t)fa : k1) : 0;
                        while (!(row[a] < lo))
                            a--;
                        while (row[a + 1] < lo)
                            a++;
                        if (row[a + 1] < hi) { /* a month boundary inside the bounds */
                            const double x = load[i] * zp
                                + idio[i] * ndtri(((double)cand_r[j] + 0.5) * 0x1p-32, 0);
                            while (!(row[a] < x))
                                a--;
                            while (row[a + 1] < x)
                                a++;
                        }
                    }
                    a += 1 + notice;
                    guess[j] = (int32_t)(a > h ? h : a); /* the stop month */
                }
                nl = nk;
            }
            for (int64_t j = 0; j < nl; j++) { /* the losses, in account order */
                const int64_t i = cand_i[j], s = guess[j];
                dr[(s - 1) * ds] += rev[i];
                dg[(s - 1) * ds] += gp[i];
                counts[i]++;
                fs = s < fs ? s : fs;
                if (ev_idx) {
                    ev_idx[n_ev] = p * m + i;
                    ev_stop[n_ev] = s;
                }
                n_ev++;
            }
            n_lost[p] = nl;
            first_stop[p] = fs;
            if (repl) /* the replacement stage of this path, from its losses by month */
                replace_one(repl, p, dr, dg, fs);
            if (d_rev12) {
                for (int64_t s = 0; s < h; s++) {
                    d_rev12[s * n + p] = dr[s];
                    d_gp12[s * n + p] = dg[s];
                }
            }
            if (rr_lost) { /* the group's reductions once it is complete */
                if (!grouped)
                    for (int64_t s = 0; s < h; s++) {
                        grp[s * MGROUP + g] = dr[s];
                        grp[(h + s) * MGROUP + g] = dg[s];
                    }
                if (g == MGROUP - 1 || p == n - 1) {
                    month_group(&mg, p - g, g + 1, grp, grp + h * MGROUP);
                    memset(grp, 0, (size_t)(2 * h * MGROUP) * sizeof(double));
                }
            }
        }
    }
    stream_close(&st);
    if (repl)
        replace_hist(repl);
    if (bins) /* one month of one histogram at a time: a 16 KB row stays in cache */
        for (int64_t s = 0; s < 2 * h; s++)
            count_bins(s < h ? rev_hist + s * HIST_BINS : gp_hist + (s - h) * HIST_BINS,
                       bins + s * n, n);
done:
    free(grp);
    free(bins);
    free(cand_r);
    free(cand_i);
    free(guess);
    free(xlo);
    free(xhi);
    return n_ev;
}

/*
 * kamsim_scan in reduce mode on nb blocks of a task, one after the other: block b draws
 * from bgs[b] (its own generator) ns[b] paths; zs holds every block's factor values in
 * block order (NULL: independent). Per-path outputs are written at the block's offset in
 * arrays of sum(ns) paths, the monthly sums in rows b of nb x h arrays; counts and the
 * histograms are added to. The same results as one kamsim_scan call per block. With
 * repl != NULL each block runs its replacement stage instead of the reductions (repl's
 * per-path arrays span every block, its monthly sums are nb x h; no kept paths; the
 * reduction arguments are not used). Returns the number of losses, or -1 if out of
 * memory.
 */
int64_t kamsim_scan_blocks(
    int64_t nb, bitgen_t **bgs, const int64_t *ns, int64_t m, int64_t sub, int64_t h,
    int64_t k1, int64_t notice,
    const uint64_t *q64, const float *mscale, const float *tol,
    const float *l2tab, const uint64_t *t, const uint32_t *t32,
    const double *rev, const double *gp,
    const double *zs, const double *load, const double *idio, const double *thr,
    const double *tau, const double *beta, const double *xk, const float *lsurv,
    const float *gtol, const uint64_t *ubound,
    const float *ecell, const float *eerr, ndtri_fn ndtri, double delta,
    int64_t *n_lost, int64_t *counts, int64_t *first_stop,
    const double *months_left, double base_rev_m, double base_gp_m, double below_thr,
    double rev_top, double gp_top, double gp_bottom,
    double *rr_lost, double *rr_gp_lost, double *rev_lost, double *gp_lost,
    int64_t *first_below, int32_t *rev_hist, int32_t *gp_hist, double *rev_sum,
    double *gp_sum, double *work, int64_t inline_pcg64, const struct repl_args *repl)
{
    int64_t off = 0, total = 0;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t n = ns[b];
        struct repl_args rb; /* the replacement stage of this block: its rows, its sums */
        if (repl) {
            rb = *repl;
            rb.n = n;
            rb.keys += off;
            rb.first_loss += off;
            rb.months += off;
            rb.wins_total += off;
            rb.first_below += off;
            rb.recovered += off;
            rb.out_of_cash += off;
            rb.rev_gap += off;
            rb.gp_gap += off;
            rb.min_cash += off;
            rb.acq_total += off;
            rb.rr_lost += off;
            rb.rr_gp_lost += off;
            rb.rev_lost += off;
            rb.gp_lost += off;
            rb.rev_sum += b * h;
            rb.gp_sum += b * h;
            rb.cash_sum += b * h;
            rb.repl_sum += b * h;
            rb.rev_paths = rb.cash_paths = NULL; /* paths are kept block by block */
        }
        const int r = repl != NULL; /* the replacement stage does the reductions */
        const int64_t e = kamsim_scan(
            bgs[b], n, m, sub, h, k1, notice, q64, mscale, tol, l2tab, t, t32,
            rev, gp, zs ? zs + off : NULL, load, idio, thr, tau, beta, xk, lsurv, gtol,
            ubound, ecell, eerr, ndtri, delta, NULL, NULL, n_lost + off, counts,
            first_stop + off, months_left, base_rev_m, base_gp_m, below_thr, rev_top,
            gp_top, gp_bottom, r ? NULL : rr_lost + off, r ? NULL : rr_gp_lost + off,
            r ? NULL : rev_lost + off, r ? NULL : gp_lost + off,
            r ? NULL : first_below + off, r ? NULL : rev_hist, r ? NULL : gp_hist,
            r ? NULL : rev_sum + b * h, r ? NULL : gp_sum + b * h, work, NULL, NULL,
            inline_pcg64, r ? &rb : NULL);
        if (e < 0)
            return e;
        total += e;
        off += n;
    }
    return total;
}

/* ---------------------------------------------------------------------------------------
 * The replacement stage of a block (kamsim/engine/replacement.py: replace_lost, and
 * kernel.py: with_replacement and the per-block reductions of run_blocks), path by path.
 * Every step mirrors the numpy code, in the same order of IEEE operations.
 */


static inline uint64_t mix64(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
}

#define SPLITMIX_GAMMA 0x9E3779B97F4A7C15ULL

/* One path of replace_lost: effort month by month, the wins of each new level, added to
 * wbm (run-rate by first-order month, h + 2) and wins (h + 2); returns the opportunities
 * opened (admitted) over the path's effort. wbm and wins must be zero. */
static int64_t replace_path(const repl_args *a, uint64_t key, const double *lost, double *wbm,
                            int64_t *wins)
{
    const int64_t h = a->h;
    /* the tables in locals: the stores to wbm and wins cannot then make them reload */
    const uint64_t *const steps = a->cyc_steps;
    const int16_t *const cyc_table = a->cyc_table;
    const double *const pool = a->pool;
    const uint64_t pool_n = (uint64_t)a->pool_n;
    int64_t opened_total = 0;
    double won = 0.0;
    int64_t effort = 0, before = 0;
    for (int64_t t = 1; t <= h; t++) {
        won += wbm[t - 1];
        const int64_t tk = t - a->lag;
        if (tk < 1)
            continue;
        const double known = lost[tk - 1];
        if (!(known > won + a->rel_tol * (known < 0 ? -known : known)))
            continue;
        const int64_t e = ++effort;
        const uint64_t lev = (uint64_t)e << 32;
        const uint64_t r = mix64(key + lev * SPLITMIX_GAMMA);
        int64_t opened = a->counts ? a->counts[e - 1] : a->p_lo;
        if (!a->fixed) { /* from the bucket's first candidate: exact, few steps */
            const uint64_t rl = r & 0xFFFFFFFFULL;
            int64_t c = a->p_guess[rl >> 20];
            while (c < a->p_len && a->p_thr[c] <= rl)
                c++;
            opened += c;
        }
        int64_t adm = opened;
        if (a->cap >= 0) {
            const int64_t room = a->cap - before;
            adm = room < 0 ? 0 : (room < opened ? room : opened);
            before += opened;
        }
        opened_total += adm;
        const int64_t room = h - t; /* a win orders within the horizon iff cycle <= room */
        if (room < 1 || (a->cyc_const > 0 && a->cyc_const > room))
            continue; /* none of this level's wins can (their draws are not needed) */
        const int64_t row = adm - a->row0;
        const uint64_t *bt = a->b_thr + row * a->b_width1; /* padded with 2^32 */
        const uint64_t rh = r >> 32;
        int64_t c = a->b_guess[row * 256 + (rh >> 24)];
        while (bt[c] <= rh)
            c++;
        const int64_t w = a->b_lo[row] + c;
        if (a->cyc_const > 0) { /* every win orders cyc_const months on (<= room) */
            const int64_t f = a->cyc_const + t;
            for (int64_t i = 1; i <= w; i++) {
                const uint64_t x = mix64(key + (lev + (uint64_t)i) * SPLITMIX_GAMMA);
                wbm[f] += pool ? pool[((x >> 32) * pool_n) >> 32] : a->size_const;
            }
            wins[f] += w;
            continue;
        }
        /* cycle = max(1, #{steps < rc}) <= room  iff  steps[room] >= rc */
        const uint64_t lim = steps[room];
        for (int64_t i = 1; i <= w; i++) {
            const uint64_t x = mix64(key + (lev + (uint64_t)i) * SPLITMIX_GAMMA);
            const uint32_t rc = (uint32_t)(x & 0xFFFFFFFFULL);
            if (rc > lim)
                continue;
            /* whole months to the first order: max(1, #{steps < rc}), searchsorted(steps,
             * rc, side="left") of replacement._cycle_months, counted on from the first
             * step of rc's bucket (an 8 KB table that stays in the first-level cache; a
             * bucket rarely holds a step: almost always one comparison) */
            int64_t mo = cyc_table[rc >> 20];
            while (steps[mo] < (uint64_t)rc)
                mo++;
            const int64_t f = (mo < 1 ? 1 : mo) + t;
            wbm[f] += pool ? pool[((x >> 32) * pool_n) >> 32] : a->size_const;
            wins[f]++;
        }
    }
    return opened_total;
}

/* The ramped run-rate rr (h) from the cumulative wins cum (h): rr[s] = sum over k <= s of
 * ramp[k] cum[s - k], added in k order from 0.0 (replace_lost: rr[:, k:] += step *
 * cum[:, :h - k] for each step in turn). Months before the first win, where cum is 0.0,
 * are skipped: their terms are +-0.0 and leave rr unchanged (rr is never -0.0). */
static void ramp_up(const repl_args *a, const double *cum, double *rr)
{
    const int64_t h = a->h;
    int64_t s0 = 0;
    while (s0 < h && cum[s0] == 0.0)
        s0++;
    for (int64_t s = 0; s < h; s++)
        rr[s] = 0.0;
    for (int64_t k = 0; k < a->n_ramp; k++) {
        const double step = a->ramp[k];
        if (step == 0.0)
            continue;
        for (int64_t s = s0 + k; s < h; s++)
            rr[s] += step * cum[s - k];
    }
}

/* replace_lost of kamsim/engine/replacement.py on n paths of lost run-rate lost (n x h):
 * the ramped run-rate rr and the wins by first-order month (n x h each) and the
 * opportunities opened (n). */
void kamsim_replace_lost(const repl_args *a, const double *lost, double *rr, int64_t *wins_out,
                         int64_t *opened)
{
    const int64_t n = a->n, h = a->h;
    double *wbm = a->work, *cum = wbm + h + 2;
    int64_t *wins = (int64_t *)(cum + h);
    for (int64_t p = 0; p < n; p++) {
        memset(wbm, 0, (size_t)(h + 2) * sizeof(double));
        memset(wins, 0, (size_t)(h + 2) * sizeof(int64_t));
        opened[p] = a->active ? replace_path(a, a->keys[p], lost + p * h, wbm, wins) : 0;
        double c = 0.0;
        for (int64_t s = 0; s < h; s++) {
            c = s ? c + wbm[s + 1] : wbm[1];
            cum[s] = c;
        }
        ramp_up(a, cum, rr + p * h);
        for (int64_t s = 0; s < h; s++)
            wins_out[p * h + s] = wins[s + 1];
    }
}

/* One path p of kamsim_replace: dr, dg (h) are the annual revenue and gross profit lost
 * from each stop month on (a column of d_rev12 / d_gp12), first its first stop month. */
static void replace_one(const struct repl_args *a, int64_t p, const double *dr_in, const double *dg_in,
                        int64_t first)
{
    const int64_t n = a->n, h = a->h;
    (void)n;
    double *wbm = a->work;          /* h + 2: run-rate won by first-order month */
    double *lost = wbm + h + 2;     /* h: annual run-rate lost by month */
    double *lm = lost + h;          /* h: monthly revenue lost by month */
    double *cg = lm + h;            /* h: monthly gross profit lost by month */
    double *cum = cg + h;           /* h */
    double *rev = cum + h;          /* h */
    double *cash = rev + h;         /* h */
    int64_t *wins = (int64_t *)(cash + h); /* h + 2 */
    double *rrv = (double *)(wins + h + 2); /* h: the ramped run-rate won */
    {
        double sr = 0.0, sg = 0.0, ta = 0.0, tb = 0.0, tc = 0.0, td = 0.0;
        for (int64_t s = 0; s < h; s++) {
            const double dr = dr_in[s], dg = dg_in[s];
            ta += dr; /* d_rev12.sum(axis=0) etc. of kernel.run_blocks: month by month */
            tb += dg;
            tc += dr * a->months_left[s];
            td += dg * a->months_left[s];
            sr = s ? sr + dr * (1.0 / 12.0) : dr * (1.0 / 12.0);
            sg = s ? sg + dg * (1.0 / 12.0) : dg * (1.0 / 12.0);
            lm[s] = sr;
            cg[s] = sg;
            lost[s] = sr * 12.0;
        }
        a->rr_lost[p] = ta;
        a->rr_gp_lost[p] = tb;
        a->rev_lost[p] = tc;
        a->gp_lost[p] = td;
        memset(wbm, 0, (size_t)(h + 2) * sizeof(double));
        memset(wins, 0, (size_t)(h + 2) * sizeof(int64_t));
        if (a->active)
            replace_path(a, a->keys[p], lost, wbm, wins);
        /* ramp-up, then the monthly paths */
        double c = 0.0;
        for (int64_t s = 0; s < h; s++) {
            c = s ? c + wbm[s + 1] : wbm[1];
            cum[s] = c;
        }
        ramp_up(a, cum, rrv);
        double s_cash = 0.0, min_cash = 0.0, gap_r = 0.0, gap_g = 0.0, acq_sum = 0.0;
        int64_t last = 0, fb = 0, n_wins = 0;
        for (int64_t s = 0; s < h; s++) {
            const double rr = rrv[s];
            const double repl_m = rr / 12.0;
            const double rv = (a->base_rev_m - lm[s]) * a->gf[s] + repl_m;
            const double gpv = (a->base_gp_m - cg[s]) * a->gf[s] + repl_m * a->margin;
            rev[s] = rv;
            if (rv < a->rev_below)
                last = s + 1;
            const double acq = (double)wins[s + 1] * a->acq_cost;
            n_wins += wins[s + 1];
            const double x = (gpv - a->fixed_m) - acq;
            s_cash = s ? s_cash + x : x;
            const double cv = a->opening + s_cash;
            cash[s] = cv;
            if (s == 0 || cv < min_cash)
                min_cash = cv;
            const double dr = a->base_rev_m - rv, dg = a->base_gp_m - gpv;
            const double mr = (dr >= 0.0 || dr != dr) ? dr : 0.0;
            const double mg = (dg >= 0.0 || dg != dg) ? dg : 0.0;
            gap_r = s ? gap_r + mr : mr;
            gap_g = s ? gap_g + mg : mg;
            acq_sum = s ? acq_sum + acq : acq;
            if (fb == 0 && gpv < a->be_thr)
                fb = s + 1;
            a->bins[s * n + p] = (uint16_t)hist_bin((rv - 0.0) * a->rev_iw);
            a->bins[(h + s) * n + p] = (uint16_t)hist_bin((gpv - a->gp_bottom) * a->gp_iw);
            a->bins[(2 * h + s) * n + p] =
                (uint16_t)hist_bin((cv - a->cash_bottom) * a->cash_iw);
            a->rev_sum[s] += rv;
            a->gp_sum[s] += gpv;
            a->cash_sum[s] += cv;
            a->repl_sum[s] += rr;
            if (a->rev_paths)
                a->rev_paths[p * h + s] = rv;
            if (a->cash_paths)
                a->cash_paths[p * h + s] = cv;
        }
        const int has_loss = first <= h;
        a->first_loss[p] = has_loss ? first : 0;
        const int64_t mo = last - first + 1;
        a->months[p] = has_loss ? (mo > 0 ? mo : 0) : 0;
        a->recovered[p] = !(has_loss && last == h);
        if (h == 0 || a->opening < min_cash)
            min_cash = a->opening;
        a->min_cash[p] = min_cash;
        a->out_of_cash[p] = min_cash < 0.0;
        a->rev_gap[p] = gap_r;
        a->gp_gap[p] = gap_g;
        a->wins_total[p] = n_wins;
        a->acq_total[p] = acq_sum;
        a->first_below[p] = fb;
    }
}

/* The histograms of kamsim_replace, one month of one histogram at a time (a 16 KB row
 * stays in cache), after every path of the block. */
static void replace_hist(const struct repl_args *a)
{
    const int64_t n = a->n, h = a->h;
    int32_t *hs[3] = {a->rev_hist, a->gp_hist, a->cash_hist};
    for (int64_t k = 0; k < 3; k++)
        for (int64_t s = 0; s < h; s++)
            count_bins(hs[k] + s * HIST_BINS, a->bins + (k * h + s) * n, n);
}

void kamsim_replace(const repl_args *a)
{
    const int64_t n = a->n, h = a->h;
    double *col = a->work + 8 * h + 8; /* 2 h: this path's column of d_rev12, d_gp12 */
    for (int64_t p = 0; p < n; p++) {
        for (int64_t s = 0; s < h; s++) {
            col[s] = a->d_rev12[s * n + p];
            col[h + s] = a->d_gp12[s * n + p];
        }
        replace_one(a, p, col, col + h, a->first_stop[p]);
    }
    replace_hist(a);
}
