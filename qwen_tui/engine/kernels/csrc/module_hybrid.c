/*
 * Bindings of Qwen3.5's decoder (hybrid.c) and of the Gated DeltaNet kernels (deltanet.c).
 * Pointers arrive as integers from kernels/hybrid_api.py and kernels/deltanet_api.py, which
 * check every array's dtype, shape and contiguity first; here only the numbers are checked.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

#include "module.h"

#if defined(__x86_64__) || defined(_M_X64)
#include "deltanet.h"
#include "float_kernels.h"
#include "hybrid.h"

#define HYBRID "qwen_tui.hybrid"

static void free_hybrid(PyObject *capsule)
{
    qk_hybrid *d = PyCapsule_GetPointer(capsule, HYBRID);
    if (d) {
        free(d->layers);
        free(d);
    }
}

static int refuse(const char *why)
{
    PyErr_SetString(PyExc_ValueError, why);
    return 0;
}

/* weights: `count` (format, packed, rows, bias) of inputs `in` and outputs `out` */
static int parse_weights(PyObject *items, qk_weight **w, const int *in, const int *out, int count)
{
    PyObject *seq = PySequence_Fast(items, "make_hybrid: a layer's weights");
    int ok = seq != NULL && PySequence_Fast_GET_SIZE(seq) == count;
    for (int j = 0; ok && j < count; j++)
        ok = parse_weight(PySequence_Fast_GET_ITEM(seq, j), w[j], in[j]) && w[j]->n == out[j];
    Py_XDECREF(seq);
    return ok || PyErr_Occurred() ? ok : refuse("make_hybrid: a weight of the wrong shape");
}

static int parse_layer(PyObject *item, const qk_hybrid *d, qk_hlayer *L)
{
    PyObject *floats, *ws;
    Py_ssize_t f[8] = {0};
    if (!PyArg_ParseTuple(item, "iOO", &L->linear, &floats, &ws))
        return 0;
    const int hid = d->hidden, inter = d->inter, qd = qk_hybrid_q_dim(d);
    if (L->linear) {
        if (!PyArg_ParseTuple(floats, "nnnnnnnn", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5],
                              &f[6], &f[7]))
            return 0;
        L->w_a = (const float *)f[2];
        L->w_b = (const float *)f[3];
        L->conv = (const float *)f[4];
        L->A = (const float *)f[5];
        L->dt_bias = (const float *)f[6];
        L->norm = (const float *)f[7];
        qk_weight *w[6] = {&L->qkv, &L->z, &L->out, &L->gate, &L->up, &L->down};
        const int vd = qk_hybrid_value_dim(d);
        const int in[6] = {hid, hid, vd, hid, hid, inter};
        const int out[6] = {qk_hybrid_conv_dim(d), vd, hid, inter, inter, hid};
        if (!parse_weights(ws, w, in, out, 6))
            return 0;
    } else {
        if (!PyArg_ParseTuple(floats, "nnnn", &f[0], &f[1], &f[2], &f[3]))
            return 0;
        L->q_norm = (const float *)f[2];
        L->k_norm = (const float *)f[3];
        qk_weight *w[7] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
        const int kvd = qk_hybrid_kv_dim(d);
        const int in[7] = {hid, hid, hid, qd, hid, hid, inter};
        const int out[7] = {2 * qd, kvd, kvd, hid, inter, inter, hid};
        if (!parse_weights(ws, w, in, out, 7))
            return 0;
    }
    L->norm_in = (const float *)f[0];
    L->norm_post = (const float *)f[1];
    for (int j = 0; j < (L->linear ? 8 : 4); j++)
        if (f[j] == 0)
            return refuse("make_hybrid: a layer's float weight is missing");
    return 1;
}

/* make_hybrid((hidden, inter, heads, kv_heads, head_dim, rope_dim, k_heads, v_heads, k_dim,
 * v_dim, kernel, eps), [(linear, floats, weights), ...]): full layers' floats are (norm_in,
 * norm_post, q_norm, k_norm) and weights q, k, v, o, gate, up, down; linear layers' floats
 * (norm_in, norm_post, w_a, w_b, conv, A, dt_bias, norm) and weights qkv, z, out, gate, up,
 * down */
PyObject *py_make_hybrid(PyObject *self, PyObject *args)
{
    PyObject *dims, *items;
    qk_hybrid shape = {0};
    if (!PyArg_ParseTuple(args, "OO", &dims, &items) ||
        !PyArg_ParseTuple(dims, "iiiiiiiiiiif", &shape.hidden, &shape.inter, &shape.heads,
                          &shape.kv_heads, &shape.head_dim, &shape.rope_dim, &shape.k_heads,
                          &shape.v_heads, &shape.k_dim, &shape.v_dim, &shape.kernel, &shape.eps))
        return NULL;
    const qk_hybrid *s = &shape;
    if (s->hidden <= 0 || s->hidden % QK || s->inter <= 0 || s->inter % QK || s->heads <= 0 ||
        s->kv_heads <= 0 || s->heads % s->kv_heads || !attend_supported(s->head_dim) ||
        qk_hybrid_q_dim(s) % QK || s->rope_dim <= 0 || s->rope_dim % 2 ||
        s->rope_dim > s->head_dim || s->k_heads <= 0 || s->v_heads <= 0 ||
        s->v_heads % s->k_heads || s->k_dim <= 0 || s->k_dim % 8 || s->v_dim <= 0 ||
        s->v_dim % 8 || qk_hybrid_value_dim(s) % QK || s->kernel < 1) {
        PyErr_SetString(PyExc_ValueError, "make_hybrid: the model's shape does not fit");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(items, "make_hybrid: a sequence of layers");
    if (seq == NULL)
        return NULL;
    const Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    qk_hybrid *d = calloc(1, sizeof(qk_hybrid));
    qk_hlayer *layers = count > 0 ? calloc((size_t)count, sizeof(qk_hlayer)) : NULL;
    int ok = d != NULL && layers != NULL;
    if (!ok)
        PyErr_NoMemory();
    for (Py_ssize_t i = 0; ok && i < count; i++)
        ok = parse_layer(PySequence_Fast_GET_ITEM(seq, i), s, &layers[i]);
    Py_DECREF(seq);
    if (!ok) {
        free(layers);
        free(d);
        return NULL;
    }
    *d = shape;
    d->count = (int)count;
    d->layers = layers;
    return PyCapsule_New(d, HYBRID, free_hybrid);
}

PyObject *py_hybrid_scratch(PyObject *self, PyObject *args)
{
    PyObject *capsule;
    int rows;
    if (!PyArg_ParseTuple(args, "Oi", &capsule, &rows))
        return NULL;
    qk_hybrid *d = PyCapsule_GetPointer(capsule, HYBRID);
    if (d == NULL)
        return NULL;
    if (rows <= 0) {
        PyErr_SetString(PyExc_ValueError, "hybrid_scratch: rows must be positive");
        return NULL;
    }
    return PyLong_FromSize_t(qk_hybrid_scratch(d, rows));
}

static int pointers(PyObject *items, int count, void **out)
{
    PyObject *seq = PySequence_Fast(items, "hybrid_decode: a list of state pointers");
    if (seq == NULL)
        return 0;
    int ok = PySequence_Fast_GET_SIZE(seq) == count;
    for (int i = 0; ok && i < count; i++) {
        out[i] = PyLong_AsVoidPtr(PySequence_Fast_GET_ITEM(seq, i));
        ok = !PyErr_Occurred() && out[i] != NULL;
    }
    Py_DECREF(seq);
    return ok || PyErr_Occurred() ? ok : refuse("hybrid_decode: one state pointer per layer");
}

/* hybrid_decode(isa, hybrid, h, rows, past, positions, cos, sin, firsts, seconds, capacity,
 *               last_only, scratch, threads) */
PyObject *py_hybrid_decode(PyObject *self, PyObject *args)
{
    PyObject *capsule, *fl, *sl;
    Py_ssize_t h, pos, cos, sin, scratch, cap;
    int isa, rows, past, last_only, threads;
    if (!PyArg_ParseTuple(args, "iOniinnnOOnpni", &isa, &capsule, &h, &rows, &past, &pos, &cos,
                          &sin, &fl, &sl, &cap, &last_only, &scratch, &threads))
        return NULL;
    const qk_variant *v = parse_isa(isa);
    qk_hybrid *d = v ? PyCapsule_GetPointer(capsule, HYBRID) : NULL;
    if (d == NULL || !need_avx2())
        return NULL;
    if (rows <= 0 || past < 0 || past + rows > cap || threads <= 0) {
        PyErr_SetString(PyExc_ValueError, "hybrid_decode: rows, past and capacity do not fit");
        return NULL;
    }
    void **first = malloc(sizeof(void *) * (size_t)(d->count + 1));
    void **second = malloc(sizeof(void *) * (size_t)(d->count + 1));
    int ok = first && second && pointers(fl, d->count, first) && pointers(sl, d->count, second);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        qk_hybrid_decode(v, d, (float *)h, rows, past, (const int64_t *)pos, (const float *)cos,
                         (const float *)sin, first, second, (long)cap, last_only,
                         (float *)scratch, threads);
        Py_END_ALLOW_THREADS
    } else if (!PyErr_Occurred()) {
        PyErr_NoMemory();
    }
    free(first);
    free(second);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* -- the kernels alone (tests hold them to eval/float_deltanet.py) ------------------------ */

static int positive(int threads, int rows)
{
    return threads > 0 && rows > 0 ? 1 : refuse("deltanet: rows and threads must be positive");
}

PyObject *py_deltanet_conv(PyObject *self, PyObject *args)
{
    Py_ssize_t x, x_row, window, w, out, out_row;
    int rows, channels, kernel, threads;
    if (!PyArg_ParseTuple(args, "nniiinnnni", &x, &x_row, &rows, &channels, &kernel, &window, &w,
                          &out, &out_row, &threads) ||
        !need_avx2() || !positive(threads, rows))
        return NULL;
    if (channels <= 0 || channels % 8 || kernel < 1)
        return refuse("deltanet_conv: channels a multiple of 8, a kernel of 1 or more"), NULL;
    Py_BEGIN_ALLOW_THREADS
    deltanet_conv((const float *)x, (long)x_row, rows, channels, kernel, (float *)window,
                  (const float *)w, (float *)out, (long)out_row, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyObject *py_deltanet_gates(PyObject *self, PyObject *args)
{
    Py_ssize_t q, k, row, a, b, ab_row, A, dt, g, beta;
    int rows, k_heads, k_dim, v_heads, threads;
    if (!PyArg_ParseTuple(args, "nnniiinnninnnni", &q, &k, &row, &rows, &k_heads, &k_dim, &a, &b,
                          &ab_row, &v_heads, &A, &dt, &g, &beta, &threads) ||
        !need_avx2() || !positive(threads, rows))
        return NULL;
    if (k_heads <= 0 || k_dim <= 0 || k_dim % 8 || v_heads <= 0)
        return refuse("deltanet_gates: heads, and key widths a multiple of 8"), NULL;
    Py_BEGIN_ALLOW_THREADS
    deltanet_gates((float *)q, (float *)k, (long)row, rows, k_heads, k_dim, (const float *)a,
                   (const float *)b, (long)ab_row, v_heads, (const float *)A, (const float *)dt,
                   (float *)g, (float *)beta, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyObject *py_deltanet_rule(PyObject *self, PyObject *args)
{
    Py_ssize_t q, k, qk_row, v, v_row, g, beta, state, out, out_row;
    int rows, k_heads, v_heads, k_dim, v_dim, threads;
    if (!PyArg_ParseTuple(args, "nnnnniiiiinnnnni", &q, &k, &qk_row, &v, &v_row, &rows, &k_heads,
                          &v_heads, &k_dim, &v_dim, &g, &beta, &state, &out, &out_row,
                          &threads) ||
        !need_avx2() || !positive(threads, rows))
        return NULL;
    if (k_heads <= 0 || v_heads <= 0 || v_heads % k_heads || k_dim <= 0 || v_dim <= 0 ||
        v_dim % 8)
        return refuse("deltanet_rule: value heads a multiple of key heads, v_dim of 8"), NULL;
    Py_BEGIN_ALLOW_THREADS
    deltanet_rule((const float *)q, (const float *)k, (long)qk_row, (const float *)v, (long)v_row,
                  rows, k_heads, v_heads, k_dim, v_dim, (const float *)g, (const float *)beta,
                  (float *)state, (float *)out, (long)out_row, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyObject *py_gated_rms_norm(PyObject *self, PyObject *args)
{
    Py_ssize_t x, z, w, out;
    int rows, n, threads;
    float eps;
    if (!PyArg_ParseTuple(args, "nnnniifi", &x, &z, &w, &out, &rows, &n, &eps, &threads) ||
        !need_avx2() || !positive(threads, rows))
        return NULL;
    if (n <= 0 || n % 8)
        return refuse("gated_rms_norm: rows of a multiple of 8 values"), NULL;
    Py_BEGIN_ALLOW_THREADS
    gated_rms_norm((const float *)x, (const float *)z, (const float *)w, (float *)out, rows, n,
                   eps, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyObject *py_float_matmul(PyObject *self, PyObject *args)
{
    Py_ssize_t x, w, out, out_row;
    int rows, n, m, threads;
    if (!PyArg_ParseTuple(args, "niininni", &x, &rows, &n, &w, &m, &out, &out_row, &threads) ||
        !need_avx2() || !positive(threads, rows))
        return NULL;
    if (n <= 0 || n % 8 || m <= 0)
        return refuse("float_matmul: rows of a multiple of 8 values"), NULL;
    Py_BEGIN_ALLOW_THREADS
    float_matmul((const float *)x, rows, n, (const float *)w, m, (float *)out, (long)out_row,
                 threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}
#endif
