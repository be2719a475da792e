/* 256-bit helpers shared by the AVX2, AVX-VNNI and AVX-512 VL variants. Each including file
 * sets its own `#pragma GCC target` first. */
#ifndef QWEN_TUI_SIMD256_H
#define QWEN_TUI_SIMD256_H

#include <immintrin.h>
#include <string.h>

#include "qk.h"

/* e^x for x <= 88, as qk_exp_ref (quantize_ref.c) computes it */
static inline __m256 exp8(__m256 x)
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

/* 64 values -> one int8 block, as qk_quantize_ref does */
static inline void quantize_block8(const __m256 *v, block_x *out)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 8; k++)
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float max_abs = _mm_cvtss_f32(m4);
    const __m256 id = _mm256_set1_ps(max_abs != 0.0f ? 127.0f / max_abs : 0.0f);
    __m256i i[8];
    __m256i sum = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        const __m256 r = _mm256_round_ps(_mm256_mul_ps(v[k], id),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        i[k] = _mm256_cvtps_epi32(r);
        sum = _mm256_add_epi32(sum, i[k]);
    }
    for (int h = 0; h < 2; h++) {
        __m256i a = _mm256_packs_epi32(i[4 * h], i[4 * h + 1]);
        __m256i c = _mm256_packs_epi32(i[4 * h + 2], i[4 * h + 3]);
        a = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, c), perm);
        _mm256_storeu_si256((__m256i *)(out->q + 32 * h), a);
    }
    int32_t lane[8]; /* lane p sums the values at positions p mod 8 */
    _mm256_storeu_si256((__m256i *)lane, sum);
    const int32_t h0 = lane[0] + lane[1] + lane[4] + lane[5];
    const int32_t h1 = lane[2] + lane[3] + lane[6] + lane[7];
    out->d = max_abs / 127.0f;
    out->sum = h0 + h1;
    out->half[0] = (int16_t)h0;
    out->half[1] = (int16_t)h1;
    out->s = out->d * (float)out->sum;
}

/* x (or silu(x) * up) -> nb blocks */
static inline void quantize256(const float *x, const float *up, block_x *out, int nb)
{
    const __m256 one = _mm256_set1_ps(1.0f), top = _mm256_set1_ps(88.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < nb; b++, x += QK) {
        __m256 v[8];
        for (int k = 0; k < 8; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            if (up) {
                const __m256 e = exp8(_mm256_min_ps(_mm256_xor_ps(v[k], sign), top));
                v[k] = _mm256_mul_ps(_mm256_div_ps(v[k], _mm256_add_ps(one, e)),
                                     _mm256_loadu_ps(up + (size_t)b * QK + 8 * k));
            }
        }
        quantize_block8(v, out + b);
    }
}

/* one row's blocks -> their signs (qk.h's block_sign) */
static inline void signs256(const block_x *x, block_sign *out, int nb)
{
    const __m256i zero = _mm256_setzero_si256();
    for (int b = 0; b < nb; b++) {
        __m256i total = zero;
        for (int k = 0; k < 2; k++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[b].q + 32 * k));
            const __m256i mag = _mm256_abs_epi8(q); /* |-128| = 128, unsigned */
            _mm256_storeu_si256((__m256i *)(out[b].mag + 32 * k), mag);
            _mm256_storeu_si256((__m256i *)(out[b].neg + 32 * k), _mm256_cmpgt_epi8(zero, q));
            total = _mm256_add_epi64(total, _mm256_sad_epu8(mag, zero));
        }
        int64_t lane[4];
        _mm256_storeu_si256((__m256i *)lane, total);
        /* sum |q| - sum q = twice the |q| of the negative ones */
        out[b].negsum = (int32_t)((lane[0] + lane[1] + lane[2] + lane[3] - x[b].sum) / 2);
    }
}

static inline __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* 8 scales of rows 8h..8h+7 of a group block, as float */
static inline __m256 scales8(qk_format f, const uint8_t *gb, int h)
{
    if (f == FMT_SYM8)
        return _mm256_loadu_ps((const float *)gb + 8 * h);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(gb + 16 * h)));
}

static inline __m256 mins8(qk_format f, const uint8_t *gb, int h)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(gb + QK_LAYOUT[f].m + 16 * h)));
}

/* the first n (<= 8) of 8 outputs, plus bias */
static inline void store8(float *y, __m256 v, int n, const float *bias)
{
    if (n >= 8) {
        _mm256_storeu_ps(y, bias ? _mm256_add_ps(v, _mm256_loadu_ps(bias)) : v);
        return;
    }
    float tmp[8];
    _mm256_storeu_ps(tmp, v);
    for (int j = 0; j < n; j++)
        y[j] = bias ? tmp[j] + bias[j] : tmp[j];
}

#endif
