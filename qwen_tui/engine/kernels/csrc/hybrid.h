/* hybrid.c: every layer of a Qwen3.5 (Gated DeltaNet and gated attention) for a step's new
 * rows, in one call. */
#ifndef QWEN_TUI_HYBRID_H
#define QWEN_TUI_HYBRID_H

#include "decoder.h"

typedef struct {
    int linear; /* 1: Gated DeltaNet, 0: gated full attention */
    const float *norm_in, *norm_post; /* zero-centred norms as 1 + w */
    qk_weight gate, up, down;
    /* full attention: q (per head: head_dim queries, then head_dim gates), k, v, o */
    const float *q_norm, *k_norm; /* 1 + w */
    qk_weight q, k, v, o;
    /* Gated DeltaNet */
    qk_weight qkv, z, out;
    const float *w_a, *w_b; /* float32 [v_heads, hidden] */
    const float *conv;      /* [kernel, conv_dim], oldest tap first */
    const float *A;         /* -exp(A_log) [v_heads] */
    const float *dt_bias;   /* [v_heads] */
    const float *norm;      /* the gated norm's weight [v_dim] (plain w) */
} qk_hlayer;

typedef struct {
    int hidden, inter;
    int heads, kv_heads, head_dim, rope_dim;
    int k_heads, v_heads, k_dim, v_dim, kernel;
    float eps;
    int count;
    qk_hlayer *layers;
} qk_hybrid;

/* derived widths */
static inline int qk_hybrid_q_dim(const qk_hybrid *d) { return d->heads * d->head_dim; }
static inline int qk_hybrid_kv_dim(const qk_hybrid *d) { return d->kv_heads * d->head_dim; }
static inline int qk_hybrid_key_dim(const qk_hybrid *d) { return d->k_heads * d->k_dim; }
static inline int qk_hybrid_value_dim(const qk_hybrid *d) { return d->v_heads * d->v_dim; }
static inline int qk_hybrid_conv_dim(const qk_hybrid *d)
{
    return 2 * qk_hybrid_key_dim(d) + qk_hybrid_value_dim(d);
}

size_t qk_hybrid_scratch(const qk_hybrid *d, int rows);
/* `first[i]`, `second[i]`: layer i's float16 keys and values [kv_heads, cap, head_dim] (full),
 * or its conv window [kernel - 1, conv_dim] and delta-rule state [v_heads, k_dim, v_dim]
 * (float32, linear); cos and sin are [n, rope_dim] */
void qk_hybrid_decode(const qk_variant *v, const qk_hybrid *d, float *h, int rows, int past,
                      const int64_t *pos, const float *cos, const float *sin, void *const *first,
                      void *const *second, long cap, int last_only, float *scratch, int threads);

#endif
