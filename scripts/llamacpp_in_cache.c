/* scripts/llamacpp_in_cache.py's harness: one token's matvec through a llama.cpp build's own
   ggml-cpu kernels, compiled against that build's headers and libraries. */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "ggml.h"
#include "ggml-cpu.h"

/* Exported by ggml-cpu but not in its headers: the kernel llama.cpp's decode runs on Q4_0 weights
   repacked eight rows at a time (ggml-cpu/repack.cpp), on AVX2 and AVX-512. */
void ggml_gemv_q4_0_8x8_q8_0(int n, float *s, size_t bs, const void *vx, const void *vy,
                             int nr, int nc);

typedef struct { ggml_fp16_t d; uint8_t qs[16]; } q4_0_block;         /* ggml-common.h's */
typedef struct { ggml_fp16_t d[8]; uint8_t qs[128]; } q4_0x8_block;   /* repack.h's */
_Static_assert(sizeof(q4_0_block) == 18 && sizeof(q4_0x8_block) == 144, "Q4_0 layout");

int harness_init(void) {
    ggml_cpu_init();
    return ggml_cpu_has_avx2() | ggml_cpu_has_avx512() << 1;  /* what the build was compiled for */
}

int activation_type(int type) { return ggml_get_type_traits_cpu(type)->vec_dot_type; }

void quantize_weights(int type, const float *w, void *out, int rows, int cols) {
    ggml_quantize_chunk(type, w, out, 0, rows, cols, NULL);
}

void dequantize(int type, const void *q, float *out, int64_t count) {
    ggml_get_type_traits(type)->to_float(q, out, count);
}

/* repack.cpp's repack_q4_0_to_q4_0_8_bl: block b of rows r..r+7 side by side, nibbles ^ 8 */
void repack_q4_0_8x8(const void *src, void *dst, int rows, int cols) {
    const q4_0_block *in = src;
    q4_0x8_block *out = dst;
    int blocks = cols / 32;
    for (int r = 0; r < rows; r += 8)
        for (int b = 0; b < blocks; b++, out++) {
            for (int i = 0; i < 8; i++) out->d[i] = in[(r + i) * blocks + b].d;
            for (int i = 0; i < 16; i++) {
                uint64_t eight;
                memcpy(&eight, in[(r + i % 8) * blocks + b].qs + (i / 8) * 8, 8);
                eight ^= 0x8888888888888888ULL;
                memcpy(out->qs + i * 8, &eight, 8);
            }
        }
}

/* One decoded token's matvec as ggml's mul_mat does it: the activation quantized once, then
   vec_dot per row (or the repacked Q4_0 gemv over all rows). */
void multiply(int type, int repacked, const void *w, const float *x, void *xq, float *out,
              int rows, int cols) {
    const struct ggml_type_traits_cpu *traits = ggml_get_type_traits_cpu(type);
    ggml_get_type_traits_cpu(traits->vec_dot_type)->from_float(x, xq, cols);
    if (repacked) {
        ggml_gemv_q4_0_8x8_q8_0(cols, out, rows, w, xq, 1, rows);
        return;
    }
    size_t row_bytes = ggml_row_size(type, cols);
    for (int r = 0; r < rows; r++)
        traits->vec_dot(cols, out + r, 0, (const char *)w + r * row_bytes, 0, xq, 0, 1);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Seconds per multiply, over at least `seconds` of calls; `out` keeps the last result. */
double seconds_per_multiply(int type, int repacked, const void *w, const float *x, void *xq,
                            float *out, int rows, int cols, double seconds) {
    long calls = 0;
    double started = now(), elapsed;
    do {
        for (int i = 0; i < 20; i++) multiply(type, repacked, w, x, xq, out, rows, cols);
        calls += 20;
        elapsed = now() - started;
    } while (elapsed < seconds);
    return elapsed / calls;
}
