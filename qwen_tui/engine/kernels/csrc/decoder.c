/*
 * A whole decoder step in C: every layer of a Qwen2/Qwen3/Qwen-1 model for `rows` new
 * positions, in one call from Python (a decoded token used to cost about 400 Python and torch
 * dispatches per layer; now the step costs one).
 *
 * Per layer, with the kernels the forwards used one by one before:
 *   x = rms_norm(h); q, k, v = x Wq, x Wk, x Wv (+ bias, one matmul call)
 *   [Qwen3: q, k = rms_norm per head]; q, k = rotary(q, k); cache[past ..] = fp16(k), fp16(v)
 *   h += attend(q, cache) Wo; x = rms_norm(h); h += (silu(x Wg) * x Wu) Wd
 * The arithmetic is the same as those kernels' (and so as bigdl-llm's forwards up to their
 * documented rounding); every row is computed the same way alone or in a batch. The last layer
 * may compute only the last row after its keys and values are cached (`last_only`).
 */
#if defined(__x86_64__) || defined(_M_X64)
#include <math.h>
#include <string.h>

#include "decoder.h"
#include "float_kernels.h"
#include "layer_parts.h"

size_t qk_decode_scratch(const qk_decoder *d, int rows)
{
    const qk_layer *L = &d->layers[0];
    const size_t wide = L->inter > L->hidden ? L->inter : L->hidden;
    size_t floats = 0;
    floats += (size_t)rows * L->hidden;       /* x */
    floats += (size_t)rows * L->q_dim * 3;    /* q, rotated q, attention out */
    floats += (size_t)rows * L->kv_dim * 3;   /* k, rotated k, v */
    floats += (size_t)rows * L->hidden;       /* a projection's out */
    floats += (size_t)rows * L->inter * 2;    /* gate, up */
    const size_t blocks = (size_t)rows * (wide / QK) * sizeof(block_x) / sizeof(float) + 16;
    return floats + blocks;
}

/* `rows` rows of h after `past` cached positions; when `only_last`, attention output and the
 * MLP are computed for the last row alone (its result is written to h's first row). */
static void layer(const qk_variant *v, const qk_layer *L, float *h, int rows, int past,
                  const int64_t *pos, const float *cos, const float *sin, uint16_t *kc,
                  uint16_t *vc, long cap, int only_last, float *s, int threads)
{
    const int hd = L->head_dim;
    float *x = s, *q = x + (size_t)rows * L->hidden, *qr = q + (size_t)rows * L->q_dim;
    float *att = qr + (size_t)rows * L->q_dim, *k = att + (size_t)rows * L->q_dim;
    float *kr = k + (size_t)rows * L->kv_dim, *vv = kr + (size_t)rows * L->kv_dim;
    float *out = vv + (size_t)rows * L->kv_dim, *gate = out + (size_t)rows * L->hidden;
    float *up = gate + (size_t)rows * L->inter;
    block_x *xq = (block_x *)(up + (size_t)rows * L->inter);

    rms_norm(h, L->norm_in, x, rows, L->hidden, L->eps, threads);
    const int qrows = only_last ? 1 : rows; /* the rows whose attention output is needed */
    const float *xlast = x + (size_t)(rows - qrows) * L->hidden;
    if (only_last) {
        qk_target kv[2] = {target(&L->k, k), target(&L->v, vv)};
        qk_matmul(v, kv, 2, L->hidden, x, NULL, rows, xq, threads);
        qk_target tq = target(&L->q, q);
        qk_matmul(v, &tq, 1, L->hidden, xlast, NULL, 1, xq, threads);
    } else {
        qk_target qkv[3] = {target(&L->q, q), target(&L->k, k), target(&L->v, vv)};
        qk_matmul(v, qkv, 3, L->hidden, x, NULL, rows, xq, threads);
    }
    if (L->q_norm) { /* Qwen3: RMSNorm of every head of q and k before rotary */
        rms_norm(q, L->q_norm, q, qrows * L->heads, hd, L->eps, threads);
        rms_norm(k, L->k_norm, k, rows * L->kv_heads, hd, L->eps, threads);
    }
    rotary(q, L->q_dim, L->heads, qrows, hd, cos, sin, pos + (rows - qrows), qr, threads);
    rotary(k, L->kv_dim, L->kv_heads, rows, hd, cos, sin, pos, kr, threads);
    for (int g = 0; g < L->kv_heads; g++) /* cache[g, past + i] = k, v of row i */
        for (int i = 0; i < rows; i++) {
            const size_t at = ((size_t)g * cap + past + i) * hd;
            to_half(kr + ((size_t)g * rows + i) * hd, kc + at, hd);
            to_half(vv + (size_t)i * L->kv_dim + (size_t)g * hd, vc + at, hd);
        }
    attend_rows(qr, kc, vc, att, L->heads, L->kv_heads, qrows, past + rows - qrows, hd,
                cap * hd, hd, 1.0f / sqrtf((float)hd), 1, threads);

    float *hl = h + (size_t)(rows - qrows) * L->hidden; /* the rows carried on */
    qk_target to = target(&L->o, out);
    qk_matmul(v, &to, 1, L->q_dim, att, NULL, qrows, xq, threads);
    add_rows(hl, out, (size_t)qrows * L->hidden);
    mlp_rows(v, hl, qrows, L->hidden, L->inter, L->norm_post, L->eps, &L->gate, &L->up, &L->down,
             x, gate, up, out, xq, threads);
    if (only_last && rows > 1)
        memmove(h, hl, sizeof(float) * L->hidden);
}

void qk_decode(const qk_variant *v, const qk_decoder *d, float *h, int rows, int past,
               const int64_t *pos, const float *cos, const float *sin, uint16_t *const *kc,
               uint16_t *const *vc, long cap, int last_only, float *scratch, int threads)
{
    for (int i = 0; i < d->count; i++)
        layer(v, &d->layers[i], h, rows, past, pos, cos, sin, kc[i], vc[i], cap,
              last_only && i == d->count - 1, scratch, threads);
}
#endif
