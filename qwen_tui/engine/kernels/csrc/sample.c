/*
 * The next token from a vocabulary's float32 logits, one call per token, with the rules of
 * qwen_tui/engine/generate/sampling.py (transformers' logits processors, in their order):
 *
 * 1. repetition penalty: each token in `seen` gets x / p where its *original* logit x is
 *    positive, x * p where negative; a token repeated in `seen` is penalized once, as
 *    torch's gather/where/scatter do. The logits themselves are never written.
 * 2. temperature 0 is greedy: the first maximal index, a NaN counting as maximal
 *    (torch.argmax). Otherwise each value is divided by the temperature (in float32).
 * 3. top-k: the k best by a bounded heap (ties: the lower index first); top_k 0 keeps all.
 * 4. softmax and top-p: probabilities in float32 (their sums in double, as torch's CPU
 *    cumsum); a candidate is dropped when the mass of it and every candidate below it is at
 *    most 1 - top_p (float32), the most likely always staying.
 * 5. the draw: the first candidate, best first (by index when neither top-k nor top-p
 *    applies), whose cumulative weight exceeds u times the total, u in [0, 1) given by the
 *    caller.
 *
 * Portable C, no instruction-set variants to choose: one pass over the vocabulary that skips
 * 16 values at a time when none beats the heap's worst (with SSE2, which every x86-64 CPU
 * has; plain C elsewhere).
 * Top-p over the whole vocabulary ranks the best 256, then 2048, ... until the kept mass is
 * inside them (a full heap sort only for a nearly flat distribution).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "sample.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct {
    float v; /* the penalized logit (before temperature), later its softmax weight */
    int i;   /* the token */
} cand;

/* a ranks below b: a smaller value, or the same value at a later index */
static inline int below(cand a, cand b) { return a.v < b.v || (a.v == b.v && a.i > b.i); }

static inline void swap(cand *a, cand *b)
{
    const cand t = *a;
    *a = *b;
    *b = t;
}

/* h is a min-heap by rank: h[0] is the worst candidate kept */
static void sift_up(cand *h, int at)
{
    while (at > 0 && below(h[at], h[(at - 1) / 2])) {
        swap(&h[at], &h[(at - 1) / 2]);
        at = (at - 1) / 2;
    }
}

static void sift_down(cand *h, int size, int at)
{
    for (;;) {
        const int l = 2 * at + 1, r = l + 1;
        int worst = at;
        if (l < size && below(h[l], h[worst]))
            worst = l;
        if (r < size && below(h[r], h[worst]))
            worst = r;
        if (worst == at)
            return;
        swap(&h[at], &h[worst]);
        at = worst;
    }
}

static void offer(cand *h, int *size, int m, cand c)
{
    if (*size < m) {
        h[*size] = c;
        sift_up(h, (*size)++);
    } else if (below(h[0], c)) {
        h[0] = c;
        sift_down(h, m, 0);
    }
}

static inline int is_seen(const uint8_t *bits, int i)
{
    return bits != NULL && (bits[i >> 3] >> (i & 7) & 1);
}

static inline float penalize(float x, float p) { return x < 0 ? x * p : x / p; }

typedef struct {
    const float *x;
    int n;
    uint8_t *bits; /* seen tokens (NULL without a penalty) */
    const int64_t *seen;
    long nseen;
    float penalty;
} logits_t;

static inline float value_at(const logits_t *L, int i)
{
    return is_seen(L->bits, i) ? penalize(L->x[i], L->penalty) : L->x[i];
}

/* whether one of x[0..15] is above worst or NaN: !(x <= worst) */
#if defined(__SSE2__) /* every x86-64 CPU */
static inline int any_above(const float *x, float worst)
{
    const __m128 w = _mm_set1_ps(worst);
    __m128 m = _mm_cmpnle_ps(_mm_loadu_ps(x), w);
    m = _mm_or_ps(m, _mm_cmpnle_ps(_mm_loadu_ps(x + 4), w));
    m = _mm_or_ps(m, _mm_cmpnle_ps(_mm_loadu_ps(x + 8), w));
    m = _mm_or_ps(m, _mm_cmpnle_ps(_mm_loadu_ps(x + 12), w));
    return _mm_movemask_ps(m);
}
#else
static inline int any_above(const float *x, float worst)
{
    int any = 0;
    for (int j = 0; j < 16; j++)
        any |= !(x[j] <= worst);
    return any;
}
#endif

/* The best m (<= n) penalized logits into h, best first; 0, or -1 - i for the first NaN x[i]. */
static long rank_best(logits_t *L, cand *h, int m)
{
    const float *x = L->x;
    int size = 0;
    for (int i0 = 0; i0 < L->n; i0 += 16) {
        const int end = i0 + 16 < L->n ? i0 + 16 : L->n;
        if (size == m && end - i0 == 16 && !any_above(x + i0, h[0].v))
            continue;
        for (int i = i0; i < end; i++) {
            const float v = x[i];
            if (v != v)
                return -1 - (long)i;
            /* an equal value at a later index ranks below: only seen tokens come out of order */
            if ((size == m && v <= h[0].v) || is_seen(L->bits, i))
                continue;
            offer(h, &size, m, (cand){v, i});
        }
    }
    if (L->bits != NULL) {
        for (long s = 0; s < L->nseen; s++) { /* each seen token once: clear its bit ... */
            const int i = (int)L->seen[s];
            if (is_seen(L->bits, i)) {
                L->bits[i >> 3] &= (uint8_t)~(1u << (i & 7));
                offer(h, &size, m, (cand){penalize(x[i], L->penalty), i});
            }
        }
        for (long s = 0; s < L->nseen; s++) /* ... and set it again */
            L->bits[L->seen[s] >> 3] |= (uint8_t)(1u << (L->seen[s] & 7));
    }
    for (int end = size - 1; end > 0; end--) { /* heap sort: best first */
        swap(&h[0], &h[end]);
        sift_down(h, end, 0);
    }
    return 0;
}

/* The first of count weights whose running sum exceeds u times their total (the last
 * positive one if rounding leaves the sum short). */
static int draw(const cand *c, int count, double total, double u)
{
    const double target = u * total;
    double sum = 0;
    int last = 0;
    for (int j = 0; j < count; j++) {
        sum += c[j].v;
        if (c[j].v > 0)
            last = j;
        if (sum > target)
            return j;
    }
    return last;
}

static double sum_of(const cand *c, int count)
{
    double total = 0;
    for (int j = 0; j < count; j++)
        total += c[j].v;
    return total;
}

/* Turn the ranked candidates' values into softmax weights exp(v / t - top); their sum. */
static double weights(cand *c, int count, float t, float top)
{
    double total = 0;
    for (int j = 0; j < count; j++) {
        c[j].v = expf(c[j].v / t - top);
        total += c[j].v;
    }
    return total;
}

/* How many of the ranked candidates top-p keeps, from the whole distribution's sum; 0 when
 * the cut lies beyond them (rank more). */
static int top_p_keeps(const cand *c, int count, double total, float drop, int whole)
{
    double above = 0; /* the mass of the candidates before j */
    for (int j = 1; j <= count; j++) {
        above += c[j - 1].v;
        if ((float)((total - above) / total) <= drop)
            return j;
    }
    return whole ? count : 0;
}

/* top-k and/or top-p: rank the best, then draw among them best first */
static long ranked(logits_t *L, float t, int top_k, double top_p, double u)
{
    const int n = L->n, with_p = top_p < 1.0;
    const float drop = (float)(1.0 - top_p);
    int m = top_k > 0 ? (top_k < n ? top_k : n) : (n < 256 ? n : 256);
    cand *c = NULL;
    double total = 0;
    for (;;) {
        cand *grown = realloc(c, sizeof(cand) * (size_t)m);
        if (grown == NULL) {
            free(c);
            return QK_SAMPLE_NO_MEMORY;
        }
        c = grown;
        if (rank_best(L, c, m) < 0) {
            free(c);
            return QK_SAMPLE_NAN;
        }
        const float top = c[0].v / t;
        if (!isfinite(top)) {
            free(c);
            return QK_SAMPLE_NOT_FINITE;
        }
        if (top_k > 0) { /* softmax over the k kept, top-p among them */
            total = weights(c, m, t, top);
            int keep = m;
            if (with_p) {
                double mass = 0; /* the mass of j and every candidate below it */
                for (int j = m - 1; j > 0; j--) {
                    mass += (float)(c[j].v / total);
                    if ((float)mass > drop)
                        break;
                    keep = j;
                }
            }
            const long token = c[draw(c, keep, sum_of(c, keep), u)].i;
            free(c);
            return token;
        }
        if (total == 0) /* top-p over the whole vocabulary: its sum once */
            for (int i = 0; i < n; i++)
                total += expf(value_at(L, i) / t - top);
        weights(c, m, t, top);
        const int keep = top_p_keeps(c, m, total, drop, m == n);
        if (keep > 0) {
            const long token = c[draw(c, keep, sum_of(c, keep), u)].i;
            free(c);
            return token;
        }
        m = m <= n / 8 ? m * 8 : n;
    }
}

/* neither top-k nor top-p: softmax over the whole vocabulary, drawn in index order */
static long whole(logits_t *L, float t, double u)
{
    cand best;
    if (rank_best(L, &best, 1) < 0)
        return QK_SAMPLE_NAN;
    const float top = best.v / t;
    if (!isfinite(top))
        return QK_SAMPLE_NOT_FINITE;
    cand *c = malloc(sizeof(cand) * (size_t)L->n);
    if (c == NULL)
        return QK_SAMPLE_NO_MEMORY;
    for (int i = 0; i < L->n; i++)
        c[i] = (cand){value_at(L, i), i};
    const long token = draw(c, L->n, weights(c, L->n, t, top), u);
    free(c);
    return token;
}

long qk_sample(const float *logits, int n, const int64_t *seen, long nseen, float penalty,
               float temperature, int top_k, double top_p, double u)
{
    logits_t L = {logits, n, NULL, seen, nseen, penalty};
    if (penalty != 1.0f && nseen > 0) {
        L.bits = calloc(((size_t)n + 7) / 8, 1);
        if (L.bits == NULL)
            return QK_SAMPLE_NO_MEMORY;
        for (long s = 0; s < nseen; s++) {
            if (seen[s] < 0 || seen[s] >= n) {
                free(L.bits);
                return QK_SAMPLE_BAD_ID;
            }
            L.bits[seen[s] >> 3] |= (uint8_t)(1u << (seen[s] & 7));
        }
    }
    long token;
    if (temperature <= 0) {
        cand best;
        const long nan = rank_best(&L, &best, 1);
        token = nan < 0 ? -1 - nan : best.i;
    } else if (top_k > 0 || top_p < 1.0) {
        token = ranked(&L, temperature, top_k, top_p, u);
    } else {
        token = whole(&L, temperature, u);
    }
    free(L.bits);
    return token;
}
