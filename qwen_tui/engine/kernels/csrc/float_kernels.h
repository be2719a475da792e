/* The float kernels (attention.c, norm.c, rotary.c): AVX2 only; module.c binds them. */
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

/* e^x for x <= 88 (attention: scores minus their maximum; SiLU): Cephes' expf
 * polynomial, about 1e-7 relative error; below -87 the result is about 1e-38
 * instead of 0. */
TARGET static inline __m256 exp8(__m256 x)
{
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(
        _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
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
