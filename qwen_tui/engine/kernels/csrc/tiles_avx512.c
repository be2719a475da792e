/*
 * AVX-512 (F, BW, VL) + VNNI: one 512-bit register holds a whole group's 16 rows x 4 values,
 * and vpdpbusd adds 4 products into each row's lane (64 per instruction). 5-bit values get
 * their fifth bit from a mask register (vptestmb of the bit's plane); 8-bit ones are flipped
 * to unsigned (x ^ 0x80), corrected by starting at -128 * sum(a). Same float operations as
 * every other variant.
 */
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512dq,avx512vnni")
#include <immintrin.h>
#include <string.h>

#include "qk.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))
#define MR_PROMPT 8

static ALWAYS_INLINE __m512 exp16(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

static void quantize(const float *x, const float *up, block_x *out, int nb)
{
    const __m512 one = _mm512_set1_ps(1.0f), top = _mm512_set1_ps(88.0f);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int b = 0; b < nb; b++, x += QK) {
        __m512 v[4];
        __m512 amax = _mm512_setzero_ps();
        for (int k = 0; k < 4; k++) {
            v[k] = _mm512_loadu_ps(x + 16 * k);
            if (up) {
                const __m512 e = exp16(_mm512_min_ps(_mm512_xor_ps(v[k], sign), top));
                v[k] = _mm512_mul_ps(_mm512_div_ps(v[k], _mm512_add_ps(one, e)),
                                     _mm512_loadu_ps(up + (size_t)b * QK + 16 * k));
            }
            amax = _mm512_max_ps(amax, _mm512_andnot_ps(sign, v[k]));
        }
        const float max_abs = _mm512_reduce_max_ps(amax);
        const __m512 id = _mm512_set1_ps(max_abs != 0.0f ? 127.0f / max_abs : 0.0f);
        __m512i sum = _mm512_setzero_si512();
        block_x *o = out + b;
        for (int k = 0; k < 4; k++) {
            const __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(v[k], id),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m512i i = _mm512_cvtps_epi32(r);
            sum = _mm512_add_epi32(sum, i);
            _mm_storeu_si128((__m128i *)(o->q + 16 * k), _mm512_cvtsepi32_epi8(i));
        }
        /* lane p sums positions p mod 16; positions 0,1 mod 4 are lanes 0,1,4,5,8,9,12,13 */
        const int32_t h0 = _mm512_mask_reduce_add_epi32(0x3333, sum);
        const int32_t h1 = _mm512_mask_reduce_add_epi32(0xCCCC, sum);
        o->d = max_abs / 127.0f;
        o->sum = h0 + h1;
        o->half[0] = (int16_t)h0;
        o->half[1] = (int16_t)h1;
        o->s = o->d * (float)o->sum;
    }
}

static ALWAYS_INLINE __m512i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Row i's int32 lanes += q[t]'s 64 values (nibbles, with their fifth bits from planes hl, hh
 * when five) times its activations */
static ALWAYS_INLINE void nibble_dots(const int MR, const uint8_t *qt, int t, const int five,
                                      __m512i hl, __m512i hh, const block_x *const *xb,
                                      __m512i *isum)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), x10 = _mm512_set1_epi8(0x10);
    const __m512i p = _mm512_loadu_si512((const void *)qt);
    __m512i lo = _mm512_and_si512(p, m4);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi16(p, 4), m4);
    if (five) { /* bit t of the planes' bytes: the fifth bits of q[t] */
        const __m512i bit = _mm512_set1_epi8((char)(1 << t));
        lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(hl, bit), lo, x10);
        hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(hh, bit), hi, x10);
    }
    for (int i = 0; i < MR; i++) {
        isum[i] = _mm512_dpbusd_epi32(isum[i], lo, bcast4(xb[i]->q + 4 * t));
        isum[i] = _mm512_dpbusd_epi32(isum[i], hi, bcast4(xb[i]->q + 32 + 4 * t));
    }
}

static ALWAYS_INLINE void tile512(const qk_format F, const int MR, const block_x *x, long xs,
                                  int nb, const uint8_t *g, float *y, long ys, int n,
                                  const float *bias)
{
    const qk_layout L = QK_LAYOUT[F];
    const __m512i m4 = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8((char)0x80);
    __m512 acc[MAX_MR];
    for (int i = 0; i < MR; i++)
        acc[i] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * L.bytes;
        const block_x *xb[MAX_MR];
        __m512i isum[MAX_MR];
        for (int i = 0; i < MR; i++) {
            xb[i] = x + (size_t)i * xs + b;
            isum[i] = _mm512_set1_epi32(F == FMT_SYM8 ? -128 * xb[i]->sum : -L.offset * xb[i]->sum);
        }
        if (F == FMT_SYM8) {
            for (int t = 0; t < 16; t++) {
                const __m512i u =
                    _mm512_xor_si512(_mm512_loadu_si512((const void *)(gb + L.q + 64 * t)), flip);
                for (int i = 0; i < MR; i++)
                    isum[i] = _mm512_dpbusd_epi32(isum[i], u, bcast4(xb[i]->q + 4 * t));
            }
        } else if (L.h >= 0) { /* unrolled: each t's bit of the planes is a constant */
            const __m512i hl = _mm512_loadu_si512((const void *)(gb + L.h));
            const __m512i hh = _mm512_loadu_si512((const void *)(gb + L.h + 64));
#pragma GCC unroll 8
            for (int t = 0; t < 8; t++)
                nibble_dots(MR, gb + L.q + 64 * t, t, 1, hl, hh, xb, isum);
        } else {
            for (int t = 0; t < 8; t++)
                nibble_dots(MR, gb + L.q + 64 * t, t, 0, m4, m4, xb, isum);
        }
        const __m512 dw = F == FMT_SYM8
                              ? _mm512_loadu_ps((const float *)gb)
                              : _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)gb));
        const __m512 mw = L.m >= 0
                              ? _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(gb + L.m)))
                              : _mm512_setzero_ps();
        for (int i = 0; i < MR; i++) {
            const __m512 dd = _mm512_mul_ps(dw, _mm512_set1_ps(xb[i]->d));
            acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i]), dd, acc[i]);
            if (L.m >= 0)
                acc[i] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xb[i]->s), acc[i]);
        }
    }
    const __mmask16 keep = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
    const __m512 b16 = bias ? _mm512_maskz_loadu_ps(keep, bias) : _mm512_setzero_ps();
    for (int i = 0; i < MR; i++)
        _mm512_mask_storeu_ps(y + (size_t)i * ys, keep, bias ? _mm512_add_ps(acc[i], b16) : acc[i]);
}

#define DEFINE_TILES512(NAME, F)                                                           \
    static void NAME(const block_x *x, long xs, int mr, int nb, const uint8_t *g, float *y,  \
                     long ys, int n, const float *bias, const block_sign *sg)              \
    {                                                                                      \
        (void)sg;                                                                          \
        int r = 0;                                                                         \
        for (; r + MR_PROMPT <= mr; r += MR_PROMPT)                                        \
            tile512(F, MR_PROMPT, x + (size_t)r * xs, xs, nb, g, y + (size_t)r * ys, ys, n, \
                    bias);                                                                 \
        switch (mr - r) {                                                                  \
        case 7: tile512(F, 7, x + (size_t)r * xs, xs, nb, g, y + (size_t)r * ys, ys, n, bias); break; \
        case 6: tile512(F, 6, x + (size_t)r * xs, xs, nb, g, y + (size_t)r * ys, ys, n, bias); break; \
        case 5: tile512(F, 5, x + (size_t)r * xs, xs, nb, g, y + (size_t)r * ys, ys, n, bias); break; \
        case 4: tile512(F, 4, x + (size_t)r * xs, xs, nb, g, y + (size_t)r * ys, ys, n, bias); break; \
        case 3: tile512(F, 3, x + (size_t)r * xs, xs, nb, g, y + (size_t)r * ys, ys, n, bias); break; \
        case 2: tile512(F, 2, x + (size_t)r * xs, xs, nb, g, y + (size_t)r * ys, ys, n, bias); break; \
        case 1: tile512(F, 1, x + (size_t)r * xs, xs, nb, g, y + (size_t)r * ys, ys, n, bias); break; \
        default: break;                                                                    \
        }                                                                                  \
    }

DEFINE_TILES512(tile_sym4, FMT_SYM4)
DEFINE_TILES512(tile_asym4, FMT_ASYM4)
DEFINE_TILES512(tile_sym5, FMT_SYM5)
DEFINE_TILES512(tile_asym5, FMT_ASYM5)
DEFINE_TILES512(tile_sym8, FMT_SYM8)

const qk_variant qk_avx512 = {
    {tile_sym4, tile_asym4, tile_sym5, tile_asym5, tile_sym8}, MR_PROMPT, quantize, NULL};
#endif
