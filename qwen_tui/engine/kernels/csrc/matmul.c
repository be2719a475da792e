/* y = x @ W.T (+ bias) for one or more packed weights that read the same input: the input is
 * quantized once, then one parallel pass covers every target's groups of 16 output rows. */
#include <stdlib.h>

#include "qk.h"

#ifndef ROW_CHUNK
#define ROW_CHUNK 96 /* activation rows kept hot in L2 while the weights stream by */
#endif

static void group(const qk_variant *v, const qk_target *tg, const int *starts, int jj, int nb,
                  const block_x *xq, const block_sign *sg, int r0, int rows)
{
    int c = 0;
    while (jj >= starts[c + 1])
        c++;
    const qk_target *t = &tg[c];
    const int j = jj - starts[c], n = t->n;
    const int valid = n - GR * j < GR ? n - GR * j : GR;
    const uint8_t *gj = t->w + (size_t)j * nb * QK_LAYOUT[t->fmt].bytes;
    v->tile[t->fmt](xq + (size_t)r0 * nb, nb, rows, nb, gj, t->y + (size_t)r0 * n + GR * j, n,
                    valid, t->bias ? t->bias + GR * j : 0, sg);
}

void qk_matmul(const qk_variant *v, const qk_target *tg, int count, int k, const float *x,
               const float *up, int m, block_x *xq, int threads)
{
    const int nb = k / QK;
    int starts[QK_MAX_TARGETS + 1] = {0};
    for (int c = 0; c < count; c++)
        starts[c + 1] = starts[c] + (tg[c].n + GR - 1) / GR;
    const int groups = starts[count];
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < m; i++)
        v->quantize(x + (size_t)i * k, up ? up + (size_t)i * k : 0, xq + (size_t)i * nb, nb);

    if (m == 1) { /* decode: each thread streams one contiguous share of the weights */
        /* the row's signs where the variant's 8-bit tiles use them (without, they do as for
         * prompts) */
        int eight = 0;
        for (int c = 0; c < count; c++)
            eight |= tg[c].fmt == FMT_SYM8;
        block_sign *sg = v->signs && eight ? malloc(sizeof(block_sign) * (size_t)nb) : NULL;
        if (sg)
            v->signs(xq, sg, nb);
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int jj = 0; jj < groups; jj++)
            group(v, tg, starts, jj, nb, xq, sg, 0, 1);
        free(sg);
        return;
    }
    for (int r0 = 0; r0 < m; r0 += ROW_CHUNK) {
        const int rows = m - r0 < ROW_CHUNK ? m - r0 : ROW_CHUNK;
        /* prompts: shares taken as they finish, so a core slowed by the host does not
         * hold the other one up at the end of every chunk */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
        for (int jj = 0; jj < groups; jj++)
            group(v, tg, starts, jj, nb, xq, NULL, r0, rows);
    }
}
