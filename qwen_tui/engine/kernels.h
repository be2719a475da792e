/* What q4matmul.c (the module) uses from the other kernel files. */
#ifndef QWEN_TUI_KERNELS_H
#define QWEN_TUI_KERNELS_H

#include <immintrin.h>
#include <stdint.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))

TARGET static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* attention.c: out[i, h] = softmax(q[h, i] . K[g]^T * scale) V[g] over keys
 * 0 .. past + i, g = h / (heads / kv_heads); q is [heads, rows, dim], out is
 * [rows, heads, dim], the cache is float16 if `half` else float32. */
int attend_supported(int dim);
void attend_rows(const float *q, const void *k, const void *v, float *out, int heads,
                 int kv_heads, int rows, int past, int dim, long head_stride, long row,
                 float scale, int half, int threads);

/* norm.c: out = w * (x * rsqrt(mean(x^2) + eps)) per row of n (a multiple of 8) */
void rms_norm(const float *x, const float *w, float *out, int rows, int n, float eps, int threads);

/* rotary.c: out[h, i] = x[i, h] * cos[pos[i]] + rotate_half(x[i, h]) * sin[pos[i]]; x rows
 * are x_row floats apart, heads dim apart; out is [heads, rows, dim]; dim % 16 == 0 */
void rotary(const float *x, long x_row, int heads, int rows, int dim, const float *cos,
            const float *sin, const int64_t *pos, float *out, int threads);

#endif
