/* bigdl-llm's blocks -> the regrouped layout of qk.h and back, and to float (the reference the
 * tests hold every kernel to). Portable C: this runs once per weight at load. */
#include <string.h>

#include "qk.h"

static const uint8_t *src_block(qk_format f, const uint8_t *src, int row, int b, int nb)
{
    return src + ((size_t)row * nb + b) * QK_BLOCK_BYTES[f];
}

size_t qk_packed_bytes(qk_format f, int n, int k)
{
    return (size_t)((n + GR - 1) / GR) * (k / QK) * QK_LAYOUT[f].bytes;
}

/* One bigdl block -> 64 unsigned values (5-bit values get their fifth bit), scale, min. */
static void unpack_block(qk_format f, const uint8_t *blk, int32_t v[QK], uint8_t d[4], uint8_t m[2])
{
    if (f == FMT_SYM8) {
        memcpy(d, blk, 4);
        for (int j = 0; j < QK; j++)
            v[j] = (int8_t)blk[4 + j];
        return;
    }
    memcpy(d, blk, 2);
    const int asym = qk_asym(f), five = f == FMT_SYM5 || f == FMT_ASYM5;
    if (asym)
        memcpy(m, blk + 2, 2);
    const uint8_t *qs = blk + (asym ? 4 : 2) + (five ? 8 : 0);
    uint64_t qh = 0;
    if (five)
        memcpy(&qh, blk + (asym ? 4 : 2), 8);
    for (int j = 0; j < 32; j++) {
        v[j] = qs[j] & 0x0F;
        v[j + 32] = qs[j] >> 4;
    }
    if (five)
        for (int j = 0; j < QK; j++)
            v[j] |= (int32_t)((qh >> j) & 1) << 4;
}

void qk_repack(qk_format f, const uint8_t *src, uint8_t *dst, int n, int k)
{
    const qk_layout L = QK_LAYOUT[f];
    const int nb = k / QK, groups = (n + GR - 1) / GR;
    memset(dst, 0, qk_packed_bytes(f, n, k));
    for (int g = 0; g < groups; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *out = dst + ((size_t)g * nb + b) * L.bytes;
            for (int r = 0; r < GR && g * GR + r < n; r++) {
                int32_t v[QK];
                uint8_t d[4] = {0}, m[2] = {0};
                unpack_block(f, src_block(f, src, g * GR + r, b, nb), v, d, m);
                memcpy(out + L.d + r * (f == FMT_SYM8 ? 4 : 2), d, f == FMT_SYM8 ? 4 : 2);
                if (L.m >= 0)
                    memcpy(out + L.m + 2 * r, m, 2);
                if (f == FMT_SYM8) {
                    for (int t = 0; t < 16; t++)
                        for (int i = 0; i < 4; i++)
                            out[L.q + 64 * t + 4 * r + i] = (uint8_t)(int8_t)v[4 * t + i];
                    continue;
                }
                uint64_t *h = (uint64_t *)(out + (L.h >= 0 ? L.h : 0));
                for (int t = 0; t < 8; t++)
                    for (int i = 0; i < 4; i++) {
                        const int lo = v[4 * t + i], hi = v[32 + 4 * t + i];
                        out[L.q + 64 * t + 4 * r + i] = (uint8_t)((lo & 15) | (hi & 15) << 4);
                        if (L.h >= 0) {
                            uint64_t hl, hh;
                            memcpy(&hl, &h[2 * t], 8);
                            memcpy(&hh, &h[2 * t + 1], 8);
                            hl |= (uint64_t)(lo >> 4) << (4 * r + i);
                            hh |= (uint64_t)(hi >> 4) << (4 * r + i);
                            memcpy(&h[2 * t], &hl, 8);
                            memcpy(&h[2 * t + 1], &hh, 8);
                        }
                    }
            }
        }
}

/* The inverse of qk_repack: packed groups -> bigdl-llm's row-major blocks (padding rows dropped).
 * Every bit moves back where qk_repack took it from. */
void qk_unpack(qk_format f, const uint8_t *packed, uint8_t *dst, int n, int k)
{
    const qk_layout L = QK_LAYOUT[f];
    const int nb = k / QK, asym = qk_asym(f), five = L.h >= 0;
    for (int row = 0; row < n; row++)
        for (int b = 0; b < nb; b++) {
            const uint8_t *gb = packed + ((size_t)(row / GR) * nb + b) * L.bytes;
            const int r = row % GR;
            uint8_t *blk = dst + ((size_t)row * nb + b) * QK_BLOCK_BYTES[f];
            if (f == FMT_SYM8) {
                memcpy(blk, gb + L.d + 4 * r, 4);
                for (int t = 0; t < 16; t++)
                    memcpy(blk + 4 + 4 * t, gb + L.q + 64 * t + 4 * r, 4);
                continue;
            }
            memcpy(blk, gb + L.d + 2 * r, 2);
            if (asym)
                memcpy(blk + 2, gb + L.m + 2 * r, 2);
            uint8_t *qs = blk + (asym ? 4 : 2) + (five ? 8 : 0);
            uint64_t qh = 0;
            for (int t = 0; t < 8; t++) {
                memcpy(qs + 4 * t, gb + L.q + 64 * t + 4 * r, 4);
                if (!five)
                    continue;
                uint64_t hl, hh;
                memcpy(&hl, gb + L.h + 8 * (2 * t), 8);
                memcpy(&hh, gb + L.h + 8 * (2 * t + 1), 8);
                for (int i = 0; i < 4; i++) {
                    qh |= ((hl >> (4 * r + i)) & 1) << (4 * t + i);
                    qh |= ((hh >> (4 * r + i)) & 1) << (32 + 4 * t + i);
                }
            }
            if (five)
                memcpy(blk + (asym ? 4 : 2), &qh, 8);
        }
}

static float f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    int exp = (h >> 10) & 0x1F;
    uint32_t mant = h & 0x3FF, bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | mant << 13;
    } else if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalize */
            exp = 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (uint32_t)(exp + 112) << 23 | (mant & 0x3FF) << 13;
        }
    } else {
        bits = sign | (uint32_t)(exp + 112) << 23 | mant << 13;
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

float qk_f16(uint16_t h) { return f16_to_f32(h); }

/* The value of row r, input j of one group block. */
static float group_value(qk_format f, const uint8_t *gb, int r, int j)
{
    const qk_layout L = QK_LAYOUT[f];
    if (f == FMT_SYM8) {
        float d;
        memcpy(&d, gb + L.d + 4 * r, 4);
        return d * (float)(int8_t)gb[L.q + 64 * (j / 4) + 4 * r + j % 4];
    }
    uint16_t dh;
    memcpy(&dh, gb + L.d + 2 * r, 2);
    const int high = j >= 32, t = (j % 32) / 4, i = j % 4;
    const uint8_t byte = gb[L.q + 64 * t + 4 * r + i];
    int v = high ? byte >> 4 : byte & 15;
    if (L.h >= 0) {
        uint64_t mask;
        memcpy(&mask, gb + L.h + 8 * (2 * t + high), 8);
        v |= (int)((mask >> (4 * r + i)) & 1) << 4;
    }
    if (L.m >= 0) {
        uint16_t mh;
        memcpy(&mh, gb + L.m + 2 * r, 2);
        return f16_to_f32(dh) * (float)v + f16_to_f32(mh);
    }
    return f16_to_f32(dh) * (float)(v - L.offset);
}

void qk_dequantize(qk_format f, const uint8_t *packed, int n, int k, float *out)
{
    const int nb = k / QK;
    for (int row = 0; row < n; row++)
        for (int b = 0; b < nb; b++) {
            const uint8_t *gb = packed + ((size_t)(row / GR) * nb + b) * QK_LAYOUT[f].bytes;
            for (int j = 0; j < QK; j++)
                out[(size_t)row * k + b * QK + j] = group_value(f, gb, row % GR, j);
        }
}

void qk_dequantize_rows(qk_format f, const uint8_t *packed, int n, int k, const int64_t *ids,
                        int count, float *out)
{
    const int nb = k / QK;
    for (int i = 0; i < count; i++) {
        const int64_t row = ids[i];
        float *dst = out + (size_t)i * k;
        if (row < 0 || row >= n) { /* checked by the caller; zeros rather than a stray read */
            memset(dst, 0, sizeof(float) * (size_t)k);
            continue;
        }
        for (int b = 0; b < nb; b++) {
            const uint8_t *gb = packed + ((size_t)(row / GR) * nb + b) * QK_LAYOUT[f].bytes;
            for (int j = 0; j < QK; j++)
                dst[b * QK + j] = group_value(f, gb, (int)(row % GR), j);
        }
    }
}
