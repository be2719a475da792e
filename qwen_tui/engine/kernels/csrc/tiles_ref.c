/* Portable C tiles: the variant for CPUs without AVX2 (and the plainest statement of the
 * arithmetic every other variant reproduces bit for bit). */
#include <math.h>
#include <string.h>

#include "qk.h"

float qk_f16(uint16_t h);

static int value(qk_format f, const uint8_t *gb, int r, int j)
{
    const qk_layout L = QK_LAYOUT[f];
    if (f == FMT_SYM8)
        return (int8_t)gb[L.q + 64 * (j / 4) + 4 * r + j % 4];
    const int high = j >= 32, t = (j % 32) / 4, i = j % 4;
    const uint8_t byte = gb[L.q + 64 * t + 4 * r + i];
    int v = high ? byte >> 4 : byte & 15;
    if (L.h >= 0)
        v |= qk_fifth_bit(gb, L, high, t, r, i) << 4;
    return v;
}

static float scale(qk_format f, const uint8_t *gb, int r)
{
    if (f == FMT_SYM8) {
        float d;
        memcpy(&d, gb + 4 * r, 4);
        return d;
    }
    uint16_t h;
    memcpy(&h, gb + 2 * r, 2);
    return qk_f16(h);
}

static void tile(qk_format f, const block_x *x, long xs, int mr, int nb, const uint8_t *g,
                 float *y, long ys, int n, const float *bias)
{
    const qk_layout L = QK_LAYOUT[f];
    for (int i = 0; i < mr; i++)
        for (int r = 0; r < n; r++) {
            float acc = 0.0f;
            for (int b = 0; b < nb; b++) {
                const uint8_t *gb = g + (size_t)b * L.bytes;
                const block_x *xb = x + (size_t)i * xs + b;
                int32_t dot = 0;
                for (int j = 0; j < QK; j++)
                    dot += value(f, gb, r, j) * xb->q[j];
                const float dd = scale(f, gb, r) * xb->d;
                if (L.m >= 0) {
                    uint16_t mh;
                    memcpy(&mh, gb + L.m + 2 * r, 2);
                    acc = fmaf((float)dot, dd, acc);
                    acc = fmaf(qk_f16(mh), xb->s, acc);
                } else {
                    acc = fmaf((float)(dot - L.offset * xb->sum), dd, acc);
                }
            }
            y[(size_t)i * ys + r] = bias ? acc + bias[r] : acc;
        }
}

#define REF_TILE(NAME, F)                                                                  \
    static void NAME(const block_x *x, long xs, int mr, int nb, const uint8_t *g, float *y,  \
                     long ys, int n, const float *bias, const block_sign *sg)              \
    {                                                                                      \
        (void)sg;                                                                          \
        tile(F, x, xs, mr, nb, g, y, ys, n, bias);                                         \
    }
REF_TILE(tile_sym4, FMT_SYM4)
REF_TILE(tile_asym4, FMT_ASYM4)
REF_TILE(tile_sym5, FMT_SYM5)
REF_TILE(tile_asym5, FMT_ASYM5)
REF_TILE(tile_sym8, FMT_SYM8)

const qk_variant qk_ref = {
    {tile_sym4, tile_asym4, tile_sym5, tile_asym5, tile_sym8}, 4, qk_quantize_ref, NULL};
