/* decoder.c: every layer of a Qwen decoder for a step's new rows, in one call. */
#ifndef QWEN_TUI_DECODER_H
#define QWEN_TUI_DECODER_H

#include "qk.h"

typedef struct {
    int fmt;
    const uint8_t *w; /* packed (qk.h) */
    int n;            /* output rows */
    const float *bias; /* or NULL */
} qk_weight;

typedef struct {
    int hidden, q_dim, kv_dim, heads, kv_heads, head_dim, inter;
    float eps;
    const float *norm_in, *norm_post;
    const float *q_norm, *k_norm; /* Qwen3's per-head norms, or NULL */
    qk_weight q, k, v, o, gate, up, down;
} qk_layer;

typedef struct {
    int count;
    qk_layer *layers;
} qk_decoder;

size_t qk_decode_scratch(const qk_decoder *d, int rows);
void qk_decode(const qk_variant *v, const qk_decoder *d, float *h, int rows, int past,
               const int64_t *pos, const float *cos, const float *sin, uint16_t *const *kc,
               uint16_t *const *vc, long cap, int last_only, float *scratch, int threads);

#endif
