/*
 * Rotary position embedding for one projection's output, the way
 * transformers' apply_rotary_pos_emb computes it (x * cos + rotate_half(x) * sin,
 * products then sum, no fused multiply-add), in one pass instead of sixteen
 * torch operations per layer; the result is written head-major, the layout
 * attention reads.
 */
#if defined(__x86_64__) || defined(_M_X64)
#include <stddef.h>
#include <stdint.h>

#include "float_kernels.h"

TARGET static void rotate_row(const float *x, const float *c, const float *s, float *out, int dim)
{
    const int half = dim / 2;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int j = 0; j < half; j += 8) {
        const __m256 x1 = _mm256_loadu_ps(x + j), x2 = _mm256_loadu_ps(x + half + j);
        _mm256_storeu_ps(out + j, _mm256_add_ps(_mm256_mul_ps(x1, _mm256_loadu_ps(c + j)),
                                                _mm256_mul_ps(_mm256_xor_ps(x2, sign),
                                                              _mm256_loadu_ps(s + j))));
        _mm256_storeu_ps(out + half + j,
                         _mm256_add_ps(_mm256_mul_ps(x2, _mm256_loadu_ps(c + half + j)),
                                       _mm256_mul_ps(x1, _mm256_loadu_ps(s + half + j))));
    }
}

void rotary(const float *x, long x_row, int heads, int rows, int dim, const float *cos,
            const float *sin, const int64_t *pos, float *out, int threads)
{
#pragma omp parallel for num_threads(threads) schedule(static) if (rows > 8)
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < rows; i++)
            rotate_row(x + (size_t)i * x_row + (size_t)h * dim, cos + (size_t)pos[i] * dim,
                       sin + (size_t)pos[i] * dim, out + ((size_t)h * rows + i) * dim, dim);
}

#endif
