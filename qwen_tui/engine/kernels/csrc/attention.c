/*
 * Causal attention over bigdl-llm's KV cache, for prompts and decoded tokens.
 *
 * Query row i of a step sees keys 0 .. past + i, where `past` positions were
 * cached before the step. The cache (float32, or float16 as the Qwen2 cache
 * keeps it) is read in place from bigdl-llm's strided buffers (room for more
 * positions after the used ones); grouped-query heads share their key/value
 * head without copies.
 *
 * Prompt rows go four at a time so every key and value loaded serves four
 * rows; a decoded token is one row. Every row is computed with the same float
 * operations in the same order whether it is alone or in a block (extra keys a
 * block loads beyond a row's causal limit get weight 0 and add exactly
 * nothing), so a position's attention does not depend on whether it was part
 * of a prompt or decoded: KV-cache reuse stays exact.
 */
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "float_kernels.h"

#define BLOCK 4 /* prompt rows per block */

TARGET static inline __m256 load8_f32(const void *p, long i)
{
    return _mm256_loadu_ps((const float *)p + i);
}

TARGET static inline __m256 load8_f16(const void *p, long i)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
}

/* s[0..len) = exp(s - max s), returned with 1 / their sum. */
TARGET static float softmax_row(float *s, int len)
{
    __m256 top8 = _mm256_set1_ps(-INFINITY);
    int l = 0;
    for (; l + 8 <= len; l += 8)
        top8 = _mm256_max_ps(top8, _mm256_loadu_ps(s + l));
    float top = -INFINITY;
    float lanes[8];
    _mm256_storeu_ps(lanes, top8);
    for (int i = 0; i < 8; i++)
        top = lanes[i] > top ? lanes[i] : top;
    for (; l < len; l++)
        top = s[l] > top ? s[l] : top;

    const __m256 shift = _mm256_set1_ps(top);
    __m256 sum8 = _mm256_setzero_ps();
    for (l = 0; l + 8 <= len; l += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + l), shift));
        _mm256_storeu_ps(s + l, e);
        sum8 = _mm256_add_ps(sum8, e);
    }
    if (l < len) { /* the last 1..7 scores, in a padded copy; lanes past len count 0 */
        float tail[8] = {0};
        memcpy(tail, s + l, sizeof(float) * (size_t)(len - l));
        const __m256 valid = _mm256_castsi256_ps(_mm256_cmpgt_epi32(
            _mm256_set1_epi32(len - l), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
        const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_loadu_ps(tail), shift)), valid);
        _mm256_storeu_ps(tail, e);
        memcpy(s + l, tail, sizeof(float) * (size_t)(len - l));
        sum8 = _mm256_add_ps(sum8, e);
    }
    return 1.0f / hsum(sum8);
}

/* RB rows of one head: scores for keys 0 .. base + RB - 1 (KEYS at a time), a
 * softmax per row over its own causal length, then values in WIDTH-wide slices. */
#define DEFINE_ROWS(NAME, LOAD, RB, KEYS, WIDTH)                                           \
    TARGET static void NAME(const float *q, const void *k, const void *v, float *out,       \
                            long out_stride, int base, int dim, long row, float scale,      \
                            float *s)                                                      \
    {                                                                                      \
        const int lmax = base + RB;                                                        \
        int l = 0;                                                                         \
        for (; l + KEYS <= lmax; l += KEYS) {                                              \
            __m256 a[RB][KEYS];                                                            \
            for (int r = 0; r < RB; r++)                                                   \
                for (int j = 0; j < KEYS; j++)                                             \
                    a[r][j] = _mm256_setzero_ps();                                         \
            for (int e = 0; e < dim; e += 8) {                                             \
                __m256 kv[KEYS];                                                           \
                for (int j = 0; j < KEYS; j++)                                             \
                    kv[j] = LOAD(k, (l + j) * row + e);                                    \
                for (int r = 0; r < RB; r++) {                                             \
                    const __m256 qe = _mm256_loadu_ps(q + (size_t)r * dim + e);            \
                    for (int j = 0; j < KEYS; j++)                                         \
                        a[r][j] = _mm256_fmadd_ps(qe, kv[j], a[r][j]);                     \
                }                                                                          \
            }                                                                              \
            for (int r = 0; r < RB; r++)                                                   \
                for (int j = 0; j < KEYS; j++)                                             \
                    s[r * lmax + l + j] = hsum(a[r][j]) * scale;                           \
        }                                                                                  \
        for (; l < lmax; l++)                                                              \
            for (int r = 0; r < RB; r++) {                                                 \
                __m256 a = _mm256_setzero_ps();                                            \
                for (int e = 0; e < dim; e += 8)                                           \
                    a = _mm256_fmadd_ps(_mm256_loadu_ps(q + (size_t)r * dim + e),          \
                                        LOAD(k, l * row + e), a);                          \
                s[r * lmax + l] = hsum(a) * scale;                                         \
            }                                                                              \
        float norm[RB];                                                                    \
        for (int r = 0; r < RB; r++) {                                                     \
            const int len = base + r + 1;                                                  \
            norm[r] = softmax_row(s + r * lmax, len);                                      \
            for (int m = len; m < lmax; m++)                                               \
                s[r * lmax + m] = 0.0f;                                                    \
        }                                                                                  \
        for (int e0 = 0; e0 < dim; e0 += WIDTH) {                                          \
            __m256 acc[RB][WIDTH / 8];                                                     \
            for (int r = 0; r < RB; r++)                                                   \
                for (int c = 0; c < WIDTH / 8; c++)                                        \
                    acc[r][c] = _mm256_setzero_ps();                                       \
            for (l = 0; l < lmax; l++) {                                                   \
                __m256 vv[WIDTH / 8];                                                      \
                for (int c = 0; c < WIDTH / 8; c++)                                        \
                    vv[c] = LOAD(v, l * row + e0 + 8 * c);                                 \
                for (int r = 0; r < RB; r++) {                                             \
                    const __m256 w = _mm256_set1_ps(s[r * lmax + l]);                      \
                    for (int c = 0; c < WIDTH / 8; c++)                                    \
                        acc[r][c] = _mm256_fmadd_ps(w, vv[c], acc[r][c]);                  \
                }                                                                          \
            }                                                                              \
            for (int r = 0; r < RB; r++)                                                   \
                for (int c = 0; c < WIDTH / 8; c++)                                        \
                    _mm256_storeu_ps(out + r * out_stride + e0 + 8 * c,                    \
                                     _mm256_mul_ps(acc[r][c], _mm256_set1_ps(norm[r])));   \
        }                                                                                  \
    }

DEFINE_ROWS(block_f32, load8_f32, BLOCK, 2, 16)
DEFINE_ROWS(block_f16, load8_f16, BLOCK, 2, 16)
DEFINE_ROWS(one_f32, load8_f32, 1, 4, 64)
DEFINE_ROWS(one_f16, load8_f16, 1, 4, 64)
DEFINE_ROWS(one16_f32, load8_f32, 1, 4, 16) /* head sizes that are not a multiple of 64 */
DEFINE_ROWS(one16_f16, load8_f16, 1, 4, 16)

typedef void (*rows_fn)(const float *, const void *, const void *, float *, long, int, int, long,
                        float, float *);

int attend_supported(int dim) { return dim > 0 && dim % 16 == 0; }

void attend_rows(const float *q, const void *k, const void *v, float *out, int heads,
                 int kv_heads, int rows, int past, int dim, long head_stride, long row,
                 float scale, int half, int threads)
{
    const int group = heads / kv_heads;
    const size_t item = half ? 2 : 4; /* bytes per cached value */
    const int blocks = (rows + BLOCK - 1) / BLOCK;
    const long out_stride = (long)heads * dim; /* out is [rows, heads, dim] */
    const rows_fn block = half ? block_f16 : block_f32;
    const rows_fn one = dim % 64 ? (half ? one16_f16 : one16_f32) : (half ? one_f16 : one_f32);
#pragma omp parallel num_threads(threads)
    {
        float *s = malloc(sizeof(float) * BLOCK * ((size_t)past + rows + BLOCK));
        /* head by head, so a head's keys and values stay in L2 for all its blocks */
#pragma omp for schedule(dynamic, 1)
        for (int it = 0; it < heads * blocks; it++) {
            const int h = it / blocks, i0 = (it % blocks) * BLOCK;
            const size_t at = (size_t)(h / group) * head_stride * item;
            const void *kh = (const char *)k + at, *vh = (const char *)v + at;
            const float *qh = q + ((size_t)h * rows + i0) * dim;
            float *oh = out + (size_t)i0 * out_stride + (size_t)h * dim;
            if (rows - i0 >= BLOCK)
                block(qh, kh, vh, oh, out_stride, past + i0, dim, row, scale, s);
            else
                for (int r = 0; r < rows - i0; r++)
                    one(qh + (size_t)r * dim, kh, vh, oh + r * out_stride, out_stride,
                        past + i0 + r, dim, row, scale, s);
        }
        free(s);
    }
}

#endif
