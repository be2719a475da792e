/*
 * q4matmul: y = x @ W.T for bigdl-llm's sym_int4 weights, on AVX2 CPUs.
 *
 * bigdl-llm 2.5's own CPU kernel multiplies one activation row at a time and
 * reaches about 5 GB/s here, so both decode (1 row) and prompts (hundreds of
 * rows) are far slower than the memory and the integer units allow. This
 * kernel reads the same bytes bigdl-llm stores (nothing is repacked, no extra
 * memory), quantizes the activations to int8 in blocks of 64 like ggml's
 * q8_0, and multiplies a tile of MR activation rows by NR weight rows with
 * AVX2 integer dot products, so one weight block is unpacked once for MR rows.
 *
 * Weight layout (checked by the tests against bigdl-llm's own dequantizer):
 * each row of K values is K/64 blocks of 34 bytes: an fp16 scale d, then 32
 * bytes where byte j holds value j in its low nibble and value j+32 in its
 * high nibble; value = d * (nibble - 8).
 *
 * Integer trick: maddubs wants unsigned x signed, so the nibbles (0..15) stay
 * unsigned and 8 * (sum of the activations) is subtracted per 4-lane group.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define QK 64
#define TARGET __attribute__((target("avx2,fma,f16c")))

typedef struct {
    uint16_t d;
    uint8_t qs[QK / 2];
} __attribute__((packed)) block_w; /* 34 bytes, as bigdl-llm stores sym_int4 */

typedef struct {
    int8_t q[QK];    /* activations, round(x / d) */
    int16_t c[16];   /* 8 * sums of q in the lane groups maddubs+add produce */
    float d;         /* scale */
    float pad[7];
} __attribute__((aligned(32))) block_x;

/* ---- activations -> int8 blocks -------------------------------------- */

TARGET static void quantize_row(const float *x, block_x *out, int nb)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i eights = _mm256_set1_epi8(8);
    for (int b = 0; b < nb; b++, x += QK) {
        __m256 v[8];
        __m256 amax = _mm256_setzero_ps();
        for (int k = 0; k < 8; k++) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
        }
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float max_abs = _mm_cvtss_f32(m4);
        const float d = max_abs / 127.0f;
        const __m256 id = _mm256_set1_ps(max_abs != 0.0f ? 127.0f / max_abs : 0.0f);
        __m256i i[8];
        for (int k = 0; k < 8; k++) {
            const __m256 r = _mm256_round_ps(_mm256_mul_ps(v[k], id),
                                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            i[k] = _mm256_cvtps_epi32(r);
        }
        for (int h = 0; h < 2; h++) {
            __m256i a = _mm256_packs_epi32(i[4 * h], i[4 * h + 1]);
            __m256i c = _mm256_packs_epi32(i[4 * h + 2], i[4 * h + 3]);
            a = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, c), perm);
            _mm256_store_si256((__m256i *)(out[b].q + 32 * h), a);
        }
        const __m256i q0 = _mm256_load_si256((const __m256i *)out[b].q);
        const __m256i q1 = _mm256_load_si256((const __m256i *)(out[b].q + 32));
        const __m256i c = _mm256_add_epi16(_mm256_maddubs_epi16(eights, q0),
                                           _mm256_maddubs_epi16(eights, q1));
        _mm256_store_si256((__m256i *)out[b].c, c);
        out[b].d = d;
    }
}

/* ---- tiles of MR activation rows x NR weight rows --------------------- */

TARGET static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define DEFINE_TILE(MR, NR, PF)                                                            \
    TARGET static void tile_##MR##x##NR(const block_x *x, int xs, const block_w *w, int ws, \
                                        int nb, float *y, int ys)                         \
    {                                                                                    \
        const __m256i m4 = _mm256_set1_epi8(0x0F);                                       \
        const __m256i ones = _mm256_set1_epi16(1);                                       \
        __m256 acc[MR][NR];                                                              \
        for (int i = 0; i < MR; i++)                                                     \
            for (int j = 0; j < NR; j++)                                                 \
                acc[i][j] = _mm256_setzero_ps();                                         \
        for (int b = 0; b < nb; b++) {                                                   \
            __m256i lo[NR], hi[NR];                                                      \
            float dw[NR];                                                                \
            for (int j = 0; j < NR; j++) {                                               \
                const block_w *wb = w + (size_t)j * ws + b;                              \
                if (PF) /* streaming W once: fetch ahead */                              \
                    _mm_prefetch((const char *)wb + 256, _MM_HINT_T0);                   \
                const __m256i q = _mm256_loadu_si256((const __m256i *)wb->qs);           \
                lo[j] = _mm256_and_si256(q, m4);                                         \
                hi[j] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);                   \
                dw[j] = _cvtsh_ss(wb->d);                                                \
            }                                                                            \
            for (int i = 0; i < MR; i++) {                                               \
                const block_x *xb = x + (size_t)i * xs + b;                              \
                const __m256i a0 = _mm256_load_si256((const __m256i *)xb->q);            \
                const __m256i a1 = _mm256_load_si256((const __m256i *)(xb->q + 32));     \
                const __m256i c = _mm256_load_si256((const __m256i *)xb->c);             \
                for (int j = 0; j < NR; j++) {                                           \
                    __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(lo[j], a0),        \
                                                 _mm256_maddubs_epi16(hi[j], a1));       \
                    s = _mm256_madd_epi16(_mm256_sub_epi16(s, c), ones);                 \
                    acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),                   \
                                                _mm256_set1_ps(dw[j] * xb->d), acc[i][j]); \
                }                                                                        \
            }                                                                            \
        }                                                                                \
        for (int i = 0; i < MR; i++)                                                     \
            for (int j = 0; j < NR; j++)                                                 \
                y[(size_t)i * ys + j] = hsum(acc[i][j]);                                 \
    }

DEFINE_TILE(4, 2, 0)
DEFINE_TILE(1, 1, 1)

/* ---- y[m, n] = x[m, k] @ W[n, k].T ------------------------------------- */

#define ROW_CHUNK 64 /* activation rows kept hot in L2 while all of W streams by */

static void matmul(const block_w *w, int n, int k, const float *x, int m, float *y,
                   block_x *xq, int threads)
{
    const int nb = k / QK;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int i = 0; i < m; i++)
        quantize_row(x + (size_t)i * k, xq + (size_t)i * nb, nb);

    for (int r0 = 0; r0 < m; r0 += ROW_CHUNK) {
        const int rows = m - r0 < ROW_CHUNK ? m - r0 : ROW_CHUNK;
        const block_x *xc = xq + (size_t)r0 * nb;
        float *yc = y + (size_t)r0 * n;
        if (rows < 4) { /* decode: stream W once, row after row (measured fastest) */
#pragma omp parallel for num_threads(threads) schedule(static)
            for (int j = 0; j < n; j++)
                for (int i = 0; i < rows; i++)
                    tile_1x1(xc + (size_t)i * nb, nb, w + (size_t)j * nb, nb, nb,
                             yc + (size_t)i * n + j, n);
            continue;
        }
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int j = 0; j < n / 2; j++) {
            const block_w *wj = w + (size_t)2 * j * nb;
            int i = 0;
            for (; i + 4 <= rows; i += 4)
                tile_4x2(xc + (size_t)i * nb, nb, wj, nb, nb, yc + (size_t)i * n + 2 * j, n);
            for (; i < rows; i++)
                for (int jj = 0; jj < 2; jj++)
                    tile_1x1(xc + (size_t)i * nb, nb, wj + (size_t)jj * nb, nb, nb,
                             yc + (size_t)i * n + 2 * j + jj, n);
        }
        if (n % 2)
            for (int i = 0; i < rows; i++)
                tile_1x1(xc + (size_t)i * nb, nb, w + (size_t)(n - 1) * nb, nb, nb,
                         yc + (size_t)i * n + n - 1, n);
    }
}

/* ---- Python binding ----------------------------------------------------- */

static PyObject *py_matmul(PyObject *self, PyObject *args)
{
    Py_ssize_t w_ptr, x_ptr, y_ptr;
    int n, k, m, threads;
    if (!PyArg_ParseTuple(args, "niinini", &w_ptr, &n, &k, &x_ptr, &m, &y_ptr, &threads))
        return NULL;
    if (k % QK != 0 || n <= 0 || m <= 0 || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "q4matmul: k must be a multiple of 64, n, m > 0");
        return NULL;
    }
    block_x *xq = aligned_alloc(32, sizeof(block_x) * (size_t)m * (k / QK));
    if (xq == NULL)
        return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    matmul((const block_w *)w_ptr, n, k, (const float *)x_ptr, m, (float *)y_ptr, xq, threads);
    Py_END_ALLOW_THREADS
    free(xq);
    Py_RETURN_NONE;
}

static PyObject *py_supported(PyObject *self, PyObject *args)
{
    __builtin_cpu_init();
    return PyBool_FromLong(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                           __builtin_cpu_supports("f16c"));
}

static PyMethodDef methods[] = {
    {"matmul", py_matmul, METH_VARARGS,
     "matmul(w_ptr, n, k, x_ptr, m, y_ptr, threads): y[m,n] = x[m,k] @ W[n,k].T"},
    {"supported", py_supported, METH_NOARGS, "True if this CPU has AVX2, FMA and F16C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_q4matmul", NULL, -1, methods};

PyMODINIT_FUNC PyInit__q4matmul(void) { return PyModule_Create(&module); }
