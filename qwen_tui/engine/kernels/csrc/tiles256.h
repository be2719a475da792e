/*
 * Tiles on 256-bit registers: MR activation rows x one group of 16 output rows, as two
 * halves of 8 rows (one register each). Included by the AVX2, AVX-VNNI and AVX-512 VL files,
 * which define QK_VNNI (and DPBUSD when it is 1) after their `#pragma GCC target`.
 *
 * Integer dot products per 32-bit lane (one output row, 4 values):
 *   with VNNI     vpdpbusd: unsigned weights x signed activations, 4 products per lane;
 *                 8-bit weights are stored signed and flipped to unsigned (x ^ 0x80), which
 *                 the -128 * sum(a) start corrects.
 *   without       4-bit: maddubs into int16 lanes started at -8 x their activations' sums, so
 *                 they end exact although they wrap (at most 32 * 8 * 127 = 32512);
 *                 5-bit: pairs of maddubs summed in int16 (at most 4 * 2 * 31 * 127), then madd;
 *                 the fifth bits come from two planes (qk.h) by a shift and an and each;
 *                 8-bit: maddubs(|w|, sign(a, w)), then madd; a lone row whose signs the
 *                 matmul made (a decoded token) maddubs(|a|, w ^ neg(a)), one op fewer (qk.h).
 */
#include "simd256.h"

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE __m256i unpack_lo(__m256i p) { return _mm256_and_si256(p, _mm256_set1_epi8(0x0F)); }
static ALWAYS_INLINE __m256i unpack_hi(__m256i p)
{
    return _mm256_and_si256(_mm256_srli_epi16(p, 4), _mm256_set1_epi8(0x0F));
}

/* Bit t of every byte of a plane of fifth bits, as 0x10 (qk.h): a shift within each 16-bit
 * lane (by at most 4, so the bit stays in its byte) and an and, where bytes_from_bits_32 of
 * llama.cpp's q5_0 takes a broadcast, a shuffle, an or, a compare and an and */
static ALWAYS_INLINE __m256i fifth_bits(__m256i plane, int t)
{
    const __m256i at4 = t < 4   ? _mm256_slli_epi16(plane, 4 - t)
                        : t > 4 ? _mm256_srli_epi16(plane, t - 4)
                                : plane;
    return _mm256_and_si256(at4, _mm256_set1_epi8(0x10));
}

/* The values of q[t] in halves h0 .. h0 + NH - 1: low and high nibbles, with their fifth bits
 * (planes pl, ph) for 5-bit formats */
static ALWAYS_INLINE void unpack_t(const int NH, const uint8_t *gb, qk_layout L, int h0, int t,
                                   const __m256i *pl, const __m256i *ph, __m256i *lo,
                                   __m256i *hi)
{
    for (int hh = 0; hh < NH; hh++) {
        const __m256i p =
            _mm256_loadu_si256((const __m256i *)(gb + L.q + 64 * t + 32 * (h0 + hh)));
        lo[hh] = unpack_lo(p);
        hi[hh] = unpack_hi(p);
        if (L.h >= 0) {
            lo[hh] = _mm256_or_si256(lo[hh], fifth_bits(pl[hh], t));
            hi[hh] = _mm256_or_si256(hi[hh], fifth_bits(ph[hh], t));
        }
    }
}

/* isum[hh][i]: int32 lanes (8 rows of half h0 + hh) of row i's block dot product, minus
 * off * sum(a) for sym formats. Both halves of a one-row tile share each broadcast of its
 * activations; sg (one row's signs, or NULL) is the 8-bit weights' shortcut (qk.h). */
static ALWAYS_INLINE void dots(const qk_format F, const int MR, const int NH, int h0,
                               const uint8_t *gb, const block_x *const *xb,
                               const block_sign *sg, __m256i isum[2][MAX_MR])
{
    const qk_layout L = QK_LAYOUT[F];
    __m256i pl[2], ph[2], lo[2], hi[2];
    for (int hh = 0; hh < NH; hh++)
        if (L.h >= 0) {
            pl[hh] = _mm256_loadu_si256((const __m256i *)(gb + L.h + 32 * (h0 + hh)));
            ph[hh] = _mm256_loadu_si256((const __m256i *)(gb + L.h + 64 + 32 * (h0 + hh)));
        }
#if QK_VNNI
    for (int hh = 0; hh < NH; hh++)
        for (int i = 0; i < MR; i++)
            isum[hh][i] =
                _mm256_set1_epi32(F == FMT_SYM8 ? -128 * xb[i]->sum : -L.offset * xb[i]->sum);
    if (F == FMT_SYM8) {
        const __m256i flip = _mm256_set1_epi8((char)0x80);
        for (int t = 0; t < 16; t++) {
            __m256i u[2];
            for (int hh = 0; hh < NH; hh++)
                u[hh] = _mm256_xor_si256(
                    _mm256_loadu_si256((const __m256i *)(gb + L.q + 64 * t + 32 * (h0 + hh))),
                    flip);
            for (int i = 0; i < MR; i++) {
                const __m256i a = bcast4(xb[i]->q + 4 * t);
                for (int hh = 0; hh < NH; hh++)
                    isum[hh][i] = DPBUSD(isum[hh][i], u[hh], a);
            }
        }
        return;
    }
#pragma GCC unroll 8
    for (int t = 0; t < 8; t++) {
        unpack_t(NH, gb, L, h0, t, pl, ph, lo, hi);
        for (int i = 0; i < MR; i++) {
            const __m256i al = bcast4(xb[i]->q + 4 * t), ah = bcast4(xb[i]->q + 32 + 4 * t);
            for (int hh = 0; hh < NH; hh++) {
                isum[hh][i] = DPBUSD(isum[hh][i], lo[hh], al);
                isum[hh][i] = DPBUSD(isum[hh][i], hi[hh], ah);
            }
        }
    }
#else
    const __m256i ones = _mm256_set1_epi16(1);
    if (F == FMT_SYM8 && sg) { /* MR == 1: maddubs(|a|, w ^ neg(a)), started at negsum */
        for (int hh = 0; hh < NH; hh++)
            isum[hh][0] = _mm256_set1_epi32(sg->negsum);
        for (int t = 0; t < 16; t++) {
            const __m256i mag = bcast4((const int8_t *)sg->mag + 4 * t);
            const __m256i neg = bcast4(sg->neg + 4 * t);
            for (int hh = 0; hh < NH; hh++) {
                const __m256i w =
                    _mm256_loadu_si256((const __m256i *)(gb + L.q + 64 * t + 32 * (h0 + hh)));
                const __m256i p = _mm256_maddubs_epi16(mag, _mm256_xor_si256(w, neg));
                isum[hh][0] = _mm256_add_epi32(isum[hh][0], _mm256_madd_epi16(p, ones));
                __asm__("" : "+x"(isum[hh][0])); /* adds kept in order: see the 4-bit path */
            }
        }
        return;
    }
    if (F == FMT_SYM8) {
        for (int hh = 0; hh < NH; hh++)
            for (int i = 0; i < MR; i++)
                isum[hh][i] = _mm256_setzero_si256();
        for (int t = 0; t < 16; t++) {
            __m256i w[2], aw[2];
            for (int hh = 0; hh < NH; hh++) {
                w[hh] = _mm256_loadu_si256((const __m256i *)(gb + L.q + 64 * t + 32 * (h0 + hh)));
                aw[hh] = _mm256_sign_epi8(w[hh], w[hh]);
            }
            for (int i = 0; i < MR; i++) {
                const __m256i a = bcast4(xb[i]->q + 4 * t);
                for (int hh = 0; hh < NH; hh++) {
                    const __m256i p = _mm256_maddubs_epi16(aw[hh], _mm256_sign_epi8(a, w[hh]));
                    isum[hh][i] = _mm256_add_epi32(isum[hh][i], _mm256_madd_epi16(p, ones));
                    __asm__("" : "+x"(isum[hh][i])); /* adds kept in order: see the 4-bit path */
                }
            }
        }
        return;
    }
    if (L.h >= 0) {
        for (int hh = 0; hh < NH; hh++)
            for (int i = 0; i < MR; i++)
                isum[hh][i] = _mm256_set1_epi32(-L.offset * xb[i]->sum);
#pragma GCC unroll 8
        for (int t = 0; t < 8; t += 2) {
            __m256i s16[2][MAX_MR];
            for (int tt = t; tt < t + 2; tt++) {
                unpack_t(NH, gb, L, h0, tt, pl, ph, lo, hi);
                for (int i = 0; i < MR; i++) {
                    const __m256i al = bcast4(xb[i]->q + 4 * tt);
                    const __m256i ah = bcast4(xb[i]->q + 32 + 4 * tt);
                    for (int hh = 0; hh < NH; hh++) {
                        const __m256i d = _mm256_add_epi16(_mm256_maddubs_epi16(lo[hh], al),
                                                           _mm256_maddubs_epi16(hi[hh], ah));
                        s16[hh][i] = tt == t ? d : _mm256_add_epi16(s16[hh][i], d);
                    }
                }
            }
            for (int hh = 0; hh < NH; hh++)
                for (int i = 0; i < MR; i++) {
                    isum[hh][i] =
                        _mm256_add_epi32(isum[hh][i], _mm256_madd_epi16(s16[hh][i], ones));
                    __asm__("" : "+x"(isum[hh][i])); /* adds kept in order: see the 4-bit path */
                }
        }
        return;
    }
    /* 4-bit: int16 lanes started at -8 x their sums (asym adds 8 * sum back below) */
    __m256i s16[2][MAX_MR];
    for (int i = 0; i < MR; i++) {
        const __m256i start =
            _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)(-8 * xb[i]->half[0]) |
                                        (uint32_t)(uint16_t)(-8 * xb[i]->half[1]) << 16));
        for (int hh = 0; hh < NH; hh++)
            s16[hh][i] = start;
    }
    for (int t = 0; t < 8; t++) {
        unpack_t(NH, gb, L, h0, t, pl, ph, lo, hi);
        for (int i = 0; i < MR; i++) {
            const __m256i al = bcast4(xb[i]->q + 4 * t), ah = bcast4(xb[i]->q + 32 + 4 * t);
            for (int hh = 0; hh < NH; hh++) {
                s16[hh][i] = _mm256_add_epi16(s16[hh][i], _mm256_maddubs_epi16(lo[hh], al));
                s16[hh][i] = _mm256_add_epi16(s16[hh][i], _mm256_maddubs_epi16(hi[hh], ah));
                /* keeps each sum in order: GCC would otherwise reassociate the wrapping adds,
                 * compute every product first and spill them */
                __asm__("" : "+x"(s16[hh][i]));
            }
        }
    }
    for (int hh = 0; hh < NH; hh++)
        for (int i = 0; i < MR; i++) {
            isum[hh][i] = _mm256_madd_epi16(s16[hh][i], ones);
            if (F == FMT_ASYM4)
                isum[hh][i] = _mm256_add_epi32(isum[hh][i], _mm256_set1_epi32(8 * xb[i]->sum));
        }
#endif
}

/* halves h0 .. h0 + nh - 1 of one group, MR activation rows */
static ALWAYS_INLINE void tile256(const qk_format F, const int MR, const int NH, int h0,
                                  const block_x *x, long xs, int nb, const uint8_t *g, float *y,
                                  long ys, int n, const float *bias, const block_sign *sg)
{
    const qk_layout L = QK_LAYOUT[F];
    __m256 acc[2][MAX_MR];
    for (int hh = 0; hh < NH; hh++)
        for (int i = 0; i < MR; i++)
            acc[hh][i] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *gb = g + (size_t)b * L.bytes;
        const block_x *xb[MAX_MR];
        for (int i = 0; i < MR; i++)
            xb[i] = x + (size_t)i * xs + b;
        __m256i isum[2][MAX_MR];
        dots(F, MR, NH, h0, gb, xb, sg ? sg + b : NULL, isum);
        for (int hh = 0; hh < NH; hh++) {
            const int h = h0 + hh;
            const __m256 dw = scales8(F, gb, h);
            const __m256 mw = L.m >= 0 ? mins8(F, gb, h) : _mm256_setzero_ps();
            for (int i = 0; i < MR; i++) {
                const __m256 dd = _mm256_mul_ps(dw, _mm256_set1_ps(xb[i]->d));
                acc[hh][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[hh][i]), dd, acc[hh][i]);
                if (L.m >= 0)
                    acc[hh][i] = _mm256_fmadd_ps(mw, _mm256_set1_ps(xb[i]->s), acc[hh][i]);
            }
        }
    }
    for (int hh = 0; hh < NH; hh++) {
        const int h = h0 + hh, left = n - 8 * h;
        for (int i = 0; i < MR; i++)
            store8(y + (size_t)i * ys + 8 * h, acc[hh][i], left, bias ? bias + 8 * h : NULL);
    }
}

/* One format's tile function: rows in tiles of up to MR_PROMPT, both halves together when
 * few rows leave the registers for it; a lone row with its signs takes the 8-bit shortcut. */
#define DEFINE_TILES256(NAME, F, MR_PROMPT)                                                 \
    static void NAME(const block_x *x, long xs, int mr, int nb, const uint8_t *g, float *y, \
                     long ys, int n, const float *bias, const block_sign *sg)              \
    {                                                                                      \
        for (int r = 0; r < mr;) {                                                         \
            const int left = mr - r;                                                       \
            const block_x *xr = x + (size_t)r * xs;                                        \
            float *yr = y + (size_t)r * ys;                                                \
            if (left >= MR_PROMPT) {                                                       \
                for (int h = 0; h < 2 && 8 * h < n; h++)                                   \
                    tile256(F, MR_PROMPT, 1, h, xr, xs, nb, g, yr, ys, n, bias, NULL);     \
                r += MR_PROMPT;                                                            \
            } else if (left >= 2) {                                                        \
                for (int h = 0; h < 2 && 8 * h < n; h++)                                   \
                    tile256(F, 2, 1, h, xr, xs, nb, g, yr, ys, n, bias, NULL);             \
                r += 2;                                                                    \
            } else if (F == FMT_SYM8 && !QK_VNNI && sg && mr == 1) {                       \
                if (n > 8)                                                                 \
                    tile256(F, 1, 2, 0, xr, xs, nb, g, yr, ys, n, bias, sg);               \
                else                                                                       \
                    tile256(F, 1, 1, 0, xr, xs, nb, g, yr, ys, n, bias, sg);               \
                r += 1;                                                                    \
            } else {                                                                       \
                if (n > 8)                                                                 \
                    tile256(F, 1, 2, 0, xr, xs, nb, g, yr, ys, n, bias, NULL);             \
                else                                                                       \
                    tile256(F, 1, 1, 0, xr, xs, nb, g, yr, ys, n, bias, NULL);             \
                r += 1;                                                                    \
            }                                                                              \
        }                                                                                  \
    }

#define DEFINE_VARIANT256(VAR, MRP)                                                         \
    DEFINE_TILES256(tile_sym4, FMT_SYM4, MRP)                                              \
    DEFINE_TILES256(tile_asym4, FMT_ASYM4, MRP)                                            \
    DEFINE_TILES256(tile_sym5, FMT_SYM5, MRP)                                              \
    DEFINE_TILES256(tile_asym5, FMT_ASYM5, MRP)                                            \
    DEFINE_TILES256(tile_sym8, FMT_SYM8, MRP)                                              \
    static void quantize(const float *x, const float *up, block_x *out, int nb)            \
    {                                                                                      \
        quantize256(x, up, out, nb);                                                       \
    }                                                                                      \
    const qk_variant VAR = {{tile_sym4, tile_asym4, tile_sym5, tile_asym5, tile_sym8},     \
                            MRP, quantize, QK_VNNI ? NULL : signs256};
