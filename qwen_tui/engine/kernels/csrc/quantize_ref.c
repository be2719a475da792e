/* Activations -> int8 blocks: the scalar definition. The vectorized quantizers of each
 * variant perform these same float operations, so every variant gets the same blocks. */
#include <math.h>

#include "qk.h"

/* e^x for x <= 88: Cephes' expf polynomial, operation for operation as exp8() in simd.h */
float qk_exp_ref(float x)
{
    x = x > -87.0f ? x : -87.0f;
    const float n = nearbyintf(x * 1.44269504088896341f);
    float r = fmaf(-n, 0.693359375f, x);
    r = fmaf(-n, -2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r + 1.0f);
    union {
        int32_t i;
        float f;
    } e = {.i = ((int32_t)n + 127) << 23};
    return p * e.f;
}

/* silu(g) * u as the kernels compute it: g / (1 + e^-g) * u, e^-g capped at e^88 */
float qk_gated_ref(float g, float u)
{
    const float neg = -g;
    const float e = qk_exp_ref(neg < 88.0f ? neg : 88.0f);
    return g / (1.0f + e) * u;
}

void qk_finish_block(block_x *b, float max_abs)
{
    b->d = max_abs / 127.0f;
    int32_t sum = 0, h0 = 0, h1 = 0;
    for (int j = 0; j < QK; j++) {
        sum += b->q[j];
        if (j % 4 < 2)
            h0 += b->q[j];
        else
            h1 += b->q[j];
    }
    b->sum = sum;
    b->half[0] = (int16_t)h0;
    b->half[1] = (int16_t)h1;
    b->s = b->d * (float)sum;
}

void qk_quantize_ref(const float *x, const float *up, block_x *out, int nb)
{
    for (int b = 0; b < nb; b++) {
        float v[QK], max_abs = 0.0f;
        for (int j = 0; j < QK; j++) {
            v[j] = up ? qk_gated_ref(x[b * QK + j], up[b * QK + j]) : x[b * QK + j];
            const float a = fabsf(v[j]);
            max_abs = a > max_abs ? a : max_abs;
        }
        const float id = max_abs != 0.0f ? 127.0f / max_abs : 0.0f;
        for (int j = 0; j < QK; j++)
            out[b].q[j] = (int8_t)nearbyintf(v[j] * id);
        qk_finish_block(&out[b], max_abs);
    }
}
