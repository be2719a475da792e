/* What the dense decoder (decoder.c) and the hybrid one (hybrid.c) share: float16 cache
 * writes, the residual add, a packed weight as a matmul target, and the gated MLP. */
#ifndef QWEN_TUI_LAYER_PARTS_H
#define QWEN_TUI_LAYER_PARTS_H

#include "decoder.h"
#include "float_kernels.h"

TARGET static inline void to_half(const float *src, uint16_t *dst, int n)
{
    int j = 0;
    for (; j + 8 <= n; j += 8)
        _mm_storeu_si128((__m128i *)(dst + j),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + j), _MM_FROUND_TO_NEAREST_INT));
    for (; j < n; j++) {
        float tail[8] = {0};
        uint16_t out[8];
        tail[0] = src[j];
        _mm_storeu_si128((__m128i *)out,
                         _mm256_cvtps_ph(_mm256_loadu_ps(tail), _MM_FROUND_TO_NEAREST_INT));
        dst[j] = out[0];
    }
}

TARGET static inline void add_rows(float *h, const float *y, size_t n)
{
    size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(h + j, _mm256_add_ps(_mm256_loadu_ps(h + j), _mm256_loadu_ps(y + j)));
    for (; j < n; j++)
        h[j] += y[j];
}

static inline qk_target target(const qk_weight *w, float *y)
{
    qk_target t = {(qk_format)w->fmt, w->w, w->n, y, w->bias};
    return t;
}

/* h += down(silu(gate(x)) * up(x)), x = rms_norm(h) by norm_post, for `rows` rows of h; x,
 * gate_out, up_out and out are scratch ([rows, hidden], [rows, inter] twice, [rows, hidden]) */
static inline void mlp_rows(const qk_variant *v, float *h, int rows, int hidden, int inter,
                            const float *norm_post, float eps, const qk_weight *gate,
                            const qk_weight *up, const qk_weight *down, float *x, float *gate_out,
                            float *up_out, float *out, block_x *xq, int threads)
{
    rms_norm(h, norm_post, x, rows, hidden, eps, threads);
    qk_target gu[2] = {target(gate, gate_out), target(up, up_out)};
    qk_matmul(v, gu, 2, hidden, x, NULL, rows, xq, threads);
    qk_target td = target(down, out);
    qk_matmul(v, &td, 1, inter, gate_out, up_out, rows, xq, threads);
    add_rows(h, out, (size_t)rows * hidden);
}

#endif
