/*
 * Qwen3.5's Gated DeltaNet between its projections, in float32, as eval/float_deltanet.py
 * (transformers 5's Qwen3_5GatedDeltaNet) computes it:
 *
 *   conv    the causal depthwise conv1d over q|k|v, the K-1 inputs before the step's first row
 *           held in a window (oldest first), then SiLU; the window moves on by the step's rows
 *   gates   q and k L2-normed per key head (x / sqrt(sum x^2 + 1e-6)), q times 1/sqrt(dk);
 *           beta = sigmoid(b); g = A * softplus(a + dt_bias), A = -exp(A_log) (log decay <= 0)
 *   rule    per value head h (key head h / (Hv/Hk)), its state S [dk, dv], token by token:
 *           S *= exp(g); S += k (beta (v - S^T k))^T; out = S^T q
 *   norm    each head's output RMS-normed, times w, times SiLU(z)
 *
 * A prompt runs the same recurrence token by token as a decoded token does (value heads in
 * parallel; each head's state is worked on 32 columns at a time, which stay in L1 for both
 * passes of a token), so a position's result does not depend on how its tokens were split
 * into calls: a prompt and the same tokens decoded agree bit for bit, and a state kept at a
 * turn boundary carries on exactly. transformers' chunked form for prompts (WY/UT transform)
 * rounds differently (about 1e-6 of the values) and is not used: on a CPU it does about as many
 * multiply-adds a token (a chunk reads the state three times, as W S, (e q) S and k^T V', and
 * adds its own c x c work), while this loop keeps its 32 columns in L1. Written in C with 4x16
 * register tiles (branch q35chunk-experiment), one core, 512 rows of 16 heads of 128 x 128:
 * 15.6-15.8 ms in chunks of 64, 10.5-12.2 in chunks of 16, 9.7-11.7 token by token. AVX2
 * only, as the other float kernels: one variant, so every instruction set the matmuls choose
 * gives the same bits here.
 */
#if defined(__x86_64__) || defined(_M_X64)
#include <math.h>
#include <stddef.h>

#include "float_kernels.h"

#define L2_EPS 1e-6f

/* x / (1 + e^-x), e^-x capped at e^88 (as the MLP's SiLU in the matmul's quantizer) */
TARGET static inline __m256 silu8(__m256 x)
{
    const __m256 e = exp8(_mm256_min_ps(_mm256_sub_ps(_mm256_setzero_ps(), x),
                                        _mm256_set1_ps(88.0f)));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* Channels [c, c + 8) of every row: the conv and SiLU, then the window moved on. */
TARGET static void conv_channels(const float *x, long x_row, int rows, int channels, int kernel,
                                 float *window, const float *w, float *out, long out_row, int c)
{
    const int held = kernel - 1;
    for (int t = 0; t < rows; t++) {
        __m256 acc = _mm256_setzero_ps();
        for (int j = 0; j < kernel; j++) { /* oldest tap first, products then sums */
            const int at = t + j - held;   /* < 0: in the window */
            const float *in = at < 0 ? window + (size_t)(held + at) * channels + c
                                     : x + (size_t)at * x_row + c;
            const __m256 tap = _mm256_loadu_ps(w + (size_t)j * channels + c);
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(in), tap));
        }
        _mm256_storeu_ps(out + (size_t)t * out_row + c, silu8(acc));
    }
    /* the last K-1 of window ++ x; row i reads row rows + i >= i, so in order is safe */
    for (int i = 0; i < held; i++) {
        const int from = rows + i;
        const float *in = from < held ? window + (size_t)from * channels + c
                                      : x + (size_t)(from - held) * x_row + c;
        _mm256_storeu_ps(window + (size_t)i * channels + c, _mm256_loadu_ps(in));
    }
}

void deltanet_conv(const float *x, long x_row, int rows, int channels, int kernel,
                   float *window, const float *w, float *out, long out_row, int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static) if ((long)rows * channels > 65536)
    for (int c = 0; c < channels; c += 8)
        conv_channels(x, x_row, rows, channels, kernel, window, w, out, out_row, c);
}

TARGET static void l2_scale(float *x, int n, float scale)
{
    __m256 squares = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        squares = _mm256_fmadd_ps(v, v, squares);
    }
    const __m256 r = _mm256_set1_ps(1.0f / sqrtf(hsum(squares) + L2_EPS));
    const __m256 s = _mm256_set1_ps(scale);
    for (int j = 0; j < n; j += 8) {
        const __m256 normed = _mm256_mul_ps(_mm256_loadu_ps(x + j), r);
        _mm256_storeu_ps(x + j, scale == 1.0f ? normed : _mm256_mul_ps(normed, s));
    }
}

static float softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

void deltanet_gates(float *q, float *k, long row, int rows, int k_heads, int k_dim,
                    const float *a, const float *b, long ab_row, int v_heads, const float *A,
                    const float *dt_bias, float *g, float *beta, int threads)
{
    const float scale = 1.0f / sqrtf((float)k_dim);
#pragma omp parallel for num_threads(threads) schedule(static) if (rows > 8)
    for (int t = 0; t < rows; t++) {
        for (int hk = 0; hk < k_heads; hk++) {
            l2_scale(q + (size_t)t * row + (size_t)hk * k_dim, k_dim, scale);
            l2_scale(k + (size_t)t * row + (size_t)hk * k_dim, k_dim, 1.0f);
        }
        for (int h = 0; h < v_heads; h++) {
            const size_t at = (size_t)t * ab_row + h, to = (size_t)t * v_heads + h;
            beta[to] = 1.0f / (1.0f + expf(-b[at]));
            g[to] = A[h] * softplus(a[at] + dt_bias[h]);
        }
    }
}

/* One token of one head on WIDTH columns [j0, j0 + WIDTH) of its state. */
#define DEFINE_COLUMNS(NAME, WIDTH)                                                           \
    TARGET static inline void NAME(const float *q, const float *k, const float *v, float decay, \
                                   float beta, float *S, int dk, int dv, int j0, float *out)   \
    {                                                                                         \
        enum { N = WIDTH / 8 };                                                               \
        const __m256 d = _mm256_set1_ps(decay);                                               \
        __m256 acc[N], delta[N];                                                              \
        for (int c = 0; c < N; c++)                                                           \
            acc[c] = _mm256_setzero_ps();                                                     \
        for (int i = 0; i < dk; i++) { /* S *= decay; remembered = S^T k */                  \
            float *row = S + (size_t)i * dv + j0;                                             \
            const __m256 ki = _mm256_set1_ps(k[i]);                                           \
            for (int c = 0; c < N; c++) {                                                     \
                const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(row + 8 * c), d);              \
                _mm256_storeu_ps(row + 8 * c, s);                                             \
                acc[c] = _mm256_fmadd_ps(s, ki, acc[c]);                                      \
            }                                                                                 \
        }                                                                                     \
        for (int c = 0; c < N; c++) {                                                         \
            delta[c] = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(v + j0 + 8 * c), acc[c]),  \
                                     _mm256_set1_ps(beta));                                   \
            acc[c] = _mm256_setzero_ps();                                                     \
        }                                                                                     \
        for (int i = 0; i < dk; i++) { /* S += k delta^T; out = S^T q */                     \
            float *row = S + (size_t)i * dv + j0;                                             \
            const __m256 ki = _mm256_set1_ps(k[i]), qi = _mm256_set1_ps(q[i]);                \
            for (int c = 0; c < N; c++) {                                                     \
                const __m256 s = _mm256_fmadd_ps(ki, delta[c], _mm256_loadu_ps(row + 8 * c)); \
                _mm256_storeu_ps(row + 8 * c, s);                                             \
                acc[c] = _mm256_fmadd_ps(s, qi, acc[c]);                                      \
            }                                                                                 \
        }                                                                                     \
        for (int c = 0; c < N; c++)                                                           \
            _mm256_storeu_ps(out + j0 + 8 * c, acc[c]);                                       \
    }

DEFINE_COLUMNS(columns32, 32)
DEFINE_COLUMNS(columns8, 8)

void deltanet_rule(const float *q, const float *k, long qk_row, const float *v, long v_row,
                   int rows, int k_heads, int v_heads, int k_dim, int v_dim, const float *g,
                   const float *beta, float *state, float *out, long out_row, int threads)
{
    const int serves = v_heads / k_heads; /* consecutive value heads per key head */
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int h = 0; h < v_heads; h++) {
        float *S = state + (size_t)h * k_dim * v_dim;
        const size_t key = (size_t)(h / serves) * k_dim, value = (size_t)h * v_dim;
        for (int t = 0; t < rows; t++) {
            const float *qt = q + (size_t)t * qk_row + key, *kt = k + (size_t)t * qk_row + key;
            const float *vt = v + (size_t)t * v_row + value;
            const float decay = expf(g[(size_t)t * v_heads + h]);
            const float bt = beta[(size_t)t * v_heads + h];
            float *ot = out + (size_t)t * out_row + value;
            int j0 = 0;
            for (; j0 + 32 <= v_dim; j0 += 32)
                columns32(qt, kt, vt, decay, bt, S, k_dim, v_dim, j0, ot);
            for (; j0 < v_dim; j0 += 8)
                columns8(qt, kt, vt, decay, bt, S, k_dim, v_dim, j0, ot);
        }
    }
}

TARGET static void gated_row(const float *x, const float *z, const float *w, float *out, int n,
                             float eps)
{
    __m256 squares = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        squares = _mm256_fmadd_ps(v, v, squares);
    }
    const __m256 r = _mm256_set1_ps(1.0f / sqrtf(hsum(squares) / (float)n + eps));
    for (int j = 0; j < n; j += 8) {
        const __m256 normed = _mm256_mul_ps(_mm256_loadu_ps(w + j),
                                            _mm256_mul_ps(_mm256_loadu_ps(x + j), r));
        _mm256_storeu_ps(out + j, _mm256_mul_ps(normed, silu8(_mm256_loadu_ps(z + j))));
    }
}

void gated_rms_norm(const float *x, const float *z, const float *w, float *out, int rows, int n,
                    float eps, int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static) if (rows > 64)
    for (int i = 0; i < rows; i++)
        gated_row(x + (size_t)i * n, z + (size_t)i * n, w, out + (size_t)i * n, n, eps);
}

TARGET static float dot(const float *x, const float *w, int n)
{
    __m256 acc = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(w + j), acc);
    return hsum(acc);
}

void float_matmul(const float *x, int rows, int n, const float *w, int m, float *out,
                  long out_row, int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static) if ((long)rows * m > 256)
    for (int t = 0; t < rows; t++)
        for (int r = 0; r < m; r++)
            out[(size_t)t * out_row + r] = dot(x + (size_t)t * n, w + (size_t)r * n, n);
}

#endif
