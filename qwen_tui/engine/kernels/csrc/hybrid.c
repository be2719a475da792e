/*
 * A whole Qwen3.5 step in C: every layer for `rows` new positions in one call, each by its
 * kind (the dense families' decoder.c does the same for theirs).
 *
 * Gated DeltaNet (linear attention), with deltanet.c:
 *   x = rms_norm(h); qkv, z = x Wqkv, x Wz (packed); a, b = x Wa, x Wb (float32)
 *   q|k|v = silu(conv(qkv)) on the layer's window; q, k L2-normed; beta, g from b, a
 *   out = gated delta rule (the layer's state); h += (rms_norm(out) * w * silu(z)) Wout
 * Gated full attention, with the dense decoder's kernels:
 *   x = rms_norm(h); q|gate, k, v = x Wq, x Wk, x Wv; q, k = rms_norm per head
 *   q, k = rotary on each head's first rope_dim dims; cache[past ..] = fp16(k), fp16(v)
 *   h += (attend(q, cache) * sigmoid(gate)) Wo
 * then, both kinds: h += (silu(x Wg) * x Wu) Wd with x = rms_norm(h).
 * Zero-centred norms arrive as 1 + w (computed once at load). Every row is computed the same
 * way alone or in a batch (the delta rule runs token by token either way), so a prompt's
 * positions equal the same tokens decoded. The last layer may compute its output for the last
 * row alone (`last_only`).
 */
#if defined(__x86_64__) || defined(_M_X64)
#include <math.h>
#include <string.h>

#include "deltanet.h"
#include "hybrid.h"
#include "layer_parts.h"

typedef struct {
    float *x, *out, *gate, *up;                     /* both kinds, and the MLP */
    float *qg, *q, *g, *qr, *att, *k, *kr, *vv;     /* full attention */
    float *qkv, *mixed, *z, *a, *b, *lg, *beta, *core, *gated; /* Gated DeltaNet */
    block_x *xq;
} parts;

static size_t max_of(size_t a, size_t b) { return a > b ? a : b; }

/* Where each buffer of a step of `rows` rows lies in the scratch (from `base`, or only the
 * count when base is NULL); the floats it needs. Full and linear buffers share a region. */
static size_t carve(const qk_hybrid *d, int rows, float *base, parts *p)
{
    const size_t r = (size_t)rows, qd = qk_hybrid_q_dim(d), kvd = qk_hybrid_kv_dim(d);
    const size_t cd = qk_hybrid_conv_dim(d), vd = qk_hybrid_value_dim(d), hv = d->v_heads;
    size_t off = 0;
#define TAKE(field, n) (p->field = base ? base + off : NULL, off += (n))
    TAKE(x, r * d->hidden);
    TAKE(out, r * d->hidden);
    TAKE(gate, r * d->inter);
    TAKE(up, r * d->inter);
    const size_t kinds = off;
    TAKE(qg, r * 2 * qd);
    TAKE(q, r * qd);
    TAKE(g, r * qd);
    TAKE(qr, r * qd);
    TAKE(att, r * qd);
    TAKE(k, r * kvd);
    TAKE(kr, r * kvd);
    TAKE(vv, r * kvd);
    const size_t full_end = off;
    off = kinds;
    TAKE(qkv, r * cd);
    TAKE(mixed, r * cd);
    TAKE(z, r * vd);
    TAKE(a, r * hv);
    TAKE(b, r * hv);
    TAKE(lg, r * hv);
    TAKE(beta, r * hv);
    TAKE(core, r * vd);
    TAKE(gated, r * vd);
#undef TAKE
    off = max_of(off, full_end);
    const size_t wide = max_of(max_of(d->hidden, d->inter), max_of(qd, vd));
    p->xq = base ? (block_x *)(base + off) : NULL;
    return off + r * (wide / QK) * sizeof(block_x) / sizeof(float) + 16;
}

size_t qk_hybrid_scratch(const qk_hybrid *d, int rows)
{
    parts p;
    return carve(d, rows, NULL, &p);
}

/* out[h, i] = x[i, h] with its first `rot` dims turned: x * cos + rotate_half(x) * sin over
 * those (products, then the sum, as transformers computes it); the rest as they are. x rows
 * are x_row floats apart, heads dim apart; out is [heads, rows, dim]. */
static void partial_rotary(const float *x, long x_row, int heads, int rows, int dim, int rot,
                           const float *cos, const float *sin, const int64_t *pos, float *out)
{
    const int half = rot / 2;
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < rows; i++) {
            const float *xi = x + (size_t)i * x_row + (size_t)h * dim;
            const float *c = cos + (size_t)pos[i] * rot, *s = sin + (size_t)pos[i] * rot;
            float *o = out + ((size_t)h * rows + i) * dim;
            for (int j = 0; j < half; j++) {
                const float a = xi[j] * c[j], b = -xi[j + half] * s[j];
                const float e = xi[j + half] * c[j + half], f = xi[j] * s[j + half];
                o[j] = a + b;
                o[j + half] = e + f;
            }
            memcpy(o + rot, xi + rot, sizeof(float) * (size_t)(dim - rot));
        }
}

/* att *= sigmoid(g), 1 / (1 + e^-g) with e^-g capped at e^88 */
TARGET static void sigmoid_gate(float *att, const float *g, size_t n)
{
    for (size_t j = 0; j < n; j += 8) {
        const __m256 e = exp8(_mm256_min_ps(_mm256_sub_ps(_mm256_setzero_ps(),
                                                          _mm256_loadu_ps(g + j)),
                                            _mm256_set1_ps(88.0f)));
        const __m256 s = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(att + j, _mm256_mul_ps(_mm256_loadu_ps(att + j), s));
    }
}

static void full_layer(const qk_variant *v, const qk_hybrid *d, const qk_hlayer *L, int rows,
                       int qrows, int past, const int64_t *pos, const float *cos,
                       const float *sin, uint16_t *kc, uint16_t *vc, long cap, parts *p,
                       int threads)
{
    const int hd = d->head_dim, heads = d->heads, qd = qk_hybrid_q_dim(d);
    const int kvd = qk_hybrid_kv_dim(d);
    const float *xlast = p->x + (size_t)(rows - qrows) * d->hidden;
    if (qrows < rows) {
        qk_target kv[2] = {target(&L->k, p->k), target(&L->v, p->vv)};
        qk_matmul(v, kv, 2, d->hidden, p->x, NULL, rows, p->xq, threads);
        qk_target tq = target(&L->q, p->qg);
        qk_matmul(v, &tq, 1, d->hidden, xlast, NULL, qrows, p->xq, threads);
    } else {
        qk_target qkv[3] = {target(&L->q, p->qg), target(&L->k, p->k), target(&L->v, p->vv)};
        qk_matmul(v, qkv, 3, d->hidden, p->x, NULL, rows, p->xq, threads);
    }
    for (int i = 0; i < qrows * heads; i++) { /* per head: head_dim queries, then the gate */
        memcpy(p->q + (size_t)i * hd, p->qg + (size_t)i * 2 * hd, sizeof(float) * hd);
        memcpy(p->g + (size_t)i * hd, p->qg + (size_t)i * 2 * hd + hd, sizeof(float) * hd);
    }
    rms_norm(p->q, L->q_norm, p->q, qrows * heads, hd, d->eps, threads);
    rms_norm(p->k, L->k_norm, p->k, rows * d->kv_heads, hd, d->eps, threads);
    partial_rotary(p->q, qd, heads, qrows, hd, d->rope_dim, cos, sin, pos + (rows - qrows), p->qr);
    partial_rotary(p->k, kvd, d->kv_heads, rows, hd, d->rope_dim, cos, sin, pos, p->kr);
    for (int g = 0; g < d->kv_heads; g++) /* cache[g, past + i] = k, v of row i */
        for (int i = 0; i < rows; i++) {
            const size_t at = ((size_t)g * cap + past + i) * hd;
            to_half(p->kr + ((size_t)g * rows + i) * hd, kc + at, hd);
            to_half(p->vv + (size_t)i * kvd + (size_t)g * hd, vc + at, hd);
        }
    attend_rows(p->qr, kc, vc, p->att, heads, d->kv_heads, qrows, past + rows - qrows, hd,
                cap * hd, hd, 1.0f / sqrtf((float)hd), 1, threads);
    sigmoid_gate(p->att, p->g, (size_t)qrows * qd);
    qk_target to = target(&L->o, p->out);
    qk_matmul(v, &to, 1, qd, p->att, NULL, qrows, p->xq, threads);
}

static void linear_layer(const qk_variant *v, const qk_hybrid *d, const qk_hlayer *L, int rows,
                         int qrows, float *window, float *state, parts *p, int threads)
{
    const int cd = qk_hybrid_conv_dim(d), kd = qk_hybrid_key_dim(d);
    const int vd = qk_hybrid_value_dim(d), hv = d->v_heads;
    const float *xlast = p->x + (size_t)(rows - qrows) * d->hidden;
    if (qrows < rows) { /* z only where the output is wanted */
        qk_target tqkv = target(&L->qkv, p->qkv);
        qk_matmul(v, &tqkv, 1, d->hidden, p->x, NULL, rows, p->xq, threads);
        qk_target tz = target(&L->z, p->z);
        qk_matmul(v, &tz, 1, d->hidden, xlast, NULL, qrows, p->xq, threads);
    } else {
        qk_target both[2] = {target(&L->qkv, p->qkv), target(&L->z, p->z)};
        qk_matmul(v, both, 2, d->hidden, p->x, NULL, rows, p->xq, threads);
    }
    float_matmul(p->x, rows, d->hidden, L->w_a, hv, p->a, hv, threads);
    float_matmul(p->x, rows, d->hidden, L->w_b, hv, p->b, hv, threads);
    deltanet_conv(p->qkv, cd, rows, cd, d->kernel, window, L->conv, p->mixed, cd, threads);
    float *q = p->mixed, *k = p->mixed + kd, *vals = p->mixed + 2 * kd;
    deltanet_gates(q, k, cd, rows, d->k_heads, d->k_dim, p->a, p->b, hv, hv, L->A, L->dt_bias,
                   p->lg, p->beta, threads);
    deltanet_rule(q, k, cd, vals, cd, rows, d->k_heads, hv, d->k_dim, d->v_dim, p->lg, p->beta,
                  state, p->core, vd, threads);
    gated_rms_norm(p->core + (size_t)(rows - qrows) * vd, p->z, L->norm, p->gated, qrows * hv,
                   d->v_dim, d->eps, threads);
    qk_target to = target(&L->out, p->out);
    qk_matmul(v, &to, 1, vd, p->gated, NULL, qrows, p->xq, threads);
}

void qk_hybrid_decode(const qk_variant *v, const qk_hybrid *d, float *h, int rows, int past,
                      const int64_t *pos, const float *cos, const float *sin, void *const *first,
                      void *const *second, long cap, int last_only, float *scratch, int threads)
{
    parts p;
    carve(d, rows, scratch, &p);
    for (int i = 0; i < d->count; i++) {
        const qk_hlayer *L = &d->layers[i];
        const int qrows = last_only && i == d->count - 1 ? 1 : rows; /* rows carried on */
        rms_norm(h, L->norm_in, p.x, rows, d->hidden, d->eps, threads);
        if (L->linear)
            linear_layer(v, d, L, rows, qrows, first[i], second[i], &p, threads);
        else
            full_layer(v, d, L, rows, qrows, past, pos, cos, sin, first[i], second[i], cap,
                       &p, threads);
        float *hl = h + (size_t)(rows - qrows) * d->hidden;
        add_rows(hl, p.out, (size_t)qrows * d->hidden);
        mlp_rows(v, hl, qrows, d->hidden, d->inter, L->norm_post, d->eps, &L->gate, &L->up,
                 &L->down, p.x, p.gate, p.up, p.out, p.xq, threads);
        if (qrows < rows)
            memmove(h, hl, sizeof(float) * d->hidden);
    }
}

#endif
