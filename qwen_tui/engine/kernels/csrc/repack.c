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

/* Bits 4t + i (t = 0..7) of a 32-bit word -> bit t of a byte: the fifth bits of one row's
 * values i, 4 + i, ..., 28 + i, as a plane byte of qk.h holds them. */
static uint8_t gather4(uint32_t bits, int i)
{
    uint32_t x = (bits >> i) & 0x11111111u;
    x = (x | x >> 3) & 0x03030303u;
    x = (x | x >> 6) & 0x000F000Fu;
    return (uint8_t)(x | x >> 12);
}

/* gather4 undone: bit t of a plane byte -> bit 4t + i */
static uint32_t scatter4(uint8_t byte, int i)
{
    uint32_t x = byte;
    x = (x | x << 12) & 0x000F000Fu;
    x = (x | x << 6) & 0x03030303u;
    x = (x | x << 3) & 0x11111111u;
    return x << i;
}

/* Every value keeps its 4 or 8 stored bits (a 4-bit block's byte j holds values j and j + 32,
 * as a packed group's does), so a row's bytes move 4 at a time; 5-bit blocks' fifth bits move
 * 8 at a time into the group's planes. (Unpacking each block to 64 values first, as this did,
 * took three times as long: a third of loading a 0.5B model.) */
void qk_repack(qk_format f, const uint8_t *src, uint8_t *dst, int n, int k)
{
    const qk_layout L = QK_LAYOUT[f];
    const int nb = k / QK, groups = (n + GR - 1) / GR;
    const int eight = f == FMT_SYM8, asym = qk_asym(f), five = L.h >= 0;
    const int dsz = eight ? 4 : 2, qoff = (asym ? 4 : 2) + (five ? 8 : 0);
    memset(dst, 0, qk_packed_bytes(f, n, k));
    for (int g = 0; g < groups; g++)
        for (int b = 0; b < nb; b++) {
            uint8_t *out = dst + ((size_t)g * nb + b) * L.bytes;
            for (int r = 0; r < GR && g * GR + r < n; r++) {
                const uint8_t *blk = src_block(f, src, g * GR + r, b, nb);
                memcpy(out + L.d + r * dsz, blk, dsz);
                if (eight) {
                    for (int t = 0; t < 16; t++)
                        memcpy(out + L.q + 64 * t + 4 * r, blk + 4 + 4 * t, 4);
                    continue;
                }
                if (asym)
                    memcpy(out + L.m + 2 * r, blk + 2, 2);
                for (int t = 0; t < 8; t++)
                    memcpy(out + L.q + 64 * t + 4 * r, blk + qoff + 4 * t, 4);
                if (!five)
                    continue;
                uint64_t qh;
                memcpy(&qh, blk + (asym ? 4 : 2), 8);
                for (int i = 0; i < 4; i++) {
                    out[L.h + 4 * r + i] = gather4((uint32_t)qh, i);
                    out[L.h + 64 + 4 * r + i] = gather4((uint32_t)(qh >> 32), i);
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
            for (int t = 0; t < 8; t++)
                memcpy(qs + 4 * t, gb + L.q + 64 * t + 4 * r, 4);
            if (!five)
                continue;
            uint64_t qh = 0;
            for (int i = 0; i < 4; i++)
                qh |= scatter4(gb[L.h + 4 * r + i], i) |
                      (uint64_t)scatter4(gb[L.h + 64 + 4 * r + i], i) << 32;
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
    if (L.h >= 0)
        v |= qk_fifth_bit(gb, L, high, t, r, i) << 4;
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
