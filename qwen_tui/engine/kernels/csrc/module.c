/*
 * The Python module qwen_tui.engine.kernels._native: bindings only. Pointers arrive as
 * integers from qwen_tui/engine/kernels/__init__.py, which checks every tensor's dtype, shape
 * and contiguity first; here only the numbers are checked. The weight quantizer and unpack
 * take buffer objects instead (numpy arrays, read-only file mappings), whose lengths are
 * checked here against the shape.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "qk.h"
#if defined(__x86_64__) || defined(_M_X64)
#include "decoder.h"
#include "float_kernels.h"
#endif

int parse_format(int f)
{
    if (f < 0 || f >= FMT_COUNT) {
        PyErr_SetString(PyExc_ValueError, "kernels: unknown format");
        return 0;
    }
    return 1;
}

const qk_variant *parse_isa(int isa)
{
    const qk_variant *v = isa >= 0 && isa < ISA_COUNT ? qk_variant_for((qk_isa)isa) : NULL;
    if (v == NULL)
        PyErr_SetString(PyExc_ValueError, "kernels: this CPU cannot run that instruction set");
    return v;
}

int check_shape(int n, int k)
{
    if (n <= 0 || k <= 0 || k % QK != 0) {
        PyErr_SetString(PyExc_ValueError, "kernels: rows must be positive, columns a multiple of 64");
        return 0;
    }
    return 1;
}

static PyObject *py_isa_names(PyObject *self, PyObject *args)
{
    PyObject *out = PyTuple_New(ISA_COUNT);
    for (int i = 0; i < ISA_COUNT; i++)
        PyTuple_SET_ITEM(out, i, PyUnicode_FromString(QK_ISA_NAMES[i]));
    return out;
}

static PyObject *py_isa_supported(PyObject *self, PyObject *args)
{
    int isa;
    if (!PyArg_ParseTuple(args, "i", &isa))
        return NULL;
    return PyBool_FromLong(isa >= 0 && isa < ISA_COUNT && qk_isa_supported((qk_isa)isa));
}

static PyObject *py_packed_bytes(PyObject *self, PyObject *args)
{
    int f, n, k;
    if (!PyArg_ParseTuple(args, "iii", &f, &n, &k) || !parse_format(f) || !check_shape(n, k))
        return NULL;
    return PyLong_FromSize_t(qk_packed_bytes((qk_format)f, n, k));
}

static PyObject *py_repack(PyObject *self, PyObject *args)
{
    Py_ssize_t src, dst;
    int f, n, k;
    if (!PyArg_ParseTuple(args, "innii", &f, &src, &dst, &n, &k) || !parse_format(f) ||
        !check_shape(n, k))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    qk_repack((qk_format)f, (const uint8_t *)src, (uint8_t *)dst, n, k);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* A C-contiguous buffer of exactly `len` bytes (writable if asked); 0 with an exception set. */
static int exact_buffer(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t len,
                        const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return 0;
    if (view->len != len) {
        PyErr_Format(PyExc_ValueError, "kernels: %s holds %zd bytes, the shape needs %zd", what,
                     view->len, len);
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

static int overlap(const Py_buffer *a, const Py_buffer *b)
{
    const char *x = a->buf, *y = b->buf;
    return x < y + b->len && y < x + a->len;
}

/* quantize_weight(fmt, src, src_dtype, rows, cols, dst, packed, fused, threads) -> how many
 * values were not finite */
static PyObject *py_quantize_weight(PyObject *self, PyObject *args)
{
    PyObject *src_obj, *dst_obj;
    int f, dtype, n, k, packed, fused, threads;
    if (!PyArg_ParseTuple(args, "iOiiiOppi", &f, &src_obj, &dtype, &n, &k, &dst_obj, &packed,
                          &fused, &threads) ||
        !parse_format(f) || !check_shape(n, k))
        return NULL;
    if (dtype < 0 || dtype > 2 || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "kernels.quantize_weight: dtype 0, 1 or 2, 1+ threads");
        return NULL;
    }
    const Py_ssize_t in = (Py_ssize_t)n * k * (dtype == 0 ? 4 : 2);
    const Py_ssize_t out = packed ? (Py_ssize_t)qk_packed_bytes((qk_format)f, n, k)
                                  : (Py_ssize_t)n * (k / QK) * QK_BLOCK_BYTES[f];
    Py_buffer src, dst;
    if (!exact_buffer(src_obj, &src, 0, in, "the source"))
        return NULL;
    if (!exact_buffer(dst_obj, &dst, 1, out, "the output")) {
        PyBuffer_Release(&src);
        return NULL;
    }
    size_t bad = 0;
    const int ok = !overlap(&src, &dst);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        bad = qk_quantize_weight((qk_format)f, src.buf, dtype, n, k, dst.buf, packed, fused,
                                 threads);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "kernels.quantize_weight: source and output overlap");
        return NULL;
    }
    if (bad == SIZE_MAX)
        return PyErr_NoMemory();
    return PyLong_FromSize_t(bad);
}

static PyObject *py_bigdl_fuses(PyObject *self, PyObject *args)
{
    return PyBool_FromLong(qk_bigdl_fuses());
}

/* unpack(fmt, packed, dst, rows, cols): qk_repack undone */
static PyObject *py_unpack(PyObject *self, PyObject *args)
{
    PyObject *src_obj, *dst_obj;
    int f, n, k;
    if (!PyArg_ParseTuple(args, "iOOii", &f, &src_obj, &dst_obj, &n, &k) || !parse_format(f) ||
        !check_shape(n, k))
        return NULL;
    Py_buffer src, dst;
    if (!exact_buffer(src_obj, &src, 0, (Py_ssize_t)qk_packed_bytes((qk_format)f, n, k),
                      "the packed weight"))
        return NULL;
    if (!exact_buffer(dst_obj, &dst, 1, (Py_ssize_t)n * (k / QK) * QK_BLOCK_BYTES[f],
                      "the output")) {
        PyBuffer_Release(&src);
        return NULL;
    }
    const int ok = !overlap(&src, &dst);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        qk_unpack((qk_format)f, src.buf, dst.buf, n, k);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "kernels.unpack: source and output overlap");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *py_dequantize(PyObject *self, PyObject *args)
{
    Py_ssize_t src, out;
    int f, n, k;
    if (!PyArg_ParseTuple(args, "iniin", &f, &src, &n, &k, &out) || !parse_format(f) ||
        !check_shape(n, k))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    qk_dequantize((qk_format)f, (const uint8_t *)src, n, k, (float *)out);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_dequantize_rows(PyObject *self, PyObject *args)
{
    Py_ssize_t src, ids, out;
    int f, n, k, count;
    if (!PyArg_ParseTuple(args, "iniinin", &f, &src, &n, &k, &ids, &count, &out) ||
        !parse_format(f) || !check_shape(n, k))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    qk_dequantize_rows((qk_format)f, (const uint8_t *)src, n, k, (const int64_t *)ids, count,
                       (float *)out);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_quantize(PyObject *self, PyObject *args)
{
    Py_ssize_t x, up, out;
    int isa, m, k;
    if (!PyArg_ParseTuple(args, "innnii", &isa, &x, &up, &out, &m, &k))
        return NULL;
    const qk_variant *v = parse_isa(isa);
    if (v == NULL || !check_shape(m, k))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (int i = 0; i < m; i++)
        v->quantize((const float *)x + (size_t)i * k, up ? (const float *)up + (size_t)i * k : NULL,
                    (block_x *)out + (size_t)i * (k / QK), k / QK);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *py_read_all(PyObject *self, PyObject *args)
{
    Py_ssize_t words, count;
    int threads;
    if (!PyArg_ParseTuple(args, "nni", &words, &count, &threads))
        return NULL;
    if (count < 0 || count % 8 || threads < 1) {
        PyErr_SetString(PyExc_ValueError, "kernels.read_all: a multiple of 8 words, 1+ threads");
        return NULL;
    }
    uint64_t total;
    Py_BEGIN_ALLOW_THREADS
    total = qk_read_all((const uint64_t *)words, (size_t)count, threads);
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLongLong(total);
}

static PyObject *py_block_bytes(PyObject *self, PyObject *args)
{
    return PyLong_FromSize_t(sizeof(block_x));
}

static PyObject *py_matmul(PyObject *self, PyObject *args)
{
    Py_ssize_t x_ptr, up_ptr = 0;
    int isa, m, k, threads;
    PyObject *items;
    if (!PyArg_ParseTuple(args, "iniiOi|n", &isa, &x_ptr, &m, &k, &items, &threads, &up_ptr))
        return NULL;
    const qk_variant *v = parse_isa(isa);
    if (v == NULL)
        return NULL;
    PyObject *seq = PySequence_Fast(items, "kernels.matmul: targets must be a sequence");
    if (seq == NULL)
        return NULL;
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    qk_target tg[QK_MAX_TARGETS];
    int ok = count >= 1 && count <= QK_MAX_TARGETS;
    if (!ok)
        PyErr_SetString(PyExc_ValueError, "kernels.matmul: 1 to 4 targets");
    for (Py_ssize_t c = 0; ok && c < count; c++) {
        Py_ssize_t w, y, bias;
        int f;
        ok = PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, c),
                              "ininn;kernels.matmul: a target is (format, weight, rows, out, bias)",
                              &f, &w, &tg[c].n, &y, &bias) &&
             parse_format(f) && check_shape(tg[c].n, k);
        tg[c].fmt = (qk_format)f;
        tg[c].w = (const uint8_t *)w;
        tg[c].y = (float *)y;
        tg[c].bias = (const float *)bias;
    }
    Py_DECREF(seq);
    if (ok && (m <= 0 || threads <= 0 || k % QK != 0)) {
        PyErr_SetString(PyExc_ValueError, "kernels.matmul: rows and threads must be positive");
        ok = 0;
    }
    if (!ok)
        return NULL;
    block_x *xq = malloc(sizeof(block_x) * (size_t)m * (k / QK));
    if (xq == NULL)
        return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    qk_matmul(v, tg, (int)count, k, (const float *)x_ptr, (const float *)up_ptr, m, xq, threads);
    Py_END_ALLOW_THREADS
    free(xq);
    Py_RETURN_NONE;
}

#if defined(__x86_64__) || defined(_M_X64)
int need_avx2(void)
{
    if (!qk_isa_supported(ISA_AVX2)) {
        PyErr_SetString(PyExc_RuntimeError, "kernels: this kernel needs AVX2");
        return 0;
    }
    return 1;
}

static PyObject *py_attend(PyObject *self, PyObject *args)
{
    Py_ssize_t q, k, v, out, head_stride, row;
    int heads, kv_heads, rows, past, dim, half, threads;
    float scale;
    if (!PyArg_ParseTuple(args, "nnnniiiiinnfpi", &q, &k, &v, &out, &heads, &kv_heads, &rows,
                          &past, &dim, &head_stride, &row, &scale, &half, &threads) ||
        !need_avx2())
        return NULL;
    if (heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || !attend_supported(dim) ||
        rows <= 0 || past < 0 || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "kernels.attend: unsupported shape");
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
    if (!PyArg_ParseTuple(args, "nnniifi", &x, &w, &out, &rows, &n, &eps, &threads) || !need_avx2())
        return NULL;
    if (rows <= 0 || n <= 0 || n % 8 != 0 || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "kernels.rms_norm: rows of a multiple of 8 values");
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
                          &out, &threads) ||
        !need_avx2())
        return NULL;
    if (heads <= 0 || rows <= 0 || dim <= 0 || dim % 16 != 0 || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "kernels.rotary: unsupported shape");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rotary((const float *)x, (long)x_row, heads, rows, dim, (const float *)cos, (const float *)sin,
           (const int64_t *)pos, (float *)out, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* -- the decoder: layers described once (a capsule), then one call per step -------------- */

#define DECODER "qwen_tui.decoder"

static void free_decoder(PyObject *capsule)
{
    qk_decoder *d = PyCapsule_GetPointer(capsule, DECODER);
    if (d) {
        free(d->layers);
        free(d);
    }
}

int parse_weight(PyObject *item, qk_weight *w, int k)
{
    Py_ssize_t ptr, bias;
    if (!PyArg_ParseTuple(item, "inin;a weight is (format, packed, rows, bias)", &w->fmt, &ptr,
                          &w->n, &bias) ||
        !parse_format(w->fmt) || !check_shape(w->n, k))
        return 0;
    w->w = (const uint8_t *)ptr;
    w->bias = (const float *)bias;
    return 1;
}

/* make_decoder([(dims, floats, weights), ...]) with dims = (hidden, q_dim, kv_dim, heads,
 * kv_heads, head_dim, inter), floats = (eps, norm_in, norm_post, q_norm, k_norm) and weights
 * = seven (format, packed, rows, bias) for q, k, v, o, gate, up, down */
static PyObject *py_make_decoder(PyObject *self, PyObject *args)
{
    PyObject *items;
    if (!PyArg_ParseTuple(args, "O", &items))
        return NULL;
    PyObject *seq = PySequence_Fast(items, "make_decoder: a sequence of layers");
    if (seq == NULL)
        return NULL;
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    qk_decoder *d = calloc(1, sizeof(qk_decoder));
    qk_layer *layers = count > 0 ? calloc((size_t)count, sizeof(qk_layer)) : NULL;
    int ok = d != NULL && layers != NULL;
    if (!ok)
        PyErr_NoMemory();
    for (Py_ssize_t i = 0; ok && i < count; i++) {
        qk_layer *L = &layers[i];
        PyObject *dims, *floats, *ws;
        Py_ssize_t ni, np, qn, kn;
        ok = PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "OOO", &dims, &floats, &ws) &&
             PyArg_ParseTuple(dims, "iiiiiii", &L->hidden, &L->q_dim, &L->kv_dim, &L->heads,
                              &L->kv_heads, &L->head_dim, &L->inter) &&
             PyArg_ParseTuple(floats, "fnnnn", &L->eps, &ni, &np, &qn, &kn);
        if (!ok)
            break;
        L->norm_in = (const float *)ni;
        L->norm_post = (const float *)np;
        L->q_norm = (const float *)qn;
        L->k_norm = (const float *)kn;
        ok = L->hidden > 0 && L->hidden % QK == 0 && L->q_dim % QK == 0 && L->inter % QK == 0 &&
             L->heads > 0 && L->kv_heads > 0 && L->heads % L->kv_heads == 0 &&
             attend_supported(L->head_dim) && L->q_dim == L->heads * L->head_dim &&
             L->kv_dim == L->kv_heads * L->head_dim && (qn == 0) == (kn == 0) &&
             (i == 0 || (L->hidden == layers[0].hidden && L->q_dim == layers[0].q_dim &&
                         L->kv_dim == layers[0].kv_dim && L->inter == layers[0].inter));
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "make_decoder: a layer's shape does not fit");
            break;
        }
        qk_weight *w[7] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
        const int in[7] = {L->hidden, L->hidden, L->hidden, L->q_dim, L->hidden, L->hidden,
                           L->inter};
        const int out[7] = {L->q_dim, L->kv_dim, L->kv_dim, L->hidden, L->inter, L->inter,
                            L->hidden};
        PyObject *wseq = PySequence_Fast(ws, "make_decoder: seven weights");
        ok = wseq != NULL && PySequence_Fast_GET_SIZE(wseq) == 7;
        for (int j = 0; ok && j < 7; j++)
            ok = parse_weight(PySequence_Fast_GET_ITEM(wseq, j), w[j], in[j]) && w[j]->n == out[j];
        if (!ok && !PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "make_decoder: seven weights of the layer's shapes");
        Py_XDECREF(wseq);
    }
    Py_DECREF(seq);
    if (!ok) {
        free(layers);
        free(d);
        return NULL;
    }
    d->count = (int)count;
    d->layers = layers;
    return PyCapsule_New(d, DECODER, free_decoder);
}

static PyObject *py_decode_scratch(PyObject *self, PyObject *args)
{
    PyObject *capsule;
    int rows;
    if (!PyArg_ParseTuple(args, "Oi", &capsule, &rows))
        return NULL;
    qk_decoder *d = PyCapsule_GetPointer(capsule, DECODER);
    if (d == NULL)
        return NULL;
    return PyLong_FromSize_t(d->count ? qk_decode_scratch(d, rows) : 0);
}

static int pointer_list(PyObject *items, int count, uint16_t **out)
{
    PyObject *seq = PySequence_Fast(items, "decode: a list of cache pointers");
    if (seq == NULL)
        return 0;
    int ok = PySequence_Fast_GET_SIZE(seq) == count;
    for (int i = 0; ok && i < count; i++) {
        out[i] = (uint16_t *)PyLong_AsVoidPtr(PySequence_Fast_GET_ITEM(seq, i));
        ok = !PyErr_Occurred();
    }
    Py_DECREF(seq);
    if (!ok && !PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "decode: one cache pointer per layer");
    return ok;
}

/* decode(isa, decoder, h, rows, past, positions, cos, sin, k_caches, v_caches, capacity,
 *        last_only, scratch, threads) */
static PyObject *py_decode(PyObject *self, PyObject *args)
{
    PyObject *capsule, *kl, *vl;
    Py_ssize_t h, pos, cos, sin, scratch, cap;
    int isa, rows, past, last_only, threads;
    if (!PyArg_ParseTuple(args, "iOniinnnOOnpni", &isa, &capsule, &h, &rows, &past, &pos, &cos,
                          &sin, &kl, &vl, &cap, &last_only, &scratch, &threads))
        return NULL;
    const qk_variant *v = parse_isa(isa);
    qk_decoder *d = v ? PyCapsule_GetPointer(capsule, DECODER) : NULL;
    if (d == NULL || !need_avx2())
        return NULL;
    if (rows <= 0 || past < 0 || past + rows > cap || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "decode: rows, past and capacity do not fit");
        return NULL;
    }
    uint16_t **kc = malloc(sizeof(uint16_t *) * (size_t)(d->count + 1));
    uint16_t **vc = malloc(sizeof(uint16_t *) * (size_t)(d->count + 1));
    int ok = kc && vc && pointer_list(kl, d->count, kc) && pointer_list(vl, d->count, vc);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        qk_decode(v, d, (float *)h, rows, past, (const int64_t *)pos, (const float *)cos,
                  (const float *)sin, kc, vc, (long)cap, last_only, (float *)scratch, threads);
        Py_END_ALLOW_THREADS
    } else if (!PyErr_Occurred()) {
        PyErr_NoMemory();
    }
    free(kc);
    free(vc);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}
#endif

/* -- sampling: the next token from a vocabulary's logits (sample.c) ----------------------- */

#include <math.h>

#include "sample.h"

/* sample(logits, n, seen, nseen, penalty, temperature, top_k, top_p, u) -> a token id, or
 * QK_SAMPLE_NAN / QK_SAMPLE_NOT_FINITE (negative) for logits with no distribution */
static PyObject *py_sample(PyObject *self, PyObject *args)
{
    Py_ssize_t logits, seen, nseen;
    int n, top_k;
    double penalty, temperature, top_p, u;
    if (!PyArg_ParseTuple(args, "ninnddidd", &logits, &n, &seen, &nseen, &penalty, &temperature,
                          &top_k, &top_p, &u))
        return NULL;
    if (n <= 0 || nseen < 0 || (nseen > 0 && seen == 0) || !(penalty > 0) || !isfinite(penalty) ||
        !(temperature >= 0) || !isfinite(temperature) || top_k < 0 || !(top_p > 0 && top_p <= 1) ||
        !(u >= 0 && u < 1)) {
        PyErr_SetString(PyExc_ValueError, "kernels.sample: an argument is out of its range");
        return NULL;
    }
    long token;
    Py_BEGIN_ALLOW_THREADS
    token = qk_sample((const float *)logits, n, (const int64_t *)seen, (long)nseen, (float)penalty,
                      (float)temperature, top_k, top_p, u);
    Py_END_ALLOW_THREADS
    if (token == QK_SAMPLE_NO_MEMORY)
        return PyErr_NoMemory();
    if (token == QK_SAMPLE_BAD_ID) {
        PyErr_SetString(PyExc_ValueError, "kernels.sample: a seen id is outside the vocabulary");
        return NULL;
    }
    return PyLong_FromLong(token);
}

static PyMethodDef methods[] = {
    {"isa_names", py_isa_names, METH_NOARGS, "names of the instruction-set variants, by id"},
    {"isa_supported", py_isa_supported, METH_VARARGS, "isa_supported(id): can this CPU run it"},
    {"packed_bytes", py_packed_bytes, METH_VARARGS, "packed_bytes(fmt, n, k)"},
    {"repack", py_repack, METH_VARARGS, "repack(fmt, src, dst, n, k): bigdl blocks -> groups"},
    {"quantize_weight", py_quantize_weight, METH_VARARGS,
     "quantize_weight(fmt, src, src_dtype, rows, cols, dst, packed, fused, threads): -> how many "
     "values were not finite"},
    {"bigdl_fuses", py_bigdl_fuses, METH_NOARGS,
     "whether bigdl-llm's quantizer runs an FMA build on this CPU"},
    {"unpack", py_unpack, METH_VARARGS, "unpack(fmt, packed, dst, n, k): groups -> bigdl blocks"},
    {"dequantize", py_dequantize, METH_VARARGS, "dequantize(fmt, packed, n, k, out): -> float32"},
    {"dequantize_rows", py_dequantize_rows, METH_VARARGS,
     "dequantize_rows(fmt, packed, n, k, ids, count, out): rows ids of a packed weight"},
    {"quantize", py_quantize, METH_VARARGS, "quantize(isa, x, up, out, m, k): activation blocks"},
    {"block_bytes", py_block_bytes, METH_NOARGS, "size of one quantized activation block"},
    {"read_all", py_read_all, METH_VARARGS, "read_all(words, count, threads): XOR of them all"},
    {"matmul", py_matmul, METH_VARARGS,
     "matmul(isa, x, m, k, [(fmt, w, n, y, bias), ...], threads, up=0)"},
#if defined(__x86_64__) || defined(_M_X64)
    {"attend", py_attend, METH_VARARGS, "causal attention of new positions over the KV cache"},
    {"rms_norm", py_rms_norm, METH_VARARGS, "out = w * x / sqrt(mean(x^2) + eps) per row"},
    {"rotary", py_rotary, METH_VARARGS, "RoPE, head-major out"},
    {"make_decoder", py_make_decoder, METH_VARARGS, "describe a model's layers (a capsule)"},
    {"decode_scratch", py_decode_scratch, METH_VARARGS, "floats of scratch for rows"},
    {"decode", py_decode, METH_VARARGS, "every layer of a step, in one call"},
    HYBRID_METHODS
#endif
    {"sample", py_sample, METH_VARARGS,
     "sample(logits, n, seen, nseen, penalty, temperature, top_k, top_p, u): the next token"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", NULL, -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
