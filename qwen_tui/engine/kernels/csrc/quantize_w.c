/*
 * Weights -> bigdl-llm 2.5's low-bit blocks, byte for byte (or straight into the packed groups
 * of qk.h, which equal qk_repack of those bytes).
 *
 * bigdl-llm ships its quantizer only compiled (libllama_*.so: ggml_quantize_tensor); it is
 * upstream ggml's quantize_row_q*_reference with blocks of 64 and a float32 scale for q8_0,
 * built once per instruction set. Its AVX2-and-later builds fuse "x * id + 8.5f" (and the like)
 * into one FMA; its AVX build rounds the product first. Which one runs is bigdl-llm's choice
 * (libllama-api.so): an FMA build on an Intel CPU with AVX2, the AVX build on every other CPU,
 * AMD's included (qk_bigdl_fuses, cpu.c). So `fused` picks an explicit fmaf() or the two
 * roundings; nothing else is fused (the module is built with -ffp-contract=off). The rest is
 * kept literally because the bytes depend on it:
 *   - the symmetric formats keep the first value of largest magnitude by "amax < |x|" from
 *     amax = max = +0.0, so a block of zeros, -0.0 included, gets d = +0.0 * -0.125 = -0.0
 *     (an argmax would pick -0.0 and write d = +0.0);
 *   - float -> integer is x86's cvtt: truncation, 0x80000000 for NaN and out of range, of
 *     which the low byte is kept (an int8_t or uint8_t store);
 *   - float16 scales are rounded to nearest even, subnormals kept, overflow to infinity
 *     (vcvtps2ph with immediate 0).
 * Portable C: any CPU gets the same bytes (glibc's fmaf is exact with or without FMA).
 */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "qk.h"

/* float32 -> float16 bits, round to nearest even, as vcvtps2ph $0 does. Never given a NaN: the
 * scales and minimums are never NaN (max and min never take one, and the asym max - min is
 * never inf - inf: max starts at -FLT_MAX, min at FLT_MAX). */
static uint16_t f16_rne(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7FFFFFFF;
    if (ax >= 0x477FF000) /* 65520 and up round to infinity */
        return (uint16_t)(sign | 0x7C00);
    if (ax >= 0x38800000) { /* a normal float16: rebias, then round the 13 dropped bits */
        const uint32_t r = ax - 0x38000000u + 0x0FFFu + ((ax >> 13) & 1);
        return (uint16_t)(sign | (r >> 13));
    }
    const int e = (int)(ax >> 23);
    if (e < 102) /* below 2^-25 (float32 subnormals included): rounds to zero */
        return sign;
    const uint32_t full = (ax & 0x7FFFFF) | 0x800000;
    const int shift = 126 - e; /* 14..24: value = full >> shift units of 2^-24 */
    uint32_t q = full >> shift;
    const uint32_t rem = full & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1)))
        q++; /* may carry into the smallest normal, which is the right encoding */
    return (uint16_t)(sign | q);
}

/* (int8_t)a as compiled for x86: cvttss2si, then the low byte */
static int to_i8(float a)
{
    const int32_t i = a >= -2147483648.0f && a < 2147483648.0f ? (int32_t)a : INT32_MIN;
    return (int8_t)(uint8_t)((uint32_t)i & 0xFF);
}

static void put_f16(uint8_t *at, float v)
{
    const uint16_t h = f16_rne(v);
    memcpy(at, &h, 2);
}

/* q4_0 / q5_0: d = max / -2^(bits-1) (f16), stored u = min(top, (int8)(x / d + offset + 0.5)) */
static void block_sym(const float *x, int bits, int fused, uint8_t *out)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++)
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    const float d = max * (bits == 4 ? -0.125f : -0.0625f); /* max / -8, max / -16: exact */
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const float bias = bits == 4 ? 8.5f : 16.5f;
    const int top = (1 << bits) - 1;
    put_f16(out, d);
    uint8_t *qs = out + (bits == 5 ? 10 : 2);
    uint64_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
        const float xa = x[j], xb = x[j + QK / 2];
        const int a = to_i8(fused ? fmaf(xa, id, bias) : xa * id + bias);
        const int b = to_i8(fused ? fmaf(xb, id, bias) : xb * id + bias);
        const uint8_t ua = (uint8_t)(a < top ? a : top), ub = (uint8_t)(b < top ? b : top);
        qs[j] = (uint8_t)((ua & 15) | (ub & 15) << 4);
        qh |= (uint64_t)((ua >> 4) & 1) << j | (uint64_t)((ub >> 4) & 1) << (j + QK / 2);
    }
    if (bits == 5)
        memcpy(out + 2, &qh, 8);
}

/* q4_1 / q5_1: d = (max - min) / (2^bits - 1), m = min (both f16), u = (x - min) / d + 0.5 */
static void block_asym(const float *x, int bits, int fused, uint8_t *out)
{
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < QK; j++) {
        if (x[j] < min)
            min = x[j];
        if (x[j] > max)
            max = x[j];
    }
    const float d = (max - min) / (bits == 4 ? 15.0f : 31.0f);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(out, d);
    put_f16(out + 2, min);
    uint8_t *qs = out + (bits == 5 ? 12 : 4);
    uint64_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
        const float xa = x[j] - min, xb = x[j + QK / 2] - min; /* rounded before either */
        const float a = fused ? fmaf(xa, id, 0.5f) : xa * id + 0.5f;
        const float b = fused ? fmaf(xb, id, 0.5f) : xb * id + 0.5f;
        /* (uint8_t)v; ggml clamps the 4-bit one to 15, which (x - min) / d <= 15 never passes */
        const uint8_t ua = (uint8_t)to_i8(a), ub = (uint8_t)to_i8(b);
        qs[j] = (uint8_t)((ua & 15) | (ub & 15) << 4);
        qh |= (uint64_t)((ua >> 4) & 1) << j | (uint64_t)((ub >> 4) & 1) << (j + QK / 2);
    }
    if (bits == 5)
        memcpy(out + 4, &qh, 8);
}

/* q8_0 with a float32 scale: d = max|x| / 127, q = roundf(x / d) (the product not fused) */
static void block_q8(const float *x, uint8_t *out)
{
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) {
        const float a = fabsf(x[j]);
        amax = amax > a ? amax : a; /* ggml's MAX: a NaN is kept until the next number */
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    memcpy(out, &d, 4);
    for (int j = 0; j < QK; j++)
        out[4 + j] = (uint8_t)to_i8(roundf(x[j] * id));
}

/* 64 source values -> float32 (exactly); returns how many are not finite */
static int widen(const void *src, int dtype, size_t at, float x[QK])
{
    if (dtype == 0) {
        memcpy(x, (const float *)src + at, sizeof(float) * QK);
    } else {
        uint16_t h[QK];
        memcpy(h, (const uint16_t *)src + at, sizeof h);
        for (int j = 0; j < QK; j++) {
            if (dtype == 1) {
                x[j] = qk_f16(h[j]);
            } else {
                const uint32_t bits = (uint32_t)h[j] << 16;
                memcpy(&x[j], &bits, 4);
            }
        }
    }
    int bad = 0;
    for (int j = 0; j < QK; j++) {
        uint32_t bits;
        memcpy(&bits, &x[j], 4);
        bad += (bits & 0x7F800000) == 0x7F800000;
    }
    return bad;
}

static size_t quantize_row(qk_format f, const void *src, int dtype, size_t row, int cols,
                           int fused, uint8_t *out)
{
    size_t bad = 0;
    for (int b = 0; b < cols / QK; b++) {
        float x[QK];
        bad += (size_t)widen(src, dtype, row * (size_t)cols + (size_t)b * QK, x);
        uint8_t *blk = out + (size_t)b * QK_BLOCK_BYTES[f];
        switch (f) {
        case FMT_SYM4:
            block_sym(x, 4, fused, blk);
            break;
        case FMT_SYM5:
            block_sym(x, 5, fused, blk);
            break;
        case FMT_ASYM4:
            block_asym(x, 4, fused, blk);
            break;
        case FMT_ASYM5:
            block_asym(x, 5, fused, blk);
            break;
        default:
            block_q8(x, blk);
        }
    }
    return bad;
}

size_t qk_quantize_weight(qk_format f, const void *src, int src_dtype, int rows, int cols,
                          uint8_t *dst, int packed, int fused, int threads)
{
    const size_t row_bytes = (size_t)(cols / QK) * QK_BLOCK_BYTES[f];
    size_t bad = 0;
    if (!packed) {
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : bad)
        for (int r = 0; r < rows; r++)
            bad += quantize_row(f, src, src_dtype, (size_t)r, cols, fused,
                                dst + (size_t)r * row_bytes);
        return bad;
    }
    /* a group's rows as bigdl blocks in a per-thread buffer, then regrouped into place */
    const int groups = (rows + GR - 1) / GR;
    uint8_t *scratch = malloc((size_t)threads * GR * row_bytes);
    if (scratch == NULL)
        return SIZE_MAX;
    const size_t group_bytes = qk_packed_bytes(f, GR, cols);
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : bad)
    for (int g = 0; g < groups; g++) {
        uint8_t *tmp = scratch + (size_t)omp_get_thread_num() * GR * row_bytes;
        const int n = rows - g * GR < GR ? rows - g * GR : GR;
        for (int r = 0; r < n; r++)
            bad += quantize_row(f, src, src_dtype, (size_t)g * GR + r, cols, fused,
                                tmp + (size_t)r * row_bytes);
        qk_repack(f, tmp, dst + (size_t)g * group_bytes, n, cols);
    }
    free(scratch);
    return bad;
}
