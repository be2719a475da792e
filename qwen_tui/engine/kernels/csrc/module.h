/* What module.c's bindings share with module_hybrid.c's (both need Python.h first). */
#ifndef QWEN_TUI_MODULE_H
#define QWEN_TUI_MODULE_H

#include "qk.h"

/* each returns 0 (or NULL) with a Python exception set when the value is refused */
int parse_format(int f);
const qk_variant *parse_isa(int isa);
int check_shape(int n, int k);

#if defined(__x86_64__) || defined(_M_X64)
#include "decoder.h"

int need_avx2(void);
int parse_weight(PyObject *item, qk_weight *w, int k);

/* module_hybrid.c: Qwen3.5's decoder and the Gated DeltaNet kernels */
PyObject *py_make_hybrid(PyObject *self, PyObject *args);
PyObject *py_hybrid_scratch(PyObject *self, PyObject *args);
PyObject *py_hybrid_decode(PyObject *self, PyObject *args);
PyObject *py_deltanet_conv(PyObject *self, PyObject *args);
PyObject *py_deltanet_gates(PyObject *self, PyObject *args);
PyObject *py_deltanet_rule(PyObject *self, PyObject *args);
PyObject *py_gated_rms_norm(PyObject *self, PyObject *args);
PyObject *py_float_matmul(PyObject *self, PyObject *args);

#define HYBRID_METHODS                                                                      \
    {"make_hybrid", py_make_hybrid, METH_VARARGS, "describe a Qwen3.5's layers (a capsule)"}, \
    {"hybrid_scratch", py_hybrid_scratch, METH_VARARGS, "floats of scratch for rows"},      \
    {"hybrid_decode", py_hybrid_decode, METH_VARARGS, "every Qwen3.5 layer of a step"},     \
    {"deltanet_conv", py_deltanet_conv, METH_VARARGS, "causal depthwise conv, then SiLU"},  \
    {"deltanet_gates", py_deltanet_gates, METH_VARARGS, "L2 norms of q, k; beta and g"},    \
    {"deltanet_rule", py_deltanet_rule, METH_VARARGS, "the gated delta rule, token by token"}, \
    {"gated_rms_norm", py_gated_rms_norm, METH_VARARGS, "rms_norm(x) * w * silu(z)"},       \
    {"float_matmul", py_float_matmul, METH_VARARGS, "x @ w.T in float32"},
#endif

#endif
