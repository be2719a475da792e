/* What q4matmul.c (the module) uses from the other kernel files. */
#ifndef QWEN_TUI_KERNELS_H
#define QWEN_TUI_KERNELS_H

#define TARGET __attribute__((target("avx2,fma,f16c")))

/* attention.c: out[i, h] = softmax(q[h, i] . K[g]^T * scale) V[g] over keys
 * 0 .. past + i, g = h / (heads / kv_heads); q is [heads, rows, dim], out is
 * [rows, heads, dim], the cache is float16 if `half` else float32. */
int attend_supported(int dim);
void attend_rows(const float *q, const void *k, const void *v, float *out, int heads,
                 int kv_heads, int rows, int past, int dim, long head_stride, long row,
                 float scale, int half, int threads);

#endif
