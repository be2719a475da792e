/*
 * The shared vocabulary of the low-bit matmul kernels: formats, the regrouped weight layout,
 * quantized activations, and the per-instruction-set tile functions.
 *
 * Weights arrive in bigdl-llm's blocks of 64 values (formats.py documents the bytes). At load
 * `repack` regroups them: for each group of GR = 16 output rows and each block of 64 inputs,
 * one "group block" holds the 16 rows' scales (and mins), then their values interleaved so that
 * 4 consecutive values of one row are one 32-bit lane:
 *
 *   4-bit   q[t][4r + i] = v[r][4t + i] | v[r][32 + 4t + i] << 4     t = 0..7, i = 0..3
 *   5-bit   the same nibbles, and two 64-byte planes of fifth bits: bit t of h[0][4r + i] /
 *           h[1][4r + i] is the fifth bit of v[r][4t + i] / v[r][32 + 4t + i], so the fifth
 *           bits of one q[t] sit at one bit position of the bytes beside it (one shift and
 *           one and bring them to 0x10, as llama.cpp's q5_K keeps its high bits)
 *   8-bit   q[t][4r + i] = v[r][4t + i] (int8)                      t = 0..15
 *
 * A 512-bit register then holds 16 rows x 4 values and one VNNI dot product (vpdpbusd) adds
 * 4 products into each row's lane; a 256-bit register holds rows 0..7 or 8..15 (the first or
 * second half of every 64-byte row of q). The group block has the same size as the 16 rows'
 * bigdl-llm blocks. A weight whose row count is not a multiple of 16 gets zero rows at the end.
 *
 * Activations are quantized to int8 in blocks of 64 (as ggml's q8_0 does). Every variant
 * computes each block's integer dot product exactly, then the same float operations in the
 * same order, so all variants give bit-identical results:
 *
 *   sym:   acc = fma((float)(sum_j u_j a_j - off * sum_j a_j), dw * dx, acc)
 *   asym:  acc = fma((float)(sum_j u_j a_j), dw * dx, acc);  acc = fma(m, dx * sum_j a_j, acc)
 *
 * where u_j is the stored unsigned value (off = 8 for sym_int4, 16 for sym_int5; sym_int8 stores
 * signed values, off = 0).
 */
#ifndef QWEN_TUI_QK_H
#define QWEN_TUI_QK_H

#include <stddef.h>
#include <stdint.h>

#define QK 64 /* values per block */
#define GR 16 /* output rows per group */
#define MAX_MR 8 /* activation rows per tile */

typedef enum { FMT_SYM4, FMT_ASYM4, FMT_SYM5, FMT_ASYM5, FMT_SYM8, FMT_COUNT } qk_format;

/* bigdl-llm's qtype ids and block sizes, by format */
static const int QK_QTYPE[FMT_COUNT] = {2, 3, 6, 7, 8};
static const int QK_BLOCK_BYTES[FMT_COUNT] = {34, 36, 42, 44, 68};

/* Offsets inside one group block (GR rows x QK values). */
typedef struct {
    int bytes;  /* GR * bigdl block bytes */
    int d;      /* GR scales: float16, or float32 for 8-bit */
    int m;      /* GR float16 mins (asym), or -1 */
    int h;      /* the two 64-byte planes of fifth bits (5-bit), or -1 */
    int q;      /* the values */
    int offset; /* subtracted from stored values (sym 4/5-bit) */
} qk_layout;

static const qk_layout QK_LAYOUT[FMT_COUNT] = {
    {544, 0, -1, -1, 32, 8},    /* sym_int4 */
    {576, 0, 32, -1, 64, 0},    /* asym_int4 */
    {672, 0, -1, 32, 160, 16},  /* sym_int5 */
    {704, 0, 32, 64, 192, 0},   /* asym_int5 */
    {1088, 0, -1, -1, 64, 0},   /* sym_int8 */
};

static inline int qk_asym(qk_format f) { return f == FMT_ASYM4 || f == FMT_ASYM5; }

/* The fifth bit of v[r][4t + i] (high = 0) or v[r][32 + 4t + i] (high = 1) of a 5-bit group
 * block */
static inline int qk_fifth_bit(const uint8_t *gb, qk_layout L, int high, int t, int r, int i)
{
    return (gb[L.h + 64 * high + 4 * r + i] >> t) & 1;
}

/* One quantized block of activations. */
typedef struct {
    int8_t q[QK];
    float d;      /* scale: value = d * q */
    float s;      /* d * sum(q), for asym formats */
    int32_t sum;  /* sum(q) */
    int16_t half[2]; /* sums of q over positions 0,1 and 2,3 (mod 4): int16 lanes of maddubs */
} block_x;

/* The signs of a one-row matmul's activation blocks (a decoded token), for the AVX2 8-bit
 * tiles: with mag = |q| and neg = -1 where q < 0 (else 0), w * q = mag * (w ^ neg) + (q < 0 ?
 * mag : 0), as ~w = -w - 1. So sum_j w_j q_j = sum_j mag_j (w_j ^ neg_j) + negsum: one xor
 * before maddubs where |w| and sign(q, w) take two, exact for every int8 w (-128 included). */
typedef struct {
    uint8_t mag[QK];
    int8_t neg[QK];
    int32_t negsum; /* sum of |q| over q < 0 */
} block_sign;

/* y[r * ys + j] (+)= row r of x . row j of one group, for r < mr and j < n (n <= GR);
 * bias (GR values or NULL) is added. x points at mr rows of nb blocks, rows xs blocks apart;
 * sg at the signs of x's blocks when mr == 1 and the variant makes them, else NULL. */
typedef void (*tile_fn)(const block_x *x, long xs, int mr, int nb, const uint8_t *g, float *y,
                        long ys, int n, const float *bias, const block_sign *sg);

/* Per-instruction-set variants. */
typedef enum {
    ISA_REF,        /* portable C */
    ISA_AVX2,       /* AVX2 + FMA + F16C */
    ISA_AVXVNNI,    /* AVX2 + AVX-VNNI (256-bit vpdpbusd, VEX) */
    ISA_AVX512VL,   /* the AVX-VNNI code with EVEX encoding (AVX-512 VL + VNNI) */
    ISA_AVX512,     /* AVX-512 F/BW/VL + VNNI, 512-bit */
    ISA_COUNT
} qk_isa;

extern const char *const QK_ISA_NAMES[ISA_COUNT];

typedef struct {
    tile_fn tile[FMT_COUNT];
    int mr;  /* activation rows per tile this variant prefers for prompts */
    /* activations -> blocks; with up != NULL the input is silu(x) * up */
    void (*quantize)(const float *x, const float *up, block_x *out, int nb);
    /* one row's blocks -> their signs, for its tiles (NULL: they use none) */
    void (*signs)(const block_x *x, block_sign *out, int nb);
} qk_variant;

int qk_isa_supported(qk_isa isa);
/* Whether bigdl-llm's quantizer runs one of its FMA builds on this CPU (its libllama-api.so
 * picks them on Intel CPUs with AVX2 and up, its AVX build everywhere else) */
int qk_bigdl_fuses(void);
const qk_variant *qk_variant_for(qk_isa isa);

/* variants, each in its own file */
extern const qk_variant qk_ref;
#if defined(__x86_64__) || defined(_M_X64)
extern const qk_variant qk_avx2, qk_avxvnni, qk_avx512vl, qk_avx512;
#endif

/* repack.c */
size_t qk_packed_bytes(qk_format f, int n, int k);
void qk_repack(qk_format f, const uint8_t *src, uint8_t *dst, int n, int k);
void qk_unpack(qk_format f, const uint8_t *packed, uint8_t *dst, int n, int k);
float qk_f16(uint16_t h);
void qk_dequantize(qk_format f, const uint8_t *packed, int n, int k, float *out);
void qk_dequantize_rows(qk_format f, const uint8_t *packed, int n, int k, const int64_t *ids,
                        int count, float *out);

/* quantize_w.c: rows x cols weights (src_dtype 0 float32, 1 float16, 2 bfloat16) -> bigdl-llm's
 * blocks, or with `packed` qk_repack's groups; `fused` as bigdl-llm's FMA builds round (see
 * qk_bigdl_fuses); how many values were not finite (SIZE_MAX: out of memory) */
size_t qk_quantize_weight(qk_format f, const void *src, int src_dtype, int rows, int cols,
                          uint8_t *dst, int packed, int fused, int threads);

/* bandwidth.c: read `count` words (a multiple of 8) with `threads` threads; their XOR. */
uint64_t qk_read_all(const uint64_t *words, size_t count, int threads);

/* quantize_ref.c: the scalar definition every vectorized quantizer matches bit for bit */
void qk_quantize_ref(const float *x, const float *up, block_x *out, int nb);
void qk_finish_block(block_x *b, float max_abs);

/* matmul.c */
typedef struct {
    qk_format fmt;
    const uint8_t *w; /* packed */
    int n;
    float *y;
    const float *bias; /* n values, or NULL */
} qk_target;

#define QK_MAX_TARGETS 4
void qk_matmul(const qk_variant *v, const qk_target *tg, int count, int k, const float *x,
               const float *up, int m, block_x *xq, int threads);

#endif
