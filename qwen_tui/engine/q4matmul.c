/*
 * q4matmul: y = x @ W.T for bigdl-llm's sym_int4 weights, on AVX2 CPUs.
 *
 * bigdl-llm 2.5's own CPU kernel multiplies one activation row at a time and
 * reaches about 5 GB/s of weights here, so both decode (1 row) and prompts
 * (hundreds of rows) are far slower than the memory and integer units allow.
 *
 * bigdl-llm's layout (checked by the tests against its own dequantizer): each
 * row of K values is K/64 blocks of 34 bytes, an fp16 scale d and 32 bytes
 * where byte j holds value j in its low nibble and value j+32 in its high
 * nibble; value = d * (nibble - 8).
 *
 * At load, ``repack`` rewrites those bytes in place (same size) so that one
 * AVX2 register holds 4 consecutive values of 8 output rows: per group of 8
 * rows and block of 64 values, 8 fp16 scales, then 8 registers P[t] whose
 * bytes 4r..4r+3 hold values 4t..4t+3 (low nibbles) and 32+4t..32+4t+3 (high
 * nibbles) of row r. The lanes of every product are then 8 different outputs:
 * one maddubs multiplies 4 activations (broadcast) by 8 rows, partial sums
 * stay in int16 for a block, and one conversion and one fused multiply-add
 * finish 8 outputs at once. Activations are quantized to int8 in blocks of
 * 64, like ggml's q8_0. A tile of MR activation rows shares every unpacked
 * weight register; each output is computed the same way whatever the number
 * of rows, so results do not depend on batching.
 *
 * maddubs wants unsigned x signed: nibbles (0..15) stay unsigned. Each int16
 * lane of a row sums 32 products of one block; it starts at -8 x the sum of
 * those 32 activations, so it ends at sum((nibble - 8) * a), at most
 * 32 * 8 * 127 = 32512 in size: exact, even though the running sum wraps.
 * One accumulator per row and block leaves registers for a tile of 6 rows.
 *
 * Several weights that read the same input (q/k/v, gate/up) go in one call:
 * the input is quantized once and one parallel pass covers all their rows.
 * A bias is added as a tile is stored. The MLP's down projection reads
 * silu(gate) * up: the kernel takes both factors and forms the product block
 * by block as it quantizes, so it is never written out.
 *
 * This file is also the Python module (_q4matmul): it binds the other kernels
 * declared in kernels.h (attention.c, norm.c, rotary.c).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "kernels.h"

#define QK 64

typedef struct {
    uint16_t d;
    uint8_t qs[QK / 2];
} __attribute__((packed)) block_w; /* bigdl-llm's sym_int4 block, 34 bytes */

typedef struct {
    uint16_t d[8];
    uint8_t p[8][32];
} __attribute__((packed)) block_g; /* 8 rows x 64 values, 272 bytes = 8 x 34 */

typedef struct {
    int8_t q[QK];  /* round(x / d) */
    float d;       /* scale */
    int32_t init;  /* two int16: -8 * sum(q) over positions 0,1 and 2,3 mod 4 */
} block_x;

/* ---- layout ------------------------------------------------------------ */

static void repack_rows(const block_w *w, block_g *g, int n, int nb)
{
#pragma omp parallel for schedule(static)
    for (int j0 = 0; j0 < n; j0 += 8)
        for (int b = 0; b < nb; b++) {
            block_g *out = g + (size_t)(j0 / 8) * nb + b;
            for (int r = 0; r < 8; r++) {
                const block_w *src = w + (size_t)(j0 + r) * nb + b;
                out->d[r] = src->d;
                for (int t = 0; t < 8; t++)
                    memcpy(&out->p[t][4 * r], &src->qs[4 * t], 4);
            }
        }
}

TARGET static void dequantize_rows(const block_g *g, int n, int nb, float *out)
{
    const int k = nb * QK;
    for (int j0 = 0; j0 < n; j0 += 8)
        for (int b = 0; b < nb; b++) {
            const block_g *gb = g + (size_t)(j0 / 8) * nb + b;
            for (int r = 0; r < 8; r++) {
                float *row = out + (size_t)(j0 + r) * k + (size_t)b * QK;
                const float d = _cvtsh_ss(gb->d[r]);
                for (int t = 0; t < 8; t++)
                    for (int q = 0; q < 4; q++) {
                        const uint8_t byte = gb->p[t][4 * r + q];
                        row[4 * t + q] = d * (float)((byte & 0x0F) - 8);
                        row[32 + 4 * t + q] = d * (float)((byte >> 4) - 8);
                    }
            }
        }
}

/* ---- activations -> int8 blocks --------------------------------------- */

/* 64 values -> int8 with one scale (round to nearest, like ggml's q8_0) */
TARGET static inline void quantize_block(const __m256 *v, block_x *out)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 8; k++)
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float max_abs = _mm_cvtss_f32(m4);
    const __m256 id = _mm256_set1_ps(max_abs != 0.0f ? 127.0f / max_abs : 0.0f);
    __m256i i[8];
    __m256i sum = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        const __m256 r = _mm256_round_ps(_mm256_mul_ps(v[k], id),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        i[k] = _mm256_cvtps_epi32(r);
        sum = _mm256_add_epi32(sum, i[k]);
    }
    for (int h = 0; h < 2; h++) {
        __m256i a = _mm256_packs_epi32(i[4 * h], i[4 * h + 1]);
        __m256i c = _mm256_packs_epi32(i[4 * h + 2], i[4 * h + 3]);
        a = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, c), perm);
        _mm256_storeu_si256((__m256i *)(out->q + 32 * h), a);
    }
    int32_t lane[8]; /* lane p sums the values at positions p mod 8 */
    _mm256_storeu_si256((__m256i *)lane, sum);
    const int sa = lane[0] + lane[1] + lane[4] + lane[5];
    const int sb = lane[2] + lane[3] + lane[6] + lane[7];
    out->d = max_abs / 127.0f;
    out->init = (int32_t)((uint32_t)(uint16_t)(-8 * sa) | (uint32_t)(uint16_t)(-8 * sb) << 16);
}

/* x[m, k] rows -> int8 blocks */
TARGET static void quantize_row(const float *x, block_x *out, int nb)
{
    for (int b = 0; b < nb; b++, x += QK) {
        __m256 v[8];
        for (int k = 0; k < 8; k++)
            v[k] = _mm256_loadu_ps(x + 8 * k);
        quantize_block(v, out + b);
    }
}

/* silu(g) * u (the gated MLP's product, never stored) -> int8 blocks; silu(g) =
 * g / (1 + e^-g), as torch computes it, to about 1e-7 */
TARGET static void quantize_gated_row(const float *g, const float *u, block_x *out, int nb)
{
    const __m256 one = _mm256_set1_ps(1.0f), top = _mm256_set1_ps(88.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < nb; b++, g += QK, u += QK) {
        __m256 v[8];
        for (int k = 0; k < 8; k++) {
            const __m256 x = _mm256_loadu_ps(g + 8 * k);
            const __m256 e = exp8(_mm256_min_ps(_mm256_xor_ps(x, sign), top));
            v[k] = _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)),
                                 _mm256_loadu_ps(u + 8 * k));
        }
        quantize_block(v, out + b);
    }
}

/* ---- a tile: MR activation rows x one group of 8 weight rows ---------- */

TARGET static inline __m256i broadcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* The empty asm keeps each sum in order: without it GCC reassociates the
 * wrapping int16 adds, computes every product first and spills them. */
#define DEFINE_TILE(MR, PREFETCH)                                                          \
    TARGET static void tile_##MR(const block_x *x, int nb, const block_g *g, float *y,      \
                                 int ys, const float *bias)                                \
    {                                                                                      \
        const __m256i m4 = _mm256_set1_epi8(0x0F);                                         \
        const __m256i ones = _mm256_set1_epi16(1);                                         \
        __m256 acc[MR];                                                                    \
        for (int i = 0; i < MR; i++)                                                       \
            acc[i] = _mm256_setzero_ps();                                                  \
        for (int b = 0; b < nb; b++) {                                                     \
            const block_g *gb = g + b;                                                     \
            if (PREFETCH)                                                                  \
                _mm_prefetch((const char *)(gb + 1) + 256, _MM_HINT_T0);                   \
            __m256i sum[MR];                                                               \
            for (int i = 0; i < MR; i++)                                                   \
                sum[i] = _mm256_set1_epi32(x[(size_t)i * nb + b].init);                    \
            for (int t = 0; t < 8; t++) {                                                  \
                const __m256i p = _mm256_loadu_si256((const __m256i *)gb->p[t]);           \
                const __m256i lo = _mm256_and_si256(p, m4);                                \
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), m4);          \
                for (int i = 0; i < MR; i++) {                                             \
                    const int8_t *q = x[(size_t)i * nb + b].q;                             \
                    sum[i] = _mm256_add_epi16(sum[i], _mm256_maddubs_epi16(lo, broadcast4(q + 4 * t))); \
                    sum[i] = _mm256_add_epi16(sum[i],                                      \
                                              _mm256_maddubs_epi16(hi, broadcast4(q + 32 + 4 * t))); \
                    __asm__("" : "+x"(sum[i]));                                            \
                }                                                                          \
            }                                                                              \
            const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)gb->d));    \
            for (int i = 0; i < MR; i++) {                                                 \
                const __m256 d = _mm256_mul_ps(dw, _mm256_set1_ps(x[(size_t)i * nb + b].d)); \
                acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(sum[i], ones)), d, \
                                         acc[i]);                                          \
            }                                                                              \
        }                                                                                  \
        const __m256 b8 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();             \
        for (int i = 0; i < MR; i++)                                                       \
            _mm256_storeu_ps(y + (size_t)i * ys, bias ? _mm256_add_ps(acc[i], b8) : acc[i]); \
    }

#define TILE_ROWS 6
DEFINE_TILE(6, 0) /* prompts: a weight group is reused by 6 rows from L1 */
DEFINE_TILE(1, 1) /* decode: the weights stream by once; fetch ahead */

/* ---- y[m, n] = x[m, k] @ W[n, k].T, for one or more W sharing x ---------- */

#ifndef ROW_CHUNK
#define ROW_CHUNK 96 /* activation rows kept hot in L2 while all of W streams by */
#endif
#define MAX_TARGETS 4 /* q/k/v, gate/up: projections of the same input */

typedef struct {
    const block_g *g;
    int n;
    float *y;
    const float *bias; /* n values added to every row, or NULL */
} target;

/* Rows [r0, r0 + rows) of one group of 8 outputs (the jj-th of all targets'). */
static void group(const target *tg, const int *starts, int jj, int nb, const block_x *xq,
                  int r0, int rows)
{
    int c = 0;
    while (jj >= starts[c + 1])
        c++;
    const int j = jj - starts[c], n = tg[c].n;
    const block_g *gj = tg[c].g + (size_t)j * nb;
    const block_x *xc = xq + (size_t)r0 * nb;
    float *yc = tg[c].y + (size_t)r0 * n + 8 * j;
    const float *bias = tg[c].bias ? tg[c].bias + 8 * j : NULL;
    int i = 0;
    for (; i + TILE_ROWS <= rows; i += TILE_ROWS)
        tile_6(xc + (size_t)i * nb, nb, gj, yc + (size_t)i * n, n, bias);
    for (; i < rows; i++)
        tile_1(xc + (size_t)i * nb, nb, gj, yc + (size_t)i * n, n, bias);
}

/* x is [m, k], or with `up` the input is silu(x) * up (both [m, k]) */
static void matmul(const target *tg, int count, int k, const float *x, const float *up, int m,
                   block_x *xq, int threads)
{
    const int nb = k / QK;
    int starts[MAX_TARGETS + 1] = {0};
    for (int c = 0; c < count; c++)
        starts[c + 1] = starts[c] + tg[c].n / 8;
    const int groups = starts[count];
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < m; i++) {
        if (up)
            quantize_gated_row(x + (size_t)i * k, up + (size_t)i * k, xq + (size_t)i * nb, nb);
        else
            quantize_row(x + (size_t)i * k, xq + (size_t)i * nb, nb);
    }

    if (m == 1) { /* decode: each thread streams one contiguous share of the weights */
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int jj = 0; jj < groups; jj++)
            group(tg, starts, jj, nb, xq, 0, 1);
        return;
    }
    for (int r0 = 0; r0 < m; r0 += ROW_CHUNK) {
        const int rows = m - r0 < ROW_CHUNK ? m - r0 : ROW_CHUNK;
        /* prompts: shares taken as they finish, so a core slowed by the host does not
         * hold the other one up at the end of every chunk */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
        for (int jj = 0; jj < groups; jj++)
            group(tg, starts, jj, nb, xq, r0, rows);
    }
}

/* ---- Python binding ----------------------------------------------------- */

static int check_shape(int n, int k)
{
    if (n <= 0 || n % 8 != 0 || k <= 0 || k % QK != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "q4matmul: rows must be a multiple of 8, columns of 64");
        return 0;
    }
    return 1;
}

static PyObject *py_repack(PyObject *self, PyObject *args)
{
    Py_ssize_t ptr;
    int n, k;
    if (!PyArg_ParseTuple(args, "nii", &ptr, &n, &k) || !check_shape(n, k))
        return NULL;
    const size_t bytes = (size_t)n * (k / QK) * sizeof(block_w);
    block_g *tmp = malloc(bytes);
    if (tmp == NULL)
        return PyErr_NoMemory();
    repack_rows((const block_w *)ptr, tmp, n, k / QK);
    memcpy((void *)ptr, tmp, bytes);
    free(tmp);
    Py_RETURN_NONE;
}

static PyObject *py_dequantize(PyObject *self, PyObject *args)
{
    Py_ssize_t ptr, out;
    int n, k;
    if (!PyArg_ParseTuple(args, "niin", &ptr, &n, &k, &out) || !check_shape(n, k))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    dequantize_rows((const block_g *)ptr, n, k / QK, (float *)out);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_matmul(PyObject *self, PyObject *args)
{
    Py_ssize_t x_ptr, up_ptr = 0;
    int m, k, threads;
    PyObject *items;
    if (!PyArg_ParseTuple(args, "niiOi|n", &x_ptr, &m, &k, &items, &threads, &up_ptr))
        return NULL;
    PyObject *seq = PySequence_Fast(items, "q4matmul: targets must be a sequence");
    if (seq == NULL)
        return NULL;
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    target tg[MAX_TARGETS];
    int ok = count >= 1 && count <= MAX_TARGETS;
    if (!ok)
        PyErr_SetString(PyExc_ValueError, "q4matmul: 1 to 4 (weight, rows, out, bias) targets");
    for (Py_ssize_t c = 0; ok && c < count; c++) {
        Py_ssize_t w_ptr, y_ptr, bias_ptr;
        ok = PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, c),
                              "ninn;q4matmul: target is (weight_ptr, rows, out_ptr, bias_ptr or 0)",
                              &w_ptr, &tg[c].n, &y_ptr, &bias_ptr) &&
             check_shape(tg[c].n, k);
        tg[c].g = (const block_g *)w_ptr;
        tg[c].y = (float *)y_ptr;
        tg[c].bias = (const float *)bias_ptr;
    }
    Py_DECREF(seq);
    if (ok && (m <= 0 || threads <= 0)) {
        PyErr_SetString(PyExc_ValueError, "q4matmul: rows and threads must be positive");
        ok = 0;
    }
    if (!ok)
        return NULL;
    block_x *xq = malloc(sizeof(block_x) * (size_t)m * (k / QK));
    if (xq == NULL)
        return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    matmul(tg, (int)count, k, (const float *)x_ptr, (const float *)up_ptr, m, xq, threads);
    Py_END_ALLOW_THREADS
    free(xq);
    Py_RETURN_NONE;
}

static PyObject *py_attend(PyObject *self, PyObject *args)
{
    Py_ssize_t q, k, v, out, head_stride, row;
    int heads, kv_heads, rows, past, dim, half, threads;
    float scale;
    if (!PyArg_ParseTuple(args, "nnnniiiiinnfpi", &q, &k, &v, &out, &heads, &kv_heads, &rows,
                          &past, &dim, &head_stride, &row, &scale, &half, &threads))
        return NULL;
    if (heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || !attend_supported(dim) ||
        rows <= 0 || past < 0 || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "q4matmul.attend: unsupported shape");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    attend_rows((const float *)q, (const void *)k, (const void *)v, (float *)out, heads, kv_heads,
                rows, past, dim, head_stride, row, scale, half, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_rms_norm(PyObject *self, PyObject *args)
{
    Py_ssize_t x, w, out;
    int rows, n, threads;
    float eps;
    if (!PyArg_ParseTuple(args, "nnniifi", &x, &w, &out, &rows, &n, &eps, &threads))
        return NULL;
    if (rows <= 0 || n <= 0 || n % 8 != 0 || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "q4matmul.rms_norm: rows of a multiple of 8 values");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rms_norm((const float *)x, (const float *)w, (float *)out, rows, n, eps, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_rotary(PyObject *self, PyObject *args)
{
    Py_ssize_t x, x_row, cos, sin, pos, out;
    int heads, rows, dim, threads;
    if (!PyArg_ParseTuple(args, "nniiinnnni", &x, &x_row, &heads, &rows, &dim, &cos, &sin, &pos,
                          &out, &threads))
        return NULL;
    if (heads <= 0 || rows <= 0 || dim <= 0 || dim % 16 != 0 || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "q4matmul.rotary: unsupported shape");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rotary((const float *)x, (long)x_row, heads, rows, dim, (const float *)cos, (const float *)sin,
           (const int64_t *)pos, (float *)out, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_supported(PyObject *self, PyObject *args)
{
    __builtin_cpu_init();
    return PyBool_FromLong(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                           __builtin_cpu_supports("f16c"));
}

static PyMethodDef methods[] = {
    {"repack", py_repack, METH_VARARGS,
     "repack(ptr, n, k): rewrite n x k sym_int4 weights in place into 8-row groups"},
    {"dequantize", py_dequantize, METH_VARARGS,
     "dequantize(ptr, n, k, out_ptr): repacked weights -> float32 [n, k]"},
    {"matmul", py_matmul, METH_VARARGS,
     "matmul(x_ptr, m, k, [(w_ptr, n, y_ptr, bias_ptr), ...], threads, up_ptr=0): each "
     "y[m,n] = x[m,k] @ W[n,k].T + bias (if not 0); with up_ptr, x is silu(x) * up"},
    {"attend", py_attend, METH_VARARGS,
     "attend(q, k, v, out, heads, kv_heads, rows, past, dim, head_stride, row, scale, half, "
     "threads): causal attention of `rows` new positions over the cache"},
    {"rms_norm", py_rms_norm, METH_VARARGS,
     "rms_norm(x, w, out, rows, n, eps, threads): out = w * x / sqrt(mean(x^2) + eps) per row"},
    {"rotary", py_rotary, METH_VARARGS,
     "rotary(x, x_row, heads, rows, dim, cos, sin, positions, out, threads): RoPE, head-major out"},
    {"supported", py_supported, METH_NOARGS, "True if this CPU has AVX2, FMA and F16C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_q4matmul", NULL, -1, methods};

PyMODINIT_FUNC PyInit__q4matmul(void) { return PyModule_Create(&module); }
